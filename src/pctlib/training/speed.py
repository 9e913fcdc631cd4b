"""Seconds per training frame of an edge scorer on given graphs (the GNN's training speed on learned
against angular graphs): forward pass, loss, assignment and backward pass and an Adam step of a copy of the model,
frame by frame, as ``train`` does with ``batch_frames`` = 1. A wall-clock measurement: it depends on the machine
and its load; compare figures taken in one process, one after the other."""

from __future__ import annotations

import copy
import time

import numpy as np
import torch

from .loop import TrainConfig, frame_step


def step_seconds(model, graphs: list, config: TrainConfig = TrainConfig(), warmup: int = 1) -> dict:
    """{'seconds_per_frame' (median over the frames after ``warmup``), 'frames', 'line_nodes', 'line_edges'
    (means per frame)} of training steps of a copy of ``model`` (the original is not changed)."""
    m = copy.deepcopy(model)
    m.train()
    opt = torch.optim.Adam(m.parameters(), lr=config.lr)
    times = []
    for i, g in enumerate(graphs):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss, _, _ = frame_step(m, g, config)
        loss.backward()
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return {"seconds_per_frame": float(np.median(times)) if times else float("nan"), "frames": len(times),
            "line_nodes": float(np.mean([g.x.shape[0] for g in graphs])) if graphs else float("nan"),
            "line_edges": float(np.mean([g.edge_index.shape[1] // 2 for g in graphs])) if graphs else float("nan")}
