"""Simulate primaries through phantom and detector in chunks: hit tables (published format) and primary truth.

One ``eventID`` per primary; readout frames are formed later by grouping consecutive primaries. Each chunk has its
own random stream derived from (seed, chunk index), so a seed fixes the output on the CPU, byte for byte.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from ..progress import progress_bar

from ..io.hit_table import HIT_DTYPE, cluster_size, levels_from_layer
from ..io.writers import HitWriter
from .beam import Beam
from .constants import PDG_PROTON
from .geometry import Geometry
from .steps import build_steps
from .transport import Particles, PhysicsConfig, transport

PRIMARY_DTYPE = np.dtype([
    ("eventID", "<i4"), ("energy", "<f4"), ("stopZ", "<f4"), ("inelastic", "<i1"), ("inelasticZ", "<f4"),
    ("wepl", "<f4"),  # water-equivalent path length through the phantom [mm] (transport.TransportResult.wepl)
])


@dataclass(frozen=True)
class Digitisation:
    """From deposits to hits: cluster size from the energy-loss model, and the reference cut.

    With ``pixel_clusters`` the hits of every ``frame_primaries`` consecutive primaries are drawn as measured ALPIDE
    pixel clusters, touching clusters merge and noise pixels appear at ``noise_rate`` per pixel and frame
    (``pixels.py``); the cut then applies to the merged clusters' pixel counts. Noise hits carry trackID =
    parentID = -1 and the eventID of their frame's first primary (so that framing keeps them in their frame).
    """

    min_cluster_size: int = 2  # hits with smaller clusters are dropped, as the reference pipeline does
    pixel_clusters: bool = False
    frame_primaries: int = 100
    noise_rate: float = 0.0
    merge_touching: bool = True

    def __post_init__(self):
        if self.frame_primaries < 1 or self.noise_rate < 0 or self.min_cluster_size < 0:
            raise ValueError("frame_primaries must be >= 1, noise_rate and min_cluster_size >= 0")


@dataclass
class SimulationResult:
    hits: np.ndarray  # HIT_DTYPE
    primaries: np.ndarray  # PRIMARY_DTYPE
    seconds: float = 0.0
    n_secondaries: int = 0
    info: dict = field(default_factory=dict)


def _generator(seed: int, chunk: int, device) -> torch.Generator:
    state = np.random.SeedSequence([int(seed), int(chunk)]).generate_state(2, dtype=np.uint32)
    g = torch.Generator(device=device)
    g.manual_seed(int(state[0]) << 31 ^ int(state[1]))
    return g


class Simulator:
    """Holds the transport tables of one geometry; ``run`` simulates primaries chunk by chunk."""

    def __init__(self, geometry: Geometry, beam: Beam | None = None, physics: PhysicsConfig | None = None,
                 digitisation: Digitisation | None = None, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32, max_step_mm: float = 10.0):
        self.geometry = geometry
        self.beam = beam or Beam()
        self.physics = physics or PhysicsConfig()
        self.digitisation = digitisation or Digitisation()
        self.device = torch.device(device)
        self.dtype = dtype
        self.steps = build_steps(geometry, max_step_mm=max_step_mm, device=self.device, dtype=dtype)
        self.z_start = self.steps[0].z0
        self.half = (0.5 * geometry.sensor.width_mm, 0.5 * geometry.sensor.height_mm)
        self._shapes = None  # measured ALPIDE cluster shapes, loaded when first needed

    def chunk(self, first: int, n: int, n_total: int, seed: int, chunk_index: int) -> tuple[np.ndarray, np.ndarray, int]:
        """Simulate primaries ``first .. first+n-1``; return (hits, primaries, number of secondaries)."""
        gen = _generator(seed, chunk_index, self.device)
        dev, dt = self.device, self.dtype
        x, y, ux, uy, uz, e, spots = self.beam.sample(first, n, n_total, self.z_start, gen, dev, dt)
        local = torch.arange(n, device=dev)
        p = Particles(x, y, ux, uy, uz, e, torch.ones(n, device=dev, dtype=dt),
                      torch.zeros(n, device=dev, dtype=torch.long), local,
                      torch.ones(n, device=dev, dtype=torch.long), torch.zeros(n, device=dev, dtype=torch.long),
                      torch.ones(n, device=dev, dtype=torch.bool))
        res = transport(p, self.steps, self.physics, gen, n, self.half)
        h = {k: v.cpu().numpy() for k, v in res.hits.items()}
        # deterministic order: by event, then layer, then track
        order = np.lexsort((h["track"], h["layer"], h["event"]))
        h = {k: v[order] for k, v in h.items()}
        inel = res.inelastic.cpu().numpy()
        spots_np = spots.cpu().numpy()
        hits = np.zeros(len(h["event"]), dtype=HIT_DTYPE)
        ev = h["event"]
        hits["eventID"] = ev + first
        hits["trackID"] = h["track"]
        hits["parentID"] = h["parent"]
        hits["PDGEncoding"] = PDG_PROTON
        hits["edep"] = h["edep"]
        hits["posX"] = h["x"]
        hits["posY"] = h["y"]
        hits["posZ"] = h["z"]
        hits["layer"] = h["layer"]
        hits["level1ID"], hits["level2ID"] = levels_from_layer(h["layer"])
        hits["spotX"] = spots_np[ev, 0]
        hits["spotY"] = spots_np[ev, 1]
        hits["primaryInelastic"] = inel[ev]
        hits = self._digitise(hits, first, n, seed, chunk_index)
        prim = np.zeros(n, dtype=PRIMARY_DTYPE)
        prim["eventID"] = np.arange(first, first + n)
        prim["energy"] = e.cpu().numpy()
        prim["stopZ"] = res.stop_z.cpu().numpy()
        prim["inelastic"] = inel
        prim["inelasticZ"] = res.inelastic_z.cpu().numpy()
        prim["wepl"] = res.wepl.cpu().numpy()
        return hits, prim, res.n_secondaries

    def _digitise(self, hits: np.ndarray, first: int, n: int, seed: int, chunk_index: int) -> np.ndarray:
        d = self.digitisation
        if not d.pixel_clusters:
            cs = cluster_size(hits["edep"], self.geometry.sensor.epitaxial_mm * 1000.0)
            return hits[cs >= d.min_cluster_size]
        from .pixels import ClusterShapes, digitise_frame

        if self._shapes is None:
            self._shapes = ClusterShapes.load()
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(chunk_index), 1]))
        layer_z = np.array(self.geometry.layer_z_mm)
        frame = (hits["eventID"] // d.frame_primaries)
        parts = []
        for f in range(first // d.frame_primaries, (first + n - 1) // d.frame_primaries + 1):
            sel = hits[frame == f]
            out, size = digitise_frame(sel, self.geometry.sensor, layer_z, rng, self._shapes, d.noise_rate,
                                       d.merge_touching)
            noise = out["trackID"] == -1
            out["eventID"][noise] = f * d.frame_primaries
            out["primaryInelastic"][noise] = 0
            parts.append(out[size >= d.min_cluster_size])
        out = np.concatenate(parts) if parts else hits[:0]
        return out[np.lexsort((out["trackID"], out["layer"], out["eventID"]))]

    #: peak bytes per noise pixel while a frame is digitised (pixel coordinates, sorting, neighbour search)
    NOISE_PIXEL_BYTES = 400

    def check_memory(self, n_primaries: int, chunk_size: int, keep: bool) -> None:
        """Refuse, before any work, a digitisation whose noise would not fit in memory (``noise_rate`` is per pixel
        and frame: at 1e-2 a frame of the 43-layer detector has some 24 million noise pixels). The estimate:
        the noise pixels of one frame while it is digitised, plus its hit rows for every frame of a chunk (every
        frame of the run when the hits are kept)."""
        d = self.digitisation
        if not (d.pixel_clusters and d.noise_rate > 0):
            return
        from ..checks import check_memory

        s = self.geometry.sensor
        pixels = round(s.width_mm / s.pitch_x_mm) * round(s.height_mm / s.pitch_y_mm)
        per_frame = d.noise_rate * pixels * self.geometry.n_layers
        frames_held = -(-(n_primaries if keep else min(chunk_size, n_primaries)) // d.frame_primaries)
        check_memory(per_frame * (self.NOISE_PIXEL_BYTES + frames_held * HIT_DTYPE.itemsize),
                     f"noise at {d.noise_rate:g} per pixel and frame ({per_frame:.3g} noise pixels per frame)")

    def run(self, n_primaries: int, seed: int = 0, chunk_size: int = 20000, out: str | Path | None = None,
            fmt: str | None = None, progress: bool = True, keep: bool | None = None) -> SimulationResult:
        """Simulate ``n_primaries``; write hits to ``out`` (streaming, atomic) and/or return them (``keep``).

        Each chunk of ``chunk_size`` primaries draws from its own random stream (seeded by ``seed`` and the chunk's
        index), so ``chunk_size`` is part of the seed: the same (seed, chunk_size) gives the same bytes, another
        chunk size another sample of the same physics."""
        if n_primaries < 1:
            raise ValueError(f"need at least one primary, got {n_primaries}")
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
        keep = out is None if keep is None else keep
        self.check_memory(n_primaries, chunk_size, keep)
        t0 = time.perf_counter()
        hits_parts, prim_parts = [], []
        n_sec = 0
        if self.digitisation.pixel_clusters:
            fp = self.digitisation.frame_primaries
            chunk_size = max(fp, chunk_size // fp * fp)
        n_chunks = -(-n_primaries // chunk_size)
        writer = HitWriter(out, fmt, HIT_DTYPE) if out is not None else None
        bar = progress_bar(total=n_primaries, desc="simulate", unit="p", enabled=progress, unit_scale=True)
        try:
            if writer:
                writer.__enter__()
            for c in range(n_chunks):
                first = c * chunk_size
                n = min(chunk_size, n_primaries - first)
                hits, prim, ns = self.chunk(first, n, n_primaries, seed, c)
                n_sec += ns
                if writer:
                    writer.write(hits)
                if keep:
                    hits_parts.append(hits)
                prim_parts.append(prim)
                bar.update(n)
        except BaseException as exc:
            if writer:
                writer.__exit__(type(exc), exc, None)
            raise
        finally:
            bar.close()
        if writer:
            writer.__exit__(None, None, None)
        return SimulationResult(
            hits=np.concatenate(hits_parts) if hits_parts else np.zeros(0, HIT_DTYPE),
            primaries=np.concatenate(prim_parts),
            seconds=time.perf_counter() - t0,
            n_secondaries=n_sec,
        )
