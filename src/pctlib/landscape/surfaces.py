"""2-D loss surfaces f(α, β) = L(θ* + α ν + β η) (paper Sec. 3.3, 5.2, Fig. 5 and 6): directions and the grid.

Directions are either the top-2 Hessian eigenvectors (the paper; ``landscape.hessian``) or filter-normalised random
directions (Li et al. 2018): a Gaussian direction rescaled, filter by filter (each output row of a weight matrix,
each entry of a bias or BatchNorm vector), to the norm of the matching filter of θ*, so that the surface does not
depend on the scale invariance BatchNorm gives the weights. This module holds the pure parts: the directions, the
points of the grid, and the evaluation of a function at them (sequentially). Parallel evaluation and the cache of
finished points are not built yet.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch


def filter_normalised_direction(theta: list[torch.Tensor], seed: int = 0) -> list[torch.Tensor]:
    """A random direction d with N(0, 1) entries, each filter rescaled to ‖filter of θ‖ (Li et al. 2018, Sec. 4):
    a filter is a row of a weight (one output unit); 1-d tensors (biases, BatchNorm parameters) are rescaled entry
    by entry: |d_i| = |θ_i| with a random sign."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for t in theta:
        d = torch.randn(t.shape, generator=gen, dtype=torch.float64).to(t.dtype)
        if t.dim() >= 2:
            rows, ref = d.reshape(t.shape[0], -1), t.detach().reshape(t.shape[0], -1)
            scale = ref.norm(dim=1, keepdim=True) / rows.norm(dim=1, keepdim=True).clamp_min(1e-30)
            d = (rows * scale).reshape(t.shape)
        else:
            d = d.sign() * t.detach().abs()
        out.append(d)
    return out


def grid(alphas: np.ndarray, betas: np.ndarray) -> list[tuple[int, int, float, float]]:
    """Every point (i, j, α_i, β_j) of the grid, row-major in α."""
    return [(i, j, float(a), float(b)) for i, a in enumerate(alphas) for j, b in enumerate(betas)]


def shifted(theta: list[torch.Tensor], nu: list[torch.Tensor], eta: list[torch.Tensor], alpha: float,
            beta: float) -> list[torch.Tensor]:
    """θ + α ν + β η, tensor by tensor."""
    return [t + alpha * n + beta * e for t, n, e in zip(theta, nu, eta)]


def evaluate_surface(fn: Callable[[list[torch.Tensor]], dict], theta: list[torch.Tensor], nu: list[torch.Tensor],
                     eta: list[torch.Tensor], alphas, betas) -> dict[str, np.ndarray]:
    """``fn`` (parameters -> dict of scalar metrics, e.g. Hamming loss, BCE, TPR) at every grid point; one
    (len(alphas) x len(betas)) array per metric."""
    alphas, betas = np.asarray(alphas, float), np.asarray(betas, float)
    out: dict[str, np.ndarray] = {}
    with torch.no_grad():
        for i, j, a, b in grid(alphas, betas):
            for key, value in fn(shifted(theta, nu, eta, a, b)).items():
                out.setdefault(key, np.full((alphas.size, betas.size), np.nan))[i, j] = float(value)
    return out
