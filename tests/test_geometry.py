"""Geometry files: the DTC layout, and errors that name the problem."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from pctlib.physics.geometry import GeometryError, geometry_from_dict, load_geometry

ROOT = Path(__file__).resolve().parents[1]
DTC = ROOT / "params" / "geometry" / "bergen_dtc.yaml"


def test_bergen_dtc_layout():
    g = load_geometry(DTC)
    assert g.n_layers == 43
    assert g.layer_kinds == ["tracker"] * 2 + ["calorimeter"] * 41
    z = np.array(g.layer_z_mm)
    assert np.allclose(np.diff(z[2:]), 5.5)  # calorimeter pitch
    cal = [s for s in g.detector if s.kind == "calorimeter"]
    assert sum(s.thickness_mm for s in cal) == pytest.approx(41 * 5.5)
    assert any(s.material == "air" and s.thickness_mm == 55.18 for s in g.detector)
    assert any(s.material == "air" and s.thickness_mm == 39.58 for s in g.detector)
    assert g.sensor.width_mm == 270.8 and g.sensor.height_mm == 166.3
    sens = [s for s in g.detector if s.sensitive]
    assert all(s.material == "silicon" and s.thickness_mm == 0.025 for s in sens)
    # slabs of one layer share a region; the phantom and the gap are regions of their own
    slabs = g.with_phantom(150).slabs()
    # the phantom is centred 270 mm upstream of the detector: its exit face at -270 + 75 mm
    assert slabs[0].kind == "phantom" and slabs[0].thickness_mm == 150 and slabs[0].z1_mm == pytest.approx(-195)
    assert slabs[0].z0_mm == pytest.approx(-345)
    assert len({s.region for s in slabs}) == 2 + 43 + 2  # phantom, gap, 43 stacks, 2 tracker gaps


def _base():
    return yaml.safe_load(DTC.read_text())


def test_other_detectors_are_just_other_files():
    d = _base()
    d["stacks"]["calorimeter"][0]["mm"] = 2.0  # thinner absorber
    d["detector"] = [e for e in d["detector"] if e.get("kind") != "tracker" and e.get("mm") != 55.18]
    d["detector"][-1]["repeat"] = 60
    g = geometry_from_dict(d)
    assert g.n_layers == 60 and g.layer_kinds == ["calorimeter"] * 60


@pytest.mark.parametrize("mutate,message", [
    (lambda d: d["stacks"]["calorimeter"][0].update(material="unobtainium"), "unknown material 'unobtainium'"),
    (lambda d: d["stacks"]["calorimeter"][0].update(mm=-3.5), r"mm: -3.5 must be > 0"),
    (lambda d: d["stacks"]["flex"][0].update(thickness=1), r"unknown key\(s\) thickness"),
    (lambda d: d.update(colour="red"), r"unknown key\(s\) colour"),
    (lambda d: d["detector"].append({"include": "nope"}), "unknown stack 'nope'"),
    (lambda d: d["phantom"].update(thickness_mm=-1), r"phantom.thickness_mm: -1 must be >= 0"),
    (lambda d: d["phantom"].update(material="lead"), "unknown material 'lead'"),
    (lambda d: d.update(detector=[{"material": "air", "mm": 1.0}]), "no sensitive slab"),
    (lambda d: d["phantom"].update(gap_to_detector_mm=100.0), "one of gap_to_detector_mm, centre_to_detector_mm"),
    (lambda d: d["phantom"].pop("centre_to_detector_mm"), "one of gap_to_detector_mm, centre_to_detector_mm"),
    (lambda d: d["phantom"].update(centre_to_detector_mm=40.0), "less than half the thickness"),
    (lambda d: d.update(materials={"foo": {"density": 1, "I_eV": 70, "X0_cm": 30, "composition": {"Xx": 1.0}}}),
     "unknown element 'Xx'"),
])
def test_bad_geometry_is_a_named_error(mutate, message):
    d = _base()
    mutate(d)
    with pytest.raises(GeometryError, match=message):
        geometry_from_dict(d)


def test_phantom_placement_centred_or_fixed_gap():
    g = geometry_from_dict(_base())
    assert g.phantom.centre_to_detector_mm == 270.0
    for t in (0.0, 100.0, 200.0):  # centred: the gap shrinks by half the added thickness
        p = g.with_phantom(t).phantom
        assert p.gap_to_detector_mm == pytest.approx(270.0 - t / 2)
        slabs = g.with_phantom(t).slabs()
        centre = [0.5 * (s.z0_mm + s.z1_mm) for s in slabs if s.kind == "phantom"]
        assert centre == ([pytest.approx(-270.0)] if t else [])
    assert g.with_phantom(100, gap_mm=350).phantom.gap_to_detector_mm == 350  # explicit fixed gap
    assert g.with_phantom(100, centre_mm=300).phantom.gap_to_detector_mm == 250
    with pytest.raises(GeometryError, match="overlap"):
        g.with_phantom(600)
    with pytest.raises(GeometryError, match="not both"):
        g.with_phantom(100, gap_mm=1, centre_mm=300)
    d = _base()
    d["phantom"] = {"material": "water", "thickness_mm": 100.0, "gap_to_detector_mm": 350.0}
    fixed = geometry_from_dict(d)
    assert fixed.with_phantom(200).phantom.gap_to_detector_mm == 350.0 and fixed.phantom.centre_to_detector_mm is None


def test_missing_file(tmp_path):
    with pytest.raises(GeometryError, match="does not exist"):
        load_geometry(tmp_path / "none.yaml")
