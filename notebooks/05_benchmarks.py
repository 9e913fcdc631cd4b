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
# # Benchmarks: the reconstruction table
#
# Table 1 of Kortus et al. (2024) compares the track purity and efficiency of the classical track follower
# (Pettersen et al. 2020) with the GNN trained predict-then-track and predict-and-track, for 50, 100 and 150
# protons per frame behind 100, 150 and 200 mm of water. This chapter rebuilds that table on our simulated test
# sets with the models trained in the chapter *Training* for the chosen params set.
#
# Definitions (`pctlib.tracks.metrics`): a track is kept when it has more than 4 hits and its deepest hit deposits
# more than `min_last_edep` MeV (the released code's 0.0625 MeV by default; the paper's text says 625 keV). Purity
# and efficiency are the paper's, as its released code computes them: among the kept tracks all of whose hits are
# primary, purity is the share whose hits share one eventID, and efficiency divides that count by the number of
# events whose hits are all primary. Stricter companions that count every kept track are shown beside them (below).

# %% tags=["parameters"]
params_name = "interactive"  # set by the runner
results_dir = "../results/interactive/05_benchmarks"  # set by the runner
run_key = "main"  # set by the runner
# the models analysed: those 04_train_run trained under this params set, or the committed reference zoo
zoo_source = "trained"  # one of: trained, reference
zoo_seeds = []  # the zoo's seeds analysed, every configuration alike (empty: all)
test_primaries = 1500  # per phantom
phantoms = [100.0, 150.0, 200.0]
densities = [50, 100, 150]
min_last_edep = 0.0625
follower = True  # also run the track follower (slow: pure Python tree search)
test_seed = 9
dpi = 110
graph_builder = "angular"  # one of: angular, learned
preselect = "none"  # one of: none, fcnn, gbdt
module_primaries = 2000  # per phantom, as in 04_train_run (the same trained modules)
# Table 1 of the reference zoo on the paper's 10,000 test primaries per phantom, measured by
# benchmarks/table1_reference.py (relative to the project; used with zoo_source reference when its zoo digest is the
# committed zoo's; empty: every model evaluated here on test_primaries)
table1_export = "benchmarks/results/table1_reference"

# %%
from dataclasses import replace
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from pctlib.assign.batch import assign_scores
from pctlib.assign.layout import layout_of_graph
from pctlib.graphs.build import graph_from_hits
from pctlib.graphs.config import GraphConfig
from pctlib.graphs.frames import split_frames
from pctlib.paths import find_project_root
from pctlib.report import save_figure, save_json, save_table
from pctlib.tracks.build import build_tracks
from pctlib.tracks.evaluate import evaluate_frames
from pctlib.tracks.follower import FollowerConfig
from pctlib.training.data import graph_setup, simulated_hits
from pctlib.reference_zoo import chapter_zoo

torch.set_num_threads(2)
root = find_project_root(Path(results_dir).resolve())
test_hits = {}
for k, t in enumerate(phantoms):
    test_hits[t] = simulated_hits(root / "data", "test", t, test_primaries, test_seed * 1000 + k)
# the models of this params set's training grid (pctlib.zoo: recorded by 04_train_run, all trained on one data set)
zoo = chapter_zoo(root, params_name, zoo_source, zoo_seeds)
models = [(f"GNN {m.configuration}", m.seed, m.load()) for m in zoo.models]
# the graphs: the paper's angular ones, or a learned builder / hit classifier (the modules 04_train_run used when
# it ran with the same graph_builder / preselect; both trackers see the hits the classifier keeps)
graph_cfg, modules = graph_setup(root / "data", graph_builder, preselect, tuple(phantoms), 100, module_primaries)
print(f"{len(models)} trained models: {sorted({m[0] for m in models})}")

# %% [markdown]
# ## Evaluation
#
# Every model and the track follower reconstruct every test frame (`pctlib.tracks.evaluate.evaluate_frames`). A
# standard error of one point of purity per cell needs some 50 frames of each density and phantom (the per-frame
# purity spreads by 4–7 points), the paper's 10,000 test primaries per phantom: for the 20 models of the reference
# zoo some half hour of two cores, more than this chapter's share of the book's time budget. That evaluation is
# therefore measured once by `benchmarks/table1_reference.py` and exported with the digest of the zoo it evaluated;
# with `zoo_source: reference` the chapter takes Table 1 from it when the digest is the committed zoo's, and
# otherwise evaluates here on `test_primaries`.

# %%
from pctlib.io.readers import read_hits
from pctlib.reference_zoo import REFERENCE_FOLDER, table1_export as read_table1_export

exported = None
if table1_export and zoo_source == "reference" and (graph_builder, preselect) == ("angular", "none"):
    # used only when measured on this very zoo (manifest digest), for these phantoms and densities, with this filter
    exported, export_note = read_table1_export(root / table1_export, root / REFERENCE_FOLDER, phantoms, densities,
                                               min_last_edep, seeds=[m.seed for m in zoo.models])
    print(export_note)
use_export = exported is not None
rows = []
for t, path in ({} if use_export else test_hits).items():
    hits = read_hits(path)
    for n in densities:
        for label, seed, model in models:
            for r in evaluate_frames(hits, n, "gnn", model, min_last_edep=min_last_edep,
                                     graph=replace(graph_cfg, primaries_per_frame=n), modules=modules):
                rows.append({**r, "algorithm": label, "seed": seed, "phantom_mm": t})
        if follower:
            for r in evaluate_frames(hits, n, "track-follower", min_last_edep=min_last_edep,
                                     graph=replace(graph_cfg, primaries_per_frame=n), modules=modules):
                rows.append({**r, "algorithm": "track follower", "seed": 0, "phantom_mm": t})
frames = pd.DataFrame(rows)
if use_export:  # its rows stay in the export's folder (benchmarks/results/table1_reference), not copied here
    frames = exported if follower else exported[exported.algorithm.ne("track follower")]
else:
    save_table(frames, results_dir, "per_frame")
# per frame, then the mean over frames (as the released code averages), then mean and std over seeds
metric_columns = ["purity", "efficiency", "purity_all_tracks", "efficiency_clean"]
per_seed = frames.groupby(["algorithm", "primaries_per_frame", "phantom_mm", "seed"])[
    ["correct", "tracks_filtered", "primary_tracks", *metric_columns, "tracking_seconds"]].mean().reset_index()
table = per_seed.groupby(["algorithm", "primaries_per_frame", "phantom_mm"]).agg(
    **{k: (c, f) for c in metric_columns for k, f in ((c, "mean"), (f"{c}_std", "std"))},
    primary_track_share=("primary_tracks", "sum"), tracks_filtered=("tracks_filtered", "sum"),
    seeds=("seed", "nunique")).reset_index()
table["primary_track_share"] = table.primary_track_share / table.tracks_filtered
table = table.drop(columns="tracks_filtered")
# the standard error over test frames of each cell's purity and efficiency: the spread over frames of the per-frame
# mean over seeds, over √frames (the test set's own noise, beside the seeds' spread in the *_std columns)
frame_means = frames.groupby(["algorithm", "primaries_per_frame", "phantom_mm", "frame"])[
    ["purity", "efficiency"]].mean()
frame_se = frame_means.groupby(["algorithm", "primaries_per_frame", "phantom_mm"]).agg(
    purity_se=("purity", "sem"), efficiency_se=("efficiency", "sem"), test_frames=("purity", "count")).reset_index()
table = table.merge(frame_se, on=["algorithm", "primaries_per_frame", "phantom_mm"], how="left")
save_table(table, results_dir, "table1")

# %% [markdown]
# ## Table 1, ours beside the paper's
#
# Purity / efficiency in %, mean over seeds (± their std where there are several), and in brackets the standard
# error over the test frames of the purity and of the efficiency (the test set's own noise: the spread over frames of
# the per-frame seed mean, over √frames). The paper's values are from GATE data (10,000 test primaries per phantom)
# and models trained for 10,000 steps of 32 frames; ours from our simulation and the chosen params set.
#
# **Two definitions.** The columns `purity` and `efficiency` follow the paper as its released code computes them
# (`pctlib.tracks.metrics`): after the track filter only *primary-only* tracks count, those all of whose hits are
# primary; purity is the share of them whose hits share one eventID, and efficiency divides the same count by the
# number of events all of whose hits are primary. A track that picked up a secondary's hit is left out of both
# counts, so tracks near nuclear interactions, the hardest ones, never lower the paper's purity. The stricter
# companions keep every reconstructed track: `purity_all_tracks` = tracks of one eventID without noise / all kept
# tracks, and `efficiency_clean` = primaries without an inelastic interaction (simulation truth) found by a fully
# clean track / such primaries. `primary_track_share` is the fraction of kept tracks that the paper's purity looks
# at.

# %%
paper = {  # Kortus et al. 2024, Table 1 (purity, efficiency) in %
    ("track follower", 50): [(87.1, 78.1), (89.4, 81.1), (90.8, 82.1)],
    ("GNN PTT", 50): [(94.9, 83.8), (96.2, 86.9), (96.4, 88.7)],
    ("GNN PAT λ=50", 50): [(95.0, 83.9), (96.3, 87.1), (96.5, 89.0)],
    ("track follower", 100): [(80.6, 71.7), (84.7, 76.4), (85.8, 77.5)],
    ("GNN PTT", 100): [(87.4, 75.2), (91.9, 82.4), (91.7, 83.8)],
    ("GNN PAT λ=50", 100): [(87.4, 75.1), (92.0, 82.4), (92.5, 84.6)],
    ("track follower", 150): [(75.6, 67.2), (80.1, 72.2), (82.5, 74.6)],
    ("GNN PTT", 150): [(77.5, 65.0), (84.9, 75.3), (87.2, 79.6)],
    ("GNN PAT λ=50", 150): [(76.8, 64.4), (85.1, 75.5), (88.1, 80.6)],
}
ph_index = {100.0: 0, 150.0: 1, 200.0: 2}


def cell(r, p="purity", e="efficiency"):
    s = f"{100 * r[p]:.1f} / {100 * r[e]:.1f}"
    std = r[f"{p}_std"]
    s += f" (±{100 * std:.1f})" if r.seeds > 1 and not np.isnan(std) else ""
    if p == "purity":
        s += f" [SE {100 * r.purity_se:.1f}, {100 * r.efficiency_se:.1f}]"
    return s


show = table.copy()
show["ours"] = show.apply(cell, axis=1)
show["ours, all tracks / clean"] = show.apply(lambda r: cell(r, "purity_all_tracks", "efficiency_clean"), axis=1)
show["paper"] = [("{:.1f} / {:.1f}".format(*paper[(a, n)][ph_index[t]]) if (a, n) in paper and t in ph_index
                  else "") for a, n, t in zip(show.algorithm, show.primaries_per_frame, show.phantom_mm)]
pivot = show.pivot_table(index=["primaries_per_frame", "algorithm"], columns="phantom_mm",
                         values=["ours", "paper", "ours, all tracks / clean"], aggfunc="first")
noisy = table[table.purity_se > 0.01]
print(f"test frames per cell: {table.test_frames.min()}-{table.test_frames.max()}; purity standard error over "
      f"frames {100 * table.purity_se.min():.2f}-{100 * table.purity_se.max():.2f} points; "
      + (f"{len(noisy)} of {len(table)} cells above 1 point (more test primaries narrow them): "
         + ", ".join(f"{a} {n} p+/F {t:.0f} mm" for a, n, t in zip(noisy.algorithm, noisy.primaries_per_frame,
                                                                    noisy.phantom_mm))
         if len(noisy) else "every cell within 1 point"))
pivot

# %% [markdown]
# ## Why thin phantoms are harder
#
# Behind a thin phantom the protons reach the trackers less spread out: the same 100 protons share a smaller area of
# tracker 0 (column `density_0_per_mm2`, hits per mm² within one standard deviation of the spot, and `sigma_0_mm`).
# For every kept track that is wrong, `pctlib.tracks.diagnostics` records the layer of its first wrong segment:
# `wrong_tracker` counts those that go wrong in the tracker segments (0→1 and 1→2), the calorimeter columns the rest.
# Per frame at 100 p⁺/F:

# %%
diag = frames[frames.primaries_per_frame == 100].groupby(["algorithm", "phantom_mm"])[
    ["purity", "wrong", "wrong_tracker", "wrong_calorimeter_front", "wrong_calorimeter_deep", "sigma_0_mm",
     "density_0_per_mm2"]].mean()
diag["tracker_share"] = diag.wrong_tracker / diag.wrong
save_table(diag.reset_index(), results_dir, "failures_by_layer")
diag.round(3)

# %% [markdown]
# The track follower's failures sit almost all in the tracker segments. Across the 55 mm and 40 mm gaps before the
# calorimeter the protons are inclined by tens of mrad, so a track's own tracker hit is often not the hit laterally
# nearest to its first calorimeter hit. pctlib's follower used to take candidate continuations in that order and
# keep the first two; the 0.845 replacement rule could not bring the right hit back, because a branch's score is
# dominated by the kinks it accumulated in the calorimeter. It now takes candidates by their distance to the
# branch's extrapolation (`FollowerConfig.candidate_order`). The old order, on the same frames at 100 p⁺/F:

# %%
if follower and 100 in densities:
    old_rows = []
    for t, path in test_hits.items():
        for r in evaluate_frames(read_hits(path), 100, "track-follower", min_last_edep=min_last_edep,
                                 follower=FollowerConfig(candidate_order="nearest")):
            old_rows.append({**r, "phantom_mm": t})
    old = pd.DataFrame(old_rows).groupby("phantom_mm")[["purity", "efficiency", "wrong", "wrong_tracker"]].mean()
    new = frames[(frames.algorithm == "track follower") & (frames.primaries_per_frame == 100)].groupby(
        "phantom_mm")[["purity", "efficiency", "wrong", "wrong_tracker"]].mean()
    order_study = pd.concat({"nearest hit first (before)": old, "by extrapolation (now)": new}, axis=1)
    save_table(order_study.reset_index(), results_dir, "follower_candidate_order")
    order_study = order_study.round(3)
else:
    order_study = "needs the track follower at 100 p+/F"
order_study

# %% [markdown]
# **What remains.** With the follower's candidates in the right order its purity at 100 p⁺/F climbs with the phantom
# about as the paper's does, and the steep climb we reported before is gone from it. The two kinds of tracker fail in
# different places (the cell below, per phantom, for the models this params set analyses). On the reference zoo
# (default params) the PTT models make less than half the follower's mistakes across the tracker gaps, where the
# follower loses most of its tracks, but several times its mistakes deep in the calorimeter, where tracks end,
# scatter most and meet secondaries: behind 100 mm the two cancel, behind 150 and 200 mm the GNN is ahead. The PAT
# models of the same training go wrong in the trackers about as often as the follower and deep in the calorimeter
# as often as PTT, which is why they trail both.

# %%
for (alg, t), r in diag.iterrows():
    print(f"{alg}, {t:.0f} mm: {r.wrong:.1f} wrong tracks per frame, {r.wrong_tracker:.1f} in the trackers, "
          f"{r.wrong_calorimeter_deep:.1f} deep in the calorimeter; tracker-0 density {r.density_0_per_mm2:.3f} /mm²")

# %% [markdown]
# ## Reconstruction time per frame
#
# Tracking only (scoring, assignment and chains for the GNN; the tree search for the follower), graph building
# excluded, on this machine's CPU.

# %%
timing = frames.groupby(["algorithm", "primaries_per_frame"])[["tracking_seconds", "graph_seconds"]].mean()
save_table(timing.reset_index(), results_dir, "timing")
(1e3 * timing).round(1).rename(columns=lambda c: c.replace("_seconds", " [ms]"))

# %% [markdown]
# ## Reconstructed tracks
#
# One frame of 100 p⁺/F behind 100 mm of water, reconstructed by the first GNN model (as the paper's Fig. 9):
# green, correct segments; red, wrong segments; orange, segments between hits of the same particle that belong to
# the wrong primary's track (a continuation picked up from another particle of the same primary).

# %%
if models:
    hits = read_hits(test_hits[phantoms[0]])
    g, _ = graph_from_hits(split_frames(hits, 100)[0], GraphConfig())
    with torch.no_grad():
        s = models[0][2](g).numpy()
    y = assign_scores(s, layout_of_graph(g))
    tr = build_tracks(g.hit_x.shape[0], g.hit_edge_index.numpy(), y)
    hx = g.hit_x.numpy()
    ev, tk = g.hit_event.numpy(), g.hit_track.numpy()
    fig, ax = plt.subplots(figsize=(12, 5))
    for h in tr.hits:
        main_ev = np.bincount(ev[h][ev[h] >= 0]).argmax() if (ev[h] >= 0).any() else -1
        for a, b in zip(h[:-1], h[1:]):
            if ev[a] == ev[b] and ev[a] >= 0 and ev[a] == main_ev:
                colour = "#2a9d3a"
            elif ev[a] == ev[b] and ev[a] >= 0:
                colour = "#f4a100"
            else:
                colour = "#d62728"
            ax.plot(hx[[a, b], 3], hx[[a, b], 1], color=colour, lw=0.8)
    ax.scatter(hx[:, 3], hx[:, 1], s=2, c="k")
    ax.set(xlabel="z [mm]", ylabel="x [mm]", title=f"{models[0][0]}: {len(tr)} tracks")
    save_figure(fig, results_dir, "event_display", dpi=dpi)
    plt.show()

# %% [markdown]
# ## Where the trackers fail
#
# Purity against density and phantom (fewer layers to cross behind thicker phantoms), per algorithm.

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for alg, g in table.groupby("algorithm"):
    m = g.groupby("primaries_per_frame")["purity"].mean()
    axes[0].plot(m.index, 100 * m.values, "o-", label=alg)
    m = g.groupby("phantom_mm")["purity"].mean()
    axes[1].plot(m.index, 100 * m.values, "o-", label=alg)
axes[0].set(xlabel="primaries per frame", ylabel="purity [%]")
axes[1].set(xlabel="water phantom [mm]", ylabel="purity [%]")
axes[0].legend(fontsize=8)
save_figure(fig, results_dir, "failures", dpi=dpi)
plt.show()
save_json({"table1": table.to_dict("records"), "timing_ms": (1e3 * timing).reset_index().to_dict("records")},
          results_dir, "summary")

# %% [markdown]
# **What this shows.** The cell below compares, at 100 p⁺/F, each GNN with the track follower on every phantom,
# from the table above. Under default params the models are the reference zoo (`zoo/reference`: 4,800 training
# frames each, 1.5 % of the paper's 10,000 steps of 32 frames, with the recipe of chapter *Training*; the paper's
# recipe stays in `params/paper.yaml`), evaluated on the paper's 10,000 test primaries per phantom. There GNN PTT
# comes within about one point of the paper's purity in every cell of Table 1, and is purer than our follower behind
# 150 and 200 mm by more than the noise; behind 100 mm the two are level. Our follower is purer than the paper's by
# 2-6 points, so the GNN's lead over it is smaller than the paper's. PAT does not reach PTT here (6-9 points below
# at 100 p⁺/F; their validation purity stayed below PTT's all through training, chapter *Training*): at this budget
# the paper's "PAT as pure as PTT" is not reproduced (claims below); whether longer training closes the gap, as the
# paper's 320,000 frames suggest, is open, and so is the recipe's share: the zoo's recipe was chosen on PTT, and
# chapter *Training* found afterwards that one-cycle trains PAT λ = 50 to a validation purity 5 points higher on the
# same frames (one run each).

# %%
t100 = table[table.primaries_per_frame == 100].set_index(["algorithm", "phantom_mm"])["purity"]
for alg in sorted({m[0] for m in models}):
    for t in phantoms:
        if (alg, t) not in t100.index or ("track follower", t) not in t100.index:
            print(f"{alg}, {t:.0f} mm: no 100 p+/F evaluation with both trackers in this params set")
            continue
        d = 100 * (t100[(alg, t)] - t100[("track follower", t)])
        print(f"{alg} vs track follower, {t:.0f} mm, 100 p+/F: purity {100 * t100[(alg, t)]:.1f} % vs "
              f"{100 * t100[('track follower', t)]:.1f} % ({d:+.1f} points)")

# %% [markdown]
# **How much the definitions matter.** At 100 p⁺/F: the paper's purity minus the all-tracks purity, and the
# paper's efficiency over its purity (the paper's own ratio is about 0.86-0.90), per tracker and phantom.

# %%
at100 = table[table.primaries_per_frame == 100].set_index(["algorithm", "phantom_mm"])
for (alg, t), r in at100.iterrows():
    print(f"{alg}, {t:.0f} mm: paper purity {100 * r.purity:.1f} % vs all tracks {100 * r.purity_all_tracks:.1f} % "
          f"({100 * (r.purity - r.purity_all_tracks):+.1f} points; {100 * r.primary_track_share:.0f} % of kept "
          f"tracks are primary-only); efficiency / purity {r.efficiency / r.purity:.2f}")

# %% [markdown]
# ## The paper's claims beside ours
#
# Each claim of the paper's Table 1 discussion, decided by the rule every chapter uses (`pctlib.claims`): the
# estimate θ in points of purity, its uncertainty, and the claim's bound. A directional claim ("purer than") is
# tested one-sided at 5 %; an equivalence ("as pure as, within 1 point") agrees only when the whole 90 % interval
# lies within the margin, so a difference smaller than its noise decides nothing; Holm's correction runs over the
# chapter's claims. The uncertainty of a difference between trackers measured on the same test frames adds the
# seed-to-seed spread of the trained models (their standard deviation over seeds, ddof 1, over √seeds; the
# released code's table prints the standard deviation with ddof 0, smaller by √((n − 1)/n): 0.82× for 3 seeds,
# 0.89× for 5) and the frame-to-frame spread of the paired per-frame differences (`Evidence.seeds_and_frames`).

# %%
from pctlib.claims import Claim, Evidence, decide


def per_frame(alg, t, n=100, col="purity"):
    """Seeds x frames of a metric (in points) of one tracker on one phantom and density."""
    g = frames[(frames.algorithm == alg) & (frames.phantom_mm == t) & (frames.primaries_per_frame == n)]
    all_frames = sorted(frames[(frames.phantom_mm == t) & (frames.primaries_per_frame == n)].frame.unique())
    return 100 * g.pivot_table(index="seed", columns="frame", values=col, dropna=False).reindex(
        columns=all_frames).to_numpy(float)


def paper_diff(alg, ref, t, n=100):
    if (alg, n) in paper and (ref, n) in paper and t in ph_index:
        return f"{paper[(alg, n)][ph_index[t]][0] - paper[(ref, n)][ph_index[t]][0]:+.1f} points"
    return ""


claims = []
gnns = sorted(a for a in table.algorithm.unique() if a.startswith("GNN"))
has = set(zip(frames.algorithm, frames.phantom_mm, frames.primaries_per_frame))
for alg in gnns:
    for t in phantoms:
        if (alg, t, 100) in has and ("track follower", t, 100) in has:
            ev = Evidence.seeds_and_frames(per_frame(alg, t), per_frame("track follower", t))
            claims.append(Claim(f"{alg} purer than the track follower, {t:.0f} mm, 100 p+/F", "greater", ev, 0.0,
                                paper_diff(alg, "track follower", t), f"{ev.estimate:+.1f} points"))
ptt = [a for a in gnns if "PTT" in a]
for alg in [a for a in gnns if "PAT" in a]:
    for t in phantoms:
        if ptt and (alg, t, 100) in has and (ptt[0], t, 100) in has:
            ev = Evidence.seeds_and_frames(per_frame(alg, t), per_frame(ptt[0], t))
            claims.append(Claim(f"{alg} as pure as PTT (within 1 point), {t:.0f} mm, 100 p+/F", "within", ev, 1.0,
                                paper_diff(alg, ptt[0], t), f"{ev.estimate:+.1f} points"))
dens = sorted(densities)
seed_mean = frames.groupby(["algorithm", "primaries_per_frame", "phantom_mm", "frame"])[
    ["purity", "efficiency"]].mean().reset_index()
if len(dens) > 1:
    for alg in table.algorithm.unique():
        g = seed_mean[seed_mean.algorithm == alg]
        ev = Evidence.welch(100 * g[g.primaries_per_frame == dens[0]].purity,
                            100 * g[g.primaries_per_frame == dens[-1]].purity,
                            method="Welch over frames (seed means), all phantoms")
        claims.append(Claim(f"{alg}: purity falls from {dens[0]} to {dens[-1]} p+/F", "greater", ev, 0.0, "",
                            f"{ev.estimate:+.1f} points"))
rng = np.random.default_rng(0)
for alg in table.algorithm.unique():
    g = seed_mean[(seed_mean.algorithm == alg) & (seed_mean.primaries_per_frame == 100)].dropna()
    if len(g) > 1:
        pur, eff = g.purity.to_numpy(), g.efficiency.to_numpy()
        ratio = eff.mean() / pur.mean()
        idx = rng.integers(0, len(g), size=(2000, len(g)))
        draws = eff[idx].mean(1) / pur[idx].mean(1)
        ev = Evidence.bootstrap(ratio - 0.88, draws - 0.88, method=f"bootstrap over {len(g)} frames")
        claims.append(Claim(f"{alg}: efficiency about 0.86-0.90 of purity (100 p+/F); θ = ratio − 0.88", "within",
                            ev, 0.04, "0.86-0.90", f"{ratio:.2f}"))
claims = decide(claims)
save_table(claims, results_dir, "claims")
claims[["claim", "paper", "ours", "test", "low", "high", "uncertainty", "p_holm", "verdict"]].round(3).style.hide(
    axis="index").set_properties(subset=["claim"], **{"text-align": "left"})
