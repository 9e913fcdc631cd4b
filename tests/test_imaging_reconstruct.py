"""Tracks of a scan by every tracker, on hand-made frames: truth tracks, segments of tracks, per-track rows,
pooled metrics, disagreement between assignments, and the seed spread of images."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from pctlib.imaging import reconstruct as rec
from pctlib.imaging.radiograph import rms, seed_spread
from pctlib.imaging.range import RangeModel, WeplCalibration
from pctlib.tracks.build import Tracks

DEPTHS = (0.0, 10.0, 20.0, 30.0, 40.0)


def _frame():
    # proton 0: hits 0 (layer 0), 2 (1), 4 (2), 6 (3); proton 1: hits 1 (0), 3 (1), 5 (2, a secondary of it);
    # hit 7: noise in layer 3
    layer = [0, 0, 1, 1, 2, 2, 3, 3]
    x = [0.0, 10.0, 0.0, 10.0, 0.0, 10.0, 0.0, 5.0]
    z = [0.0, 0.0, 10.0, 10.0, 20.0, 20.0, 30.0, 30.0]
    edep = [0.01, 0.01, 0.02, 0.02, 0.05, 0.01, 0.3, 0.1]
    hit_x = torch.tensor([[e, xx, 0.0, zz, l] for e, xx, zz, l in zip(edep, x, z, layer)])
    ei = torch.tensor([[0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5], [2, 3, 2, 3, 4, 5, 4, 5, 6, 7, 6, 7]])
    return SimpleNamespace(hit_x=hit_x, hit_edge_index=ei, hit_event=torch.tensor([0, 1, 0, 1, 0, 1, 0, -1]),
                           hit_track=torch.tensor([1, 1, 1, 1, 1, 2, 1, -1]),
                           hit_clean=torch.tensor([True, False, True, False, True, False, True, False]),
                           hit_wepl=torch.tensor([99.0, np.nan, 99.0, np.nan, 99.0, np.nan, 99.0, np.nan],
                                                 dtype=torch.float64),
                           n_clean_primaries=torch.tensor([1]))


def test_truth_tracks_and_their_segments():
    f = _frame()
    tr, y = rec.truth_tracker(f)
    assert [h.tolist() for h in tr.hits] == [[0, 2, 4, 6]]  # the clean primary only
    assert y.tolist() == [1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]
    two = Tracks(np.full(8, -1), [np.array([1, 3, 5]), np.array([0, 2, 4, 7])])
    assert rec.segments_of_tracks(two, f.hit_edge_index.numpy(), 8).tolist() == [1, 0, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0]


def test_track_rows_by_hand():
    f = _frame()
    tracks = Tracks(np.full(8, -1), [np.array([0, 2, 4, 6]), np.array([1, 3, 5, 7])])
    cal = WeplCalibration(200.0, -2.0, "layer", 230.0)
    rows = rec.track_rows(f, tracks, RangeModel(DEPTHS), cal, z_plane=-10.0, min_hits=3, min_last_edep=0.05)
    # both reach layer 3: R = 35, WEPL = 200 - 70
    assert rows.wepl.tolist() == [130.0, 130.0]
    assert rows.x.tolist() == [0.0, 10.0]  # straight lines, extrapolated to z = -10
    assert rows.passes.tolist() == [True, True] and rows.correct.tolist() == [True, False]
    assert rows.wepl_true.iloc[0] == 99.0 and math.isnan(rows.wepl_true.iloc[1])
    strict = rec.track_rows(f, tracks, RangeModel(DEPTHS), cal, -10.0, min_hits=3, min_last_edep=0.2)
    assert strict.passes.tolist() == [True, False]  # last deposit 0.1 MeV
    assert len(rec.image_tracks(strict)) == 1


def test_pooled_metrics_and_disagreement():
    m = [{"correct_primary": 3, "primary_tracks": 4, "primary_events": 6},
         {"correct_primary": 1, "primary_tracks": 1, "primary_events": 2}]
    assert rec.pooled_purity_efficiency(m) == {"purity": 0.8, "efficiency": 0.5, "primary_tracks": 5,
                                               "primary_events": 8}
    empty = rec.pooled_purity_efficiency([{"correct_primary": 0, "primary_tracks": 0, "primary_events": 0}])
    assert math.isnan(empty["purity"]) and math.isnan(empty["efficiency"])
    a = [np.array([1, 0, 1, 0]), np.array([1, 1])]
    b = [np.array([1, 1, 0, 0]), np.array([1, 1])]
    d = rec.assignment_disagreement(a, b)
    assert d["segments"] == pytest.approx(2 / 6) and d["assigned"] == pytest.approx(2 / 5)
    assert rec.assignment_disagreement(a, a) == {"segments": 0.0, "assigned": 0.0}
    none = rec.assignment_disagreement([np.zeros(0)], [np.zeros(0)])
    assert math.isnan(none["segments"]) and math.isnan(none["assigned"])


def test_reconstruct_scan_collects_every_tracker():
    f = _frame()
    from pctlib.imaging.downstream import DownstreamLoss

    def all_hits(frame):  # a tracker that follows the first segment of every pair
        y = np.array([1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0], np.int8)
        return Tracks(np.full(8, -1), [np.array([0, 2, 4, 6]), np.array([1, 3, 5])]), y

    rows, per_frame, ys = rec.reconstruct_scan([f, f], {"truth": rec.truth_tracker, "mine": all_hits},
                                               RangeModel(DEPTHS), WeplCalibration(200.0, -2.0, "layer", 230.0),
                                               -10.0, DownstreamLoss(DEPTHS, 200.0, -2.0), min_hits=2,
                                               progress=False)
    assert per_frame.tracker.tolist() == ["truth", "mine"] * 2 and len(ys["mine"]) == 2
    assert rows.groupby("tracker").size().to_dict() == {"mine": 4, "truth": 2}
    # truth: the clean start's chain reaches layer 3: WEPL 130 against 99
    assert per_frame.downstream_loss.iloc[0] == pytest.approx((130.0 - 99.0) ** 2)


def test_seed_spread_and_rms_by_hand():
    a = np.array([[1.0, 2.0], [np.nan, 4.0]])
    b = np.array([[3.0, 2.0], [1.0, 6.0]])
    sd = seed_spread([a, b])
    assert sd[0, 0] == pytest.approx(np.sqrt(2.0)) and sd[0, 1] == 0.0 and np.isnan(sd[1, 0])
    assert np.isnan(seed_spread([a])).all()
    assert rms([3.0, -4.0, np.nan]) == pytest.approx(np.sqrt(12.5)) and math.isnan(rms([np.nan]))
