"""Content digests and on-disk caches of landscape results.

A landscape result is keyed by what determines it: the model (every parameter and BatchNorm buffer), the frames
(their tensors), the directions, the settings. Digests are SHA-256 over dtype, shape and bytes of each tensor, so
two equal models have one key however they were loaded. Each finished grid point is its own small JSON file
(:class:`PointCache`), written atomically: a killed run keeps what it finished, concurrent jobs never see half a
file, and a rerun or a larger grid on the same directions reuses every point it shares with the earlier grids.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from ..fileio import write_bytes_atomic, write_json_atomic


def _update(h, t) -> None:
    if isinstance(t, torch.Tensor):
        t = t.detach().cpu().contiguous()
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    elif isinstance(t, np.ndarray):
        t = np.ascontiguousarray(t)
        h.update(f"{t.dtype}{t.shape}".encode())
        h.update(t.tobytes())
    else:
        h.update(json.dumps(t, sort_keys=True, default=str).encode())


def digest(*parts: object) -> str:
    """SHA-256 (hex) of tensors, arrays, lists of them and JSON-able values, in order."""
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, (list, tuple)) and p and all(isinstance(x, (torch.Tensor, np.ndarray)) for x in p):
            h.update(f"seq{len(p)}".encode())
            for x in p:
                _update(h, x)
        else:
            _update(h, p)
    return h.hexdigest()


def model_digest(model: torch.nn.Module) -> str:
    """Digest of a model's state: names, parameters and buffers (BatchNorm running statistics included)."""
    state = model.state_dict()
    return digest(sorted(state), [state[k] for k in sorted(state)])


FRAME_FIELDS = ("x", "edge_index", "edge_u", "y")


def frames_digest(frames: Iterable) -> str:
    """Digest of the frames' line-graph tensors (``FRAME_FIELDS``) and of their hit structure where present."""
    h = hashlib.sha256()
    for g in frames:
        for name in FRAME_FIELDS + ("hit_edge_index", "hit_x"):
            t = getattr(g, name, None)
            if t is not None:
                h.update(name.encode())
                _update(h, t)
    return h.hexdigest()


def point_name(alpha: float, beta: float) -> str:
    """File name of the grid point (α, β): both to 12 significant digits, so that the same point of two grids
    made by ``linspace`` with different counts is one file."""
    return f"a{alpha:+.11e}_b{beta:+.11e}.json"


class PointCache:
    """Finished grid points of one surface (one folder per model, frames, metric definition and directions)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def get(self, alpha: float, beta: float) -> dict | None:
        path = self.folder / point_name(alpha, beta)
        try:
            return json.loads(path.read_text())["metrics"]
        except (OSError, json.JSONDecodeError, KeyError):
            return None

    def put(self, alpha: float, beta: float, metrics: dict) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.folder / point_name(alpha, beta),
                          {"alpha": alpha, "beta": beta, "metrics": {k: float(v) for k, v in metrics.items()}})

    def __len__(self) -> int:
        return len(list(self.folder.glob("a*_b*.json"))) if self.folder.is_dir() else 0


def save_torch_atomic(path: str | Path, obj: object) -> None:
    """``torch.save`` written whole or not at all."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, buf.getvalue())


def load_torch(path: str | Path) -> object | None:
    """What :func:`save_torch_atomic` wrote (tensors and plain values only), or None if there is no such file."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        return None
