"""Radiograph binning and image metrics on hand-made track lists and profiles."""

import math

import numpy as np
import pytest
from scipy.special import erf

from pctlib.imaging.radiograph import (bin_radiograph, contrast_to_noise, edge_width_10_90, region_stats,
                                       wepl_error)


def test_binning_of_a_hand_made_track_list():
    # 2 x 2 pixels over [0, 2) x [0, 2): pixel (0, 0) gets WEPL 10 and 12, (1, 0) gets 20, (1, 1) gets 30, 31, 35
    x = [0.5, 0.2, 1.5, 1.1, 1.9, 1.5, 5.0, 0.5]
    y = [0.5, 0.9, 0.1, 1.5, 1.2, 1.9, 0.5, 0.5]
    w = [10.0, 12.0, 20.0, 30.0, 31.0, 35.0, 99.0, np.nan]  # one outside the extent, one without a WEPL
    r = bin_radiograph(x, y, w, (2, 2), ((0.0, 2.0), (0.0, 2.0)))
    assert r.count.tolist() == [[2, 0], [1, 3]]
    assert r.mean[0, 0] == 11.0 and r.mean[1, 0] == 20.0 and r.mean[1, 1] == 32.0 and math.isnan(r.mean[0, 1])
    assert r.std[0, 0] == pytest.approx(np.std([10, 12], ddof=1)) and math.isnan(r.std[1, 0])
    assert r.x_centres.tolist() == [0.5, 1.5]
    empty = bin_radiograph([], [], [], (2, 2), ((0.0, 2.0), (0.0, 2.0)))
    assert np.isnan(empty.mean).all() and empty.count.sum() == 0


def test_region_metrics_by_hand():
    img = np.array([[1.0, 2.0, np.nan], [3.0, 10.0, 12.0]])
    a = np.array([[1, 1, 1], [1, 0, 0]], bool)
    b = ~a
    assert region_stats(img, a) == {"mean": 2.0, "sd": 1.0, "pixels": 3}
    assert wepl_error(img, b, 10.0) == 1.0
    # |2 - 11| / sqrt((1 + 2) / 2)
    assert contrast_to_noise(img, a, b) == pytest.approx(9 / math.sqrt(1.5))
    assert math.isnan(region_stats(img, np.zeros_like(a))["mean"])


def test_edge_width_of_a_gaussian_blurred_step_and_a_ramp():
    x = np.linspace(-20, 20, 2001)
    sigma = 1.7
    step = 100 + 50 * 0.5 * (1 + erf(x / (sigma * math.sqrt(2))))
    # 10 % and 90 % of a Gaussian CDF lie at -/+1.2816 sigma
    assert edge_width_10_90(x, step, plateau=50) == pytest.approx(2 * 1.28155 * sigma, rel=1e-3)
    assert edge_width_10_90(x, step[::-1], plateau=50) == pytest.approx(2 * 1.28155 * sigma, rel=1e-3)
    ramp = np.clip(x, -5, 5)
    assert edge_width_10_90(x, ramp, plateau=10) == pytest.approx(8.0, rel=1e-6)
    assert math.isnan(edge_width_10_90(x, np.ones_like(x)))


def test_region_report_of_a_painted_image():
    from pctlib.imaging.radiograph import Radiograph, region_report
    from pctlib.physics.geometry import Insert, Phantom
    from pctlib.physics.materials import load_materials
    from pctlib.physics.steps import relative_stopping_power

    mats = load_materials()
    ph = Phantom("water", 50.0, 100.0, None, (Insert("cortical_bone", "cylinder", -10.0, 0.0, 4.0),
                                            Insert("air", "box", 10.0, 0.0, half_x_mm=3.0, half_y_mm=3.0,
                                                   z_from_mm=10.0, z_to_mm=30.0)))
    edges = np.arange(-20.0, 20.5, 1.0)
    xc = 0.5 * (edges[1:] + edges[:-1])
    X, Y = np.meshgrid(xc, xc, indexing="ij")
    img = np.full(X.shape, 50.0)
    img[(X + 10) ** 2 + Y ** 2 <= 16] = 84.0
    img[(abs(X - 10) <= 3) & (abs(Y) <= 3)] = 30.0
    rep = region_report(Radiograph(img, img * 0, np.ones(img.shape, int), edges, edges), ph, mats, margin_mm=1.0)
    r = rep.set_index("region")
    rsp_bone = relative_stopping_power(mats, "cortical_bone")
    assert r.loc["cortical_bone", "true_wepl"] == pytest.approx(50 * rsp_bone)
    # the air box fills 20 of the 50 mm: 20 x RSP(air) + 30 mm of water
    assert r.loc["air", "true_wepl"] == pytest.approx(20 * relative_stopping_power(mats, "air") + 30.0)
    assert r.loc["background", "mean_wepl"] == 50.0 and r.loc["background", "noise"] == 0.0
    assert r.loc["cortical_bone", "mean_wepl"] == 84.0 and r.loc["air", "mean_wepl"] == 30.0
    assert r.loc["cortical_bone", "wepl_error"] == pytest.approx(84.0 - 50 * rsp_bone)
    # margins: the shrunk bone disc (radius 3) holds the pixel centres within 3 mm of (-10, 0)
    assert r.loc["cortical_bone", "pixels"] == int(((X + 10) ** 2 + Y ** 2 <= 9).sum())


def test_clipped_pixels_ignore_gross_outliers():
    from pctlib.imaging.radiograph import clipped_mean

    v = np.array([99.0, 100.0, 101.0, 100.0, 250.0])  # median 100, MAD 1 -> sigma 1.4826: 250 is cut
    assert clipped_mean(v) == pytest.approx(100.0)
    assert clipped_mean(np.array([5.0, 5.0, 5.0])) == 5.0 and math.isnan(clipped_mean(np.zeros(0)))
    # in an image: one pixel with an outlier, one without
    x = np.array([0.5, 0.5, 0.5, 0.5, 0.5, 1.5, 1.5])
    y = np.full(7, 0.5)
    w = np.array([99.0, 100.0, 101.0, 100.0, 250.0, 10.0, 12.0])
    plain = bin_radiograph(x, y, w, (2, 1), ((0, 2), (0, 1)))
    clipped = bin_radiograph(x, y, w, (2, 1), ((0, 2), (0, 1)), clip_sigma=3.0)
    assert plain.mean[0, 0] == pytest.approx(130.0) and clipped.mean[0, 0] == pytest.approx(100.0)
    assert plain.mean[1, 0] == clipped.mean[1, 0] == pytest.approx(11.0)
