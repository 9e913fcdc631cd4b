"""Benchmark of one training step: time and peak memory per frame at 100 p+/F (100 mm), PTT and PAT.

    .venv/bin/python benchmarks/train_speed.py [--frames 8] [--device cpu|cuda] [--threads 1]

Builds frames of 100 primaries behind 100 mm of water (not timed), then times forward + loss + backward of each
frame for predict-then-track (BCE) and predict-and-track (Hamming loss through the blackbox assignment, lambda 50),
as in a training step with gradient accumulation. Each mode runs in a fresh process so that its peak memory
(resident set on the CPU, allocated memory on a GPU) is its own. The projected time of one paper-protocol run is
10,000 steps x 32 frames x the time per frame (validation not included).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORKER = r"""
import json, resource, sys, time
import torch
args = json.loads(sys.argv[1])
torch.set_num_threads(args["threads"])
from pctlib.graphs.build import graph_from_hits
from pctlib.graphs.config import GraphConfig
from pctlib.graphs.frames import split_frames
from pctlib.physics.geometry import load_geometry
from pctlib.physics.simulate import Simulator
from pctlib.training.loop import TrainConfig, frame_loss
from pctlib.models.interaction_network import EdgeScorer
geo = load_geometry(args["geometry"])
hits = Simulator(geo.with_phantom(100.0)).run(100 * (args["frames"] + 1), seed=3, progress=False).hits
dev = torch.device(args["device"])
frames = [graph_from_hits(f, GraphConfig())[0].to(dev) for f in split_frames(hits, 100)][: args["frames"] + 1]
torch.manual_seed(0)
model = EdgeScorer().to(dev)
cfg = TrainConfig(mode=args["mode"], lam=50.0)
base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
loss, _ = frame_loss(model, frames[0], cfg); loss.backward()  # warm-up
if dev.type == "cuda":
    torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
times = []
for g in frames[1:]:
    t0 = time.perf_counter()
    loss, _ = frame_loss(model, g, cfg)
    (loss / 32).backward()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    times.append(time.perf_counter() - t0)
out = {"mode": args["mode"], "seconds_per_frame": sum(times) / len(times), "segments": int(frames[1].x.shape[0]),
       "line_edges": int(frames[1].edge_index.shape[1] // 2),
       "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
       "rss_before_mib": base_rss / 1024}
if dev.type == "cuda":
    out["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
print(json.dumps(out))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    print(f"device {args.device}, torch threads {args.threads}, {args.frames} timed frames of 100 p+/F, 100 mm")
    print(f"{'mode':>5} {'s/frame':>8} {'segments':>9} {'line edges':>11} {'peak MiB':>9} {'paper run h':>12}")
    for mode in ("ptt", "pat"):
        a = {"mode": mode, "frames": args.frames, "device": args.device, "threads": args.threads,
             "geometry": str(ROOT / "params" / "geometry" / "bergen_dtc.yaml")}
        res = subprocess.run([sys.executable, "-c", WORKER, json.dumps(a)], capture_output=True, text=True)
        if res.returncode:
            print(res.stderr)
            raise SystemExit(res.returncode)
        r = json.loads(res.stdout.strip().splitlines()[-1])
        peak = r.get("peak_gpu_mib", r["peak_rss_mib"])
        hours = r["seconds_per_frame"] * 32 * 10000 / 3600
        print(f"{mode:>5} {r['seconds_per_frame']:8.3f} {r['segments']:9d} {r['line_edges']:11d} {peak:9.0f} "
              f"{hours:12.1f}")


if __name__ == "__main__":
    main()
