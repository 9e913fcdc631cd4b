"""Transport steps: the geometry cut into steps, each with pre-computed energy tables.

A *step* is a run of consecutive non-sensitive slabs of one region (one layer stack), a single sensitive slab, or
a sub-step (at most ``max_step_mm`` long) of a thick slab such as the phantom. Within a passive step the slabs are
treated as a homogeneous mixture (their order inside one layer stack changes the mean energy loss only in second
order). For every step the following tables are computed once on a logarithmic energy grid and interpolated on the
fly (same code on CPU and GPU):

Columns of ``table`` (all as logarithms, against log E):

* ``S``: linear stopping power S(E) [MeV/mm], Bragg-additive over the slabs weighted by thickness;
* ``R``: CSDA range R(E) = int dE / S [mm] and its inverse E(R) (on a log-R grid);
* ``V``: range-straggling variance V(E) = int k(E) / S^3 dE [mm^2] with the Bohr variance density
  k = K m_e c^2 rho Z/A (1 - beta^2/2) / (1 - beta^2) [MeV^2/mm]; the energy variance after a path that leaves
  energy E' is S(E')^2 (V(E) - V(E')), exact for the Gaussian (Bohr) regime over any thickness;
* ``W``: Highland scattering integral W(E) = (1/X0) int dE / (S (p beta c)^2) [1/MeV^2]: the step adds
  W(E_in) - W(E_out) to the particle's int dx / (X0 (p beta c)^2);
* the macroscopic inelastic cross section Sigma [1/mm] (energy-independent above ~20 MeV, ramping to zero from
  20 MeV down to 8 MeV below the Coulomb barrier).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .constants import K_BETHE, M_E, beta2_gamma, p_beta_c
from .geometry import Geometry, Slab
from .materials import Material
from .stopping import StoppingTable

E_GRID_MIN, E_GRID_MAX = 1e-2, 1e3  # [MeV]
#: energy of the relative stopping powers that define the truth WEPL of the phantom [MeV]
RSP_MEV = 150.0


@dataclass
class UniformTable:
    """y(x) sampled on a uniform x grid (``y`` of shape (grid,) or (grid, columns)), linear interpolation with
    clamping at the ends. Several columns share one index computation."""

    x0: float
    dx: float
    y: torch.Tensor

    def __post_init__(self):
        self._dy = self.y[1:] - self.y[:-1]
        self._top = self.y.shape[0] - 1.000001

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        t = ((x - self.x0) / self.dx).clamp(0.0, self._top)
        # in float32 the clamp to the top rounds up to the last point itself: keep the index below it
        i = t.long().clamp_(max=self.y.shape[0] - 2)
        f = t - i
        if self.y.dim() == 2:  # index_select is several times faster than fancy indexing of rows
            return torch.index_select(self.y, 0, i) + f.unsqueeze(1) * torch.index_select(self._dy, 0, i)
        return torch.take(self.y, i) + f * torch.take(self._dy, i)


@dataclass
class Step:
    """One transport step."""

    index: int
    z0: float
    thickness: float
    region: int
    sensitive: bool
    layer: int
    kind: str
    materials: tuple[tuple[str, float], ...]  # (material, thickness) of the slabs merged into this step
    x0_mm: float
    sigma_nuc_per_mm: float
    #: columns log S, log R, log V, log W against log E
    table: UniformTable
    log_e_of_r: UniformTable  # log E(log R)
    r_min: float  # R at the bottom of the grid [mm]
    # thin sensitive layers: constants of the Landau model
    z_over_a: float
    density: float
    I_eV: float
    #: phantom steps: the inserts that cover this step, each with the step of its own material (same z, index,
    #: region); a particle takes the last insert whose cross-section holds its entrance position
    inserts: tuple = ()
    #: stopping power relative to water at ``RSP_MEV`` (phantom steps: the truth WEPL of a primary adds path × rsp)
    rsp: float = 1.0

    @property
    def z1(self) -> float:
        return self.z0 + self.thickness

    def variant_index(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
        """Per particle: 0 for this step's own material, k + 1 inside insert k (None without inserts)."""
        if not self.inserts:
            return None
        v = torch.zeros(x.shape, dtype=torch.long, device=x.device)
        for k, (ins, _) in enumerate(self.inserts):
            v = torch.where(ins.contains(x, y), torch.full_like(v, k + 1), v)
        return v


def _tables(slabs: list[tuple[Material, float]], table_cache: dict[str, StoppingTable], n: int):
    total = sum(t for _, t in slabs)
    log_e = np.linspace(math.log(E_GRID_MIN), math.log(E_GRID_MAX), n)
    e = np.exp(log_e)
    s = np.zeros(n)
    kvar = np.zeros(n)
    inv_x0 = 0.0
    sig = 0.0
    b2, g = beta2_gamma(e)
    bohr = (1.0 - 0.5 * b2) / (1.0 - b2)
    for m, t in slabs:
        f = t / total
        tab = table_cache.get(m.name)
        if tab is None:
            tab = table_cache[m.name] = StoppingTable.build(m)
        s += f * tab.stopping_power(e) * m.density / 10.0
        kvar += f * K_BETHE * M_E * m.density * m.z_over_a * bohr / 10.0
        inv_x0 += f / m.X0_mm
        sig += f * m.nuclear_sigma_per_mm
    dlog = log_e[1] - log_e[0]
    r0 = 2.0 * e[0] / s[0]
    r = r0 + np.concatenate([[0.0], np.cumsum(0.5 * (e[1:] / s[1:] + e[:-1] / s[:-1]) * dlog)])
    fv = kvar / s**3 * e
    v0 = kvar[0] / s[0] ** 3 * e[0]  # V ~ E near zero: a small, positive start
    vr = v0 + np.concatenate([[0.0], np.cumsum(0.5 * (fv[1:] + fv[:-1]) * dlog)])
    fw = e / (s * p_beta_c(e) ** 2)
    w0 = fw[0]
    wr = w0 + np.concatenate([[0.0], np.cumsum(0.5 * (fw[1:] + fw[:-1]) * dlog)])
    wr *= inv_x0
    return log_e, s, r, vr, wr, 1.0 / inv_x0, sig


def relative_stopping_power(materials: dict[str, Material], name: str, energy_mev: float = RSP_MEV,
                            cache: dict | None = None) -> float:
    """Linear stopping power of ``name`` relative to water's at ``energy_mev`` (the RSP of the truth WEPL)."""
    cache = {} if cache is None else cache
    for m in (name, "water"):
        if m not in cache:
            cache[m] = StoppingTable.build(materials[m])
    return float(cache[name].stopping_power(energy_mev) * materials[name].density
                 / (cache["water"].stopping_power(energy_mev) * materials["water"].density))


def build_steps(
    geometry: Geometry,
    max_step_mm: float = 10.0,
    grid_points: int = 1500,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float64,
) -> list[Step]:
    """Cut ``geometry`` (phantom included) into transport steps with their tables."""
    slabs = geometry.slabs()
    inserts = geometry.phantom.inserts
    runs: list[list[Slab]] = []
    for s in slabs:
        if s.kind == "phantom" and inserts:
            # cut at the inserts' faces first, then each piece into sub-steps (no insert: one piece, as below)
            cuts = sorted({0.0, s.thickness_mm, *(min(max(z, 0.0), s.thickness_mm) for ins in inserts
                                                   for z in ins.z_range(s.thickness_mm))})
            for a, b in zip(cuts[:-1], cuts[1:]):
                n = max(1, math.ceil((b - a) / max_step_mm))
                for j in range(n):
                    runs.append([Slab(s.material, (b - a) / n, s.z0_mm + a + j * (b - a) / n, False, -1, s.region,
                                      s.kind)])
            runs.append([])
            continue
        if s.thickness_mm > max_step_mm and not s.sensitive:
            n = math.ceil(s.thickness_mm / max_step_mm)
            dt = s.thickness_mm / n
            for j in range(n):
                runs.append([Slab(s.material, dt, s.z0_mm + j * dt, False, -1, s.region, s.kind)])
            runs.append([])  # close: the next slab starts a new step
            continue
        if runs and runs[-1] and not s.sensitive and not runs[-1][-1].sensitive and runs[-1][-1].region == s.region:
            runs[-1].append(s)
        else:
            runs.append([s])
    runs = [r for r in runs if r]
    cache: dict[str, StoppingTable] = {}
    memo: dict[tuple, tuple] = {}
    steps: list[Step] = []
    log_e_min, log_e_max = math.log(E_GRID_MIN), math.log(E_GRID_MAX)
    dle = (log_e_max - log_e_min) / (grid_points - 1)

    def tables_of(mats):
        if mats not in memo:
            log_e, s_, r, vr, wr, x0, sig = _tables([(geometry.materials[m], t) for m, t in mats], cache, grid_points)
            log_r = np.log(r)
            lr_grid = np.linspace(log_r[0], log_r[-1], grid_points)
            le_of_r = np.interp(lr_grid, log_r, log_e)

            def tab(y, x0_=log_e_min, dx=dle):
                return UniformTable(x0_, dx, torch.as_tensor(y, dtype=dtype, device=device))

            cols = np.stack([np.log(s_), log_r, np.log(vr), np.log(wr)], axis=1)
            memo[mats] = (tab(cols), tab(le_of_r, lr_grid[0], lr_grid[1] - lr_grid[0]), x0, sig, r[0])
        return memo[mats]

    def rsp(material: str) -> float:
        return relative_stopping_power(geometry.materials, material, cache=cache)

    def make(i, run, mats, material, variants=()):
        table, leor, x0, sig, rmin = tables_of(mats)
        first = run[0]
        main = geometry.materials[material]
        return Step(
            index=i, z0=first.z0_mm, thickness=sum(s.thickness_mm for s in run), region=first.region,
            sensitive=first.sensitive, layer=first.layer, kind=first.kind, materials=mats, x0_mm=x0,
            sigma_nuc_per_mm=sig, table=table, log_e_of_r=leor, r_min=float(rmin),
            z_over_a=main.z_over_a, density=main.density, I_eV=main.I_eV, inserts=variants,
            rsp=rsp(material) if first.kind == "phantom" else 1.0,
        )

    phantom_z0 = next((s.z0_mm for s in slabs if s.kind == "phantom"), 0.0)
    for i, run in enumerate(runs):
        mats = tuple((s.material, round(s.thickness_mm, 9)) for s in run)
        variants = []
        first = run[0]
        if first.kind == "phantom" and inserts:
            mid = first.z0_mm + 0.5 * first.thickness_mm - phantom_z0
            for ins in inserts:
                za, zb = ins.z_range(geometry.phantom.thickness_mm)
                if za <= mid < zb:
                    m = ((ins.material, round(first.thickness_mm, 9)),)
                    variants.append((ins, make(i, run, m, ins.material)))
        steps.append(make(i, run, mats, first.material, tuple(variants)))
    return steps
