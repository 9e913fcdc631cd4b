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


def _frame(spec):
    """spec: per track, a list of (eventID, trackID) per hit in beam order and the deepest hit's deposit."""
    ev, tk, edep, hits, start = [], [], [], [], 0
    for hits_of_track, last in spec:
        n = len(hits_of_track)
        ev += [e for e, _ in hits_of_track]
        tk += [t for _, t in hits_of_track]
        edep += [0.02] * (n - 1) + [last]
        hits.append(np.arange(start, start + n))
        start += n
    return np.array(ev), np.array(tk), np.array(edep), hits


P = 1  # trackID of a primary; secondaries have larger trackIDs, noise -1 (eventID -1)


def test_filter_purity_and_efficiency_by_hand():
    spec = [
        ([(0, P)] * 4, 0.3),                      # T1: 4 hits, dropped by "more than 4 hits"
        ([(1, P)] * 5, 0.3),                      # T2: 5 hits, kept: primary-only and correct
        ([(2, P)] * 5 + [(2, 2)], 0.3),           # T3: a secondary hit of its own event: kept, not primary-only
        ([(3, P)] * 3 + [(4, P)] * 3, 0.3),       # T4: two primaries joined: primary-only, wrong
        ([(5, P)] * 6, 0.05),                     # T5: deepest deposit below 0.0625 MeV: dropped
        ([(6, P)] * 5 + [(-1, -1)], 0.3),         # T6: ends in a noise hit: kept, not primary-only, wrong
        ([(9, P)] * 4 + [(9, 3)], 0.3),           # T7: a secondary hit of its own event, 5 hits: kept
        ([(7, P)] * 2, 0.3),                      # event 7: primary hits only, no real track
        ([(8, P)] * 2 + [(8, 2)] * 2, 0.3),       # event 8: primary and secondary hits, no real track
    ]
    ev, tk, edep, hits = _frame(spec)
    tr = Tracks(np.zeros(ev.size, int), hits[:7])
    clean = (tk == P) & np.isin(ev, [1, 7])      # primaries 1 and 7 had no inelastic interaction
    m = track_metrics(tr, ev, tk, edep, clean, n_clean_primaries=3)
    # primary-only events: 0, 1, 3, 4, 5, 6, 7 (not 2, 8, 9: they have secondary hits)
    assert m == {"tracks": 7, "tracks_filtered": 5, "primary_tracks": 2, "correct_primary": 1, "primary_events": 7,
                 "purity": 0.5, "efficiency": 1 / 7, "correct": 3, "purity_all_tracks": 0.6, "correct_clean": 1,
                 "efficiency_clean": 1 / 3}
    # the 4-hit track counts once it has a fifth hit
    spec[0] = ([(0, P)] * 5, 0.3)
    ev, tk, edep, hits = _frame(spec)
    m = track_metrics(Tracks(np.zeros(ev.size, int), hits[:7]), ev, tk, edep, clean, 3)
    assert (m["tracks_filtered"], m["primary_tracks"], m["correct_primary"]) == (6, 3, 2)
    assert m["purity"] == pytest.approx(2 / 3) and m["efficiency"] == pytest.approx(2 / 7)
    # the paper's text threshold (0.625 MeV) keeps none of them: NaN purity, zero efficiency
    m = track_metrics(tr, ev, tk, edep, clean, 3, min_last_edep=0.625)
    assert m["tracks_filtered"] == 0 and math.isnan(m["purity"]) and m["efficiency"] == 0.0
    empty = track_metrics(Tracks(np.zeros(0, int), []), ev[:0], tk[:0], edep[:0], clean[:0], 0)
    assert all(math.isnan(empty[k]) for k in ("purity", "efficiency", "purity_all_tracks", "efficiency_clean"))


def test_perfect_scores_give_purity_and_efficiency_one_end_to_end():
    """Three straight primaries through all layers, scored by the truth: the GNN path of evaluate_frames must find
    every track (purity 1, efficiency 1, TPR 1, FPR 0)."""
    from pctlib.io.hit_table import HIT_DTYPE, levels_from_layer
    from pctlib.tracks.evaluate import evaluate_frames

    layers = np.arange(12)
    z = np.where(layers < 2, layers * 55.18, 55.18 + 39.58 + (layers - 2) * 5.5)
    rows = []
    for ev, x0 in enumerate((-1.0, 0.0, 1.0)):  # close enough for false candidate segments
        for lay in layers:
            rows.append((ev, lay, x0 + 0.01 * lay, 0.3 if lay == layers[-1] else 0.02))
    h = np.zeros(len(rows), HIT_DTYPE)
    for i, (ev, lay, x, e) in enumerate(rows):
        h[i]["eventID"], h[i]["trackID"], h[i]["parentID"], h[i]["layer"] = ev, 1, 0, lay
        h[i]["posX"], h[i]["posZ"], h[i]["edep"] = x, z[lay], e
    h["level1ID"], h["level2ID"] = levels_from_layer(h["layer"])

    def truth_model(g):
        return g.y.float()

    (row,) = evaluate_frames(h, 3, "gnn", truth_model)
    assert row["purity"] == 1.0 and row["efficiency"] == 1.0 and row["primary_tracks"] == 3
    assert row["tpr"] == 1.0 and row["fpr"] == 0.0 and row["purity_all_tracks"] == 1.0 and row["segments"] > 33

    def anti_model(g):
        return 1.0 - g.y.float()

    (row,) = evaluate_frames(h, 3, "gnn", anti_model)
    assert row["purity"] < 1.0 or math.isnan(row["purity"])


def test_thesis_efficiencies_by_hand():
    # particles: P (event 0, track 1) 4 hits 0-3; Q (event 1, track 1) 4 hits 4-7; R (event 1, track 2) 2 hits 8-9
    ev = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    tk = np.array([1, 1, 1, 1, 1, 1, 1, 1, 2, 2])
    # track 1 = P exactly (perfect); track 2 = 3 of Q + 1 of R (double majority, LHC: 3/4 is not > 75 %)
    tr = Tracks(np.zeros(10, int), [np.array([0, 1, 2, 3]), np.array([4, 5, 6, 8])])
    m = particle_efficiencies(tr, ev, tk)
    assert m["particles"] == 2  # R has fewer than 3 hits
    assert m["double_majority"] == 1.0 and m["perfect"] == 0.5 and m["lhc"] == 0.5
