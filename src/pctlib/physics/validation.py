"""Reference formulas and small experiments used to validate the transport (tests and the physics chapter)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch

from .constants import AVOGADRO, HIGHLAND_E, HIGHLAND_LOG, beta2_gamma, p_beta_c
from .geometry import Geometry, Phantom, Sensor, Slab
from .materials import load_materials
from .steps import build_steps
from .transport import Particles, PhysicsConfig, transport


def highland_theta0(x_over_x0: float, e_kin_mev: float, lynch_dahl_beta: bool = False) -> float:
    """PDG Highland width [rad] of the projected angle for unit charge, thin slab, entrance momentum. With
    ``lynch_dahl_beta`` the logarithm is Lynch and Dahl's ln(x / (X0 beta^2)) (the PDG review's form); without it
    Highland's original ln(x / X0)."""
    arg = x_over_x0 / (beta2_gamma(e_kin_mev)[0] if lynch_dahl_beta else 1.0)
    return HIGHLAND_E / p_beta_c(e_kin_mev) * math.sqrt(x_over_x0) * (1 + HIGHLAND_LOG * math.log(arg))


#: fine-structure constant and classical electron radius [cm] (CODATA 2018)
_ALPHA, _R_E_CM = 1 / 137.035999084, 2.8179403262e-13
#: Gottschalk's (2010) constant of the differential Moliere scattering power [MeV]
_E_S = 15.0


def scattering_length_gcm2(material) -> float:
    """Gottschalk's (2010, Med. Phys. 37, 352, Eq. 18) scattering length X_S [g/cm^2] of a material:
    1 / X_S = alpha N_A r_e^2 sum_i w_i (Z_i^2 / A_i) {2 ln(33219 (A_i Z_i)^(-1/3)) - 1}, by mass fractions.
    Water: 46.88 g/cm^2 in his table."""
    from .materials import ELEMENTS

    inv = 0.0
    for el, w in material.composition.items():
        e = ELEMENTS[el]
        inv += w * e.Z ** 2 / e.A * (2.0 * math.log(33219.0 * (e.A * e.Z) ** (-1.0 / 3.0)) - 1.0)
    return 1.0 / (_ALPHA * AVOGADRO * _R_E_CM ** 2 * inv)


def gottschalk_theta0(material_name: str, thickness_mm: float, e_kin_mev: float, n: int = 4000) -> float:
    """Projected rms angle [rad] after a thick slab by Gottschalk's differential Moliere scattering power,
    T_dM = f_dM(pv, p1v1) (E_s / pv)^2 / X_S, integrated along the CSDA path (Gottschalk 2010, Eqs. 17-19):
    f_dM = 0.5244 + 0.1975 lg(1 - (pv/p1v1)^2) + 0.2320 lg(pv) - 0.0098 lg(pv) lg(1 - (pv/p1v1)^2), pv in MeV.

    An independent reference for our transport: another formula (a fit to Moliere-Fano-Hanson theory, which
    Gottschalk et al. 1993 found within about 1 % of their 158.6 MeV measurements), another material constant
    (X_S, not X0), and the energy loss from the stopping tables by quadrature instead of the transport's steps."""
    from .materials import load_materials
    from .stopping import StoppingTable

    mat = load_materials()[material_name]
    tab = StoppingTable.build(mat)
    xs_mm = scattering_length_gcm2(mat) / mat.density * 10.0
    r0 = float(tab.csda_range_mm(np.array([e_kin_mev]))[0])
    if thickness_mm >= r0:
        raise ValueError(f"{thickness_mm} mm of {material_name} stop a {e_kin_mev} MeV proton (range {r0:.1f} mm)")
    # midpoint rule on a grid denser near the end, where pv falls fastest
    u = (np.arange(n) + 0.5) / n
    x = thickness_mm * (1.0 - (1.0 - u) ** 2)
    dx = thickness_mm * 2.0 * (1.0 - u) / n
    e = tab.energy_at_range((r0 - x) * mat.density / 10.0)
    pv = p_beta_c(e)
    p1v1 = p_beta_c(e_kin_mev)
    lg_ratio = np.log10(np.clip(1.0 - (pv / p1v1) ** 2, 1e-300, None))
    lg_pv = np.log10(pv)
    f = 0.5244 + 0.1975 * lg_ratio + 0.2320 * lg_pv - 0.0098 * lg_pv * lg_ratio
    t = np.clip(f, 0.0, None) * (_E_S / pv) ** 2 / xs_mm
    return float(math.sqrt(np.sum(t * dx)))


def slab_geometry(material: str, thickness_mm: float, pieces: int = 1) -> Geometry:
    """One slab (or ``pieces`` consecutive slabs of it, each its own region) followed by a negligible sensitive
    probe: for single-slab experiments."""
    mats = load_materials()
    d = thickness_mm / pieces
    det = tuple(Slab(material, d, k * d, False, -1, 1 + k, "slab") for k in range(pieces)) + (
        Slab("air", 1e-6, thickness_mm, True, 0, pieces + 1, "probe"),)
    return Geometry("slab", f"{thickness_mm} mm {material}", Sensor(1e6, 1e6, 0.03, 0.03, 0.025),
                    Phantom("water", 0.0, 0.0), det, mats)


def pencil_through(geometry: Geometry, energy_mev: float, n: int, seed: int = 0,
                   physics: PhysicsConfig | None = None, max_step_mm: float = 10.0, device="cpu"):
    """Send ``n`` ideal protons (point, parallel, mono-energetic) along +z; return the transport result."""
    physics = physics or PhysicsConfig()
    steps = build_steps(geometry, max_step_mm=max_step_mm, device=device)
    g = torch.Generator(device=device)
    g.manual_seed(seed)
    dt = torch.float64
    z = torch.zeros(n, dtype=dt, device=device)
    p = Particles(z.clone(), z.clone(), z.clone(), z.clone(), torch.ones(n, dtype=dt, device=device),
                  torch.full((n,), float(energy_mev), dtype=dt, device=device), torch.ones(n, dtype=dt, device=device),
                  torch.zeros(n, dtype=torch.long, device=device), torch.arange(n, device=device),
                  torch.ones(n, dtype=torch.long, device=device), torch.zeros(n, dtype=torch.long, device=device),
                  torch.ones(n, dtype=torch.bool, device=device))
    return transport(p, steps, physics, g, n, (1e9, 1e9))


def slab_scattering(material: str, thickness_mm: float, energy_mev: float, n: int = 20000, seed: int = 0,
                    physics: PhysicsConfig | None = None, pieces: int = 1) -> dict:
    """Projected angle and lateral rms after one slab, with the Highland prediction (entrance momentum). With
    ``pieces > 1`` the slab is cut into that many slabs of separate regions (one layer stack each): the same
    material grouped otherwise."""
    geo = slab_geometry(material, thickness_mm, pieces)
    res = pencil_through(geo, energy_mev, n, seed, physics or PhysicsConfig(nuclear=False))
    ex = {k: v.numpy() for k, v in res.exit.items()}
    th_x = np.arctan2(ex["ux"], ex["uz"])
    th_y = np.arctan2(ex["uy"], ex["uz"])
    x0 = geo.materials[material].X0_mm
    return {
        "material": material, "thickness_mm": thickness_mm, "energy_mev": energy_mev,
        "theta_rms_mrad": 1e3 * float(np.sqrt(0.5 * (th_x.var() + th_y.var()))),
        "lateral_rms_mm": float(np.sqrt(0.5 * (ex["x"].var() + ex["y"].var()))),
        "highland_mrad": 1e3 * highland_theta0(thickness_mm / x0, energy_mev),
        "highland_lateral_mm": thickness_mm * highland_theta0(thickness_mm / x0, energy_mev) / math.sqrt(3.0),
        "highland_lynch_dahl_mrad": 1e3 * highland_theta0(thickness_mm / x0, energy_mev, lynch_dahl_beta=True),
        "exit_energy_mev": float(ex["e"].mean()),
    }


def stack_geometry(geometry: Geometry, kind: str = "calorimeter") -> Geometry:
    """The first layer stack of the given kind alone, followed by a negligible probe (one detector layer)."""
    slabs = [s for s in geometry.detector if s.kind == kind]
    region = slabs[0].region
    layer = [s for s in slabs if s.region == region]
    z0 = layer[0].z0_mm
    det = tuple(Slab(s.material, s.thickness_mm, s.z0_mm - z0, False, -1, 1, kind) for s in layer)
    end = det[-1].z1_mm
    det = det + (Slab("air", 1e-6, end, True, 0, 2, "probe"),)
    return replace(geometry, detector=det, phantom=Phantom("water", 0.0, 0.0),
                   sensor=Sensor(1e6, 1e6, 0.03, 0.03, geometry.sensor.epitaxial_mm))


def stack_scattering(geometry: Geometry, energies, kind: str = "calorimeter", n: int = 20000, seed: int = 0):
    """Rows of (energy, our rms angle and lateral offset after one layer stack, Highland for the stack's x/X0)."""
    geo = stack_geometry(geometry, kind)
    x_over_x0 = sum(s.thickness_mm / geo.materials[s.material].X0_mm for s in geo.detector)
    thick = sum(s.thickness_mm for s in geo.detector)
    rows = []
    for e in energies:
        res = pencil_through(geo, float(e), n, seed, PhysicsConfig(nuclear=False))
        ex = {k: v.numpy() for k, v in res.exit.items()}
        th = np.concatenate([np.arctan2(ex["ux"], ex["uz"]), np.arctan2(ex["uy"], ex["uz"])])
        lat = np.concatenate([ex["x"], ex["y"]])
        hl = highland_theta0(x_over_x0, float(e))
        rows.append({"energy_mev": float(e), "x_over_x0": x_over_x0, "theta_rms_mrad": 1e3 * float(th.std()),
                     "highland_mrad": 1e3 * hl, "lateral_rms_um": 1e3 * float(lat.std()),
                     "highland_lateral_um": 1e3 * thick * hl / math.sqrt(3.0)})
    return rows


def nuclear_survival(material: str, thickness_mm: float, energy_mev: float, n: int = 20000, seed: int = 0):
    """Depths [mm] of inelastic interactions of a pencil beam in a thick slab (NaN: none), and the stopping depths."""
    res = pencil_through(slab_geometry(material, thickness_mm), energy_mev, n, seed, PhysicsConfig(secondaries=False))
    return res.inelastic_z.numpy(), res.stop_z.numpy()


def gottschalk_comparison(material: str, thicknesses_mm, energy_mev: float = 158.6, n: int = 20000,
                          seed: int = 0) -> list[dict]:
    """Our projected rms exit angle after thick slabs against :func:`gottschalk_theta0` (no nuclear interactions;
    the rms of the projected angle of the transported protons, both planes pooled)."""
    rows = []
    for t in thicknesses_mm:
        res = pencil_through(slab_geometry(material, float(t)), energy_mev, n, seed, PhysicsConfig(nuclear=False))
        ex = {k: v.numpy() for k, v in res.exit.items()}
        th = np.concatenate([np.arctan2(ex["ux"], ex["uz"]), np.arctan2(ex["uy"], ex["uz"])])
        ref = gottschalk_theta0(material, float(t), energy_mev)
        rows.append({"material": material, "thickness_mm": float(t), "energy_mev": energy_mev,
                     "exit_energy_mev": float(ex["e"].mean()), "theta_rms_mrad": 1e3 * float(th.std()),
                     "gottschalk_mrad": 1e3 * ref, "ratio": float(th.std()) / ref})
    return rows


def kink_widths(hits: np.ndarray, layers=None) -> list[dict]:
    """Robust width of the projected kink angle of primaries at each calorimeter layer k: the change of direction
    between the segments (k-1 -> k) and (k -> k+1) of one primary (trackID 1) with exactly one hit in each of the
    three layers, in the x-z and y-z planes pooled; width = 1.4826 x median absolute deviation (the Gaussian core,
    insensitive to the single-scattering tail and to nuclear kinks)."""
    h = hits[hits["trackID"] == 1]
    ev, lay = h["eventID"].astype(np.int64), h["layer"].astype(np.int64)
    key = ev * 64 + lay
    uniq, counts = np.unique(key, return_counts=True)
    single = uniq[counts == 1]
    keep = np.isin(key, single)
    h, ev, lay, key = h[keep], ev[keep], lay[keep], key[keep]
    order = np.argsort(key)
    h, key = h[order], key[order]
    pos = {c: h[c] for c in ("posX", "posY", "posZ")}
    if layers is None:
        layers = range(3, int(lay.max()) if lay.size else 3)
    rows = []
    for k in layers:
        e_k = ev[lay == k]
        trip = []
        for d in (-1, 0, 1):
            want = e_k * 64 + k + d
            i = np.searchsorted(key, want).clip(max=key.size - 1)
            trip.append((i, key[i] == want))
        ok = trip[0][1] & trip[1][1] & trip[2][1]
        if ok.sum() < 20:
            continue
        a, b, c = (t[0][ok] for t in trip)
        ang = []
        for coord in ("posX", "posY"):
            s1 = np.arctan2(pos[coord][b] - pos[coord][a], pos["posZ"][b] - pos["posZ"][a])
            s2 = np.arctan2(pos[coord][c] - pos[coord][b], pos["posZ"][c] - pos["posZ"][b])
            ang.append(s2 - s1)
        kink = np.concatenate(ang)
        mad = np.median(np.abs(kink - np.median(kink)))
        rows.append({"layer": int(k), "primaries": int(ok.sum()), "kink_width_mrad": 1e3 * 1.4826 * float(mad),
                     "kink_rms_mrad": 1e3 * float(kink.std())})
    return rows


def lvb_most_probable(thickness_um: float, e_kin_mev: float, material_name: str = "silicon") -> dict:
    """Landau-Vavilov-Bichsel most probable deposit and Landau's FWHM of a thin layer (PDG review "Passage of
    particles through matter", Eq. 34.12, delta neglected at these energies): Delta_p = xi [ln(2 m c^2 b^2 g^2 / I)
    + ln(xi / I) + j - beta^2], j = 0.200, xi = (K/2) (Z/A) x / beta^2; FWHM = 4.018 xi. Energies in MeV."""
    from .constants import K_BETHE, M_E
    from .materials import load_materials

    mat = load_materials()[material_name]
    b2, g = beta2_gamma(e_kin_mev)
    x = mat.density * thickness_um * 1e-4
    xi = 0.5 * K_BETHE * mat.z_over_a * x / b2
    i = mat.I_eV * 1e-6
    mpv = xi * (math.log(2 * M_E * b2 * g * g / i) + math.log(xi / i) + 0.200 - b2)
    return {"xi_mev": xi, "mpv_mev": mpv, "fwhm_mev": 4.018 * xi}


def thin_layer_deposits(thickness_um: float, e_kin_mev: float, n: int = 50000, seed: int = 0,
                        physics: PhysicsConfig | None = None) -> dict:
    """Deposits of ``n`` protons crossing one sensitive silicon layer: most probable value and FWHM of the
    simulated distribution (a smoothed fine histogram around its peak) beside :func:`lvb_most_probable`."""
    mats = load_materials()
    t = thickness_um * 1e-3
    det = (Slab("silicon", t, 0.0, True, 0, 1, "sensor"), Slab("air", 1e-6, t, False, -1, 2, "after"))
    geo = Geometry("thin", f"{thickness_um} um Si", Sensor(1e6, 1e6, 0.03, 0.03, t), Phantom("water", 0.0, 0.0),
                   det, mats)
    res = pencil_through(geo, e_kin_mev, n, seed, physics or PhysicsConfig(nuclear=False, scattering=False))
    dep = res.hits["edep"].numpy()
    ref = lvb_most_probable(thickness_um, e_kin_mev)
    xi = ref["xi_mev"]
    edges = ref["mpv_mev"] + xi * np.linspace(-6.0, 14.0, 801)
    h, _ = np.histogram(dep, bins=edges)
    kern = np.exp(-0.5 * (np.arange(-12, 13) / 4.0) ** 2)  # Gaussian smoothing over ~0.1 xi
    hs = np.convolve(h, kern / kern.sum(), mode="same")
    c = 0.5 * (edges[1:] + edges[:-1])
    k = int(np.argmax(hs))
    above = np.nonzero(hs >= 0.5 * hs[k])[0]
    # the half-maximum crossings by linear interpolation on both sides of the contiguous peak region
    lo, hi = above[0], above[-1]

    def cross(i0, i1):
        y0, y1 = hs[i0] - 0.5 * hs[k], hs[i1] - 0.5 * hs[k]
        return c[i0] + (c[i1] - c[i0]) * (-y0) / (y1 - y0) if y1 != y0 else c[i0]

    fwhm = cross(hi, hi + 1) - cross(lo - 1, lo)
    return {"thickness_um": thickness_um, "energy_mev": e_kin_mev, "hits": int(dep.size),
            "mpv_kev": 1e3 * float(c[k]), "lvb_mpv_kev": 1e3 * ref["mpv_mev"],
            "fwhm_kev": 1e3 * float(fwhm), "lvb_fwhm_kev": 1e3 * ref["fwhm_mev"],
            "median_kev": 1e3 * float(np.median(dep)), "mean_kev": 1e3 * float(dep.mean()),
            "mpv_ratio": float(c[k]) / ref["mpv_mev"], "fwhm_ratio": float(fwhm) / ref["fwhm_mev"]}
