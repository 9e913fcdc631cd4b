"""Where reconstructed tracks go wrong: diagnostics for comparing trackers and phantoms (chapter 05_benchmarks).

For a kept track (after the filter) that is not correct, its *first wrong layer* is the upstream layer of the first
segment whose two hits belong to different eventIDs (or to noise). Its distribution over layers tells whether a
tracker fails in the two tracker layers and the tracker-to-calorimeter gap, where the hits are densest and the
segments longest, or deep in the calorimeter near the Bragg peaks. Every function returns a documented dict;
empty denominators give NaN.
"""

from __future__ import annotations

import math

import numpy as np

from .build import Tracks

#: layer groups of the first wrong segment: (name, first layer, last layer) of its upstream hit
GROUPS = (("tracker", 0, 1), ("calorimeter_front", 2, 4), ("calorimeter_deep", 5, 10**6))


def failure_layers(tracks: Tracks, hit_event: np.ndarray, hit_layer: np.ndarray, hit_edep: np.ndarray,
                   min_hits: int = 4, min_last_edep: float = 0.0625) -> dict:
    """{'kept', 'wrong', 'wrong_<group>' for each of :data:`GROUPS`, 'wrong_<group>_share', 'first_wrong_layers'}.

    ``first_wrong_layers`` lists the first wrong layer of every wrong kept track (for histograms); the shares are
    fractions of the wrong tracks (NaN when none is wrong)."""
    ev, lay = np.asarray(hit_event), np.asarray(hit_layer)
    kept = 0
    firsts: list[int] = []
    for h in tracks.hits:
        if h.size <= min_hits or hit_edep[h[-1]] <= min_last_edep:
            continue
        kept += 1
        e = ev[h]
        bad = (e[:-1] != e[1:]) | (e[:-1] < 0) | (e[1:] < 0)
        if bad.any():
            firsts.append(int(lay[h[int(np.argmax(bad))]]))
    out: dict = {"kept": kept, "wrong": len(firsts), "first_wrong_layers": firsts}
    f = np.asarray(firsts)
    for name, lo, hi in GROUPS:
        n = int(((f >= lo) & (f <= hi)).sum())
        out[f"wrong_{name}"] = n
        out[f"wrong_{name}_share"] = n / len(firsts) if firsts else math.nan
    return out


def layer_density(hit_layer: np.ndarray, hit_x: np.ndarray, hit_y: np.ndarray, layers=(0, 1, 2)) -> dict:
    """Lateral spread of a frame's hits per layer: {'sigma_<k>_mm': sqrt((var x + var y) / 2),
    'density_<k>_per_mm2': hits / (2 pi sigma^2)} for each layer k (NaN with fewer than 2 hits)."""
    out = {}
    lay = np.asarray(hit_layer)
    for k in layers:
        sel = lay == k
        if sel.sum() < 2:
            out[f"sigma_{k}_mm"] = out[f"density_{k}_per_mm2"] = math.nan
            continue
        s = math.sqrt(0.5 * (np.var(hit_x[sel]) + np.var(hit_y[sel])))
        out[f"sigma_{k}_mm"] = s
        out[f"density_{k}_per_mm2"] = float(sel.sum()) / (2 * math.pi * s * s) if s > 0 else math.nan
    return out
