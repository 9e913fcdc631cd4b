"""Metrics and tracks on hand-built frames with answers worked out by hand."""

import math

import numpy as np
import pytest

from pctlib.tracks.build import Tracks, build_tracks
from pctlib.tracks.metrics import edge_metrics, particle_efficiencies, track_metrics


def test_edge_metrics_by_hand_and_nan_on_empty():
    m = edge_metrics(np.array([0.9, 0.2, 0.7, 0.4, 0.6]), np.array([1, 1, 0, 0, 1]))
    assert (m["tp"], m["fn"], m["fp"], m["tn"]) == (2, 1, 1, 1)
    assert m["tpr"] == pytest.approx(2 / 3) and m["fpr"] == pytest.approx(1 / 2)
    empty = edge_metrics(np.zeros(0), np.zeros(0))
    assert math.isnan(empty["tpr"]) and math.isnan(empty["fpr"])


def test_tracks_follow_assigned_chains():
    # hits 0..5; segments 0->2, 2->4, 1->3, 3->5, 0->3 (not assigned)
    edges = np.array([[0, 2, 1, 3, 0], [2, 4, 3, 5, 3]])
    t = build_tracks(6, edges, np.array([1, 1, 1, 1, 0]))
    assert sorted(h.tolist() for h in t.hits) == [[0, 2, 4], [1, 3, 5]]
    assert t.track_of_hit.tolist() in ([0, 1, 0, 1, 0, 1], [1, 0, 1, 0, 1, 0])
    with pytest.raises(ValueError, match="two continuations"):
        build_tracks(6, edges, np.array([1, 1, 1, 1, 1]))


def test_filter_purity_and_efficiency_by_hand():
    # 4 tracks: A correct (5 hits... filtered out: needs more than 4), B correct clean (6 hits, Bragg peak),
    # C mixed (6 hits), D correct but last deposit too low
    ev = np.array([0] * 5 + [1] * 6 + [2, 2, 2, 3, 3, 3] + [4] * 6)
    edep = np.full(ev.size, 0.02)
    edep[10] = 0.3  # B's deepest hit
    edep[16] = 0.3  # C's deepest hit
    edep[22] = 0.05  # D's deepest hit: below 0.0625
    clean = np.ones(ev.size, bool)
    hits = [np.arange(0, 5), np.arange(5, 11), np.arange(11, 17), np.arange(17, 23)]
    tr = Tracks(np.repeat(np.arange(4), [5, 6, 6, 6]), hits)
    m = track_metrics(tr, ev, edep, clean, n_clean_primaries=5)
    assert m == {"tracks": 4, "tracks_filtered": 2, "correct": 1, "correct_clean": 1, "purity": 0.5,
                 "efficiency": 0.2}
    # the paper's text threshold (0.625 MeV) keeps none of them
    m = track_metrics(tr, ev, edep, clean, 5, min_last_edep=0.625)
    assert m["tracks_filtered"] == 0 and math.isnan(m["purity"])
    assert math.isnan(track_metrics(Tracks(np.zeros(0, int), []), ev[:0], edep[:0], clean[:0], 0)["efficiency"])


def test_thesis_efficiencies_by_hand():
    # particles: P (event 0, track 1) 4 hits 0-3; Q (event 1, track 1) 4 hits 4-7; R (event 1, track 2) 2 hits 8-9
    ev = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    tk = np.array([1, 1, 1, 1, 1, 1, 1, 1, 2, 2])
    # track 1 = P exactly (perfect); track 2 = 3 of Q + 1 of R (double majority, LHC: 3/4 is not > 75 %)
    tr = Tracks(np.zeros(10, int), [np.array([0, 1, 2, 3]), np.array([4, 5, 6, 8])])
    m = particle_efficiencies(tr, ev, tk)
    assert m["particles"] == 2  # R has fewer than 3 hits
    assert m["double_majority"] == 1.0 and m["perfect"] == 0.5 and m["lhc"] == 0.5
