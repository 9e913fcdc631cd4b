"""Per-track quantities of a radiograph: where the track entered, and its WEPL.

Tracks are given as lists of hit indices into a frame's hit array ``hit_x`` of rows (E [MeV], x, y, z [mm],
layer) — the layout of ``FrameGraph.hit_x``, whatever tracker (GNN, follower, truth) made them. Position: the
straight line through the track's hits in the two tracker layers (0 and 1), extrapolated back to the plane
``z_plane`` (e.g. the phantom's mid-plane: ``phantom_mid_z``); a track without both tracker hits has none (NaN).
WEPL: ``imaging.range`` estimator and calibration.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .range import RangeModel, WeplCalibration, residual_ranges


def phantom_mid_z(geometry) -> float:
    """z of the phantom's mid-plane [mm] (the detector front is z = 0)."""
    ph = geometry.phantom
    return -ph.gap_to_detector_mm - 0.5 * ph.thickness_mm


def projected_positions(p0: np.ndarray, p1: np.ndarray, z_plane: float) -> np.ndarray:
    """(N, 2) transverse positions at ``z_plane`` of the lines through the points p0, p1 ((N, 3) each, x y z)."""
    p0, p1 = np.asarray(p0, float).reshape(-1, 3), np.asarray(p1, float).reshape(-1, 3)
    dz = p1[:, 2] - p0[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(dz != 0, (z_plane - p0[:, 2]) / dz, np.nan)
    return p0[:, :2] + t[:, None] * (p1[:, :2] - p0[:, :2])


def track_table(hit_x: np.ndarray, tracks: list[np.ndarray], model: RangeModel, calibration: WeplCalibration,
                z_plane: float) -> pd.DataFrame:
    """One row per track: 'x', 'y' (position at ``z_plane``), 'last_layer', 'r_det', 'wepl', 'hits'."""
    hit_x = np.asarray(hit_x, float)
    layer = hit_x[:, 4].astype(int)
    rows_p0 = np.full((len(tracks), 3), np.nan)
    rows_p1 = np.full((len(tracks), 3), np.nan)
    pairs = []
    for k, h in enumerate(tracks):
        h = np.asarray(h, int)
        pairs.append((layer[h], hit_x[h, 0]))
        for lay, dest in ((0, rows_p0), (1, rows_p1)):
            at = h[layer[h] == lay]
            if at.size:
                dest[k] = hit_x[at[0], 1:4]
    r = residual_ranges(pairs, model)
    xy = projected_positions(rows_p0, rows_p1, z_plane)
    return pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1],
                         "last_layer": [int(l.max()) if len(l) else -1 for l, _ in pairs], "r_det": r,
                         "wepl": calibration.wepl(r), "hits": [len(h) for h in tracks]})


def truth_track_table(hits: np.ndarray, primaries: np.ndarray, geometry, model: RangeModel,
                      calibration: WeplCalibration) -> pd.DataFrame:
    """The per-track table (:func:`track_table`) of the true tracks of the clean primaries (no inelastic
    interaction) of a simulated hit table, with their 'event' and their truth 'wepl_true' (``primaries['wepl']``)."""
    from .range import primary_tracks

    events, tracks = primary_tracks(hits)
    prim = hits[(hits["trackID"] == 1) & (hits["parentID"] == 0) & (hits["primaryInelastic"] == 0)]
    prim = prim[np.lexsort((prim["layer"], prim["eventID"]))]
    hit_x = np.stack([prim["edep"], prim["posX"], prim["posY"], prim["posZ"], prim["layer"]], 1).astype(float)
    starts = np.searchsorted(prim["eventID"], events)
    ends = np.r_[starts[1:], len(prim)]
    table = track_table(hit_x, [np.arange(a, b) for a, b in zip(starts, ends)], model, calibration,
                        phantom_mid_z(geometry))
    order = np.argsort(primaries["eventID"])
    pos = order[np.searchsorted(primaries["eventID"], events, sorter=order)]
    table.insert(0, "event", events)
    table["wepl_true"] = primaries["wepl"][pos].astype(float)
    return table
