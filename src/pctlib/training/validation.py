"""Validation of models during training: the paper's metrics of the assignment on validation frames (stratified
by phantom), and the settled value of a run (the spread of its last validations)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import torch

from ..models.interaction_network import EdgeScorer
from ..tracks.build import build_tracks
from ..tracks.metrics import edge_metrics, track_metrics
from .config import TrainConfig
from .step import frame_steps


def evaluate(model: EdgeScorer, frames, config: TrainConfig) -> dict:
    """TPR/FPR of the reconstructed (assigned) segments and the paper's track purity/efficiency
    (``tracks/metrics.py``), counts pooled over ``frames``."""
    return evaluate_many([model], frames, [config])[0]


@torch.no_grad()
def evaluate_many(models: list[EdgeScorer], frames, configs: list[TrainConfig], workers: int = 1,
                  stack: bool = False) -> list[dict]:
    """:func:`evaluate` of several models on the same frames (each frame encoded once, assignments in one call;
    ``stack``: the models scored as one network, ``models.stacked``)."""
    modes = [m.training for m in models]
    for m in models:
        m.eval()
    counts = [dict(tp=0, fp=0, tn=0, fn=0, primary_tracks=0, correct_primary=0, primary_events=0) for _ in models]
    losses: list[list[float]] = [[] for _ in models]
    for g in frames:
        truth = g.y.cpu().numpy()
        hit_edges = g.hit_edge_index.cpu().numpy()
        for k, (loss, _, y) in enumerate(frame_steps(models, g, configs, workers=workers, stack=stack)):
            c, cfg = counts[k], configs[k]
            losses[k].append(float(loss))
            for key, v in edge_metrics(y, truth).items():
                if key in c:
                    c[key] += v
            tr = build_tracks(g.hit_x.shape[0], hit_edges, y)
            tm = track_metrics(tr, g.hit_event.cpu().numpy(), g.hit_track.cpu().numpy(),
                               g.hit_x[:, 0].cpu().numpy(), g.hit_clean.cpu().numpy(), int(g.n_clean_primaries),
                               cfg.min_track_hits, cfg.min_last_edep)
            for key in ("primary_tracks", "correct_primary", "primary_events"):
                c[key] += tm[key]
    for m, was in zip(models, modes):
        m.train(was)

    def r(a, b):
        return a / b if b else math.nan

    return [{"tpr": r(c["tp"], c["tp"] + c["fn"]), "fpr": r(c["fp"], c["fp"] + c["tn"]),
             "purity": r(c["correct_primary"], c["primary_tracks"]),
             "efficiency": r(c["correct_primary"], c["primary_events"]),
             "loss": float(np.mean(ls)) if ls else math.nan} for c, ls in zip(counts, losses)]


def validation_indices(frames, n: int) -> list[int]:
    """Indices of at most ``n`` validation frames, stratified over the parts of ``frames`` (one part per phantom,
    and per density if several: ``FrameList.parts``): the parts get equal shares (the remainder to the first
    parts; a part too small to fill its share gives the rest to the others), each share spread evenly over its
    part. A plain sequence counts as one part."""
    parts = getattr(frames, "parts", None)
    lengths = [len(p) for p in parts] if parts else [len(frames)]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(int)
    share = [0] * len(lengths)
    left = min(n, sum(lengths))
    while left > 0:
        open_ = [k for k in range(len(lengths)) if share[k] < lengths[k]]
        per, extra = divmod(left, len(open_))
        for j, k in enumerate(open_):
            add = min(per + (1 if j < extra else 0), lengths[k] - share[k])
            share[k] += add
            left -= add
    out: list[int] = []
    for k, q in enumerate(share):
        if q:
            within = np.unique(np.linspace(0, lengths[k] - 1, q).round().astype(int))
            out += (offsets[k] + within).tolist()
    return out


def settled_validation(metrics_csv: str | Path, last: int) -> dict:
    """Mean and standard deviation (ddof 1; NaN for one value) of the last ``last`` validations of a run, per
    metric, with the steps they span: how good a run is once settled, beside its best checkpoint."""
    rows = [r for r in csv.DictReader(open(metrics_csv)) if r["split"] == "val"][-last:]
    out: dict = {"n": len(rows), "steps": [int(r["step"]) for r in rows]}
    for key in ("tpr", "fpr", "purity", "efficiency"):
        v = np.array([float(r[key]) if r[key] != "" else math.nan for r in rows])
        out[key] = {"mean": float(np.nanmean(v)) if np.isfinite(v).any() else math.nan,
                    "std": float(np.nanstd(v, ddof=1)) if np.isfinite(v).sum() > 1 else math.nan}
    return out
