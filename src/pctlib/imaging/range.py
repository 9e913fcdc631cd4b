"""Per-track residual range in the detector and the water-equivalent path length (WEPL) of the phantom.

Depth scale. Every slab of the detector is converted to its water-equivalent thickness (WET): thickness × the
ratio of its linear stopping power to water's at ``reference_mev`` (PSTAR-based tables, ``physics.stopping``;
the ratio changes by about 1 % between 50 and 200 MeV for aluminium). :func:`layer_depths` gives the WET depth of
every sensitive layer's mid-plane from the detector front.

Two estimators of a track's residual range in the detector, R_det (water-equivalent mm from the detector front):

* ``"layer"`` — from the stopping layer only: the proton stops somewhere between its deepest hit's layer L and the
  next sensitive layer, so R_det = d_L + (d_{L+1} − d_L) / 2 (error about ±(d_{L+1} − d_L)/√12 from the position
  inside the layer alone);
* ``"bragg"`` — a Bragg–Kleeman fit of the deposits along the track's last ``fit_hits`` hits: in a thin layer at
  residual range r the deposit is ∝ dE/dx ∝ r^(1/p − 1) (R = α E^p, p = 1.7547 for water, REFERENCE.md), so
  log e_i = log c + (1/p − 1) log(R_det − d_i). R_det is searched on a grid within the stopping layer's interval
  (d_L, d_{L+1}] and c is solved in closed form; the grid point of least squared log residual wins.

The WEPL of the phantom follows from a calibration made with the Monte Carlo (:class:`WeplCalibration`): protons
of one beam energy through known water thicknesses, the mean R_det of the primaries that did not interact per
thickness, and a straight line WEPL = a + b R_det fitted to them (b ≈ −1: every millimetre of water in the phantom
is a millimetre less of range in the detector). It is a calibration: its parameters come from the simulation it is
applied to; the chapter and the tests quote its error on thicknesses it was not fitted on.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

import numpy as np

#: Bragg–Kleeman exponent of water (REFERENCE.md: R[mm] = 0.02387 E^1.7547)
BK_P = 1.7547
ESTIMATORS = ("layer", "bragg")


class RangeError(ValueError):
    """A track or calibration that cannot give a range."""


def slab_wet(geometry, reference_mev: float = 100.0) -> list[float]:
    """WET [mm] of every detector slab (``geometry.detector``) at ``reference_mev``."""
    from ..physics.stopping import StoppingTable

    tables: dict[str, object] = {}

    def lin(name):
        if name not in tables:
            tables[name] = StoppingTable.build(geometry.materials[name])
        return float(tables[name].linear_stopping_power(reference_mev))

    w = lin("water")
    return [s.thickness_mm * lin(s.material) / w for s in geometry.detector]


def layer_depths(geometry, reference_mev: float = 100.0) -> np.ndarray:
    """WET depth [mm] of the mid-plane of every sensitive layer from the front of the detector, and one more entry:
    the depth of the detector's back face (where a proton that crossed the last layer leaves)."""
    wet = slab_wet(geometry, reference_mev)
    out, depth = [], 0.0
    for s, w in zip(geometry.detector, wet):
        if s.sensitive:
            out.append(depth + 0.5 * w)
        depth += w
    return np.array(out + [depth])


@dataclass(frozen=True)
class RangeModel:
    """What a range estimate needs: the layers' WET depths (``layer_depths``) and the estimator's settings."""

    depths: tuple[float, ...]
    estimator: str = "layer"
    fit_hits: int = 6
    grid: int = 64

    def __post_init__(self):
        if self.estimator not in ESTIMATORS:
            raise RangeError(f"estimator must be one of {ESTIMATORS}, got {self.estimator!r}")
        if len(self.depths) < 2 or np.any(np.diff(self.depths) <= 0):
            raise RangeError("depths must increase, one per layer and one for the detector's back")
        if self.fit_hits < 2 or self.grid < 2:
            raise RangeError("fit_hits and grid must be at least 2")

    @classmethod
    def of(cls, geometry, estimator: str = "layer", reference_mev: float = 100.0, **kw) -> "RangeModel":
        return cls(tuple(float(d) for d in layer_depths(geometry, reference_mev)), estimator, **kw)


def residual_ranges(tracks: list[tuple[np.ndarray, np.ndarray]], model: RangeModel) -> np.ndarray:
    """R_det [WET mm] of every track given as (layers, deposits [MeV]) of its hits (any order; NaN for a track
    without hits)."""
    d = np.asarray(model.depths)
    n_layers = d.size - 1
    out = np.full(len(tracks), np.nan)
    last = np.array([int(np.max(l)) if len(l) else -1 for l, _ in tracks])
    if np.any(last >= n_layers):
        raise RangeError(f"a track has a hit in layer {last.max()}, the model has {n_layers} layers")
    ok = last >= 0
    lo = np.where(ok, d[np.maximum(last, 0)], np.nan)
    hi = np.where(ok, d[np.maximum(last, 0) + 1], np.nan)
    if model.estimator == "layer":
        out[ok] = 0.5 * (lo[ok] + hi[ok])
        return out
    # Bragg-Kleeman: pad the last fit_hits hits of each track
    k = model.fit_hits
    dep = np.full((len(tracks), k), np.nan)
    z = np.full((len(tracks), k), np.nan)
    for i, (l, e) in enumerate(tracks):
        if not len(l):
            continue
        l, e = np.asarray(l), np.asarray(e, float)
        order = np.argsort(l, kind="stable")[-k:]
        good = e[order] > 0
        dep[i, :good.sum()] = e[order][good]
        z[i, :good.sum()] = d[l[order][good]]
    q = 1.0 / BK_P - 1.0
    # grid inside (lo, hi]: never at lo itself, where the deepest hit's residual range would be 0
    f = (np.arange(1, model.grid + 1) / model.grid)[None, :, None]  # (1, G, 1)
    r0 = lo[:, None, None] + f * (hi - lo)[:, None, None]  # (T, G, 1)
    resid_r = r0 - z[:, None, :]  # (T, G, k)
    valid = np.isfinite(dep)[:, None, :] & (resid_r > 0)
    logr = np.log(np.where(valid, resid_r, 1.0))
    loge = np.log(np.where(np.isfinite(dep), dep, 1.0))[:, None, :]
    n = valid.sum(-1)
    logc = np.where(valid, loge - q * logr, 0.0).sum(-1) / np.maximum(n, 1)
    ss = np.where(valid, (loge - logc[..., None] - q * logr) ** 2, 0.0).sum(-1)
    ss = np.where(n >= 2, ss, np.inf)
    best = np.argmin(ss, axis=1)
    fitted = r0[np.arange(len(tracks)), best, 0]
    few = ~np.isfinite(ss[np.arange(len(tracks)), best])  # fewer than 2 usable deposits: the layer estimate
    out[ok] = np.where(few[ok], 0.5 * (lo[ok] + hi[ok]), fitted[ok])
    return out


@dataclass(frozen=True)
class WeplCalibration:
    """WEPL = intercept + slope × R_det, fitted to Monte Carlo points (:meth:`fit`)."""

    intercept: float
    slope: float
    estimator: str
    energy_mev: float
    points: tuple[tuple[float, float], ...] = ()  # (water thickness, mean R_det) it was fitted on

    @classmethod
    def fit(cls, thickness_mm, mean_r_det, estimator: str, energy_mev: float) -> "WeplCalibration":
        t, r = np.asarray(thickness_mm, float), np.asarray(mean_r_det, float)
        if t.size < 2 or np.unique(r).size < 2:
            raise RangeError("a calibration needs at least two thicknesses with different ranges")
        slope, intercept = np.polyfit(r, t, 1)
        return cls(float(intercept), float(slope), estimator, float(energy_mev),
                   tuple((float(a), float(b)) for a, b in zip(t, r)))

    def wepl(self, r_det) -> np.ndarray:
        return self.intercept + self.slope * np.asarray(r_det, float)

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def primary_tracks(hits: np.ndarray, clean_only: bool = True) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """The true tracks of the primaries of a hit table: (eventIDs, [(layers, deposits)]), one per event with a
    primary hit; with ``clean_only``, only events whose primary had no inelastic nuclear interaction
    (``primaryInelastic`` = 0)."""
    prim = (np.asarray(hits["trackID"]) == 1) & (np.asarray(hits["parentID"]) == 0)
    if clean_only:
        prim &= np.asarray(hits["primaryInelastic"]) == 0
    h = hits[prim]
    if not len(h):
        return np.zeros(0, np.int64), []
    order = np.lexsort((h["layer"], h["eventID"]))
    h = h[order]
    ev, start = np.unique(h["eventID"], return_index=True)
    bounds = np.r_[start, len(h)]
    tracks = [(h["layer"][a:b].astype(np.int64), h["edep"][a:b].astype(float)) for a, b in zip(bounds[:-1], bounds[1:])]
    return ev.astype(np.int64), tracks


def calibrate(geometry, thicknesses_mm, primaries: int, estimator: str = "layer", seed: int = 0,
              energy_mev: float | None = None, model: RangeModel | None = None) -> tuple[WeplCalibration, list[dict]]:
    """A :class:`WeplCalibration` from the Monte Carlo: ``primaries`` protons through each water thickness of
    ``geometry`` (its placement), the mean R_det of the clean primaries per thickness, a line through them.
    Returns the calibration and per thickness {'thickness_mm', 'mean_r_det', 'sd_r_det', 'tracks'}."""
    from ..physics.simulate import Simulator

    model = model or RangeModel.of(geometry, estimator)
    rows = []
    for k, t in enumerate(thicknesses_mm):
        sim = Simulator(geometry.with_phantom(float(t)))
        hits = sim.run(primaries, seed=seed * 1000 + k, progress=False).hits
        _, tracks = primary_tracks(hits)
        r = residual_ranges(tracks, model)
        r = r[np.isfinite(r)]
        rows.append({"thickness_mm": float(t), "mean_r_det": float(r.mean()) if r.size else math.nan,
                     "sd_r_det": float(r.std(ddof=1)) if r.size > 1 else math.nan, "tracks": int(r.size)})
    energy = energy_mev if energy_mev is not None else float(Simulator(geometry).beam.energy_mev)
    cal = WeplCalibration.fit([r["thickness_mm"] for r in rows], [r["mean_r_det"] for r in rows], model.estimator,
                              energy)
    return cal, rows
