"""Layer-wise assignment: optimality against brute force, constraints, blackbox gradients, batching."""

import itertools

import numpy as np
import pytest
import torch

from pctlib.assign import AssignmentError, solve_block
from pctlib.assign.batch import assign_costs, assign_scores
from pctlib.assign.blackbox import BlackboxAssignment, assign_differentiable, interpolated_loss
from pctlib.assign.layout import BlockLayout, concat_layouts, layout_of_graph
from pctlib.assign.losses import bce_loss, hamming_loss, segment_weights
from pctlib.assign.solver import available_backends

BACKENDS = available_backends()


def brute_force(c):
    """(cardinality, cost) of the best maximum-cardinality matching, by enumeration."""
    n, m = c.shape
    best = (0, 0.0)
    for choice in itertools.product(*[[None] + list(range(m))] * n):
        cols = [j for j in choice if j is not None]
        if len(cols) != len(set(cols)):
            continue
        if any(j is not None and not np.isfinite(c[i, j]) for i, j in enumerate(choice)):
            continue
        card = len(cols)
        cost = sum(c[i, j] for i, j in enumerate(choice) if j is not None)
        if card > best[0] or (card == best[0] and cost < best[1] - 1e-12):
            best = (card, cost)
    return best


def random_block(rng, n, m, p_inf=0.35):
    c = rng.random((n, m))
    c[rng.random((n, m)) < p_inf] = np.inf
    return c


@pytest.mark.parametrize("backend", BACKENDS)
def test_optimal_against_brute_force(backend):
    rng = np.random.default_rng(0)
    for _ in range(300):
        n, m = rng.integers(0, 5, 2)
        c = random_block(rng, n, m, p_inf=rng.choice([0.0, 0.3, 0.7, 1.0]))
        y = solve_block(c, backend)
        assert y.shape == c.shape
        assert (y.sum(0) <= 1).all() and (y.sum(1) <= 1).all()  # each hit used at most once
        assert np.isfinite(c[y == 1]).all()  # only existing edges
        card, cost = brute_force(c)
        assert int(y.sum()) == card
        assert float(c[y == 1].sum()) == pytest.approx(cost, abs=1e-9)


def test_edge_cases_and_errors():
    assert solve_block(np.zeros((0, 3))).shape == (0, 3)
    assert solve_block(np.full((3, 2), np.inf)).sum() == 0
    y = solve_block(np.array([[0.5, np.inf, np.inf], [0.1, np.inf, np.inf]]))  # two rows want the same column
    assert y.tolist() == [[0, 0, 0], [1, 0, 0]]
    # cardinality first: matching two pairs beats the cheaper single pair
    y = solve_block(np.array([[0.0, 0.9], [0.1, np.inf]]))
    assert y.tolist() == [[0, 1], [1, 0]]
    with pytest.raises(AssignmentError, match="NaN"):
        solve_block(np.array([[np.nan]]))
    with pytest.raises(AssignmentError, match="negative"):
        solve_block(np.array([[-0.1]]))
    lay = BlockLayout(np.array([0]), np.array([0]), np.array([0, 1]), np.array([[1, 1]]), np.array([0, 1]))
    with pytest.raises(AssignmentError, match="negative"):
        assign_scores(np.array([-0.2]), lay)
    with pytest.raises(AssignmentError, match="NaN"):
        assign_scores(np.array([np.nan]), lay)


def test_backends_agree_on_cost_and_cardinality():
    rng = np.random.default_rng(1)
    for _ in range(50):
        n, m = rng.integers(1, 40, 2)
        c = random_block(rng, n, m, 0.8)
        res = [solve_block(c, b) for b in BACKENDS]
        for y in res[1:]:
            assert y.sum() == res[0].sum()
            assert c[y == 1].sum() == pytest.approx(c[res[0] == 1].sum(), abs=1e-9)


def one_block_layout(n, m, feasible):
    r, c = np.nonzero(feasible)
    return BlockLayout(r, c, np.array([0, r.size]), np.array([[n, m]]), np.array([0, r.size])), r, c


def test_backward_equals_the_definition_by_hand():
    # 2 x 2, all feasible. Costs favour the diagonal; the loss wants the anti-diagonal.
    lay, r, c = one_block_layout(2, 2, np.ones((2, 2), bool))  # segment order (0,0) (0,1) (1,0) (1,1)
    cost = torch.tensor([0.1, 0.5, 0.5, 0.1], dtype=torch.float64, requires_grad=True)
    y = BlackboxAssignment.apply(cost, lay, 10.0)
    assert y.tolist() == [1, 0, 0, 1]
    dl_dy = torch.tensor([1.0, -1.0, -1.0, 1.0], dtype=torch.float64)  # d/dy of the Hamming loss to [0,1,1,0]
    y.backward(dl_dy)
    # C' = clip(C + 10 dL/dy, 0) = [10.1, 0, 0, 10.1] -> y(C') = [0, 1, 1, 0]; grad = -(y - y')/10
    assert cost.grad.tolist() == pytest.approx([-0.1, 0.1, 0.1, -0.1])
    cost.grad = None
    BlackboxAssignment.apply(cost, lay, 10.0, False).backward(dl_dy)  # released-code variant: no 1/lambda
    assert cost.grad.tolist() == pytest.approx([-1.0, 1.0, 1.0, -1.0])
    # lambda too small to flip the assignment: zero gradient
    cost.grad = None
    BlackboxAssignment.apply(cost, lay, 0.1).backward(dl_dy)
    assert cost.grad.abs().sum() == 0


def _problem(rng, n=5, m=5):
    feasible = rng.random((n, m)) < 0.7
    lay, r, c = one_block_layout(n, m, feasible)
    cost = rng.random(r.size)
    target = (rng.random(r.size) < 0.3).astype(float)
    return lay, cost, target


def _hamming(target):
    return (lambda y: float(np.mean(target * (1 - y) + (1 - target) * y)),
            lambda y: (1 - 2 * target) / target.size)


def test_interpolated_loss_decreases_along_the_negative_blackbox_gradient():
    rng = np.random.default_rng(2)
    checked = 0
    for _ in range(100):
        lay, cost, target = _problem(rng)
        loss, grad_y = _hamming(target)
        lam = 20.0
        ct = torch.tensor(cost, requires_grad=True)
        y = BlackboxAssignment.apply(ct, lay, lam)
        y.backward(torch.tensor(grad_y(y.detach().numpy())))
        g = ct.grad.numpy()
        if not np.any(g):
            continue
        checked += 1
        f0 = interpolated_loss(cost, lay, loss, grad_y, lam)
        for eps in (1e-4, 1e-3):
            f1 = interpolated_loss(np.clip(cost - eps * g, 0, None), lay, loss, grad_y, lam)
            assert f1 <= f0 + 1e-12
    assert checked > 20


def test_gradient_support_grows_with_lambda():
    rng = np.random.default_rng(3)
    nonzero = {lam: 0 for lam in (1e-6, 1.0, 100.0)}
    for _ in range(60):
        lay, cost, target = _problem(rng)
        _, grad_y = _hamming(target)
        for lam in nonzero:
            ct = torch.tensor(cost, requires_grad=True)
            y = BlackboxAssignment.apply(ct, lay, lam)
            y.backward(torch.tensor(grad_y(y.detach().numpy())))
            nonzero[lam] += bool(ct.grad.abs().sum() > 0)
    assert nonzero[1e-6] == 0  # away from ties a tiny perturbation changes nothing
    assert nonzero[1e-6] < nonzero[1.0] <= nonzero[100.0]


def _frames():
    from pathlib import Path

    from pctlib.graphs.build import graph_from_hits
    from pctlib.graphs.config import GraphConfig
    from pctlib.graphs.frames import split_frames
    from pctlib.physics.geometry import load_geometry
    from pctlib.physics.simulate import Simulator

    geo = load_geometry(Path(__file__).resolve().parents[1] / "params" / "geometry" / "bergen_dtc.yaml")
    hits = Simulator(geo.with_phantom(200.0)).run(90, seed=4, progress=False).hits
    return [graph_from_hits(f, GraphConfig(primaries_per_frame=30))[0] for f in split_frames(hits, 30)]


def test_batch_equals_per_frame_and_threads_equal_serial_and_blocks_match_layers():
    frames = _frames()
    rng = np.random.default_rng(5)
    scores = [rng.random(g.hit_edge_index.shape[1]) for g in frames]
    layouts = [layout_of_graph(g) for g in frames]
    per_frame = [assign_scores(s, lay) for s, lay in zip(scores, layouts)]
    batch = assign_scores(np.concatenate(scores), concat_layouts(layouts))
    assert np.array_equal(batch, np.concatenate(per_frame))
    assert np.array_equal(assign_scores(np.concatenate(scores), concat_layouts(layouts), workers=2), batch)
    # the same assignment from dense blocks built directly from hit layers
    g, s, y = frames[0], scores[0], per_frame[0]
    layer = g.hit_x[:, 4].long().numpy()
    src, tgt = g.hit_edge_index.numpy()
    for lay_l in range(int(layer.max())):
        rows, cols = np.nonzero(layer == lay_l)[0], np.nonzero(layer == lay_l + 1)[0]
        block = np.full((rows.size, cols.size), np.inf)
        sel = np.nonzero(layer[src] == lay_l)[0]
        block[np.searchsorted(rows, src[sel]), np.searchsorted(cols, tgt[sel])] = 1 - s[sel]
        yb = solve_block(block)
        assert np.array_equal(yb[np.searchsorted(rows, src[sel]), np.searchsorted(cols, tgt[sel])], y[sel])
    # with true scores, the assignment recovers most true segments of clean primaries
    y_true = assign_scores(g.y.numpy(), layouts[0])
    clean = g.edge_clean.numpy()
    assert y_true[clean].mean() > 0.95


def test_differentiable_assignment_gradients_reach_the_scores():
    g = _frames()[0]
    lay = layout_of_graph(g)
    scores = torch.rand(g.hit_edge_index.shape[1], dtype=torch.float64, requires_grad=True)
    w = segment_weights(g.hit_x[g.hit_edge_index[0], 4].long(), 2.0, 1.0)
    y_hat = assign_differentiable(scores, lay, lam=50.0)
    loss = hamming_loss(y_hat, g.y.double(), w.double())
    loss.backward()
    assert scores.grad is not None and scores.grad.abs().sum() > 0
    assert bce_loss(torch.full((3,), 0.5), torch.tensor([0.0, 1.0, 1.0])).item() == pytest.approx(np.log(2))
    assert torch.isnan(hamming_loss(torch.zeros(0), torch.zeros(0)))
    assert segment_weights(torch.tensor([0, 1, 2, 5]), 3.0, 1.0).tolist() == [3.0, 3.0, 1.0, 1.0]


def test_backward_shortcut_is_exact():
    """Blocks whose loss gradient favours the current matching keep it under the perturbation: skipping their
    solve changes neither cardinality nor cost of the perturbed solution."""
    from pctlib.assign.blackbox import unchanged_blocks

    rng = np.random.default_rng(6)
    skipped = 0
    for _ in range(400):
        n, m = rng.integers(1, 6, 2)
        lay, r, c = one_block_layout(n, m, rng.random((n, m)) < 0.7)
        if r.size == 0:
            continue
        cost = rng.random(r.size)
        y = assign_costs(cost, lay)
        g = (1 - 2 * (rng.random(r.size) < 0.5)) / r.size
        if rng.random() < 0.5:
            g = np.where(y == 1, -abs(g), abs(g))
        mask = unchanged_blocks(y, g, lay)
        skipped += int(mask[0])
        cp = np.maximum(cost + 30 * g, 0)
        full, short = assign_costs(cp, lay), assign_costs(cp, lay, known=(y, mask))
        assert full.sum() == short.sum() and cp[full == 1].sum() == pytest.approx(cp[short == 1].sum(), abs=1e-12)
    assert skipped > 100
