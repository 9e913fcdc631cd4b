"""Curvature of a trained scorer's loss (paper Sec. 3.3 and App. D, after PyHessian): Hessian-vector products by
double backpropagation, the top eigenpairs by power iteration with deflation and by Lanczos (scipy's ``eigsh`` on a
``LinearOperator``), and the trace by Hutchinson's estimator.

The loss is a function of the parameters only, L(θ) = Σ_f loss_f(θ) over a fixed, named list of frames (the paper:
the first 10 training graphs; App. D: 100 graphs drawn uniformly from the training set), with BatchNorm in eval mode
(running statistics fixed, so L is a function of θ and not of the batch): ``LossOfParameters``. Which loss:

* ``"bce"``: the BCE of the segment scores, the loss PTT minimises; with a ``TrainConfig`` the training loss itself
  (its tracker/calorimeter weights and group normalisation, ``assign/losses.py``), else the plain mean.
* ``"interpolated"``: PAT's. The Hamming loss of the assignment is piecewise constant in θ, so its Hessian is zero
  almost everywhere. PAT's optimiser follows the blackbox gradient instead (Vlastelica et al. 2020; paper Eq. 14),
  the gradient of the piecewise-affine interpolation f_λ of the loss in the scores s. Near θ*, f_λ(s) is affine,
  f_λ(s) = const + <g, s> with g = ∂f_λ/∂s at s(θ*) (the blackbox gradient of the model's Hamming loss, its λ and
  weights from the ``TrainConfig``), so the curvature PAT's optimiser sees is that of θ ↦ <g, s(θ)>: Hessian
  Σ_i g_i ∇²s_i(θ*), the "Gauss-Newton" part Jᵀ ∇²f_λ J being zero almost everywhere. ``"interpolated"`` is this
  linearisation at the model's own parameters (its value differs from f_λ by a constant; its gradient at θ* equals
  PAT's training gradient, tested); it is meaningful at θ* only.

Negative eigenvalues are returned as they are. The model's parameters and BatchNorm statistics are never changed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call


LOSSES = ("bce", "interpolated")


@dataclass
class LossOfParameters:
    """L(θ) of ``model`` on ``frames`` with BatchNorm frozen at its running statistics; θ a list of tensors in the
    order of ``model.named_parameters()``. ``loss``: ``"bce"`` or ``"interpolated"`` (module docstring), summed
    over frames. ``config``: the model's ``TrainConfig`` (segment weights; λ for ``"interpolated"``, which needs
    it); without one the BCE is the plain mean over segments."""

    model: torch.nn.Module
    frames: list
    loss: str = "bce"
    config: object | None = None

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.loss == "interpolated" and self.config is None:
            raise ValueError("loss='interpolated' needs the model's TrainConfig (its lambda and segment weights)")
        self.names = [n for n, _ in self.model.named_parameters()]
        self.buffers = {n: b for n, b in self.model.named_buffers()}
        self._wrapper = _LogitsOf(self.model)
        self.weights = [None if self.config is None else frame_weights(g, self.config) for g in self.frames]
        self.directions = None
        # the sin/cos encoding of each frame's segment pairs depends on no parameter: computed once
        self.encodings = [self.model.phi_r1.encode_edges(g.edge_u) if hasattr(self.model, "phi_r1") else None
                          for g in self.frames]
        if self.loss == "interpolated":
            self.directions = [blackbox_score_gradient(self.model, g, self.config, w)
                               for g, w in zip(self.frames, self.weights)]

    def params(self) -> list[torch.Tensor]:
        return [p.detach().clone() for _, p in self.model.named_parameters()]

    def __call__(self, theta: list[torch.Tensor]) -> torch.Tensor:
        was = self.model.training
        self.model.eval()
        try:
            state = {f"m.{k}": v for k, v in {**self.buffers, **dict(zip(self.names, theta))}.items()}
            wrapper = self._wrapper
            total = 0.0
            for k, g in enumerate(self.frames):
                logits = functional_call(wrapper, state, (g.x, g.edge_index, g.edge_u, self.encodings[k]))
                if self.loss == "bce":
                    total = total + F.binary_cross_entropy_with_logits(logits, g.y, weight=self.weights[k])
                else:
                    total = total + (self.directions[k] * torch.sigmoid(logits)).sum()
            return total
        finally:
            self.model.train(was)


def frame_weights(g, config) -> torch.Tensor:
    """The training loss's per-segment weights of frame ``g`` under ``config`` (``assign.losses.segment_weights``)."""
    from ..assign.losses import segment_weights

    src_layer = g.hit_x[g.hit_edge_index[0], 4].long()
    return segment_weights(src_layer, config.w_tracker, config.w_calorimeter, normalisation=config.loss_normalisation,
                           tracker_group=config.tracker_group).to(g.x.dtype)


def blackbox_score_gradient(model, g, config, weights=None) -> torch.Tensor:
    """g = ∂f_λ/∂s: the blackbox gradient of the frame's Hamming loss (weighted as in training) with respect to
    the segment scores of ``model`` (BatchNorm in eval mode), λ and its scaling from ``config``."""
    from ..assign.blackbox import assign_differentiable
    from ..assign.layout import layout_of_graph
    from ..assign.losses import hamming_loss

    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            s = torch.sigmoid(model.logits(g.x, g.edge_index, g.edge_u))
        s = s.detach().requires_grad_(True)
        y_hat = assign_differentiable(s, layout_of_graph(g), config.lam, config.scale_by_lambda)
        w = frame_weights(g, config) if weights is None else weights
        (grad,) = torch.autograd.grad(hamming_loss(y_hat, g.y.to(s.dtype), w), s)
        return grad.detach()
    finally:
        model.train(was)


class _LogitsOf(torch.nn.Module):
    """``model.logits`` as a module's forward, so that ``functional_call`` can substitute the parameters."""

    def __init__(self, model):
        super().__init__()
        self.m = model

    def forward(self, x, edge_index, edge_u, encoding=None):
        return self.m.logits(x, edge_index, edge_u, encoding)


def hvp(loss: LossOfParameters, theta: list[torch.Tensor], v: list[torch.Tensor]) -> list[torch.Tensor]:
    """H v at θ by double backpropagation: d/dθ <∇L(θ), v>."""
    theta = [t.detach().requires_grad_(True) for t in theta]
    grads = torch.autograd.grad(loss(theta), theta, create_graph=True)
    dot = sum((g * u).sum() for g, u in zip(grads, v))
    if not dot.requires_grad:  # a loss linear in θ
        return [torch.zeros_like(t) for t in theta]
    # a parameter whose gradient does not depend on θ (a bias in front of a BatchNorm in eval mode: its gradient
    # is constant) has a zero row of the Hessian
    out = torch.autograd.grad(dot, theta, allow_unused=True)
    return [torch.zeros_like(t) if h is None else h.detach() for h, t in zip(out, theta)]


def as_direction(x: np.ndarray, like: list[torch.Tensor]) -> list[torch.Tensor]:
    """A flat vector (an eigenvector of ``eigsh``) as tensors shaped like θ."""
    return _unflat(np.asarray(x, dtype=np.float64), like)


def _flat(ts: list[torch.Tensor]) -> np.ndarray:
    return torch.cat([t.reshape(-1) for t in ts]).detach().cpu().double().numpy()


def _unflat(x: np.ndarray, like: list[torch.Tensor]) -> list[torch.Tensor]:
    out, i = [], 0
    for t in like:
        n = t.numel()
        out.append(torch.as_tensor(x[i:i + n], dtype=t.dtype, device=t.device).reshape(t.shape))
        i += n
    return out


def hessian_operator(loss: LossOfParameters, theta: list[torch.Tensor] | None = None):
    """The Hessian at θ (default: the model's parameters) as a scipy ``LinearOperator`` on flat float64 vectors."""
    from scipy.sparse.linalg import LinearOperator

    theta = loss.params() if theta is None else theta
    n = sum(t.numel() for t in theta)
    return LinearOperator((n, n), matvec=lambda x: _flat(hvp(loss, theta, _unflat(np.asarray(x).ravel(), theta))),
                          dtype=np.float64)


def top_eigenpairs_lanczos(loss: LossOfParameters, k: int = 2, theta=None, tol: float = 1e-6, seed: int = 0,
                           operator=None, which: str = "LA"):
    """The k algebraically largest eigenvalues (``which="LA"``, in decreasing order) or smallest (``"SA"``, in
    increasing order) and their unit eigenvectors, by Lanczos (``scipy.sparse.linalg.eigsh``). ``operator``: the
    Hessian's ``LinearOperator`` if already made (``hessian_operator``; e.g. wrapped to count products)."""
    from scipy.sparse.linalg import eigsh

    if which not in ("LA", "SA"):
        raise ValueError(f"which must be 'LA' or 'SA', got {which!r}")
    op = operator if operator is not None else hessian_operator(loss, theta)
    v0 = np.random.default_rng(seed).standard_normal(op.shape[0])
    vals, vecs = eigsh(op, k=k, which=which, tol=tol, v0=v0)
    order = np.argsort(vals)[::-1] if which == "LA" else np.argsort(vals)
    return vals[order], vecs[:, order]


def top_eigenpairs_power(loss: LossOfParameters, k: int = 2, theta=None, iters: int = 200, tol: float = 1e-6,
                         seed: int = 0, operator=None):
    """The k eigenvalues of largest *magnitude* and unit eigenvectors by power iteration with deflation (PyHessian's
    scheme: each new vector is kept orthogonal to those found), in the order found. Stops an eigenvalue when its
    relative change is below ``tol``. ``operator`` as for :func:`top_eigenpairs_lanczos`."""
    op = operator if operator is not None else hessian_operator(loss, theta)
    rng = np.random.default_rng(seed)
    vals, vecs = [], []
    for _ in range(k):
        v = rng.standard_normal(op.shape[0])
        lam = None
        for _ in range(iters):
            for u in vecs:
                v = v - (u @ v) * u
            v = v / np.linalg.norm(v)
            hv = op.matvec(v)
            for u in vecs:
                hv = hv - (u @ hv) * u
            new = float(v @ hv)
            v = hv
            if lam is not None and abs(new - lam) <= tol * max(abs(new), 1e-30):
                lam = new
                break
            lam = new
        u = v / np.linalg.norm(v)
        vals.append(lam)
        vecs.append(u)
    return np.array(vals), np.stack(vecs, axis=1)


def hutchinson_trace(loss: LossOfParameters, samples: int = 100, theta=None, seed: int = 0,
                     operator=None) -> tuple[float, float]:
    """Hutchinson's estimate of tr(H) = E[zᵀ H z] over Rademacher z: (mean, standard error of the mean)."""
    op = operator if operator is not None else hessian_operator(loss, theta)
    rng = np.random.default_rng(seed)
    est = []
    for _ in range(samples):
        z = rng.choice([-1.0, 1.0], size=op.shape[0])
        est.append(float(z @ op.matvec(z)))
    est = np.array(est)
    return float(est.mean()), float(est.std(ddof=1) / np.sqrt(len(est))) if len(est) > 1 else float("nan")


@dataclass
class Curvature:
    """Summary of the Hessian of one loss at θ* (Yang et al. 2021's local measures): the top-k eigenvalues
    (decreasing), the smallest eigenvalue (negative where θ* is not a minimum along some direction), Hutchinson's
    trace with its standard error, the Hessian-vector products spent and the seconds."""

    loss: str
    frames: int
    eigenvalues: list[float]
    min_eigenvalue: float
    trace: float
    trace_se: float
    hvps: int
    seconds: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def curvature(loss: LossOfParameters, k: int = 2, trace_samples: int = 10, tol: float = 1e-3, seed: int = 0,
              smallest: bool = True) -> tuple[Curvature, np.ndarray]:
    """Top-k eigenpairs (Lanczos), the smallest eigenvalue (Lanczos: for k <= 2 in the same run, ``which="BE"``,
    else a second run, ``which="SA"``; NaN if ``smallest`` is False) and the trace (Hutchinson, ``trace_samples`` Rademacher vectors; NaN if 0) of ``loss``'s Hessian at the
    model's parameters. Returns the summary and the eigenvectors (n x k, flat; :func:`as_direction` shapes them)."""
    import time

    from scipy.sparse.linalg import LinearOperator

    t0 = time.perf_counter()
    op = hessian_operator(loss)
    count = {"n": 0}

    def counted(x):
        count["n"] += 1
        return op.matvec(x)

    cop = LinearOperator(op.shape, matvec=counted, dtype=np.float64)
    if smallest and k <= 2:
        # one Lanczos run for both ends: eigsh's "BE" with k + 1 values gives the k largest and the smallest
        from scipy.sparse.linalg import eigsh

        v0 = np.random.default_rng(seed).standard_normal(op.shape[0])
        both, vecs = eigsh(cop, k=k + 1, which="BE", tol=tol, v0=v0)
        order = np.argsort(both)
        low = float(both[order[0]])
        top = order[1:][::-1]
        vals, vecs = both[top], vecs[:, top]
    else:
        vals, vecs = top_eigenpairs_lanczos(loss, k=k, tol=tol, seed=seed, operator=cop)
        low = float(top_eigenpairs_lanczos(loss, k=1, tol=tol, seed=seed + 1, operator=cop, which="SA")[0][0]) \
            if smallest else float("nan")
    tr, se = hutchinson_trace(loss, samples=trace_samples, seed=seed + 2, operator=cop) if trace_samples \
        else (float("nan"), float("nan"))
    return Curvature(loss.loss, len(loss.frames), [float(v) for v in vals], low, tr, se, count["n"],
                     time.perf_counter() - t0), vecs


#: version of the curvature computation (part of its cache key)
CURVATURE_VERSION = 1


def curvature_cached(model, frames: list, config, loss: str = "bce", k: int = 2, trace_samples: int = 10,
                     tol: float = 1e-3, seed: int = 0, cache_dir=None, device: str = "cpu"
                     ) -> tuple[Curvature, np.ndarray]:
    """:func:`curvature` of ``LossOfParameters(model, frames, loss, config)``, kept in ``cache_dir`` (one file per
    model, frames, loss, configuration and settings; written atomically) and read from there when present.
    ``device``: where the products run (a copy of the model and the frames are moved there)."""
    import copy

    from pathlib import Path

    from .cache import digest, frames_digest, load_torch, model_digest, save_torch_atomic

    key = digest(model_digest(model), frames_digest(frames), loss, None if config is None else config.to_dict(),
                 k, trace_samples, tol, seed, CURVATURE_VERSION)[:24]
    path = None if cache_dir is None else Path(cache_dir) / f"curvature_{loss}_{key}.pt"
    n_params = sum(p.numel() for p in model.parameters())

    def check(hit):
        vectors = hit["vectors"]
        if not isinstance(vectors, torch.Tensor) or tuple(vectors.shape) != (n_params, k):
            raise ValueError(f"eigenvectors of shape {tuple(getattr(vectors, 'shape', ()))}, the model needs "
                             f"({n_params}, {k})")
        c = Curvature(**hit["summary"])
        if len(c.eigenvalues) != k:
            raise ValueError(f"{len(c.eigenvalues)} eigenvalues, expected {k}")

    if path is not None:
        hit = load_torch(path, check)
        if hit is not None:
            return Curvature(**hit["summary"]), hit["vectors"].numpy()
    dev = torch.device(device)
    on = copy.deepcopy(model).to(dev) if dev.type != "cpu" else model
    frames = frames if dev.type == "cpu" else [g.to(dev) for g in frames]
    summary, vecs = curvature(LossOfParameters(on, frames, loss, config), k=k,
                              trace_samples=trace_samples, tol=tol, seed=seed)
    if path is not None:
        save_torch_atomic(path, {"summary": summary.to_dict(), "vectors": torch.as_tensor(vecs)})
    return summary, vecs


def _curvature_job(context, item):
    models, frames, configs, settings = context
    k, loss = item
    return curvature_cached(models[k], frames, configs[k], loss, **settings)


def curvatures(models: list, frames: list, configs: list, jobs: list[tuple[int, str]], workers: int = 1,
               threads: int = 1, engine: str | None = "local", progress: bool = True, **settings
               ) -> list[tuple[Curvature, np.ndarray]]:
    """:func:`curvature_cached` of every job ``(model index, loss)``, in parallel over jobs (``landscape.jobs``;
    ``settings``: k, trace_samples, tol, seed, cache_dir, device)."""
    from .jobs import map_jobs

    return map_jobs(_curvature_job, (models, frames, configs, settings), jobs, workers=workers, threads=threads,
                    engine=engine, progress=progress, desc="Hessians")
