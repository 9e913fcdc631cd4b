"""Secondary protons from inelastic proton-nucleus interactions: a simple phenomenological model.

The primary ends at the interaction. The number of secondary protons is Poisson distributed (mean
``multiplicity``). Each is, with probability ``knockout_fraction``, a *quasi-elastic knock-out* proton carrying a
uniform fraction f of the primary's energy (``knockout_energy``) at the angle of free proton-proton elastic
kinematics, cos^2(theta) = f, smeared by the Fermi motion of the struck nucleon (``fermi_smear`` rad), and
otherwise a *cascade/evaporation* proton with an exponential spectrum (mean ``cascade_mean_fraction`` of the
primary's energy, plus 1 MeV) emitted isotropically. The defaults give about 1.6 secondary protons per inelastic
event carrying about 57 % of the incident energy, the share ICRU Report 63 gives for ~150 MeV protons on oxygen.
Neutrons, photons and heavy fragments leave no hits in the sensors (heavy fragments stop within micrometres) and are
not followed. The secondaries are transported like primaries but do not interact again (an inelastic interaction
absorbs them).

This is not a nuclear model: it gives wide-angle tracks with a plausible spectrum so that the tracking sees the
extra hits of nuclear events. The fraction of primaries *lost* to nuclear interactions, which matters most, comes
from the material cross sections (``materials.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .particles import Particles, perpendicular_basis




@dataclass(frozen=True)
class SecondaryModel:
    multiplicity: float = 1.6
    knockout_fraction: float = 0.4
    knockout_energy: tuple[float, float] = (0.5, 0.95)
    fermi_smear: float = 0.1  # [rad]
    cascade_mean_fraction: float = 0.1
    min_energy_mev: float = 1.0


def emit_secondaries(model: SecondaryModel, gen: torch.Generator, e, x, y, z, ux, uy, uz, event, parent_track, step,
                     min_uz: float):
    """Secondaries of interactions at (x, y, z) with primary energy ``e``; a ``Particles`` batch or ``None``."""
    dev, dt = e.device, e.dtype
    n_int = e.numel()
    counts = torch.poisson(torch.full((n_int,), model.multiplicity, device=dev, dtype=dt), generator=gen).long()
    total = int(counts.sum())
    if total == 0:
        return None
    src = torch.repeat_interleave(torch.arange(n_int, device=dev), counts)
    # trackIDs 2, 3, ... within each event (the primary is 1)
    first = torch.cumsum(counts, 0) - counts
    rank = torch.arange(total, device=dev) - first[src]
    e0 = e[src]
    r = torch.rand((4, total), generator=gen, device=dev, dtype=dt)
    knock = r[0] < model.knockout_fraction
    lo, hi = model.knockout_energy
    f_knock = lo + (hi - lo) * r[1]
    e_knock = e0 * f_knock
    e_casc = 1.0 + model.cascade_mean_fraction * e0 * (-torch.log(r[2].clamp_min(1e-12)))
    es = torch.where(knock, e_knock, e_casc).minimum(e0)
    theta_knock = (torch.arccos(torch.sqrt(f_knock))
                   + model.fermi_smear * torch.randn(total, generator=gen, device=dev, dtype=dt)).abs()
    cos_iso = 2.0 * r[3] - 1.0
    theta = torch.where(knock, theta_knock.clamp_max(math.pi), torch.arccos(cos_iso))
    phi = 2 * math.pi * torch.rand(total, generator=gen, device=dev, dtype=dt)
    pux, puy, puz = ux[src], uy[src], uz[src]
    (e1x, e1y, e1z), (e2x, e2y, e2z) = perpendicular_basis(pux, puy, puz)
    st, ct = torch.sin(theta), torch.cos(theta)
    cp, sp = torch.cos(phi), torch.sin(phi)
    nx = ct * pux + st * (cp * e1x + sp * e2x)
    ny = ct * puy + st * (cp * e1y + sp * e2y)
    nz = ct * puz + st * (cp * e1z + sp * e2z)
    keep = (es >= model.min_energy_mev) & (nz > min_uz)
    if not bool(keep.any()):
        return None
    k = keep.nonzero().squeeze(1)
    zs = z[src[k]]
    frac = ((step.z1 - zs) / step.thickness).clamp(0.0, 1.0)
    return Particles(
        x=x[src[k]], y=y[src[k]], ux=nx[k], uy=ny[k], uz=nz[k], e=es[k], frac=frac,
        start=torch.full((k.numel(),), step.index, device=dev, dtype=torch.long),
        event=event[src[k]], track=(2 + rank[k]).to(torch.long), parent=parent_track[src[k]].to(torch.long),
        primary=torch.zeros(k.numel(), dtype=torch.bool, device=dev),
    )
