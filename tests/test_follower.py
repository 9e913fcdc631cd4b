"""The track follower on hand-made frames: straight tracks, a crossing, a missing layer; its parameter file."""

from pathlib import Path

import numpy as np
import pytest

from pctlib.tracks.follower import FollowerConfig, TrackFollower, load_follower_config

ROOT = Path(__file__).resolve().parents[1]
Z = np.array([0.0, 57.8] + [103.3 + 5.5 * k for k in range(20)])


def frame(tracks, n_layers=12):
    """tracks: list of (x0, slope_x, y0, slope_y, missing layers) -> pos, layer, truth."""
    pos, layer, truth = [], [], []
    for t, (x0, sx, y0, sy, missing) in enumerate(tracks):
        for lay in range(n_layers):
            if lay in missing:
                continue
            pos.append([x0 + sx * Z[lay], y0 + sy * Z[lay], Z[lay]])
            layer.append(lay)
            truth.append(t)
    order = np.argsort(layer, kind="stable")
    return np.array(pos)[order], np.array(layer)[order], np.array(truth)[order]


def as_sets(tracks, truth):
    return sorted(tuple(sorted(set(truth[h].tolist()))) + (len(h),) for h in tracks.hits)


def test_straight_parallel_tracks():
    pos, layer, truth = frame([(x, 0.0, 0.0, 0.0, ()) for x in (-10.0, 0.0, 10.0)])
    tr = TrackFollower()(pos, layer)
    assert as_sets(tr, truth) == [(0, 12), (1, 12), (2, 12)]
    assert all(np.all(np.diff(layer[h]) == 1) for h in tr.hits)  # beam order


def test_crossing_tracks_keep_their_direction():
    # two tracks crossing at z ~ 150 mm with opposite slopes of 20 mrad
    pos, layer, truth = frame([(-3.0, 0.02, 0.0, 0.0, ()), (3.0, -0.02, 0.0, 0.0, ())])
    tr = TrackFollower()(pos, layer)
    assert as_sets(tr, truth) == [(0, 12), (1, 12)]


def test_a_missing_layer_is_skipped():
    pos, layer, truth = frame([(0.0, 0.0, 0.0, 0.0, (5,)), (20.0, 0.0, 5.0, 0.0, ())])
    tr = TrackFollower()(pos, layer)
    assert as_sets(tr, truth) == [(0, 11), (1, 12)]


def test_wide_angle_hit_is_not_followed_into_the_trackers():
    # a track whose tracker hits lie far outside the 0.5 rad cone: no track reaches layer 0
    pos, layer, truth = frame([(0.0, 0.0, 0.0, 0.0, ())])
    pos[layer <= 1, 0] += 100.0
    tr = TrackFollower()(pos, layer)
    assert len(tr) == 0


def test_parameter_file(tmp_path):
    good = ROOT / "params" / "trackers" / "track_follower.yaml"
    assert load_follower_config(good) == FollowerConfig()
    p = tmp_path / "x.yaml"
    p.write_text(good.read_text() + "max_scroe: 1\n")
    with pytest.raises(ValueError, match="unknown track-follower parameter.*max_scroe"):
        load_follower_config(p)


def test_continuations_into_the_trackers_are_ranked_by_the_extrapolation_not_the_nearest_hit():
    """An inclined track whose calorimeter kinks add up (score ~0.08 rad) and two other particles whose tracker-1
    hits lie laterally nearer to its first calorimeter hit than its own: ranking candidates by lateral distance
    keeps the two wrong ones, and the 0.845 replacement rule cannot bring the right one back (the accumulated score
    dilutes its better kink). Ranking by the kink, i.e. by the distance to the straight extrapolation, finds it."""
    z = Z
    pos, layer, truth = [], [], []

    def add(t, lay, x):
        pos.append([x, 0.0, z[lay]])
        layer.append(lay)
        truth.append(t)

    slope = 0.03
    x_cal0 = 2.84
    for lay in range(0, 16):  # particle 0: inclined, zig-zag in the calorimeter (kinks of ~24 mrad)
        x = x_cal0 + slope * (z[lay] - z[2])
        if lay >= 3:
            x += 0.033 * (1 if lay % 2 else -1)
        add(0, lay, x)
    for t, x_t in ((1, x_cal0 - 0.34), (2, x_cal0 - 0.64)):  # particles 1, 2: shorter, their calorimeter hits
        for lay in range(0, 9):                                 # well away from particle 0's
            add(t, lay, x_t if lay < 2 else x_t + 1.5 + 1.3 * t)
    order = np.argsort(layer, kind="stable")
    pos, layer, truth = np.array(pos)[order], np.array(layer)[order], np.array(truth)[order]
    # sanity of the construction: at tracker 1 the two others are laterally nearer to particle 0's calorimeter hit
    h0 = np.nonzero((truth == 0) & (layer == 2))[0][0]
    t1 = np.nonzero(layer == 1)[0]
    nearest = t1[np.argsort(np.abs(pos[t1, 0] - pos[h0, 0]))]
    assert set(truth[nearest[:2]].tolist()) == {1, 2}
    tracks = TrackFollower(FollowerConfig())(pos, layer)
    mine = [h for h in tracks.hits if (truth[h] == 0).sum() > 10]
    assert len(mine) == 1 and set(truth[mine[0]].tolist()) == {0} and len(mine[0]) == 16
    # the earlier order (nearest hit first) gets it wrong
    old = TrackFollower(FollowerConfig(candidate_order="nearest"))(pos, layer)
    mine = [h for h in old.hits if (truth[h] == 0).sum() > 10]
    assert len(mine) == 1 and set(truth[mine[0]].tolist()) != {0}
