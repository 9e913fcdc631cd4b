"""Learned graph construction (issue 17; the thesis in shared/papers/004, ch. 1 and 3): the losses an embedding of
hits is trained with, the alignment and uniformity of the embedding (Wang & Isola 2020), and segments built by
nearest neighbours in the embedding between adjacent layers.

Pairs are given as index tensors of shape (2, P): ``att`` the attractive pairs (two hits of one particle),
``rep`` the repulsive ones (hits of different particles, or a noise hit). Embedding distances are Euclidean.

* :func:`hinge_losses` — the composite loss of the thesis (Sec. 3.1): L_att = mean over attractive pairs of
  ‖h_i − h_j‖², L_rep = mean over repulsive pairs of ReLU(r² − ‖h_i − h_j‖²) (r = 1 in the thesis); the total is
  L_att + s_rep · L_rep.
* :func:`info_nce_loss` — supervised InfoNCE (thesis Sec. 3.2) with logits s(u, v) = −‖h_u − h_v‖² / τ: for each
  attractive pair (u, v⁺), −log( e^{s(u,v⁺)} / (e^{s(u,v⁺)} + Σ_{v⁻} e^{s(u,v⁻)}) ), the sum over the repulsive
  partners v⁻ of the anchor u, averaged over the attractive pairs. (The thesis' code listing normalises over all
  pairs of the batch at once; here each anchor's own negatives compete with its positive, the usual supervised
  form.) As τ → ∞ every logit tends to 0 and the loss of a pair tends to log(1 + n⁻(u)), n⁻(u) the anchor's number
  of negatives: the embedding no longer matters. An anchor without negatives contributes 0.
"""

from __future__ import annotations

import numpy as np
import torch


def _sq_dist(h: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    return (h[pairs[0]] - h[pairs[1]]).pow(2).sum(-1)


def hinge_losses(h: torch.Tensor, att: torch.Tensor, rep: torch.Tensor, margin: float = 1.0
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """(L_att, L_rep) of the embedding ``h`` (module docstring); an empty pair set gives 0 (no term), so a batch
    without one kind of pair still trains on the other."""
    zero = h.sum() * 0.0
    l_att = _sq_dist(h, att).mean() if att.shape[1] else zero
    l_rep = torch.relu(margin ** 2 - _sq_dist(h, rep)).mean() if rep.shape[1] else zero
    return l_att, l_rep


def info_nce_loss(h: torch.Tensor, att: torch.Tensor, rep: torch.Tensor, tau: float) -> torch.Tensor:
    """Supervised InfoNCE of the embedding ``h`` at temperature ``tau`` (module docstring), vectorised: each
    anchor's negatives enter through a scattered log-sum-exp."""
    if not tau > 0:
        raise ValueError(f"tau must be positive, got {tau}")
    if att.shape[1] == 0:
        return h.sum() * 0.0
    s_pos = -_sq_dist(h, att) / tau
    n = h.shape[0]
    lse = torch.full((n,), float("-inf"), dtype=h.dtype, device=h.device)
    if rep.shape[1]:
        s_neg = -_sq_dist(h, rep) / tau
        peak = torch.full((n,), float("-inf"), dtype=h.dtype, device=h.device)
        peak = peak.scatter_reduce(0, rep[0], s_neg, reduce="amax", include_self=True).detach()
        total = torch.zeros(n, dtype=h.dtype, device=h.device).index_add(0, rep[0], torch.exp(s_neg - peak[rep[0]]))
        has = total > 0
        lse = torch.where(has, torch.log(torch.where(has, total, torch.ones_like(total))) + peak, lse)
    # -log(e^p / (e^p + e^L)) = softplus(L - p); softplus(-inf) = 0 for an anchor without negatives
    return torch.nn.functional.softplus(lse[att[0]] - s_pos).mean()


def alignment(h: torch.Tensor, att: torch.Tensor, alpha: float = 2.0) -> float:
    """Wang & Isola's alignment: the mean of ‖h_i − h_j‖^α over the attractive pairs (NaN without any)."""
    if att.shape[1] == 0:
        return float("nan")
    return float(_sq_dist(h, att).sqrt().pow(alpha).mean())


def uniformity(h: torch.Tensor, t: float = 2.0) -> float:
    """Wang & Isola's uniformity: log of the mean over all pairs i < j of exp(−t ‖h_i − h_j‖²) (NaN for fewer than
    two points). Their definition is for unit-normalised features: normalise ``h`` first to compare with it."""
    if h.shape[0] < 2:
        return float("nan")
    d2 = torch.pdist(h.to(torch.float64)).pow(2)
    return float(torch.logsumexp(-t * d2, 0) - np.log(d2.numel()))


def knn_between_layers(h: np.ndarray, layer: np.ndarray, k: int) -> np.ndarray:
    """Segments by nearest neighbours in the embedding: for every hit of layer l, its ``k`` nearest hits of layer
    l + 1 (fewer if that layer has fewer), by scipy's cKDTree. Returns (2, E) hit indices (from, to), sorted by
    source hit and then distance."""
    from scipy.spatial import cKDTree

    h, layer = np.asarray(h, float), np.asarray(layer)
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    src, dst = [], []
    for l in np.unique(layer):
        a, b = np.flatnonzero(layer == l), np.flatnonzero(layer == l + 1)
        if not len(a) or not len(b):
            continue
        kk = min(k, len(b))
        _, idx = cKDTree(h[b]).query(h[a], k=kk)
        idx = np.asarray(idx).reshape(len(a), kk)
        src.append(np.repeat(a, kk))
        dst.append(b[idx].reshape(-1))
    if not src:
        return np.zeros((2, 0), dtype=np.int64)
    out = np.stack([np.concatenate(src), np.concatenate(dst)]).astype(np.int64)
    return out[:, np.argsort(out[0], kind="stable")]
