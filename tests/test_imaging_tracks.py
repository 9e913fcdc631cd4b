"""Track positions by straight-line projection and the per-track table, on hand-made hits."""

import math

import numpy as np
import pytest

from pctlib.imaging.range import RangeModel, WeplCalibration
from pctlib.imaging.tracks import projected_positions, track_table


def test_projection_of_straight_lines():
    p0 = np.array([[1.0, 2.0, 0.0], [0.0, 0.0, 0.0]])
    p1 = np.array([[2.0, 2.0, 10.0], [0.0, 0.0, 0.0]])  # second: no direction
    xy = projected_positions(p0, p1, -100.0)
    assert xy[0].tolist() == [-9.0, 2.0] and np.isnan(xy[1]).all()


def test_track_table_by_hand():
    # rows: E, x, y, z, layer
    hit_x = np.array([[0.01, 1.0, 0.0, 0.0, 0], [0.01, 1.5, 0.0, 50.0, 1], [0.02, 2.0, 0.0, 100.0, 2],
                      [0.05, 2.5, 0.0, 105.0, 3], [0.01, 7.0, 1.0, 50.0, 1], [0.04, 7.0, 1.0, 100.0, 2]])
    model = RangeModel((0.0, 1.0, 10.0, 20.0, 30.0))
    cal = WeplCalibration(300.0, -1.0, "layer", 230.0)
    t = track_table(hit_x, [np.array([0, 1, 2, 3]), np.array([4, 5])], model, cal, -50.0)
    assert t.x[0] == pytest.approx(0.5) and t.y[0] == 0.0  # the line through (1, 0, 0) and (1.5, 0, 50) at z = -50
    assert t.r_det.tolist() == [25.0, 15.0] and t.wepl.tolist() == [275.0, 285.0]
    assert t.last_layer.tolist() == [3, 2] and t.hits.tolist() == [4, 2]
    assert math.isnan(t.x[1])  # no hit in tracker 0: no position


def test_truth_track_table_joins_the_truth_wepl():
    from pathlib import Path

    from pctlib.imaging.tracks import truth_track_table
    from pctlib.io.hit_table import HIT_DTYPE
    from pctlib.physics.geometry import load_geometry
    from pctlib.physics.simulate import PRIMARY_DTYPE

    geo = load_geometry(Path(__file__).resolve().parents[1] / "params/geometry/bergen_dtc.yaml")
    z = geo.layer_z_mm
    h = np.zeros(7, HIT_DTYPE)
    h["eventID"] = [7, 7, 7, 3, 3, 3, 3]
    h["trackID"] = [1, 1, 1, 1, 1, 1, 2]
    h["parentID"] = [0, 0, 0, 0, 0, 0, 1]
    h["layer"] = [0, 1, 2, 2, 0, 1, 2]
    h["posX"] = [1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 5.0]
    h["posZ"] = [z[0], z[1], z[2], z[2], z[0], z[1], z[2]]
    h["edep"] = 0.05
    prim = np.zeros(3, PRIMARY_DTYPE)
    prim["eventID"] = [7, 3, 5]
    prim["wepl"] = [101.0, 99.0, 0.0]
    model = RangeModel.of(geo)
    t = truth_track_table(h, prim, geo, model, WeplCalibration(330.0, -1.0, "layer", 230.0))
    assert t.event.tolist() == [3, 7] and t.wepl_true.tolist() == [99.0, 101.0]
    assert t.hits.tolist() == [3, 3]  # the secondary's hit is no part of event 3's track
    assert t.x[0] == pytest.approx(0.0) and t.x[1] < 1.0  # event 7 slopes upwards: back at the phantom it was lower
