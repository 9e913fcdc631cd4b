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


class Plain(torch.nn.Module):
    """``plain_logits`` of a model as a module's forward, for ``functional_call``."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x, ei, u):
        return plain_logits(self.m, x, ei, u)


def plain_logits_at(loss, theta, g):
    """The logits of ``loss.model`` at parameters θ (its buffers as they are) through the plain formulation."""
    from torch.func import functional_call

    state = {f"m.{k}": v for k, v in {**loss.buffers, **dict(zip(loss.names, theta))}.items()}
    return functional_call(Plain(loss.model), state, (g.x, g.edge_index, g.edge_u))


class PlainLoss(LossOfParameters):
    """The same L(θ) through the plain formulation: the explicit Hessian's independent reference."""

    def __call__(self, theta):
        self.model.eval()
        total = 0.0
        for g in self.frames:
            total = total + torch.nn.functional.binary_cross_entropy_with_logits(plain_logits_at(self, theta, g),
                                                                                 g.y)
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


@pytest.fixture(scope="module")
def real_frame(data):
    """A whole (small) training frame in float64 with its hit structure, and a tiny model in eval mode."""
    tr, _, norm = data
    torch.manual_seed(1)
    model = EdgeScorer(ModelConfig(hidden=3, encoding_dim=4, n_layers=2), norm["x_mean"], norm["x_std"]).double()
    model.train()
    with torch.no_grad():
        model.logits(tr[1].x.double(), tr[1].edge_index, tr[1].edge_u.double())
    model.eval()
    g = tr[0].clone()
    g.x, g.edge_u, g.y = g.x.double(), g.edge_u.double(), g.y.double()
    return model, g


def test_bce_with_a_config_is_the_training_loss(real_frame):
    from pctlib.training.loop import TrainConfig, frame_step

    model, g = real_frame
    cfg = TrainConfig(mode="ptt", w_tracker=3.0, w_calorimeter=0.5)
    with torch.no_grad():
        want = float(frame_step(model, g, cfg)[0])
    got = float(LossOfParameters(model, [g], "bce", cfg)(LossOfParameters(model, [g]).params()))
    plain = float(LossOfParameters(model, [g])(LossOfParameters(model, [g]).params()))
    assert got == pytest.approx(want, rel=1e-12) and abs(got - plain) > 1e-3 * plain


def test_interpolated_surrogate_has_pats_training_gradient_and_the_explicit_hessian(real_frame):
    from pctlib.training.loop import TrainConfig, frame_step

    model, g = real_frame
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = TrainConfig(mode="pat", lam=5.0, w_tracker=2.0)
    # PAT's training gradient, through the blackbox assignment's autograd function
    model.zero_grad()
    frame_step(model, g, cfg)[0].backward()
    want = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    loss = LossOfParameters(model, [g], "interpolated", cfg)
    theta = [t.requires_grad_(True) for t in loss.params()]
    got = torch.autograd.grad(loss(theta), theta)
    assert any(float(w.abs().max()) > 0 for w in want)
    for a, b in zip(got, want):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-12)

    # the Hessian of θ -> <g, s(θ)> through the plain formulation (torch's scatter_reduce, no pctlib kernels)
    class PlainInterpolated(LossOfParameters):
        def __call__(self, theta):
            return (self.directions[0] * torch.sigmoid(plain_logits_at(self, theta, g))).sum()

    H = explicit_hessian(PlainInterpolated(model, [g], "interpolated", cfg))
    assert np.abs(H).max() > 0
    op = hessian_operator(loss)
    rng = np.random.default_rng(2)
    for _ in range(2):
        v = rng.standard_normal(H.shape[0])
        assert np.allclose(op.matvec(v), H @ v, rtol=1e-4, atol=1e-8 * np.abs(H).max())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()) and not model.training


def test_curvature_summary_against_the_explicit_spectrum(tiny):
    from pctlib.landscape.hessian import as_direction, curvature

    model, frame = tiny
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loss = LossOfParameters(model, [frame])
    exact = np.linalg.eigvalsh(explicit_hessian(PlainLoss(model, [frame])))
    summary, vecs = curvature(loss, k=2, trace_samples=100, tol=1e-8)
    assert np.allclose(summary.eigenvalues, exact[::-1][:2], rtol=1e-4)
    assert summary.min_eigenvalue == pytest.approx(exact[0], rel=1e-4, abs=1e-8 * abs(exact).max())
    assert abs(summary.trace - exact.sum()) <= 4 * summary.trace_se
    assert summary.hvps >= 100 and summary.frames == 1 and vecs.shape == (exact.size, 2)
    d = as_direction(vecs[:, 0], loss.params())
    assert [t.shape for t in d] == [t.shape for t in loss.params()]
    assert float(sum((t * t).sum() for t in d)) == pytest.approx(1.0, rel=1e-9)
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_unknown_or_incomplete_loss_is_an_error(tiny):
    model, frame = tiny
    with pytest.raises(ValueError, match="loss must be one of"):
        LossOfParameters(model, [frame], "hamming")
    with pytest.raises(ValueError, match="needs the model's TrainConfig"):
        LossOfParameters(model, [frame], "interpolated")


def test_curvature_with_more_eigenpairs_takes_the_separate_smallest_run(tiny):
    from pctlib.landscape.hessian import curvature

    model, frame = tiny
    loss = LossOfParameters(model, [frame])
    exact = np.linalg.eigvalsh(explicit_hessian(PlainLoss(model, [frame])))
    summary, vecs = curvature(loss, k=3, trace_samples=0, tol=1e-8)
    assert np.allclose(summary.eigenvalues, exact[::-1][:3], rtol=1e-4) and vecs.shape[1] == 3
    assert summary.min_eigenvalue == pytest.approx(exact[0], rel=1e-4, abs=1e-8 * abs(exact).max())
    assert np.isnan(summary.trace) and np.isnan(summary.trace_se)


def test_curvature_cache_is_reused_and_keyed_by_the_model(tiny, tmp_path, monkeypatch):
    import pctlib.landscape.hessian as Hmod

    model, frame = tiny
    first, vecs = Hmod.curvature_cached(model, [frame], None, "bce", k=2, trace_samples=3, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("curvature_bce_*.pt"))) == 1

    def no_compute(*a, **k):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(Hmod, "curvature", no_compute)
    again, vecs2 = Hmod.curvature_cached(model, [frame], None, "bce", k=2, trace_samples=3, cache_dir=tmp_path)
    assert again == first and np.array_equal(vecs, vecs2)
    other = type(model)(model.config).double()
    other.load_state_dict(model.state_dict())
    with torch.no_grad():
        next(other.parameters()).add_(1e-3)  # another model: another key, so computed (and here refused)
    with pytest.raises(AssertionError, match="recomputed"):
        Hmod.curvature_cached(other, [frame], None, "bce", k=2, trace_samples=3, cache_dir=tmp_path)
