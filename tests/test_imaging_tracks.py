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
