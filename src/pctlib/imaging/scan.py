"""A scanned radiography phantom as data: the hit table of the scan and, beside it, the truth of its
primaries (``physics.simulate.PRIMARY_DTYPE``, with the WEPL each proton crossed), simulated once and cached; and
frame graphs carrying that truth per hit, for the downstream loss and for images of ground-truth tracks.

Files (under ``root``, ``data/`` in the repository): ``hits/scan-<name>_<n>_s<seed>_<digest>.npz``, its primaries
``….primaries.npy`` and a sidecar ``….npz.json`` with the configuration digest and both files' sha256. The digest
covers the phantom file's content, the geometry file's content, the beam, the protons per spot and the seed; a file
whose sidecar or hashes do not match is simulated again. Safe under concurrent callers (a file lock).
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..fileio import file_sha256, target_lock, write_bytes_atomic, write_json_atomic
from ..physics.config import DEFAULT_GEOMETRY


class ScanWarning(UserWarning):
    """A cached scan failed its check and was simulated again."""


@dataclass(frozen=True)
class ScanSpec:
    """One scan: the phantom file (``params/phantoms/*.yaml``), protons per spot, seed, and the beam's settings
    other than its spots (energy, spread, spot size, divergence; ``physics.beam.Beam``)."""

    phantom: str
    primaries_per_spot: int
    seed: int
    geometry: str = str(DEFAULT_GEOMETRY)
    chunk_size: int = 20000
    beam: dict = field(default_factory=dict)

    def __post_init__(self):
        if not (isinstance(self.primaries_per_spot, int) and self.primaries_per_spot >= 1):
            raise ValueError(f"primaries_per_spot must be a positive integer, got {self.primaries_per_spot!r}")

    def to_dict(self) -> dict:
        d = asdict(self)
        for key in ("phantom", "geometry"):
            p = Path(getattr(self, key))
            d[f"{key}_sha256"] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
            d[key] = p.name
        return d

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True, default=str).encode()).hexdigest()[:16]

    def setup(self):
        """(geometry with the phantom, beam over the scan grid, number of primaries)."""
        from ..physics.geometry import load_geometry
        from .phantom import load_phantom, scanning_beam

        geometry, scan = load_phantom(self.phantom, load_geometry(self.geometry))
        beam = scanning_beam(scan, **self.beam)
        return geometry, beam, self.primaries_per_spot * len(beam.spots)


@dataclass(frozen=True)
class ScanFiles:
    hits: Path
    primaries: Path


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _verified(files: ScanFiles, digest: str) -> bool:
    try:
        meta = json.loads(_sidecar(files.hits).read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return (meta.get("config_digest") == digest and files.hits.is_file() and files.primaries.is_file()
            and file_sha256(files.hits) == meta.get("sha256") and file_sha256(files.primaries) == meta.get(
                "primaries_sha256"))


def simulated_scan(root: str | Path, name: str, spec: ScanSpec, progress: bool = True) -> ScanFiles:
    """The hit and primaries files of ``spec`` (module docstring), simulating them first when missing."""
    from ..physics.simulate import Simulator

    digest = spec.digest()
    geometry, beam, n = spec.setup()
    stem = f"scan-{name}_{n}_s{spec.seed}_{digest[:8]}"
    files = ScanFiles(Path(root) / "hits" / f"{stem}.npz", Path(root) / "hits" / f"{stem}.primaries.npy")
    if _verified(files, digest):
        return files
    with target_lock(files.hits):
        if _verified(files, digest):
            return files
        if files.hits.exists() or _sidecar(files.hits).exists():
            warnings.warn(f"{files.hits}: missing or mismatching sidecar or content hash; simulating it again",
                          ScanWarning, stacklevel=2)
        files.hits.parent.mkdir(parents=True, exist_ok=True)
        result = Simulator(geometry, beam=beam).run(n, seed=spec.seed, chunk_size=spec.chunk_size, out=files.hits,
                                                     progress=progress, keep=False)
        buf = io.BytesIO()
        np.save(buf, result.primaries, allow_pickle=False)
        write_bytes_atomic(files.primaries, buf.getvalue())
        write_json_atomic(_sidecar(files.hits), {"config_digest": digest, "sha256": file_sha256(files.hits),
                                                 "primaries_sha256": file_sha256(files.primaries),
                                                 "config": spec.to_dict()})
    return files


def read_primaries(path: str | Path) -> np.ndarray:
    return np.load(path, allow_pickle=False)


def hit_truth_wepl(hit_event: np.ndarray, hit_clean: np.ndarray, primaries: np.ndarray,
                   first_event: int = 0) -> np.ndarray:
    """Per hit: the truth WEPL [mm] of its primary for the hits of clean primaries (``hit_clean``), NaN for all
    others. ``hit_event`` is frame-local (``graphs.hit_graph``: eventID − ``first_event``); an event missing from
    ``primaries`` is an error."""
    ev = np.asarray(hit_event).astype(np.int64) + int(first_event)
    clean = np.asarray(hit_clean, bool)
    out = np.full(ev.shape, np.nan)
    if not clean.any():
        return out
    order = np.argsort(primaries["eventID"], kind="stable")
    ids = primaries["eventID"][order]
    if ids.size == 0:
        raise ValueError("no primaries to take the truth WEPL from")
    pos = np.minimum(np.searchsorted(ids, ev[clean]), ids.size - 1)
    if np.any(ids[pos] != ev[clean]):
        raise ValueError("a clean primary hit's event is not among the primaries")
    out[clean] = primaries["wepl"][order[pos]].astype(float)
    return out


def frame_first_events(hits: np.ndarray, config) -> list[int]:
    """The first eventID of every frame graph a cache of ``hits`` holds (``graphs.dataset.build_cache`` with
    ``config``, the angular graphs without a hit classifier): the offset of its frame-local event indices."""
    from ..graphs.frames import preprocess, split_frames
    from ..graphs.hit_graph import first_event_id

    if config.uses_modules:
        raise ValueError("truth per hit is mapped for graphs without learned modules only")
    frames = split_frames(hits, config.primaries_per_frame, config.framing, drop_partial=config.drop_partial)
    return [first_event_id(preprocess(fh, config)) for fh in frames]


def with_truth_wepl(frame, primaries: np.ndarray, first_event: int = 0):
    """``frame`` (a ``FrameGraph``) with ``hit_wepl``: the truth WEPL per hit (:func:`hit_truth_wepl`)."""
    frame.hit_wepl = torch.as_tensor(hit_truth_wepl(frame.hit_event.cpu().numpy(), frame.hit_clean.cpu().numpy(),
                                                    primaries, first_event), dtype=torch.float64,
                                     device=frame.hit_x.device)
    return frame


class TruthWeplFrames:
    """A sequence of frames (``GraphDataset``) whose frames come with ``hit_wepl``; ``first_events`` from
    :func:`frame_first_events`, one per frame."""

    def __init__(self, frames, primaries: np.ndarray, first_events: list[int]):
        if len(first_events) != len(frames):
            raise ValueError(f"{len(first_events)} frame offsets for {len(frames)} frames")
        self.frames, self.primaries, self.first_events = frames, primaries, list(first_events)
        self.parts = getattr(frames, "parts", None)

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int):
        return with_truth_wepl(self.frames[i], self.primaries, self.first_events[i])


def scan_frames(root: str | Path, name: str, spec: ScanSpec, config, progress: bool = True,
                max_cached: int = 256) -> tuple[TruthWeplFrames, ScanFiles]:
    """The frame graphs of a scan (simulated and cached once, graphs cached under ``root/graphs``) with the
    truth WEPL per hit, and the scan's files."""
    from ..graphs.dataset import GraphDataset, build_cache
    from ..io.readers import read_hits

    files = simulated_scan(root, name, spec, progress)
    out = Path(root) / "graphs" / f"{files.hits.stem}_{config.primaries_per_frame}"
    build_cache(files.hits, out, config, progress=progress)
    offsets = frame_first_events(read_hits(files.hits), config)
    return TruthWeplFrames(GraphDataset(out, max_cached=max_cached), read_primaries(files.primaries), offsets), files
