"""Vectorised condensed-history transport of protons through the steps of a geometry (torch, CPU or GPU).

All particles of a batch move together, step by step along +z. In each step, for every particle still alive:

1. path length s = f T / u_z (f < 1 only for a secondary born inside the step); a particle whose residual range
   R(E) is shorter stops there;
2. inelastic nuclear interaction with probability 1 - exp(-Sigma s): a primary ends at a uniformly drawn point of
   its path and emits secondaries (``nuclear.py``); a secondary is absorbed;
3. mean energy loss from the range tables, E_out = E(R(E_in) - s), and Gaussian (Bohr) straggling with the
   variance S(E_out)^2 (V(E_in) - V(E_out)); in a thin sensitive slab the *deposited* energy is drawn from the
   Landau distribution (Moyal approximation, most probable value after Bichsel) or, where kappa = xi / T_max > 1,
   from a Gaussian;
4. multiple Coulomb scattering with the Highland width, its logarithm over the whole path as Lynch and Dahl
   prescribe for a mixture of slabs (PDG review "Passage of particles through matter"):
   theta0^2 = [13.6 MeV (1 + 0.038 ln(x/X0))]^2 int dx / (X0 (p beta c)^2), x/X0 the whole path traversed since
   the particle was born (optionally with Lynch and Dahl's beta^2 in the logarithm, ``lynch_dahl_beta``; off, as
   it overestimates thick-target widths against Moliere theory, see ``PhysicsConfig``). The logarithm makes widths non-additive, so every particle carries its accumulated x/X0 and
   int dx / (X0 (p beta c)^2), and each step adds the difference of theta0^2 before and after it: the width is a
   property of the material traversed, not of how the geometry file groups it into layer stacks (tested: one
   region or many give the same spread). ``PhysicsConfig.scattering_memory = "region"`` restarts the accumulators
   in every layer stack (the model before this change, kept for comparison: it makes kinks 15-22 % too narrow).
   Angle and lateral offset are drawn correlated (rho = sqrt(3)/2) in two planes.

Sensitive steps record one hit per particle crossing them inside the sensor: deposited energy, position at the
slab's mid-plane, layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .constants import HIGHLAND_E, HIGHLAND_LOG, K_BETHE, M_E, M_P, beta2_gamma
from .landau import LAMBDA_MODE, sample_lambda
from .nuclear import SecondaryModel, emit_secondaries
from .particles import Particles, perpendicular_basis
from .steps import Step


@dataclass(frozen=True)
class PhysicsConfig:
    """Switches and model constants of the transport (all on by default, except large-angle elastic scattering)."""

    straggling: bool = True
    landau: bool = True  # Landau fluctuations of the energy deposited in sensitive slabs
    scattering: bool = True
    nuclear: bool = True
    secondaries: bool = True
    elastic_nuclear: bool = False
    #: macroscopic large-angle elastic cross section as a fraction of the inelastic one
    elastic_ratio: float = 0.3
    #: mean angle of the large-angle elastic kick [rad] (exponential distribution)
    elastic_mean_angle: float = 0.06
    e_cut_mev: float = 0.3  # particles below this energy are stopped
    min_uz: float = 0.05  # particles flying more sideways than this are dropped
    #: deposit in thin sensitive slabs: "landau" (Landau's distribution, ``landau.py``) or "moyal" (the earlier
    #: Moyal approximation, its tail too light: median deposits ~0.7 xi too low)
    deposit_model: str = "landau"
    #: "path": the Highland logarithm over the whole path since birth; "region": restarted in every layer stack
    scattering_memory: str = "path"
    #: Lynch-Dahl's beta^2 inside the Highland logarithm, ln(x z^2 / (X0 beta^2)) (the PDG form). Off by default:
    #: with it our widths after thick water and aluminium slabs at 158.6 MeV are 4-14 % above Gottschalk's
    #: differential Moliere reference (validation.gottschalk_theta0), without it within 2.3 % (chapter 01_physics)
    lynch_dahl_beta: bool = False
    secondary_model: SecondaryModel = field(default_factory=SecondaryModel)

    def __post_init__(self):
        if self.deposit_model not in ("landau", "moyal"):
            raise ValueError(f"deposit_model must be 'landau' or 'moyal', got {self.deposit_model!r}")
        if self.scattering_memory not in ("path", "region"):
            raise ValueError(f"scattering_memory must be 'path' or 'region', got {self.scattering_memory!r}")


@dataclass
class TransportResult:
    """Hits and per-primary truth of one batch (tensors)."""

    hits: dict[str, torch.Tensor]
    stop_z: torch.Tensor  # z where each primary ended (stopped, absorbed or left) [mm]
    inelastic: torch.Tensor  # bool per primary: had an inelastic nuclear interaction
    inelastic_z: torch.Tensor  # z of that interaction (nan if none)
    n_secondaries: int
    #: state of the primaries that left the last step alive: x, y, ux, uy, uz, e, event
    exit: dict[str, torch.Tensor] = field(default_factory=dict)
    #: water-equivalent path length of each primary through the phantom [mm]: the sum of path × relative
    #: stopping power (at ``steps.RSP_MEV``) over the phantom steps it crossed (the truth of a radiograph)
    wepl: torch.Tensor | None = None


class _StepProps:
    """A step's tables and constants as the particles in it see them: the step's own, or, in a phantom step with
    inserts, each particle's material (``Step.variant_index``). Plain steps pay nothing: the step's own tables and
    scalars are returned as they are."""

    def __init__(self, step: Step, p: "Particles"):
        self.step = step
        self.v = step.variant_index(p.x, p.y)
        steps = [step] + [st for _, st in step.inserts]
        if self.v is None:
            self.sigma, self.x0, self.r_min, self.rsp = step.sigma_nuc_per_mm, step.x0_mm, step.r_min, step.rsp
        else:
            pick = lambda f: torch.as_tensor([f(st) for st in steps], dtype=p.e.dtype, device=p.e.device)[self.v]
            self.sigma = pick(lambda st: st.sigma_nuc_per_mm)
            self.x0 = pick(lambda st: st.x0_mm)
            self.r_min = pick(lambda st: st.r_min)
            self.rsp = pick(lambda st: st.rsp)
        self._steps = steps
        self.any_sigma = bool((self.sigma > 0).any()) if torch.is_tensor(self.sigma) else self.sigma > 0

    def _each(self, fn, x: torch.Tensor, idx: torch.Tensor | None) -> torch.Tensor:
        if self.v is None:
            return fn(self.step, x)
        v = self.v if idx is None else self.v[idx]
        out = None
        for k, st in enumerate(self._steps):  # each material's table only on its own particles
            m = v == k
            if bool(m.any()):
                val = fn(st, x[m])
                if out is None:
                    out = val.new_empty((x.shape[0],) + tuple(val.shape[1:]))
                out[m] = val
        return out if out is not None else fn(self.step, x)

    def table(self, log_e: torch.Tensor) -> torch.Tensor:
        return self._each(lambda st, x: st.table(x), log_e, None)

    def energy_at_range(self, r: torch.Tensor, idx: torch.Tensor | None = None) -> torch.Tensor:
        """E(R) with R clamped at the bottom of the tables, for all particles or those of ``idx``."""
        r_min = self.r_min if not torch.is_tensor(self.r_min) or idx is None else self.r_min[idx]
        r = torch.maximum(r, r_min) if torch.is_tensor(r_min) else r.clamp_min(r_min)
        return self._each(lambda st, x: _interp_log(st.log_e_of_r, x), r, idx)


def _interp_log(tab, x: torch.Tensor) -> torch.Tensor:
    return torch.exp(tab(torch.log(x)))


S, R, V, W = 0, 1, 2, 3  # columns of Step.table


def _normal(shape, gen, like: torch.Tensor) -> torch.Tensor:
    """Standard normal variates, drawn in float32 (several times faster than float64) whatever the state dtype."""
    return torch.randn(shape, generator=gen, device=like.device, dtype=torch.float32).to(like.dtype)


def _highland_var(cum_x: torch.Tensor, cum_w: torch.Tensor, beta2: torch.Tensor | None = None) -> torch.Tensor:
    """Highland theta0^2 from the accumulated x/X0 and int dx / (X0 (p beta c)^2); with ``beta2`` the
    Lynch-Dahl logarithm ln(x / (X0 beta^2))."""
    arg = cum_x.clamp_min(1e-12)
    if beta2 is not None:
        arg = arg / beta2.clamp_min(1e-6)
    corr = (1.0 + HIGHLAND_LOG * torch.log(arg)).clamp_min(0.0)
    return (HIGHLAND_E * corr) ** 2 * cum_w


def _landau_deposit(step: Step, e_in: torch.Tensor, path_mm: torch.Tensor, mean_loss: torch.Tensor,
                    gen: torch.Generator, model: str = "landau") -> torch.Tensor:
    """Energy deposited in a thin sensitive slab [MeV]: Landau's distribution around the Landau-Vavilov-Bichsel
    most probable value Delta_p = xi [ln(2 m c^2 beta^2 gamma^2 / I) + ln(xi / I) + 0.200 - beta^2] with
    xi = (K/2) (Z/A) x / beta^2 where kappa = xi / T_max < 1, else a Gaussian around the mean loss."""
    b2, g = beta2_gamma(e_in)
    x_gcm2 = step.density * path_mm / 10.0
    xi = 0.5 * K_BETHE * step.z_over_a * x_gcm2 / b2
    ratio = M_E / M_P
    tmax = 2.0 * M_E * b2 * g * g / (1.0 + 2.0 * g * ratio + ratio * ratio)
    kappa = xi / tmax
    i_mev = step.I_eV * 1e-6
    mpv = xi * (torch.log(2.0 * M_E * b2 * g * g / i_mev) + torch.log(xi / i_mev) + 0.200 - b2)
    if model == "landau":
        # truncated so that the mean deposit is the step's mean energy loss (landau.py)
        target = LAMBDA_MODE + (mean_loss - mpv) / xi
        landau = mpv + xi * (sample_lambda(e_in.shape, gen, e_in, mean=target) - LAMBDA_MODE)
    else:
        z = _normal(e_in.shape, gen, e_in)
        # Moyal variate -ln(z^2) has its mode at 0; 1.119 matches its FWHM (3.59) to Landau's (4.02 xi)
        landau = mpv + 1.119 * xi * (-torch.log(z * z + 1e-300))
    z2 = _normal(e_in.shape, gen, e_in)
    gauss = mean_loss + torch.sqrt(xi * tmax * (1.0 - 0.5 * b2)) * z2
    dep = torch.where(kappa < 1.0, landau, gauss)
    return dep.clamp(min=0.0).minimum(e_in).minimum(20.0 * mean_loss + 1e-6)


@dataclass
class _Truth:
    """Per-primary truth of a batch, filled in as the particles move."""

    stop_z: torch.Tensor
    inelastic: torch.Tensor
    inelastic_z: torch.Tensor
    wepl: torch.Tensor

    @classmethod
    def empty(cls, n: int, dev, dt) -> "_Truth":
        nan = torch.full((n,), float("nan"), device=dev, dtype=dt)
        return cls(nan, torch.zeros(n, dtype=torch.bool, device=dev), nan.clone(), torch.zeros(n, device=dev, dtype=dt))


@dataclass
class _Scattering:
    """The Highland accumulators of the moving particles: x/X0 and the integral of dx / (X0 (p beta c)^2) along
    the path, the variance already applied, and the layer stack (region) each particle is in."""

    cum_x: torch.Tensor
    cum_w: torch.Tensor
    var_prev: torch.Tensor
    region: torch.Tensor

    @classmethod
    def empty(cls, dev, dt) -> "_Scattering":
        z = torch.zeros(0, device=dev, dtype=dt)
        return cls(z, z.clone(), z.clone(), torch.zeros(0, device=dev, dtype=torch.long))

    def join(self, k: int, region: int) -> None:
        """``k`` particles start here, with empty accumulators."""
        z = torch.zeros(k, device=self.cum_x.device, dtype=self.cum_x.dtype)
        self.cum_x, self.cum_w = torch.cat([self.cum_x, z]), torch.cat([self.cum_w, z])
        self.var_prev = torch.cat([self.var_prev, z])
        self.region = torch.cat([self.region, torch.full((k,), region, device=z.device, dtype=torch.long)])

    def restart_new_regions(self, region: int) -> None:
        """The older model (``scattering_memory = "region"``): accumulators restart on entering a layer stack."""
        newreg = self.region != region
        if bool(newreg.any()):
            self.cum_x = torch.where(newreg, torch.zeros_like(self.cum_x), self.cum_x)
            self.cum_w = torch.where(newreg, torch.zeros_like(self.cum_w), self.cum_w)
            self.var_prev = torch.where(newreg, torch.zeros_like(self.var_prev), self.var_prev)
            self.region = torch.full_like(self.region, region)

    def keep(self, idx: torch.Tensor) -> None:
        self.cum_x, self.cum_w = self.cum_x[idx], self.cum_w[idx]
        self.var_prev, self.region = self.var_prev[idx], self.region[idx]


def nuclear_interactions(p: Particles, step: Step, props: _StepProps, config: PhysicsConfig, gen: torch.Generator,
                         s_eff: torch.Tensor, r_in: torch.Tensor, alive: torch.Tensor, truth: _Truth,
                         secondaries: list) -> int:
    """Inelastic interactions in the step (probability 1 - exp(-sigma s), ramped in below 20 MeV): the interacting
    particles end (``alive`` cleared), primaries record where, and (with ``config.secondaries``) emit secondaries,
    appended to ``secondaries``; returns how many were emitted."""
    dev, dt, n = p.e.device, p.e.dtype, len(p)
    e_in = p.e
    ramp = ((e_in - 8.0) / 12.0).clamp(0.0, 1.0)
    prob = 1.0 - torch.exp(-props.sigma * ramp * s_eff)
    u = torch.rand(n, generator=gen, device=dev, dtype=dt)
    hit_nuc = u < prob
    emitted = 0
    if bool(hit_nuc.any()):
        idx = hit_nuc.nonzero().squeeze(1)
        v = torch.rand(idx.numel(), generator=gen, device=dev, dtype=dt)
        d = v * s_eff[idx]
        xi = p.x[idx] + d * p.ux[idx]
        yi = p.y[idx] + d * p.uy[idx]
        zi = step.z0 + (1.0 - p.frac[idx]) * step.thickness + d * p.uz[idx]
        ei = props.energy_at_range(r_in[idx] - d, idx)
        prim = p.primary[idx]
        if bool(prim.any()):
            pi = idx[prim]
            ev = p.event[pi]
            truth.inelastic[ev] = True
            truth.inelastic_z[ev] = zi[prim]
            truth.stop_z[ev] = zi[prim]
            if config.secondaries:
                sec = emit_secondaries(config.secondary_model, gen, ei[prim], xi[prim], yi[prim], zi[prim],
                                       p.ux[pi], p.uy[pi], p.uz[pi], ev, p.track[pi], step, config.min_uz)
                if sec is not None:
                    secondaries.append(sec)
                    emitted += len(sec)
        alive[idx] = False
    return emitted


def record_deposits(hits: dict, p: Particles, step: Step, config: PhysicsConfig, gen: torch.Generator,
                    e_in: torch.Tensor, mean_loss: torch.Tensor, s_eff: torch.Tensor, stops: torch.Tensor,
                    alive: torch.Tensor, sensor_half: tuple[float, float]) -> None:
    """Hits of a sensitive slab: the deposit (Landau / Moyal fluctuations around the mean loss, or the mean; all
    that is left for a particle stopping here) at the slab's mid-plane crossing, for the particles still alive,
    inside the sensor, with a positive deposit and at least half the slab crossed."""
    dev, dt = p.e.device, p.e.dtype
    hx, hy = sensor_half
    dep = _landau_deposit(step, e_in, s_eff, mean_loss, gen, config.deposit_model) if config.landau else mean_loss
    dep = torch.where(stops, e_in, dep)
    zmid = step.z0 + 0.5 * step.thickness
    half = 0.5 * step.thickness * p.frac / p.uz
    hxp = p.x + half * p.ux
    hyp = p.y + half * p.uy
    rec = alive & (hxp.abs() <= hx) & (hyp.abs() <= hy) & (dep > 0) & (p.frac >= 0.5)
    if bool(rec.any()):
        ri = rec.nonzero().squeeze(1)
        hits["event"].append(p.event[ri])
        hits["track"].append(p.track[ri])
        hits["parent"].append(p.parent[ri])
        hits["edep"].append(dep[ri])
        hits["x"].append(hxp[ri])
        hits["y"].append(hyp[ri])
        hits["z"].append(torch.full((ri.numel(),), zmid, device=dev, dtype=dt))
        hits["layer"].append(torch.full((ri.numel(),), step.layer, device=dev, dtype=torch.long))


def straggle(e_mean: torch.Tensor, t_in: torch.Tensor, t_out: torch.Tensor, gen: torch.Generator,
             like: torch.Tensor) -> torch.Tensor:
    """Exit energy with Bohr's energy straggling: a Gaussian around the mean exit energy whose width comes from the
    tables' straggling integral (column V) between entrance and exit, scaled by the stopping power at the exit."""
    sig = t_out[:, S] * torch.sqrt((t_in[:, V] - t_out[:, V]).clamp_min(0.0))
    return e_mean + sig * _normal(e_mean.shape[0], gen, like)


def scatter(p: Particles, acc: _Scattering, props: _StepProps, config: PhysicsConfig, gen: torch.Generator,
            s: torch.Tensor, s_eff: torch.Tensor, t_in: torch.Tensor, t_out: torch.Tensor, e_in: torch.Tensor,
            e_out: torch.Tensor, stopped: torch.Tensor):
    """Multiple Coulomb scattering over the step: Highland's theta0 of the whole path so far (the accumulators)
    minus what was applied before, as correlated angle and lateral offset in the plane perpendicular to the
    direction; with ``elastic_nuclear`` also rare large elastic kicks. Returns the new position and direction."""
    n = len(p)
    dev, dt = p.e.device, p.e.dtype
    ux, uy, uz = p.ux, p.uy, p.uz
    x = p.x + s * ux
    y = p.y + s * uy
    if not config.scattering:
        return x, y, ux, uy, uz
    w_in = t_in[:, W]
    w_out = torch.where(stopped, torch.zeros_like(w_in), t_out[:, W])
    acc.cum_x = acc.cum_x + s_eff / props.x0
    acc.cum_w = acc.cum_w + (w_in - w_out).clamp_min(0.0)
    b2_out = beta2_gamma(torch.where(stopped, e_in, e_out).clamp_min(config.e_cut_mev))[0] \
        if config.lynch_dahl_beta else None
    var_tot = _highland_var(acc.cum_x, acc.cum_w, b2_out)
    var = (var_tot - acc.var_prev).clamp_min(0.0)
    acc.var_prev = var_tot
    th0 = torch.sqrt(var)
    z = _normal((4, n), gen, e_in)
    t1, t2 = th0 * z[0], th0 * z[1]
    c = s * th0
    d1 = c * (z[0] * 0.5 + z[2] * (0.5 / math.sqrt(3.0)))
    d2 = c * (z[1] * 0.5 + z[3] * (0.5 / math.sqrt(3.0)))
    (e1x, e1y, e1z), (e2x, e2y, e2z) = perpendicular_basis(ux, uy, uz)
    x = x + d1 * e1x + d2 * e2x
    y = y + d1 * e1y + d2 * e2y
    nx = ux + t1 * e1x + t2 * e2x
    ny = uy + t1 * e1y + t2 * e2y
    nz = uz + t1 * e1z + t2 * e2z
    if config.elastic_nuclear and props.any_sigma:
        pe = 1.0 - torch.exp(-config.elastic_ratio * props.sigma * s_eff)
        kick = torch.rand(n, generator=gen, device=dev, dtype=dt) < pe
        if bool(kick.any()):
            ang = -config.elastic_mean_angle * torch.log(
                torch.rand(n, generator=gen, device=dev, dtype=dt).clamp_min(1e-12))
            phi = 2 * math.pi * torch.rand(n, generator=gen, device=dev, dtype=dt)
            k1 = torch.where(kick, torch.tan(ang.clamp_max(1.4)) * torch.cos(phi), torch.zeros_like(ang))
            k2 = torch.where(kick, torch.tan(ang.clamp_max(1.4)) * torch.sin(phi), torch.zeros_like(ang))
            nx = nx + k1 * e1x + k2 * e2x
            ny = ny + k1 * e1y + k2 * e2y
            nz = nz + k1 * e1z + k2 * e2z
    norm = torch.sqrt(nx * nx + ny * ny + nz * nz)
    return x, y, nx / norm, ny / norm, nz / norm


def end_of_step(p: Particles, step: Step, config: PhysicsConfig, truth: _Truth, acc: _Scattering,
                stopped: torch.Tensor, alive: torch.Tensor, s_eff: torch.Tensor, x, y, ux, uy, uz,
                e_out: torch.Tensor) -> Particles:
    """Bookkeeping after a step: primaries that stopped here record where, those turned back or sideways
    (direction below ``min_uz``) record the step's end; the particles going on continue at the next step."""
    dev, dt = p.e.device, p.e.dtype
    ends_here = stopped & alive
    if bool(ends_here.any()):
        pr = p.primary & ends_here
        if bool(pr.any()):
            zs = step.z0 + (1.0 - p.frac[pr]) * step.thickness + s_eff[pr] * p.uz[pr]
            truth.stop_z[p.event[pr]] = zs
    alive = alive & ~stopped & (uz > config.min_uz)
    gone_side = ~stopped & (uz <= config.min_uz) & p.primary
    if bool(gone_side.any()):
        truth.stop_z[p.event[gone_side]] = step.z1
    keep = alive.nonzero().squeeze(1)
    acc.keep(keep)
    return Particles(x[keep], y[keep], ux[keep], uy[keep], uz[keep], e_out[keep],
                     torch.ones(keep.numel(), device=dev, dtype=dt), p.start[keep], p.event[keep],
                     p.track[keep], p.parent[keep], p.primary[keep])


def transport(
    particles: Particles,
    steps: list[Step],
    config: PhysicsConfig,
    gen: torch.Generator,
    n_primaries: int,
    sensor_half: tuple[float, float],
    record_hits: bool = True,
) -> TransportResult:
    """Transport a batch of primaries (``event`` 0..n-1 local to the batch), then their secondaries: step by step,
    the particles of a step together; in each step nuclear interactions (:func:`nuclear_interactions`), energy
    loss (mean loss from the range tables; :func:`record_deposits` in sensitive slabs, :func:`straggle`
    elsewhere), :func:`scatter` and :func:`end_of_step`."""
    dev, dt = particles.e.device, particles.e.dtype
    hits: dict[str, list[torch.Tensor]] = {k: [] for k in ("event", "track", "parent", "edep", "x", "y", "z", "layer")}
    truth = _Truth.empty(n_primaries, dev, dt)
    pending = [particles]
    n_secondaries = 0
    exit_state: dict[str, torch.Tensor] = {}
    while pending:
        batch = Particles.cat(pending)
        pending = []
        order = torch.argsort(batch.start, stable=True)
        batch = batch.take(order)
        starts = batch.start
        p = batch.take(starts[:0].long())  # the particles currently moving
        acc = _Scattering.empty(dev, dt)
        next_in = 0
        n_batch = len(batch)
        new_secondaries: list[Particles] = []
        for step in steps:
            # particles whose first step is this one join
            hi = int(torch.searchsorted(starts, torch.tensor(step.index, device=dev), right=True))
            if hi > next_in:
                p = Particles.cat([p, batch.take(torch.arange(next_in, hi, device=dev))])
                acc.join(hi - next_in, step.region)
                next_in = hi
            n = len(p)
            if n == 0:
                if next_in >= n_batch:
                    break
                continue
            if config.scattering_memory == "region":
                acc.restart_new_regions(step.region)
            e_in = p.e
            props = _StepProps(step, p)
            s = p.frac * step.thickness / p.uz
            t_in = torch.exp(props.table(torch.log(e_in)))  # S, R, V, W at the entrance energy
            r_in = t_in[:, R]
            stops = r_in <= s
            s_eff = torch.minimum(s, r_in)
            if step.kind == "phantom":  # truth WEPL of the primaries: path times relative stopping power
                pr = p.primary
                truth.wepl.index_add_(0, p.event[pr], (s_eff * props.rsp)[pr] if torch.is_tensor(props.rsp)
                                      else s_eff[pr] * props.rsp)
            alive = torch.ones(n, dtype=torch.bool, device=dev)
            if config.nuclear and props.any_sigma:
                n_secondaries += nuclear_interactions(p, step, props, config, gen, s_eff, r_in, alive, truth,
                                                      new_secondaries)
            e_mean = props.energy_at_range(r_in - s)
            t_out = torch.exp(props.table(torch.log(e_mean.clamp_min(1e-2))))  # S, R, V, W at the mean exit energy
            e_out = e_mean
            if step.sensitive:
                if record_hits:
                    record_deposits(hits, p, step, config, gen, e_in, e_in - e_mean, s_eff, stops, alive,
                                    sensor_half)
            elif config.straggling:
                e_out = straggle(e_mean, t_in, t_out, gen, e_in)
            stopped = stops | (e_out <= config.e_cut_mev)
            x, y, ux, uy, uz = scatter(p, acc, props, config, gen, s, s_eff, t_in, t_out, e_in, e_out, stopped)
            p = end_of_step(p, step, config, truth, acc, stopped, alive, s_eff, x, y, ux, uy, uz, e_out)
        # primaries still alive after the last step left the detector at its back
        if len(p):
            pr = p.primary
            truth.stop_z[p.event[pr]] = steps[-1].z1
            if not exit_state:
                exit_state = {k: getattr(p, k)[pr] for k in ("x", "y", "ux", "uy", "uz", "e", "event")}
        if new_secondaries:
            pending = new_secondaries
    out = {}
    for k, v in hits.items():
        if v:
            out[k] = torch.cat(v)
        else:
            out[k] = torch.zeros(0, device=dev, dtype=torch.long if k in ("event", "track", "parent", "layer") else dt)
    return TransportResult(out, truth.stop_z, truth.inelastic, truth.inelastic_z, n_secondaries, exit_state,
                           truth.wepl)
