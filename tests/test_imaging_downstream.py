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
