"""Hessian-vector products, eigenpairs and trace against explicit Hessians (torch.autograd.functional.hessian) of
a tiny scorer on a tiny frame, and on a quadratic with a known spectrum."""

import numpy as np
import pytest
import torch

from pctlib.landscape.hessian import (LossOfParameters, hessian_operator, hutchinson_trace, hvp,
                                      top_eigenpairs_lanczos, top_eigenpairs_power)
from pctlib.models.interaction_network import EdgeScorer, ModelConfig


@pytest.fixture(scope="module")
def tiny(data):
    tr, _, norm = data
    torch.manual_seed(0)
    model = EdgeScorer(ModelConfig(hidden=3, encoding_dim=4, n_layers=2), norm["x_mean"], norm["x_std"]).double()
    model.train()
    with torch.no_grad():  # running statistics away from their initial values, then fixed
        model.logits(tr[0].x.double(), tr[0].edge_index, tr[0].edge_u.double())
    g = tr[0]
    # a tiny frame: the segments touched by the first 30 segment pairs (both directions), renumbered
    m = g.edge_index.shape[1] // 2
    pick = torch.cat([torch.arange(30), m + torch.arange(30)])
    ei = g.edge_index[:, pick]
    nodes, inverse = torch.unique(ei, return_inverse=True)
    frame = type("Frame", (), {"x": g.x[nodes].double(), "edge_index": inverse, "edge_u": g.edge_u[pick].double(),
                               "y": g.y[nodes].double()})()
    assert frame.edge_index.shape[1] == 60 and 0 < frame.y.sum() < frame.y.numel()
    return model, frame


def plain_logits(model, x, edge_index, u):
    """Eq. 9-11 written out with the graph module's encoding and torch's own scatter_reduce (no pctlib kernels)."""
    from pctlib.graphs.line_graph import sinusoidal_encoding

    r1 = model.phi_r1
    v = (x - model.x_mean) / model.x_std
    src, dst = edge_index
    cat = torch.cat([v[dst], v[src], sinusoidal_encoding(u, r1.d_enc, r1.scaling).to(v.dtype)], dim=1)
    e = r1.rest(torch.nn.functional.linear(cat, r1.lin0.weight, r1.lin0.bias))
    agg = torch.zeros((v.shape[0], e.shape[1]), dtype=e.dtype).scatter_reduce(
        0, dst.unsqueeze(1).expand_as(e), e, "amax", include_self=False)
    return model.phi_r2(model.phi_o(torch.cat([v, agg], dim=1))).squeeze(1)


class PlainLoss(LossOfParameters):
    """The same L(θ) through the plain formulation: the explicit Hessian's independent reference."""

    def __call__(self, theta):
        from torch.func import functional_call

        class Plain(torch.nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, x, ei, u):
                return plain_logits(self.m, x, ei, u)

        self.model.eval()
        state = {f"m.{k}": v for k, v in {**self.buffers, **dict(zip(self.names, theta))}.items()}
        total = 0.0
        for g in self.frames:
            logits = functional_call(Plain(self.model), state, (g.x, g.edge_index, g.edge_u))
            total = total + torch.nn.functional.binary_cross_entropy_with_logits(logits, g.y)
        self.model.train()
        return total


def explicit_hessian(loss):
    theta = loss.params()
    shapes = [t.shape for t in theta]
    sizes = [t.numel() for t in theta]

    def f(flat):
        return loss([p.reshape(s) for p, s in zip(torch.split(flat, sizes), shapes)])

    flat = torch.cat([t.reshape(-1) for t in theta])
    return torch.autograd.functional.hessian(f, flat).numpy()


def test_hvp_and_eigenpairs_equal_the_explicit_hessian(tiny):
    model, frame = tiny
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loss = LossOfParameters(model, [frame])
    H = explicit_hessian(PlainLoss(model, [frame]))
    assert np.allclose(H, H.T, atol=1e-10)
    op = hessian_operator(loss)
    rng = np.random.default_rng(1)
    for _ in range(3):
        v = rng.standard_normal(H.shape[0])
        assert np.allclose(op.matvec(v), H @ v, rtol=1e-4, atol=1e-8 * np.abs(H).max())
    exact = np.linalg.eigvalsh(H)
    vals, vecs = top_eigenpairs_lanczos(loss, k=2)
    assert np.allclose(vals, exact[::-1][:2], rtol=1e-4)
    for lam, u in zip(vals, vecs.T):
        assert np.linalg.norm(H @ u - lam * u) <= 1e-4 * abs(lam)
    by_magnitude = exact[np.argsort(-np.abs(exact))][:2]
    pvals, _ = top_eigenpairs_power(loss, k=2, iters=2000, tol=1e-10)
    assert np.allclose(pvals, by_magnitude, rtol=1e-4)
    mean, se = hutchinson_trace(loss, samples=400)
    assert abs(mean - np.trace(H)) <= 4 * se  # an unbiased estimate within its own statistical error
    # nothing of the model changed: parameters, BatchNorm statistics, mode
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_a_quadratic_with_a_known_spectrum_including_a_negative_eigenvalue():
    # L(θ) = ½ θᵀ A θ with A = Q diag(5, 2, -3, 0.5) Qᵀ: H = A everywhere
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    spectrum = np.array([5.0, 2.0, -3.0, 0.5])
    a = torch.as_tensor(q @ np.diag(spectrum) @ q.T)

    class Quadratic(LossOfParameters):
        def __post_init__(self):
            self.names = ["w"]

        def params(self):
            return [torch.ones(4, dtype=torch.float64)]

        def __call__(self, theta):
            return 0.5 * theta[0] @ a @ theta[0]

    loss = Quadratic(torch.nn.Module(), [])
    v = torch.as_tensor(rng.standard_normal(4))
    assert torch.allclose(hvp(loss, loss.params(), [v])[0], a @ v)
    vals, _ = top_eigenpairs_lanczos(loss, k=2)
    assert np.allclose(vals, [5.0, 2.0])
    pvals, pvecs = top_eigenpairs_power(loss, k=2, iters=500, tol=1e-12)
    assert np.allclose(pvals, [5.0, -3.0])  # by magnitude: the negative one is found, not hidden
    assert abs(abs(pvecs[:, 1] @ q[:, 2]) - 1) < 1e-6
