"""Multiple scattering that depends on the material traversed, not on how the geometry groups it, validated against
Gottschalk's differential Moliere scattering power; deposits in thin silicon against Landau-Vavilov-Bichsel."""

from __future__ import annotations

import numpy as np
import pytest

from pctlib.physics.config import SimulationConfig
from pctlib.physics.materials import load_materials
from pctlib.physics.simulate import Simulator
from pctlib.physics.stopping import StoppingTable
from pctlib.physics.transport import PhysicsConfig
from pctlib.physics.validation import (gottschalk_comparison, gottschalk_theta0, kink_widths, lvb_most_probable,
                                       scattering_length_gcm2, slab_scattering, thin_layer_deposits)


def test_scattering_length_reproduces_gottschalks_table():
    mats = load_materials()
    assert scattering_length_gcm2(mats["water"]) == pytest.approx(46.88, rel=2e-3)
    assert scattering_length_gcm2(mats["aluminium"]) == pytest.approx(28.75, rel=2e-3)


def test_the_measured_gottschalk_1993_aluminium_point():
    """Gottschalk et al. 1993 (NIM B 74, 467), as quoted by Geant4's TestEm5 example gottsch.mac: 158.6 MeV
    protons through 0.2160 g/cm^2 of aluminium (0.8 mm): projected theta0 = 3.534 +- 0.491 mrad."""
    r = slab_scattering("aluminium", 0.8, 158.6, n=40000, seed=3)
    assert r["theta_rms_mrad"] == pytest.approx(3.534, rel=0.05)
    assert gottschalk_theta0("aluminium", 0.8, 158.6) * 1e3 == pytest.approx(3.534, rel=0.05)


def test_gottschalk_reference_agrees_with_highland_for_a_thin_slab():
    # 1 mm of water at 158.6 MeV: the two formulas are fits to the same theory and must agree within a few %
    from pctlib.physics.validation import highland_theta0
    assert gottschalk_theta0("water", 1.0, 158.6) == pytest.approx(highland_theta0(1.0 / 360.8, 158.6), rel=0.06)


@pytest.mark.parametrize("material,thicknesses", [("water", [10.0, 50.0, 100.0, 150.0]),
                                                  ("aluminium", [5.0, 20.0, 40.0, 60.0])])
def test_thick_slab_widths_within_5_percent_of_differential_moliere(material, thicknesses):
    for r in gottschalk_comparison(material, thicknesses, n=8000):
        assert r["ratio"] == pytest.approx(1.0, abs=0.05), r


@pytest.mark.parametrize("pieces", [5, 20])
def test_same_material_one_region_or_many_gives_the_same_spread(pieces):
    one = slab_scattering("aluminium", 35.0, 230.0, n=20000, seed=1)
    many = slab_scattering("aluminium", 35.0, 230.0, n=20000, seed=2, pieces=pieces)
    assert many["theta_rms_mrad"] == pytest.approx(one["theta_rms_mrad"], rel=0.02)
    assert many["lateral_rms_mm"] == pytest.approx(one["lateral_rms_mm"], rel=0.03)
    # the old per-region logarithm makes the split slab visibly narrower: the test above would catch it
    old = PhysicsConfig(nuclear=False, scattering_memory="region")
    split_old = slab_scattering("aluminium", 35.0, 230.0, n=20000, seed=2, pieces=pieces, physics=old)
    assert split_old["theta_rms_mrad"] < 0.95 * one["theta_rms_mrad"]


def test_kinks_in_the_calorimeter_follow_the_accumulated_path():
    cfg = SimulationConfig(phantom_mm=100.0)
    geo = cfg.load_geometry()
    widths = {}
    for mem in ("path", "region"):
        hits = Simulator(geo, beam=cfg.beam, physics=PhysicsConfig(scattering_memory=mem)).run(
            3000, seed=0, progress=False).hits
        widths[mem] = {r["layer"]: r["kink_width_mrad"] for r in kink_widths(hits, [6, 10, 14])}
    # calorimeter layers 4 / 8 / 12 (detector layers 6 / 10 / 14): whole-path Highland 7.8 / 8.6 / 9.7 mrad
    for layer, ref in zip((6, 10, 14), (7.8, 8.6, 9.7)):
        assert widths["path"][layer] == pytest.approx(ref, rel=0.08)
        assert widths["region"][layer] < 0.92 * widths["path"][layer]
    assert widths["path"][6] < widths["path"][10] < widths["path"][14]  # wider as the protons slow down


@pytest.mark.parametrize("thickness_um", [25.0, 14.0])
@pytest.mark.parametrize("energy", [230.0, 150.0, 100.0, 50.0])
def test_thin_silicon_deposit_peak_and_width_match_landau_vavilov_bichsel(thickness_um, energy):
    r = thin_layer_deposits(thickness_um, energy, n=40000)
    assert r["mpv_ratio"] == pytest.approx(1.0, abs=0.05), r
    assert r["fwhm_ratio"] == pytest.approx(1.0, abs=0.05), r


@pytest.mark.parametrize("energy", [230.0, 100.0])
def test_thin_silicon_mean_deposit_is_the_mean_energy_loss(energy):
    """The mean deposit is the mean (Bethe) energy loss from NIST PSTAR (the truncation of Landau's tail is set so):
    the Moyal approximation, with its light tail, was 26 % low."""
    mat = load_materials()["silicon"]
    mean_loss_kev = 1e3 * float(StoppingTable.build(mat).linear_stopping_power(np.array([energy]))[0]) * 0.025
    r = thin_layer_deposits(25.0, energy, n=40000)
    assert r["mean_kev"] == pytest.approx(mean_loss_kev, rel=0.05)
    assert r["median_kev"] > r["mpv_kev"] + 1.2 * 1e3 * lvb_most_probable(25.0, energy)["xi_mev"]
    moyal = thin_layer_deposits(25.0, energy, n=40000, physics=PhysicsConfig(nuclear=False, scattering=False,
                                                                               deposit_model="moyal"))
    assert moyal["mean_kev"] < 0.85 * mean_loss_kev


def test_the_shipped_landau_table_is_scipys_and_a_simulation_needs_no_scipy_stats(tmp_path):
    """The table the sampler reads is the one ``scipy.stats.landau`` gives (recomputed here), and running a small
    simulation does not import ``scipy.stats`` (its import costs seconds of a ``pctlib simulate``)."""
    import subprocess
    import sys

    from pctlib.physics import landau

    with np.load(landau.SHIPPED_TABLE, allow_pickle=False) as z:
        lam, mode, width = np.array(z["lam"]), float(z["mode"]), float(z["width"])
    ref_lam, ref_mode, ref_width = landau.compute_table()
    np.testing.assert_allclose(lam, ref_lam, rtol=1e-9, atol=1e-9)
    assert (mode, width) == pytest.approx((ref_mode, ref_width), abs=1e-9)
    # write_table writes exactly what compute_table gives
    out = tmp_path / "t.npz"
    landau.write_table(out)
    with np.load(out, allow_pickle=False) as z:
        np.testing.assert_array_equal(z["lam"], ref_lam)
    code = ("import sys; from pctlib.cli import main; "
            f"rc = main(['simulate', '--primaries', '3', '--out', {str(tmp_path / 'h.npz')!r}, '--no-progress']); "
            "assert rc == 0, rc; print('scipy.stats' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip().splitlines()[-1] == "False", res.stdout + res.stderr
