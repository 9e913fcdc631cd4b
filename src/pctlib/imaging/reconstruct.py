"""Tracks of a scan by every tracker, and what an image needs of them.

All trackers see the same frame graphs (``FrameGraph``: the reference preprocessing, the hit graph):

* ``truth`` — the hits of each clean primary (``hit_clean``) in layer order: the tracks a perfect tracker finds;
* ``follower`` — the classical track follower (``tracks.follower``) on the frame's hits;
* a GNN — its scores, the layer-wise assignment, the chains (``tracks.build``).

:func:`track_rows` turns the tracks of one frame into rows: entry position at the phantom's mid-plane (the line
through the track's hits in layers 0 and 1), the range estimate and WEPL (``imaging.range``), whether the track
passes the paper's filter (more than ``min_hits`` hits, last deposit above ``min_last_edep``), whether it is
correct (all hits of one primary), and the truth WEPL of the primary of its first hit (``hit_wepl``, NaN for a track
that starts on a secondary's or a noise hit). :func:`assignment_disagreement` compares two trackers' segment
choices frame by frame.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from ..assign.batch import assign_scores
from ..assign.layout import layout_of_graph
from ..tracks.build import Tracks, build_tracks, segments_of_tracks
from ..tracks.follower import FollowerConfig, TrackFollower
from ..tracks.metrics import track_metrics
from .range import RangeModel, WeplCalibration
from .tracks import track_table


def truth_tracks(frame) -> Tracks:
    """The clean primaries' hits of a frame, one track per primary, in layer order."""
    clean = frame.hit_clean.cpu().numpy().astype(bool)
    ev = frame.hit_event.cpu().numpy()
    layer = frame.hit_x[:, 4].cpu().numpy()
    idx = np.nonzero(clean)[0]
    idx = idx[np.lexsort((layer[idx], ev[idx]))]
    track = np.full(len(ev), -1, np.int64)
    if not idx.size:
        return Tracks(track, [])
    _, first = np.unique(ev[idx], return_index=True)
    hits = [h for h in np.split(idx, first[1:]) if h.size > 1]
    for k, h in enumerate(hits):
        track[h] = k
    return Tracks(track, hits)


def follower_tracks(frame, config: FollowerConfig | None = None) -> Tracks:
    return TrackFollower(config or FollowerConfig())(frame.hit_x[:, 1:4].cpu().numpy(),
                                                     frame.hit_x[:, 4].long().cpu().numpy())


@torch.no_grad()
def gnn_assignment(model, frame) -> np.ndarray:
    """The 0/1 assignment of a frame's segments from a model's scores (eval mode)."""
    was = model.training
    model.eval()
    scores = model(frame).cpu().numpy()
    model.train(was)
    return assign_scores(scores, layout_of_graph(frame))


def gnn_tracks(model, frame) -> tuple[Tracks, np.ndarray]:
    y = gnn_assignment(model, frame)
    return build_tracks(frame.hit_x.shape[0], frame.hit_edge_index.cpu().numpy(), y), y


def track_rows(frame, tracks: Tracks, model: RangeModel, calibration: WeplCalibration, z_plane: float,
               min_hits: int = 4, min_last_edep: float = 0.0625) -> pd.DataFrame:
    """One row per track of a frame (module docstring): x, y, last_layer, r_det, wepl, hits, 'passes',
    'correct', 'wepl_true', 'event'."""
    hit_x = frame.hit_x.cpu().numpy().astype(float)
    table = track_table(hit_x, tracks.hits, model, calibration, z_plane)
    ev = frame.hit_event.cpu().numpy()
    clean = frame.hit_clean.cpu().numpy().astype(bool)
    truth = (frame.hit_wepl.cpu().numpy() if getattr(frame, "hit_wepl", None) is not None
             else np.full(len(ev), np.nan))
    first = np.array([h[0] for h in tracks.hits], np.int64) if len(tracks) else np.zeros(0, np.int64)
    table["passes"] = [bool(h.size > min_hits and hit_x[h[-1], 0] > min_last_edep) for h in tracks.hits]
    table["correct"] = [bool(clean[h].all() and np.all(ev[h] == ev[h[0]])) for h in tracks.hits]
    table["event"] = ev[first]
    table["wepl_true"] = truth[first]
    return table


def image_tracks(rows: pd.DataFrame) -> pd.DataFrame:
    """The tracks a radiograph uses: passing the filter, with an entry position (hits in layers 0 and 1)."""
    return rows[rows["passes"] & np.isfinite(rows["x"]) & np.isfinite(rows["y"])]


def frame_metrics(frame, tracks: Tracks, min_hits: int = 4, min_last_edep: float = 0.0625) -> dict:
    """``tracks.metrics.track_metrics`` of a frame (the paper's purity and efficiency counts)."""
    return track_metrics(tracks, frame.hit_event.cpu().numpy(), frame.hit_track.cpu().numpy(),
                         frame.hit_x[:, 0].cpu().numpy(), frame.hit_clean.cpu().numpy(),
                         int(frame.n_clean_primaries), min_hits, min_last_edep)


def pooled_purity_efficiency(metrics: list[dict]) -> dict:
    """Purity and efficiency with counts pooled over frames (NaN on empty denominators)."""
    c = sum(m["correct_primary"] for m in metrics)
    p = sum(m["primary_tracks"] for m in metrics)
    e = sum(m["primary_events"] for m in metrics)
    return {"purity": c / p if p else math.nan, "efficiency": c / e if e else math.nan,
            "primary_tracks": p, "primary_events": e}


def assignment_disagreement(y_a: list[np.ndarray], y_b: list[np.ndarray]) -> dict:
    """Two trackers' segment choices over the same frames: 'segments' = fraction of candidate segments assigned
    by one and not the other; 'assigned' = those differing segments over the segments assigned by either (a
    Jaccard distance, 0 for identical choices, 1 for disjoint ones). NaN when there are none."""
    diff = sum(int(np.sum(a.astype(bool) != b.astype(bool))) for a, b in zip(y_a, y_b))
    total = sum(a.size for a in y_a)
    union = sum(int(np.sum(a.astype(bool) | b.astype(bool))) for a, b in zip(y_a, y_b))
    return {"segments": diff / total if total else math.nan, "assigned": diff / union if union else math.nan}


def reconstruct_scan(frames, trackers: dict, range_model: RangeModel, calibration: WeplCalibration,
                     z_plane: float, downstream=None, min_hits: int = 4, min_last_edep: float = 0.0625,
                     progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, list[np.ndarray]]]:
    """Every tracker on every frame of a scan. ``trackers``: name → a function of a frame giving (Tracks, the 0/1
    assignment of its segments). Returns (one row per track: :func:`track_rows` with 'tracker' and 'frame';
    one row per tracker and frame: the paper's track counts (:func:`frame_metrics`) and, with ``downstream`` (an
    ``imaging.downstream.DownstreamLoss``), the downstream loss of its assignment; the assignments per tracker,
    one array per frame)."""
    from ..progress import progress_bar

    rows, metrics, assignments = [], [], {name: [] for name in trackers}
    bar = progress_bar(total=len(frames) * len(trackers), desc="reconstruct", unit="frame", enabled=progress)
    for i in range(len(frames)):
        g = frames[i]
        for name, tracker in trackers.items():
            tracks, y = tracker(g)
            t = track_rows(g, tracks, range_model, calibration, z_plane, min_hits, min_last_edep)
            t.insert(0, "frame", i)
            t.insert(0, "tracker", name)
            rows.append(t)
            m = {"tracker": name, "frame": i, **frame_metrics(g, tracks, min_hits, min_last_edep)}
            if downstream is not None:
                m["downstream_loss"] = float(downstream(torch.as_tensor(np.asarray(y), dtype=torch.float64), g))
            metrics.append(m)
            assignments[name].append(np.asarray(y).astype(np.int8))
            bar.update(1)
    bar.close()
    return pd.concat(rows, ignore_index=True), pd.DataFrame(metrics), assignments


def truth_tracker(frame) -> tuple[Tracks, np.ndarray]:
    """:func:`truth_tracks` with its segments as an assignment."""
    tracks = truth_tracks(frame)
    return tracks, segments_of_tracks(tracks, frame.hit_edge_index.cpu().numpy(), frame.hit_x.shape[0])


def follower_tracker(config: FollowerConfig | None = None):
    """The track follower as a tracker of :func:`reconstruct_scan`."""
    def run(frame):
        tracks = follower_tracks(frame, config)
        return tracks, segments_of_tracks(tracks, frame.hit_edge_index.cpu().numpy(), frame.hit_x.shape[0])
    return run


def gnn_tracker(model):
    """A GNN as a tracker of :func:`reconstruct_scan`."""
    return lambda frame: gnn_tracks(model, frame)
