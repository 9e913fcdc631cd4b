"""Time to accuracy on the CPU: validation purity against training frames seen and against CPU seconds, per recipe.

    .venv/bin/python benchmarks/time_to_accuracy.py [--out DIR] [--modes ptt pat] [--recipes paper cos4 ...]
        [--horizon-frames 2400] [--eval-frames 160] [--threads 1] [--jobs 2] [--budget-seconds S] [--table]

Every (recipe, mode) pair is one training run of its own folder under ``--out`` (default
``data/time_to_accuracy``), trained in a process of its own with ``--threads`` torch threads, ``--jobs`` processes
at a time (1 thread x 2 jobs is how a zoo is best trained on 2 cores). A run is trained in chunks that end at a
validation (every ``--eval-frames`` frames seen: 30 validation frames stratified by phantom, BatchNorm statistics
recomputed on 16 training frames first, the paper's purity with its track filter), and after each chunk its
``timing.csv`` gets a row: step, frames seen, the process CPU seconds of the training steps alone (validations
left out; ``TrainConfig`` checkpoints them as ``step_cpu_seconds``), wall seconds. Killed at any point, a rerun of
the same command resumes every run from its last validation.

Recipes (the learning rate schedules run over ``--horizon-frames`` frames, so every recipe sees the same number
of frames; the paper's StepLR has no horizon):

- ``paper``: RMSProp 1e-3, StepLR(1000, 0.5), 32 frames per step (the released code's recipe)
- ``cos4`` / ``cos8``: RMSProp 1e-3 with cosine decay to 5 %, 4 / 8 frames per step (``cos4`` is the default zoo's)
- ``onecycle8``: RMSProp, one-cycle: warm-up over 10 % of the steps to a peak of 3e-3, then cosine annealing
- ``adam8`` / ``adamw8``: Adam 1e-3 / AdamW 1e-3 (weight decay 1e-2), cosine decay, 8 frames per step
- ``curric8``: ``cos8`` whose first third of the steps draw frames of 50 p+/F (about 8x fewer line-graph edges)
- ``const8``: RMSProp at a constant 1e-3, 8 frames per step (separates the batch size from the schedule)

Data: per phantom (100 / 150 / 200 mm) ``--train-primaries`` training primaries (frames of 100 p+/F, and of
50 p+/F from the same hits for the curriculum), ``--val-primaries`` validation primaries, simulated once into
``data/`` (the same cache the chapters use). ``--table`` prints the table from the runs' files without training.
The printed table gives, per run, the best validation purity within every CPU budget of ``--budgets`` seconds,
the frames and CPU seconds to first reach each purity of ``--targets``, and the distance of the run's best purity
to the GPU run of the paper's recipe (purity 0.88 after 500 steps x 32 frames; shared reference figures, a
quoted value, not rerun here).

``--export DIR`` writes what ``04_training`` draws (curves.csv, summary.csv, about.json; commit it, data/ is not
committed). Runs are named by recipe, mode and the CPU that measured them: exporting into a folder that holds
another machine's runs of the same protocol keeps them beside this machine's (a run measured again on the same CPU
replaces its copy), so a study can be completed on another machine without mixing its CPU seconds.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: best validation purity of the paper's recipe on an H200 after 500 steps x 32 frames (16,000 frames)
GPU_REFERENCE_PURITY = 0.88

RECIPES: dict[str, dict] = {
    "paper": dict(batch_frames=32, lr=1e-3, step_lr=True),
    "cos4": dict(batch_frames=4, lr=1e-3, cosine_lr=True),
    "cos8": dict(batch_frames=8, lr=1e-3, cosine_lr=True),
    "onecycle8": dict(batch_frames=8, lr=3e-3, one_cycle=True, warmup_fraction=0.1),
    "adam8": dict(batch_frames=8, lr=1e-3, cosine_lr=True, optimizer="adam"),
    "adamw8": dict(batch_frames=8, lr=1e-3, cosine_lr=True, optimizer="adamw", weight_decay=1e-2),
    "curric8": dict(batch_frames=8, lr=1e-3, cosine_lr=True, curriculum=1 / 3),
    "const8": dict(batch_frames=8, lr=1e-3),
}
MODES = {"ptt": dict(mode="ptt"), "pat": dict(mode="pat", lam=50.0)}
TIMING_FIELDS = ["step", "frames", "step_cpu_seconds", "wall_seconds"]


def run_config(recipe: str, mode: str, horizon_frames: int, eval_frames: int):
    """The ``TrainConfig`` of a recipe and mode (seed 0, data seed 0, 30 stratified validation frames)."""
    from pctlib.training.loop import TrainConfig

    r = dict(RECIPES[recipe])
    batch = r["batch_frames"]
    steps = max(1, horizon_frames // batch)
    curriculum = r.pop("curriculum", 0.0)
    return TrainConfig(**MODES[mode], **r, steps=steps, eval_every=max(1, eval_frames // batch),
                       max_val_frames=30, curriculum_steps=int(round(curriculum * steps)), seed=0, data_seed=0)


def datasets(args, progress: bool = False):
    """Training (100 p+/F), curriculum (50 p+/F, the same hits) and validation frames, and the input statistics."""
    from pctlib.training.data import DataSpec, feature_statistics, prepare

    phantoms = (100.0, 150.0, 200.0)
    data = ROOT / "data"
    train = prepare(DataSpec("tta_train", phantoms, args.train_primaries, 31), data, progress=progress)
    easy = prepare(DataSpec("tta_train", phantoms, args.train_primaries, 31, primaries_per_frame=50), data,
                   progress=progress)
    val = prepare(DataSpec("tta_val", phantoms, args.val_primaries, 32), data, progress=progress)
    return train, easy, val, feature_statistics(train)


def read_timing(run_dir: Path) -> list[dict]:
    """The run's timing rows, one per validated step (a row cut by a kill is dropped; the last copy wins)."""
    path = run_dir / "timing.csv"
    rows: dict[int, dict] = {}
    if path.is_file():
        for r in csv.DictReader(open(path)):
            try:
                rows[int(r["step"])] = {k: float(r[k]) for k in TIMING_FIELDS}
            except (TypeError, ValueError, KeyError):
                continue
    return [rows[k] for k in sorted(rows)]


def worker(args) -> None:
    """Train one run to its horizon (or CPU budget), one validation chunk per ``train`` call."""
    import torch

    torch.set_num_threads(args.threads)
    from pctlib.training.loop import load_checkpoint, train

    cfg = run_config(args.recipe, args.mode, args.horizon_frames, args.eval_frames)
    tr, easy, va, norm = datasets(args)
    run_dir = Path(args.out) / f"{args.recipe}_{args.mode}"
    info = {"train": tr.identity, "val": va.identity, "easy": easy.identity if cfg.curriculum_steps else None}
    last = run_dir / "last.pt"
    while True:
        step = int(load_checkpoint(last)["step"]) if last.is_file() else 0
        done = read_timing(run_dir)
        cpu = float(load_checkpoint(last)["step_cpu_seconds"]) if last.is_file() else 0.0
        if step >= cfg.steps or (args.budget_seconds and cpu >= args.budget_seconds):
            break
        w0 = time.perf_counter()
        train(cfg, tr, va, run_dir, norm, data_info=info, progress=False, stop_after=cfg.eval_every,
              easy_frames=easy if cfg.curriculum_steps else None)
        ck = load_checkpoint(last)
        wall = (done[-1]["wall_seconds"] if done else 0.0) + time.perf_counter() - w0
        row = {"step": int(ck["step"]), "frames": int(ck["step"]) * cfg.batch_frames,
               "step_cpu_seconds": round(float(ck["step_cpu_seconds"]), 2), "wall_seconds": round(wall, 2)}
        new = not (run_dir / "timing.csv").is_file()
        with open(run_dir / "timing.csv", "a", newline="") as fh:
            w = csv.DictWriter(fh, TIMING_FIELDS)
            if new:
                w.writeheader()
            w.writerow(row)
        print(f"{args.recipe}_{args.mode}: step {row['step']}/{cfg.steps}, {row['frames']} frames, "
              f"{row['step_cpu_seconds']:.0f} CPU s", flush=True)


def curve(run_dir: Path) -> list[dict]:
    """Validation purity per validated step with its frames and CPU seconds."""
    timing = {int(r["step"]): r for r in read_timing(run_dir)}
    path = run_dir / "metrics.csv"
    out = []
    if not path.is_file():
        return out
    for r in csv.DictReader(open(path)):
        if r["split"] == "val" and int(r["step"]) in timing:
            t = timing[int(r["step"])]
            out.append({"step": int(r["step"]), "frames": int(t["frames"]), "cpu_s": t["step_cpu_seconds"],
                        "wall_s": t["wall_seconds"], "purity": float(r["purity"]),
                        "efficiency": float(r["efficiency"])})
    return out


def summarise(out: Path, budgets: list[float], targets: list[float]) -> list[dict]:
    """One row per run: best purity within each CPU budget, frames / CPU seconds to each target, distance to the
    GPU run."""
    rows = []
    for run_dir in sorted(p for p in out.iterdir() if p.is_dir() and (p / "timing.csv").is_file()):
        c = curve(run_dir)
        if not c:
            continue
        recipe, mode = run_dir.name.rsplit("_", 1)
        row = {"recipe": recipe, "mode": mode, "frames": c[-1]["frames"], "cpu_s": c[-1]["cpu_s"],
               "cpu_s_per_frame": c[-1]["cpu_s"] / c[-1]["frames"], "best_purity": max(p["purity"] for p in c)}
        for b in budgets:
            within = [p["purity"] for p in c if p["cpu_s"] <= b]
            row[f"best_within_{b:g}s"] = max(within) if within else math.nan
        for t in targets:
            hit = next((p for p in c if p["purity"] >= t), None)
            row[f"frames_to_{t:g}"] = hit["frames"] if hit else math.nan
            row[f"cpu_s_to_{t:g}"] = hit["cpu_s"] if hit else math.nan
        row["gap_to_gpu"] = row["best_purity"] - GPU_REFERENCE_PURITY
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "data" / "time_to_accuracy"))
    ap.add_argument("--modes", nargs="+", default=["ptt", "pat"], choices=sorted(MODES))
    ap.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    ap.add_argument("--horizon-frames", type=int, default=2400)
    ap.add_argument("--eval-frames", type=int, default=160)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--budget-seconds", type=float, default=0.0, help="stop a run past this many CPU seconds")
    ap.add_argument("--train-primaries", type=int, default=20000)
    ap.add_argument("--val-primaries", type=int, default=2000)
    ap.add_argument("--budgets", type=float, nargs="+", default=[300, 600, 900])
    ap.add_argument("--targets", type=float, nargs="+", default=[0.8, 0.85])
    ap.add_argument("--table", action="store_true", help="print the table of the runs made so far; no training")
    ap.add_argument("--csv", help="also write the table here")
    ap.add_argument("--export", help="write summary.csv, curves.csv and about.json of the runs made so far into this "
                    "folder, beside the runs other CPUs exported there (what 04_training draws; commit it)")
    ap.add_argument("--worker", nargs=2, metavar=("RECIPE", "MODE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    for name in ("horizon_frames", "eval_frames", "threads", "jobs", "train_primaries", "val_primaries"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be a positive integer")
    if not (math.isfinite(args.budget_seconds) and args.budget_seconds >= 0):
        ap.error("--budget-seconds must be finite and >= 0")
    out = Path(args.out)
    if args.worker:
        args.recipe, args.mode = args.worker
        worker(args)
        return
    if not args.table:
        datasets(args, progress=True)  # simulated and built once, before the runs share them
        out.mkdir(parents=True, exist_ok=True)
        pairs = [(r, m) for m in args.modes for r in args.recipes]
        fixed = ["--out", str(out), "--horizon-frames", str(args.horizon_frames), "--eval-frames",
                 str(args.eval_frames), "--threads", str(args.threads), "--budget-seconds", str(args.budget_seconds),
                 "--train-primaries", str(args.train_primaries), "--val-primaries", str(args.val_primaries)]
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}

        def launch(pair):
            log = open(out / f"{pair[0]}_{pair[1]}.log", "a")
            rc = subprocess.call([sys.executable, __file__, "--worker", *pair, *fixed], env=env, stdout=log,
                                 stderr=subprocess.STDOUT)
            print(f"{pair[0]} {pair[1]}: {'done' if rc == 0 else f'FAILED (exit {rc}, see its log)'}", flush=True)
            return rc

        with ThreadPoolExecutor(args.jobs) as pool:
            codes = list(pool.map(launch, pairs))
        if any(codes):
            sys.exit(1)
    rows = summarise(out, args.budgets, args.targets)
    if not rows:
        print("no runs yet under", out)
        return
    import pandas as pd

    df = pd.DataFrame(rows).sort_values(["mode", "recipe"])
    print(df.to_string(index=False, float_format=lambda v: f"{v:.3f}" if abs(v) < 10 else f"{v:.0f}"))
    print(json.dumps({"threads": args.threads, "jobs": args.jobs, "horizon_frames": args.horizon_frames}))
    if args.csv:
        df.to_csv(args.csv, index=False)
    if args.export:
        export(out, Path(args.export), df, args)


#: what makes two studies' runs comparable: an export only gathers runs measured with the same settings
PROTOCOL_KEYS = ("threads", "horizon_frames", "eval_frames", "train_primaries", "val_primaries",
                 "gpu_reference_purity")
RUN_KEYS = ["recipe", "mode", "cpu"]


def merge_export(old: dict | None, curves, summary, about: dict):
    """The export of ``curves``/``summary`` (this machine's runs; ``about`` says how they were measured) gathered
    with ``old`` (``{"curves", "summary", "about"}`` of the folder's earlier export, or None): runs are told apart
    by recipe, mode and CPU (CPU seconds of different CPUs are not comparable, and neither are their simulated
    hits), a run measured again on the same CPU replaces its earlier copy, and runs of another protocol (threads,
    horizon, validation interval, data sizes, GPU reference) are refused. Returns the curves, summary and about."""
    import pandas as pd

    settings = {k: v for k, v in about.items() if k != "command"}
    if old is None:
        return curves, summary, {**settings, "commands": [about["command"]]}
    differ = [k for k in PROTOCOL_KEYS if old["about"].get(k) != about.get(k)]
    if differ:
        raise ValueError("the export folder holds runs of another protocol (" + ", ".join(
            f"{k}: {old['about'].get(k)!r} there, {about.get(k)!r} here" for k in differ)
                         + "); export to another folder")

    def with_cpu(df):  # an export written before runs carried their CPU: the one CPU its about.json names
        return df if "cpu" in df else df.assign(cpu=old["about"]["cpu"])

    new_runs = set(map(tuple, curves[RUN_KEYS].drop_duplicates().to_numpy()))

    def gather(old_df, new_df):
        old_df = with_cpu(old_df)
        keep = ~old_df[RUN_KEYS].apply(tuple, axis=1).isin(new_runs)
        return pd.concat([old_df[keep], new_df], ignore_index=True).sort_values(RUN_KEYS, kind="stable").reset_index(
            drop=True)

    merged_curves, merged_summary = gather(old["curves"], curves), gather(old["summary"], summary)
    commands = old["about"].get("commands", [old["about"].get("command")]) + [about["command"]]
    recipes = {**old["about"].get("recipes", {}), **about["recipes"]}
    merged_about = {**settings, "commands": commands,
                    "recipes": {k: recipes[k] for k in sorted(recipes)}, "cpus": sorted(set(merged_curves["cpu"]))}
    return merged_curves, merged_summary, merged_about


def export(out: Path, dest: Path, summary, args) -> None:
    """The measured curves and the summary as plain CSV, and how they were measured (about.json), gathered with the
    runs another machine exported into ``dest`` before (``merge_export``)."""
    import pandas as pd

    from pctlib.fileio import write_bytes_atomic, write_json_atomic
    from pctlib.machine import cpu_name

    cpu = cpu_name()
    curves = []
    for run_dir in sorted(p for p in out.iterdir() if p.is_dir() and (p / "timing.csv").is_file()):
        recipe, mode = run_dir.name.rsplit("_", 1)
        curves += [{"recipe": recipe, "mode": mode, "cpu": cpu, **row} for row in curve(run_dir)]
    about = {"command": "benchmarks/time_to_accuracy.py " + " ".join(sys.argv[1:]),
             "threads": args.threads, "jobs": args.jobs, "horizon_frames": args.horizon_frames,
             "eval_frames": args.eval_frames, "train_primaries": args.train_primaries,
             "val_primaries": args.val_primaries,
             "recipes": {k: RECIPES[k] for k in sorted({c["recipe"] for c in curves})},
             "cpus": [cpu], "cores": os.cpu_count(), "gpu_reference_purity": GPU_REFERENCE_PURITY}
    old = None
    if (dest / "about.json").is_file():
        old = {"about": json.loads((dest / "about.json").read_text()),
               "curves": pd.read_csv(dest / "curves.csv"), "summary": pd.read_csv(dest / "summary.csv")}
    curves_df, summary_df, about = merge_export(old, pd.DataFrame(curves), summary.assign(cpu=cpu), about)
    dest.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(dest / "curves.csv", curves_df.to_csv(index=False).encode())
    write_bytes_atomic(dest / "summary.csv", summary_df.to_csv(index=False).encode())
    write_json_atomic(dest / "about.json", about)
    print(f"exported {len(curves)} validations of {len({(c['recipe'], c['mode']) for c in curves})} runs to {dest} "
          f"({len(summary_df)} runs there in all, CPUs: {', '.join(about['cpus'])})")


if __name__ == "__main__":
    main()
