"""Datasets for training: simulate hits per phantom (once), build the graph caches (once), and concatenate.

Files go under ``root`` (``data/`` in the repository, ignored by git):
``hits/<name>_<phantom>mm_<n>_s<seed>_<digest>.npz`` and ``graphs/<same>_<ppf>/``; both are reused when present.
The digest is that of the full simulation configuration (geometry file content included), so a changed geometry or
physics setting never reuses old hits; the graph cache is keyed by content hash and parameters.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from ..fileio import file_sha256, target_lock, write_json_atomic
from ..graphs.config import GraphConfig
from ..graphs.dataset import GraphDataset, build_cache
from ..physics.config import SimulationConfig
from ..physics.simulate import Digitisation, Simulator


class DataWarning(UserWarning):
    """A cached data file failed its check and was produced again."""


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _verified(path: Path, digest: str) -> bool:
    """The hit file exists, its sidecar names the same configuration, and its content hash matches."""
    try:
        meta = json.loads(_sidecar(path).read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return meta.get("config_digest") == digest and path.is_file() and file_sha256(path) == meta.get("sha256")


def simulated_hits(root: str | Path, name: str, phantom_mm: float, primaries: int, seed: int,
                   progress: bool = True, digitisation: Digitisation | None = None) -> Path:
    """Path of a hit file simulated with the default configuration (or another ``digitisation``: pixel clusters,
    noise), simulating it first when missing.

    Safe under concurrent callers (grid jobs sharing ``root``): the file's lock is held while it is checked and,
    if needed, produced, so one process simulates and the others wait and reuse it. A file is reused only when its
    sidecar (``NAME.npz.json``: configuration digest, sha256) matches its content; otherwise it is simulated again
    with a :class:`DataWarning`."""
    cfg = SimulationConfig(phantom_mm=phantom_mm, primaries=primaries, seed=seed,
                           **({"digitisation": digitisation} if digitisation is not None else {}))
    digest = cfg.digest()
    path = Path(root) / "hits" / f"{name}_{phantom_mm:g}mm_{primaries}_s{seed}_{digest[:8]}.npz"
    if _verified(path, digest):
        return path
    with target_lock(path):
        if _verified(path, digest):  # another process finished it while we waited
            return path
        if path.exists() or _sidecar(path).exists():
            warnings.warn(f"{path}: missing or mismatching sidecar or content hash; simulating it again",
                          DataWarning, stacklevel=2)
        Simulator(cfg.load_geometry(), beam=cfg.beam, physics=cfg.physics, digitisation=cfg.digitisation,
                  max_step_mm=cfg.max_step_mm).run(primaries, seed=seed, chunk_size=cfg.chunk_size, out=path,
                                                   progress=progress)
        write_json_atomic(_sidecar(path), {"config_digest": digest, "sha256": file_sha256(path),
                                           "config": cfg.to_dict()})
    return path


class FrameList:
    """Frames of several graph datasets as one sequence."""

    def __init__(self, parts: list[GraphDataset]):
        self.parts = parts
        self.offsets = [0]
        for p in parts:
            self.offsets.append(self.offsets[-1] + len(p))

    def __len__(self) -> int:
        return self.offsets[-1]

    @property
    def identity(self) -> list[str]:
        """Cache keys of the parts (content hash of each hit file and the graph parameters): what the frames are."""
        return [p.meta["key"] for p in self.parts]

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


def prepare(spec: DataSpec, root: str | Path, progress: bool = True, max_cached: int = 256,
            graph: GraphConfig | None = None, modules=None) -> FrameList:
    """The frames of ``spec``: hits simulated once per phantom, graphs cached once. ``graph`` (default: the
    reference configuration at the spec's density) may name a hit classifier or the learned graph builder; then
    ``modules`` (``graphs.modules.GraphModules``) are needed, and the graphs go to their own cache folder."""
    root = Path(root)
    cfg = graph or GraphConfig(primaries_per_frame=spec.primaries_per_frame)
    if cfg.primaries_per_frame != spec.primaries_per_frame:
        raise ValueError(f"graph config has {cfg.primaries_per_frame} primaries per frame, the spec "
                         f"{spec.primaries_per_frame}")
    tag = f"_{cfg.graph_builder}-{cfg.preselect}-{cfg.modules_digest[:8]}" if cfg.uses_modules else ""
    parts = []
    for k, t in enumerate(spec.phantoms):
        hits = simulated_hits(root, spec.name, t, spec.primaries, spec.seed * 1000 + k, progress)
        out = root / "graphs" / f"{hits.stem}_{spec.primaries_per_frame}{tag}"
        build_cache(hits, out, cfg, progress=progress, modules=modules)
        parts.append(GraphDataset(out, max_cached=max_cached))
    return FrameList(parts)


def feature_statistics(frames: FrameList, max_frames: int = 200) -> dict:
    """Mean and std of the line-node features over (up to ``max_frames``) frames, for input normalisation."""
    xs = [frames[i].x for i in range(min(len(frames), max_frames))]
    x = torch.cat(xs).double()
    return {"x_mean": x.mean(0).float().tolist(), "x_std": x.std(0).clamp_min(1e-6).float().tolist()}


def graph_setup(root: str | Path, graph_builder: str = "angular", preselect: str = "none",
                phantoms: tuple[float, ...] = (100.0, 150.0, 200.0), primaries_per_frame: int = 100,
                module_primaries: int = 2000, module_seed: int = 77, classifier=None, embedding=None,
                progress: bool = True, base: GraphConfig | None = None, digitisation: Digitisation | None = None):
    """The graph configuration of a chapter's ``graph_builder`` / ``preselect`` parameters and the trained modules
    it needs (None for the reference angular graphs without a classifier). The modules learn from their own data
    set (``modules`` hits: ``module_primaries`` per phantom, seed ``module_seed``), so that the training and the
    benchmark chapters, called with the same parameters, share one trained file (``root/modules/``).
    ``classifier`` / ``embedding``: a ``ClassifierConfig`` / ``EmbeddingConfig`` (defaults when None)."""
    import hashlib

    from ..graphs.frames import split_frames
    from ..graphs.learned import EmbeddingConfig
    from ..graphs.modules import fitted_modules
    from ..io.readers import read_hits
    from ..preselect.classifier import ClassifierConfig

    root = Path(root)
    cfg = base or GraphConfig(primaries_per_frame=primaries_per_frame)
    if graph_builder == "angular" and preselect == "none":
        return cfg, None
    if graph_builder not in ("angular", "learned") or preselect not in ("none", "fcnn", "gbdt"):
        raise ValueError(f"graph_builder must be angular or learned, preselect none, fcnn or gbdt; got "
                         f"{graph_builder!r}, {preselect!r}")
    clf = (classifier or ClassifierConfig(kind=preselect)) if preselect != "none" else None
    if clf is not None and clf.kind != preselect:
        raise ValueError(f"preselect {preselect!r} with a {clf.kind} classifier configuration")
    emb = (embedding or EmbeddingConfig()) if graph_builder == "learned" else None
    paths = [simulated_hits(root, "modules", t, module_primaries, module_seed * 1000 + k, progress, digitisation)
             for k, t in enumerate(phantoms)]
    frames_key = hashlib.sha256("|".join(file_sha256(p) for p in paths).encode()).hexdigest()[:20]

    def frames():
        return [f for p in paths for f in split_frames(read_hits(p), cfg.primaries_per_frame, cfg.framing,
                                                       drop_partial=True)]

    settings = json.dumps({"graph": cfg.to_dict(), "classifier": clf.to_dict() if clf else None,
                           "embedding": emb.to_dict() if emb else None}, sort_keys=True)
    name = f"{graph_builder}-{preselect}_{frames_key[:8]}_{hashlib.sha256(settings.encode()).hexdigest()[:8]}.modules"
    mods = fitted_modules(root / "modules" / name, frames_key, frames, cfg, clf, emb, progress)
    return mods.config(cfg, graph_builder, preselect), mods
