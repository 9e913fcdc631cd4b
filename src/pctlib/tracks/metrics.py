"""Reconstruction metrics. Every function returns a documented dict; an empty denominator gives NaN, not an error.

Definitions (paper Eq. 16; REFERENCE.md):

* edge TPR = TP / (TP + FN), FPR = FP / (FP + TN) over hit-graph segments, a segment predicted true when its score
  is at least ``threshold`` (0.5);
* track filter: a track is kept when it has more than ``min_hits`` (4) hits and the energy deposit of its deepest
  hit exceeds ``min_last_edep`` MeV (0.0625, the released code's value; the paper's text says 0.625);
* a track is *correct* when all its hits belong to the same primary (same eventID, no noise hit);
* purity = correct tracks / tracks after the filter;
* efficiency = correct tracks of primaries without an inelastic nuclear interaction (at most one counted per
  primary) / number of such primaries in the frame.
"""

from __future__ import annotations

import math

import numpy as np

from .build import Tracks


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else math.nan


def edge_metrics(scores: np.ndarray, truth: np.ndarray, threshold: float = 0.5) -> dict:
    """{'tp', 'fp', 'tn', 'fn', 'tpr', 'fpr'} of segment scores against the truth."""
    pred = np.asarray(scores) >= threshold
    t = np.asarray(truth).astype(bool)
    tp, fp = int((pred & t).sum()), int((pred & ~t).sum())
    fn, tn = int((~pred & t).sum()), int((~pred & ~t).sum())
    return {"tp": tp, "fp": fp, "tn": tn, "fn": fn, "tpr": _ratio(tp, tp + fn), "fpr": _ratio(fp, fp + tn)}


def track_metrics(tracks: Tracks, hit_event: np.ndarray, hit_edep: np.ndarray, hit_clean: np.ndarray,
                  n_clean_primaries: int, min_hits: int = 4, min_last_edep: float = 0.0625) -> dict:
    """{'tracks', 'tracks_filtered', 'correct', 'correct_clean', 'purity', 'efficiency'} of one frame."""
    ev = np.asarray(hit_event)
    kept = correct = 0
    clean_found: set[int] = set()
    for h in tracks.hits:
        if h.size <= min_hits or hit_edep[h[-1]] <= min_last_edep:
            continue
        kept += 1
        e = ev[h]
        if e[0] >= 0 and np.all(e == e[0]):
            correct += 1
            if bool(np.all(hit_clean[h])):
                clean_found.add(int(e[0]))
    return {"tracks": len(tracks), "tracks_filtered": kept, "correct": correct, "correct_clean": len(clean_found),
            "purity": _ratio(correct, kept), "efficiency": _ratio(len(clean_found), n_clean_primaries)}


def particle_efficiencies(tracks: Tracks, hit_event: np.ndarray, hit_track: np.ndarray, min_hits: int = 3) -> dict:
    """The thesis' efficiencies (gnn_tracking conventions), for reconstructed tracks with at least ``min_hits`` hits.

    A *particle* is one simulated particle, (eventID, trackID), noise excluded; particles with fewer than
    ``min_hits`` hits in the frame are not counted.

    * double-majority: particles for which some track has > 50 % of its hits from the particle and holds > 50 % of
      the particle's hits, over particles;
    * perfect: particles for which some track holds exactly the particle's hits, over particles;
    * LHC-style: tracks with > 75 % of their hits from one particle, over tracks.

    Returns {'particles', 'tracks', 'double_majority', 'perfect', 'lhc'}.
    """
    ev, tr = np.asarray(hit_event), np.asarray(hit_track)
    real = (ev >= 0) & (tr >= 0)
    pid = np.where(real, ev.astype(np.int64) * 100000 + tr, -1)
    ids, counts = np.unique(pid[real], return_counts=True)
    size = dict(zip(ids.tolist(), counts.tolist()))
    particles = {p for p, c in size.items() if c >= min_hits}
    dm, perfect = set(), set()
    lhc = n_tracks = 0
    for h in tracks.hits:
        if h.size < min_hits:
            continue
        n_tracks += 1
        p, c = np.unique(pid[h], return_counts=True)
        k = int(np.argmax(c))
        top, top_count = int(p[k]), int(c[k])
        if top < 0:
            continue
        if top_count > 0.75 * h.size:
            lhc += 1
        if top in particles and top_count > 0.5 * h.size and top_count > 0.5 * size[top]:
            dm.add(top)
        if top in particles and top_count == h.size == size[top]:
            perfect.add(top)
    return {"particles": len(particles), "tracks": n_tracks, "double_majority": _ratio(len(dm), len(particles)),
            "perfect": _ratio(len(perfect), len(particles)), "lhc": _ratio(lhc, n_tracks)}
