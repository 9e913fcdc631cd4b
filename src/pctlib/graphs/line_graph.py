"""The line graph: one node per hit-graph edge (segment), one edge per pair of segments meeting at a hit.

Line-graph nodes carry (E_i, E_j, x_i, y_i, z_i, x_j, y_j, z_j) of their segment (paper Eq. 8). Two segments
a->b and b->c (three consecutive layers) are joined; the edge carries the scalar u = 1 - sqrt(s_cos), s_cos the
cosine similarity of the two segment vectors. The 128-d sinusoidal encoding of u (Eq. 8) is a function of u alone,
so it is computed on the fly (:func:`sinusoidal_encoding`) instead of being stored: 4 bytes per line edge instead
of 512.

The encoding follows the transformer position encoding (Vaswani et al. 2017) with u / scaling in place of the
position: e_2k = sin(w_k u / s), e_2k+1 = cos(w_k u / s), w_k = 10000^(-2k/d), s = ``encoding_scaling`` (0.001).
The paper (Eq. 8, Table 4) fixes the form, the dimension and the scaling factor but not where the scaling enters;
dividing u by it brings the typical u (1e-5 to 1e-2 for angles of 5-150 mrad) to the range the frequencies resolve.
"""

from __future__ import annotations

import math

import torch

from .hit_graph import HitGraph


def segment_pairs(edge_index: torch.Tensor, n_hits: int) -> torch.Tensor:
    """All pairs (k, m) of hit-graph edges with target(k) == source(m), as a (2, M) tensor; no Python loop.

    Every edge k is repeated once per out-edge of its target hit; the out-edges of a hit are one contiguous range
    once edges are ordered by source (they already are when built by ``build_hit_graph``).
    """
    e_in, e_out, _ = pair_indices(edge_index, n_hits)
    return torch.stack([e_in, e_out]).long()


def pair_indices(edge_index: torch.Tensor, n_hits: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(e_in, e_out, repeats) of :func:`segment_pairs` as int32; ``e_in`` is ``arange(E)`` repeated ``repeats``."""
    src, tgt = edge_index
    dev = edge_index.device
    empty = torch.zeros(0, dtype=torch.int32, device=dev)
    if src.numel() == 0:
        return empty, empty, empty
    if bool((src[1:] >= src[:-1]).all()):
        out_order = None
    else:
        out_order = torch.argsort(src, stable=True)
    outdeg = torch.bincount(src, minlength=n_hits)
    out_ptr = torch.cumsum(outdeg, 0) - outdeg
    cnt = outdeg.index_select(0, tgt)
    total = int(cnt.sum())
    if total == 0:
        return empty, empty, cnt
    # int32: half the memory traffic of int64 (a frame has far fewer than 2^31 segment pairs)
    e_in = torch.repeat_interleave(torch.arange(src.numel(), device=dev, dtype=torch.int32), cnt, output_size=total)
    start = torch.cumsum(cnt, 0) - cnt
    pos = (out_ptr.index_select(0, tgt) - start).to(torch.int32)  # out-edge position = pos[e_in] + running index
    e_out = torch.arange(total, device=dev, dtype=torch.int32).add_(
        torch.repeat_interleave(pos, cnt, output_size=total))
    if out_order is not None:
        e_out = out_order.index_select(0, e_out).to(torch.int32)
    return e_in, e_out, cnt


def both_directions(e_in: torch.Tensor, e_out: torch.Tensor) -> torch.Tensor:
    """(2, 2M) int64 line-graph ``edge_index``: every segment pair (e_in -> e_out), then the reversed pairs."""
    m = e_in.numel()
    edge_index = torch.empty((2, 2 * m), dtype=torch.long, device=e_in.device)
    edge_index[0, :m] = e_in
    edge_index[1, :m] = e_out
    edge_index[0, m:] = e_out
    edge_index[1, m:] = e_in
    return edge_index


def line_node_features(g: HitGraph) -> torch.Tensor:
    """(E, 8): E_i, E_j, x_i, y_i, z_i, x_j, y_j, z_j for every segment i -> j."""
    s, t = g.edge_index
    return torch.cat([g.energy[s, None], g.energy[t, None], g.pos[s], g.pos[t]], dim=1)


def pair_cosine_scalar(pos: torch.Tensor, edge_index: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    """u = 1 - sqrt(s_cos) for each segment pair, accurate in float32 also for tiny angles.

    With unit segment vectors a, b: 1 - s_cos = |a - b|^2 / 2, and 1 - sqrt(c) = (1 - c) / (1 + sqrt(c)).
    """
    s, t = edge_index
    seg = pos.index_select(0, t) - pos.index_select(0, s)
    unit = seg / seg.norm(dim=1, keepdim=True).clamp_min(1e-30)
    d = unit.index_select(0, pairs[0])  # index_select and in-place steps: about twice as fast as fancy indexing
    d.sub_(unit.index_select(0, pairs[1]))
    one_minus_c = d.square_().sum(1).mul_(0.5).clamp_(0.0, 1.0)
    return one_minus_c / (1.0 - one_minus_c).sqrt_().add_(1.0)


def sinusoidal_encoding(u: torch.Tensor, dim: int = 128, scaling: float = 0.001) -> torch.Tensor:
    """(M,) -> (M, dim) sinusoidal encoding of the line-edge scalar (see the module docstring)."""
    k = torch.arange(dim // 2, device=u.device, dtype=torch.float32)
    freq = torch.exp(-(2.0 * k / dim) * math.log(10000.0))
    arg = (u.float() / scaling).unsqueeze(1) * freq
    out = torch.empty((u.shape[0], dim), device=u.device, dtype=torch.float32)
    out[:, 0::2] = torch.sin(arg)
    out[:, 1::2] = torch.cos(arg)
    return out


def count_all_shared_hit_pairs(edge_index: torch.Tensor, n_hits: int) -> int:
    """Number of segment pairs sharing *any* hit, sum over hits of C(in + out, 2): the line graph of the undirected
    hit graph. Only for comparison with published sizes; pctlib's line graph joins a -> b with b -> c only."""
    deg = (torch.bincount(edge_index[0], minlength=n_hits) + torch.bincount(edge_index[1], minlength=n_hits)).double()
    return int((deg * (deg - 1) / 2).sum())
