"""Reconstruction metrics. Every function returns a documented dict; an empty denominator gives NaN, not an error.

Definitions. Edge metrics: TPR = TP / (TP + FN), FPR = FP / (FP + TN) over hit-graph segments, a segment predicted
true when its score is at least ``threshold`` (0.5).

Track filter (both definitions below): a track is kept when it has more than ``min_hits`` (4) hits and the energy
deposit of its deepest hit exceeds ``min_last_edep`` MeV (0.0625, the released code's value; the paper's text says
0.625).

**The paper's purity and efficiency** (Table 1 columns ``purity``, ``efficiency``), as the released code computes
them (``src/utils/eval.py``: ``purity``, ``efficiency``, ``true_primary_tracks_from_graph``):

* only *primary-only* tracks count: kept tracks all of whose hits are primary (parentID = 0; here trackID = 1,
  which is the same for GATE and for our simulation; noise hits are not primary). Tracks holding any secondary or
  noise hit are left out of numerator and denominator alike;
* a primary-only track is *correct* when its hits share one eventID;
* purity = correct primary-only tracks / primary-only tracks;
* efficiency (Eq. 16) = correct primary-only tracks / *primary-only events*, the eventIDs all of whose hits in the
  frame are primary (the released code's reading of "primaries without inelastic nuclear interactions": an event
  whose primary interacted usually left secondary hits). Two correct pieces of one broken track both count, as in
  the released code.

The released code returns 0 for a frame without any primary-only track; here that is NaN (no denominator).

**Stricter companions** (kept under their own names, not the paper's):

* ``purity_all_tracks`` = kept tracks whose hits share one eventID and hold no noise hit (secondaries of the same
  event allowed) / all kept tracks: every reconstructed track counts;
* ``efficiency_clean`` = distinct primaries without an inelastic nuclear interaction (truth from the simulation,
  ``hit_clean``) that some correct, fully clean track reconstructs (at most one counted per primary) / such primaries
  in the frame.
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


def primary_only_events(hit_event: np.ndarray, hit_track: np.ndarray) -> int:
    """Number of eventIDs (>= 0) all of whose hits are primary (trackID 1): the paper's efficiency denominator."""
    ev, tr = np.asarray(hit_event).astype(np.int64), np.asarray(hit_track)
    real = ev >= 0
    if not real.any():
        return 0
    events = np.unique(ev[real])
    with_other = np.unique(ev[real & (tr != 1)])
    return int(events.size - np.isin(events, with_other).sum())


def track_metrics(tracks: Tracks, hit_event: np.ndarray, hit_track: np.ndarray, hit_edep: np.ndarray,
                  hit_clean: np.ndarray, n_clean_primaries: int, min_hits: int = 4,
                  min_last_edep: float = 0.0625) -> dict:
    """Track counts and purities/efficiencies of one frame (module docstring).

    Returns {'tracks', 'tracks_filtered', 'primary_tracks', 'correct_primary', 'primary_events', 'purity',
    'efficiency', 'correct', 'purity_all_tracks', 'correct_clean', 'efficiency_clean'}: ``purity`` and
    ``efficiency`` are the paper's; ``correct`` counts kept tracks of one eventID without noise.
    """
    ev = np.asarray(hit_event)
    prim = (np.asarray(hit_track) == 1) & (ev >= 0)
    kept = correct = primary_tracks = correct_primary = 0
    clean_found: set[int] = set()
    for h in tracks.hits:
        if h.size <= min_hits or hit_edep[h[-1]] <= min_last_edep:
            continue
        kept += 1
        e = ev[h]
        one_event = bool(e[0] >= 0 and np.all(e == e[0]))
        if bool(np.all(prim[h])):
            primary_tracks += 1
            correct_primary += one_event
        if one_event:
            correct += 1
            if bool(np.all(hit_clean[h])):
                clean_found.add(int(e[0]))
    n_events = primary_only_events(ev, hit_track)
    return {"tracks": len(tracks), "tracks_filtered": kept, "primary_tracks": primary_tracks,
            "correct_primary": correct_primary, "primary_events": n_events,
            "purity": _ratio(correct_primary, primary_tracks), "efficiency": _ratio(correct_primary, n_events),
            "correct": correct, "purity_all_tracks": _ratio(correct, kept), "correct_clean": len(clean_found),
            "efficiency_clean": _ratio(len(clean_found), n_clean_primaries)}


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
