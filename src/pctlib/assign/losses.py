"""Losses on segments: the Hamming loss of assignments (paper Eq. 15) and the BCE of scores."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def segment_weights(src_layer: torch.Tensor, w_tracker: float = 1.0, w_calorimeter: float = 1.0,
                    n_tracker_layers: int = 2) -> torch.Tensor:
    """Weight of each segment: ``w_tracker`` for tracker-bound segments (leaving a tracker layer: 0->1 and 1->2),
    ``w_calorimeter`` for the others."""
    return torch.where(src_layer < n_tracker_layers, torch.as_tensor(w_tracker, dtype=torch.float32),
                       torch.as_tensor(w_calorimeter, dtype=torch.float32)).to(src_layer.device)


def hamming_loss(y_hat: torch.Tensor, y: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """(1/|E|) sum_e w_e [y_e (1 - yhat_e) + (1 - y_e) yhat_e] for one frame (Eq. 15 before the mean over frames).
    NaN for a frame without segments."""
    per = y * (1.0 - y_hat) + (1.0 - y) * y_hat
    if weights is not None:
        per = per * weights
    if per.numel() == 0:
        return torch.tensor(float("nan"), device=y.device)
    return per.mean()


def bce_loss(scores: torch.Tensor, y: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Binary cross-entropy of segment scores in (0, 1) (predict-then-track)."""
    if scores.numel() == 0:
        return torch.tensor(float("nan"), device=y.device)
    return F.binary_cross_entropy(scores, y, weight=weights)
