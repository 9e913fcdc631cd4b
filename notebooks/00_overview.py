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
# # Overview: tracking protons through a digital calorimeter
#
# **Proton computed tomography (pCT)** images a patient with the same particle that later treats them. A proton
# beam of known energy (230 MeV here) crosses the patient; behind the patient, a detector measures for every single
# proton where it went and how much energy it had left. From millions of such proton histories one reconstructs the
# map of *relative stopping power* that proton therapy planning needs, without the 2–3 % range uncertainty that comes
# from converting X-ray CT numbers.
#
# The **Bergen pCT Digital Tracking Calorimeter (DTC)** does both measurements with one technology: layers of ALPIDE
# monolithic pixel sensors. Two thin *tracker* layers record each proton's position and direction as it leaves the
# patient (a water phantom in this project); behind them, 41 *calorimeter* layers interleave 3.5 mm aluminium
# absorbers with sensors. A proton leaves one pixel cluster per layer until it stops; the depth at which it stops
# measures its residual energy, its range. Because the ALPIDE integrates over a readout frame of microseconds, many
# protons (50–150 per frame in the studies here) are recorded together, and the hits must be sorted into tracks
# before anything else can be measured. That sorting is **charged-particle tracking**, and it is what this book is
# about (Kortus et al., 2024; detector facts from the DTC design of Alme et al. 2020 and Pettersen et al. 2019 as
# summarised in the paper).
#
# ## The pipeline
#
# Each chapter of the book is one stage of the figure below, and each stage is a module of the `pctlib` library
# that the chapter calls. Data flows one way, left to right. In *predict-then-track* (PTT) the network that scores
# candidate track segments is trained alone, with a binary cross-entropy loss on the segments. In
# *predict-and-track* (PAT) the loss is computed on the **tracks** produced by a discrete assignment step, and its
# gradient flows back through that step (the dashed arrow) with the blackbox differentiation of Vlastelica et al.
# (2020).

# %% tags=["parameters"]
params_name = "interactive"  # set by the runner
results_dir = "../results/interactive/00_overview"  # set by the runner
run_key = "main"  # set by the runner
dpi = 120

# %%
import matplotlib.pyplot as plt
import pandas as pd

from pctlib.report import save_figure, save_table
from pctlib.viz.pipeline import PIPELINE, draw_pipeline

fig, ax = plt.subplots(figsize=(15, 3.4))
draw_pipeline(ax=ax)
save_figure(fig, results_dir, "pipeline", dpi=dpi)
plt.show()

# %% [markdown]
# The stages, the library module behind each, and what it consumes and produces:

# %%
stages = pd.DataFrame(
    [{"stage": s.title, "module": s.module, "what it does": s.detail.replace("\n", " ")} for s in PIPELINE]
)
save_table(stages, results_dir, "stages")
stages

# %% [markdown]
# ## Rerunning any chapter
#
# Every chapter is a text file in `notebooks/` (jupytext *percent* format) with a cell tagged `parameters`. The
# runner turns the text into a notebook, injects the parameters of a params set and executes it with papermill:
#
# ```bash
# pctlib run params/default.yaml                 # every chapter, the embedded CPU run
# pctlib run params/default.yaml --only 00_overview
# pctlib run params/paper.yaml --engine ray --address ray://head:10001   # the full protocol on a GPU cluster
# ```
#
# Executed notebooks and a manifest (parameters, git commit, timing, status) land in
# `runs/<params>/<notebook>/<key>/`; a rerun skips what is already done with the same parameters and code. A list
# in a params file is a grid axis (`seed: [0, 1, 2]` runs three executions). Tables and figures go to
# `results/<params>/<notebook>/`. Papermill can also be called directly on a converted notebook:
#
# ```bash
# jupytext --to ipynb notebooks/00_overview.py -o /tmp/overview.ipynb
# papermill /tmp/overview.ipynb out.ipynb -p dpi 200 -p results_dir results/mine/00_overview
# ```
#
# This execution ran with the parameter set shown below.

# %%
print(f"params set: {params_name}, run key: {run_key}, results in: {results_dir}")
