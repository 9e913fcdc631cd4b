"""The radiography phantom file and its scan grid."""

from pathlib import Path

import pytest

from pctlib.imaging.phantom import load_phantom, scan_spots, scanning_beam
from pctlib.physics.geometry import GeometryError, load_geometry

ROOT = Path(__file__).resolve().parents[1]
GEO = load_geometry(ROOT / "params/geometry/bergen_dtc.yaml")


def test_the_shipped_phantom_loads_onto_the_detector():
    g, scan = load_phantom(ROOT / "params/phantoms/radiography.yaml", GEO)
    assert g.phantom.thickness_mm == 100.0 and [i.material for i in g.phantom.inserts] == [
        "cortical_bone", "adipose", "air"]
    assert g.phantom.centre_to_detector_mm == GEO.phantom.centre_to_detector_mm  # placement kept
    spots = scan_spots(scan)
    assert len(spots) == 17 * 5 and spots[0] == (-40.0, -10.0) and spots[-1] == (40.0, 10.0)
    assert scanning_beam(scan).spots == spots


def test_bad_phantom_files_are_named(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text("material: water\nthickness_mm: 50\ncolour: red\n")
    with pytest.raises(GeometryError, match="a phantom file holds"):
        load_phantom(p, GEO)
    p.write_text("material: water\nthickness_mm: 50\ninserts: [{material: bone, radius_mm: 3}]\n")
    with pytest.raises(GeometryError, match="unknown material 'bone'"):
        load_phantom(p, GEO)
    p.write_text("material: water\nthickness_mm: 50\nscan: {x_mm: [0, 1]}\n")
    with pytest.raises(GeometryError, match="scan needs"):
        load_phantom(p, GEO)
