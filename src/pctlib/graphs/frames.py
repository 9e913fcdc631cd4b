"""Readout frames and the reference preprocessing of their hits.

A frame holds the hits of ``N`` consecutive primaries, secondaries and noise included. Two conventions count the
primaries (``framing``):

- ``"recorded"`` (default): N consecutive events *among those that left a hit* in the table. A GATE hit table holds
  no row for a primary that never reached a sensor (absorbed in the phantom, or scattered out of it), so grouping
  the events of such a table counts only recorded primaries. The reference graph sizes and hits per primary
  (REFERENCE.md) follow this convention: 26.8 / 21.5 / 16.3 hits per primary equals, within 3 %, our hits per
  *recorded* primary, while per *delivered* primary we find 11-19 % fewer (``notebooks/01_physics``).
- ``"eventid"``: ``eventID // N`` counted from the file's first eventID, i.e. N *delivered* primaries, those lost
  before the detector included (the physical picture of a readout window at a given beam intensity).

Noise hits (trackID -1) never define an event; they join the frame of the next recorded event.

The reference preprocessing, in the released code's order (``src/utils/pandas.py::preprocess``, then
``HitGraph.from_df``):

1. drop the layers after the first gap in the frame's occupied layers;
2. merge hits sharing (eventID, trackID, layer): deposits summed, positions averaged (noise hits stay apart);
3. cluster size from the deposit, and hits with cs < ``min_cluster_size`` dropped;
4. step 1 again (the cut can empty a layer).

The gap rule. Occupied layers are sorted; the first pair of consecutive occupied layers more than one apart marks
the gap; layers up to and including the one before the gap are kept. Empty layers before the first occupied one
are no gap. The released ``remove_disconnected`` compares layer *values* with the gap's *index* in the sorted
list (``unique_z < occ[0]``): when the layers start at 0 this drops the last layer before the gap as well (for
occupied layers {0, 1, 2, 3, 5} it keeps 0-2), and when they start higher it drops more. Hits of the last layer
before a gap are connected to the layers upstream of them, so a track that is otherwise kept would lose its
deepest hit, the one the track filter looks at; pctlib keeps that layer (0-3 in the example). The simulated frames
here never have an internal empty layer at 100 primaries, so both give the same graphs on them; real GATE data
with a dead layer would not.
"""

from __future__ import annotations

import numpy as np

from ..io.hit_table import HIT_DTYPE, cluster_size
from .config import GraphConfig


class FrameError(ValueError):
    """Hits that cannot form a frame (NaN positions, negative layers)."""


FRAMINGS = ("recorded", "eventid")


def frame_index(hits: np.ndarray, primaries_per_frame: int, framing: str = "recorded") -> np.ndarray:
    """Frame number of every hit under the ``framing`` convention (see the module docstring)."""
    if framing not in FRAMINGS:
        raise ValueError(f"framing must be one of {FRAMINGS}, got {framing!r}")
    if primaries_per_frame < 1:
        raise ValueError(f"primaries_per_frame must be >= 1, got {primaries_per_frame}")
    ev = hits["eventID"].astype(np.int64)
    if ev.size == 0:
        return ev
    if framing == "eventid":
        return (ev - ev.min()) // primaries_per_frame
    recorded = np.unique(ev[hits["trackID"] >= 0])
    if recorded.size == 0:  # noise only
        return np.zeros_like(ev)
    rank = np.searchsorted(recorded, ev, side="left").clip(max=recorded.size - 1)
    return rank // primaries_per_frame


def split_frames(hits: np.ndarray, primaries_per_frame: int, framing: str = "recorded",
                 drop_partial: bool = False) -> list[np.ndarray]:
    """The hits of each frame, in frame order (frames without any hit are kept as empty arrays).

    With ``drop_partial`` a last frame that cannot be shown to hold ``primaries_per_frame`` primaries is left out
    (recorded framing: fewer recorded events; eventid framing: the file's last eventID ends before the frame's
    range does), so that statistics of a density are not diluted by the remainder of the file.
    """
    if hits.size == 0:
        return []
    f = frame_index(hits, primaries_per_frame, framing)
    order = np.argsort(f, kind="stable")
    f_sorted = f[order]
    bounds = np.searchsorted(f_sorted, np.arange(f_sorted[-1] + 2))
    frames = [hits[order[bounds[i]:bounds[i + 1]]] for i in range(len(bounds) - 1)]
    if drop_partial and frames:
        last = frames[-1]
        ev = last["eventID"].astype(np.int64)
        if framing == "recorded":
            complete = np.unique(ev[last["trackID"] >= 0]).size == primaries_per_frame
        else:
            first = int(hits["eventID"].min())
            complete = int(ev.max()) == first + len(frames) * primaries_per_frame - 1
        if not complete:
            frames = frames[:-1]
    return frames


def merge_hits(hits: np.ndarray) -> np.ndarray:
    """Merge hits sharing (eventID, trackID, layer): summed edep, mean position.

    Noise hits (trackID < 0) are never merged: each is its own fake pixel cluster, and all noise of a frame shares
    one eventID and trackID, so the key would collapse every noise hit of a layer into one hit at their mean
    position (the released code never met noise: the published data hold none). They follow the merged hits."""
    if hits.size == 0:
        return hits.copy()
    noise = hits["trackID"] < 0
    if noise.any():
        return np.concatenate([merge_hits(hits[~noise]), hits[noise]])
    ev = hits["eventID"].astype(np.int64)
    tr = hits["trackID"].astype(np.int64)
    lay = hits["layer"].astype(np.int64)
    # one int64 key per (eventID, trackID, layer): much faster to sort than rows of a 2-D array
    tr_span = int(tr.max()) - int(tr.min()) + 1
    lay_span = int(lay.max()) + 1
    key = ((ev - int(ev.min())) * tr_span + (tr - int(tr.min()))) * lay_span + lay
    uniq, first, inverse, counts = np.unique(key, return_index=True, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    if uniq.shape[0] == hits.size:
        return hits.copy()
    out = hits[first].copy()
    out["edep"] = np.bincount(inverse, weights=hits["edep"], minlength=uniq.shape[0])
    for c in ("posX", "posY", "posZ"):
        out[c] = np.bincount(inverse, weights=hits[c], minlength=uniq.shape[0]) / counts
    return out


def last_connected_layer(layers: np.ndarray) -> int:
    """The deepest layer before the first gap in the occupied ``layers`` (module docstring); -1 when none."""
    occupied = np.unique(np.asarray(layers, dtype=np.int64))
    if occupied.size == 0:
        return -1
    gaps = np.nonzero(np.diff(occupied) > 1)[0]
    return int(occupied[gaps[0]]) if gaps.size else int(occupied[-1])


def preprocess(hits: np.ndarray, config: GraphConfig, epitaxial_um: float = 25.0) -> np.ndarray:
    """The reference preprocessing of one frame's hits; result sorted by (layer, eventID, trackID)."""
    if hits.dtype != HIT_DTYPE:
        raise FrameError(f"expected a hit table of HIT_DTYPE, got {hits.dtype}")
    for c in ("posX", "posY", "posZ", "edep"):
        if hits.size and not np.all(np.isfinite(hits[c])):
            raise FrameError(f"frame holds non-finite values in {c}")
    if hits.size and hits["layer"].min() < 0:
        raise FrameError("frame holds negative layer numbers")
    h = hits
    if config.truncate_after_empty_layer and h.size:
        h = h[h["layer"] <= last_connected_layer(h["layer"])]
    h = merge_hits(h)
    if config.min_cluster_size > 0 and h.size:
        h = h[cluster_size(h["edep"], epitaxial_um) >= config.min_cluster_size]
    if config.truncate_after_empty_layer and h.size:
        h = h[h["layer"] <= last_connected_layer(h["layer"])]
    order = np.lexsort((h["trackID"], h["eventID"], h["layer"]))
    return h[order]
