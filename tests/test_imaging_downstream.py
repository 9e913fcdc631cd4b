"""The differentiable chain range: equal to the layer estimator on 0/1 chains, its gradient against finite
differences, and the gradient reaching the scores through the blackbox assignment."""

import numpy as np
import pytest
import torch

from pctlib.assign.blackbox import assign_differentiable, blackbox_gradient
from pctlib.assign.layout import layout_from_pointers
from pctlib.imaging.downstream import chain_ranges, wepl_loss
from pctlib.imaging.range import RangeModel, WeplCalibration, residual_ranges

DEPTHS = (0.0, 10.0, 20.0, 30.0, 40.0)  # four layers and the back face
# two hits per layer (hits 2l, 2l+1 in layer l); every hit joins both hits of the next layer
LAYER = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
EI = torch.tensor([[0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5],
                   [2, 3, 2, 3, 4, 5, 4, 5, 6, 7, 6, 7]])


def test_chains_of_a_0_1_assignment_give_the_layer_estimate():
    # chain A: 0 -> 2 -> 4 -> 6 (to layer 3); chain B: 1 -> 3 (stops in layer 1)
    y = torch.zeros(12, dtype=torch.float64)
    y[[0, 4, 8]] = 1.0
    y[3] = 1.0
    r = chain_ranges(y, EI, LAYER, torch.tensor([0, 1]), DEPTHS)
    want = residual_ranges([(np.array([0, 1, 2, 3]), np.ones(4)), (np.array([0, 1]), np.ones(2))],
                           RangeModel(DEPTHS))
    assert r.tolist() == want.tolist() == [35.0, 15.0]
    # a start in a deeper layer begins its sum there: hit 4 -> 6
    assert chain_ranges(y, EI, LAYER, torch.tensor([4]), DEPTHS).tolist() == [35.0]
    assert chain_ranges(torch.zeros(12, dtype=torch.float64), EI, LAYER, torch.tensor([0]), DEPTHS).tolist() == [5.0]


def test_gradient_against_finite_differences():
    gen = torch.Generator().manual_seed(0)
    y = torch.rand(12, generator=gen, dtype=torch.float64, requires_grad=True)
    cal = WeplCalibration(300.0, -1.0, "layer", 230.0)
    starts, truth = torch.tensor([0, 1]), torch.tensor([270.0, 285.0], dtype=torch.float64)
    f = lambda v: wepl_loss(v, EI, LAYER, starts, truth, DEPTHS, cal)
    f(y).backward()
    eps = 1e-6
    fd = torch.zeros(12, dtype=torch.float64)
    with torch.no_grad():
        for k in range(12):
            e = torch.zeros(12, dtype=torch.float64)
            e[k] = eps
            fd[k] = (f(y + e) - f(y - e)) / (2 * eps)
    np.testing.assert_allclose(y.grad.numpy(), fd.numpy(), rtol=1e-6, atol=1e-8)
    assert torch.autograd.gradcheck(f, (y.detach().clone().requires_grad_(),))


def test_the_downstream_gradient_reaches_the_scores_through_the_blackbox():
    layout = layout_from_pointers(EI.numpy(), np.array([0, 2, 4, 6, 8]), np.array([0, 4, 8, 12]))
    scores = torch.tensor([0.9, 0.2, 0.1, 0.8, 0.7, 0.3, 0.4, 0.6, 0.1, 0.2, 0.3, 0.4], dtype=torch.float64,
                          requires_grad=True)
    lam = 5.0
    y = assign_differentiable(scores, layout, lam)
    cal = WeplCalibration(300.0, -1.0, "layer", 230.0)
    truth = torch.tensor([265.0, 285.0], dtype=torch.float64)
    yy = y.detach().clone().requires_grad_()
    loss = wepl_loss(yy, EI, LAYER, torch.tensor([0, 1]), truth, DEPTHS, cal)
    loss.backward()
    wepl_loss(y, EI, LAYER, torch.tensor([0, 1]), truth, DEPTHS, cal).backward()
    assert scores.grad is not None and scores.grad.abs().sum() > 0
    # by the blackbox's definition: dL/dC = -(y(C) - y(C + lam dL/dy)) / lam, and C = 1 - s
    want = -blackbox_gradient(1.0 - scores.detach().numpy(), y.detach().numpy(), yy.grad.numpy(), layout, lam,
                              True, 1.0)
    np.testing.assert_allclose(scores.grad.numpy(), want)


def _follow(y, ei, layer, start, depths):
    """Brute force: walk the chain of assigned segments from ``start`` hit by hit (the reference)."""
    d = np.asarray(depths, float)
    nxt = {int(a): int(b) for (a, b), v in zip(ei.T.tolist(), y.tolist()) if v}
    h = int(start)
    while h in nxt:
        h = nxt[h]
    last = int(layer[h])
    return 0.5 * (d[last] + d[last + 1])


def test_chain_ranges_match_walking_the_chains_on_random_frames():
    from pctlib.assign.batch import assign_scores

    rng = np.random.default_rng(3)
    for trial in range(5):
        n_layers = 7
        per = rng.integers(1, 6, n_layers)
        layer = np.repeat(np.arange(n_layers), per)
        perm = rng.permutation(layer.size)  # hits in no particular order
        layer = layer[perm]
        edges = []
        for lay in range(n_layers - 1):
            a, b = np.nonzero(layer == lay)[0], np.nonzero(layer == lay + 1)[0]
            edges += [(i, j) for i in a for j in b if rng.random() < 0.6]
        ei = np.array(edges, np.int64).T.reshape(2, -1)
        # a valid assignment: at most one successor and one predecessor per hit (greedy on random scores)
        y = np.zeros(ei.shape[1], np.int8)
        used_s, used_t = set(), set()
        for k in rng.permutation(ei.shape[1]):
            if ei[0, k] not in used_s and ei[1, k] not in used_t and rng.random() < 0.8:
                y[k] = 1
                used_s.add(ei[0, k])
                used_t.add(ei[1, k])
        depths = np.cumsum(rng.uniform(2, 6, n_layers + 1))
        starts = np.nonzero(np.isin(layer, [0, 1, 3]))[0]  # starts in three layers
        got = chain_ranges(torch.tensor(y, dtype=torch.float64), torch.tensor(ei), torch.tensor(layer),
                           torch.tensor(starts), depths)
        want = [_follow(y, ei, layer, s, depths) for s in starts]
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)


def test_pixel_grouped_loss_by_hand():
    from pctlib.imaging.downstream import pixel_groups

    # chains A (to layer 3, R 35) and B (to layer 1, R 15); WEPL = 300 - R: 265 and 285
    y = torch.zeros(12, dtype=torch.float64)
    y[[0, 4, 8, 3]] = 1.0
    cal = WeplCalibration(300.0, -1.0, "layer", 230.0)
    truth = torch.tensor([270.0, 275.0], dtype=torch.float64)
    one_pixel = torch.tensor([0, 0])
    # one pixel: mean WEPL 275, mean truth 272.5: (2.5)^2
    assert float(wepl_loss(y, EI, LAYER, torch.tensor([0, 1]), truth, DEPTHS, cal, one_pixel)) == pytest.approx(6.25)
    # two pixels = per track: ((-5)^2 + 10^2) / 2
    assert float(wepl_loss(y, EI, LAYER, torch.tensor([0, 1]), truth, DEPTHS, cal, torch.tensor([0, 1]))) == \
        pytest.approx(62.5) == float(wepl_loss(y, EI, LAYER, torch.tensor([0, 1]), truth, DEPTHS, cal))
    xy = torch.tensor([[0.1, 0.2], [2.4, 0.3], [2.6, 0.3], [-0.1, 0.2]], dtype=torch.float64)
    g = pixel_groups(xy, 2.5)
    assert g[0] == g[1] and len({int(g[0]), int(g[2]), int(g[3])}) == 3
    assert pixel_groups(xy, 0.0).tolist() == [0, 1, 2, 3]


def test_downstream_loss_needs_truth_and_valid_settings():
    from types import SimpleNamespace

    from pctlib.imaging.downstream import DownstreamError, DownstreamLoss

    with pytest.raises(DownstreamError, match="increasing"):
        DownstreamLoss((0.0, 5.0, 4.0), 300.0, -1.0)
    with pytest.raises(DownstreamError, match="pixel_mm"):
        DownstreamLoss(DEPTHS, 300.0, -1.0, -1.0)
    frame = SimpleNamespace(hit_x=torch.zeros(8, 5), hit_edge_index=EI)
    with pytest.raises(DownstreamError, match="hit_wepl"):
        DownstreamLoss(DEPTHS, 300.0, -1.0)(torch.zeros(12), frame)
    # starts: first-layer hits with a truth; hit 1 has none
    hit_x = torch.zeros(8, 5)
    hit_x[:, 4] = LAYER.float()
    frame = SimpleNamespace(hit_x=hit_x, hit_edge_index=EI,
                            hit_wepl=torch.tensor([270.0, float("nan"), 1, 1, 1, 1, 1, 1], dtype=torch.float64))
    loss = DownstreamLoss(DEPTHS, 300.0, -1.0)
    assert loss.starts(frame).tolist() == [0]
    y = torch.zeros(12, dtype=torch.float64)
    y[[0, 4, 8]] = 1.0
    assert float(loss(y, frame)) == pytest.approx((265.0 - 270.0) ** 2)


def test_descending_the_blackbox_gradient_lowers_the_downstream_loss_on_a_fixed_problem():
    """'Fine-tuning' the scores themselves (the parameters of this small fixed problem) by the blackbox gradient of
    the downstream loss alone: start from scores whose assignment swaps two protons' tracks after layer 1, and the
    loss must fall to its floor (both chains right)."""
    # protons A (hits 0, 2, 4, 6: reaches layer 3) and B (1, 3: stops in layer 1); layers 2, 3 have A's hits only
    layer = torch.tensor([0, 0, 1, 1, 2, 3])
    ei = torch.tensor([[0, 0, 1, 1, 2, 3, 4], [2, 3, 2, 3, 4, 4, 5]])
    hit_layer_ptr = np.array([0, 2, 4, 5, 6])
    edge_layer_ptr = np.array([0, 4, 6, 7])
    layout = layout_from_pointers(ei.numpy(), hit_layer_ptr, edge_layer_ptr)
    cal = WeplCalibration(300.0, -1.0, "layer", 230.0)
    starts = torch.tensor([0, 1])
    truth = torch.tensor([300.0 - 35.0, 300.0 - 15.0], dtype=torch.float64)  # A to layer 3, B to layer 1
    # wrong start: A goes 0 -> 3 (B's hit), B goes 1 -> 2 -> 4 -> 5 (A's deep hits)
    params = torch.tensor([0.2, 0.9, 0.9, 0.2, 0.7, 0.5, 0.8], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([params], lr=0.05)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        y = assign_differentiable(params.clamp(0.0, 1.0), layout, 10.0)
        loss = wepl_loss(y, ei, layer, starts, truth, DEPTHS, cal)
        losses.append(float(loss.detach()))
        loss.backward()
        opt.step()
    assert losses[0] == pytest.approx(((300 - 15.0) - 265.0) ** 2 / 2 + ((300 - 35.0) - 285.0) ** 2 / 2)
    assert losses[-1] == pytest.approx(0.0) and min(losses) < losses[0]
