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
# # Differentiable assignment: from scores to unique tracks
#
# Segment scores are not tracks. A hit must belong to one track at most, so the scores have to be turned into a
# consistent set of segments. The exact version of that problem — choose one hit per layer per track over all 43
# layers at once — is a multidimensional assignment problem, NP-hard (Pierskalla 1968). Kortus et al. (2024,
# Sec. 4.3) relax it into one *linear sum assignment problem* (LSAP) per pair of adjacent layers: with the cost
# C_ij = 1 − s_ij on existing segments and ∞ elsewhere (Eq. 13),
#
# $$ y(C) = \arg\min_{\pi} \sum_{ij} \pi_{ij} C_{ij}, \quad \text{each hit used at most once,} $$
#
# solved exactly in O(n³) by the Jonker–Volgenant algorithm. Each layer pair is independent, and a track is read
# off by following the assigned segments. `pctlib.assign` solves every block as a *maximum-cardinality* matching of
# least cost: as many segments as the feasible pairs allow, then the cheapest such set.
#
# The assignment is piecewise constant in the costs, so its gradient is zero almost everywhere. Predict-and-track
# training uses the blackbox gradient of Vlastelica et al. (2020) (Eq. 14):
#
# $$ \nabla_C f_\lambda = -\tfrac{1}{\lambda}\,[\,y(C) - y(C')\,], \qquad C' = \mathrm{clip}(C + \lambda\, \tfrac{dL}{dy}, 0, \infty), $$
#
# the exact gradient of a piecewise-*linear* interpolation f_λ of the loss, obtained with one more call of the
# solver on perturbed costs.

# %% tags=["parameters"]
params_name = "interactive"  # set by the runner
results_dir = "../results/interactive/03_assignment"  # set by the runner
run_key = "main"  # set by the runner
primaries = 300  # simulated primaries (frames of 100)
phantom_mm = 100.0
lambdas = [25.0, 50.0, 75.0]
slice_points = 401  # points of the 1-d loss slice
seed = 0
dpi = 110

# %%
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
import torch

from pctlib.assign.batch import assign_costs, assign_scores
from pctlib.assign.blackbox import BlackboxAssignment, interpolated_loss
from pctlib.assign.layout import layout_of_graph
from pctlib.graphs.build import graph_from_hits
from pctlib.graphs.config import GraphConfig
from pctlib.graphs.frames import split_frames
from pctlib.physics.config import DEFAULT_GEOMETRY
from pctlib.physics.geometry import load_geometry
from pctlib.physics.simulate import Simulator
from pctlib.report import save_figure, save_json, save_table

torch.set_num_threads(1)
rng = np.random.default_rng(seed)
geometry = load_geometry(DEFAULT_GEOMETRY)
hits = Simulator(geometry.with_phantom(phantom_mm)).run(primaries, seed=seed, progress=True).hits
graph, sizes = graph_from_hits(split_frames(hits, 100)[0], GraphConfig())
layout = layout_of_graph(graph)
truth = graph.y.numpy()

# %% [markdown]
# No network is trained yet, so the scores here come from a simple geometric rule: a segment scores higher the
# closer its direction is to the beam axis, s = exp(−(θ/θ₀)²) with θ₀ = 50 mrad. It is a weak tracker, which
# makes the assignment's work visible.

# %%
hx = graph.hit_x.numpy()
src, tgt = graph.hit_edge_index.numpy()
d = hx[tgt, 1:4] - hx[src, 1:4]
theta = np.arctan2(np.hypot(d[:, 0], d[:, 1]), d[:, 2])
scores = np.exp(-(theta / 0.05) ** 2)
y = assign_scores(scores, layout)
rows = []
for name, sel in [("scores > 0.5", scores > 0.5), ("assignment", y == 1)]:
    tp = int((sel & (truth == 1)).sum())
    rows.append({"segments selected by": name, "selected": int(sel.sum()), "true among them": tp,
                 "precision": tp / max(int(sel.sum()), 1), "recall": tp / int(truth.sum())})
compare = pd.DataFrame(rows)
save_table(compare.round(4), results_dir, "threshold_vs_assignment")
compare.round(3)

# %% [markdown]
# The assignment keeps at most one segment per hit and side, which a threshold cannot do. One block: the layer
# pair 10 → 11 of this frame. Colour: cost; white: no segment (infeasible); circles: assigned; crosses: true.

# %%
b = 10
a, z = layout.block_ptr[b], layout.block_ptr[b + 1]
n, m = layout.shape[b]
block = np.full((n, m), np.nan)
block[layout.row[a:z], layout.col[a:z]] = 1 - scores[a:z]
fig, ax = plt.subplots(figsize=(7, 6))
im = ax.imshow(block, cmap="viridis_r", interpolation="nearest")
sel = y[a:z] == 1
ax.scatter(layout.col[a:z][sel], layout.row[a:z][sel], facecolors="none", edgecolors="r", s=40, label="assigned")
tr = truth[a:z] == 1
ax.scatter(layout.col[a:z][tr], layout.row[a:z][tr], marker="x", c="w", s=18, label="true")
ax.set(xlabel=f"hit in layer {b + 1}", ylabel=f"hit in layer {b}", title=f"cost block {n} x {m}")
fig.colorbar(im, ax=ax, label="cost 1 - s")
ax.legend(loc="lower right", fontsize=8)
save_figure(fig, results_dir, "cost_block", dpi=dpi)
plt.show()

# %% [markdown]
# ## The loss along a line in cost space
#
# Take the Hamming loss L(y) of the assignment against the truth, and move the costs along a line
# C(t) = C + t·v (v: the negative truth direction, cheaper true and dearer false segments, plus noise). L(y(C(t)))
# is a staircase; f_λ is the piecewise-linear interpolation whose slope is the blackbox gradient. A larger λ
# looks further ahead and gives slopes over wider stretches; a small λ gives zero slope away from the steps.

# %%
blk = np.arange(a, z)
c0 = 1 - scores[blk]
lay1 = type(layout)(layout.row[blk], layout.col[blk], np.array([0, blk.size]), layout.shape[b:b + 1],
                    np.array([0, blk.size]))
t_true = truth[blk]
loss = lambda yy: float(np.mean(t_true * (1 - yy) + (1 - t_true) * yy))
grad_y = lambda yy: (1 - 2 * t_true) / t_true.size
v = (2 * t_true - 1) * -1.0 + 0.5 * rng.standard_normal(blk.size)
v /= np.abs(v).max()
ts = np.linspace(-1.0, 0.1, slice_points)
curves = {"L(y(C))": [loss(assign_costs(np.clip(c0 + t * v, 0, None), lay1).astype(float)) for t in ts]}
for lam in [1.0] + list(lambdas):
    curves[f"f_λ, λ = {lam:g}"] = [interpolated_loss(np.clip(c0 + t * v, 0, None), lay1, loss, grad_y, lam)
                                   for t in ts]
fig, ax = plt.subplots(figsize=(8, 4.5))
for k, vals in curves.items():
    ax.plot(ts, vals, lw=2.2 if k.startswith("L") else 1.2, label=k)
ax.set(xlabel="t (step along v)", ylabel="Hamming loss")
ax.legend(fontsize=8)
save_figure(fig, results_dir, "loss_slice", dpi=dpi)
plt.show()
save_table(pd.DataFrame({"t": ts, **curves}), results_dir, "loss_slice")

# %% [markdown]
# ## Blackbox gradients for λ = 25, 50, 75
#
# For the whole frame: how many segments get a non-zero gradient, how large it is, and how well the descent step
# −∇ points along the cost change the truth asks for (y − y_true: cheaper missed true segments, dearer wrong ones).
# The Hamming loss of Eq. 15 is a mean over the frame's segments, so dL/dy = ±1/|E| and the perturbation λ·dL/dy
# is only λ/|E| ≈ 0.005 for λ = 50 and |E| ≈ 10⁴: at these λ only assignments within that distance of a tie flip.
#
# **What λ is relative to.** Training averages the losses of a batch of frames, L = (1/B) Σ_f L_f, and
# backpropagates that mean. The gradient reaching one frame's assignment is then (1/B) dL_f/dy, and a perturbation
# λ·dL/dy of that gradient (what the released code does: it divides each frame's loss by the batch size before
# `backward`) is really a perturbation with λ/B: λ = 50 with 8 frames would not be λ = 50 with 32. pctlib's
# default (`TrainConfig.lambda_scope = "frame"`) passes the factor 1/B to the blackbox function, which perturbs
# with the frame's own gradient and scales the result back, so λ means the same for every batch size and equals the
# λ of this chapter's single-frame calculation; `lambda_scope = "batch"` reproduces the released code's convention
# (tested: B copies of a frame give the one-frame gradient under "frame", and the gradient of λ/B under "batch").

# %%
rows = []
grads = {}
ideal = y.astype(float) - truth  # the cost step the truth asks for: cheaper missed true, dearer wrong segments
for lam in [1e-3, 1.0] + list(lambdas) + [1000.0, 10000.0]:
    cost = torch.tensor(1 - scores, requires_grad=True)
    yy = BlackboxAssignment.apply(cost, layout, lam)
    hl = torch.mean(torch.tensor(truth, dtype=torch.float64) * (1 - yy) + (1 - torch.tensor(truth)) * yy)
    hl.backward()
    g = cost.grad.numpy()
    grads[lam] = g
    nz = g != 0
    cos = float(-g @ ideal / (np.linalg.norm(g) * np.linalg.norm(ideal))) if nz.any() else float("nan")
    rows.append({"lambda": lam, "segments with gradient": int(nz.sum()), "fraction": nz.mean(),
                 "gradient L2 norm": float(np.linalg.norm(g)),
                 "cosine(-grad, ideal step)": cos})
gtable = pd.DataFrame(rows)
save_table(gtable.round(6), results_dir, "gradients_vs_lambda")
gtable.round(4)

# %%
fig, ax = plt.subplots(figsize=(6, 4))
for lam in lambdas:
    g = grads[lam]
    ax.hist(g[g != 0] * lam, bins=np.linspace(-1.5, 1.5, 31), histtype="step", label=f"λ = {lam:g}")
ax.set(xlabel="λ · gradient (= y(C') − y(C), per segment)", ylabel="segments", yscale="log")
ax.legend()
save_figure(fig, results_dir, "gradients_vs_lambda", dpi=dpi)
plt.show()
save_json({"frame_sizes": sizes, "assignment_precision": float(compare.precision[1]),
           "assignment_recall": float(compare.recall[1])}, results_dir, "summary")

# %% [markdown]
# **What this shows.** The assignment turns a weak scoring rule into a much purer set of segments than a threshold
# on the same scores, because it never gives a hit two continuations. Its loss is a staircase; f_λ replaces each
# step by a ramp whose width grows with λ, and the blackbox gradient is that ramp's slope. With λ → 0 the gradient
# vanishes wherever no step is within reach; larger λ reaches more steps, and the gradient (each entry ±1/λ times a
# change of the assignment) points along the change the truth asks for. Because the loss is normalised by the
# number of segments, λ = 25–75 perturbs the costs by well under 1 %: on a weak scorer's frame only a handful of
# near-tie segments receive a gradient, and the share grows with λ.
