"""A differentiable per-track range from the assignment: the residual range of the chain of assigned
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
for all start hits at once, one layer pair at a time, m_l held only over the hits of layer l (no loop over hits);
:func:`wepl_loss` compares the calibrated WEPL (``WeplCalibration``: WEPL = a + b R_det) with the true WEPL of the
starts' protons:

* per track (``pixel_mm`` = 0): the mean over starts of (WEPL_s − t_s)²;
* per pixel (``pixel_mm`` > 0, the radiograph's error): the starts grouped by the pixel of their first-layer hit
  (a square grid of that pitch), and the mean over starts of (mean WEPL of the pixel − mean true WEPL of the
  pixel)², i.e. pixels weighted by their protons. A pixel's mean hides the range straggling of single protons (a
  per-track loss would ask the assignment to undo it) and keeps what a wrong assignment does to the image.

:class:`DownstreamLoss` holds what the loss of a frame needs (depths, calibration, pixel) and computes it from a
frame graph with truth WEPL per hit (``hit_wepl``: the WEPL of the hit's primary, NaN for other hits;
``imaging.scan``): the starts are the first-layer hits with a finite truth WEPL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


class DownstreamError(ValueError):
    """A frame or setting the downstream loss cannot use."""


def chain_ranges(y: torch.Tensor, hit_edge_index: torch.Tensor, hit_layer: torch.Tensor, starts: torch.Tensor,
                 depths) -> torch.Tensor:
    """R_det [WET mm] of the chain from each start hit (module docstring). ``y`` (E,) segment assignments (0/1 or
    relaxed in [0, 1]), ``hit_edge_index`` (2, E) from layer l to l + 1, ``hit_layer`` (N,), ``starts`` (S,) hit
    indices, ``depths`` the layers' WET depths and the back face (``imaging.range.layer_depths``)."""
    d = torch.as_tensor(np.asarray(depths, dtype=np.float64), dtype=y.dtype, device=y.device)
    centre = 0.5 * (d[:-1] + d[1:])
    if hit_layer.numel() and int(hit_layer.max()) >= centre.shape[0]:
        raise DownstreamError(f"a hit in layer {int(hit_layer.max())}; the depths cover {centre.shape[0]} layers")
    s = starts.shape[0]
    start_layer = hit_layer[starts]
    out = centre[start_layer].clone()
    src, tgt = hit_edge_index[0], hit_edge_index[1]
    if src.numel() == 0 or s == 0:
        return out
    # index of every hit among the hits of its layer: chain states live on one layer's hits at a time
    n_layers = int(hit_layer.max()) + 1
    order = torch.argsort(hit_layer, stable=True)
    counts = torch.bincount(hit_layer, minlength=n_layers)
    first = torch.cumsum(counts, 0) - counts
    local = torch.empty_like(hit_layer)
    local[order] = torch.arange(hit_layer.shape[0], device=hit_layer.device) - first[hit_layer[order]]
    src_layer = hit_layer[src]
    rows = torch.arange(s, device=y.device)
    lo = int(start_layer.min())
    m = torch.zeros(s, int(counts[lo]), dtype=y.dtype, device=y.device)
    at = start_layer == lo
    m[rows[at], local[starts[at]]] = 1.0
    for lay in range(lo, n_layers - 1):
        sel = src_layer == lay
        e_src, e_tgt, e_y = local[src[sel]], local[tgt[sel]], y[sel]
        nxt = torch.zeros(s, int(counts[lay + 1]), dtype=y.dtype, device=y.device)
        if e_src.numel():
            nxt = nxt.index_add(1, e_tgt, m[:, e_src] * e_y)
        reach = nxt.sum(1)
        # only chains that started upstream of this layer pair contribute its step
        out = out + torch.where(start_layer <= lay, reach * (centre[lay + 1] - centre[lay]), torch.zeros_like(reach))
        begin = start_layer == lay + 1  # chains that start in the next layer
        if bool(begin.any()):
            nxt = nxt.index_put((rows[begin], local[starts[begin]]), torch.ones(int(begin.sum()), dtype=y.dtype,
                                                                                 device=y.device))
        m = nxt
    return out


def pixel_groups(xy: torch.Tensor, pixel_mm: float) -> torch.Tensor:
    """Group index (0 .. G−1, by first appearance order of the sorted pixel keys) of each (x, y) on a square grid
    of pitch ``pixel_mm``; ``pixel_mm`` = 0: every point its own group."""
    if pixel_mm == 0:
        return torch.arange(xy.shape[0], device=xy.device)
    key = torch.floor(xy / pixel_mm).long()
    return torch.unique(key, dim=0, return_inverse=True)[1]


def wepl_loss(y: torch.Tensor, hit_edge_index: torch.Tensor, hit_layer: torch.Tensor, starts: torch.Tensor,
              true_wepl: torch.Tensor, depths, calibration, groups: torch.Tensor | None = None) -> torch.Tensor:
    """The downstream loss [mm²] (module docstring): per track, or per group (``groups``: group index per start,
    from :func:`pixel_groups`) of starts; ``calibration`` any object with ``intercept`` and ``slope``."""
    if starts.numel() == 0:
        return y.sum() * 0.0
    r = chain_ranges(y, hit_edge_index, hit_layer, starts, depths)
    w = calibration.intercept + calibration.slope * r
    t = true_wepl.to(w.dtype)
    if groups is None:
        return ((w - t) ** 2).mean()
    n_groups = int(groups.max()) + 1
    n = torch.zeros(n_groups, dtype=w.dtype, device=w.device).index_add(0, groups, torch.ones_like(w))
    diff = torch.zeros(n_groups, dtype=w.dtype, device=w.device).index_add(0, groups, w - t) / n
    return (n * diff ** 2).sum() / n.sum()


@dataclass(frozen=True)
class DownstreamLoss:
    """The downstream loss of a frame: layer depths (``imaging.range.layer_depths``), the WEPL calibration
    (intercept, slope) and the pixel pitch of the grouping (0: per track)."""

    depths: tuple[float, ...]
    intercept: float
    slope: float
    pixel_mm: float = 0.0

    def __post_init__(self):
        d = np.asarray(self.depths, float)
        if d.size < 2 or np.any(np.diff(d) <= 0) or not np.all(np.isfinite(d)):
            raise DownstreamError("depths must be finite and increasing, one per layer and the back face")
        if not (math.isfinite(self.intercept) and math.isfinite(self.slope)):
            raise DownstreamError("the calibration's intercept and slope must be finite")
        if not (math.isfinite(self.pixel_mm) and self.pixel_mm >= 0):
            raise DownstreamError(f"pixel_mm must be finite and >= 0, got {self.pixel_mm}")

    def starts(self, frame) -> torch.Tensor:
        """First-layer hits with a truth WEPL (those of the frame's primaries)."""
        wepl = getattr(frame, "hit_wepl", None)
        if wepl is None:
            raise DownstreamError("the downstream loss needs frames with a truth WEPL per hit (hit_wepl; "
                                  "imaging.scan.with_truth_wepl)")
        layer = frame.hit_x[:, 4].long()
        return torch.nonzero((layer == 0) & torch.isfinite(wepl)).flatten()

    def __call__(self, y: torch.Tensor, frame) -> torch.Tensor:
        """The loss of assignment ``y`` (one entry per segment of ``frame.hit_edge_index``)."""
        starts = self.starts(frame)
        layer = frame.hit_x[:, 4].long()
        groups = pixel_groups(frame.hit_x[starts, 1:3].double(), self.pixel_mm) if self.pixel_mm else None
        return wepl_loss(y, frame.hit_edge_index, layer, starts, frame.hit_wepl[starts].double(), self.depths,
                         self, groups)
