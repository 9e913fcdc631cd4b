"""Calibrating the unpublished phantom placement against the published graph sizes.

The paper does not give where its water phantoms sat upstream of the detector, yet that distance sets how far the
protons spread laterally before the trackers and so how many candidate segments (and segment pairs) a frame has.
The number of hits does not depend on it. pctlib models the phantom as centred on a fixed point (the isocentre of a
pCT set-up, as in the Bergen DTC toolkit's GATE macros) at ``centre_to_detector_mm`` upstream of the detector, so
the exit gap is that distance minus half the thickness. This module scans that one parameter, compares the mean
graph sizes with the published ones (``reference.py``: 9 hit-graph edge counts and 4 line-graph edge counts) and
fits it by least squares on the log ratios. Because one number is fitted to thirteen, the residuals are a test of
the model; ``leave_one_phantom_out`` fits on two phantoms and predicts the third.

Conventions (``frames.py``, ``build.py``): frames count recorded primaries; line-graph edges are compared as stored
for message passing in both directions (``line_edges_both_directions``), which is the count the published numbers
match (``notebooks/02_graphs``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from ..progress import progress_bar

from .build import frame_sizes
from .reference import HIT_GRAPH_SIZES, LINE_GRAPH_EDGES


@dataclass(frozen=True)
class ScanConfig:
    #: "centre": the phantom's centre at ``distance`` upstream of the detector (gap = distance - thickness / 2);
    #: "gap": a fixed exit gap of ``distance`` whatever the thickness
    placement: str = "centre"
    distances_mm: tuple[float, ...] = (240.0, 260.0, 280.0, 300.0, 320.0)
    phantoms_mm: tuple[float, ...] = (100.0, 150.0, 200.0)
    densities: tuple[int, ...] = (50, 100, 150)
    primaries: int = 3000
    seed: int = 0
    geometry: str | None = None


def scan(config: ScanConfig = ScanConfig(), progress: bool = True) -> pd.DataFrame:
    """Mean graph sizes for every (distance, phantom, density); the same seed at every distance."""
    from ..physics.config import DEFAULT_GEOMETRY, SimulationConfig
    from ..physics.simulate import Simulator

    if config.placement not in ("centre", "gap"):
        raise ValueError(f"placement must be 'centre' or 'gap', got {config.placement!r}")
    rows = []
    todo = [(c, t) for c in config.distances_mm for t in config.phantoms_mm]
    for c, t in progress_bar(todo, desc="placement scan", enabled=progress):
        where = {"centre_to_detector_mm": c} if config.placement == "centre" else {"gap_to_detector_mm": c}
        sim_cfg = SimulationConfig(geometry=config.geometry or str(DEFAULT_GEOMETRY), phantom_mm=t, **where)
        geom = sim_cfg.load_geometry()
        hits = Simulator(geom).run(config.primaries, seed=config.seed + int(t), progress=False).hits
        for n in config.densities:
            df = frame_sizes(hits, n)
            rows.append({"placement": config.placement, "distance_mm": c, "gap_mm": geom.phantom.gap_to_detector_mm,
                         "phantom_mm": t, "primaries_per_frame": n, "frames": len(df),
                         "nodes": df["hits"].mean(), "edges": df["edges"].mean(),
                         "line_edges_both_directions": df["line_edges_both_directions"].mean()})
    return pd.DataFrame(rows)


def comparison(df: pd.DataFrame) -> pd.DataFrame:
    """Long table of (quantity, ours, reference, log ratio) for every published number the scan covers."""
    out = []
    for r in df.itertuples(index=False):
        key = (int(r.primaries_per_frame), int(r.phantom_mm))
        if key in HIT_GRAPH_SIZES:
            ref = HIT_GRAPH_SIZES[key]
            out.append((r.distance_mm, *key, "nodes", r.nodes, ref[0]))
            out.append((r.distance_mm, *key, "edges", r.edges, ref[2]))
        if key in LINE_GRAPH_EDGES:
            out.append((r.distance_mm, *key, "line_edges", r.line_edges_both_directions, LINE_GRAPH_EDGES[key]))
    c = pd.DataFrame(out, columns=["distance_mm", "primaries_per_frame", "phantom_mm", "quantity", "ours", "reference"])
    c["log_ratio"] = np.log(c["ours"] / c["reference"])
    c["relative_difference_%"] = 100.0 * (c["ours"] / c["reference"] - 1.0)
    return c


def misfit(df: pd.DataFrame, exclude_phantom: float | None = None) -> pd.Series:
    """RMS log ratio over the distance-dependent numbers (edges, line edges), per scanned distance."""
    c = comparison(df)
    c = c[c["quantity"] != "nodes"]
    if exclude_phantom is not None:
        c = c[c["phantom_mm"] != exclude_phantom]
    return c.groupby("distance_mm")["log_ratio"].apply(lambda x: math.sqrt(float(np.mean(np.square(x)))))


def fit_distance(df: pd.DataFrame, exclude_phantom: float | None = None) -> float:
    """Distance minimising ``misfit``: a parabola through the best grid point and its neighbours."""
    m = misfit(df, exclude_phantom).sort_index()
    x, y = m.index.to_numpy(float), m.to_numpy()
    i = int(np.argmin(y))
    if i == 0 or i == len(x) - 1:
        raise ValueError(f"the misfit is smallest at the edge of the scan ({x[i]:g} mm); widen distances_mm")
    a, b, _ = np.polyfit(x[i - 1:i + 2], y[i - 1:i + 2], 2)
    return float(-b / (2 * a)) if a > 0 else float(x[i])


def interpolate(df: pd.DataFrame, distance_mm: float) -> pd.DataFrame:
    """The comparison table at ``distance_mm``, linear in the log of every size between the scanned distances."""
    c = comparison(df)
    out = []
    for key, g in c.groupby(["primaries_per_frame", "phantom_mm", "quantity"]):
        g = g.sort_values("distance_mm")
        v = float(np.exp(np.interp(distance_mm, g["distance_mm"], np.log(g["ours"]))))
        ref = float(g["reference"].iloc[0])
        out.append((*key, v, ref, 100.0 * (v / ref - 1.0)))
    return pd.DataFrame(out, columns=["primaries_per_frame", "phantom_mm", "quantity", "ours", "reference",
                                      "relative_difference_%"])


def leave_one_phantom_out(df: pd.DataFrame) -> pd.DataFrame:
    """Fit on two phantoms, predict the third: fitted distance and the held-out phantom's worst relative error."""
    rows = []
    for t in sorted(df["phantom_mm"].unique()):
        c = fit_distance(df, exclude_phantom=t)
        held = interpolate(df, c)
        held = held[(held["phantom_mm"] == t) & (held["quantity"] != "nodes")]
        rows.append({"held_out_phantom_mm": t, "fitted_distance_mm": c,
                     "held_out_max_abs_difference_%": float(held["relative_difference_%"].abs().max())})
    return pd.DataFrame(rows)
