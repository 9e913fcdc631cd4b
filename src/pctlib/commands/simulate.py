"""``pctlib simulate`` (one hit file) and ``pctlib datasets`` (the paper's sets from a YAML file)."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path


from .common import UsageError, check_device, check_writable, checked_numbers, register
from ..fileio import YamlError, file_sha256, read_yaml, write_json_atomic


def simulate_to_file(cfg, out: Path, fmt: str | None, device: str = "cpu", progress: bool = True) -> dict:
    """Simulate ``cfg`` into ``out`` (atomic) and write ``out.json`` with the configuration and a summary."""
    import numpy as np

    from ..physics.simulate import Simulator

    geo = cfg.load_geometry()
    sim = Simulator(geo, cfg.beam, cfg.physics, cfg.digitisation, device=device, max_step_mm=cfg.max_step_mm)
    t0 = time.perf_counter()
    res = sim.run(cfg.primaries, seed=cfg.seed, chunk_size=cfg.chunk_size, out=out, fmt=fmt, progress=progress,
                  keep=False)
    seconds = time.perf_counter() - t0
    prim = res.primaries
    meta = {
        "file": out.name,
        "sha256": file_sha256(out),
        "config": cfg.to_dict(),
        "config_digest": cfg.digest(),
        "primaries": int(cfg.primaries),
        "inelastic_fraction": float(np.mean(prim["inelastic"])),
        "secondaries": int(res.n_secondaries),
        "seconds": round(seconds, 2),
        "primaries_per_second": round(cfg.primaries / seconds, 1),
        "device": str(device),
    }
    write_json_atomic(out.with_name(out.name + ".json"), meta)
    return meta


def _config_from_args(args):
    from ..physics.beam import Beam
    from ..physics.config import DEFAULT_GEOMETRY, SimulationConfig
    from ..physics.simulate import Digitisation

    from ..checks import NumberError, check_number

    try:
        check_number(args.primaries, "--primaries", minimum=1, integer=True)
        check_number(args.phantom_mm, "--phantom-mm", minimum=0.0)
        check_number(args.energy_mev, "--energy-mev", above=0.0)
        check_number(args.noise_rate, "--noise-rate", minimum=0.0, maximum=1.0)
        check_number(args.chunk_size, "--chunk-size", minimum=1, integer=True)
        check_number(args.seed, "--seed", minimum=0, integer=True)
        for name in ("centre_mm", "gap_mm"):
            if getattr(args, name) is not None:
                check_number(getattr(args, name), f"--{name.replace('_', '-')}", minimum=0.0)
        if args.pixel_frames is not None:
            check_number(args.pixel_frames, "--pixel-frames", minimum=1, integer=True)
    except NumberError as exc:
        raise UsageError(str(exc)) from None
    if args.noise_rate > 0 and args.pixel_frames is None:
        raise UsageError("--noise-rate needs --pixel-frames N (noise is added per readout frame)")
    if args.gap_mm is not None and args.centre_mm is not None:
        raise UsageError("give --gap-mm or --centre-mm, not both")
    return SimulationConfig(
        geometry=str(args.geometry or DEFAULT_GEOMETRY), phantom_mm=args.phantom_mm, primaries=args.primaries,
        gap_to_detector_mm=args.gap_mm, centre_to_detector_mm=args.centre_mm,
        seed=args.seed, chunk_size=args.chunk_size, beam=Beam(energy_mev=args.energy_mev),
        digitisation=Digitisation(pixel_clusters=args.pixel_frames is not None,
                                  frame_primaries=args.pixel_frames or 100, noise_rate=args.noise_rate),
    )


SUFFIXES = {".npz": "npz", ".parquet": "parquet"}


def output_format(out: Path, fmt: str | None) -> str:
    """The format to write ``out`` in, checked before any work: the suffix decides (.npz or .parquet), an explicit
    ``--format`` must agree with it, and ``out`` must not be a folder and its folder must be writable."""
    if out.is_dir():
        raise UsageError(f"--out {out}: is a folder; give a file name ending in .npz or .parquet")
    by_suffix = SUFFIXES.get(out.suffix.lower())
    if by_suffix is None:
        raise UsageError(f"--out {out}: the file name must end in .npz or .parquet (hit files are written in one "
                         "of those formats; convert other formats from them)")
    if fmt is not None and fmt != by_suffix:
        raise UsageError(f"--format {fmt} disagrees with --out {out.name} ({by_suffix})")
    check_writable(out, "--out")
    return by_suffix


def cmd_simulate(args: argparse.Namespace) -> int:
    from ..physics.beam import BeamError
    from ..physics.geometry import GeometryError

    try:
        cfg = _config_from_args(args)
        cfg.load_geometry()
    except (BeamError, GeometryError) as exc:
        raise UsageError(str(exc)) from None
    out = Path(args.out)
    fmt = output_format(out, args.format)
    check_device(args.device)
    meta = simulate_to_file(cfg, out, fmt, device=args.device, progress=not args.no_progress)
    print(f"{out}: {meta['primaries']} primaries in {meta['seconds']} s "
          f"({meta['primaries_per_second']:.0f} p/s), sha256 {meta['sha256'][:16]}")
    return 0


DATASET_KEYS = {"name", "phantom_mm", "primaries", "seed"}
#: a set's name becomes a file name in out_dir: no folders, no hidden files
SET_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def cmd_datasets(args: argparse.Namespace) -> int:
    from ..physics.beam import Beam, BeamError
    from ..physics.config import DEFAULT_GEOMETRY, SimulationConfig
    from ..physics.geometry import GeometryError

    path = Path(args.params)
    if not path.is_file():
        raise UsageError(f"datasets file {path} does not exist")
    try:
        spec = read_yaml(path) or {}
    except YamlError as exc:
        raise UsageError(str(exc)) from None
    allowed = {"geometry", "energy_mev", "out_dir", "format", "chunk_size", "sets"}
    unknown = set(spec) - allowed
    if unknown:
        raise UsageError(f"{path.name}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(allowed))}")
    sets = spec.get("sets")
    if not isinstance(sets, list) or not sets:
        raise UsageError(f"{path.name}: 'sets' must list at least one dataset")
    root = path.resolve().parent.parent
    out_dir = Path(args.out_dir or spec.get("out_dir", "data"))
    if not out_dir.is_absolute():
        out_dir = root / out_dir
    geometry = spec.get("geometry") or str(DEFAULT_GEOMETRY)
    if not Path(geometry).is_absolute() and (root / geometry).is_file():
        geometry = str(root / geometry)
    fmt = spec.get("format", "npz")
    if fmt not in SUFFIXES.values():
        raise UsageError(f"{path.name}: format {fmt!r}: hit files are written as {' or '.join(SUFFIXES.values())}")
    whole = {"minimum": 1, "integer": True}
    checked_numbers([(spec.get("chunk_size", 20000), f"{path.name}: chunk_size", whole),
                     (spec.get("energy_mev", 230.0), f"{path.name}: energy_mev", {"above": 0.0})])
    seeds, names = {}, {}
    configs = []
    for i, s in enumerate(sets):
        if not isinstance(s, dict) or set(s) != DATASET_KEYS:
            raise UsageError(f"{path.name}: sets[{i}] needs exactly {', '.join(sorted(DATASET_KEYS))}")
        where = f"{path.name}: sets[{i}]"
        name = s["name"]
        if not isinstance(name, str) or not SET_NAME.fullmatch(name):
            raise UsageError(f"{where}: name {name!r} must be a plain file name (letters, digits, '_', '-', '.'; "
                             "not starting with '.'), so that the set stays inside out_dir")
        if name in names:
            raise UsageError(f"{where}: name {name!r} is already the name of sets[{names[name]}]; names must differ")
        names[name] = i
        checked_numbers([(s["seed"], f"{where}.seed", {"minimum": 0, "integer": True}),
                         (s["primaries"], f"{where}.primaries", whole),
                         (s["phantom_mm"], f"{where}.phantom_mm", {"minimum": 0.0})])
        seed = int(s["seed"])
        if seed in seeds:
            raise UsageError(f"{where} ({name}): seed {seed} is used twice (also by sets[{seeds[seed]}]); seeds "
                             "must differ")
        seeds[seed] = i
        try:
            cfg = SimulationConfig(geometry=geometry, phantom_mm=float(s["phantom_mm"]), primaries=int(s["primaries"]),
                                   seed=seed, chunk_size=int(spec.get("chunk_size", 20000)),
                                   beam=Beam(energy_mev=float(spec.get("energy_mev", 230.0))))
            cfg.load_geometry()
        except (BeamError, GeometryError) as exc:
            raise UsageError(f"{where}: {exc}") from None
        configs.append((name, cfg))
    check_writable(out_dir, "out_dir", folder=True)
    check_device(args.device)
    out_dir.mkdir(parents=True, exist_ok=True)
    index_path = out_dir / "datasets.json"
    index = json.loads(index_path.read_text()) if index_path.is_file() else {}
    for name, cfg in configs:
        out = out_dir / f"{name}.{fmt}"
        old = index.get(name)
        if (old and old.get("config_digest") == cfg.digest() and out.is_file() and not args.force
                and file_sha256(out) == old.get("sha256")):
            print(f"{name}: up to date ({old['sha256'][:16]})", file=sys.stderr)
            continue
        print(f"{name}: simulating {cfg.primaries} primaries, {cfg.phantom_mm} mm phantom, seed {cfg.seed}",
              file=sys.stderr)
        meta = simulate_to_file(cfg, out, fmt, device=args.device, progress=not args.no_progress)
        index[name] = {k: meta[k] for k in ("file", "sha256", "config_digest", "primaries", "seconds")}
        index[name]["phantom_mm"] = cfg.phantom_mm
        index[name]["seed"] = cfg.seed
        write_json_atomic(index_path, index)
    print(f"{index_path}: {len(index)} datasets")
    return 0


@register("simulate", "simulate protons through a phantom and the detector into a hit table")
def _simulate_cmd():
    def configure(p: argparse.ArgumentParser) -> None:
        p.add_argument("--phantom-mm", type=float, default=100.0, help="water phantom thickness [mm] (default 100)")
        p.add_argument("--primaries", type=int, default=10000)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--out", required=True, help="output file (.npz or .parquet)")
        p.add_argument("--geometry", help="geometry YAML (default params/geometry/bergen_dtc.yaml)")
        p.add_argument("--energy-mev", type=float, default=230.0)
        p.add_argument("--gap-mm", type=float, help="air gap from the phantom's exit to the detector [mm] "
                                                    "(default: the geometry's placement)")
        p.add_argument("--centre-mm", type=float, help="distance from the phantom's centre to the detector [mm]; "
                                                       "the gap follows the thickness")
        p.add_argument("--format", choices=["npz", "parquet"], help="default: from the file suffix")
        p.add_argument("--chunk-size", type=int, default=20000,
                       help="primaries per chunk: bounds memory, and is part of the seed (each chunk draws its own "
                            "random stream, so another chunk size gives another, equally valid sample)")
        p.add_argument("--pixel-frames", type=int, metavar="N",
                       help="draw measured ALPIDE pixel clusters and merge touching ones in frames of N primaries")
        p.add_argument("--noise-rate", type=float, default=0.0,
                       help="fake-hit rate per pixel and frame (with --pixel-frames; default 0)")
        p.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
        p.add_argument("--no-progress", action="store_true")

    return configure, cmd_simulate


@register("datasets", "simulate the datasets listed in a YAML file (train/validation/test per phantom)")
def _datasets_cmd():
    def configure(p: argparse.ArgumentParser) -> None:
        p.add_argument("params", help="datasets YAML, e.g. params/datasets.yaml")
        p.add_argument("--out-dir", help="override the file's out_dir")
        p.add_argument("--force", action="store_true", help="re-simulate sets that are up to date")
        p.add_argument("--device", default="cpu")
        p.add_argument("--no-progress", action="store_true")

    return configure, cmd_datasets
