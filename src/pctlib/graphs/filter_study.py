"""The edge-filter study (paper App. A): how many edges, and how many true edges, each angle threshold removes."""

from __future__ import annotations

import numpy as np
import torch

from .config import GraphConfig
from .frames import preprocess
from .hit_graph import segment_angle


def candidate_angles(hits: np.ndarray, config: GraphConfig) -> dict[str, np.ndarray]:
    """Angle to z of every candidate segment between adjacent layers of one frame (no filter), its truth, whether
    it joins two hits of the primary track itself (trackID 1), and whether it leaves a tracker layer."""
    h = preprocess(hits, config)
    if h.size == 0:
        return {"angle": np.zeros(0), "true": np.zeros(0, bool), "tracker": np.zeros(0, bool),
                "primary": np.zeros(0, bool)}
    pos = torch.as_tensor(np.stack([h["posX"], h["posY"], h["posZ"]], 1).astype(np.float64))
    ev = torch.as_tensor(np.where(h["trackID"] >= 0, h["eventID"].astype(np.int64), -1))
    prim = torch.as_tensor(h["trackID"] == 1)
    layer = h["layer"].astype(np.int64)
    ptr = np.r_[0, np.cumsum(np.bincount(layer))]
    ang, tru, trk, pri = [], [], [], []
    for lay in range(len(ptr) - 2):
        a0, a1, b1 = ptr[lay], ptr[lay + 1], ptr[lay + 2]
        d = pos[a1:b1].unsqueeze(0) - pos[a0:a1].unsqueeze(1)
        ang.append(segment_angle(d).reshape(-1).numpy())
        same = (ev[a0:a1, None] == ev[None, a1:b1]) & (ev[a0:a1, None] >= 0)
        tru.append(same.reshape(-1).numpy())
        pri.append((same & prim[a0:a1, None] & prim[None, a1:b1]).reshape(-1).numpy())
        trk.append(np.full(ang[-1].size, lay < config.n_tracker_layers))
    if not ang:
        return {"angle": np.zeros(0), "true": np.zeros(0, bool), "tracker": np.zeros(0, bool),
                "primary": np.zeros(0, bool)}
    return {"angle": np.concatenate(ang), "true": np.concatenate(tru), "tracker": np.concatenate(trk),
            "primary": np.concatenate(pri)}


def removed_fractions(cands: list[dict[str, np.ndarray]], theta_calorimeter: float, theta_tracker: float):
    """Fractions of all candidate edges and of true candidate edges removed by the given thresholds."""
    angle = np.concatenate([c["angle"] for c in cands])
    true = np.concatenate([c["true"] for c in cands])
    trk = np.concatenate([c["tracker"] for c in cands])
    prim = np.concatenate([c["primary"] for c in cands])
    removed = np.where(trk, angle >= theta_tracker, angle >= theta_calorimeter)
    return {"theta_calorimeter": theta_calorimeter, "theta_tracker": theta_tracker,
            "removed_all": float(removed.mean()) if removed.size else float("nan"),
            "removed_true": float(removed[true].mean()) if true.any() else float("nan"),
            "removed_true_primary": float(removed[prim].mean()) if prim.any() else float("nan")}
