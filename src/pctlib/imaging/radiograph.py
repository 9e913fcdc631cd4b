"""Proton radiographs: WEPL per track binned by the track's entry position, and the image metrics people quote
(issue 18).

* :func:`bin_radiograph` — mean (and standard deviation, count) of the WEPL of the tracks whose position falls in
  each pixel, by scipy's ``binned_statistic_2d``; a pixel without a track is NaN;
* :func:`region_stats` — mean, standard deviation and count of the pixels of a region (NaN pixels left out);
  :func:`wepl_error` — the mean WEPL of a region minus its true WEPL; noise is the standard deviation of the pixels
  of a uniform region;
* :func:`contrast_to_noise` — |mean_a − mean_b| / sqrt((sd_a² + sd_b²) / 2) of two regions;
* :func:`edge_width_10_90` — spatial resolution as the distance between the 10 % and 90 % levels of an edge
  profile, the levels taken between the means of its two plateaus (the first and last ``plateau`` samples); for a
  step blurred by a Gaussian of width σ it is 2 × 1.2816 σ = 2.563 σ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class Radiograph:
    mean: np.ndarray  # (nx, ny) mean WEPL [mm] per pixel (NaN: no track)
    std: np.ndarray  # (nx, ny) standard deviation of the tracks' WEPL per pixel (NaN below 2 tracks)
    count: np.ndarray  # (nx, ny) tracks per pixel
    x_edges: np.ndarray
    y_edges: np.ndarray

    @property
    def x_centres(self) -> np.ndarray:
        return 0.5 * (self.x_edges[1:] + self.x_edges[:-1])

    @property
    def y_centres(self) -> np.ndarray:
        return 0.5 * (self.y_edges[1:] + self.y_edges[:-1])


def bin_radiograph(x, y, wepl, bins: tuple[int, int], extent: tuple[tuple[float, float], tuple[float, float]]
                   ) -> Radiograph:
    """The radiograph of tracks at positions (x, y) [mm] with WEPL values; tracks outside ``extent`` or with a NaN
    WEPL are left out."""
    from scipy.stats import binned_statistic_2d

    x, y, w = (np.asarray(v, float) for v in (x, y, wepl))
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(w)
    x, y, w = x[ok], y[ok], w[ok]
    rng = [list(extent[0]), list(extent[1])]
    count, xe, ye, _ = binned_statistic_2d(x, y, w, "count", bins=bins, range=rng)
    if w.size:
        mean = binned_statistic_2d(x, y, w, "mean", bins=bins, range=rng).statistic
        std = binned_statistic_2d(x, y, w, lambda v: np.std(v, ddof=1) if v.size > 1 else np.nan, bins=bins,
                                  range=rng).statistic
    else:
        mean = np.full(count.shape, np.nan)
        std = np.full(count.shape, np.nan)
    mean = np.where(count > 0, mean, np.nan)
    return Radiograph(mean, std, count.astype(int), xe, ye)


def region_stats(image: np.ndarray, mask: np.ndarray) -> dict:
    """{'mean', 'sd', 'pixels'} of the finite pixels of ``image`` under ``mask`` (NaN when none; sd NaN below 2)."""
    v = np.asarray(image)[np.asarray(mask, bool)]
    v = v[np.isfinite(v)]
    return {"mean": float(v.mean()) if v.size else math.nan,
            "sd": float(v.std(ddof=1)) if v.size > 1 else math.nan, "pixels": int(v.size)}


def wepl_error(image: np.ndarray, mask: np.ndarray, true_wepl: float) -> float:
    """Mean WEPL of the region minus its true WEPL [mm] (NaN without pixels)."""
    return region_stats(image, mask)["mean"] - float(true_wepl)


def contrast_to_noise(image: np.ndarray, mask_a: np.ndarray, mask_b: np.ndarray) -> float:
    a, b = region_stats(image, mask_a), region_stats(image, mask_b)
    noise = math.sqrt(0.5 * (a["sd"] ** 2 + b["sd"] ** 2))
    return abs(a["mean"] - b["mean"]) / noise if noise > 0 else math.nan


def edge_width_10_90(positions, profile, plateau: int = 3) -> float:
    """10-90 % width of an edge profile (module docstring); NaN when the profile has no edge (equal plateaus) or
    does not cross both levels."""
    x, p = np.asarray(positions, float), np.asarray(profile, float)
    ok = np.isfinite(p)
    x, p = x[ok], p[ok]
    if p.size < 2 * plateau + 1:
        return math.nan
    lo, hi = p[:plateau].mean(), p[-plateau:].mean()
    if lo == hi:
        return math.nan
    f = (p - lo) / (hi - lo)  # 0 -> 1 across the edge, whichever way it goes

    def crossing(level):
        above = np.nonzero(f >= level)[0]
        if above.size == 0 or above[0] == 0:
            return math.nan
        i = above[0]
        return x[i - 1] + (level - f[i - 1]) * (x[i] - x[i - 1]) / (f[i] - f[i - 1])

    return abs(crossing(0.9) - crossing(0.1))
