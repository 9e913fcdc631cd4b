"""Benchmark of one training frame (forward + loss + backward) at 100 p+/F (100 mm), PTT and PAT lambda = 50.

    .venv/bin/python benchmarks/train_speed.py [--frames 6] [--passes 3] [--threads 1 2] [--device cpu|cuda]
                                               [--no-compiled] [--system-malloc] [--profile]

Builds frames of 100 primaries behind 100 mm of water once (not timed) and hands the same frames to a fresh
process per configuration (mode x threads x eager/compiled x allocator), so that each configuration's peak memory
is its own. Each process warms up on one frame, then times every frame ``--passes`` times and reports the median
and the mean per frame. "shipped" is the allocator setting ``train()`` applies (``pctlib.allocator``: freed memory
kept by glibc malloc); ``--system-malloc`` adds rows with glibc's defaults (``PCTLIB_MALLOC=system``).
"compiled" applies ``pctlib.models.interaction_network.compile_scorer`` (torch.compile of the three MLPs; the
compile time is printed, not included). No ratio to the released code is printed: a ratio counts only when both
ran side by side in the same measurement, which this script does not do. ``--profile`` prints the operators that take the time
(torch profiler, one thread, PAT) after the table. The paper-run column is 10,000 steps x 32 frames x the mean.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORKER = r"""
import json, resource, statistics, sys, time
import torch
args = json.loads(sys.argv[1])
from pctlib.allocator import keep_freed_memory
malloc = keep_freed_memory()
torch.set_num_threads(args["threads"])
from pctlib.training.loop import TrainConfig, frame_loss
from pctlib.models.interaction_network import EdgeScorer, compile_scorer
dev = torch.device(args["device"])
frames = [g.to(dev) for g in torch.load(args["frames"], weights_only=False)]
torch.manual_seed(0)
model = EdgeScorer().to(dev)
cfg = TrainConfig(mode=args["mode"], lam=50.0)
t0 = time.perf_counter()
if args["compiled"]:
    compile_scorer(model)
loss, _ = frame_loss(model, frames[0], cfg); loss.backward()  # warm-up (and the compilation)
warm = time.perf_counter() - t0
if dev.type == "cuda":
    torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
times = []
for _ in range(args["passes"]):
    for g in frames[1:]:
        t0 = time.perf_counter()
        loss, _ = frame_loss(model, g, cfg)
        (loss / 32).backward()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
out = {"median_ms": 1000 * statistics.median(times), "mean_ms": 1000 * statistics.mean(times), "warm_s": warm,
       "malloc_kept": malloc, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
if dev.type == "cuda":
    out["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
if args["profile"]:
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for g in frames[1:]:
            loss, _ = frame_loss(model, g, cfg)
            loss.backward()
    out["profile"] = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18)
print(json.dumps(out))
"""


def build_frames(n: int, path: Path) -> tuple[int, int]:
    import torch

    from pctlib.graphs.build import graph_from_hits
    from pctlib.graphs.config import GraphConfig
    from pctlib.graphs.frames import split_frames
    from pctlib.physics.geometry import load_geometry
    from pctlib.physics.simulate import Simulator

    geo = load_geometry(ROOT / "params" / "geometry" / "bergen_dtc.yaml")
    hits = Simulator(geo.with_phantom(100.0)).run(100 * (n + 1), seed=3, progress=False).hits
    frames = [graph_from_hits(f, GraphConfig())[0] for f in split_frames(hits, 100)][: n + 1]
    torch.save(frames, path)
    segs = sum(int(g.x.shape[0]) for g in frames[1:]) // n
    edges = sum(int(g.edge_index.shape[1]) for g in frames[1:]) // n
    return segs, edges


def run_worker(args: dict, system_malloc: bool) -> dict:
    env = dict(os.environ, PCTLIB_PROGRESS="0")
    if system_malloc:
        env["PCTLIB_MALLOC"] = "system"
    res = subprocess.run([sys.executable, "-c", WORKER, json.dumps(args)], capture_output=True, text=True, env=env)
    if res.returncode:
        print(res.stderr)
        raise SystemExit(res.returncode)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-compiled", action="store_true", help="eager rows only")
    ap.add_argument("--system-malloc", action="store_true", help="add rows with glibc malloc's defaults")
    ap.add_argument("--profile", action="store_true")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "frames.pt"
        segs, edges = build_frames(a.frames, path)
        print(f"device {a.device}; {a.frames} frames of 100 p+/F behind 100 mm (mean {segs} segments, {edges} "
              f"directed line-graph edges), {a.passes} passes each; times per frame, forward + loss + backward")
        print(f"{'mode':>4} {'thr':>3} {'path':>8} {'malloc':>7} {'median ms':>9} {'mean ms':>8} {'warm s':>7} "
              f"{'peak MiB':>8} {'paper h':>7}")
        profile_text = None
        for threads in a.threads:
            for compiled in ([False] if a.no_compiled else [False, True]):
                for system in ([False, True] if a.system_malloc else [False]):
                    for mode in ("ptt", "pat"):
                        want_profile = a.profile and threads == 1 and mode == "pat" and not compiled and not system
                        r = run_worker({"mode": mode, "threads": threads, "device": a.device, "frames": str(path),
                                        "passes": a.passes, "compiled": compiled, "profile": want_profile},
                                       system)
                        profile_text = r.get("profile", profile_text)
                        peak = r.get("peak_gpu_mib", r["peak_rss_mib"])
                        print(f"{mode:>4} {threads:>3} {'compiled' if compiled else 'eager':>8} "
                              f"{'kept' if r['malloc_kept'] else 'system':>7} {r['median_ms']:9.1f} "
                              f"{r['mean_ms']:8.1f} {r['warm_s']:7.1f} {peak:8.0f} "
                              f"{r['mean_ms'] / 1000 * 32 * 10000 / 3600:7.1f}", flush=True)
        if profile_text:
            print("\nwhere the time goes (PAT, 1 thread, eager, shipped allocator; torch profiler):")
            print(profile_text)


if __name__ == "__main__":
    main()
