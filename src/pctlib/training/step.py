"""One training step's work on a frame: the losses (BCE of the scores for PTT; the Hamming loss of the blackbox
assignment for PAT, plus the downstream loss where set), the scores and the assignments, for several models and
several frames scored in one pass."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..assign.batch import assign_costs, check_scores, thread_map
from ..assign.blackbox import assign_differentiable_many
from ..assign.layout import concat_layouts, layout_of_graph
from ..assign.losses import hamming_loss, segment_weights
from ..models.interaction_network import EdgeScorer
from .config import TrainConfig


def frame_step(model: EdgeScorer, g, config: TrainConfig, loss_scale: float = 1.0
               ) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """Loss of one frame, its scores, and the assignment of its segments (0/1 numpy): PAT's loss already solves
    the assignment, which is reused instead of being solved again for the metrics. ``loss_scale``: the factor the
    caller multiplies the loss by before ``backward`` (1 / batch_frames in training); with ``lambda_scope="frame"``
    the blackbox perturbation undoes it, so lambda acts on the frame's own loss (``assign/blackbox.py``)."""
    return frame_steps([model], g, [config], loss_scale)[0]


def frame_steps(models: list[EdgeScorer], g, configs: list[TrainConfig], loss_scale: float = 1.0,
                workers: int = 1, stack: bool = False) -> list[tuple[torch.Tensor, torch.Tensor, np.ndarray]]:
    """:func:`frame_step` of several models on the same frame: the frame's features are standardised by each
    model, its edge encoding (sin/cos) is computed once for all models (one model: fused with the product), and
    the assignments of all models are solved in one call (PTT's for the metrics, PAT's with blackbox gradients)."""
    return pass_steps(models, [g], configs, loss_scale, workers, stack)[0]


def pass_steps(models: list[EdgeScorer], frames: list, configs: list[TrainConfig], loss_scale: float = 1.0,
               workers: int = 1, stack: bool = False, assign_ptt: bool = True
               ) -> list[list[tuple[torch.Tensor, torch.Tensor, np.ndarray | None]]]:
    """Losses, scores and assignments of several models on several frames scored in one pass: the frames are
    joined into one disconnected graph (PyG ``Batch``), so a GPU scores them in one launch sequence, and every
    model's assignments of all frames are solved in one call. Result ``[frame][model]``; each frame keeps its own
    loss (its own group normalisation and mean), exactly as if scored alone, except that BatchNorm in training
    mode normalises over the whole pass (``TrainConfig.frames_per_pass``; tested equal to frame-by-frame
    scoring with BatchNorm statistics fixed). ``stack``: the models scored as one network
    (``models.stacked``; the same scores and gradients to float rounding, faster on a GPU). ``assign_ptt``: False
    leaves PTT models' assignments unsolved (None in their place; their losses do not need them): a pass of PTT
    models alone then reads nothing back from the device when the frames say whether their edge scalars are
    mirrored (``training.resident``) or several frames share the pass (tested on the meta device, and with CUDA's
    synchronisation check where a GPU is present)."""
    if len(models) != len(configs):
        raise ValueError(f"{len(models)} models and {len(configs)} configurations")
    pat = [k for k, c in enumerate(configs) if c.mode == "pat"]
    ptt = [k for k, c in enumerate(configs) if c.mode == "ptt"]
    ptt_assigned = ptt if assign_ptt else []
    if len(frames) == 1:
        g = frames[0]
        # a frame's own record of its mirrored edge scalars (training.resident), else tested in the model
        mirrored = getattr(g, "mirrored", None)
    else:
        from torch_geometric.data import Batch

        g = Batch.from_data_list(list(frames))
        mirrored = False  # the frames' halves interleave: the joint scalars are not one half repeated
    layout = None
    if ptt_assigned or pat:
        layouts = [_layout(f) for f in frames]
        layout = layouts[0] if len(frames) == 1 else concat_layouts(layouts)
    seg_ptr = np.concatenate([[0], np.cumsum([int(f.x.shape[0]) for f in frames])]).astype(int)
    if stack and len(models) > 1:
        from ..models.stacked import stacked_logits

        logits = list(stacked_logits(models, g.x, g.edge_index, g.edge_u, mirrored=mirrored).unbind(1))
    else:
        share = len(models) > 1 and g.edge_index.shape[1] > 0
        encoding = models[0].phi_r1.encode_edges(g.edge_u, mirrored) if share else None
        logits = [m.logits(g.x, g.edge_index, g.edge_u, encoding, mirrored) for m in models]
    scores = [torch.sigmoid(lg) for lg in logits]
    src_layers = [f.hit_x[f.hit_edge_index[0], 4].long() for f in frames]
    weights = [[segment_weights(sl, c.w_tracker, c.w_calorimeter, normalisation=c.loss_normalisation,
                                tracker_group=c.tracker_group) for sl in src_layers] for c in configs]
    out: list = [[None] * len(models) for _ in frames]
    parts = list(zip(range(len(frames)), seg_ptr[:-1], seg_ptr[1:]))
    if ptt:
        for k in ptt_assigned:
            check_scores(scores[k].detach().cpu().numpy())
        costs = [1.0 - scores[k].detach().cpu().numpy().astype(np.float64) for k in ptt_assigned]
        assigned = thread_map(lambda c: assign_costs(c, layout), costs, workers)
        assigned = dict(zip(ptt_assigned, assigned))
        for k in ptt:
            y = assigned.get(k)
            for f, a, z in parts:
                lg = logits[k][a:z]
                loss = (F.binary_cross_entropy_with_logits(lg, frames[f].y, weight=weights[k][f]) if lg.numel()
                        else lg.sum())
                out[f][k] = (loss, scores[k][a:z], None if y is None else y[a:z])
    if pat:
        y_hats = assign_differentiable_many(
            [scores[k] for k in pat], layout, [configs[k].lam for k in pat],
            [configs[k].scale_by_lambda for k in pat],
            [loss_scale if configs[k].lambda_scope == "frame" else 1.0 for k in pat], workers=workers)
        for k, y_hat in zip(pat, y_hats):
            downstream = configs[k].downstream()
            for f, a, z in parts:
                yk, sk = y_hat[a:z], scores[k][a:z]
                loss = hamming_loss(yk, frames[f].y, weights[k][f]) if sk.numel() else sk.sum()
                if downstream is not None:
                    loss = loss + configs[k].downstream_weight * downstream(yk, frames[f]).to(loss.dtype)
                out[f][k] = (loss, sk, yk.detach().cpu().numpy().astype(np.int8))
    return out


def _layout(frame):
    """The frame's assignment-block layout: its own record (``training.resident``) or built from its pointers."""
    recorded = getattr(frame, "block_layout", None)
    return layout_of_graph(frame) if recorded is None else recorded


def frame_loss(model: EdgeScorer, g, config: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss of one frame and its scores."""
    loss, scores, _ = frame_step(model, g, config)
    return loss, scores
