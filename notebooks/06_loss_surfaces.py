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
# # Loss landscape I: curvature and loss surfaces
#
# The subject of Kortus et al. (2024) is the loss landscape of the two training paradigms: does training through
# the assignment (predict-and-track, PAT) end in a different kind of minimum than training the scores alone
# (predict-then-track, PTT)? This chapter measures the *local* structure around each trained model of the zoo,
# in the taxonomy of Yang et al. (2021) that the paper follows (Sec. 3.3): how sharp the minimum is (the largest
# eigenvalues and the trace of the Hessian) and what the loss looks like on a two-dimensional slice through it,
#
# $$f(\alpha, \beta) = \mathcal{L}(\theta^* + \alpha\,\nu + \beta\,\eta) \qquad \text{(paper Eq. 1)},$$
#
# with ν, η the eigenvectors of the two largest Hessian eigenvalues (the paper's choice: the slice of steepest
# curvature) and, for comparison, filter-normalised random directions (Li et al. 2018).
#
# **Which loss has a Hessian.** PTT minimises the BCE of the scores, a smooth function of the parameters θ. PAT
# minimises the Hamming loss of the assignment, which is piecewise *constant* in θ: its Hessian is zero almost
# everywhere and says nothing. What PAT's optimiser follows is the blackbox gradient (paper Eq. 14), the gradient
# of the piecewise-affine interpolation f_λ of the loss in the scores s. Near θ*, f_λ(s) is affine,
# f_λ ≈ const + ⟨g, s⟩ with g = ∂f_λ/∂s fixed, so the curvature PAT's optimiser sees is that of θ ↦ ⟨g, s(θ)⟩,
#
# $$H_\lambda = \sum_i g_i\, \nabla^2_\theta s_i(\theta^*),$$
#
# (the Gauss–Newton part Jᵀ∇²f_λ J vanishes, f_λ being affine almost everywhere). We report both for every PAT
# model: the Hessian of its BCE (the prediction loss at the PAT model) and H_λ ("interpolated"). The surfaces of
# all models are drawn along the BCE Hessian's eigenvectors, the one differentiable loss every model has, so that
# all configurations are sliced alike; the overlap of the two losses' top eigenvectors shows where they differ.
#
# All curvature is computed with BatchNorm frozen at the model's running statistics (eval mode; App. D, after
# Yang et al.), by Hessian-vector products (double backpropagation, `pctlib.landscape.hessian`), on a fixed, named
# set of training frames. Eigenpairs come from Lanczos (`scipy.sparse.linalg.eigsh` on a `LinearOperator`), the
# smallest eigenvalue too (negative ones are reported), the trace from Hutchinson's estimator; power iteration with
# deflation (PyHessian, as the paper) is run on one model as a cross-check. Each grid point of a surface is
# independent: they run in parallel (`pctlib.landscape.jobs`: a process pool, Ray tasks under
# `pctlib run --engine ray`) and every finished point is cached on disk, so a rerun or a finer grid reuses them.
#
# *Why this chapter is long (about 460 lines of source, against ~400 for the others):* it computes curvature and
# surfaces for every zoo model under two losses and decides the paper's claims; the computations are library calls
# (`pctlib.landscape`), what is long is the figure code of the spectra and the surface grids.

# %% tags=["parameters"]
params_name = "interactive"  # set by the runner
results_dir = "../results/interactive/06_loss_surfaces"  # set by the runner
run_key = "main"  # set by the runner
# the models analysed: those 04_train_run trained under this params set, or the committed reference zoo
zoo_source = "trained"  # one of: trained, reference
zoo_seeds = []  # the zoo's seeds analysed, every configuration alike (empty: all)
frames = 2  # training frames the landscape is computed on (spread evenly over the phantoms' training sets)
hessian_k = 2  # top eigenpairs
trace_samples = 10  # Rademacher vectors of Hutchinson's trace estimate
lanczos_tol = 1e-3  # relative tolerance of eigsh
interpolated_seeds = [0]  # seeds of the PAT models whose H_lambda (the curvature PAT's optimiser follows) is computed
power_check = True  # power iteration with deflation on the first model, beside Lanczos
power_iters = 100
grid_points = 21  # points per axis of each surface
span_eigen = 0.5  # alpha, beta in [-span, span] along unit eigenvectors
span_random = 1.0  # alpha, beta in [-span, span] along filter-normalised random directions
surface_seeds = [0]  # seeds whose surfaces are computed, per configuration (Fig. 5)
fig6_seeds = [0]  # PTT seeds whose surfaces are computed too, for the Hamming-BCE comparison of Fig. 6
random_surfaces = "first"  # surfaces along random directions too: "first" surface model, "all" of them, or "none"
# PAT surfaces along the eigenvectors of H_λ ("own", the released code's choice) or of the BCE Hessian ("bce")
pat_directions = "own"  # one of: own, bce
convex_strides = [1, 2, 3]  # the convexity share on sub-grids of every stride-th point (through θ*): its grid dependence
basin_rel = 0.1  # basin width: the fraction of a surface within this fraction of its minimum (the 10 %)
basin_rel_wide = 1.0  # a second, looser basin width: within a factor 1 + basin_rel_wide of the minimum
workers = 2  # processes (or Ray tasks in flight) for the Hessians and the grid points
threads = 1  # torch threads per process
engine = None  # None: local process pool, or Ray under `pctlib run --engine ray` (PCTLIB_ENGINE)
device = "cpu"  # where the products and the grid points run ("cuda" on a GPU node)
dpi = 110

# %%
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm
from scipy import stats

from pctlib.landscape import hessian as H
from pctlib.landscape.setup import landscape_setup
from pctlib.landscape.summary import describe, tidy_summary
from pctlib.landscape.surfaces import (PointMetrics, basin_width, convex_fraction, evaluate_surface,
                                       filter_normalised_direction, sign_invariant_correlation)
from pctlib.report import save_figure, save_json, save_table

setup = landscape_setup(results_dir, params_name, "06_loss_surfaces", run_key, workers, threads, zoo_source,
                        zoo_seeds)
t_start, root, cache, zoo, train = setup.t_start, setup.root, setup.cache, setup.zoo, setup.train
models, configs = setup.models, setup.configs
frame_ids = setup.frame_ids(frames)
landscape_frames = setup.frames(frame_ids)
labels = [f"{m.configuration} seed {m.seed}" for m in zoo.models]
n_params = sum(p.numel() for p in models[0].parameters())
print(f"{len(models)} models ({', '.join(zoo.configurations())}), {n_params} parameters each; landscape frames: "
      f"training frames {frame_ids} of {len(train)} "
      f"({sum(int(g.x.shape[0]) for g in landscape_frames)} segments)")

# %% [markdown]
# ## Curvature at every trained model
#
# For each model: the two largest eigenvalues of the Hessian of its BCE, the smallest one, and the trace; for PAT
# models the same of H_λ. The loss is the sum over the landscape frames of each frame's training loss (its
# tracker/calorimeter weights included), so eigenvalues scale with the number of frames.

# %%
if random_surfaces not in ("first", "all", "none"):
    raise ValueError(f"random_surfaces must be 'first', 'all' or 'none', got {random_surfaces!r}")
jobs = [(k, "bce") for k in range(len(models))]
jobs += [(k, "interpolated") for k, m in enumerate(zoo.models) if m.mode == "pat" and m.seed in interpolated_seeds]
settings = dict(k=hessian_k, trace_samples=trace_samples, tol=lanczos_tol, seed=0, cache_dir=cache / "hessian",
                device=device)
t0 = time.perf_counter()
found = H.curvatures(models, landscape_frames, configs, jobs, workers=workers, threads=threads, engine=engine,
                     **settings)
t_hessian = time.perf_counter() - t0
curv = {job: res for job, res in zip(jobs, found)}
rows = []
for (k, loss), (c, vecs) in curv.items():
    m = zoo.models[k]
    rows.append({"configuration": m.configuration, "seed": m.seed, "loss": loss,
                 **{f"eigenvalue {i + 1}": v for i, v in enumerate(c.eigenvalues)},
                 "smallest eigenvalue": c.min_eigenvalue, "trace": c.trace, "trace SE": c.trace_se,
                 "HVPs": c.hvps, "seconds": c.seconds})
curvature_table = pd.DataFrame(rows)
save_table(curvature_table, results_dir, "curvature")
print(f"Hessians: {len(jobs)} jobs in {t_hessian:.0f} s (cached results are read, not recomputed)")
curvature_table.round(4)

# %% [markdown]
# What it shows (default params, committed results): the BCE of the PTT models is an order of magnitude sharper
# (largest eigenvalue a few hundred) than the BCE at the PAT models (tens), which were not trained on it; every
# model has negative eigenvalues too: on the training frames θ* is not a minimum of the BCE along every direction
# (a short training run, and for PAT not its objective). H_λ, the curvature PAT's own optimiser follows, is
# smaller again and indefinite (its trace estimate straddles zero), as a sum of score curvatures weighted by a
# signed g must be. On the surfaces below the same ordering shows as width: the low-Hamming region (within a
# factor 2 of the minimum) covers a fifth to a third of the PAT slices and a few per cent of the PTT ones.
#
# Where the two losses of a PAT model differ: the overlap |⟨v₁, v₁'⟩| of the top eigenvectors of its BCE
# Hessian and of H_λ (1: the same direction of steepest curvature; 0: orthogonal).

# %%
overlap = []
for (k, loss), (c, vecs) in curv.items():
    if loss == "interpolated":
        v_bce = curv[(k, "bce")][1]
        overlap.append({"configuration": zoo.models[k].configuration, "seed": zoo.models[k].seed,
                        "overlap of top eigenvectors": float(abs(v_bce[:, 0] @ vecs[:, 0])),
                        "top eigenvalue BCE": curv[(k, "bce")][0].eigenvalues[0],
                        "top eigenvalue H_λ": c.eigenvalues[0]})
overlap = pd.DataFrame(overlap)
if len(overlap):
    save_table(overlap, results_dir, "eigenvector_overlap")
overlap.round(4)

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
for ax, what in zip(axes, ("eigenvalue 1", "trace")):
    for j, loss in enumerate(sorted(curvature_table["loss"].unique())):
        sub = curvature_table[curvature_table["loss"] == loss]
        confs = list(dict.fromkeys(sub["configuration"]))
        x = np.array([list(zoo.configurations()).index(c) for c in sub["configuration"]]) + 0.15 * (2 * j - 1)
        ax.scatter(x, sub[what], label=loss, alpha=0.8)
    ax.set_xticks(range(len(zoo.configurations())), list(zoo.configurations()))
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_ylabel(what)
    ax.grid(alpha=0.3)
axes[0].set_title("largest Hessian eigenvalue")
axes[1].set_title("Hessian trace (Hutchinson)")
axes[1].legend()
fig.tight_layout()
save_figure(fig, results_dir, "curvature", dpi=dpi)

# %% [markdown]
# Power iteration with deflation (the paper's PyHessian scheme) against Lanczos on the first model. Power
# iteration finds the eigenvalues of largest *magnitude*; when the top of the spectrum is positive, the two agree.

# %%
check = None
if power_check:
    loss0 = H.LossOfParameters(models[0].to(device), [g.to(device) for g in landscape_frames], "bce", configs[0])
    t0 = time.perf_counter()
    pvals, pvecs = H.top_eigenpairs_power(loss0, k=hessian_k, iters=power_iters, tol=1e-4)
    t_power = time.perf_counter() - t0
    lvals, lvecs = curv[(0, "bce")][0].eigenvalues, curv[(0, "bce")][1]
    check = pd.DataFrame({"model": labels[0], "eigenpair": np.arange(1, hessian_k + 1), "Lanczos": lvals,
                          "power iteration": pvals,
                          "relative difference": np.abs(np.array(pvals) - lvals) / np.abs(lvals),
                          "|<v_Lanczos, v_power>|": np.abs(np.sum(lvecs * pvecs, axis=0))})
    save_table(check, results_dir, "power_vs_lanczos")
    print(f"power iteration: {t_power:.0f} s")
check

# %% [markdown]
# ## Loss surfaces
#
# For the chosen seeds of every configuration (and more PTT seeds for Fig. 6), the surface of the Hamming loss of
# the assignment, the BCE and the TPR on the grid α, β ∈ [−span, span] along the unit eigenvectors ν = v₁, η = v₂
# of each model's own loss, as the released code slices them: the BCE Hessian for PTT, H_λ for PAT
# (`pat_directions = "own"`; `"bce"` slices PAT along its BCE Hessian instead — the two top eigenvectors overlap
# only partly, table above, so the choice matters). The span is a display choice, not a fitted number; BatchNorm
# stays at θ*'s running statistics at every point (App. D). For the first of them, a surface along two
# filter-normalised random directions as well.

# %%
surface_models = [k for k, m in enumerate(zoo.models) if m.seed in surface_seeds
                  or (m.mode == "ptt" and m.seed in fig6_seeds)]
alphas_e = np.linspace(-span_eigen, span_eigen, grid_points)
alphas_r = np.linspace(-span_random, span_random, grid_points)
surfaces = {}
t0 = time.perf_counter()
if pat_directions not in ("own", "bce"):
    raise ValueError(f"pat_directions must be 'own' or 'bce', got {pat_directions!r}")
missing = [labels[k] for k in surface_models if zoo.models[k].mode == "pat" and pat_directions == "own"
           and (k, "interpolated") not in curv]
if missing:
    raise ValueError(f"pat_directions='own' needs H_λ of every PAT surface model: add their seeds to "
                     f"interpolated_seeds ({', '.join(missing)})")
direction_loss = {k: ("interpolated" if zoo.models[k].mode == "pat" and pat_directions == "own" else "bce")
                  for k in surface_models}
for k in surface_models:
    theta = [p.detach().cpu().clone() for p in models[k].parameters()]
    vecs = curv[(k, direction_loss[k])][1]
    fn = PointMetrics(models[k], landscape_frames, configs[k], device=device)
    nu, eta = H.as_direction(vecs[:, 0], theta), H.as_direction(vecs[:, 1], theta)
    nu, eta = [v.to(t.dtype) for v, t in zip(nu, theta)], [v.to(t.dtype) for v, t in zip(eta, theta)]
    surfaces[(k, "eigen")] = evaluate_surface(fn, theta, nu, eta, alphas_e, alphas_e, cache_root=cache / "surfaces",
                                              workers=workers, threads=threads, engine=engine, progress=True,
                                              desc=labels[k])
    if random_surfaces == "all" or (random_surfaces == "first" and k == surface_models[0]):
        nu_r, eta_r = filter_normalised_direction(theta, seed=1), filter_normalised_direction(theta, seed=2)
        surfaces[(k, "random")] = evaluate_surface(fn, theta, nu_r, eta_r, alphas_r, alphas_r,
                                                   cache_root=cache / "surfaces", workers=workers, threads=threads,
                                                   engine=engine, progress=True, desc=f"{labels[k]} (random)")
t_surfaces = time.perf_counter() - t0
centre = grid_points // 2
print(f"{len(surfaces)} surfaces of {grid_points} x {grid_points} points in {t_surfaces:.0f} s")
for key in ("hamming", "bce", "tpr"):
    for (k, kind), s in surfaces.items():
        np.save(Path(results_dir) / f"surface_{kind}_{key}_{zoo.models[k].mode}_lam{zoo.models[k].lam:g}_seed"
                f"{zoo.models[k].seed}.npy", s[key])


# %%
def draw(ax, s, alphas, title, key="hamming"):
    v = np.clip(s[key], np.nanmin(s[key][s[key] > 0]) if (s[key] > 0).any() else 1e-6, None)
    levels = np.geomspace(np.nanmin(v), np.nanmax(v), 14)
    cs = ax.contourf(alphas, alphas, v.T, levels=levels, norm=LogNorm(), cmap="viridis")
    ax.contour(alphas, alphas, v.T, levels=levels[::2], colors="white", linewidths=0.4)
    ax.plot(0, 0, marker="*", color="red", markersize=12)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("α")
    ax.set_ylabel("β")
    return cs


eig = [k for k in surface_models if zoo.models[k].seed in surface_seeds]  # Fig. 5: every configuration alike
fig, axes = plt.subplots(1, len(eig), figsize=(3.4 * len(eig), 3.2), squeeze=False)
for ax, k in zip(axes[0], eig):
    along = "H_λ" if direction_loss[k] == "interpolated" else "BCE"
    cs = draw(ax, surfaces[(k, "eigen")], alphas_e, f"{labels[k]}\nHamming loss, {along} eigenvectors")
    fig.colorbar(cs, ax=ax, format="%.2g")
fig.suptitle("Hamming-loss surfaces along the top-2 eigenvectors of each model's own loss (log scale; ★ = θ*)")
fig.tight_layout()
save_figure(fig, results_dir, "fig5_hamming_surfaces", dpi=dpi)

# %% [markdown]
# The paper's Fig. 6 sets the task loss (Hamming) of PTT models beside their prediction loss (BCE). Below, for
# every surface model (the paper's claim is about the PTT ones; the PAT ones, whose BCE is not what they were
# trained on, are shown for contrast): Hamming over BCE, and the rank correlation of the two over the grid
# (Spearman's ρ: a monotone "flattening" of one into the other keeps ρ = 1), over the whole grid and over its
# inner half (|α|, |β| ≤ span / 2), where the paper sees the best agreement.

# %%
corr = []
fig, axes = plt.subplots(2, len(surface_models), figsize=(3.4 * len(surface_models), 6.2), squeeze=False)
inner = np.abs(alphas_e) <= span_eigen / 2 + 1e-12
for c, k in enumerate(surface_models):
    s = surfaces[(k, "eigen")]
    for r, key in enumerate(("hamming", "bce")):
        cs = draw(axes[r, c], s, alphas_e, f"{labels[k]}\n{'Hamming' if key == 'hamming' else 'BCE'}", key)
        fig.colorbar(cs, ax=axes[r, c], format="%.2g")
    whole = stats.spearmanr(s["hamming"].ravel(), s["bce"].ravel()).statistic
    centre_part = stats.spearmanr(s["hamming"][np.ix_(inner, inner)].ravel(),
                                  s["bce"][np.ix_(inner, inner)].ravel()).statistic
    corr.append({"configuration": zoo.models[k].configuration, "seed": zoo.models[k].seed,
                 "mode": zoo.models[k].mode,
                 "spearman (grid)": whole, "spearman (inner half)": centre_part,
                 "pearson log (grid)": stats.pearsonr(np.log(s["hamming"].ravel()),
                                                      np.log(s["bce"].ravel())).statistic})
fig.suptitle("Task loss (top) and prediction loss (bottom) on the same slices")
fig.tight_layout()
save_figure(fig, results_dir, "fig6_hamming_vs_bce", dpi=dpi)
corr = pd.DataFrame(corr)
save_table(corr, results_dir, "hamming_bce_correlation")
corr.round(3)

# %% [markdown]
# What it shows (default params): both losses of a PTT model are low at θ*, but their valleys run in different
# directions, and away from θ* they part further. Where the scores become uninformative, BCE stays near its bound for constant scores (about ln 2 per
# segment group) while the assignment becomes arbitrary and the Hamming loss saturates; where the scores become
# confidently wrong, BCE grows without bound while the Hamming loss is already saturated. A monotone "flattening"
# of BCE cannot map one onto the other, and the rank correlation over the grid is low. At the PAT models the two
# are anti-correlated: their BCE is lowest where their assignments are worse.
#
# The same models along filter-normalised random directions (Li et al. 2018), whose scale follows each filter's
# norm: a slice of typical rather than steepest directions.

# %%
rand = [k for (k, kind) in surfaces if kind == "random"]
if rand:
    fig, axes = plt.subplots(1, len(rand), figsize=(3.4 * len(rand), 3.2), squeeze=False)
    for ax, k in zip(axes[0], rand):
        cs = draw(ax, surfaces[(k, "random")], alphas_r, f"{labels[k]}\nHamming, random directions")
        fig.colorbar(cs, ax=ax, format="%.2g")
    fig.tight_layout()
    save_figure(fig, results_dir, "hamming_surfaces_random", dpi=dpi)

# %% [markdown]
# ## The per-model landscape summary
#
# One tidy table (configuration, seed, metric, value) in the style of Yang et al. (2021): top eigenvalue and trace
# (of the BCE, and of H_λ for PAT), the smallest eigenvalue, and for the surface models the basin width, the
# fraction of the surface within 10 % of its minimum (and, looser, within a factor 2: `basin_width_wide`), and the
# share of the surface that is locally convex. The later landscape chapters (similarity, connectivity) add
# their measures to it.

# %%
records = []
for (k, loss), (c, _) in curv.items():
    m = zoo.models[k]
    tag = "bce" if loss == "bce" else "interpolated"
    records += [(m.configuration, m.seed, f"top_eigenvalue_{tag}", c.eigenvalues[0]),
                (m.configuration, m.seed, f"min_eigenvalue_{tag}", c.min_eigenvalue),
                (m.configuration, m.seed, f"trace_{tag}", c.trace)]
for (k, kind), s in surfaces.items():
    m = zoo.models[k]
    step = (alphas_e if kind == "eigen" else alphas_r)[1] - (alphas_e if kind == "eigen" else alphas_r)[0]
    for key in ("hamming", "bce"):
        records.append((m.configuration, m.seed, f"basin_width_{key}_{kind}", basin_width(s[key], basin_rel)))
        records.append((m.configuration, m.seed, f"basin_width_wide_{key}_{kind}",
                        basin_width(s[key], basin_rel_wide)))
        records.append((m.configuration, m.seed, f"convex_fraction_{key}_{kind}",
                        convex_fraction(s[key], (step, step))))
summary = tidy_summary(records)
save_table(summary, results_dir, "landscape_summary")
by_config = describe(summary)
save_table(by_config, results_dir, "landscape_by_configuration")
by_config

# %% [markdown]
# ## The paper's claims beside ours
#
# Each claim of Sec. 5.2 about Fig. 5 and 6, decided by the rule of all chapters (`pctlib.claims`): the estimate,
# a bootstrap over the independent units (surfaces or trained models; fewer than 3 give no uncertainty), the
# claim's bound (stated in the table), one-sided tests and Holm's correction over the chapter's claims. The paper's surfaces are 50 × 50 on 100 training graphs of models trained
# 10,000 steps; ours are on the params set's grid, frames and zoo (above), so a disagreement may be one of scale.

# %%
ham = {k: surfaces[(k, "eigen")]["hamming"] for k in eig}
step_e = alphas_e[1] - alphas_e[0]
widths = [basin_width(v, basin_rel) for v in ham.values()]
wide = {k: basin_width(v, basin_rel_wide) for k, v in ham.items()}
wide_ptt = [w for k, w in wide.items() if zoo.models[k].mode == "ptt"]
wide_pat = [w for k, w in wide.items() if zoo.models[k].mode == "pat"]
convex = [convex_fraction(v, (step_e, step_e)) for v in ham.values()]
convex_by_grid = pd.DataFrame([
    {"model": labels[k], "stride": st, "points per axis": len(range(centre % st, grid_points, st)),
     "convex share": convex_fraction(v[centre % st::st, centre % st::st], (st * step_e, st * step_e))}
    for k, v in ham.items() for st in convex_strides if len(range(centre % st, grid_points, st)) >= 3])
save_table(convex_by_grid, results_dir, "convexity_by_grid")
logs = [np.log(v) for v in ham.values()]
shape_r = [sign_invariant_correlation(a, b) for i, a in enumerate(logs) for b in logs[i + 1:]]
at_min = [bool(np.isclose(v[centre, centre], np.nanmin(v), rtol=1e-9)) for v in ham.values()]
rise = [float(np.nanmin([v[centre + d, centre + e] for d, e in ((1, 0), (-1, 0), (0, 1), (0, -1))]) /
              v[centre, centre]) for v in ham.values()]
ptt_corr = corr[corr["mode"] == "ptt"]
low_high = ptt_corr["spearman (grid)"]
gain = ptt_corr["spearman (inner half)"] - ptt_corr["spearman (grid)"]
from pctlib.claims import Claim, Evidence, decide


def mean_shape_r(surfs):
    """Mean Pearson r of log Hamming over the pairs of distinct surfaces (a resample may repeat one: its copies are
    not compared with themselves)."""
    ids = sorted({id(x) for x in surfs})
    uniq = [next(x for x in surfs if id(x) == k) for k in ids]
    rs = [sign_invariant_correlation(a, b) for n, a in enumerate(uniq) for b in uniq[n + 1:]]
    return float(np.mean(rs)) if rs else np.nan


claim_list = [
    Claim("surfaces of all configurations and seeds similar in shape (Fig. 5): mean r of log Hamming between the "
          "surfaces (best of the eigenvectors' sign flips)", "greater",
          Evidence.resampled(logs, mean_shape_r, method=f"bootstrap over {len(logs)} surfaces"), 0.8, "Fig. 5",
          (f"min {min(shape_r):.2f}, median {np.median(shape_r):.2f} over {len(shape_r)} pairs") if shape_r
          else "one surface only"),
]
for st, g in convex_by_grid.groupby("stride"):
    claim_list.append(Claim(
        f"projected surfaces mostly convex: share of locally convex grid points > 0.5, grid stride {st} "
        f"({int(g['points per axis'].iloc[0])} points per axis)", "greater",
        Evidence.resampled(g["convex share"].tolist(), method=f"bootstrap over {len(g)} surfaces"), 0.5, "Sec. 5.2",
        f"{g['convex share'].min():.2f}–{g['convex share'].max():.2f}"))
claim_list += [
    Claim(f"wide and flat low-loss regions around the minima: share of the ±{span_eigen:g} grid within "
          f"{basin_rel:.0%} of the minimum > 0.2", "greater",
          Evidence.resampled(widths, method=f"bootstrap over {len(widths)} surfaces"), 0.2, "Sec. 5.2",
          f"{min(widths):.3f}–{max(widths):.3f}; within a factor {1 + basin_rel_wide:g}: PAT "
          + (f"{min(wide_pat):.2f}–{max(wide_pat):.2f}" if wide_pat else "–") + ", PTT "
          + (f"{min(wide_ptt):.2f}–{max(wide_ptt):.2f}" if wide_ptt else "–")),
    Claim("a significant loss barrier near the trained parameters (outputs close to decision boundaries)",
          "greater", Evidence.normal(np.nan, np.nan, method="the paper gives no measure to test"), 1.0, "Sec. 5.2",
          f"θ* the grid minimum of Hamming in {sum(at_min)}/{len(at_min)}; lowest neighbour / f(θ*): "
          f"{min(rise):.2f}–{max(rise):.2f}"),
    Claim("PTT: Hamming surface strongly correlated with a flattened BCE surface (Fig. 6): mean Spearman ρ over the "
          "grid > 0.8", "greater",
          Evidence.resampled(low_high.tolist(), method=f"bootstrap over {len(low_high)} PTT models"), 0.8, "Fig. 6",
          f"ρ {low_high.min():.2f}–{low_high.max():.2f} ({len(ptt_corr)} PTT model(s))"),
    Claim("PTT: best agreement of the two losses around the minimum itself: mean (ρ inner half − ρ whole grid) > 0",
          "greater", Evidence.resampled(gain.tolist(), method=f"bootstrap over {len(gain)} PTT models"), 0.0,
          "Fig. 6", f"{gain.min():+.2f} to {gain.max():+.2f}"),
]
claims = decide(claim_list)
curv_note = "; ".join(f"{c}: {g['value'].mean():.3g} ± {g['value'].std(ddof=1):.2g}" for c, g in
                      summary[summary["metric"] == "top_eigenvalue_bce"].groupby("configuration", sort=False))
print(f"(curvature: the paper reports no eigenvalues, so no claim to test) top BCE-Hessian eigenvalue, mean ± std "
      f"over seeds: {curv_note}")
save_table(claims, results_dir, "claims")
t_total = time.perf_counter() - t_start
save_json({"frames": frame_ids, "n_parameters": n_params, "models": labels, "surface_models": [labels[k] for k in eig],
           "grid_points": grid_points, "span_eigen": span_eigen, "span_random": span_random,
           "seconds": {"hessians": t_hessian, "surfaces": t_surfaces, "chapter": t_total},
           "workers": workers, "threads": threads}, results_dir, "landscape_run")
print(f"chapter: {t_total:.0f} s")
claims[["claim", "paper", "ours", "test", "estimate", "low", "high", "uncertainty", "p_holm", "verdict"]].round(
    3).style.hide(axis="index").set_properties(subset=["claim", "ours"], **{"text-align": "left"})

# %% [markdown]
# ## What this chapter finds
#
# On the reference zoo (default params: seeds 0-2 of its 20 models; the table above has the numbers) the local
# landscape separates the paradigms more than the paper's figures suggest. PTT minima are about two orders of
# magnitude sharper in their BCE than the PAT models (top Hessian eigenvalue in the thousands against tens), and
# their low-Hamming region on the slice of steepest curvature is a narrow valley where the PAT models sit in wide
# basins. None of the Hamming surfaces is "mostly convex", at any of the grid strides tried: a piecewise-constant
# loss of a discrete assignment has plateaus, ridges and steps. The paper's second observation, that the task loss
# follows a flattened prediction loss, does not hold on our PTT slices: both losses are low at θ*, but their valleys
# run in different directions (the rank correlation is about 0.4-0.6 over the grid and lower still in its inner
# half), and where the scorer becomes uninformative BCE stays bounded while its assignments are arbitrary, so no
# monotone map relates the two. Two caveats weigh on every verdict: our models trained 4,800 frames each (the
# paper: 320,000), and the landscape is measured on one frame (the paper: 100) along a span the paper does not
# publish; `params/paper.yaml` runs the full protocol.
