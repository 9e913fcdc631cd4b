"""Failure diagnostics on hand-built tracks."""

import math

import numpy as np

from pctlib.tracks.build import Tracks
from pctlib.tracks.diagnostics import failure_layers, layer_density


def test_first_wrong_layer_by_hand():
    # hits: layers 0..5 for three tracks; track A correct, B wrong from layer 0 (0->1 joins events 1 and 2),
    # C wrong from layer 3 (3->4), D too short (not kept)
    layer = np.array([0, 1, 2, 3, 4, 5] * 3 + [0, 1, 2])
    ev = np.array([0] * 6 + [1] + [2] * 5 + [3, 3, 3, 3, 4, 4] + [5, 5, 5])
    edep = np.full(layer.size, 0.3)
    hits = [np.arange(0, 6), np.arange(6, 12), np.arange(12, 18), np.arange(18, 21)]
    m = failure_layers(Tracks(np.zeros(layer.size, int), hits), ev, layer, edep)
    assert m["kept"] == 3 and m["wrong"] == 2 and sorted(m["first_wrong_layers"]) == [0, 3]
    assert m["wrong_tracker"] == 1 and m["wrong_calorimeter_front"] == 1 and m["wrong_calorimeter_deep"] == 0
    assert m["wrong_tracker_share"] == 0.5
    none = failure_layers(Tracks(np.zeros(6, int), [np.arange(6)]), np.zeros(6, int), np.arange(6), np.full(6, .3))
    assert none["wrong"] == 0 and math.isnan(none["wrong_tracker_share"])


def test_layer_density_by_hand():
    layer = np.array([0, 0, 0, 0, 1])
    x = np.array([-1.0, 1.0, -1.0, 1.0, 0.0])
    y = np.array([-1.0, -1.0, 1.0, 1.0, 0.0])
    d = layer_density(layer, x, y, layers=(0, 1))
    assert d["sigma_0_mm"] == 1.0 and d["density_0_per_mm2"] == 4 / (2 * math.pi)
    assert math.isnan(d["sigma_1_mm"])
