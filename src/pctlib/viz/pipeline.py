"""The pipeline diagram of the overview chapter, drawn with matplotlib (no external images)."""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch


@dataclass(frozen=True)
class Stage:
    title: str
    detail: str
    module: str


PIPELINE: tuple[Stage, ...] = (
    Stage("Monte Carlo", "protons through water\nphantom + 2+41 layer DTC", "pctlib.physics"),
    Stage("Hit table", "GATE-format hits\n(or imported GATE data)", "pctlib.io"),
    Stage("Graphs", "hit graph -> line graph\nangle filters, features", "pctlib.graphs"),
    Stage("Edge scores", "interaction network\non the line graph", "pctlib.models"),
    Stage("Assignment", "layer-wise LSAP\nblackbox gradients", "pctlib.assign"),
    Stage("Tracks", "filter, purity and\nefficiency vs follower", "pctlib.tracks"),
    Stage("Studies", "loss surfaces, CKA,\nmode connectivity", "pctlib.landscape"),
)


def draw_pipeline(stages: tuple[Stage, ...] = PIPELINE, ax=None, loss_feedback: bool = True):
    """Draw the stages left to right; with ``loss_feedback`` the predict-and-track gradient path is shown."""
    if ax is None:
        _, ax = plt.subplots(figsize=(2.1 * len(stages), 3.0))
    w, h, gap = 1.9, 1.15, 0.35
    for i, s in enumerate(stages):
        x = i * (w + gap)
        box = FancyBboxPatch((x, 0), w, h, boxstyle="round,pad=0.04", fc="#e8f0fb", ec="#2a5a9a", lw=1.2)
        ax.add_patch(box)
        ax.text(x + w / 2, h - 0.22, s.title, ha="center", va="center", fontsize=10, weight="bold")
        ax.text(x + w / 2, h / 2 - 0.08, s.detail, ha="center", va="center", fontsize=7.5)
        ax.text(x + w / 2, 0.1, s.module, ha="center", va="center", fontsize=6.5, family="monospace", color="#555")
        if i:
            ax.add_patch(FancyArrowPatch((x - gap, h / 2), (x, h / 2), arrowstyle="-|>", mutation_scale=12, lw=1.2))
    if loss_feedback:
        names = [s.title for s in stages]
        if "Edge scores" in names and "Tracks" in names:
            a, b = names.index("Edge scores"), names.index("Tracks")
            xa = a * (w + gap) + w / 2
            xb = b * (w + gap) + w / 2
            ax.add_patch(FancyArrowPatch((xb, -0.05), (xa, -0.05), connectionstyle="arc3,rad=-0.25",
                                         arrowstyle="-|>", mutation_scale=12, lw=1.2, color="#b33", ls="--"))
            ax.text((xa + xb) / 2, -0.95, "predict-and-track: Hamming loss gradient through the assignment",
                    ha="center", fontsize=7.5, color="#b33")
    ax.set_xlim(-0.2, len(stages) * (w + gap) - gap + 0.2)
    ax.set_ylim(-1.15, h + 0.2)
    ax.set_aspect("equal")
    ax.axis("off")
    return ax
