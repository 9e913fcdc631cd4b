"""Losses on segments: the Hamming loss of assignments (paper Eq. 15) and the BCE of scores, with the separate
weighting of tracker and calorimeter segments of paper Sec. 4.3.

The paper weights "the reconstruction loss for tracking and calorimeter layer" separately and publishes no values.
The released code (``src/utils/experiments.py``, ``train_model_run``) computes one mean over the tracker group and
one over the calorimeter group and adds them, for PAT (Hamming) and PTT (BCE) alike: each group weighs the same
whatever its number of segments. That is the default here (``normalisation="group"``, ``w_tracker = w_calorimeter
= 1``): loss = w_t mean_{e in T} l_e + w_c mean_{e in C} l_e. ``normalisation="pooled"`` gives one mean over all
segments with per-segment weights, (1/|E|) sum_e w_e l_e.

Which segments form the tracker group (``tracker_group``):

* ``"tracker"`` (default): segments leaving a tracker layer, 0->1 and 1->2 (those the 0.2 rad filter applies to);
* ``"released"``: the released code's test, "either hit in layers 0-2", which adds the 2->3 segments (first to
  second calorimeter layer) to the tracker group.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

NORMALISATIONS = ("group", "pooled")
TRACKER_GROUPS = ("tracker", "released")


def tracker_segments(src_layer: torch.Tensor, tracker_group: str = "tracker", n_tracker_layers: int = 2
                     ) -> torch.Tensor:
    """Bool per segment (given the layer of its upstream hit): is it in the tracker group (module docstring)."""
    if tracker_group not in TRACKER_GROUPS:
        raise ValueError(f"tracker_group must be one of {TRACKER_GROUPS}, got {tracker_group!r}")
    return src_layer < (n_tracker_layers + (1 if tracker_group == "released" else 0))


def segment_weights(src_layer: torch.Tensor, w_tracker: float = 1.0, w_calorimeter: float = 1.0,
                    n_tracker_layers: int = 2, normalisation: str = "pooled", tracker_group: str = "tracker"
                    ) -> torch.Tensor:
    """Weight of each segment such that ``mean(weights * l)`` is the loss of the module docstring.

    ``pooled``: ``w_tracker`` on tracker-group segments, ``w_calorimeter`` on the others. ``group``: the same
    divided by the group's share of the frame's segments (|T|/|E| or |C|/|E|), so that the mean over all segments
    equals ``w_t mean_T + w_c mean_C``; an empty group contributes nothing.
    """
    if normalisation not in NORMALISATIONS:
        raise ValueError(f"normalisation must be one of {NORMALISATIONS}, got {normalisation!r}")
    is_t = tracker_segments(src_layer, tracker_group, n_tracker_layers)
    dev = src_layer.device
    wt = torch.as_tensor(w_tracker, dtype=torch.float32, device=dev)
    wc = torch.as_tensor(w_calorimeter, dtype=torch.float32, device=dev)
    if normalisation == "group" and is_t.numel():
        n = float(is_t.numel())
        n_t = is_t.sum().to(torch.float32)
        n_c = n - n_t
        wt = wt * n / n_t.clamp_min(1.0)
        wc = wc * n / n_c.clamp_min(1.0)
    return torch.where(is_t, wt, wc)


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
