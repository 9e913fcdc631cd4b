"""The fast scoring path (hand-fused encoding, max aggregation, compiled MLPs, allocator) against the plain
formulation of the paper's Eq. 9-11: explicit concatenation (v_dst, v_src, enc(u)) through nn.Linear with the
graph module's own encoding, and torch's own ``scatter_reduce`` amax with autograd's gradient."""

import os
import subprocess
import sys

import pytest
import torch

from pctlib.graphs.line_graph import sinusoidal_encoding
from pctlib.models.interaction_network import EdgeScorer, EncodingProjection, compile_scorer, max_aggregation


def plain_logits(model: EdgeScorer, x, edge_index, u):
    """Eq. 9-11 written out, sharing only the parameters with ``model``."""
    r1 = model.phi_r1
    v = (x - model.x_mean) / model.x_std
    src, dst = edge_index
    cat = torch.cat([v[dst], v[src], sinusoidal_encoding(u, r1.d_enc, r1.scaling)], dim=1)
    e = r1.rest(torch.nn.functional.linear(cat, r1.lin0.weight, r1.lin0.bias))
    agg = torch.zeros((v.shape[0], e.shape[1])).scatter_reduce(0, dst.unsqueeze(1).expand_as(e), e, "amax",
                                                               include_self=False)
    return model.phi_r2(model.phi_o(torch.cat([v, agg], dim=1))).squeeze(1)


def logits_and_grads(model, fn, g):
    model.zero_grad(set_to_none=True)
    out = fn(g)
    (out.sin() * torch.linspace(-1, 1, out.shape[0])).sum().backward()  # a loss that weighs every score differently
    return out.detach(), {k: p.grad.clone() for k, p in model.named_parameters()}


def assert_close(a, b, name, scale=None):
    """Equal to float32 rounding: relative 1e-4, absolute 1e-5 of ``scale`` (default: b's largest entry). The
    gradients are compared at the scale of the whole model's gradient: the biases in front of a BatchNorm have a
    zero gradient in exact arithmetic, so theirs is rounding noise of sums over 10^5 edges in either path."""
    scale = float(b.abs().max()) if scale is None else scale
    assert torch.allclose(a, b, rtol=1e-4, atol=1e-5 * (scale or 1.0)), (name, float((a - b).abs().max()), scale)


def grad_scale(grads):
    return max(float(v.abs().max()) for v in grads.values())


@pytest.mark.parametrize("mirrored", [True, False])
def test_fast_scores_and_gradients_equal_the_plain_formulation(data, mirrored):
    tr, _, norm = data
    g = tr[0]
    u = g.edge_u.clone()
    if not mirrored:  # other u on the reversed pairs: the encoding of every directed edge is needed
        m = u.shape[0] // 2
        u[m:] = u[m:] * 0.7 + 0.001
    torch.manual_seed(0)
    model = EdgeScorer(x_mean=norm["x_mean"], x_std=norm["x_std"]).train()
    fast, gf = logits_and_grads(model, lambda g: model.logits(g.x, g.edge_index, u), g)
    plain, gp = logits_and_grads(model, lambda g: plain_logits(model, g.x, g.edge_index, u), g)
    assert_close(fast, plain, "logits")
    for k in gp:
        assert_close(gf[k], gp[k], k, grad_scale(gp))


def test_max_aggregation_gradient_by_hand_and_against_torch():
    # messages with ties (equal maxima on several edges of a node) and a node without incoming edges
    e = torch.tensor([[1.0, 2.0], [1.0, 0.5], [3.0, 2.0], [0.5, -1.0], [-2.0, -1.0]], dtype=torch.float64,
                     requires_grad=True)
    dst = torch.tensor([0, 0, 0, 2, 2])
    grad = torch.tensor([[1.0, 10.0], [5.0, 7.0], [2.0, 4.0]], dtype=torch.float64)
    ours = max_aggregation(e, dst, 3)
    (g_ours,) = torch.autograd.grad(ours, e, grad)
    assert ours.tolist() == [[3.0, 2.0], [0.0, 0.0], [0.5, -1.0]]
    # by hand: node 0 channel 1 has two maxima (2.0 on edges 0 and 2), each gets half; node 2 channel 1 ties too
    assert g_ours[:, 0].tolist() == [0.0, 0.0, 1.0, 2.0, 0.0]
    assert g_ours[:, 1].tolist() == [5.0, 0.0, 5.0, 2.0, 2.0]
    ref = torch.zeros((3, 2), dtype=torch.float64).scatter_reduce(0, dst.unsqueeze(1).expand_as(e), e, "amax",
                                                                  include_self=False)
    (g_ref,) = torch.autograd.grad(ref, e, grad)
    assert torch.equal(ours, ref) and torch.equal(g_ours, g_ref)


def test_max_aggregation_does_not_share_with_the_initial_zero():
    # torch's scatter_reduce(include_self=False) backward counts the untouched initial 0 as a tie when a node's
    # maximum is exactly 0 and gives the edge half the gradient; the maximum over the edges is the edge's alone
    e = torch.tensor([[0.0], [-2.0]], dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(max_aggregation(e, torch.tensor([0, 0]), 1), e, torch.tensor([[4.0]]).double())
    assert g.flatten().tolist() == [4.0, 0.0]


def test_encoding_projection_gradient_by_finite_differences():
    torch.manual_seed(0)
    x = torch.randn(20000, dtype=torch.float64)  # more rows than one block: the blocks must join up
    freq = torch.rand(6, dtype=torch.float64)
    a = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    assert x.shape[0] > EncodingProjection.BLOCK
    out = EncodingProjection.apply(x, freq, a, b)
    arg = torch.outer(x, freq)
    assert torch.allclose(out, torch.sin(arg) @ a.t() + torch.cos(arg) @ b.t())
    assert torch.autograd.gradcheck(lambda a, b: EncodingProjection.apply(x[:50], freq, a, b), (a, b))


def test_compiled_scorer_equals_eager(data):
    tr, _, norm = data
    g = tr[1]
    torch.manual_seed(2)
    eager = EdgeScorer(x_mean=norm["x_mean"], x_std=norm["x_std"]).train()
    compiled = EdgeScorer(x_mean=norm["x_mean"], x_std=norm["x_std"]).train()
    compiled.load_state_dict(eager.state_dict())
    compile_scorer(compiled)
    assert list(compiled.state_dict()) == list(eager.state_dict())  # checkpoints keep their names
    fe, ge = logits_and_grads(eager, lambda g: eager.logits(g.x, g.edge_index, g.edge_u), g)
    fc, gc = logits_and_grads(compiled, lambda g: compiled.logits(g.x, g.edge_index, g.edge_u), g)
    assert_close(fc, fe, "logits")
    for k in ge:
        assert_close(gc[k], ge[k], k, grad_scale(ge))
    for k, v in eager.state_dict().items():  # BatchNorm running statistics updated alike
        assert_close(compiled.state_dict()[k].float(), v.float(), k)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc only")
def test_allocator_setting_applies_once_and_can_be_switched_off():
    code = "from pctlib.allocator import keep_freed_memory as k; print(k(), k())"
    on = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                        env={**os.environ, "PCTLIB_MALLOC": ""})
    off = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PCTLIB_MALLOC": "system"})
    assert on.stdout.split() == ["True", "True"], on.stderr
    assert off.stdout.split() == ["False", "False"], off.stderr
