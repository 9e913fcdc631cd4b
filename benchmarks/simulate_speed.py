"""Benchmark of the detector Monte Carlo: primaries per second on one CPU core, the full paper dataset, memory.

    .venv/bin/python benchmarks/simulate_speed.py [--primaries 20000] [--full] [--device cpu]

Prints the throughput through phantom and detector for the 100 / 150 / 200 mm water phantoms with one torch thread
(one core), then, with --full, generates the paper's nine datasets (345k primaries) with `pctlib datasets` into a
temporary folder and prints the wall time and the peak resident memory of that process.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--primaries", type=int, default=20000)
    ap.add_argument("--full", action="store_true", help="also time the full 345k-primary paper dataset")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--chunk-size", type=int, default=20000, help="primaries transported together")
    ap.add_argument("--check-repeat", action="store_true",
                    help="run one phantom twice with the same seed and say whether the hits are identical")
    args = ap.parse_args()
    torch.set_num_threads(1)
    from pctlib.physics.geometry import load_geometry
    from pctlib.physics.simulate import Simulator

    geo = load_geometry(ROOT / "params" / "geometry" / "bergen_dtc.yaml")
    print(f"device {args.device}, torch threads {torch.get_num_threads()}, {args.primaries} primaries per phantom")
    print(f"{'phantom':>8} {'p/s':>9} {'hits/p':>7} {'inelastic':>9}")
    for t in (100.0, 150.0, 200.0):
        sim = Simulator(geo.with_phantom(t), device=args.device)
        sim.run(min(2000, args.primaries), seed=99, progress=False, chunk_size=args.chunk_size)  # warm-up
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        r = sim.run(args.primaries, seed=1, progress=False, chunk_size=args.chunk_size)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        print(f"{t:6.0f}mm {args.primaries / dt:9.0f} {len(r.hits) / args.primaries:7.2f} "
              f"{r.primaries['inelastic'].mean():9.3f}")
    if args.check_repeat:
        import numpy as np

        sim = Simulator(geo.with_phantom(100.0), device=args.device)
        a = sim.run(min(args.primaries, 50000), seed=5, progress=False, chunk_size=args.chunk_size).hits
        b = sim.run(min(args.primaries, 50000), seed=5, progress=False, chunk_size=args.chunk_size).hits
        same = a.shape == b.shape and all(np.array_equal(a[f], b[f]) for f in a.dtype.names)
        print(f"same seed twice on {args.device}: {'identical' if same else 'DIFFERENT'} hit tables")
    if args.device.startswith("cuda"):
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    if args.full:
        with tempfile.TemporaryDirectory() as tmp:
            env = dict(os.environ, OMP_NUM_THREADS="1")
            cmd = [sys.executable, "-c",
                   "import sys, torch, resource; torch.set_num_threads(1); from pctlib.cli import main; "
                   "rc = main(sys.argv[1:]); "
                   "print(f'peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB'); "
                   "sys.exit(rc)",
                   "datasets", str(ROOT / "params" / "datasets.yaml"), "--out-dir", tmp, "--no-progress",
                   "--device", args.device]
            t0 = time.perf_counter()
            out = subprocess.run(cmd, env=env, capture_output=True, text=True)
            dt = time.perf_counter() - t0
            if out.returncode:
                print(out.stderr)
                raise SystemExit(out.returncode)
            size = sum(f.stat().st_size for f in Path(tmp).glob("*.npz"))
            print(f"full paper dataset (345k primaries, 9 files, {size / 2**20:.0f} MiB): {dt:.1f} s wall, "
                  f"{out.stdout.strip().splitlines()[-1]}")


if __name__ == "__main__":
    main()
