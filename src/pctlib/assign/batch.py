"""Assign all layer pairs of one or many frames in one call: a 0/1 vector aligned with the hit-graph edges."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .layout import BlockLayout
from .solver import AssignmentError, default_backend, match_block


def thread_map(fn, items, workers: int = 1) -> list:
    """``[fn(x) for x in items]``, on a pool of ``workers`` threads when more than one (order kept)."""
    items = list(items)
    if workers > 1 and len(items) > 1:
        with ThreadPoolExecutor(min(workers, len(items))) as pool:
            return list(pool.map(fn, items))
    return [fn(x) for x in items]


def check_scores(scores: np.ndarray) -> None:
    """Scores must be finite and non-negative (costs are 1 - score)."""
    s = np.asarray(scores)
    if np.isnan(s).any():
        raise AssignmentError(f"{int(np.isnan(s).sum())} edge scores are NaN")
    if (s < 0).any():
        raise AssignmentError(f"{int((s < 0).sum())} edge scores are negative (min {float(s.min()):.3g})")


def _solve_one(cost: np.ndarray, layout: BlockLayout, b: int, backend: str | None) -> np.ndarray:
    a, z = int(layout.block_ptr[b]), int(layout.block_ptr[b + 1])
    n, m = (int(v) for v in layout.shape[b])
    if z == a:
        return np.zeros(0, np.int8)
    block = np.full((n, m), np.inf)
    r, c = layout.row[a:z], layout.col[a:z]
    block[r, c] = cost[a:z]
    return match_block(block, backend)[r, c]


def assign_costs(cost: np.ndarray, layout: BlockLayout, backend: str | None = None, workers: int = 1,
                 known: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """0/1 assignment of every segment given its cost (``inf`` allowed), block by block.

    ``known = (y, block_mask)``: blocks where ``block_mask`` is true take their assignment from ``y`` without
    solving (used by the blackbox backward pass where the solution provably does not change)."""
    cost = np.asarray(cost, dtype=np.float64)
    if cost.shape != (layout.n_edges,):
        raise AssignmentError(f"{cost.shape[0] if cost.ndim else 0} costs for {layout.n_edges} segments")
    if np.isnan(cost).any():
        raise AssignmentError("costs hold NaN")
    if (cost < 0).any():
        raise AssignmentError("costs hold negative values")
    backend = backend or default_backend()
    out = np.zeros(layout.n_edges, np.int8)
    blocks = [b for b in range(layout.n_blocks) if layout.block_ptr[b + 1] > layout.block_ptr[b]]
    if known is not None:
        y_known, mask = known
        for b in blocks:
            if mask[b]:
                out[layout.block_ptr[b]:layout.block_ptr[b + 1]] = y_known[layout.block_ptr[b]:layout.block_ptr[b + 1]]
        blocks = [b for b in blocks if not mask[b]]
    parts = thread_map(lambda b: _solve_one(cost, layout, b, backend), blocks, workers)
    for b, y in zip(blocks, parts):
        out[layout.block_ptr[b]:layout.block_ptr[b + 1]] = y
    return out


def assign_scores(scores: np.ndarray, layout: BlockLayout, backend: str | None = None, workers: int = 1) -> np.ndarray:
    """0/1 assignment from edge scores in [0, 1] (cost 1 - score); NaN or negative scores are an error."""
    check_scores(scores)
    return assign_costs(1.0 - np.asarray(scores, dtype=np.float64), layout, backend, workers)
