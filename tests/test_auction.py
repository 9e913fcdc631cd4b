"""The batched auction (``assign.auction``) against ``lap`` and brute force: the same cardinality and total cost on
random blocks with infeasible pairs, empty rows and columns, both orientations and ties."""

import itertools

import numpy as np
import pytest
import torch

from pctlib.assign.auction import auction_costs
from pctlib.assign.batch import assign_costs
from pctlib.assign.layout import BlockLayout
from pctlib.assign.solver import AssignmentError


def layout_of_blocks(blocks):
    """A layout whose segments are the finite entries of each dense block, and their costs."""
    rows, cols, costs, ptr = [], [], [], [0]
    for b in blocks:
        r, c = np.nonzero(np.isfinite(b))
        rows.append(r)
        cols.append(c)
        costs.append(b[r, c])
        ptr.append(ptr[-1] + r.size)
    lay = BlockLayout(np.concatenate(rows).astype(np.int64), np.concatenate(cols).astype(np.int64),
                      np.array(ptr, np.int64), np.array([b.shape for b in blocks], np.int64).reshape(-1, 2),
                      np.array([0, ptr[-1]], np.int64))
    return lay, np.concatenate(costs)


def brute(block):
    """(matched pairs, cost) of the maximum-cardinality least-cost matching, by enumeration."""
    n, m = block.shape
    best = (0, 0.0)
    if n <= m:
        for cols in itertools.permutations(range(m), n):
            pairs = [(i, j) for i, j in enumerate(cols) if np.isfinite(block[i, j])]
            cand = (len(pairs), sum(block[i, j] for i, j in pairs))
            if cand[0] > best[0] or (cand[0] == best[0] and cand[1] < best[1]):
                best = cand
        return best
    return brute(block.T)


def per_block(y, lay, cost):
    out = []
    for b in range(lay.n_blocks):
        a, z = lay.block_ptr[b], lay.block_ptr[b + 1]
        sel = np.asarray(y[a:z], bool)
        out.append((int(sel.sum()), float(cost[a:z][sel].sum())))
    return out


def random_blocks(rng, count, max_side, density, ties=False, near_ties=False):
    blocks = []
    for _ in range(count):
        n, m = rng.integers(1, max_side + 1, size=2)
        b = rng.random((n, m))
        if ties or near_ties:
            b = np.round(b * 2) / 2  # costs 0, 0.5 or 1: many equally good matchings
        if near_ties:
            b = b + 1e-3 * rng.random((n, m))  # ... which differ by less than a thousandth: only exact search finds it
        b[rng.random((n, m)) > density] = np.inf
        if rng.random() < 0.3:
            b[rng.integers(n)] = np.inf  # a row without a feasible pair
        if rng.random() < 0.3:
            b[:, rng.integers(m)] = np.inf  # a column without one
        blocks.append(b)
    return blocks


@pytest.mark.parametrize("ties", ["none", "ties", "near ties"])
def test_small_blocks_equal_brute_force_and_lap(ties):
    rng = np.random.default_rng(len(ties))
    blocks = random_blocks(rng, 40, 5, 0.6, ties == "ties", ties == "near ties")
    lay, cost = layout_of_blocks(blocks)
    got = per_block(auction_costs(torch.as_tensor(cost), lay).numpy(), lay, cost)
    lap_ = per_block(assign_costs(cost, lay, backend="lap"), lay, cost)
    for b, block in enumerate(blocks):
        n_best, c_best = brute(block)
        assert got[b][0] == lap_[b][0] == n_best, (b, block)
        assert got[b][1] == pytest.approx(c_best, abs=1e-5) and lap_[b][1] == pytest.approx(c_best, abs=1e-9)


def test_frame_sized_blocks_equal_lap_in_cardinality_and_cost():
    rng = np.random.default_rng(7)
    blocks = random_blocks(rng, 8, 40, 0.1)  # sparse candidate pairs, as the segments of a layer pair
    lay, cost = layout_of_blocks(blocks)
    y = auction_costs(torch.as_tensor(cost), lay).numpy()
    lap_ = per_block(assign_costs(cost, lay, backend="lap"), lay, cost)
    for b, (got, want) in enumerate(zip(per_block(y, lay, cost), lap_)):
        assert got[0] == want[0], b
        assert got[1] == pytest.approx(want[1], abs=got[0] / 2e6 + 1e-9), b
    # a matching: at most one segment per row and per column of each block
    for b in range(lay.n_blocks):
        a, z = lay.block_ptr[b], lay.block_ptr[b + 1]
        sel = y[a:z].astype(bool)
        assert len(set(lay.row[a:z][sel])) == sel.sum() == len(set(lay.col[a:z][sel]))


def test_empty_layouts_and_bad_costs():
    lay, cost = layout_of_blocks([np.full((3, 2), np.inf), np.array([[0.2]])])
    assert auction_costs(torch.as_tensor(cost), lay).tolist() == [1]
    with pytest.raises(AssignmentError, match="NaN"):
        auction_costs(torch.tensor([np.nan]), lay)
    with pytest.raises(AssignmentError, match="negative"):
        auction_costs(torch.tensor([-0.1]), lay)
    with pytest.raises(AssignmentError, match="2 costs for 1 segments"):
        auction_costs(torch.tensor([0.1, 0.2]), lay)
