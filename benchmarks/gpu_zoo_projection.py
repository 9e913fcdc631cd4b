"""Projected wall time of the paper's zoo protocol (20 models x 10,000 steps x 32 frames) on one device, from a
measured shortened run. Prepared for a lent GPU; runs on the CPU too (small settings) as its own smoke check.

    .venv/bin/python benchmarks/gpu_zoo_projection.py --device cuda [--steps 20] [--batch-frames 32]
                                                      [--passes 1 32] [--models 1 4] [--primaries 3300]

Simulates training frames of 100 p+/F behind 100 / 150 / 200 mm (``--primaries`` per phantom; not timed), then for
each frames-per-pass setting and each number of models trained together (``train_many``; PTT and PAT lambda =
25/50/75 in turn) times ``--steps`` training steps of ``--batch-frames`` frames (validation excluded: eval_every is
set past the end) after one warm-up step and prints seconds per step, the
models' throughput and the projection: 20 models x 10,000 steps x time per model-step. ``frames_per_pass`` 32
scores a step's frames in one pass (BatchNorm over the pass; not the paper's per-frame accumulation, see
``TrainConfig.frames_per_pass``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch-frames", type=int, default=32)
    ap.add_argument("--passes", type=int, nargs="+", default=[1, 32], help="frames per pass to try")
    ap.add_argument("--models", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--primaries", type=int, default=3300, help="training primaries per phantom")
    ap.add_argument("--assign-workers", type=int, default=4)
    a = ap.parse_args()
    import torch

    from pctlib.training.data import DataSpec, feature_statistics, prepare
    from pctlib.training.loop import TrainConfig, train_many

    with tempfile.TemporaryDirectory() as tmp:
        ph = (100.0, 150.0, 200.0)
        tr = prepare(DataSpec("train", ph, a.primaries, 1), Path(tmp) / "data", progress=False)
        va = prepare(DataSpec("val", ph, 300, 2), Path(tmp) / "data", progress=False)
        norm = feature_statistics(tr)
        kinds = [("ptt", 50.0), ("pat", 25.0), ("pat", 50.0), ("pat", 75.0)]
        print(f"device {a.device}, {len(tr)} training frames, {a.steps - 1} timed steps of {a.batch_frames} frames "
              "after one warm-up step")
        print(f"{'per pass':>8} {'models':>6} {'s/step':>8} {'model-steps/s':>13} {'20 x 10k steps [h]':>19}")
        for per_pass in a.passes:
            for k in a.models:
                cfgs = [TrainConfig(mode=m, lam=lam, seed=i, steps=a.steps + 1, batch_frames=a.batch_frames,
                                    eval_every=10 ** 9, max_val_frames=1, bn_frames=0, data_seed=1,
                                    frames_per_pass=min(per_pass, a.batch_frames))
                        for i, (m, lam) in enumerate(kinds[j % 4] for j in range(k))]
                dirs = [Path(tmp) / f"p{per_pass}_k{k}_{i}" for i in range(k)]
                train_many(cfgs, tr, va, dirs, norm, progress=False, device=a.device, stop_after=1,
                           workers=a.assign_workers)  # warm-up step
                if a.device.startswith("cuda"):
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                train_many(cfgs, tr, va, dirs, norm, progress=False, device=a.device, stop_after=a.steps - 1,
                           workers=a.assign_workers)
                if a.device.startswith("cuda"):
                    torch.cuda.synchronize()
                per_step = (time.perf_counter() - t0) / max(a.steps - 1, 1)
                hours = 20 * 10000 * per_step / k / 3600
                print(f"{per_pass:8d} {k:6d} {per_step:8.2f} {k / per_step:13.2f} {hours:19.1f}", flush=True)


if __name__ == "__main__":
    main()
