"""All assignment blocks of one or many frames solved together in torch, on the device the costs live on: an
auction (Bertsekas 1988) with epsilon scaling, batched over the blocks.

The problem is that of ``assign.solver``: per block, a maximum-cardinality matching of least total cost, costs
finite on the segments and infinite elsewhere. Each block becomes a square benefit matrix: the costs scaled to
integers (``scale``; benefit −round(scale · c)), infeasible pairs at −M with M above any total of feasible costs (so
cardinality comes first, as in ``solver.match_block``), and the smaller side padded with dummy rows or columns of
benefit 0 (every complete assignment of the padded block is a complete assignment of its smaller side, shifted by
0). The blocks are stacked into one (blocks x K x K) tensor, K the largest padded side, columns beyond a block's own
side closed to its rows. Every unassigned row bids at once for its best column (Jacobi auction); a column goes to
its highest bid. With integer benefits an auction whose last epsilon is below 1/K ends at an optimal assignment;
epsilon starts at a quarter of the largest benefit and falls by ``shrink`` each phase.

Exact for the scaled integer costs: the result's total cost equals that of ``lap`` on the float costs up to the
rounding of the scaling, at most (pairs) / (2 scale) (tested against ``lap`` and brute force, infeasible pairs,
empty rows and columns and ties included). Ties between equally good matchings may be broken otherwise than by
``lap``. Runs on the CPU too (the same code), where ``lap`` is much faster; it is meant for GPUs, where it keeps the
scores on the device: no copy to the host inside a training step.

Not yet used by training: its cost is the number of bidding rounds, each a few batched kernels, and that number is
large: 6,393 rounds for 12 random blocks of up to 60 x 60 with 10 % of pairs feasible (9.6 s on one CPU core), most
of them, it seems, spent raising prices through the range of the infeasible pairs' M. Starting epsilon at the
feasible costs' scale instead of a quarter of the largest benefit made it worse on the same blocks (16,857 rounds
from scale / 4, 148,803 from 10⁴). Fewer rounds (forward-reverse bidding, another treatment of the infeasible
pairs) come before any GPU timing.
"""

from __future__ import annotations

import numpy as np
import torch

from .layout import BlockLayout
from .solver import AssignmentError


def _auction(benefit: torch.Tensor, side: torch.Tensor, shrink: float = 5.0) -> torch.Tensor:
    """Column assigned to every row of each (K x K) block (−1 for rows beyond the block's own ``side``).
    ``benefit``: integer-valued float64, −inf in the columns beyond ``side``."""
    n_blocks, k, _ = benefit.shape
    dev = benefit.device
    ar = torch.arange(k, device=dev)
    row_open = ar[None, :] < side[:, None]  # (blocks, K)
    finite = torch.isfinite(benefit)
    span = float((benefit.where(finite, torch.zeros((), dtype=benefit.dtype, device=dev))).abs().max()) if k else 0.0
    eps_final = 1.0 / (k + 1)
    eps = max(span / 4.0, eps_final)
    prices = torch.zeros((n_blocks, k), dtype=benefit.dtype, device=dev)
    b_idx = torch.arange(n_blocks, device=dev)[:, None].expand(n_blocks, k)
    while True:
        col_of_row = torch.full((n_blocks, k), -1, dtype=torch.long, device=dev)
        owner = torch.full((n_blocks, k), -1, dtype=torch.long, device=dev)
        while True:
            bidders = row_open & (col_of_row < 0)
            if not bool(bidders.any()):
                break
            value = benefit - prices[:, None, :]
            top = value.topk(min(2, k), dim=2)
            w1, j1 = top.values[..., 0], top.indices[..., 0]
            w2 = top.values[..., 1] if k > 1 else w1
            w2 = torch.where(torch.isfinite(w2), w2, w1)  # a block of one column: the bid is epsilon
            bid = torch.gather(prices, 1, j1) + (w1 - w2) + eps
            bid = torch.where(bidders, bid, torch.full_like(bid, -torch.inf))
            bids = torch.full((n_blocks, k, k), -torch.inf, dtype=benefit.dtype, device=dev)
            bids.scatter_(2, j1[..., None], bid[..., None])
            best, winner = bids.max(dim=1)  # per column: the highest bid and its row
            won = torch.isfinite(best)
            wb, wc = b_idx[won], ar[None, :].expand(n_blocks, k)[won]
            previous = owner[wb, wc]
            lost = previous >= 0
            col_of_row[wb[lost], previous[lost]] = -1
            owner[wb, wc] = winner[won]
            col_of_row[wb, winner[won]] = wc
            prices[wb, wc] = best[won]
        if eps <= eps_final:
            return torch.where(row_open, col_of_row, torch.full_like(col_of_row, -1))
        eps = max(eps / shrink, eps_final)


def auction_costs(cost: torch.Tensor, layout: BlockLayout, scale: float = 1e6) -> torch.Tensor:
    """0/1 assignment (int8, on ``cost``'s device) of every segment given its cost (``inf`` allowed), all blocks of
    ``layout`` solved together (module docstring); the counterpart of ``assign.batch.assign_costs``."""
    cost = torch.as_tensor(cost)
    dev = cost.device
    if cost.shape != (layout.n_edges,):
        raise AssignmentError(f"{cost.shape[0] if cost.ndim else 0} costs for {layout.n_edges} segments")
    if bool(torch.isnan(cost).any()):
        raise AssignmentError("costs hold NaN")
    if bool((cost < 0).any()):
        raise AssignmentError("costs hold negative values")
    out = torch.zeros(layout.n_edges, dtype=torch.int8, device=dev)
    counts = np.diff(layout.block_ptr)
    blocks = np.nonzero(counts)[0]
    if not blocks.size:
        return out
    shape = layout.shape[blocks]
    side = shape.max(axis=1)
    k = int(side.max())
    block_of_edge = np.repeat(np.arange(layout.n_blocks), counts)
    slot = np.full(layout.n_blocks, -1)
    slot[blocks] = np.arange(blocks.size)
    eb = torch.as_tensor(slot[block_of_edge], device=dev)
    er = torch.as_tensor(layout.row, device=dev)
    ec = torch.as_tensor(layout.col, device=dev)
    c = cost.to(torch.float64)
    feasible = torch.isfinite(c)
    # per block: M above any total of feasible costs, in scaled units (solver.match_block's rule)
    c_max = torch.zeros(blocks.size, dtype=torch.float64, device=dev).scatter_reduce(
        0, eb[feasible], c[feasible], reduce="amax", include_self=True).clamp_min(1.0)
    big = torch.round(scale * (1.0 + 2.0 * torch.as_tensor(shape.min(axis=1), device=dev) * c_max))
    ar = torch.arange(k, device=dev)
    n = torch.as_tensor(shape[:, 0], device=dev)
    m = torch.as_tensor(shape[:, 1], device=dev)
    side_t = torch.as_tensor(side, device=dev)
    real = (ar[None, :, None] < n[:, None, None]) & (ar[None, None, :] < m[:, None, None])
    inside = (ar[None, :, None] < side_t[:, None, None]) & (ar[None, None, :] < side_t[:, None, None])
    benefit = torch.where(real, -big[:, None, None], torch.zeros((), dtype=torch.float64, device=dev))
    benefit = torch.where(inside | (ar[None, :, None] >= side_t[:, None, None]), benefit,
                          torch.full((), -torch.inf, dtype=torch.float64, device=dev))
    benefit[eb[feasible], er[feasible], ec[feasible]] = -torch.round(scale * c[feasible])
    col_of_row = _auction(benefit, side_t)
    chosen = col_of_row[eb, er] == ec
    return (chosen & feasible).to(torch.int8)
