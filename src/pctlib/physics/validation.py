"""Reference formulas and small experiments used to validate the transport (tests and the physics chapter)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch

from .constants import HIGHLAND_E, HIGHLAND_LOG, p_beta_c
from .geometry import Geometry, Phantom, Sensor, Slab
from .materials import load_materials
from .steps import build_steps
from .transport import Particles, PhysicsConfig, transport


def highland_theta0(x_over_x0: float, e_kin_mev: float) -> float:
    """PDG Highland width [rad] of the projected angle for unit charge."""
    return HIGHLAND_E / p_beta_c(e_kin_mev) * math.sqrt(x_over_x0) * (1 + HIGHLAND_LOG * math.log(x_over_x0))


def slab_geometry(material: str, thickness_mm: float) -> Geometry:
    """One slab followed by a negligible sensitive probe: for single-slab experiments."""
    mats = load_materials()
    det = (Slab(material, thickness_mm, 0.0, False, -1, 1, "slab"),
           Slab("air", 1e-6, thickness_mm, True, 0, 2, "probe"))
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


def slab_scattering(material: str, thickness_mm: float, energy_mev: float, n: int = 20000, seed: int = 0) -> dict:
    """Projected angle and lateral rms after one slab, with the Highland prediction (entrance momentum)."""
    geo = slab_geometry(material, thickness_mm)
    res = pencil_through(geo, energy_mev, n, seed, PhysicsConfig(nuclear=False))
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
