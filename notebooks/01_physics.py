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
# # Physics: a fast Monte Carlo of the Digital Tracking Calorimeter
#
# The paper's hit tables were produced with GATE/Geant4 (Kortus et al. 2024, Sec. 3), which does not run here.
# `pctlib.physics` is a condensed-history Monte Carlo written for this detector: all protons of a batch move
# together, slab by slab, as torch tensors (the same code runs on a GPU). This chapter shows what it does and checks
# each physical ingredient against a reference that does not come from the simulation itself: NIST PSTAR ranges,
# the Highland formula, the nuclear attenuation of water, and the graph sizes published with the paper.
#
# Every number below is recomputed when the chapter runs; the parameters cell fixes the statistics.
#
# *Why this chapter is long (about 460 lines of source, against ~400 for the others):* every physical ingredient of the
# simulation (stopping, the Bragg curve, scattering, deposits, nuclear attenuation, a frame, the graph sizes) is
# checked here against its own reference, each with a figure and a table; the computations are library calls
# (`pctlib.physics.validation`), the lines are those figures, and splitting the chapter would separate the
# simulation from its validation.

# %% tags=["parameters"]
params_name = "interactive"  # set by the runner
results_dir = "../results/interactive/01_physics"  # set by the runner
run_key = "main"  # set by the runner
primaries = 20000  # primaries per phantom for the hit statistics
scatter_primaries = 20000  # protons per point of the scattering and nuclear checks
phantoms = [100.0, 150.0, 200.0]  # water phantom thicknesses [mm]
frame_primaries = 100  # primaries per readout frame for the per-frame sizes and the event display
seed = 0
dpi = 110

# %%
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
import torch

from pctlib.physics.config import DEFAULT_GEOMETRY
from pctlib.physics.geometry import load_geometry
from pctlib.physics.materials import load_materials
from pctlib.physics.simulate import Simulator
from pctlib.physics.stopping import StoppingTable
from pctlib.physics.config import SimulationConfig
from pctlib.physics.transport import PhysicsConfig
from pctlib.physics.validation import (gottschalk_comparison, kink_widths, nuclear_survival, slab_scattering,
                                       stack_scattering, thin_layer_deposits)
from pctlib.report import save_figure, save_json, save_table

torch.set_num_threads(1)
geometry = load_geometry(DEFAULT_GEOMETRY)
materials = load_materials()
summary = {}

# %% [markdown]
# ## The detector stack
#
# The geometry is data: `params/geometry/bergen_dtc.yaml` lists, in beam order, every slab of the two tracker
# layers and of the 41 calorimeter layers (3.5 mm aluminium absorber, glue, spacer, the 25 µm sensitive epitaxial
# silicon of the ALPIDE, its metal stack, an air gap and the flex cable). Any other layered detector is another
# YAML file. The paper does not say where its phantoms sat. We centre the phantom on the isocentre, as the Bergen
# DTC toolkit's GATE macros do, a declared 270 mm upstream of the first tracker, so the exit gap is 270 mm minus
# half the thickness; chapter `02_graphs` shows how that one distance was calibrated on the published graph sizes.

# %%
slabs = geometry.with_phantom(100.0).slabs()
colours = {"water": "#6fa8dc", "aluminium": "#999999", "silicon": "#38761d", "air": "#ffffff", "kapton": "#e69138",
           "glue": "#f1c232", "carbon_fibre": "#222222"}
fig, axes = plt.subplots(1, 2, figsize=(13, 2.8), gridspec_kw={"width_ratios": [3, 1]})
gap = geometry.with_phantom(100.0).phantom.gap_to_detector_mm
for ax, (lo, hi) in zip(axes, [(-gap - 110, 330), (108.0, 114.2)]):
    for s in slabs:
        if s.z1_mm < lo or s.z0_mm > hi:
            continue
        ax.axvspan(max(s.z0_mm, lo), min(s.z1_mm, hi), color=colours[s.material], lw=0)
        if s.sensitive:
            ax.axvline(0.5 * (s.z0_mm + s.z1_mm), color="red", lw=0.8 if hi - lo > 50 else 2)
    ax.set_xlim(lo, hi)
    ax.set_yticks([])
    ax.set_xlabel("z [mm]")
axes[0].set_title(f"phantom (100 mm water), {gap:.0f} mm gap, 2 trackers, 41 calorimeter layers (red: sensitive)")
axes[1].set_title("one calorimeter layer")
handles = [plt.Rectangle((0, 0), 1, 1, color=c, ec="k", lw=0.3) for c in colours.values()]
fig.legend(handles, list(colours), ncol=7, loc="lower center", bbox_to_anchor=(0.5, -0.2), frameon=False)
save_figure(fig, results_dir, "detector_stack", dpi=dpi)
plt.show()
print(f"{geometry.n_layers} sensitive layers; calorimeter pitch "
      f"{np.diff(geometry.layer_z_mm[2:]).mean():.2f} mm; sensor {geometry.sensor.width_mm} x "
      f"{geometry.sensor.height_mm} mm^2")

# %% [markdown]
# ## Stopping power and range
#
# The mean energy loss comes from the NIST PSTAR tables. Aluminium and silicon have tables of their own; water
# (and kapton, glue, carbon fibre) are built by Bragg additivity of their elements, S = Σ wᵢ Sᵢ, corrected from the
# elements' mean excitation energies to the material's own I (75 eV for water) with the ratio of Bethe stopping
# numbers. The CSDA range R(E) = ∫ dE / S is integrated on a fine logarithmic grid. PSTAR's water *range* table is
# not used by the simulation, so the comparison below is a real test.

# %%
ref = {"water": {100: 7.718, 150: 15.77, 200: 25.96, 230: 32.95},
       "aluminium": {100: 9.976, 150: 20.26, 200: 33.22, 230: 42.1}}
rows = []
for name, values in ref.items():
    table = StoppingTable.build(materials[name])
    for e, r_nist in values.items():
        r = float(table.csda_range(e))
        rows.append({"material": name, "energy_MeV": e, "range_pctlib_g_cm2": round(r, 3),
                     "range_NIST_g_cm2": r_nist, "relative_error_%": round(100 * (r / r_nist - 1), 3)})
ranges = pd.DataFrame(rows)
save_table(ranges, results_dir, "csda_ranges")
summary["max_abs_range_error_%"] = float(ranges["relative_error_%"].abs().max())
ranges

# %%
fig, ax = plt.subplots(figsize=(6, 4))
e = np.geomspace(1, 300, 200)
for name in ("water", "aluminium", "silicon"):
    ax.plot(e, StoppingTable.build(materials[name]).csda_range_mm(e), label=f"{name} (pctlib)")
for name, values in ref.items():
    ax.plot(list(values), [10 * v / materials[name].density for v in values.values()], "ko", ms=4)
ax.plot([], [], "ko", ms=4, label="NIST PSTAR")
ax.set(xscale="log", yscale="log", xlabel="proton energy [MeV]", ylabel="CSDA range [mm]")
ax.legend()
save_figure(fig, results_dir, "csda_range", dpi=dpi)
plt.show()

# %% [markdown]
# ## Simulating the three phantoms
#
# A 230 MeV pencil beam (σ = 3 mm, 2 mrad divergence) through 100, 150 and 200 mm of water and the detector. Hits
# are digitised as in the reference pipeline: cluster size cs = int(4.2267 L^0.65 + 0.5) from the energy deposited
# in the 25 µm epitaxial layer (L in keV/µm), and clusters smaller than 2 pixels dropped.

# %%
runs = {}
for t in phantoms:
    sim = Simulator(geometry.with_phantom(t))
    runs[t] = sim.run(primaries, seed=seed + int(t), progress=True)
    print(f"{t:.0f} mm: {len(runs[t].hits)} hits, {runs[t].seconds:.1f} s "
          f"({primaries / runs[t].seconds:.0f} primaries/s on one core)")
no_phantom = Simulator(geometry.with_phantom(0.0)).run(primaries, seed=seed + 1, progress=True)

# %% [markdown]
# ## The Bragg curve in the detector
#
# For primaries without a nuclear interaction, the mean energy deposited in each sensitive layer rises slowly and
# then steeply in the last layers of the track: the Bragg peak. Without a phantom, a 230 MeV proton stops about
# 39 calorimeter layers deep (REFERENCE.md).

# %%
fig, ax = plt.subplots(figsize=(7, 4))
for label, r in [("no phantom", no_phantom)] + [(f"{t:.0f} mm water", runs[t]) for t in phantoms]:
    h = r.hits[(r.hits["trackID"] == 1) & (r.hits["primaryInelastic"] == 0)]
    per_layer = pd.Series(h["edep"] * 1e3).groupby(h["layer"]).mean()
    ax.plot(per_layer.index, per_layer.values, ".-", label=label)
ax.set(xlabel="layer (0-1 trackers, 2-42 calorimeter)", ylabel="mean deposit in 25 µm Si [keV]")
ax.legend()
save_figure(fig, results_dir, "bragg_curve", dpi=dpi)
plt.show()
cal0 = min(s.z0_mm for s in geometry.detector if s.kind == "calorimeter")
ok = no_phantom.primaries["inelastic"] == 0
depth = (no_phantom.primaries["stopZ"][ok] - cal0) / 5.5
summary["stopping_depth_no_phantom_calorimeter_layers"] = float(depth.mean())
print(f"mean stopping depth without phantom: {depth.mean():.2f} calorimeter layers (std {depth.std():.2f})")

# %% [markdown]
# ## Multiple Coulomb scattering: a property of the material traversed
#
# The width of the projected scattering angle after a path x of material is Highland's
#
# $$\theta_0 = \frac{13.6\ \mathrm{MeV}}{p\beta c}\sqrt{x/X_0}\,\bigl[1 + 0.038\ln(x/X_0)\bigr],$$
#
# and its logarithm makes widths non-additive: two slabs scatter more than the quadrature sum of their separate
# widths. Lynch and Dahl (PDG review) prescribe the logarithm of the *whole* path for a mixture of slabs. Each
# particle therefore carries its accumulated x/X₀ and ∫dx/(X₀(pβc)²) from where it was born, and each step adds the
# difference of θ₀² before and after it; angle and lateral offset are drawn together, correlated as in a uniform slab
# (ρ = √3/2). The width then depends on the material traversed and not on how the geometry file groups it into
# layer stacks. The model before this chapter's fix restarted the logarithm in every layer stack: the same aluminium
# cut into twenty regions scattered 10 % less (first table below), and the kinks in the calorimeter came out 15-22 %
# narrower than a whole-path Highland calculation.
#
# References, none from this simulation: Highland for thin slabs (entrance momentum; where the proton loses a large
# part of its energy inside the slab, 50 MeV in 3.5 mm Al, our width is larger, as it should be), and for thick slabs
# with their energy loss Gottschalk's *differential Molière* scattering power (Gottschalk 2010, Med. Phys. 37, 352),
# T_dM = f_dM(pv, p₁v₁)(E_s/pv)²/X_S, integrated along the CSDA path with its own material constant X_S (46.88 g/cm²
# for water). It is a fit to Molière–Fano–Hanson theory, which Gottschalk et al. (1993, NIM B 74, 467) found within
# about 1 % of their 158.6 MeV measurements. Of the measurements themselves only one point is at hand offline (the
# one Geant4's TestEm5 example quotes: 0.8 mm of aluminium, 3.534 ± 0.491 mrad, printed below); for the rest this
# chapter compares with the theory they confirmed. Lynch and Dahl's variant with β² inside the logarithm,
# ln(x/(X₀β²)), gives widths 4-14 % above this reference after thick slabs at 158.6 MeV, Highland's logarithm of the
# whole path within a few per cent; pctlib uses the latter (`PhysicsConfig.lynch_dahl_beta = False`).

# %%
rows = [slab_scattering(m, mm, e, n=scatter_primaries, seed=seed)
        for m, mm, e in [("aluminium", 3.5, 230), ("aluminium", 3.5, 150), ("aluminium", 1.0, 100),
                         ("aluminium", 3.5, 100), ("aluminium", 3.5, 50), ("water", 10.0, 230),
                         ("silicon", 1.0, 100)]]
thin = pd.DataFrame(rows)
thin["angle_ratio"] = thin["theta_rms_mrad"] / thin["highland_mrad"]
thin["lateral_ratio"] = thin["lateral_rms_mm"] / thin["highland_lateral_mm"]
thin["angle_ratio_lynch_dahl"] = thin["theta_rms_mrad"] / thin["highland_lynch_dahl_mrad"]
save_table(thin.round(4), results_dir, "highland_thin_slabs")
thin_ok = thin[(thin["energy_mev"] >= 100) & ~((thin["material"] == "aluminium") & (thin["thickness_mm"] > 3)
                                              & (thin["energy_mev"] <= 100))]
summary["max_highland_deviation_thin_%"] = float(100 * (thin_ok["angle_ratio"] - 1).abs().max())
grouping = pd.DataFrame([{"model": mem, "regions": k, **slab_scattering(
    "aluminium", 35.0, 230.0, n=scatter_primaries, seed=seed + k,
    physics=PhysicsConfig(nuclear=False, scattering_memory=mem), pieces=k)} for mem in ("path", "region")
    for k in (1, 5, 20)])[["model", "regions", "theta_rms_mrad", "lateral_rms_mm"]]
save_table(grouping.round(4), results_dir, "scattering_grouping")
summary["grouping_spread_%"] = float(100 * np.ptp(grouping.query("model == 'path'").theta_rms_mrad)
                                     / grouping.query("model == 'path'").theta_rms_mrad.mean())
grouping.round(3)

# %%
thin.round(3)

# %%
# one measured point of Gottschalk et al. (1993), as quoted by Geant4's TestEm5 example (macro gottsch.mac):
# 158.6 MeV protons through 0.2160 g/cm² of aluminium (0.8 mm), projected theta0 = 3.534 ± 0.491 mrad
measured = slab_scattering("aluminium", 0.8, 158.6, n=scatter_primaries, seed=seed)
summary["gottschalk_1993_al_0.8mm"] = {"measured_mrad": 3.534, "measured_error_mrad": 0.491,
                                       "pctlib_mrad": round(measured["theta_rms_mrad"], 3)}
print(f"0.8 mm Al at 158.6 MeV: pctlib {measured['theta_rms_mrad']:.3f} mrad, measured 3.534 ± 0.491 mrad "
      f"({100 * (measured['theta_rms_mrad'] / 3.534 - 1):+.1f} %)")
gott = pd.DataFrame(gottschalk_comparison("water", [10.0, 50.0, 100.0, 150.0, 165.0], n=scatter_primaries, seed=seed)
                    + gottschalk_comparison("aluminium", [5.0, 20.0, 40.0, 60.0], n=scatter_primaries, seed=seed))
save_table(gott.round(4), results_dir, "gottschalk_thick_slabs")
summary["max_gottschalk_deviation_%"] = float(100 * (gott["ratio"] - 1).abs().max())
fig, ax = plt.subplots(figsize=(6.5, 4))
for mat, g in gott.groupby("material"):
    line, = ax.plot(g["thickness_mm"], g["gottschalk_mrad"], "-", label=f"{mat}: differential Molière (Gottschalk)")
    ax.plot(g["thickness_mm"], g["theta_rms_mrad"], "o", color=line.get_color(), label=f"{mat}: pctlib")
ax.set(xlabel="slab thickness [mm]", ylabel="projected rms angle [mrad]", title="158.6 MeV protons")
ax.legend(fontsize=8)
save_figure(fig, results_dir, "gottschalk_thick_slabs", dpi=dpi)
plt.show()
gott.round(3)

# %%
layers = pd.DataFrame(
    [{"stack": "calorimeter", **r} for r in stack_scattering(geometry, [230, 200, 150, 100, 70, 50], n=scatter_primaries)]
    + [{"stack": "tracker", **r} for r in stack_scattering(geometry, [230, 150, 100], kind="tracker",
                                                             n=scatter_primaries)])
layers["angle_ratio"] = layers["theta_rms_mrad"] / layers["highland_mrad"]
save_table(layers.round(4), results_dir, "highland_per_layer")
fig, ax = plt.subplots(figsize=(6, 4))
for stack, g in layers.groupby("stack"):
    ax.plot(g["energy_mev"], g["theta_rms_mrad"], "o", label=f"{stack} layer, pctlib")
    ax.plot(g["energy_mev"], g["highland_mrad"], "-", label=f"{stack} layer, Highland")
ax.set(xlabel="energy entering the layer [MeV]", ylabel="projected rms angle [mrad]", yscale="log")
ax.legend(fontsize=8)
save_figure(fig, results_dir, "highland_per_layer", dpi=dpi)
plt.show()
layers.round(3)

# %% [markdown]
# ### Kinks in the calorimeter
#
# What tracking sees is the kink of a track at each layer: the change of direction between the segments into and out
# of the layer. Below, its robust width (1.4826 × median absolute deviation, projected, primaries with one hit in each
# of the three layers) behind 100 mm of water, layer by layer, with the whole-path model and with the earlier
# per-stack model. A Highland calculation over the accumulated path gives 7.8 / 8.6 / 9.7 mrad at calorimeter layers
# 4 / 8 / 12 (detector layers 6 / 10 / 14), and an independent Geant4 simulation of a similar DTC found the per-stack
# kinks 11-21 % too narrow (both quoted in the issue that led to this fix, not recomputed here).

# %%
kink_cfg = SimulationConfig(phantom_mm=100.0)
kink_rows = []
for mem in ("path", "region"):
    sim_k = Simulator(kink_cfg.load_geometry(), beam=kink_cfg.beam, digitisation=kink_cfg.digitisation,
                      physics=PhysicsConfig(scattering_memory=mem))
    for r in kink_widths(sim_k.run(primaries, seed=seed, progress=False).hits):
        kink_rows.append({"model": "whole path" if mem == "path" else "per layer stack (before)", **r})
kinks = pd.DataFrame(kink_rows)
kinks["calorimeter_layer"] = kinks["layer"] - 2
save_table(kinks.round(3), results_dir, "kink_widths")
wide = kinks.pivot(index="calorimeter_layer", columns="model", values="kink_width_mrad")
summary["kink_width_mrad_cal_4_8_12"] = {m: [round(float(wide.loc[k, m]), 2) for k in (4, 8, 12)] for m in wide}
fig, ax = plt.subplots(figsize=(6.5, 4))
for m in wide:
    ax.plot(wide.index, wide[m], "o-" if m == "whole path" else "s--", ms=3, label=f"pctlib, {m}")
ax.plot([4, 8, 12], [7.8, 8.6, 9.7], "kx", ms=9, mew=2, label="Highland over the whole path (quoted)")
ax.set(xlabel="calorimeter layer", ylabel="robust kink width [mrad]", title="100 mm water, 230 MeV")
ax.legend(fontsize=8)
save_figure(fig, results_dir, "kink_widths", dpi=dpi)
plt.show()
wide.loc[[1, 4, 8, 12, 16, 20]].round(2)

# %% [markdown]
# ## Deposits in the thin sensors
#
# The deposit in the 25 µm epitaxial layer sets the cluster size, hence the cs ≥ 2 cut and the deposit-based track
# filter. In a layer this thin the deposit follows Landau's distribution, whose most probable value is the
# Landau-Vavilov-Bichsel
#
# $$\Delta_p = \xi\left[\ln\frac{2mc^2\beta^2\gamma^2}{I} + \ln\frac{\xi}{I} + 0.200 - \beta^2\right],
# \qquad \xi = \frac{K}{2}\frac{Z}{A}\frac{x}{\beta^2},$$
#
# well below the mean loss, with a full width at half maximum of 4.018 ξ (PDG review). pctlib draws Landau variates
# from a tabulated inverse CDF (`pctlib.physics.landau`), its tail truncated so that the mean deposit equals the
# mean energy loss of the step. The earlier Moyal approximation had the same peak and width but a tail so light that
# the mean deposit was 26 % below the mean energy loss and the median 0.7 ξ too low.

# %%
dep = pd.DataFrame([{"model": model, **thin_layer_deposits(t, e, n=scatter_primaries, seed=seed,
                                                           physics=PhysicsConfig(nuclear=False, scattering=False,
                                                                                 deposit_model=model))}
                    for model in ("landau", "moyal") for t in (25.0, 14.0) for e in (230.0, 150.0, 100.0, 50.0)])
save_table(dep.round(4), results_dir, "thin_layer_deposits")
summary["max_lvb_deviation_%"] = {k: float(100 * (dep.query("model == 'landau'")[k] - 1).abs().max())
                                  for k in ("mpv_ratio", "fwhm_ratio")}
fig, ax = plt.subplots(figsize=(6.5, 4))
for model, g in dep[dep.thickness_um == 25.0].groupby("model"):
    ax.plot(g["energy_mev"], g["median_kev"], "o-" if model == "landau" else "s--", label=f"median, {model}")
    ax.plot(g["energy_mev"], g["mean_kev"], "^:" if model == "landau" else "v:", label=f"mean, {model}")
g = dep[(dep.thickness_um == 25.0) & (dep.model == "landau")]
ax.plot(g["energy_mev"], g["lvb_mpv_kev"], "k-", lw=2, label="most probable, Landau-Vavilov-Bichsel")
ax.set(xlabel="proton energy [MeV]", ylabel="deposit in 25 µm Si [keV]", yscale="log")
ax.legend(fontsize=8)
save_figure(fig, results_dir, "thin_layer_deposits", dpi=dpi)
plt.show()
dep[["model", "thickness_um", "energy_mev", "mpv_kev", "lvb_mpv_kev", "fwhm_kev", "lvb_fwhm_kev", "median_kev",
     "mean_kev"]].round(2)

# %% [markdown]
# ## Nuclear interactions
#
# Inelastic proton–nucleus interactions remove primaries at about 1 % per cm of water (σ(p + ¹⁶O) ≈ 0.30 b; the
# free protons of water have no inelastic channel at these energies). Each material's macroscopic cross section is
# Σ nᵢσᵢ with σ ∝ A^{2/3}. The primary ends at the interaction and emits secondary protons (a simple model, see
# `pctlib/physics/nuclear.py`). Below, a 230 MeV pencil beam in a deep water tank: the fraction of primaries that
# have not interacted, against depth.

# %%
inel_z, stop_z = nuclear_survival("water", 400.0, 230.0, n=scatter_primaries, seed=seed)
depths = np.linspace(0, 320, 65)
surviving = [(~(np.isfinite(inel_z) & (inel_z < d))).mean() for d in depths]
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(depths, surviving, label="pctlib")
ax.plot(depths, np.exp(-0.01 * depths / 10), "--", label="1 %/cm")
ax.set(xlabel="depth in water [mm]", ylabel="primaries without inelastic interaction")
ax.legend()
save_figure(fig, results_dir, "nuclear_attenuation", dpi=dpi)
plt.show()
per_cm = -np.log(np.interp(100.0, depths, surviving)) / 10.0
summary["nuclear_loss_per_cm_water_%"] = float(100 * per_cm)
summary["fraction_interacting_before_range_end"] = float(np.isfinite(inel_z).mean())
print(f"loss rate over the first 10 cm: {100 * per_cm:.2f} %/cm; "
      f"{100 * np.isfinite(inel_z).mean():.1f} % interact before the end of the range")

# %% [markdown]
# ## One readout frame
#
# Hits of one frame of `frame_primaries` consecutive recorded primaries behind 100 mm of water, coloured by primary;
# hits of secondary particles are marked with crosses.

# %%
from pctlib.graphs.frames import frame_index  # noqa: E402

r = runs[phantoms[0]]
frame = r.hits[frame_index(r.hits, frame_primaries) == 0]
fig, axes = plt.subplots(1, 2, figsize=(13, 4.5), sharex=True)
for ax, coord in zip(axes, ("posX", "posY")):
    prim = frame["trackID"] == 1
    ax.scatter(frame["posZ"][prim], frame[coord][prim], c=frame["eventID"][prim] % 20, cmap="tab20", s=4)
    ax.scatter(frame["posZ"][~prim], frame[coord][~prim], marker="x", c="k", s=12, label="secondaries")
    ax.set(xlabel="z [mm]", ylabel=f"{coord[-1].lower()} [mm]")
axes[0].legend()
fig.suptitle(f"{len(frame)} hits of {frame_primaries} primaries ({phantoms[0]:.0f} mm phantom)")
save_figure(fig, results_dir, "event_display", dpi=dpi)
plt.show()

# %% [markdown]
# ## Hits per primary and per frame against the published sizes
#
# The published graph sizes (REFERENCE.md, from the paper's GATE data with the reference preprocessing) imply
# 26.8 / 21.5 / 16.3 hits per primary behind 100 / 150 / 200 mm of water. What "per primary" means matters here. A
# GATE hit table has no row for a primary that never reached a sensor: one absorbed by a nuclear interaction in the
# phantom, or scattered out of it, leaves no trace, so frames formed from such a table hold N *recorded* primaries.
# We count both ways: per *delivered* primary (every primary we started) and per *recorded* primary (those with at
# least one hit), and form frames of N recorded primaries, the convention `pctlib` uses by default
# (`GraphConfig.framing = "recorded"`; `"eventid"` gives frames of N delivered primaries).

# %%
reference = {100.0: (26.8, 2675, 76), 150.0: (21.5, 2148, 53), 200.0: (16.3, 1628, 40)}
rows = []
for t in phantoms:
    h = runs[t].hits
    recorded = np.unique(h["eventID"]).size
    frames_rec = np.bincount(frame_index(h, frame_primaries, "recorded"))[: recorded // frame_primaries]
    frames_del = np.bincount(frame_index(h, frame_primaries, "eventid"))[: primaries // frame_primaries]
    prim_hits = (h["trackID"] == 1).sum() / primaries
    row = {"phantom_mm": t, "recorded_fraction": recorded / primaries,
           "hits_per_delivered_primary": len(h) / primaries, "hits_per_recorded_primary": len(h) / recorded,
           "primary_hits_per_primary": prim_hits, "secondary_hits_per_primary": len(h) / primaries - prim_hits,
           "inelastic_fraction": runs[t].primaries["inelastic"].mean(),
           "hits_per_frame": frames_rec.mean(), "hits_per_frame_std": frames_rec.std(),
           "hits_per_frame_std_delivered": frames_del.std()}
    if t in reference:
        ref = reference[t]
        row["reference_hits_per_primary"] = ref[0]
        row["reference_hits_per_frame_std"] = ref[2] * frame_primaries / 100
        row["recorded_vs_reference_%"] = 100 * (row["hits_per_recorded_primary"] / ref[0] - 1)
        row["delivered_vs_reference_%"] = 100 * (row["hits_per_delivered_primary"] / ref[0] - 1)
    rows.append(row)
sizes = pd.DataFrame(rows)
save_table(sizes.round(3), results_dir, "hits_per_primary")
summary["hits_per_recorded_primary"] = {str(r["phantom_mm"]): round(r["hits_per_recorded_primary"], 3) for r in rows}
summary["hits_per_delivered_primary"] = {str(r["phantom_mm"]): round(r["hits_per_delivered_primary"], 3)
                                         for r in rows}
save_json(summary, results_dir, "summary")
sizes.round(2).T

# %%
fig, ax = plt.subplots(figsize=(6.5, 4))
ax.plot(sizes.phantom_mm, sizes.hits_per_recorded_primary, "o-", label="pctlib, per recorded primary")
ax.plot(sizes.phantom_mm, sizes.hits_per_delivered_primary, "s--", label="pctlib, per delivered primary")
ref_t = sorted(reference)
ax.plot(ref_t, [reference[t][0] for t in ref_t], "kx", ms=9, mew=2, label="published GATE data")
ax.set(xlabel="water phantom [mm]", ylabel="hits per primary (reference preprocessing)")
ax.legend()
save_figure(fig, results_dir, "hits_per_primary", dpi=dpi)
plt.show()

# %% [markdown]
# **What this shows.** Stopping, range straggling, multiple scattering and the nuclear attenuation follow their
# references (tables above; the numbers are printed below). Counted per *recorded* primary, our hits per primary agree with the published numbers
# to within a few per cent at every thickness; counted per *delivered* primary they fall short by the fraction of
# primaries that never reach the detector (column `recorded_fraction`: about 9 % of them behind 100 mm, 15 % behind
# 200 mm), a shortfall that grows with the phantom while the published numbers show none. The frame-to-frame spread
# points the same way: frames of N recorded primaries scatter somewhat less than the published frames, frames of N
# delivered primaries clearly more (columns `hits_per_frame_std*`), because the number of primaries that reach the
# detector then varies from frame to frame. We conclude that the published frames hold N recorded primaries, and
# frame ours the same way. Primaries without a nuclear interaction leave one hit per layer crossed; secondaries
# are protons only, from a simple model, and add about one hit per primary behind 100 mm.

# %%
print(f"thin slabs: largest deviation from Highland {summary['max_highland_deviation_thin_%']:.1f} % "
      f"(>= 100 MeV, negligible energy loss); one region or 5 or 20: spread {summary['grouping_spread_%']:.1f} %")
print(f"thick slabs at 158.6 MeV: largest deviation from differential Moliere "
      f"{summary['max_gottschalk_deviation_%']:.1f} %")
for m, v in summary["kink_width_mrad_cal_4_8_12"].items():
    print(f"kink widths at calorimeter layers 4 / 8 / 12, {m}: " + " / ".join(f"{x:.2f}" for x in v) + " mrad")
print(f"thin silicon: most probable deposit within {summary['max_lvb_deviation_%']['mpv_ratio']:.1f} %, FWHM within "
      f"{summary['max_lvb_deviation_%']['fwhm_ratio']:.1f} % of Landau-Vavilov-Bichsel")
print("hits per recorded primary: " + ", ".join(f"{float(k):.0f} mm {v:.2f}"
                                               for k, v in summary["hits_per_recorded_primary"].items()))
