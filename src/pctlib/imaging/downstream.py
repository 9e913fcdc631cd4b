"""A differentiable per-track range from the assignment (issue 18): the residual range of the chain of assigned
segments that starts at each hit of the first layer, as a polynomial in the segment assignments y, so that a loss
on the radiograph's WEPL has a gradient dL/dy, which the blackbox assignment (``assign.blackbox``) carries on to
the GNN's scores.

Chains. Let m_0 = e_s (the start hit s) and m_{l+1}(j) = Σ_i m_l(i) y_ij over the segments i → j of layer pair
l → l+1: for a 0/1 assignment in which every hit has at most one successor, m_l is the indicator of the chain's
hit in layer l, and its reach a_l = Σ_j m_l(j) is 1 while the chain goes on and 0 after. The ``layer`` estimate
of ``imaging.range`` — R_det = c_L, the middle between the deepest layer L's depth and the next one's — is the
telescoping sum

    R_det(s) = c_{l0} + Σ_{l > l0} a_l (c_l − c_{l−1}),    c_l = (d_l + d_{l+1}) / 2,

exact for 0/1 chains and linear in each y (a product of the y along the chain). :func:`chain_ranges` computes it
for all start hits at once, one layer pair at a time (no loop over hits); :func:`wepl_loss` is the mean squared
error of the calibrated WEPL (``WeplCalibration``) against the true WEPL of the starts' protons.
"""

from __future__ import annotations

import numpy as np
import torch


def chain_ranges(y: torch.Tensor, hit_edge_index: torch.Tensor, hit_layer: torch.Tensor, starts: torch.Tensor,
                 depths) -> torch.Tensor:
    """R_det [WET mm] of the chain from each start hit (module docstring). ``y`` (E,) segment assignments (0/1 or
    relaxed in [0, 1]), ``hit_edge_index`` (2, E) from layer l to l + 1, ``hit_layer`` (N,), ``starts`` (S,) hit
    indices, ``depths`` the layers' WET depths and the back face (``imaging.range.layer_depths``)."""
    d = torch.as_tensor(np.asarray(depths, dtype=np.float64), dtype=y.dtype, device=y.device)
    centre = 0.5 * (d[:-1] + d[1:])
    n = hit_layer.shape[0]
    s = starts.shape[0]
    src, tgt = hit_edge_index[0], hit_edge_index[1]
    m = torch.zeros(s, n, dtype=y.dtype, device=y.device)
    m[torch.arange(s, device=y.device), starts] = 1.0
    start_layer = hit_layer[starts]
    out = centre[start_layer].clone()
    src_layer = hit_layer[src]
    if src.numel() == 0:
        return out
    for lay in range(int(start_layer.min()), int(hit_layer.max())):
        sel = src_layer == lay
        if not bool(sel.any()):
            continue
        e_src, e_tgt, e_y = src[sel], tgt[sel], y[sel]
        nxt = torch.zeros_like(m).index_add(1, e_tgt, m[:, e_src] * e_y)
        reach = nxt.sum(1)
        # only chains that started upstream of this layer pair contribute its step
        out = out + torch.where(start_layer <= lay, reach * (centre[lay + 1] - centre[lay]), torch.zeros_like(reach))
        m = nxt
    return out


def wepl_loss(y: torch.Tensor, hit_edge_index: torch.Tensor, hit_layer: torch.Tensor, starts: torch.Tensor,
              true_wepl: torch.Tensor, depths, calibration) -> torch.Tensor:
    """Mean over the start hits of (WEPL(R_det) − true WEPL)² [mm²], WEPL = intercept + slope R_det."""
    r = chain_ranges(y, hit_edge_index, hit_layer, starts, depths)
    w = calibration.intercept + calibration.slope * r
    return ((w - true_wepl.to(w.dtype)) ** 2).mean() if starts.numel() else y.sum() * 0.0
