"""One frame's hits -> a ``FrameGraph`` (a torch_geometric ``Data``) with everything later steps need.

The GNN's graph is the line graph: ``x`` (line nodes = segments) and ``edge_index`` (both directions of every
segment pair, so message passing sees the undirected graph), ``edge_u`` (the scalar of each line edge, encoded on
the fly). The hit graph travels along: ``hit_x`` (E, x, y, z, layer), ``hit_edge_index`` (line node k is hit edge
k), ``y`` (truth per segment), ``edge_clean``, ``hit_event``/``hit_track``/``hit_clean`` and, for the layer-wise
assignment, ``hit_layer_ptr`` (hits of layer l) and ``edge_layer_ptr`` (segments of layer pair l -> l+1), so cost
matrices are built without loops over hits.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import Data

from .config import GraphConfig
from .frames import split_frames
from .hit_graph import build_hit_graph
from .line_graph import (both_directions, count_all_shared_hit_pairs, line_node_features, pair_cosine_scalar,
                         pair_indices)


class FrameGraph(Data):
    """A frame's line graph with its hit graph; batching offsets the hit indices by the hit count."""

    def __inc__(self, key: str, value: Any, *args, **kwargs):
        if key == "hit_edge_index":
            return self.hit_x.size(0)
        if key in ("hit_layer_ptr",):
            return self.hit_x.size(0)
        if key in ("edge_layer_ptr",):
            return self.x.size(0)
        return super().__inc__(key, value, *args, **kwargs)

    def __cat_dim__(self, key: str, value: Any, *args, **kwargs):
        if key == "hit_edge_index":
            return 1
        return super().__cat_dim__(key, value, *args, **kwargs)


def graph_from_hits(hits: np.ndarray, config: GraphConfig, device: str | torch.device = "cpu",
                    epitaxial_um: float = 25.0, preprocessed: bool = False, modules=None
                    ) -> tuple[FrameGraph, dict]:
    """Build the graphs of one frame; return the graph and its size summary. A configuration with a hit
    classifier or the learned graph builder needs the trained ``modules`` (``graphs.modules.GraphModules``)."""
    from .modules import prepare_hits

    h, edges = prepare_hits(hits, config, modules, epitaxial_um, preprocessed)
    return graph_of_prepared(h, config, edges, device, epitaxial_um)


def graph_of_prepared(h: np.ndarray, config: GraphConfig, edges: np.ndarray | None = None,
                      device: str | torch.device = "cpu", epitaxial_um: float = 25.0) -> tuple[FrameGraph, dict]:
    """:func:`graph_from_hits` after ``modules.prepare_hits``: the hits as the graph sees them and the learned
    segments (None: the angular filter)."""
    g = build_hit_graph(h, config, device, epitaxial_um, edges=edges)
    e_in, e_out, _ = pair_indices(g.edge_index, g.n_hits)
    edge_index = both_directions(e_in, e_out)
    pairs = edge_index[:, :e_in.numel()]
    u = pair_cosine_scalar(g.pos, g.edge_index, pairs)
    x = line_node_features(g)
    hit_x = torch.cat([g.energy[:, None], g.pos, g.layer[:, None].float()], dim=1)
    data = FrameGraph(
        x=x,
        edge_index=edge_index,
        edge_u=torch.cat([u, u]),
        y=g.y,
        edge_clean=g.edge_clean,
        hit_x=hit_x,
        hit_edge_index=g.edge_index,
        hit_event=g.event,
        hit_track=g.track,
        hit_clean=g.hit_clean,
        hit_layer_ptr=g.layer_ptr,
        edge_layer_ptr=g.edge_ptr,
        n_clean_primaries=torch.tensor([g.n_clean_primaries]),
    )
    data.num_nodes = x.shape[0]
    n_true = int(g.y.sum())
    summary = {
        "hits": g.n_hits,
        "edges": g.n_edges,
        "true_edges_kept": n_true,
        "true_edges_removed": g.true_candidates - n_true,
        "line_nodes": int(x.shape[0]),
        "line_edges": int(pairs.shape[1]),
        # as stored for message passing (PyG convention: each undirected edge in both directions); the count the
        # published line-graph sizes match
        "line_edges_both_directions": int(data.edge_index.shape[1]),
        "segment_pairs_any_shared_hit": count_all_shared_hit_pairs(g.edge_index, g.n_hits),
        "clean_primaries": g.n_clean_primaries,
    }
    return data, summary


def frame_sizes(hits: np.ndarray, primaries_per_frame: int, config: GraphConfig | None = None) -> pd.DataFrame:
    """Size summary (as :func:`graph_from_hits` returns it) of every complete frame of a hit table, one row each."""
    cfg = config or GraphConfig(primaries_per_frame=primaries_per_frame)
    frames = split_frames(hits, primaries_per_frame, cfg.framing, drop_partial=True)
    return pd.DataFrame([graph_from_hits(f, cfg)[1] for f in frames])


def pack(data: FrameGraph) -> dict[str, torch.Tensor]:
    """Compact storage form: one direction of the line edges, int32 indices, float32 features; the line-edge
    scalar is recomputed from the positions on loading (cheaper to compute than to read)."""
    m = data.edge_index.shape[1] // 2
    out = {
        "x": data.x.float().cpu(),
        "pairs": data.edge_index[:, :m].to(torch.int32).cpu().clone(),
        "y": data.y.to(torch.uint8).cpu(),
        "edge_clean": data.edge_clean.cpu(),
        "hit_x": data.hit_x.float().cpu(),
        "hit_edge_index": data.hit_edge_index.to(torch.int32).cpu(),
        "hit_event": data.hit_event.to(torch.int32).cpu(),
        "hit_track": data.hit_track.to(torch.int32).cpu(),
        "hit_clean": data.hit_clean.cpu(),
        "hit_layer_ptr": data.hit_layer_ptr.to(torch.int32).cpu(),
        "edge_layer_ptr": data.edge_layer_ptr.to(torch.int32).cpu(),
        "n_clean_primaries": data.n_clean_primaries.cpu(),
    }
    return out


def unpack(d: dict[str, torch.Tensor], device: str | torch.device = "cpu") -> FrameGraph:
    """Inverse of :func:`pack`."""
    edge_index = both_directions(*d["pairs"].to(device))
    pairs = edge_index[:, :d["pairs"].shape[1]]
    hit_x = d["hit_x"].to(device)
    hit_edge_index = d["hit_edge_index"].long().to(device)
    u = pair_cosine_scalar(hit_x[:, 1:4], hit_edge_index, pairs)
    data = FrameGraph(
        x=d["x"].to(device),
        edge_index=edge_index,
        edge_u=torch.cat([u, u]),
        y=d["y"].float().to(device),
        edge_clean=d["edge_clean"].to(device),
        hit_x=hit_x,
        hit_edge_index=hit_edge_index,
        hit_event=d["hit_event"].long().to(device),
        hit_track=d["hit_track"].long().to(device),
        hit_clean=d["hit_clean"].to(device),
        hit_layer_ptr=d["hit_layer_ptr"].long().to(device),
        edge_layer_ptr=d["edge_layer_ptr"].long().to(device),
        n_clean_primaries=d["n_clean_primaries"].to(device),
    )
    data.num_nodes = data.x.shape[0]
    return data
