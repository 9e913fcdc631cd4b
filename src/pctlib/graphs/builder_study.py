"""Graph builders compared at equal true-segment efficiency: the angular filter at scaled thresholds
against kNN in a learned embedding at several k.

For each setting, over preprocessed frames: ``efficiency`` = true segments kept / true candidate segments (pairs of
hits of one event in adjacent layers, before any filter: the denominator of the paper's App. A), ``segments_per_true``
= segments / true segments kept, and the mean segments and line-graph edges per frame. :func:`at_equal_efficiency`
reads off the learned builder's cost at the reference angular filter's efficiency.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd

from .config import GraphConfig
from .hit_graph import build_hit_graph
from .line_graph import pair_indices


def _row(graphs) -> dict:
    kept = sum(int(g.y.sum()) for g in graphs)
    cand = sum(g.true_candidates for g in graphs)
    seg = sum(g.n_edges for g in graphs)
    line = sum(int(pair_indices(g.edge_index, g.n_hits)[0].numel()) for g in graphs)
    n = max(len(graphs), 1)
    return {"efficiency": kept / cand if cand else math.nan, "segments_per_true": seg / kept if kept else math.nan,
            "segments": seg / n, "true_segments": kept / n, "line_edges": line / n}


def angular_sweep(frames: list[np.ndarray], config: GraphConfig, scales=(0.5, 0.75, 1.0, 1.25, 1.5)) -> pd.DataFrame:
    """Rows per threshold scale s (both thresholds times s; s = 1 is the reference 400 / 200 mrad) over
    preprocessed ``frames``."""
    rows = []
    for s in scales:
        cfg = replace(config, theta_calorimeter=config.theta_calorimeter * s, theta_tracker=config.theta_tracker * s)
        rows.append({"builder": "angular", "setting": float(s), **_row([build_hit_graph(p, cfg) for p in frames])})
    return pd.DataFrame(rows)


def knn_sweep(frames: list[np.ndarray], config: GraphConfig, embedder, ks=(1, 2, 3, 4, 6, 8),
              label: str = "learned") -> pd.DataFrame:
    """Rows per k of the embedding's kNN segments over preprocessed ``frames``."""
    emb = [embedder.embed(p) if len(p) else np.zeros((0, 1)) for p in frames]
    rows = []
    from .learned import knn_between_layers

    for k in ks:
        graphs = [build_hit_graph(p, config, edges=knn_between_layers(e, p["layer"], k) if len(p) else
                                  np.zeros((2, 0), np.int64)) for p, e in zip(frames, emb)]
        rows.append({"builder": label, "setting": float(k), **_row(graphs)})
    return pd.DataFrame(rows)


def at_equal_efficiency(reference: dict, learned: pd.DataFrame) -> dict:
    """The smallest-k learned setting whose efficiency reaches the reference's (NaN row when none does):
    {'k', 'efficiency', 'segments_per_true', 'line_edges', 'reference_efficiency',
    'reference_segments_per_true', 'reference_line_edges', 'segment_ratio'} (learned / reference segments per true
    segment)."""
    ok = learned[learned.efficiency >= reference["efficiency"]].sort_values("setting")
    best = ok.iloc[0] if len(ok) else None
    get = (lambda c: float(best[c]) if best is not None else math.nan)
    return {"k": get("setting"), "efficiency": get("efficiency"), "segments_per_true": get("segments_per_true"),
            "line_edges": get("line_edges"), "reference_efficiency": float(reference["efficiency"]),
            "reference_segments_per_true": float(reference["segments_per_true"]),
            "reference_line_edges": float(reference["line_edges"]),
            "segment_ratio": get("segments_per_true") / float(reference["segments_per_true"])}
