"""Datasets for training: simulate hits per phantom (once), build the graph caches (once), and concatenate.

Files go under ``root`` (``data/`` in the repository, ignored by git): ``hits/<name>_<phantom>mm_<n>_s<seed>.npz``
and ``graphs/<same>_<ppf>/``; both are reused when present (the cache is keyed by content hash and parameters).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..graphs.config import GraphConfig
from ..graphs.dataset import GraphDataset, build_cache
from ..physics.config import DEFAULT_GEOMETRY
from ..physics.geometry import load_geometry
from ..physics.simulate import Simulator


class FrameList:
    """Frames of several graph datasets as one sequence."""

    def __init__(self, parts: list[GraphDataset]):
        self.parts = parts
        self.offsets = [0]
        for p in parts:
            self.offsets.append(self.offsets[-1] + len(p))

    def __len__(self) -> int:
        return self.offsets[-1]

    def __getitem__(self, i: int):
        for k, p in enumerate(self.parts):
            if i < self.offsets[k + 1]:
                return p[i - self.offsets[k]]
        raise IndexError(i)


@dataclass
class DataSpec:
    name: str
    phantoms: tuple[float, ...]
    primaries: int  # per phantom
    seed: int
    primaries_per_frame: int = 100


def prepare(spec: DataSpec, root: str | Path, progress: bool = True, max_cached: int = 256) -> FrameList:
    root = Path(root)
    geo = load_geometry(DEFAULT_GEOMETRY)
    parts = []
    for k, t in enumerate(spec.phantoms):
        stem = f"{spec.name}_{t:g}mm_{spec.primaries}_s{spec.seed}"
        hits = root / "hits" / f"{stem}.npz"
        if not hits.is_file():
            hits.parent.mkdir(parents=True, exist_ok=True)
            Simulator(geo.with_phantom(t)).run(spec.primaries, seed=spec.seed * 1000 + k, out=hits, progress=progress)
        out = root / "graphs" / f"{stem}_{spec.primaries_per_frame}"
        build_cache(hits, out, GraphConfig(primaries_per_frame=spec.primaries_per_frame), progress=progress)
        parts.append(GraphDataset(out, max_cached=max_cached))
    return FrameList(parts)


def feature_statistics(frames: FrameList, max_frames: int = 200) -> dict:
    """Mean and std of the line-node features over (up to ``max_frames``) frames, for input normalisation."""
    xs = [frames[i].x for i in range(min(len(frames), max_frames))]
    x = torch.cat(xs).double()
    return {"x_mean": x.mean(0).float().tolist(), "x_std": x.std(0).clamp_min(1e-6).float().tolist()}
