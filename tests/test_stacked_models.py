"""k scorers evaluated as one network (``models.stacked``) equal the k models evaluated one by one: scores,
gradients of every parameter, BatchNorm running statistics, in training and in evaluation mode."""

import copy

import pytest
import torch

from pctlib.models.interaction_network import EdgeScorer, ModelConfig
from pctlib.models.stacked import StackError, stacked_logits


def zoo(norm, k=3):
    models = []
    for s in range(k):
        torch.manual_seed(s)
        shift = 0.1 * s  # each model its own input statistics
        models.append(EdgeScorer(x_mean=[m + shift for m in norm["x_mean"]], x_std=norm["x_std"]))
    return models


def one_by_one(models, g, encoding=None):
    return torch.stack([m.logits(g.x, g.edge_index, g.edge_u, encoding) for m in models], dim=1)


@pytest.mark.parametrize("train_mode", [True, False])
def test_stacked_scores_gradients_and_batchnorm_equal_the_models_one_by_one(data, train_mode):
    tr, _, norm = data
    g = tr[0]
    a = zoo(norm)
    b = copy.deepcopy(a)
    for m in a + b:
        m.train(train_mode)
    if not train_mode:  # running statistics that are not the initial ones
        for m in a:
            for bn in m.modules():
                if isinstance(bn, torch.nn.BatchNorm1d):
                    bn.running_mean.uniform_(-0.5, 0.5)
                    bn.running_var.uniform_(0.5, 2.0)
        b = copy.deepcopy(a)
    want = one_by_one(a, g)
    got = stacked_logits(b, g.x, g.edge_index, g.edge_u)
    assert got.shape == (g.x.shape[0], 3)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    weights = torch.randn_like(want)
    (want * weights).sum().backward()
    (got * weights).sum().backward()
    for ma, mb in zip(a, b):
        # a bias just before BatchNorm (training mode) has a gradient of 0 up to rounding: the tolerance is set by
        # the model's largest gradient, not by each tensor's own (near-zero) scale
        scale = max(float(p.grad.abs().max()) for p in ma.parameters())
        for (name, pa), (_, pb) in zip(ma.named_parameters(), mb.named_parameters()):
            torch.testing.assert_close(pb.grad, pa.grad, rtol=1e-4, atol=1e-6 * scale, msg=name)
        for (name, ba), (_, bb) in zip(ma.named_buffers(), mb.named_buffers()):
            torch.testing.assert_close(bb, ba, rtol=1e-5, atol=1e-6, msg=name)


def test_a_shared_encoding_and_a_frame_without_line_edges(data):
    tr, _, norm = data
    g = tr[1]
    models = [m.eval() for m in zoo(norm, 2)]
    enc = models[0].phi_r1.encode_edges(g.edge_u)
    with torch.no_grad():
        torch.testing.assert_close(stacked_logits(models, g.x, g.edge_index, g.edge_u, enc), one_by_one(models, g),
                                   rtol=1e-4, atol=1e-5)
        empty = torch.zeros((2, 0), dtype=torch.long)
        no_u = torch.zeros(0)
        want = torch.stack([m.logits(g.x, empty, no_u) for m in models], dim=1)
        torch.testing.assert_close(stacked_logits(models, g.x, empty, no_u), want, rtol=1e-4, atol=1e-5)


def test_models_that_cannot_be_one_network_are_refused(data):
    _, _, norm = data
    a, b = zoo(norm, 2)
    with pytest.raises(StackError, match="one ModelConfig"):
        stacked_logits([a, EdgeScorer(ModelConfig(hidden=8))], torch.zeros(3, 8), torch.zeros((2, 0), dtype=int),
                       torch.zeros(0))
    b.eval()
    with pytest.raises(StackError, match="all in training or all in evaluation"):
        stacked_logits([a, b], torch.zeros(3, 8), torch.zeros((2, 0), dtype=int), torch.zeros(0))
    with pytest.raises(StackError, match="no models"):
        stacked_logits([], torch.zeros(3, 8), torch.zeros((2, 0), dtype=int), torch.zeros(0))
