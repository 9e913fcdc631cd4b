"""Throughput of training several models at once (``train_many``'s step): model-frames per second for 1, 4 and 12
models (PTT and PAT lambda = 25 / 50 / 75 in turn, distinct seeds) on the same frames.

    .venv/bin/python benchmarks/zoo_throughput.py [--density 100] [--frames 4] [--models 1 4 12] [--threads 2]
                                                  [--stack]

Frames of ``--density`` primaries behind 100 mm of water are built once (not timed). For each number of models a
fresh process times forward + loss + backward of every frame for all models together (``frame_steps`` with a shared
edge encoding and one assignment call, one backward pass), after one warm-up frame, and prints model-frames per
second, the time per model-frame and the peak resident memory (it grows with the number of models: every model's
activations of one frame are held until the joint backward pass). ``--stack`` adds rows with the models scored as
one block-diagonal network (``models.stacked``; the default on CUDA, not on the CPU).
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
import json, resource, sys, time
import torch
a = json.loads(sys.argv[1])
from pctlib.allocator import keep_freed_memory
keep_freed_memory()
torch.set_num_threads(a["threads"])
from pctlib.models.interaction_network import EdgeScorer
from pctlib.training.loop import TrainConfig, frame_steps
frames = torch.load(a["frames"], weights_only=False)
kinds = [("ptt", 50.0), ("pat", 25.0), ("pat", 50.0), ("pat", 75.0)]
configs, models = [], []
for k in range(a["models"]):
    mode, lam = kinds[k % 4]
    configs.append(TrainConfig(mode=mode, lam=lam, seed=k))
    torch.manual_seed(k)
    models.append(EdgeScorer())
def step(g):
    res = frame_steps(models, g, configs, loss_scale=1 / 32, stack=a["stack"])
    sum(l / 32 for l, _, _ in res).backward()
step(frames[0])
t0 = time.perf_counter()
for _ in range(a["passes"]):
    for g in frames[1:]:
        step(g)
dt = time.perf_counter() - t0
n = a["passes"] * (len(frames) - 1) * a["models"]
print(json.dumps({"model_frames_per_s": n / dt, "ms_per_model_frame": 1000 * dt / n,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--density", type=int, default=100)
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--models", type=int, nargs="+", default=[1, 4, 12])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--stack", action="store_true", help="also score the models as one network (models.stacked)")
    a = ap.parse_args()
    import torch

    from pctlib.graphs.build import graph_from_hits
    from pctlib.graphs.config import GraphConfig
    from pctlib.graphs.frames import split_frames
    from pctlib.physics.geometry import load_geometry
    from pctlib.physics.simulate import Simulator

    geo = load_geometry(ROOT / "params" / "geometry" / "bergen_dtc.yaml")
    hits = Simulator(geo.with_phantom(100.0)).run(a.density * (a.frames + 1), seed=5, progress=False).hits
    cfg = GraphConfig(primaries_per_frame=a.density)
    frames = [graph_from_hits(f, cfg)[0] for f in split_frames(hits, a.density)][: a.frames + 1]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "frames.pt"
        torch.save(frames, path)
        edges = sum(int(g.edge_index.shape[1]) for g in frames[1:]) // a.frames
        print(f"{a.frames} frames of {a.density} p+/F behind 100 mm ({edges} directed line-graph edges on "
              f"average), {a.passes} passes, {a.threads} threads")
        print(f"{'models':>6} {'stacked':>7} {'model-frames/s':>15} {'ms/model-frame':>15} {'peak MiB':>9}")
        for k, stack in [(k, s) for k in a.models for s in ((False, True) if a.stack and k > 1 else (False,))]:
            args = {"frames": str(path), "models": k, "threads": a.threads, "passes": a.passes, "stack": stack}
            res = subprocess.run([sys.executable, "-c", WORKER, json.dumps(args)], capture_output=True, text=True,
                                 env=dict(os.environ, PCTLIB_PROGRESS="0"))
            if res.returncode:
                print(res.stderr)
                raise SystemExit(res.returncode)
            r = json.loads(res.stdout.strip().splitlines()[-1])
            print(f"{k:6d} {'yes' if stack else 'no':>7} {r['model_frames_per_s']:15.2f} "
                  f"{r['ms_per_model_frame']:15.1f} "
                  f"{r['peak_rss_mib']:9.0f}", flush=True)


if __name__ == "__main__":
    main()
