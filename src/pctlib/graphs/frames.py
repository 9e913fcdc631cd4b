"""Readout frames and the reference preprocessing of their hits.

A frame holds the hits of ``N`` consecutive primaries (``eventID // N`` counted from the file's first eventID),
secondaries and noise included. The reference preprocessing (REFERENCE.md), in order:

1. drop the layers after the first empty layer of the frame (layers are counted from 0);
2. merge hits sharing (eventID, trackID, layer): deposits summed, positions averaged;
3. cluster size from the deposit, and hits with cs < ``min_cluster_size`` dropped.
"""

from __future__ import annotations

import numpy as np

from ..io.hit_table import HIT_DTYPE, cluster_size
from .config import GraphConfig


class FrameError(ValueError):
    """Hits that cannot form a frame (NaN positions, negative layers)."""


def frame_index(hits: np.ndarray, primaries_per_frame: int, first_event: int | None = None) -> np.ndarray:
    first = int(hits["eventID"].min()) if first_event is None and hits.size else (first_event or 0)
    return (hits["eventID"].astype(np.int64) - first) // primaries_per_frame


def split_frames(hits: np.ndarray, primaries_per_frame: int) -> list[np.ndarray]:
    """The hits of each frame, in frame order (frames without any hit are kept as empty arrays)."""
    if hits.size == 0:
        return []
    f = frame_index(hits, primaries_per_frame)
    order = np.argsort(f, kind="stable")
    f_sorted = f[order]
    bounds = np.searchsorted(f_sorted, np.arange(f_sorted[-1] + 2))
    return [hits[order[bounds[i]:bounds[i + 1]]] for i in range(len(bounds) - 1)]


def merge_hits(hits: np.ndarray) -> np.ndarray:
    """Merge hits sharing (eventID, trackID, layer): summed edep, mean position."""
    if hits.size == 0:
        return hits.copy()
    key = np.stack([hits["eventID"].astype(np.int64), hits["trackID"].astype(np.int64),
                    hits["layer"].astype(np.int64)], axis=1)
    uniq, first, inverse, counts = np.unique(key, axis=0, return_index=True, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    if uniq.shape[0] == hits.size:
        return hits.copy()
    out = hits[first].copy()
    out["edep"] = np.bincount(inverse, weights=hits["edep"], minlength=uniq.shape[0])
    for c in ("posX", "posY", "posZ"):
        out[c] = np.bincount(inverse, weights=hits[c], minlength=uniq.shape[0]) / counts
    return out


def preprocess(hits: np.ndarray, config: GraphConfig, epitaxial_um: float = 25.0) -> np.ndarray:
    """The reference preprocessing of one frame's hits; result sorted by (layer, eventID, trackID)."""
    if hits.dtype != HIT_DTYPE:
        raise FrameError(f"expected a hit table of HIT_DTYPE, got {hits.dtype}")
    for c in ("posX", "posY", "posZ", "edep"):
        if hits.size and not np.all(np.isfinite(hits[c])):
            raise FrameError(f"frame holds non-finite values in {c}")
    if hits.size and hits["layer"].min() < 0:
        raise FrameError("frame holds negative layer numbers")
    h = merge_hits(hits)
    if config.min_cluster_size > 0 and h.size:
        h = h[cluster_size(h["edep"], epitaxial_um) >= config.min_cluster_size]
    if config.truncate_after_empty_layer and h.size:
        occupied = np.zeros(int(h["layer"].max()) + 2, bool)
        occupied[h["layer"]] = True
        first_empty = int(np.argmin(occupied))
        h = h[h["layer"] < first_empty]
    order = np.lexsort((h["trackID"], h["eventID"], h["layer"]))
    return h[order]
