"""Evaluate a tracker (a trained GNN checkpoint or the track follower) frame by frame on a hit file.

Both trackers see the same frames after the same reference preprocessing. The GNN tracker scores the segments of
the hit graph, assigns them layer by layer and follows the chains; the track follower works on the hits directly.
Per frame: sizes, edge TPR/FPR of the reconstructed segments (for the follower: consecutive hits of its tracks
that are hit-graph segments), track counts, purity and efficiency after the filter (the paper's and the stricter
ones, ``metrics.py``), the thesis' efficiencies, where wrong tracks first go wrong and the lateral spread of the
hits in tracker 0 (``diagnostics.py``), and the reconstruction time (graph building excluded and given
separately).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..assign.batch import assign_scores
from ..assign.layout import layout_of_graph
from ..graphs.build import graph_of_prepared
from ..graphs.hit_graph import build_hit_graph
from ..graphs.config import GraphConfig
from ..graphs.frames import preprocess, split_frames
from ..io.readers import read_hits
from .build import build_tracks, segments_of_tracks
from .diagnostics import failure_layers, layer_density
from .follower import FollowerConfig, TrackFollower
from .metrics import edge_metrics, particle_efficiencies, track_metrics


def evaluate_frames(hits: np.ndarray, primaries_per_frame: int, tracker: str, model=None,
                    follower: FollowerConfig | None = None, min_last_edep: float = 0.0625,
                    max_frames: int | None = None, graph: GraphConfig | None = None,
                    modules=None) -> list[dict]:
    """Rows of per-frame metrics; ``tracker`` is 'gnn' (with ``model``) or 'track-follower'. ``graph`` (default:
    the reference configuration at the density) may name a hit classifier or the learned graph builder, with their
    ``modules``; both trackers then see the hits the classifier keeps, and the GNN the learned segments. The
    efficiencies' denominators are those of the frame as the classifier leaves it (``clean_primaries``,
    ``primary_events``); the primaries lost to the classifier are in ``clean_primaries_before``."""
    from ..graphs.modules import prepare_hits

    cfg = graph or GraphConfig(primaries_per_frame=primaries_per_frame)
    if cfg.primaries_per_frame != primaries_per_frame:
        raise ValueError(f"graph config has {cfg.primaries_per_frame} primaries per frame, not {primaries_per_frame}")
    follower_fn = TrackFollower(follower or FollowerConfig())
    frames = split_frames(hits, primaries_per_frame, drop_partial=True)  # a partial frame is not of this density
    rows = []
    for i, fh in enumerate(frames[:max_frames]):
        t0 = time.perf_counter()
        p = preprocess(fh, cfg)
        t_pre = time.perf_counter() - t0
        n_before = len(p)
        clean_before = int(build_hit_graph(p, cfg, edges=np.zeros((2, 0), np.int64)).n_clean_primaries) \
            if cfg.preselect != "none" else None
        t0 = time.perf_counter()
        p, edges = prepare_hits(p, cfg, modules, preprocessed=True)
        g, sizes = graph_of_prepared(p, cfg, edges)
        t_graph = time.perf_counter() - t0 + t_pre
        ei = g.hit_edge_index.numpy()
        t1 = time.perf_counter()
        if tracker == "gnn":
            with torch.no_grad():
                scores = model(g).numpy()
            y = assign_scores(scores, layout_of_graph(g))
            tracks = build_tracks(g.hit_x.shape[0], ei, y)
        else:
            tracks = follower_fn(g.hit_x[:, 1:4].numpy(), g.hit_x[:, 4].long().numpy())
            y = segments_of_tracks(tracks, ei, g.hit_x.shape[0])
        t_track = time.perf_counter() - t1
        em = edge_metrics(y, g.y.numpy())
        tm = track_metrics(tracks, g.hit_event.numpy(), g.hit_track.numpy(), g.hit_x[:, 0].numpy(),
                           g.hit_clean.numpy(), int(g.n_clean_primaries), min_last_edep=min_last_edep)
        pe = particle_efficiencies(tracks, g.hit_event.numpy(), g.hit_track.numpy())
        lay = g.hit_x[:, 4].long().numpy()
        fl = failure_layers(tracks, g.hit_event.numpy(), lay, g.hit_x[:, 0].numpy(), min_last_edep=min_last_edep)
        dens = layer_density(lay, g.hit_x[:, 1].numpy(), g.hit_x[:, 2].numpy(), layers=(0,))
        rows.append({"algorithm": tracker, "primaries_per_frame": primaries_per_frame, "frame": i,
                     "hits": sizes["hits"], "segments": sizes["edges"], "true_segments": sizes["true_edges_kept"],
                     "true_candidates": sizes["true_edges_kept"] + sizes["true_edges_removed"],
                     "line_edges": sizes["line_edges"], "tpr": em["tpr"], "fpr": em["fpr"],
                     **{k: tm[k] for k in ("tracks", "tracks_filtered", "primary_tracks", "correct_primary",
                                           "primary_events", "purity", "efficiency", "correct",
                                           "purity_all_tracks", "efficiency_clean")},
                     "clean_primaries": int(g.n_clean_primaries),
                     "hits_before_preselect": n_before,
                     "clean_primaries_before": clean_before if clean_before is not None else int(g.n_clean_primaries),
                     "double_majority": pe["double_majority"], "perfect": pe["perfect"], "lhc": pe["lhc"],
                     **{k: fl[k] for k in ("wrong", "wrong_tracker", "wrong_calorimeter_front",
                                           "wrong_calorimeter_deep")},
                     "sigma_0_mm": dens["sigma_0_mm"], "density_0_per_mm2": dens["density_0_per_mm2"],
                     "graph_seconds": t_graph, "tracking_seconds": t_track})
    return rows


def evaluate_file(path: str | Path, densities: list[int], tracker: str, model=None,
                  follower: FollowerConfig | None = None, min_last_edep: float = 0.0625,
                  max_frames: int | None = None, trust_pickle: bool = False, graph: GraphConfig | None = None,
                  modules=None) -> pd.DataFrame:
    """:func:`evaluate_frames` of a hit file at each density; ``graph`` is the configuration apart from the
    density (which each density replaces)."""
    from dataclasses import replace

    hits = read_hits(path, trust_pickle=trust_pickle)
    rows = []
    for n in densities:
        cfg = replace(graph, primaries_per_frame=n) if graph is not None else None
        rows += evaluate_frames(hits, n, tracker, model, follower, min_last_edep, max_frames, cfg, modules)
    df = pd.DataFrame(rows)
    df.insert(1, "data", Path(path).name)
    return df
