"""What reproduces: the same training twice with the same thread count, and once with another thread count (another
order of floating-point reductions, as on another machine or BLAS build).

    .venv/bin/python benchmarks/reproducibility.py [--mode ptt] [--steps 60] [--batch-frames 4]

Each run is a fresh process training one model on the default params' data (100 / 150 / 200 mm, 6000 primaries
each, 100 p+/F; built under ``data/`` if missing) with ``train()``, validation every 20 steps (BatchNorm
statistics recomputed, 30 frames). Prints, for each pair of runs, the largest difference of any weight and the
validation purity at each checkpoint.
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
import json, sys
import torch
a = json.loads(sys.argv[1])
torch.set_num_threads(a["threads"])
from pctlib.training.data import DataSpec, feature_statistics, prepare
from pctlib.training.loop import TrainConfig, train
ph = (100.0, 150.0, 200.0)
tr = prepare(DataSpec("train", ph, 6000, 1), a["data"], progress=False)
va = prepare(DataSpec("val", ph, 1000, 2), a["data"], progress=False)
cfg = TrainConfig(mode=a["mode"], lam=50.0, steps=a["steps"], batch_frames=a["batch"], eval_every=20,
                  max_val_frames=30)
train(cfg, tr, va, a["out"], feature_statistics(tr), progress=False)
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", default="ptt", choices=["ptt", "pat"])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch-frames", type=int, default=4)
    a = ap.parse_args()
    import pandas as pd
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        runs = {"2 threads, run 1": 2, "2 threads, run 2": 2, "1 thread": 1}
        for name, threads in runs.items():
            out = Path(tmp) / name.replace(" ", "_").replace(",", "")
            args = {"mode": a.mode, "steps": a.steps, "batch": a.batch_frames, "threads": threads,
                    "data": str(ROOT / "data"), "out": str(out)}
            subprocess.run([sys.executable, "-c", WORKER, json.dumps(args)], check=True,
                           env=dict(os.environ, PCTLIB_PROGRESS="0"))
        folders = {n: Path(tmp) / n.replace(" ", "_").replace(",", "") for n in runs}
        w = {n: torch.load(f / "last.pt", weights_only=True)["model"] for n, f in folders.items()}
        names = list(runs)
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                d = max(float((w[names[i]][k].double() - w[names[j]][k].double()).abs().max()) for k in w[names[i]])
                same = all(torch.equal(w[names[i]][k], w[names[j]][k]) for k in w[names[i]])
                print(f"{names[i]} vs {names[j]}: largest weight difference {d:.3g}"
                      f"{' (bit-identical)' if same else ''}")
        val = pd.concat({n: pd.read_csv(f / "metrics.csv").query("split == 'val'").set_index("step")["purity"]
                         for n, f in folders.items()}, axis=1)
        print("validation purity by step:")
        print(val.round(4).to_string())


if __name__ == "__main__":
    main()
