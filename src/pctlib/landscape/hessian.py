"""Curvature of a trained scorer's loss (paper Sec. 3.3 and App. D, after PyHessian): Hessian-vector products by
double backpropagation, the top eigenpairs by power iteration with deflation and by Lanczos (scipy's ``eigsh`` on a
``LinearOperator``), and the trace by Hutchinson's estimator.

The loss is a function of the parameters only, L(θ) = Σ_f loss_f(θ) over a fixed, named list of frames (the paper:
the first 10 training graphs), with BatchNorm in eval mode (running statistics fixed, so L is a function of θ and
not of the batch): ``LossOfParameters``. Which loss: BCE of the scores for PTT; for PAT the Hamming loss of the
assignment is piecewise constant in θ (its Hessian is zero almost everywhere), so its curvature is that of a
differentiable surrogate, BCE at the PAT model (``loss="bce"``); the chapter states and compares the choice.
Negative eigenvalues are returned as they are. The model's parameters and BatchNorm statistics are never changed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call


@dataclass
class LossOfParameters:
    """L(θ) of ``model`` on ``frames`` with BatchNorm frozen at its running statistics; θ a list of tensors in the
    order of ``model.named_parameters()``. ``loss``: "bce", the mean BCE of each frame's segment scores (without the
    training loss's tracker/calorimeter weights), summed over frames."""

    model: torch.nn.Module
    frames: list
    loss: str = "bce"

    def __post_init__(self):
        if self.loss != "bce":
            raise ValueError(f"loss must be 'bce' (the differentiable surrogate), got {self.loss!r}")
        self.names = [n for n, _ in self.model.named_parameters()]
        self.buffers = {n: b for n, b in self.model.named_buffers()}

    def params(self) -> list[torch.Tensor]:
        return [p.detach().clone() for _, p in self.model.named_parameters()]

    def __call__(self, theta: list[torch.Tensor]) -> torch.Tensor:
        was = self.model.training
        self.model.eval()
        try:
            state = {f"m.{k}": v for k, v in {**self.buffers, **dict(zip(self.names, theta))}.items()}
            wrapper = _LogitsOf(self.model)
            total = 0.0
            for g in self.frames:
                logits = functional_call(wrapper, state, (g.x, g.edge_index, g.edge_u))
                total = total + F.binary_cross_entropy_with_logits(logits, g.y)
            return total
        finally:
            self.model.train(was)


class _LogitsOf(torch.nn.Module):
    """``model.logits`` as a module's forward, so that ``functional_call`` can substitute the parameters."""

    def __init__(self, model):
        super().__init__()
        self.m = model

    def forward(self, x, edge_index, edge_u):
        return self.m.logits(x, edge_index, edge_u)


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
                           operator=None):
    """The k algebraically largest eigenvalues (``which="LA"``) and their unit eigenvectors, by Lanczos
    (``scipy.sparse.linalg.eigsh``), in decreasing order. ``operator``: the Hessian's ``LinearOperator`` if already
    made (``hessian_operator``; e.g. wrapped to count products)."""
    from scipy.sparse.linalg import eigsh

    op = operator if operator is not None else hessian_operator(loss, theta)
    v0 = np.random.default_rng(seed).standard_normal(op.shape[0])
    vals, vecs = eigsh(op, k=k, which="LA", tol=tol, v0=v0)
    order = np.argsort(vals)[::-1]
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
