"""Late jumps of validation purity at a constant learning rate, against a cosine decay, on the default zoo's protocol.

    .venv/bin/python benchmarks/lr_schedule_stability.py [--mode ptt] [--seeds 0 1 2] [--steps 120] [--every 10]

Trains, in one process (``train_many``), the same seeds twice on the default params' data (100 / 150 / 200 mm,
6000 primaries each, 100 p+/F; built under ``data/`` if missing), 4 frames per step, all models on the same frames
(data_seed 1): once at RMSProp's constant lr 1e-3, once with ``cosine_lr`` (1e-3 decaying to 5e-5). BatchNorm
statistics are recomputed before every validation (30 frames) in both. Prints every model's validation purity by
step and the mean and spread of its last four validations.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", default="ptt", choices=["ptt", "pat"])
    ap.add_argument("--lam", type=float, default=50.0)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    import pandas as pd
    import torch

    from pctlib.training.data import DataSpec, feature_statistics, prepare
    from pctlib.training.loop import TrainConfig, train_many

    torch.set_num_threads(a.threads)
    ph = (100.0, 150.0, 200.0)
    tr = prepare(DataSpec("train", ph, 6000, 1), ROOT / "data", progress=False)
    va = prepare(DataSpec("val", ph, 1000, 2), ROOT / "data", progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        cfgs, dirs, names = [], [], []
        for cosine in (False, True):
            for s in a.seeds:
                cfgs.append(TrainConfig(mode=a.mode, lam=a.lam, seed=s, steps=a.steps, batch_frames=4,
                                        eval_every=a.every, max_val_frames=30, data_seed=1, cosine_lr=cosine))
                names.append(f"{'cosine' if cosine else 'constant'} lr, seed {s}")
                dirs.append(Path(tmp) / f"{'cos' if cosine else 'const'}{s}")
        train_many(cfgs, tr, va, dirs, feature_statistics(tr), progress=False)
        val = pd.concat({n: pd.read_csv(d / "metrics.csv").query("split == 'val'").set_index("step")["purity"]
                         for n, d in zip(names, dirs)}, axis=1)
    print(f"{a.mode} validation purity by step (4 frames per step, the same frames for every model)")
    print(val.T.round(3).to_string())
    last = val.tail(4)
    print("\nlast four validations: mean, standard deviation, lowest")
    for n in names:
        print(f"{n:>24}: {last[n].mean():.3f} {last[n].std():.3f} {last[n].min():.3f}")


if __name__ == "__main__":
    main()
