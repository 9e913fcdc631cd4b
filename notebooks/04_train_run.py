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
# This notebook trains edge scorers: one per execution (the params files run it as a grid, mode × λ × seed), or
# several in one process when `models` lists them (`pctlib.training.loop.train_many`: each frame loaded and
# encoded once for all models, their assignments solved in one call; each model keeps its own seed, optimiser and
# run folder, and ends equal to a separate run). The chapter *Training* (`04_training`) compares the runs; the
# model zoo (`pctlib.zoo`) lists them for the landscape chapters. It is not a chapter of the book. Data are
# simulated and their graphs built once under `data/` and shared by all runs; the checkpoints live in each run's
# folder and an interrupted run resumes where it stopped.

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
cosine_lr = False  # cosine decay of the learning rate over the run (to 5 % of lr)
one_cycle = False  # warm-up over warmup_fraction of the steps to lr, then cosine annealing (OneCycleLR)
warmup_fraction = 0.1
optimizer = "rmsprop"  # one of: rmsprop, adam, adamw
weight_decay = 0.0
w_tracker = 1.0  # loss weight of the tracker segments (paper Sec. 4.3)
w_calorimeter = 1.0  # loss weight of the calorimeter segments
loss_normalisation = "group"  # one of: group, pooled
lambda_scope = "frame"  # one of: frame, batch
max_val_frames = 30
phantoms = [100.0, 150.0, 200.0]
train_primaries = 6000  # per phantom
val_primaries = 1000  # per phantom
data_seed = 1
primaries_per_frame = 100
bn_frames = 16  # BatchNorm statistics recomputed over this many training frames before each validation
models = []  # several models trained together: [{mode, lam, seeds: [...]}, ...]; empty: the one of mode/lam/seed
frames_per_pass = 1  # frames scored in one pass (GPUs); 1: frame by frame, each its own BatchNorm batch
assign_workers = 1  # threads solving the assignments of a pass (keeps a GPU fed on a many-core host)
# models trained together scored as one network (pctlib.models.stacked; auto: on a GPU, where it is faster)
stack_models = "auto"  # one of: auto, yes, no
# training rows of metrics.csv: each step's loss and assignment TPR/FPR read at every step (assignment), or the loss
# kept on the device and written at each validation, PTT models' frames then not assigned (device; auto: on a GPU)
step_metrics = "auto"  # one of: auto, assignment, device
threads = 2
device = "auto"  # auto: a GPU when there is one
graph_builder = "angular"  # one of: angular, learned
preselect = "none"  # one of: none, fcnn, gbdt
module_primaries = 2000  # per phantom: the hits the classifier / embedding learn from (pctlib.training.data.graph_setup)
run_root = ""  # the run folders' parent, relative to the project; empty: runs/<params>/04_train_run/<key>/train
data_dir = ""  # hits and graph caches, relative to the project; empty: data/
resume_on_other_cpus = False  # resume a run on training hits simulated again on another CPU (same seeds, other rounding)
cached_train_frames = 256  # per phantom: training frames kept unpacked in memory (a 100 p+/F frame takes ~15 MB)

# %%
import shutil
from pathlib import Path

import pandas as pd
import torch

from pctlib.paths import find_project_root
from pctlib.report import results_folder, save_json
from pctlib.training.loop import train_many
from pctlib.training.setup import TRAINING_PARAMETERS, training_setup

torch.set_num_threads(threads)
root = find_project_root(Path(results_dir).resolve())
# the data (simulated and built once under data_dir), every model's configuration and run folder
# (pctlib.training.setup, shared with the GPU command that trains the reference zoo, benchmarks/gpu_zoo_train.py)
setup = training_setup({**{k: globals()[k] for k in TRAINING_PARAMETERS}, "run_root": run_root}, root,
                       root / "runs" / params_name / "04_train_run" / run_key / "train")
configs, run_dirs = setup.configs, setup.run_dirs
train_frames, val_frames, data_root = setup.train_frames, setup.val_frames, setup.data_root
together = setup.together
print(f"{len(train_frames)} training frames, {len(val_frames)} validation frames; {len(configs)} model(s) in "
      f"{run_dirs[0].parent.relative_to(root)}")

# %%
bests = train_many(configs, train_frames, val_frames, run_dirs, setup.normalization, data_info=setup.data_info,
                   device=device, workers=assign_workers, machine_dependent=setup.machine_dependent,
                   stack_models={"auto": "auto", "yes": True, "no": False}[stack_models], step_metrics=step_metrics)
out = results_folder(results_dir)
rows = []
for cfg, run_dir, best in zip(configs, run_dirs, bests):
    # one record per model: run.json and metrics.csv (in a subfolder per model when several are trained here)
    where = results_folder(out / f"{cfg.mode}_lam{cfg.lam:g}_seed{cfg.seed}") if together else out
    shutil.copy(run_dir / "metrics.csv", where / "metrics.csv")
    save_json({"mode": cfg.mode, "lam": cfg.lam, "seed": cfg.seed, "best": best, "config": cfg.to_dict(),
               "run_dir": str(run_dir.relative_to(root)) if run_dir.is_relative_to(root) else str(run_dir),
               "train_frames": len(train_frames), "val_frames": len(val_frames),
               "data_root": str(data_root.relative_to(root)) if data_root.is_relative_to(root) else str(data_root),
               "models_together": len(configs)}, where, "run")
    rows.append({"mode": cfg.mode, "lam": cfg.lam, "seed": cfg.seed, "best step": best.get("step"),
                 "best purity": best.get("purity"), "settled purity": best["settled"]["purity"]["mean"],
                 "spread": best["settled"]["purity"]["std"], "train s": best["train_seconds"]})
# the index of the records this execution wrote: the zoo reads these and no other file of the folder
save_json({"records": [f"{c.mode}_lam{c.lam:g}_seed{c.seed}" if together else "." for c in configs]}, out, "zoo")
pd.DataFrame(rows)
