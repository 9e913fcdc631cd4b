"""BatchNorm statistics for evaluation, recomputed at fixed weights ("precise BatchNorm", Wu & Johnson 2021).

During training each frame is one BatchNorm batch and the running statistics used in eval mode are an exponential
average (momentum 0.1) over the last ~10 frames, taken while the weights were still moving. Early in a run, with
RMSProp's first steps ~10x the learning rate (its square average starts at 0), those statistics lag the weights
and eval-mode scores can be far from what the weights give: validation purity then jumps between checkpoints.
:func:`recalibrate_batchnorm` replaces the running statistics by the plain average of the batch statistics over
given frames at the current weights (``momentum=None``, torch's cumulative average), which is what eval mode is
meant to approximate. Training itself is unchanged: a training forward pass normalises with its own batch.
"""

from __future__ import annotations

import torch
from torch import nn


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def recalibrate_batchnorm(models: list[nn.Module], frames, encode=True) -> None:
    """Running statistics of every BatchNorm layer of ``models`` := the mean of its batch mean and (unbiased)
    batch variance over ``frames`` (each frame one batch, as in training), at the models' current weights.
    Frames are encoded once for all models. The models' train/eval modes and momenta are restored."""
    layers = [(bn, bn.momentum) for m in models for bn in batchnorm_layers(m)]
    modes = [m.training for m in models]
    frames = list(frames)
    if not frames or not layers:
        return
    for bn, _ in layers:
        bn.reset_running_stats()
        bn.momentum = None
    try:
        for m in models:
            m.train()
        for g in frames:
            enc = models[0].phi_r1.encode_edges(g.edge_u) if encode and g.edge_index.shape[1] else None
            for m in models:
                m.logits(g.x, g.edge_index, g.edge_u, enc)
    finally:
        for bn, momentum in layers:
            bn.momentum = momentum
        for m, was in zip(models, modes):
            m.train(was)
