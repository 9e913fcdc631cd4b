"""The hit graph of one frame: hits as nodes, candidate segments between adjacent layers as directed edges.

Edges join every hit of layer l to every hit of layer l+1 (beam order) whose segment makes an angle with the z
axis below ``theta_tracker`` (segments leaving a tracker layer: 0->1 and 1->2) or ``theta_calorimeter``
(elsewhere); "removed when the angle is at least the threshold". After the reference preprocessing all layers up to
the last are occupied, so adjacent layers are adjacent occupied layers. The loop runs over layers (about 43), never
over hits; each layer pair is one broadcast.

Truth: an edge is true when both hits carry the same eventID (a secondary inherits its primary's label) and
neither is a noise hit (trackID = -1). ``edge_clean`` marks true edges of primaries without an inelastic nuclear
interaction (``primaryInelastic == 0``; for imported data where that is unknown (-1): events with no hit of
another track than the primary in the frame).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..io.hit_table import cluster_size
from .config import GraphConfig


@dataclass
class HitGraph:
    """Tensors of one frame's hit graph (hits sorted by layer, edges grouped by layer pair)."""

    pos: torch.Tensor  # (n, 3) float32 [mm]
    energy: torch.Tensor  # (n,) edep [MeV] or cluster size
    layer: torch.Tensor  # (n,) int64
    event: torch.Tensor  # (n,) int64, frame-local primary index (-1 noise)
    track: torch.Tensor  # (n,) int64
    hit_clean: torch.Tensor  # (n,) bool: hit of a primary without inelastic interaction
    layer_ptr: torch.Tensor  # (L+1,) hits of layer l are layer_ptr[l]:layer_ptr[l+1]
    edge_index: torch.Tensor  # (2, E) int64 source (layer l) -> target (layer l+1)
    edge_ptr: torch.Tensor  # (L,) edges of layer pair l -> l+1 are edge_ptr[l]:edge_ptr[l+1]
    y: torch.Tensor  # (E,) float32 truth
    edge_clean: torch.Tensor  # (E,) bool
    true_candidates: int  # true segments before the angle filter
    n_clean_primaries: int

    @property
    def n_hits(self) -> int:
        return int(self.pos.shape[0])

    @property
    def n_edges(self) -> int:
        return int(self.edge_index.shape[1])


def segment_angle(d: torch.Tensor) -> torch.Tensor:
    """Angle of segment vectors (..., 3) to the z axis [rad]."""
    return torch.atan2(torch.sqrt(d[..., 0] ** 2 + d[..., 1] ** 2), d[..., 2])


def first_event_id(hits: np.ndarray) -> int:
    """The eventID that frame-local event 0 stands for (``HitGraph.event`` = eventID − this): the smallest eventID
    of the frame's particle hits (0 without any)."""
    real = hits["trackID"] >= 0
    return int(hits["eventID"][real].min()) if np.any(real) else 0


def build_hit_graph(hits: np.ndarray, config: GraphConfig, device: str | torch.device = "cpu",
                    epitaxial_um: float = 25.0, edges: np.ndarray | None = None) -> HitGraph:
    """Hit graph of preprocessed hits (``frames.preprocess``), sorted by layer. The segments are those of the
    angular filter, or ``edges`` when given ((2, E) hit indices from layer l to layer l + 1, grouped by source
    layer: a learned graph builder's, ``graphs.learned``); truth and the rest are computed the same way."""
    dev = torch.device(device)
    n = int(hits.size)
    pos = torch.as_tensor(np.stack([hits["posX"], hits["posY"], hits["posZ"]], axis=1).astype(np.float32),
                          device=dev).reshape(n, 3)
    if config.energy_feature == "edep":
        energy = torch.as_tensor(hits["edep"].astype(np.float32), device=dev)
    else:
        energy = torch.as_tensor(cluster_size(hits["edep"], epitaxial_um).astype(np.float32), device=dev)
    layer_np = hits["layer"].astype(np.int64)
    if n and np.any(np.diff(layer_np) < 0):
        raise ValueError("hits must be sorted by layer (use frames.preprocess)")
    n_layers = int(layer_np.max()) + 1 if n else 0
    layer_ptr_np = np.zeros(n_layers + 1, np.int64)
    if n:
        layer_ptr_np[1:] = np.cumsum(np.bincount(layer_np, minlength=n_layers))
    first_event = first_event_id(hits)
    event_np = np.where(hits["trackID"] >= 0, hits["eventID"].astype(np.int64) - first_event, -1)
    track_np = hits["trackID"].astype(np.int64)
    inel = hits["primaryInelastic"].astype(np.int64)
    # per event: inelastic known? else infer from secondary hits in the frame
    clean_np = np.zeros(n, bool)
    n_clean = 0
    if n:
        ev_ok = event_np >= 0
        n_ev = int(event_np.max()) + 1 if ev_ok.any() else 0
        known = np.full(n_ev, -1)
        known[event_np[ev_ok]] = inel[ev_ok]
        has_secondary = np.zeros(n_ev, bool)
        sec = ev_ok & (track_np != 1)
        has_secondary[event_np[sec]] = True
        clean_event = np.where(known >= 0, known == 0, ~has_secondary)
        present = np.zeros(n_ev, bool)
        present[event_np[ev_ok & (track_np == 1)]] = True
        clean_event &= present
        n_clean = int(clean_event.sum())
        clean_np = ev_ok & (track_np == 1) & clean_event[np.maximum(event_np, 0)]
    event = torch.as_tensor(event_np, device=dev)
    track = torch.as_tensor(track_np, device=dev)
    layer = torch.as_tensor(layer_np, device=dev)
    srcs, tgts = [], []
    edge_ptr = [0]
    # true candidates (same event, adjacent occupied layers, before the filter): sum over layer pairs and events
    # of n_l(e) n_l+1(e), from one (layers x events) count table
    true_candidates = 0
    ok = event_np >= 0
    if n_layers > 1 and ok.any():
        n_events = int(event_np[ok].max()) + 1
        c = np.bincount(layer_np[ok] * n_events + event_np[ok], minlength=n_layers * n_events)
        c = c.reshape(n_layers, n_events)
        true_candidates = int((c[:-1] * c[1:]).sum())
    x, yy, z = pos[:, 0], pos[:, 1], pos[:, 2]
    # layers whose hits share one z (a simulation's mid-plane): dz is then a number, not a matrix
    z_np = hits["posZ"].astype(np.float32)  # the values of pos[:, 2], without a device round trip
    flat = np.zeros(n_layers, bool)
    z_of = np.zeros(n_layers)
    occupied = np.diff(layer_ptr_np) > 0
    if n:
        zmin = np.minimum.reduceat(z_np, layer_ptr_np[:-1][occupied])
        zmax = np.maximum.reduceat(z_np, layer_ptr_np[:-1][occupied])
        flat[occupied] = zmin == zmax
        z_of[occupied] = zmin
    for lay in range(n_layers - 1 if edges is None else 0):
        a0, a1 = int(layer_ptr_np[lay]), int(layer_ptr_np[lay + 1])
        b1 = int(layer_ptr_np[lay + 2])
        if a1 == a0 or b1 == a1:
            edge_ptr.append(edge_ptr[-1])
            continue
        theta = config.theta_tracker if lay < config.n_tracker_layers else config.theta_calorimeter
        # angle < theta  <=>  dx^2 + dy^2 < tan^2(theta) dz^2 with dz > 0 (no atan2 on every candidate); one
        # (na, nb) matrix per coordinate
        dx = x[a1:b1].unsqueeze(0) - x[a0:a1].unsqueeze(1)
        dy = yy[a1:b1].unsqueeze(0) - yy[a0:a1].unsqueeze(1)
        r2 = dx.square_().add_(dy.square_())
        if flat[lay] and flat[lay + 1]:
            dz0 = float(z_of[lay + 1]) - float(z_of[lay])
            keep = r2 < (dz0 * dz0 * math.tan(theta) ** 2 if dz0 > 0 else -1.0)
        else:
            dz = z[a1:b1].unsqueeze(0) - z[a0:a1].unsqueeze(1)
            keep = (r2 < dz.square() * math.tan(theta) ** 2) & (dz > 0)
        i, j = torch.nonzero(keep, as_tuple=True)
        srcs.append(i + a0)
        tgts.append(j + a1)
        edge_ptr.append(edge_ptr[-1] + int(i.numel()))
    if edges is not None:
        ei = np.asarray(edges, dtype=np.int64).reshape(2, -1)
        if ei.size and (ei.min() < 0 or ei.max() >= n or np.any(layer_np[ei[1]] != layer_np[ei[0]] + 1)
                        or np.any(np.diff(layer_np[ei[0]]) < 0)):
            raise ValueError("edges must join hits of layer l to layer l + 1, grouped by source layer")
        edge_index = torch.as_tensor(ei, device=dev)
        edge_ptr = np.searchsorted(layer_np[ei[0]], np.arange(max(n_layers, 1))).tolist() if n_layers else [0]
    elif srcs:
        edge_index = torch.stack([torch.cat(srcs), torch.cat(tgts)])
    else:
        edge_index = torch.zeros((2, 0), dtype=torch.long, device=dev)
    y = ((event[edge_index[0]] == event[edge_index[1]]) & (event[edge_index[0]] >= 0)).to(torch.float32)
    hit_clean = torch.as_tensor(clean_np, device=dev)
    edge_clean = (y > 0) & hit_clean[edge_index[0]] & hit_clean[edge_index[1]]
    return HitGraph(pos, energy, layer, event, track, hit_clean, torch.as_tensor(layer_ptr_np, device=dev),
                    edge_index, torch.as_tensor(edge_ptr, dtype=torch.long, device=dev), y, edge_clean,
                    true_candidates, n_clean)
