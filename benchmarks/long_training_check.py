"""A longer PTT/PAT training than the CPU default allows, then GNN vs track follower on test frames.

    python benchmarks/long_training_check.py --device cuda --minutes 5 --out DIR

Simulates train / validation / test sets (per phantom: ``--train-primaries``, 1/10 of it, ``--test-primaries``),
trains one model with the paper's batch of 32 frames for at most ``--minutes`` (checkpoint every 100 steps), and
evaluates its best checkpoint and the track follower at 100 p+/F on every phantom. Prints the purity table. Used
to test whether the default run's short training explains the GNN's gap to the track follower.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="auto")
    ap.add_argument("--mode", default="ptt")
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--train-primaries", type=int, default=20000)
    ap.add_argument("--test-primaries", type=int, default=1500)
    ap.add_argument("--out", default="long_training_check")
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--batch-frames", type=int, default=32)
    args = ap.parse_args()
    from pctlib.io.readers import read_hits
    from pctlib.tracks.evaluate import evaluate_frames
    from pctlib.training.data import DataSpec, feature_statistics, prepare
    from pctlib.training.loop import TrainConfig, load_model, train

    out = Path(args.out)
    phantoms = (100.0, 150.0, 200.0)
    t0 = time.perf_counter()
    tr = prepare(DataSpec("train", phantoms, args.train_primaries, 1), out / "data", progress=False)
    va = prepare(DataSpec("val", phantoms, max(args.train_primaries // 10, 500), 2), out / "data", progress=False)
    te = prepare(DataSpec("test", phantoms, args.test_primaries, 9), out / "data", progress=False)
    print(f"data: {len(tr)} / {len(va)} / {len(te)} frames in {time.perf_counter() - t0:.0f} s", flush=True)
    cfg = TrainConfig(mode=args.mode, steps=10000, batch_frames=args.batch_frames, eval_every=args.eval_every,
                      max_val_frames=30)
    best = train(cfg, tr, va, out / f"run_{args.mode}", feature_statistics(tr), progress=False, device=args.device,
                 max_seconds=60 * args.minutes)
    print("best validation:", json.dumps(best), flush=True)
    model = load_model(out / f"run_{args.mode}" / "best.pt")
    rows = []
    for k, t in enumerate(phantoms):
        hits = read_hits(te.parts[k].meta["hits_file"])  # the test set's hit file of this phantom
        for tracker in ("gnn", "track-follower"):
            for r in evaluate_frames(hits, 100, tracker, model):
                rows.append({"phantom_mm": t, **r})
    df = pd.DataFrame(rows)
    table = df.groupby(["algorithm", "phantom_mm"])[["purity", "efficiency"]].mean().unstack()
    print(f"steps trained: {best.get('step')}, purity at 100 p+/F (mean over test frames):")
    print((100 * table).round(1).to_string())
    df.to_csv(out / "per_frame.csv", index=False)


if __name__ == "__main__":
    main()
