"""Per-hit features for the hit classifier (the thesis' pre-emptive noise classification, ch. 2).

One row per hit of a frame's hit table (``FEATURES`` names the columns):

* ``edep`` — the deposit [MeV]; ``cluster_size`` — the ALPIDE cluster size it corresponds to
  (``io.hit_table.cluster_size``); ``layer``;
* ``occupancy`` — the number of *other* hits of the same layer within ``radius_mm`` in the transverse plane;
* ``dist_prev``, ``dist_next`` — the transverse distance [mm] to the nearest hit of the layer before and after
  (``MISSING_MM`` when that layer has no hit or does not exist: larger than the sensor's diagonal, so a classifier
  reads it as "nothing near").

A fake pixel cluster is small, isolated within its own layer's track pattern and has no partner at a track-like
distance in the neighbouring layers; a secondary's hits have larger deposits and kinks. The features are
computed per layer with scipy's cKDTree (no loop over hits).
"""

from __future__ import annotations

import numpy as np

FEATURES = ("edep", "cluster_size", "layer", "occupancy", "dist_prev", "dist_next")
#: the distance given when a neighbouring layer has no hit [mm] (the sensor's diagonal is about 318 mm)
MISSING_MM = 1000.0


def hit_features(hits: np.ndarray, radius_mm: float = 5.0) -> np.ndarray:
    """The (N, len(FEATURES)) float64 feature matrix of one frame's hits (module docstring)."""
    from scipy.spatial import cKDTree

    from ..io.hit_table import cluster_size

    if not radius_mm > 0:
        raise ValueError(f"radius_mm must be positive, got {radius_mm}")
    n = len(hits)
    out = np.zeros((n, len(FEATURES)))
    if n == 0:
        return out
    xy = np.stack([hits["posX"], hits["posY"]], 1).astype(np.float64)
    layer = np.asarray(hits["layer"]).astype(np.int64)
    out[:, 0] = hits["edep"]
    out[:, 1] = cluster_size(np.asarray(hits["edep"], np.float64))
    out[:, 2] = layer
    out[:, 4:] = MISSING_MM
    trees = {}
    for l in np.unique(layer):
        idx = np.flatnonzero(layer == l)
        trees[l] = (idx, cKDTree(xy[idx]))
    for l, (idx, tree) in trees.items():
        counts = tree.query_ball_point(xy[idx], r=radius_mm, return_length=True)
        out[idx, 3] = np.asarray(counts) - 1  # the hit itself is within the radius
        for col, other in ((4, l - 1), (5, l + 1)):
            if other in trees:
                dist, _ = trees[other][1].query(xy[idx], k=1)
                out[idx, col] = dist
    return out
