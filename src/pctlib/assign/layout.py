"""Where each segment sits in the cost blocks of its frame: built once per graph from the layer pointers.

For layer pair l -> l+1 the block has one row per hit of layer l and one column per hit of layer l+1; segment e of
that pair sits at (source - first hit of l, target - first hit of l+1). No loop over hits: one vectorised pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BlockLayout:
    """Blocks of one or more frames, as flat numpy arrays over all segments (edges)."""

    row: np.ndarray  # (E,) row of each segment within its block
    col: np.ndarray  # (E,) column of each segment within its block
    block_ptr: np.ndarray  # (B+1,) segments of block b are block_ptr[b]:block_ptr[b+1]
    shape: np.ndarray  # (B, 2) rows and columns of each block
    frame_ptr: np.ndarray  # (F+1,) segments of frame f

    @property
    def n_edges(self) -> int:
        return int(self.row.size)

    @property
    def n_blocks(self) -> int:
        return int(self.shape.shape[0])


def layout_from_pointers(hit_edge_index: np.ndarray, hit_layer_ptr: np.ndarray, edge_layer_ptr: np.ndarray) -> BlockLayout:
    """Layout of one frame from its hit-graph edges and the layer pointers of ``FrameGraph``."""
    src, tgt = np.asarray(hit_edge_index[0]), np.asarray(hit_edge_index[1])
    hp = np.asarray(hit_layer_ptr, dtype=np.int64)
    ep = np.asarray(edge_layer_ptr, dtype=np.int64)
    n_blocks = max(len(ep) - 1, 0)
    counts = np.diff(ep)
    block_of_edge = np.repeat(np.arange(n_blocks), counts)
    row = src - hp[block_of_edge]
    col = tgt - hp[block_of_edge + 1]
    shape = np.stack([np.diff(hp)[:n_blocks], np.diff(hp)[1:n_blocks + 1]], axis=1) if n_blocks else np.zeros((0, 2),
                                                                                                           np.int64)
    return BlockLayout(row.astype(np.int64), col.astype(np.int64), ep.copy() if n_blocks else np.zeros(1, np.int64),
                       shape.astype(np.int64), np.array([0, src.size], dtype=np.int64))


def layout_of_graph(graph) -> BlockLayout:
    """Layout of a ``FrameGraph`` (a few vectorised numpy operations over its segments)."""
    return layout_from_pointers(graph.hit_edge_index.cpu().numpy(), graph.hit_layer_ptr.cpu().numpy(),
                                graph.edge_layer_ptr.cpu().numpy())


def concat_layouts(layouts: list[BlockLayout]) -> BlockLayout:
    """One layout for several frames, segments in frame order."""
    if not layouts:
        return BlockLayout(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(1, np.int64),
                           np.zeros((0, 2), np.int64), np.zeros(1, np.int64))
    offs = np.cumsum([0] + [lay.n_edges for lay in layouts])
    block_ptr = [np.zeros(1, np.int64)]
    for lay, o in zip(layouts, offs[:-1]):
        block_ptr.append(lay.block_ptr[1:] + o)
    return BlockLayout(np.concatenate([lay.row for lay in layouts]), np.concatenate([lay.col for lay in layouts]),
                       np.concatenate(block_ptr), np.concatenate([lay.shape for lay in layouts]), offs.astype(np.int64))
