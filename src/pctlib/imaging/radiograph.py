"""Proton radiographs: WEPL per track binned by the track's entry position, and the image metrics people quote
(chapter 10).

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


def clipped_mean(values: np.ndarray, clip_sigma: float = 3.0) -> float:
    """Mean of the values within ``clip_sigma`` robust standard deviations (1.4826 × the median absolute deviation)
    of their median: one pass, so that a few grossly wrong WEPLs (mis-tracked protons) do not move a pixel. All
    values are kept when the deviation is 0; NaN for no values."""
    v = np.asarray(values, float)
    if v.size == 0:
        return math.nan
    med = np.median(v)
    sigma = 1.4826 * np.median(np.abs(v - med))
    if sigma == 0:
        return float(v.mean())
    return float(v[np.abs(v - med) <= clip_sigma * sigma].mean())


def bin_radiograph(x, y, wepl, bins: tuple[int, int], extent: tuple[tuple[float, float], tuple[float, float]],
                   clip_sigma: float | None = None) -> Radiograph:
    """The radiograph of tracks at positions (x, y) [mm] with WEPL values; tracks outside ``extent`` or with a NaN
    WEPL are left out. ``clip_sigma``: each pixel's value is the :func:`clipped_mean` of its tracks instead of their
    mean (the cut on outlying WEPLs that pCT reconstructions apply per pixel)."""
    from scipy.stats import binned_statistic_2d

    x, y, w = (np.asarray(v, float) for v in (x, y, wepl))
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(w)
    x, y, w = x[ok], y[ok], w[ok]
    rng = [list(extent[0]), list(extent[1])]
    count, xe, ye, _ = binned_statistic_2d(x, y, w, "count", bins=bins, range=rng)
    if w.size:
        stat = "mean" if clip_sigma is None else (lambda v: clipped_mean(v, clip_sigma))
        mean = binned_statistic_2d(x, y, w, stat, bins=bins, range=rng).statistic
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


def region_masks(radiograph: Radiograph, phantom, margin_mm: float = 2.0) -> dict[str, np.ndarray]:
    """Pixel masks by pixel centre: each insert shrunk by ``margin_mm`` (keyed by its material, numbered when a
    material repeats) and 'background', the pixels at least ``margin_mm`` outside every insert."""
    xc, yc = np.meshgrid(radiograph.x_centres, radiograph.y_centres, indexing="ij")
    return masks_at(xc, yc, phantom, margin_mm)


def masks_at(x, y, phantom, margin_mm: float = 2.0) -> dict[str, np.ndarray]:
    """:func:`region_masks` at any points (x, y) [mm], e.g. tracks' entry positions."""
    from dataclasses import replace

    x, y = np.asarray(x, float), np.asarray(y, float)
    masks: dict[str, np.ndarray] = {}
    outside = np.ones(x.shape, bool)
    for ins in phantom.inserts:
        grow = dict(radius_mm=ins.radius_mm + margin_mm, half_x_mm=ins.half_x_mm + margin_mm,
                    half_y_mm=ins.half_y_mm + margin_mm)
        shrink = {k: max(v - 2 * margin_mm, 0.0) for k, v in grow.items()}
        name = ins.material if ins.material not in masks else f"{ins.material}_{len(masks)}"
        masks[name] = np.asarray(replace(ins, **shrink).contains(x, y))
        outside &= ~np.asarray(replace(ins, **grow).contains(x, y))
    masks["background"] = outside & np.isfinite(x) & np.isfinite(y)
    return masks


def true_wepl_of_regions(phantom, materials) -> dict[str, float]:
    """The WEPL [mm] straight through each insert and through the background: thickness × RSP
    (``physics.steps.relative_stopping_power``), an insert's z range in its material and the rest in the phantom's."""
    from ..physics.steps import relative_stopping_power

    t = phantom.thickness_mm
    base = relative_stopping_power(materials, phantom.material)
    out: dict[str, float] = {}
    for ins in phantom.inserts:
        za, zb = ins.z_range(t)
        name = ins.material if ins.material not in out else f"{ins.material}_{len(out)}"
        out[name] = (zb - za) * relative_stopping_power(materials, ins.material) + (t - (zb - za)) * base
    out["background"] = t * base
    return out


def region_report(radiograph: Radiograph, phantom, materials, margin_mm: float = 2.0):
    """Per region (inserts and background): true WEPL, the image's mean and pixel noise, the WEPL error, the pixel
    count, and the contrast-to-noise ratio of the region against the background."""
    import pandas as pd

    masks = region_masks(radiograph, phantom, margin_mm)
    truth = true_wepl_of_regions(phantom, materials)
    rows = []
    for name, mask in masks.items():
        st = region_stats(radiograph.mean, mask)
        rows.append({"region": name, "true_wepl": truth[name], "mean_wepl": st["mean"], "noise": st["sd"],
                     "wepl_error": st["mean"] - truth[name], "pixels": st["pixels"],
                     "cnr_vs_background": contrast_to_noise(radiograph.mean, mask, masks["background"])
                     if name != "background" else math.nan})
    return pd.DataFrame(rows)


def seed_spread(images: list[np.ndarray]) -> np.ndarray:
    """Per pixel, the standard deviation (ddof 1) of the same radiograph made by trackers that differ only in their
    seed: NaN where any image has no value or fewer than two images are given."""
    stack = np.stack([np.asarray(im, float) for im in images])
    if stack.shape[0] < 2:
        return np.full(stack.shape[1:], np.nan)
    ok = np.all(np.isfinite(stack), axis=0)
    sd = np.std(np.where(ok, stack, 0.0), axis=0, ddof=1)
    return np.where(ok, sd, np.nan)


def rms(values) -> float:
    """Root mean square of the finite values (NaN when none)."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    return float(np.sqrt(np.mean(v ** 2))) if v.size else math.nan
