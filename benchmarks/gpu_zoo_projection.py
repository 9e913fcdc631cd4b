"""Projected wall time of the paper's zoo protocol (20 models x 10,000 steps x 32 frames) on one device, from a
measured shortened run. Prepared for a lent GPU; runs on the CPU too (small settings) as its own smoke check.

    .venv/bin/python benchmarks/gpu_zoo_projection.py --device cuda [--steps 20] [--batch-frames 32]
        [--passes 1 32] [--models 1 4 20] [--stack no yes] [--primaries 3300] [--assign-workers 4]

Simulates training frames of 100 p+/F behind 100 / 150 / 200 mm (``--primaries`` per phantom; not timed), then for
each frames-per-pass setting, each number of models trained together (``train_many``; PTT and PAT lambda =
25/50/75 in turn) and each ``--stack`` setting (``no``: the models scored one after the other; ``yes``: as one
block-diagonal network, ``models.stacked``) times ``--steps`` training steps of ``--batch-frames`` frames
(validation excluded: eval_every is set past the end) after one warm-up step, and prints seconds per step,
model-frames per second, model-steps per second and the projection: 20 models x 10,000 steps x time per
model-step. ``frames_per_pass`` 32 scores a step's frames in one pass (BatchNorm over the pass; not the paper's
per-frame accumulation, see ``TrainConfig.frames_per_pass``). Training frames are resident on the device
(``training.resident``) on CUDA, read from the graph cache on the CPU (``train_many``'s defaults).
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
    ap.add_argument("--models", type=int, nargs="+", default=[1, 4, 20])
    ap.add_argument("--stack", nargs="+", default=["no", "yes"], choices=["no", "yes"],
                    help="score the models one by one (no) or as one network (yes); one model is never stacked")
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
        print(f"{'per pass':>8} {'models':>6} {'stack':>5} {'s/step':>8} {'model-frames/s':>14} {'model-steps/s':>13} "
              f"{'20 x 10k steps [h]':>19}")
        for per_pass in a.passes:
            for k in a.models:
                for stack in (a.stack if k > 1 else a.stack[:1]):
                    cfgs = [TrainConfig(mode=m, lam=lam, seed=i, steps=a.steps + 1, batch_frames=a.batch_frames,
                                        eval_every=10 ** 9, max_val_frames=1, bn_frames=0, data_seed=1,
                                        frames_per_pass=min(per_pass, a.batch_frames))
                            for i, (m, lam) in enumerate(kinds[j % 4] for j in range(k))]
                    dirs = [Path(tmp) / f"p{per_pass}_k{k}_{stack}_{i}" for i in range(k)]
                    opts = dict(progress=False, device=a.device, workers=a.assign_workers, stack_models=stack == "yes")
                    train_many(cfgs, tr, va, dirs, norm, stop_after=1, **opts)  # warm-up step
                    if a.device.startswith("cuda"):
                        torch.cuda.synchronize()
                    t0 = time.perf_counter()
                    train_many(cfgs, tr, va, dirs, norm, stop_after=a.steps - 1, **opts)
                    if a.device.startswith("cuda"):
                        torch.cuda.synchronize()
                    per_step = (time.perf_counter() - t0) / max(a.steps - 1, 1)
                    hours = 20 * 10000 * per_step / k / 3600
                    print(f"{per_pass:8d} {k:6d} {stack:>5} {per_step:8.2f} {k * a.batch_frames / per_step:14.1f} "
                          f"{k / per_step:13.2f} {hours:19.1f}", flush=True)


if __name__ == "__main__":
    main()
