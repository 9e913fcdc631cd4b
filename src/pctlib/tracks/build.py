"""Tracks from assigned segments: follow each chain of assigned segments from its first to its last layer.

The layer-wise assignment gives every hit at most one assigned segment leaving it and at most one entering it, so
the assigned segments form disjoint chains; each chain is a track and a hit belongs to at most one track. Chains
are followed by pointer jumping (log2 of the longest chain steps, vectorised), never hit by hit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Tracks:
    """Tracks of one frame: ``track`` per hit (-1: no track), and per track its hits in beam order."""

    track_of_hit: np.ndarray  # (n_hits,)
    hits: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.hits)


def build_tracks(n_hits: int, edge_index: np.ndarray, assigned: np.ndarray) -> Tracks:
    """Chains of assigned segments (``assigned`` 0/1 per hit-graph edge); single hits are no track."""
    src, tgt = np.asarray(edge_index)
    sel = np.asarray(assigned).astype(bool)
    s, t = src[sel], tgt[sel]
    if np.bincount(s, minlength=n_hits).max(initial=0) > 1 or np.bincount(t, minlength=n_hits).max(initial=0) > 1:
        raise ValueError("assigned segments give a hit two continuations; not an assignment")
    nxt = np.full(n_hits, -1, np.int64)
    nxt[s] = t
    has_in = np.zeros(n_hits, bool)
    has_in[t] = True
    start = np.nonzero(~has_in & (nxt >= 0))[0]
    # pointer jumping on "previous" links: root of every hit in a chain
    prev = np.full(n_hits, -1, np.int64)
    prev[t] = s
    root = np.where(prev >= 0, prev, np.arange(n_hits))
    while True:
        nr = root[root]
        if np.array_equal(nr, root):
            break
        root = nr
    in_chain = (prev >= 0) | (nxt >= 0)
    track_of_hit = np.full(n_hits, -1, np.int64)
    tid = np.full(n_hits, -1, np.int64)
    tid[start] = np.arange(start.size)
    track_of_hit[in_chain] = tid[root[in_chain]]
    order = np.lexsort((np.arange(n_hits), track_of_hit))
    order = order[track_of_hit[order] >= 0]
    bounds = np.searchsorted(track_of_hit[order], np.arange(start.size + 1))
    hits = [order[bounds[i]:bounds[i + 1]] for i in range(start.size)]
    return Tracks(track_of_hit, hits)


def segments_of_tracks(tracks: Tracks, edge_index: np.ndarray, n_hits: int) -> np.ndarray:
    """0/1 per hit-graph segment (``edge_index`` (2, E) over ``n_hits`` hits): its two hits are consecutive hits of
    one track (the assignment that gives ``tracks``, for trackers that make tracks without one)."""
    nxt = np.full(n_hits, -1, np.int64)
    for h in tracks.hits:
        nxt[h[:-1]] = h[1:]
    edge_index = np.asarray(edge_index).reshape(2, -1)
    return (nxt[edge_index[0]] == edge_index[1]).astype(np.int8)
