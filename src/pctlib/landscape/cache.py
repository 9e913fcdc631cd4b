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
import warnings
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


class CacheWarning(UserWarning):
    """A cached landscape result was unusable (damaged, of the wrong shape, incomplete) and is computed again."""


def _damaged(path: Path, why: str) -> None:
    warnings.warn(f"{path}: {why}; computing it again", CacheWarning, stacklevel=3)


class PointCache:
    """Finished grid points of one surface (one folder per model, frames, metric definition and directions)."""

    def __init__(self, folder: str | Path, metrics: tuple[str, ...] | None = None):
        self.folder = Path(folder)
        #: the metric names every point must hold (a point file missing one is computed again, not read as NaN)
        self.metrics = metrics

    def get(self, alpha: float, beta: float) -> dict | None:
        """The point's metrics, or None when it is not there or unusable (then with a :class:`CacheWarning`)."""
        path = self.folder / point_name(alpha, beta)
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        except OSError as exc:
            _damaged(path, f"unreadable ({exc})")
            return None
        try:
            m = json.loads(text)["metrics"]
            if not isinstance(m, dict) or not all(isinstance(v, (int, float)) for v in m.values()):
                raise ValueError("metrics are not numbers")
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            _damaged(path, f"damaged point file ({type(exc).__name__})")
            return None
        if self.metrics is not None and set(m) != set(self.metrics):
            _damaged(path, f"holds metrics {sorted(m)}, expected {sorted(self.metrics)}")
            return None
        return m

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


def load_torch(path: str | Path, check=None) -> object | None:
    """What :func:`save_torch_atomic` wrote (tensors and plain values only), or None if there is no such file. A
    file that does not load (truncated, not a cache file) or that ``check(obj)`` rejects (by raising: wrong keys,
    tensors of another shape than the model's) is treated as missing, with a :class:`CacheWarning` naming it, so
    the caller computes the result again."""
    path = Path(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        return None
    except Exception as exc:  # torch raises EOFError, RuntimeError, UnpicklingError, OSError... for damaged files
        _damaged(path, f"damaged cache file ({type(exc).__name__})")
        return None
    if check is not None:
        try:
            check(obj)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            _damaged(path, f"unusable contents ({type(exc).__name__}: {exc})")
            return None
    return obj
