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
# # Training: predict-then-track against predict-and-track
#
# The edge scorer is an interaction network on the line graph (Kortus et al. 2024, Sec. 4.2): an edge MLP φ_R1
# reads two segments and the encoding of their pair, a max over each segment's neighbours feeds the node MLP φ_O,
# and φ_R2 turns the result into one score per segment. Each MLP has three layers of width 16 with BatchNorm.
#
# Two ways to train it (Sec. 4.4):
#
# * **predict-then-track (PTT)** minimises the binary cross-entropy of the scores against the segment labels and
#   runs the assignment only afterwards;
# * **predict-and-track (PAT)** minimises the Hamming loss (Eq. 15) of the *assignment* itself, with the blackbox
#   gradient of the previous chapter (λ ∈ {25, 50, 75}).
#
# Both use RMSProp (lr 10⁻³) on batches of frames of 100 p⁺/F by gradient accumulation. This chapter reads the
# training runs of the chosen params set (notebook `04_train_run`, run as a grid by `pctlib run`); it trains
# nothing itself. Validation every `eval_every` steps reports the TPR and FPR of the reconstructed (assigned)
# segments and the purity and efficiency of the tracks (the paper's definitions, `pctlib.tracks.metrics`; the best
# checkpoint is chosen by that purity, as in the released code).
#
# Two conventions of the loss, both options of `TrainConfig` (and of `pctlib train`):
#
# * **λ per frame.** λ perturbs each frame's own loss gradient, whatever the number of frames per step
#   (`lambda_scope="frame"`; the released code's convention, where λ is divided by the batch size, is
#   `lambda_scope="batch"`; chapter *Assignment* explains the difference).
# * **Tracker and calorimeter segments weighted separately** (paper Sec. 4.3, values not published): as in the
#   released code, the loss is the mean over the tracker segments (those leaving a tracker layer) plus the mean over
#   the calorimeter segments, each with a weight (`w_tracker`, `w_calorimeter`, default 1 and 1;
#   `loss_normalisation="pooled"` gives one mean over all segments instead), for BCE and Hamming alike.

# %% tags=["parameters"]
params_name = "interactive"  # set by the runner
results_dir = "../results/interactive/04_training"  # set by the runner
run_key = "main"  # set by the runner
convergence_fraction = 0.99  # a run has converged at the first validation step within this fraction of its best
time_to_accuracy = "benchmarks/results/time_to_accuracy"  # the exported study (benchmarks/time_to_accuracy.py)
cpu_budget_s = 1200.0  # the budget of CPU seconds per model within which the recipes are ranked
tie_points = 0.01  # recipes this close to the best purity within the budget count as tied
dpi = 110

# %%
import json
import shutil
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from pctlib.models.interaction_network import EdgeScorer
from pctlib.paths import find_project_root
from pctlib.zoo import Zoo
from pctlib.report import results_folder, save_figure, save_json, save_table

# the models this params set's 04_train_run trained (pctlib.zoo: the records its executions list in zoo.json)
zoo = Zoo.from_results(find_project_root(Path(results_dir).resolve()), params_name)
run_files = [m.record for m in zoo.models]
print(f"{len(run_files)} trained models: " + ", ".join(f"{c} × {len(v)}" for c, v in zoo.configurations().items()))

# %% [markdown]
# ## The network

# %%
model = EdgeScorer()
rows = [{"block": name, "parameters": sum(p.numel() for p in mod.parameters())}
        for name, mod in [("phi_R1 (edge MLP)", model.phi_r1), ("phi_O (node MLP)", model.phi_o),
                          ("phi_R2 (score MLP)", model.phi_r2)]]
rows.append({"block": "total", "parameters": model.n_parameters()})
params_table = pd.DataFrame(rows)
save_table(params_table, results_dir, "parameters")
fig, ax = plt.subplots(figsize=(12, 2.6))
boxes = [("segments v_i, v_j\n(8 features each)", 0), ("enc(u_ij)\n128-d, on the fly", 0),
         ("φ_R1\n144→16→16→16", 1), ("max over\nneighbours", 2), ("φ_O\n24→16→16→16", 3),
         ("φ_R2\n16→16→16→1", 4), ("σ → score s_i\nper segment", 5)]
xs = {0: 0.0, 1: 2.2, 2: 4.2, 3: 6.0, 4: 8.0, 5: 10.0}
for k, (label, col) in enumerate(boxes):
    y = 0.9 if k == 1 else 0.0
    x = xs[col]
    ax.add_patch(FancyBboxPatch((x, y), 1.7, 0.75, boxstyle="round,pad=0.03", fc="#eef3fb", ec="#2a5a9a"))
    ax.text(x + 0.85, y + 0.37, label, ha="center", va="center", fontsize=8)
for a, b in [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]:
    ax.add_patch(FancyArrowPatch((xs[a] + 1.7, 0.37), (xs[b], 0.37), arrowstyle="-|>", mutation_scale=10))
ax.add_patch(FancyArrowPatch((xs[0] + 1.7, 1.27), (xs[1], 0.6), arrowstyle="-|>", mutation_scale=10))
ax.add_patch(FancyArrowPatch((xs[0] + 0.85, 0.0), (xs[3] + 0.85, 0.0), connectionstyle="arc3,rad=0.25",
                             arrowstyle="-|>", mutation_scale=10, color="#777"))
ax.set_xlim(-0.2, 12)
ax.set_ylim(-0.9, 1.8)
ax.axis("off")
save_figure(fig, results_dir, "architecture", dpi=dpi)
plt.show()
params_table

# %% [markdown]
# ## Training and validation curves
#
# Thin lines: training batches (TPR and FPR of the assigned segments of each batch); thick lines with markers:
# validation. Bands: minimum to maximum over seeds. Stars: the step with the best validation purity (the kept
# checkpoint).

# %%
runs = []
for f in run_files:
    info = json.loads(f.read_text())
    df = pd.read_csv(f.parent / "metrics.csv")
    label = "PTT" if info["mode"] == "ptt" else f"PAT λ={info['lam']:g}"
    key = f.parent.name
    runs.append({"label": label, "seed": info["seed"], "key": key, "metrics": df, "best": info["best"]})
    shutil.copy(f.parent / "metrics.csv", results_folder(results_dir) / f"{label.replace(' ', '_').replace('λ=', 'lam')}_seed{info['seed']}.csv")
labels = sorted({r["label"] for r in runs}, key=lambda s: (s != "PTT", s))
colours = dict(zip(labels, plt.cm.tab10.colors))
fig, axes = plt.subplots(2, 2, figsize=(12, 8), sharex=True)
for ax, metric in zip(axes.flat, ("tpr", "fpr", "purity", "efficiency")):
    for label in labels:
        group = [r for r in runs if r["label"] == label]
        val = pd.concat([r["metrics"].query("split == 'val'").set_index("step")[metric].rename(r["seed"])
                         for r in group], axis=1)
        ax.plot(val.index, val.mean(axis=1), "o-", ms=3, color=colours[label], label=label)
        if val.shape[1] > 1:
            ax.fill_between(val.index, val.min(axis=1), val.max(axis=1), color=colours[label], alpha=0.2)
        if metric in ("tpr", "fpr"):
            tr = pd.concat([r["metrics"].query("split == 'train'").set_index("step")[metric].rename(r["seed"])
                            for r in group], axis=1).mean(axis=1)
            ax.plot(tr.index, tr.rolling(10, min_periods=1).mean(), lw=0.6, color=colours[label], alpha=0.6)
        for r in group:
            b = r["best"]
            if metric in b and b.get("step") is not None:
                ax.plot(b["step"], b[metric], "*", ms=11, color=colours[label], mec="k", mew=0.5)
    ax.set(ylabel=metric.upper() if metric in ("tpr", "fpr") else metric, xlabel="step")
    if metric == "fpr":
        ax.set_yscale("log")
axes[0, 0].legend(fontsize=8)
save_figure(fig, results_dir, "training_curves", dpi=dpi)
plt.show()

# %% [markdown]
# ## Every model
#
# Validation purity of each model, one panel per configuration, one line per seed (the mean above hides how
# seeds differ). Before every validation the BatchNorm statistics are recomputed at the current weights over 16
# training frames spread over the phantoms (`TrainConfig.bn_frames`, `pctlib.training.batchnorm`): each training
# frame is one BatchNorm batch, and the running averages of the last ~10 frames depend on which phantoms those
# happened to be. Evaluated with those running averages, a run's validation purity dropped from 0.79 to 0.47 and
# back between checkpoints 10 steps apart, while the same weights with recomputed statistics gave 0.82, 0.77, 0.80
# (`benchmarks/validation_stability.py`): those spikes were the statistics, not the weights. A second kind remained:
# at RMSProp's constant learning rate two of three PTT seeds fell from 0.86 and 0.83 to 0.69 and 0.43 in the last
# ten of 120 steps, with per-frame statistics too, so in the weights; both saw the same frames (models trained
# together share the batches), so a few batches pushed them. With the learning rate decayed along a cosine to 5 %
# (`cosine_lr`, the default zoo's setting) the last four validations of each seed stayed within 0.015
# (`benchmarks/lr_schedule_stability.py`). The paper's protocol keeps its constant rate with StepLR over 10,000
# steps.

# %%
fig, axes = plt.subplots(1, len(labels), figsize=(3.4 * len(labels), 3.2), sharey=True, squeeze=False)
for ax, label in zip(axes[0], labels):
    for r in sorted((r for r in runs if r["label"] == label), key=lambda r: r["seed"]):
        val = r["metrics"].query("split == 'val'")
        ax.plot(val.step, val.purity, "o-", ms=2.5, lw=1, label=f"seed {r['seed']}")
        b = r["best"]
        if b.get("step") is not None:
            ax.plot(b["step"], b["purity"], "*", ms=10, color=ax.lines[-1].get_color(), mec="k", mew=0.5)
    ax.set(title=label, xlabel="step")
    ax.legend(fontsize=7)
axes[0, 0].set_ylabel("validation purity")
save_figure(fig, results_dir, "training_curves_per_model", dpi=dpi)
plt.show()

# %% [markdown]
# ## Best checkpoints and steps to convergence
#
# The best validation values of every configuration (mean ± std over seeds), the *settled* purity of every run
# (mean and standard deviation of its last `TrainConfig.settle_validations` validations, 4: what the run gives once trained,
# beside its best checkpoint), and the steps to convergence. The paper (Sec. 5.1) reports steps to convergence
# without defining them; we take the first validation step at which a run reached `convergence_fraction` of its
# best purity (the best checkpoint's own step is in `best_step`).

# %%
def steps_to_convergence(val: pd.DataFrame) -> float:
    """The first validation step at which a run's purity reached `convergence_fraction` of its best."""
    if not val["purity"].notna().any():
        return np.nan
    return int(val.loc[val["purity"] >= convergence_fraction * val["purity"].max(), "step"].min())


rows = []
for r in runs:
    conv = steps_to_convergence(r["metrics"].query("split == 'val'"))
    rows.append({"configuration": r["label"], "seed": r["seed"], "best_step": r["best"].get("step"),
                 **{f"best_{k}": r["best"].get(k) for k in ("tpr", "fpr", "purity", "efficiency")},
                 "settled_purity": (r["best"].get("settled") or {}).get("purity", {}).get("mean", np.nan),
                 "settled_purity_std": (r["best"].get("settled") or {}).get("purity", {}).get("std", np.nan),
                 "steps_to_convergence": conv, "train_seconds": r["best"].get("train_seconds"),
                 "models_together": r["best"].get("models_together", 1)})
per_run = pd.DataFrame(rows)
save_table(per_run, results_dir, "runs")
summary = per_run.groupby("configuration").agg(
    seeds=("seed", "count"), tpr=("best_tpr", "mean"), fpr=("best_fpr", "mean"), purity=("best_purity", "mean"),
    purity_std=("best_purity", "std"), efficiency=("best_efficiency", "mean"),
    settled_purity=("settled_purity", "mean"), settled_purity_std=("settled_purity", "std"),
    steps_to_convergence=("steps_to_convergence", "mean"), steps_to_convergence_std=("steps_to_convergence", "std"))
save_table(summary.reset_index(), results_dir, "summary")
save_json({"runs": len(runs), "summary": summary.reset_index().to_dict("records")}, results_dir, "summary")
summary.round(4)

# %% [markdown]
# **What this shows.** PTT's cross-entropy gives every segment a gradient at every step; PAT learns only from the
# segments whose assignment flips under the λ-perturbation (previous chapter), a sparser signal, but one aimed
# directly at the tracks. The cell below states, from the runs above, where each configuration ended and how fast
# it got there. The paper trains both for 10,000 steps of 32 frames (`params/paper.yaml`); the CPU run of
# `params/default.yaml` is a short version of it (the default zoo: 3 seeds per configuration, 120 steps of 4
# frames, all twelve models trained together in one process), so differences between the configurations
# smaller than the seed-to-seed spread are not significant here.

# %%
for conf, row in summary.iterrows():
    print(f"{conf}: best validation purity {row.purity:.3f}, efficiency {row.efficiency:.3f}, "
          f"TPR {row.tpr:.4f}, FPR {row.fpr:.4f} over {int(row.seeds)} seed(s); within "
          f"{100 * convergence_fraction:.0f} % of its best purity after {row.steps_to_convergence:.0f} steps")

# %% [markdown]
# ## Time to accuracy on two CPU cores
#
# The paper trains 10,000 steps of 32 frames, 320,000 frames per model; at about half a CPU second per frame that
# is some 45 hours of one core per model here. How far does a model get on a budget a reader can afford, and which
# recipe gets there first? `benchmarks/time_to_accuracy.py` trains one PTT and one PAT (λ = 50) model per recipe
# on the same 540 training frames (20,000 primaries per phantom, 100 p⁺/F), two runs side by side on the two
# cores, one thread each, and every 160 frames measures the validation purity (the paper's definition, on 30
# validation frames stratified by phantom, BatchNorm statistics recomputed on 16 training frames first). Time is
# the process CPU time of the training steps alone (validations left out; CPU seconds are compared only between
# runs of one CPU: where the study ran on two machines, each run is named by its recipe and CPU). The recipes
# differ in batch size, learning-rate schedule and optimiser; every schedule runs over the same 2,400 frames:
#
# * `paper`: RMSProp 10⁻³, StepLR(1000 steps, ×0.5), 32 frames per step (the released code's recipe);
# * `cos4`, `cos8`: RMSProp 10⁻³ decayed by a cosine to 5 %, 4 or 8 frames per step (`cos4` is the default
#   zoo's);
# * `onecycle8`: warm-up over 10 % of the steps to a peak of 3·10⁻³, then cosine annealing;
# * `adam8`, `adamw8`: Adam, or AdamW with weight decay 10⁻², with the cosine schedule;
# * `curric8`: `cos8` whose first third of the steps draws frames of 50 p⁺/F (8× fewer line-graph edges);
# * `const8`: RMSProp at a constant 10⁻³ (the batch size without the schedule).
#
# The dashed line is the GPU reference: the paper's recipe on an H200 reached a best validation purity of 0.88
# after 500 steps × 32 frames (16,000 frames), a figure quoted from that run, not rerun here.

# %%
root = find_project_root(Path(results_dir).resolve())
tta_dir = root / time_to_accuracy
if (tta_dir / "curves.csv").is_file():
    about = json.loads((tta_dir / "about.json").read_text())
    cpus = about["cpus"]

    def named_runs(df):
        """Each run named by its recipe, and by its CPU too where the study ran on several."""
        return df.assign(run=df.recipe + (" (" + df.cpu + ")" if len(cpus) > 1 else ""))

    curves = named_runs(pd.read_csv(tta_dir / "curves.csv"))
    tta_summary = named_runs(pd.read_csv(tta_dir / "summary.csv"))
    gpu_ref = about["gpu_reference_purity"]
    modes = [m for m in ("ptt", "pat") if m in set(curves["mode"])]
    fig, axes = plt.subplots(len(modes), 2, figsize=(12, 3.8 * len(modes)), squeeze=False)
    colours = dict(zip(sorted(set(curves.recipe)), plt.cm.tab10.colors))
    styles = dict(zip(cpus, ("o-", "s--", "^:")))
    for r, mode in enumerate(modes):
        for (recipe, cpu, run), c in curves[curves["mode"] == mode].groupby(["recipe", "cpu", "run"]):
            for a, x in zip(axes[r], ("frames", "cpu_s")):
                a.plot(c[x], c.purity, styles.get(cpu, "o-"), ms=3, color=colours[recipe], label=run)
        for a, x in zip(axes[r], ("training frames seen", "CPU seconds of the training steps (1 thread)")):
            a.axhline(gpu_ref, ls="--", color="k", lw=1)
            a.set_xlabel(x)
            a.set_ylabel(f"validation purity ({mode.upper()})")
            a.grid(alpha=0.3)
        axes[r][1].axvline(cpu_budget_s, ls=":", color="grey")
        axes[r][0].legend(fontsize=8, ncol=2)
    fig.suptitle(f"time to accuracy on {about['cores']} cores ({', '.join(cpus)}); dashed: GPU reference")
    fig.tight_layout()
    save_figure(fig, results_dir, "time_to_accuracy", dpi=dpi)
    plt.show()
    within = curves[curves.cpu_s <= cpu_budget_s].groupby(["mode", "run"]).purity.max().rename(
        f"best within {cpu_budget_s:g} CPU s")
    tta_table = tta_summary.set_index(["mode", "run"]).join(within)
    tta_table["cpu_s_per_frame"] = tta_table.cpu_s / tta_table.frames
    tta_table = tta_table[["recipe", "cpu", "frames", "cpu_s", "cpu_s_per_frame", "best_purity", within.name,
                           "frames_to_0.85", "cpu_s_to_0.85", "gap_to_gpu"]]
    save_table(tta_table.reset_index(), results_dir, "time_to_accuracy")
    for mode in modes:
        t = tta_table.loc[mode]
        print(f"{mode.upper()}: highest validation purity within {cpu_budget_s:g} CPU s: {t[within.name].idxmax()} "
              f"({t[within.name].max():.3f}); best of the whole run: {t.best_purity.idxmax()} "
              f"({t.best_purity.max():.3f} after {t.loc[t.best_purity.idxmax(), 'frames']:.0f} frames)")
    display_table = tta_table.round(3)
else:
    display_table = None
    print(f"no time-to-accuracy study under {time_to_accuracy} (run benchmarks/time_to_accuracy.py --export)")
display_table

# %% [markdown]
# **The recipe of the reference zoo.** The rule: the recipe with the highest PTT validation purity within the
# budget of `cpu_budget_s` CPU seconds per model (the target was 0.85 within one hour of the two cores); recipes
# within `tie_points` of the best count as tied (one validation set of 30 frames, whose per-frame purity spreads by
# 6–8 points, cannot order them), and among tied recipes the one that first reaches 0.85 in the fewest CPU seconds
# wins. (The tie rule was written after the first measurements showed two recipes 0.3 points apart.) At equal
# frames the paper's recipe is far behind: 32 frames per step spend the same frames on 32 times fewer updates, and
# its StepLR never decays within a short run. `params/zoo.yaml` trains all 20 models alike with the chosen recipe
# for 4,800 frames each (10× the default zoo's), a documented deviation from the paper's optimisation applied
# equally to every configuration; the paper's recipe stays in `params/paper.yaml`. The cell below checks the params
# file against the measurement.

# %%
import yaml

zoo_params = yaml.safe_load((root / "params" / "zoo.yaml").read_text())["notebooks"]["04_train_run"]["parameters"]
zoo_recipe = {k: zoo_params.get(k) for k in ("batch_frames", "lr", "cosine_lr", "step_lr", "one_cycle", "optimizer")
              if zoo_params.get(k) is not None}
if display_table is not None and "ptt" in set(curves["mode"]):
    t = tta_table.loc["ptt"]
    study_cpu = t.cpu.value_counts().idxmax()  # CPU seconds are compared on one CPU: the one most PTT runs used
    t = t[t.cpu == study_cpu]
    tied = t[t[within.name] >= t[within.name].max() - tie_points]
    chosen_run = tied["cpu_s_to_0.85"].fillna(np.inf).idxmin()
    chosen = t.loc[chosen_run, "recipe"]
    print(f"PTT runs on {study_cpu}; within {tie_points:g} of the best ({t[within.name].max():.3f}): "
          + ", ".join(f"{r} ({v:.3f}, 0.85 after {c:.0f} CPU s)" for r, v, c in
                      zip(tied.recipe, tied[within.name], tied["cpu_s_to_0.85"])))
    matches = {k: v for k, v in about["recipes"][chosen].items() if k in zoo_recipe} == {
        k: zoo_recipe[k] for k in about["recipes"][chosen] if k in zoo_recipe}
    print(f"chosen within {cpu_budget_s:g} CPU s: {chosen} ({t.loc[chosen_run, within.name]:.3f}); params/zoo.yaml "
          f"trains {zoo_recipe} for {zoo_params['steps'] * zoo_params['batch_frames']} frames: "
          + ("the same recipe" if matches else "NOT the chosen recipe"))

# %% [markdown]
# **PAT under the recipes** (measured after the reference zoo was trained, on a second machine). The PAT runs
# other than `cos4` ran on an Intel Xeon, the PTT runs on an AMD EPYC; the Xeon simulates its own hits from the same
# seeds (the simulation is not bit-identical across CPUs), so `cos4` PAT was run there again as the anchor: 0.820
# against 0.854 on the EPYC, a measure of how far one run on 30 validation frames moves with the data alone. On the
# Xeon, within the same 2,400 frames, PAT λ = 50 reaches 0.874 with the one-cycle recipe, 5.4 points above `cos4` on
# the same frames, 0.811 with the curriculum and 0.779 with the paper's recipe. The rule above, applied to PTT
# alone, chose a recipe that is not PAT's best: had PAT been measured first, one-cycle (tied with `cos4` on PTT,
# ahead on PAT, one run each) would have been chosen. The reference zoo's PAT models may therefore be further from
# convergence than its PTT models, and part of the PAT–PTT gap in chapter *Benchmarks* may be the recipe's;
# retraining the zoo with one-cycle is the experiment that would tell.

# %% [markdown]
# ## The reference zoo's training
#
# Chapters 05–10 under default params analyse the reference zoo: the paper's 20 models trained by
# `params/zoo.yaml` with the recipe chosen above and committed under `zoo/reference` (`pctlib publish-zoo zoo`).
# Its validation curves, every model, against the training frames seen; in black the time-to-accuracy study's
# curve of the same recipe (one model per mode, on 540 training frames where the zoo has 600), where it was run.

# %%
from pctlib.reference_zoo import REFERENCE_FOLDER, reference_curves

ref_dir = root / REFERENCE_FOLDER
if (ref_dir / "manifest.json").is_file():
    ref_curves = reference_curves(ref_dir)
    confs = list(dict.fromkeys(ref_curves.configuration))
    colours = dict(zip(confs, plt.cm.tab10.colors))
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for (conf, seed), c in ref_curves.groupby(["configuration", "seed"], sort=False):
        first = seed == ref_curves[ref_curves.configuration == conf].seed.min()
        ax.plot(c.frames, c.purity, "-", lw=0.9, alpha=0.75, color=colours[conf], label=conf if first else None)
    if display_table is not None:
        zoo_recipe_name = chosen if "ptt" in set(curves["mode"]) else None
        for mode, style in (("ptt", "k--"), ("pat", "k:")):
            c = curves[(curves["mode"] == mode) & (curves.recipe == zoo_recipe_name)]
            c = c[c.cpu == study_cpu] if zoo_recipe_name is not None else c
            if len(c):
                ax.plot(c.frames, c.purity, style, lw=1.5, label=f"time to accuracy, {zoo_recipe_name} {mode.upper()}")
    ax.set(xlabel="training frames seen", ylabel="validation purity", title="the reference zoo's validations")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    save_figure(fig, results_dir, "reference_zoo_curves", dpi=dpi)
    plt.show()
    best = ref_curves.loc[ref_curves.groupby("name").purity.idxmax()]
    ref_summary = best.groupby("configuration", sort=False).agg(
        models=("seed", "count"), best_purity=("purity", "mean"), best_purity_std=("purity", "std"),
        frames_at_best=("frames", "mean"))
    ref_summary["frames_trained"] = ref_curves.groupby("configuration", sort=False).frames.max()
    save_table(ref_summary.reset_index(), results_dir, "reference_zoo")
    ref_display = ref_summary.round(3)
else:
    ref_display = None
    print(f"no reference zoo committed under {REFERENCE_FOLDER} yet (train it with params/zoo.yaml, then "
          "`pctlib publish-zoo zoo`)")
ref_display

# %% [markdown]
# ## The paper's claims beside ours
#
# Paper Sec. 5.1: the validation metrics of all configurations are almost identical, and PAT λ = 50 converges in
# fewer steps than PTT (7000 ± 1512 against 7580 ± 1536 of 10,000). Decided by the rule of every chapter
# (`pctlib.claims`): "almost identical" is an equivalence with a margin of one point of purity on the spread
# between the configurations' mean best validation purity (max − min), agreed only when the whole 90 % interval of
# a seed bootstrap (seeds resampled within each configuration) lies below the margin; the convergence claim needs
# runs as long as the paper's (otherwise it has no evidence: *cannot tell*) and is tested one-sided by Welch over
# seeds. Each claim is decided twice where the reference zoo is committed: on the small zoo this run trained and on
# the reference zoo (ten times its training frames), whose verdict is the one the book stands by; the two differ
# only in how far the models were trained.

# %%
from pctlib.claims import Claim, Evidence, decide


def training_claims(models: pd.DataFrame, zoo_name: str) -> list:
    """The Sec. 5.1 claims decided on one zoo: ``models`` has one row per model with its configuration, best
    validation purity, best step and steps to convergence."""
    if models.configuration.nunique() < 2:
        return []
    by_conf = {c: 100 * g.best_purity.dropna().to_numpy() for c, g in models.groupby("configuration")}
    spread = max(v.mean() for v in by_conf.values()) - min(v.mean() for v in by_conf.values())
    rng = np.random.default_rng(0)
    draws = []
    for _ in range(2000):
        means = [rng.choice(v, v.size).mean() for v in by_conf.values()]
        draws.append(max(means) - min(means))
    multi = all(v.size > 1 for v in by_conf.values())
    ev = (Evidence.bootstrap(spread, draws, method=f"seed bootstrap ({min(v.size for v in by_conf.values())}+ "
                                                   "seeds per configuration)") if multi
          else Evidence.normal(spread, np.nan, method="one seed: no uncertainty"))
    out = [Claim(f"best validation purity almost identical across configurations (spread within 1 point; "
                 f"{zoo_name})", "within", ev, 1.0, "Sec. 5.1",
                 f"spread {spread:.1f} points ({', '.join(f'{c} {v.mean():.1f}' for c, v in by_conf.items())})")]
    longest = int(models.best_step.max()) if models.best_step.notna().any() else 0
    conv = {c: g.steps_to_convergence.dropna().to_numpy() for c, g in models.groupby("configuration")}
    if longest >= 10000 and "PAT λ=50" in conv and "PTT" in conv:
        ev = Evidence.welch(conv["PAT λ=50"], conv["PTT"])
    else:
        ev = Evidence.normal(np.nan, np.nan, method=f"runs of at most {longest} steps, not 10,000: no evidence")
    out.append(Claim(f"PAT λ=50 converges in fewer steps than PTT (θ = PAT − PTT steps; {zoo_name})", "less", ev,
                     0.0, "7000 vs 7580 of 10,000",
                     ", ".join(f"{c} {v.mean():.0f}" for c, v in conv.items()) + f" steps of runs up to {longest}"))
    return out


claims = training_claims(per_run, "this run's zoo")
if ref_display is not None:
    conv = ref_curves.groupby("name").apply(steps_to_convergence, include_groups=False)
    claims += training_claims(best.assign(best_purity=best.purity, best_step=best.step,
                                          steps_to_convergence=best["name"].map(conv)), "reference zoo")
claims = decide(claims)
save_table(claims, results_dir, "claims")
claims[["claim", "paper", "ours", "test", "low", "high", "uncertainty", "p_holm", "verdict"]].round(3).style.hide(
    axis="index").set_properties(subset=["claim"], **{"text-align": "left"})

# %% [markdown]
# **What this chapter finds.** Training works: every configuration of the small zoo trained here rises from chance
# to a best validation purity of 0.66–0.82 in 120 steps of 4 frames, and the reference zoo, ten times longer with the
# recipe the time-to-accuracy study chose, reaches 0.92 (PTT) and 0.84–0.86 (PAT). The paper's "almost identical"
# validation metrics do not hold on either zoo: the spread between configurations shrinks from 16 to 8 points
# with the longer training, but PTT stays clearly ahead of every PAT λ (part of it possibly the recipe's, chosen on
# PTT: see *PAT under the recipes*), and the seed bootstrap's interval lies far outside the one-point margin.
# Whether PAT converges in fewer steps cannot be told from runs a tenth as long as the paper's (the reference zoo's
# best steps fall between 480 and 1,200 of 1,200). Chapter 05 shows the same ordering on the test phantoms.
