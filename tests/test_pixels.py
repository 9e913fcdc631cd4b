"""Pixel-level digitisation: measured shapes, merging of touching clusters, noise."""

from pathlib import Path

import numpy as np
import pytest

from pctlib.io.hit_table import HIT_DTYPE, cluster_size, levels_from_layer
from pctlib.physics.geometry import load_geometry
from pctlib.physics.pixels import ClusterShapes, digitise_frame, pixelise

ROOT = Path(__file__).resolve().parents[1]
GEO = load_geometry(ROOT / "params" / "geometry" / "bergen_dtc.yaml")
SHAPES = ClusterShapes.load()


def hits_at(xy, layer=5, edep=0.02, events=None):
    h = np.zeros(len(xy), HIT_DTYPE)
    h["posX"], h["posY"] = np.array(xy, float).T
    h["layer"] = layer
    h["level1ID"], h["level2ID"] = levels_from_layer(h["layer"])
    h["edep"] = edep
    h["eventID"] = np.arange(len(xy)) if events is None else events
    h["trackID"] = 1
    return h


def test_shapes_have_the_requested_size():
    rng = np.random.default_rng(0)
    for cs in (2, 5, 9, 20):
        idx = SHAPES.sample(np.full(50, cs), rng)
        assert (SHAPES.masks[idx].sum(axis=(1, 2)) == cs).all()
    assert (SHAPES.size[SHAPES.sample(np.array([60]), rng)] == SHAPES.size.max()).all()


def test_pixel_clusters_sit_on_the_hit():
    rng = np.random.default_rng(1)
    h = hits_at([(10.0, -5.0), (-40.0, 20.0)])
    k, col, row = pixelise(h, SHAPES, GEO.sensor, rng)
    for i in range(2):
        x = (col[k == i].mean() + 0.5) * GEO.sensor.pitch_x_mm - GEO.sensor.width_mm / 2
        y = (row[k == i].mean() + 0.5) * GEO.sensor.pitch_y_mm - GEO.sensor.height_mm / 2
        assert abs(x - h["posX"][i]) < 3 * GEO.sensor.pitch_x_mm and abs(y - h["posY"][i]) < 3 * GEO.sensor.pitch_y_mm
        assert (k == i).sum() == cluster_size(h["edep"][i:i + 1])[0]


def test_touching_clusters_merge_and_far_ones_do_not():
    rng = np.random.default_rng(2)
    z = np.array(GEO.layer_z_mm)
    near = hits_at([(0.0, 0.0), (0.01, 0.0)], edep=[0.02, 0.05])
    out, size = digitise_frame(near, GEO.sensor, z, rng, SHAPES)
    assert len(out) == 1 and out["eventID"][0] == 1  # the larger deposit gives the truth
    assert out["edep"][0] == pytest.approx(0.07)
    far = hits_at([(0.0, 0.0), (5.0, 0.0)])
    out, size = digitise_frame(far, GEO.sensor, z, rng, SHAPES)
    assert len(out) == 2 and set(out["eventID"]) == {0, 1}
    out, _ = digitise_frame(near, GEO.sensor, z, rng, SHAPES, merge=False)
    assert len(out) == 2


def test_noise_rate_and_labels():
    rng = np.random.default_rng(3)
    z = np.array(GEO.layer_z_mm)
    rate = 2e-7
    out, size = digitise_frame(hits_at([(0.0, 0.0)]), GEO.sensor, z, rng, SHAPES, noise_rate=rate)
    noise = out["eventID"] == -1
    n_pix = (GEO.sensor.width_mm / GEO.sensor.pitch_x_mm) * (GEO.sensor.height_mm / GEO.sensor.pitch_y_mm)
    expected = rate * n_pix * len(z)
    assert abs(noise.sum() - expected) < 5 * np.sqrt(expected)
    assert (size[noise] == 1).all() and (out["trackID"][noise] == -1).all()
    assert np.allclose(out["posZ"], z[out["layer"]])


def test_simulator_pixel_option_keeps_frames_and_labels_noise():
    from pctlib.physics.simulate import Digitisation, Simulator

    d = Digitisation(pixel_clusters=True, frame_primaries=50, noise_rate=1e-7, min_cluster_size=1)
    r = Simulator(GEO.with_phantom(100.0), digitisation=d).run(200, seed=3, progress=False, chunk_size=120)
    h = r.hits
    noise = h["trackID"] == -1
    assert noise.sum() > 0 and set(np.unique(h["eventID"][noise])) <= {0, 50, 100, 150}
    assert (h["eventID"][~noise] < 200).all() and len(h[~noise]) > 200 * 10
