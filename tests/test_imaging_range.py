"""Range and WEPL per track: the WET depth scale against REFERENCE.md's figure, the two estimators on hand-made
tracks, the calibration line, and WEPL of simulated single protons through known water thicknesses against the
thicknesses and against NIST's CSDA range."""

import math
from pathlib import Path

import numpy as np
import pytest

from pctlib.imaging.range import (BK_P, RangeError, RangeModel, WeplCalibration, calibrate, layer_depths,
                                  primary_tracks, residual_ranges)
from pctlib.physics.geometry import load_geometry
from pctlib.physics.simulate import Simulator

ROOT = Path(__file__).resolve().parents[1]
GEO = load_geometry(ROOT / "params/geometry/bergen_dtc.yaml")


def test_depth_scale_of_the_dtc():
    d = layer_depths(GEO)
    assert d.size == GEO.n_layers + 1 and np.all(np.diff(d) > 0)
    # one calorimeter layer is about 8.2 mm of water (REFERENCE.md; PSTAR-based ratio at 100 MeV here)
    pitch = np.diff(d[2:-1])
    assert np.allclose(pitch, pitch[0]) and pitch[0] == pytest.approx(8.2, rel=0.02)
    # trackers and their air are nearly nothing: the first calorimeter layer sits within 1 cm of water
    assert d[2] < 11.0


def test_layer_estimator_by_hand():
    m = RangeModel((0.0, 10.0, 20.0, 30.0))
    tracks = [(np.array([0, 1]), np.array([0.1, 0.2])), (np.array([2, 0, 1]), np.ones(3)), (np.array([]), np.array([]))]
    r = residual_ranges(tracks, m)
    assert r[0] == 15.0 and r[1] == 25.0 and math.isnan(r[2])
    with pytest.raises(RangeError, match="layer 5"):
        residual_ranges([(np.array([5]), np.array([1.0]))], m)
    with pytest.raises(RangeError, match="estimator"):
        RangeModel((0.0, 1.0), estimator="fit")


@pytest.mark.parametrize("true_r0", [41.0, 43.7, 49.9])
def test_bragg_kleeman_fit_recovers_the_range_of_exact_deposits(true_r0):
    depths = tuple(float(x) for x in np.arange(0, 60, 8.0))  # layers at 0, 8, ..., 56
    m = RangeModel(depths, estimator="bragg", fit_hits=5, grid=400)
    layers = np.array([l for l, z in enumerate(depths[:-1]) if z < true_r0])
    dep = 0.01 * (true_r0 - np.asarray(depths)[layers]) ** (1 / BK_P - 1)
    r = residual_ranges([(layers, dep)], m)[0]
    step = (depths[layers[-1] + 1] - depths[layers[-1]]) / 400
    assert abs(r - true_r0) <= step
    # the layer estimate only knows the interval
    assert residual_ranges([(layers, dep)], RangeModel(depths))[0] == depths[layers[-1]] + 4.0


def test_calibration_line_and_its_errors():
    cal = WeplCalibration.fit([0, 100, 200], [330.0, 230.0, 130.0], "layer", 230.0)
    assert cal.slope == pytest.approx(-1.0) and cal.intercept == pytest.approx(330.0)
    assert cal.wepl([280.0])[0] == pytest.approx(50.0)
    with pytest.raises(RangeError, match="two thicknesses"):
        WeplCalibration.fit([0, 100], [300.0, 300.0], "layer", 230.0)


def test_primary_tracks_of_a_hand_table():
    from pctlib.io.hit_table import HIT_DTYPE

    h = np.zeros(6, HIT_DTYPE)
    h["eventID"] = [1, 1, 1, 2, 2, 3]
    h["trackID"] = [1, 1, 2, 1, 1, 1]
    h["parentID"] = [0, 0, 1, 0, 0, 0]
    h["layer"] = [3, 2, 3, 0, 1, 0]
    h["edep"] = [0.3, 0.2, 0.9, 0.1, 0.2, 0.5]
    h["primaryInelastic"] = [0, 0, 0, 0, 0, 1]
    ev, tr = primary_tracks(h)
    assert ev.tolist() == [1, 2]  # event 3's primary interacted; the secondary of event 1 is not its track
    assert tr[0][0].tolist() == [2, 3] and tr[0][1] == pytest.approx([0.2, 0.3])
    assert len(primary_tracks(h, clean_only=False)[1]) == 3


@pytest.mark.parametrize("estimator", ["layer", "bragg"])
def test_wepl_of_single_protons_through_known_water(estimator):
    # calibrated on 0 / 100 / 200 mm, tested on 50 and 150 mm (not fitted on); 230 MeV, 200 protons each
    cal, rows = calibrate(GEO, [0.0, 100.0, 200.0], 200, estimator, seed=4)
    # the line is physics: 1 mm of water less range per mm of phantom, and at R_det = 0 the whole CSDA range of
    # 230 MeV in water, 329.5 mm (NIST PSTAR, 32.95 g/cm2), less the few tenths of a mm of air in front
    assert cal.slope == pytest.approx(-1.0, abs=0.03)
    assert cal.intercept == pytest.approx(329.5, abs=3.0)
    for t in (50.0, 150.0):
        hits = Simulator(GEO.with_phantom(t)).run(200, seed=int(t) + 7, progress=False).hits
        _, tracks = primary_tracks(hits)
        w = cal.wepl(residual_ranges(tracks, RangeModel.of(GEO, estimator)))
        # per proton: range straggling (1.1-1.2 % of ~330 mm, REFERENCE.md: ~3.8 mm) and the position inside the
        # stopping layer (8.3 mm / sqrt(12) = 2.4 mm for the layer estimate): about 4.5 mm RMS; the mean of ~130
        # clean protons within 1.5 mm
        assert abs(w.mean() - t) < 1.5
        assert np.sqrt(np.mean((w - t) ** 2)) < 6.0
