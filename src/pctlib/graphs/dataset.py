"""Cached graph datasets: build once, keyed by a content hash of (hit file, parameters); load lazily.

Layout of a cache folder ``DIR``::

    DIR/cache.json          key, parameters, hit-file hash, the sha256 of every frame file and of the two files below
    DIR/frames/NNNNNN.pt    one packed frame graph each (``build.pack``)
    DIR/summary.json        per frame: hits, edges, true edges kept / removed by the filter, line nodes, line edges
    DIR/normalization.json  mean and std of the line-node features and of the line-edge scalar over the frames
    DIR/cache.partial.json  only while a build runs: its progress, so that a killed build resumes

A cache whose key differs from the request (other hit file or parameters) is stale and rebuilt with a warning; a
frame file that is missing, unreadable or whose hash differs is rebuilt with a warning; an edited summary.json or
normalization.json is rewritten from the frames (with a warning; :class:`GraphDataset` refuses it until then); an
unreadable or incomplete cache.json is a warning, not a traceback. Writes are atomic (unique temporary name, then
rename) and a build holds the folder's lock. :class:`GraphDataset` loads frames on demand and keeps at most
``max_cached`` in memory.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from ..progress import progress_bar

from ..fileio import file_sha256, target_lock, write_bytes_atomic, write_json_atomic
from ..io.readers import read_hits
from .build import FrameGraph, graph_from_hits, pack, unpack
from .config import GraphConfig
from .frames import split_frames

CACHE_VERSION = 1


class CacheWarning(UserWarning):
    """A stale or damaged cache entry was found and rebuilt."""


class CacheError(ValueError):
    """A graph cache that cannot be read as it is (incomplete record, derived file changed since the build)."""


def cache_key(hits_sha256: str, config: GraphConfig) -> str:
    blob = json.dumps({"hits": hits_sha256, "config": config.to_dict(), "version": CACHE_VERSION}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _frame_bytes(graph: FrameGraph) -> bytes:
    buf = io.BytesIO()
    torch.save(pack(graph), buf)
    return buf.getvalue()


@dataclass
class CacheInfo:
    folder: Path
    key: str
    n_frames: int
    built: int  # frames (re)built by this call
    seconds: float


#: files derived from the frames, covered by hashes in cache.json like the frames
DERIVED = ("summary.json", "normalization.json")
#: progress of a build in course, every PARTIAL_EVERY frames: a killed build resumes from it
PARTIAL, PARTIAL_EVERY = "cache.partial.json", 25


def _read_meta(path: Path) -> dict | None:
    """cache.json (or its partial form) when it is a mapping with key, files and summary; else None."""
    try:
        meta = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(meta, dict) or not {"key", "files", "summary"} <= set(meta) \
            or not isinstance(meta["files"], dict) or not isinstance(meta["summary"], list):
        return None
    return meta


def build_cache(hits_path: str | Path, out: str | Path, config: GraphConfig, progress: bool = True,
                device: str = "cpu", trust_pickle: bool = False, modules=None) -> CacheInfo:
    """Build (or repair) the graph cache of a hit file in ``out``. Safe under concurrent callers: the folder's
    lock (``OUT.lock`` beside it) is held throughout, so one process builds and the others then find a complete
    cache and reuse it."""
    with target_lock(out):
        return _build_cache(hits_path, out, config, progress, device, trust_pickle, modules)


def _build_cache(hits_path: str | Path, out: str | Path, config: GraphConfig, progress: bool = True,
                 device: str = "cpu", trust_pickle: bool = False, modules=None) -> CacheInfo:
    import time

    t0 = time.perf_counter()
    hits_path, out = Path(hits_path), Path(out)
    hits_sha = file_sha256(hits_path) if hits_path.is_file() else None
    hits = read_hits(hits_path, trust_pickle=trust_pickle)  # a named error for a missing or damaged file
    key = cache_key(hits_sha, config)
    meta_path = out / "cache.json"
    partial_path = out / PARTIAL
    meta = _read_meta(meta_path)
    if meta is not None and meta.get("key") != key:
        warnings.warn(f"{out}: cache is stale (other hit file or parameters); rebuilding", CacheWarning,
                      stacklevel=2)
        shutil.rmtree(out / "frames", ignore_errors=True)
        partial_path.unlink(missing_ok=True)
        meta = None
    elif meta is None and meta_path.exists():
        warnings.warn(f"{out}: cache.json is unreadable or incomplete; rebuilding what does not verify",
                      CacheWarning, stacklevel=2)
    resumed = None
    if meta is None:  # a build that was killed leaves its progress in cache.partial.json: resume from it
        resumed = _read_meta(partial_path)
        if resumed is not None and resumed.get("key") != key:
            resumed = None
    (out / "frames").mkdir(parents=True, exist_ok=True)
    frames = split_frames(hits, config.primaries_per_frame, config.framing, drop_partial=config.drop_partial)
    start = meta or resumed
    files: dict[str, str] = dict(start["files"]) if start else {}
    summary: list = list(start["summary"]) if start and len(start["summary"]) == len(frames) else []
    if len(summary) != len(frames):
        summary = [None] * len(frames)
    built = 0
    bar = progress_bar(total=len(frames), desc=f"graphs {hits_path.name}", unit="frame", enabled=progress)
    for i, fh in enumerate(frames):
        name = f"{i:06d}.pt"
        path = out / "frames" / name
        ok = name in files and summary[i] is not None and path.is_file() and file_sha256(path) == files[name]
        if not ok:
            if name in files and meta is not None:
                warnings.warn(f"{path}: missing or damaged cache entry; rebuilding", CacheWarning, stacklevel=2)
            graph, s = graph_from_hits(fh, config, device=device, modules=modules)
            data = _frame_bytes(graph)
            write_bytes_atomic(path, data)
            files[name] = hashlib.sha256(data).hexdigest()
            summary[i] = {"frame": i, **s}
            built += 1
            if built % PARTIAL_EVERY == 0:
                write_json_atomic(partial_path, {"key": key, "files": files, "summary": summary})
        bar.update(1)
    bar.close()
    derived_ok = meta is not None and all(
        (out / f).is_file() and file_sha256(out / f) == meta.get("derived", {}).get(f) for f in DERIVED)
    if meta is not None and not built and not derived_ok:
        warnings.warn(f"{out}: summary.json or normalization.json does not match its recorded hash; rewriting "
                      "them from the frames", CacheWarning, stacklevel=2)
    if built or meta is None or not derived_ok:
        write_json_atomic(out / "summary.json", summary)
        write_json_atomic(out / "normalization.json", compute_normalization(out, sorted(files)))
        new_meta = {"key": key, "version": CACHE_VERSION, "hits_file": str(hits_path), "hits_sha256": hits_sha,
                    "config": config.to_dict(), "n_frames": len(frames), "files": files, "summary": summary,
                    "derived": {f: file_sha256(out / f) for f in DERIVED}}
        write_json_atomic(meta_path, new_meta)
    partial_path.unlink(missing_ok=True)
    return CacheInfo(out, key, len(frames), built, time.perf_counter() - t0)


def compute_normalization(out: Path, names: list[str], max_frames: int = 200) -> dict:
    """Mean and std of line-node features and the line-edge scalar over (up to ``max_frames``) frames."""
    s = torch.zeros(8, dtype=torch.float64)
    s2 = torch.zeros(8, dtype=torch.float64)
    n = 0
    us, us2, nu = 0.0, 0.0, 0
    for name in names[:max_frames]:
        d = torch.load(out / "frames" / name, weights_only=True)
        x = d["x"].double()
        s += x.sum(0)
        s2 += (x * x).sum(0)
        n += x.shape[0]
        from .line_graph import pair_cosine_scalar

        u = pair_cosine_scalar(d["hit_x"][:, 1:4], d["hit_edge_index"].long(), d["pairs"].long()).double()
        us += float(u.sum())
        us2 += float((u * u).sum())
        nu += u.numel()
    mean = (s / max(n, 1))
    std = torch.sqrt((s2 / max(n, 1) - mean**2).clamp_min(1e-12))
    umean = us / max(nu, 1)
    ustd = float(np.sqrt(max(us2 / max(nu, 1) - umean**2, 1e-24)))
    return {"x_mean": mean.tolist(), "x_std": std.tolist(), "u_mean": umean, "u_std": ustd, "frames": min(len(names), max_frames),
            "features": ["E_i", "E_j", "x_i", "y_i", "z_i", "x_j", "y_j", "z_j"]}


class GraphDataset(torch.utils.data.Dataset):
    """Frames of a graph cache, loaded lazily; at most ``max_cached`` unpacked graphs are kept in memory."""

    def __init__(self, folder: str | Path, max_cached: int = 64, device: str = "cpu"):
        self.folder = Path(folder)
        meta_path = self.folder / "cache.json"
        if not meta_path.is_file():
            raise FileNotFoundError(f"{self.folder} is not a graph cache (no cache.json); run `pctlib graphs` first")
        self.meta = _read_meta(meta_path)
        if self.meta is None:
            raise CacheError(f"{meta_path}: not a complete graph cache record; rebuild with `pctlib graphs`")
        for f in DERIVED:
            want = self.meta.get("derived", {}).get(f)
            if want is not None and (not (self.folder / f).is_file() or file_sha256(self.folder / f) != want):
                raise CacheError(f"{self.folder / f} does not match the hash recorded at build time (edited?); "
                                 "`pctlib graphs` (or build_cache) rewrites it from the frames")
        self.names = sorted(self.meta["files"])
        self.normalization = json.loads((self.folder / "normalization.json").read_text())
        self.max_cached = max_cached
        self.device = device
        self._cache: OrderedDict[int, FrameGraph] = OrderedDict()

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int) -> FrameGraph:
        if i < 0:
            i += len(self)
        if i in self._cache:
            self._cache.move_to_end(i)
            return self._cache[i]
        d = torch.load(self.folder / "frames" / self.names[i], weights_only=True)
        g = unpack(d, self.device)
        self._cache[i] = g
        if len(self._cache) > self.max_cached:
            self._cache.popitem(last=False)
        return g

    @property
    def summary(self) -> list[dict]:
        return self.meta["summary"]
