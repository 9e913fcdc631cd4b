# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # One training run
#
# This notebook trains one edge scorer; the params files run it as a grid (mode × λ × seed) and the chapter
# *Training* (`04_training`) compares the runs. It is not a chapter of the book. Data are simulated and their
# graphs built once under `data/` and shared by all runs; the run's checkpoints live in its run folder and an
# interrupted run resumes where it stopped.

# %% tags=["parameters"]
params_name = "interactive"  # set by the runner
results_dir = "../results/interactive/04_train_run"  # set by the runner
run_key = "main"  # set by the runner
mode = "ptt"  # one of: ptt, pat
lam = 50.0
seed = 0
steps = 200
batch_frames = 8
eval_every = 25
lr = 0.001
step_lr = False
w_tracker = 1.0  # loss weight of the tracker segments (paper Sec. 4.3)
w_calorimeter = 1.0  # loss weight of the calorimeter segments
loss_normalisation = "group"  # one of: group, pooled
lambda_scope = "frame"  # one of: frame, batch
max_val_frames = 30
phantoms = [100.0, 150.0, 200.0]
train_primaries = 6000  # per phantom
val_primaries = 1000  # per phantom
data_seed = 1
device = "auto"  # auto: a GPU when there is one

# %%
import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import torch

from pctlib.paths import find_project_root
from pctlib.report import results_folder, save_json
from pctlib.training.data import DataSpec, feature_statistics, prepare
from pctlib.training.loop import TrainConfig, train

torch.set_num_threads(2)
root = find_project_root(Path(results_dir).resolve())
data_root = root / "data"
tr_spec = DataSpec("train", tuple(phantoms), train_primaries, data_seed)
va_spec = DataSpec("val", tuple(phantoms), val_primaries, data_seed + 1)
train_frames = prepare(tr_spec, data_root)
val_frames = prepare(va_spec, data_root)
norm = feature_statistics(train_frames)
cfg = TrainConfig(mode=mode, lam=lam, seed=seed, steps=steps, batch_frames=batch_frames, eval_every=eval_every,
                  lr=lr, step_lr=step_lr, max_val_frames=max_val_frames, w_tracker=w_tracker,
                  w_calorimeter=w_calorimeter, loss_normalisation=loss_normalisation, lambda_scope=lambda_scope)
data_info = {"train": vars(tr_spec), "val": vars(va_spec), "train_data": train_frames.identity,
             "val_data": val_frames.identity}
blob = json.dumps({"cfg": cfg.to_dict(), **data_info}, sort_keys=True, default=str)
run_dir = (root / "runs" / params_name / "04_train_run" / run_key / "train"
           / f"{mode}_lam{lam:g}_seed{seed}_{hashlib.sha256(blob.encode()).hexdigest()[:10]}")
print(f"{len(train_frames)} training frames, {len(val_frames)} validation frames; "
      f"run folder {run_dir.relative_to(root)}")

# %%
best = train(cfg, train_frames, val_frames, run_dir, norm,
             data_info=data_info, device=device)
out = results_folder(results_dir)
shutil.copy(run_dir / "metrics.csv", out / "metrics.csv")
save_json({"mode": mode, "lam": lam, "seed": seed, "best": best, "config": cfg.to_dict(),
           "run_dir": str(run_dir.relative_to(root)) if run_dir.is_relative_to(root) else str(run_dir),
           "train_frames": len(train_frames), "val_frames": len(val_frames)}, out, "run")
pd.read_csv(out / "metrics.csv").query("split == 'val'").tail(5)
