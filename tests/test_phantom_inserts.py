"""Phantoms with inserts: parsing and its errors, steps cut at the inserts' faces, protons inside an insert behave as
in a homogeneous phantom of its material and outside it as in water, and the truth WEPL equals thickness × the
relative stopping power."""

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml

from pctlib.physics.beam import Beam
from pctlib.physics.geometry import GeometryError, Insert, geometry_from_dict, load_geometry
from pctlib.physics.simulate import Simulator
from pctlib.physics.steps import build_steps

ROOT = Path(__file__).resolve().parents[1]
BASE = yaml.safe_load((ROOT / "params/geometry/bergen_dtc.yaml").read_text())


def with_inserts(inserts, thickness=100.0, material="water"):
    d = copy.deepcopy(BASE)
    d["phantom"].update({"thickness_mm": thickness, "material": material, "inserts": inserts})
    return geometry_from_dict(d)


def test_inserts_are_parsed_and_bad_ones_named():
    g = with_inserts([{"material": "cortical_bone", "x_mm": 20, "radius_mm": 5},
                      {"material": "adipose", "shape": "box", "half_x_mm": 4, "half_y_mm": 6, "z_from_mm": 30,
                       "z_to_mm": 60}])
    a, b = g.phantom.inserts
    assert a == Insert("cortical_bone", "cylinder", 20.0, 0.0, 5.0)
    assert b.z_range(100.0) == (30.0, 60.0) and a.z_range(100.0) == (0.0, 100.0)
    assert bool(a.contains(np.array(24.0), np.array(2.9))) and not bool(a.contains(np.array(24.0), np.array(3.1)))
    assert g.with_phantom(150.0).phantom.inserts == g.phantom.inserts  # kept when the thickness changes
    for bad, msg in (([{"material": "bone", "radius_mm": 2}], "unknown material 'bone'"),
                     ([{"material": "adipose", "shape": "sphere"}], "shape one of"),
                     ([{"material": "adipose"}], "radius_mm"),
                     ([{"material": "adipose", "radius_mm": 2, "colour": 1}], "unknown: colour"),
                     ([{"material": "adipose", "radius_mm": 2, "z_from_mm": 5, "z_to_mm": 5}], "z_to_mm must exceed")):
        with pytest.raises(GeometryError, match=msg):
            with_inserts(bad)


def test_steps_are_cut_at_the_insert_faces_and_carry_the_insert_tables():
    g = with_inserts([{"material": "adipose", "shape": "box", "half_x_mm": 4, "half_y_mm": 6, "z_from_mm": 33,
                       "z_to_mm": 61}])
    steps = [s for s in build_steps(g) if s.kind == "phantom"]
    z0 = steps[0].z0
    faces = sorted({round(s.z0 - z0, 6) for s in steps} | {round(steps[-1].z1 - z0, 6)})
    assert 33.0 in faces and 61.0 in faces and max(s.thickness for s in steps) <= 10.0 + 1e-9
    for s in steps:
        inside = 33.0 <= s.z0 - z0 < 61.0
        assert bool(s.inserts) == inside
        if inside:
            assert s.inserts[0][1].materials[0][0] == "adipose" and s.inserts[0][1].z0 == s.z0
    # no inserts: the phantom is cut as before (equal sub-steps of at most 10 mm)
    plain = [s for s in build_steps(with_inserts([])) if s.kind == "phantom"]
    assert len(plain) == 10 and all(not s.inserts for s in plain)


def run(geometry, x, n=300, seed=1):
    beam = Beam(spot_sigma_mm=0.5, divergence_rad=0.0, spots=((x, 0.0),))
    return Simulator(geometry, beam=beam).run(n, seed=seed, progress=False).primaries


def test_protons_in_an_insert_behave_as_in_its_material():
    g = with_inserts([{"material": "cortical_bone", "x_mm": 40.0, "radius_mm": 8.0}], thickness=80.0)
    bone_slab = with_inserts([], thickness=80.0, material="cortical_bone")
    water_slab = with_inserts([], thickness=80.0)
    inside, bone = run(g, 40.0), run(bone_slab, 40.0, seed=2)
    outside, water = run(g, -40.0), run(water_slab, -40.0, seed=3)
    for a, b in ((inside, bone), (outside, water)):
        ok_a, ok_b = a["inelastic"] == 0, b["inelastic"] == 0
        za, zb = a["stopZ"][ok_a], b["stopZ"][ok_b]
        se = np.sqrt(za.var() / za.size + zb.var() / zb.size)
        assert abs(za.mean() - zb.mean()) < 4 * se + 0.5
    # truth WEPL: thickness x RSP (at 150 MeV) along the (nearly straight) paths
    steps = build_steps(g)
    rsp_bone = next(s.inserts[0][1].rsp for s in steps if s.inserts)
    assert rsp_bone == pytest.approx(1.69, abs=0.02)
    # bone stops the protons earlier by its extra water equivalent, 80 (RSP - 1) mm: converted from the detector's
    # z to water with the calorimeter's WET per mm of z
    from pctlib.imaging.range import layer_depths

    d = layer_depths(g)
    wet_per_z = (d[10] - d[5]) / (g.layer_z_mm[10] - g.layer_z_mm[5])
    dz = water["stopZ"][water["inelastic"] == 0].mean() - bone["stopZ"][bone["inelastic"] == 0].mean()
    assert dz * wet_per_z == pytest.approx(80.0 * (rsp_bone - 1.0), rel=0.05)
    assert np.median(inside["wepl"]) == pytest.approx(80.0 * rsp_bone, rel=0.01)
    assert np.median(outside["wepl"]) == pytest.approx(80.0, rel=0.01)


def test_an_air_insert_is_nearly_no_phantom():
    # air's range tables lie far beyond water's: each material's table is read only for its own particles (a float32
    # lookup of water's table at air's ranges once ran off its end)
    g = with_inserts([{"material": "air", "x_mm": 0.0, "radius_mm": 8.0}], thickness=100.0)
    inside = run(g, 0.0, n=100)
    assert np.median(inside["wepl"]) == pytest.approx(0.11, abs=0.03)  # 100 mm x RSP(air) 0.0011
    bare = run(with_inserts([], thickness=0.0), 0.0, n=100, seed=4)
    ok_a, ok_b = inside["inelastic"] == 0, bare["inelastic"] == 0
    assert abs(inside["stopZ"][ok_a].mean() - bare["stopZ"][ok_b].mean()) < 2.0
