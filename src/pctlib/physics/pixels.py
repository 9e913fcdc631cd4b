"""Optional pixel-level digitisation of one readout frame: measured ALPIDE cluster shapes, merging, noise.

1. Every hit becomes a pixel cluster: a shape drawn at random among the measured ALPIDE proton clusters of its
   cluster size (``data/alpide_cluster_shapes.npz``, sizes 2-27; larger sizes use the largest shapes), placed so
   that the shape's mean pixel falls on the hit's pixel.
2. Optionally, noise: fake single pixels at ``noise_rate`` per pixel and frame, uniformly over each sensor.
3. Pixels of one layer that touch (8-neighbourhood) form one cluster: clusters of nearby particles merge, as they
   do in the sensor. A merged cluster is one hit at the pixel centroid, with the summed energy deposit and the
   truth (eventID, trackID, parentID) of its largest contributor; noise clusters carry eventID = trackID = -1.

The cluster size of a merged hit is its number of distinct pixels, so the reference cut (cs >= 2) removes isolated
noise pixels but keeps noise that touches a real cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..io.hit_table import HIT_DTYPE, cluster_size
from .geometry import Sensor
from .materials import DATA

SHAPES_FILE = DATA / "alpide_cluster_shapes.npz"


@dataclass(frozen=True)
class ClusterShapes:
    masks: np.ndarray  # (n, 10, 10) bool
    size: np.ndarray
    x_mean: np.ndarray
    y_mean: np.ndarray

    @classmethod
    def load(cls, path: str | Path = SHAPES_FILE) -> "ClusterShapes":
        with np.load(path) as d:
            return cls(d["shapes"].astype(bool), d["size"].astype(np.int64), d["x_mean"].astype(np.float64),
                       d["y_mean"].astype(np.float64))

    def sample(self, cs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Indices of shapes with the requested sizes (sizes outside the measured range are clipped to it)."""
        sizes = np.unique(self.size)
        want = np.clip(cs, sizes.min(), sizes.max())
        # nearest measured size at or below the wanted one
        want = sizes[np.searchsorted(sizes, want, side="right") - 1]
        order = np.argsort(self.size, kind="stable")
        starts = np.searchsorted(self.size[order], want, side="left")
        ends = np.searchsorted(self.size[order], want, side="right")
        pick = starts + (rng.random(len(want)) * (ends - starts)).astype(np.int64)
        return order[pick]


def pixelise(hits: np.ndarray, shapes: ClusterShapes, sensor: Sensor, rng: np.random.Generator):
    """Pixels of every hit: (hit index, column, row)."""
    cs = cluster_size(hits["edep"], sensor.epitaxial_mm * 1000.0)
    idx = shapes.sample(np.maximum(cs, 1), rng)
    k, r, c = np.nonzero(shapes.masks[idx])
    col0 = np.floor((hits["posX"] + 0.5 * sensor.width_mm) / sensor.pitch_x_mm).astype(np.int64)
    row0 = np.floor((hits["posY"] + 0.5 * sensor.height_mm) / sensor.pitch_y_mm).astype(np.int64)
    col = col0[k] + c - np.rint(shapes.x_mean[idx][k]).astype(np.int64)
    row = row0[k] + r - np.rint(shapes.y_mean[idx][k]).astype(np.int64)
    return k, col, row


def digitise_frame(hits: np.ndarray, sensor: Sensor, layer_z: np.ndarray, rng: np.random.Generator,
                   shapes: ClusterShapes | None = None, noise_rate: float = 0.0, merge: bool = True) -> np.ndarray:
    """Pixel clusters, noise and merging for the hits of one frame; returns (new hit table, cluster sizes)."""
    shapes = shapes or ClusterShapes.load()
    n_cols = int(round(sensor.width_mm / sensor.pitch_x_mm))
    n_rows = int(round(sensor.height_mm / sensor.pitch_y_mm))
    k, col, row = pixelise(hits, shapes, sensor, rng)
    layer = hits["layer"][k].astype(np.int64)
    owner = k
    if noise_rate > 0:
        n_layers = len(layer_z)
        counts = rng.poisson(noise_rate * n_cols * n_rows, size=n_layers)
        nl = np.repeat(np.arange(n_layers), counts)
        layer = np.concatenate([layer, nl])
        col = np.concatenate([col, rng.integers(0, n_cols, nl.size)])
        row = np.concatenate([row, rng.integers(0, n_rows, nl.size)])
        owner = np.concatenate([owner, np.full(nl.size, -1)])
    inside = (col >= 0) & (col < n_cols) & (row >= 0) & (row < n_rows)
    layer, col, row, owner = layer[inside], col[inside], row[inside], owner[inside]
    # distinct pixels (a pixel hit twice is one pixel; its owner is the first listed)
    key = (layer * n_cols + col) * n_rows + row
    key, first = np.unique(key, return_index=True)
    layer, col, row, owner = layer[first], col[first], row[first], owner[first]
    n = key.size
    if merge:
        src, dst = [], []
        for dc, dr in ((1, -1), (1, 0), (1, 1), (0, 1)):
            nk = (layer * n_cols + col + dc) * n_rows + row + dr
            ok = (col + dc < n_cols) & (row + dr >= 0) & (row + dr < n_rows)
            pos = np.searchsorted(key, nk)
            pos_c = np.minimum(pos, n - 1)
            found = ok & (key[pos_c] == nk)
            src.append(np.nonzero(found)[0])
            dst.append(pos_c[found])
        src, dst = np.concatenate(src), np.concatenate(dst)
        graph = coo_matrix((np.ones(src.size), (src, dst)), shape=(n, n))
        n_clusters, label = connected_components(graph, directed=False)
    else:  # clusters stay apart: one per hit (noise pixels one each)
        label = np.where(owner >= 0, owner, hits.size + np.arange(n))
        _, label = np.unique(label, return_inverse=True)
        n_clusters = label.max() + 1 if n else 0
    size = np.bincount(label, minlength=n_clusters)
    cx = np.bincount(label, weights=col + 0.5, minlength=n_clusters) / size
    cy = np.bincount(label, weights=row + 0.5, minlength=n_clusters) / size
    lay = np.zeros(n_clusters, np.int64)
    lay[label] = layer
    # energy and truth: sum of the contributing hits' deposits; truth of the largest contributor
    out = np.zeros(n_clusters, HIT_DTYPE)
    real = owner >= 0
    pairs = np.unique(np.stack([label[real], owner[real]]), axis=1)  # (cluster, hit) pairs
    edep = np.zeros(n_clusters)
    np.add.at(edep, pairs[0], hits["edep"][pairs[1]])
    best = np.full(n_clusters, -1)
    order = np.lexsort((-hits["edep"][pairs[1]], pairs[0]))
    p_sorted = pairs[:, order]
    firsts = np.r_[True, p_sorted[0, 1:] != p_sorted[0, :-1]]
    best[p_sorted[0, firsts]] = p_sorted[1, firsts]
    has = best >= 0
    for f in ("eventID", "trackID", "parentID", "PDGEncoding", "spotX", "spotY", "primaryInelastic"):
        out[f] = -1 if f in ("eventID", "trackID", "parentID", "primaryInelastic") else 0
        out[f][has] = hits[f][best[has]]
    # noise-only clusters: the deposit of a cluster of that size (inverse of the cluster-size model)
    edep_noise = 0.10890 * size**1.5384 * sensor.epitaxial_mm
    out["edep"] = np.where(has, edep, edep_noise)
    out["posX"] = cx * sensor.pitch_x_mm - 0.5 * sensor.width_mm
    out["posY"] = cy * sensor.pitch_y_mm - 0.5 * sensor.height_mm
    out["posZ"] = np.asarray(layer_z)[lay]
    out["layer"] = lay
    from ..io.hit_table import levels_from_layer

    out["level1ID"], out["level2ID"] = levels_from_layer(lay)
    order = np.lexsort((out["posX"], out["layer"]))
    return out[order], size[order]
