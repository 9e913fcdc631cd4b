"""Representational and functional similarity of trained scorers (paper Sec. 3.3, 5.3, App. D, F; Fig. 7 and 10).

Representational: linear CKA (Kornblith et al. 2019) with the unbiased HSIC estimator accumulated over minibatches
(Nguyen et al. 2020): for a minibatch of n rows with activations X (n x p) and Y (n x q) of two models, the linear
Gram matrices K = X Xᵀ, L = Y Yᵀ with their diagonals set to zero give

    HSIC₁(K, L) = [tr(K L) + (1ᵀK1)(1ᵀL1) / ((n−1)(n−2)) − 2/(n−2) 1ᵀK L 1] / (n (n−3)),

an unbiased estimate of HSIC (Song et al. 2012; needs n ≥ 4), and over minibatches b

    CKA = Σ_b HSIC₁(K_b, L_b) / √(Σ_b HSIC₁(K_b, K_b) · Σ_b HSIC₁(L_b, L_b)).

Functional: the disagreement of two models' predictions (Eq. 5), here the assignments of the segments (0/1), its
bounds |q₁ − q₂| ≤ d ≤ min(q₁ + q₂, 1) by the two error rates (Eq. 6), and the min-max normalised disagreement
d_norm = (d − min) / (max − min) (Eq. 7). This module holds the estimators and the statistics; collecting the
activations of named layers and the jobs over model pairs build on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


class SimilarityError(ValueError):
    """A similarity that cannot be computed as asked (too few rows for the unbiased estimator, mismatched rows)."""


def _gram(x: torch.Tensor) -> torch.Tensor:
    x = x.to(torch.float64)
    k = x @ x.T
    k.fill_diagonal_(0.0)
    return k


def hsic_unbiased(k: torch.Tensor, l: torch.Tensor) -> float:
    """HSIC₁ of two n x n Gram matrices whose diagonals are zero (module docstring); n ≥ 4."""
    n = k.shape[0]
    if n < 4:
        raise SimilarityError(f"the unbiased HSIC estimator needs at least 4 rows, got {n}")
    ones = torch.ones(n, dtype=k.dtype, device=k.device)
    kl = k @ l
    value = (torch.trace(kl) + k.sum() * l.sum() / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * (ones @ kl @ ones))
    return float(value / (n * (n - 3)))


@dataclass
class MinibatchCKA:
    """Linear CKA accumulated over minibatches (module docstring): ``update(x, y)`` with the two models'
    activations of the same rows, ``value()`` at the end."""

    kl: float = 0.0
    kk: float = 0.0
    ll: float = 0.0
    batches: int = 0
    rows: list = field(default_factory=list)

    def update(self, x: torch.Tensor, y: torch.Tensor) -> None:
        if x.shape[0] != y.shape[0]:
            raise SimilarityError(f"the two activations must have the same rows, got {x.shape[0]} and {y.shape[0]}")
        x, y = x.reshape(x.shape[0], -1), y.reshape(y.shape[0], -1)
        k, l = _gram(x), _gram(y)
        self.kl += hsic_unbiased(k, l)
        self.kk += hsic_unbiased(k, k)
        self.ll += hsic_unbiased(l, l)
        self.batches += 1
        self.rows.append(int(x.shape[0]))

    def value(self) -> float:
        """The CKA so far; NaN when a representation is constant (zero HSIC with itself) or nothing was added."""
        if self.batches == 0 or self.kk <= 0 or self.ll <= 0:
            return float("nan")
        return float(self.kl / np.sqrt(self.kk * self.ll))


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Full-batch linear CKA with centred features (Kornblith et al. 2019): ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F) — the
    biased estimator, the reference the minibatch estimate converges to for many rows."""
    x = x.reshape(x.shape[0], -1).to(torch.float64)
    y = y.reshape(y.shape[0], -1).to(torch.float64)
    x = x - x.mean(0)
    y = y - y.mean(0)
    num = torch.linalg.matrix_norm(y.T @ x) ** 2
    den = torch.linalg.matrix_norm(x.T @ x) * torch.linalg.matrix_norm(y.T @ y)
    return float(num / den) if den > 0 else float("nan")


def disagreement(y1: np.ndarray, y2: np.ndarray) -> float:
    """d(f₁, f₂) (Eq. 5): the share of segments whose assignment (0/1) differs between the two models; NaN for no
    segments."""
    y1, y2 = np.asarray(y1), np.asarray(y2)
    if y1.shape != y2.shape:
        raise SimilarityError(f"assignments of different shapes: {y1.shape} and {y2.shape}")
    return float(np.mean(y1 != y2)) if y1.size else float("nan")


def normalised_disagreement(y1: np.ndarray, y2: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Disagreement, the error rates q₁, q₂ against ``truth``, the bounds of Eq. 6 and d_norm of Eq. 7.

    Keys: ``d``, ``q1``, ``q2``, ``d_min`` = |q₁ − q₂|, ``d_max`` = min(q₁ + q₂, 1), ``d_norm``. d_norm is NaN when
    the bounds coincide (d_max = d_min, e.g. two perfect models: no disagreement is possible, so none can be
    normalised); otherwise it lies in [0, 1] (0: the least disagreement their errors allow; 1: the most)."""
    truth = np.asarray(truth)
    d = disagreement(y1, y2)
    q1, q2 = disagreement(y1, truth), disagreement(y2, truth)
    lo, hi = abs(q1 - q2), min(q1 + q2, 1.0)
    span = hi - lo
    return {"d": d, "q1": q1, "q2": q2, "d_min": lo, "d_max": hi,
            "d_norm": float((d - lo) / span) if span > 0 else float("nan")}


def welch_test(a, b, alternative: str = "less") -> dict[str, float]:
    """Welch's t-test (unequal variances) of the means of ``a`` and ``b`` (scipy's ``ttest_ind(equal_var=False)``),
    one-sided by default as in the paper's App. F (H₁: mean(a) < mean(b)). Returns t, the p-value, the
    Welch–Satterthwaite degrees of freedom and the two sample sizes."""
    from scipy import stats

    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size < 2 or b.size < 2:
        raise SimilarityError(f"Welch's test needs at least 2 values per group, got {a.size} and {b.size}")
    res = stats.ttest_ind(a, b, equal_var=False, alternative=alternative)
    return {"t": float(res.statistic), "p": float(res.pvalue), "df": float(res.df), "n_a": int(a.size),
            "n_b": int(b.size)}


def permutation_p(a, b, alternative: str = "less", resamples: int = 1000, seed: int = 0) -> float:
    """Permutation p-value of the difference of means (scipy's ``permutation_test``, ``resamples`` relabellings,
    seeded), the distribution-free check beside :func:`welch_test`."""
    from scipy import stats

    res = stats.permutation_test((np.asarray(a, float), np.asarray(b, float)),
                                 lambda x, y: np.mean(x) - np.mean(y), permutation_type="independent",
                                 alternative=alternative, n_resamples=resamples, rng=np.random.default_rng(seed))
    return float(res.pvalue)


def holm(pvalues, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Holm's step-down correction for multiple tests (statsmodels ``multipletests``): (reject, adjusted p)."""
    from statsmodels.stats.multitest import multipletests

    reject, adjusted, _, _ = multipletests(np.asarray(pvalues, float), alpha=alpha, method="holm")
    return reject, adjusted
