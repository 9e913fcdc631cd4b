"""Several scorers of one architecture evaluated as one network: the k models' layers side by side.

Models trained together on the same frames (``training.loop.train_many``) otherwise run k forward passes of small
layers (hidden size 16) over the same ~500k line-graph edges; a GPU then spends its time launching kernels. Here
every layer of the k models becomes one layer of k times the width:

* the first layer of phi_R1 reads the same frame for every model: its k weight matrices are stacked along the
  output (one product with the shared sin/cos encoding, ``EncodingProjection``);
* every later linear layer maps each model's block of channels to that model's block only: a block-diagonal
  weight (``torch.block_diag`` of the k matrices, built from the models' own parameters at each call, so that
  autograd returns every gradient to its own model and the models keep their own optimisers and checkpoints);
* BatchNorm normalises channel by channel, so the k models' BatchNorm layers are one BatchNorm over k times the
  channels; in training mode the running statistics updated on the stacked copy are written back to each model;
* the max aggregation works channel by channel: unchanged.

The result equals the k models' own ``logits`` to float rounding (tested with gradients and BatchNorm statistics,
``tests/test_stacked_models.py``). A block-diagonal product computes k times the arithmetic of the k small products,
which a GPU does not notice and a CPU does: ``stack_models="auto"`` in training stacks on CUDA devices only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .interaction_network import EdgeEncoding, EdgeScorer, EncodingProjection, max_aggregation, mirrored_of


class StackError(ValueError):
    """Models that cannot be evaluated as one network (other architectures or encodings, mixed modes)."""


def check_stackable(models: list[EdgeScorer]) -> None:
    """The models share the architecture (``ModelConfig``) and are all in training or all in evaluation mode."""
    if not models:
        raise StackError("no models to stack")
    if len({m.config for m in models}) != 1:
        raise StackError("stacked models must share one ModelConfig: "
                         + ", ".join(sorted({str(m.config) for m in models})))
    if len({m.training for m in models}) != 1:
        raise StackError("stacked models must be all in training or all in evaluation mode")


def _batchnorm(h: torch.Tensor, bns: list[nn.BatchNorm1d]) -> torch.Tensor:
    """The k BatchNorm layers as one over the concatenated channels; in training mode their running statistics
    are updated as each layer would update its own."""
    first = bns[0]
    weight = torch.cat([b.weight for b in bns])
    bias = torch.cat([b.bias for b in bns])
    mean = torch.cat([b.running_mean for b in bns])
    var = torch.cat([b.running_var for b in bns])
    if not first.training:
        return F.batch_norm(h, mean, var, weight, bias, False, 0.0, first.eps)
    if first.momentum is None:
        raise StackError("stacked BatchNorm needs a fixed momentum (the layers' default 0.1)")
    out = F.batch_norm(h, mean, var, weight, bias, True, first.momentum, first.eps)
    with torch.no_grad():
        width = first.num_features
        for k, b in enumerate(bns):
            b.running_mean.copy_(mean[k * width:(k + 1) * width])
            b.running_var.copy_(var[k * width:(k + 1) * width])
            b.num_batches_tracked.add_(1)
    return out


def _linear(h: torch.Tensor, lins: list[nn.Linear]) -> torch.Tensor:
    """k linear layers, each on its own block of the channels: one block-diagonal product."""
    weight = torch.block_diag(*[lin.weight for lin in lins])
    return F.linear(h, weight, torch.cat([lin.bias for lin in lins]))


def _sequential(h: torch.Tensor, parts: list[nn.Sequential]) -> torch.Tensor:
    """Apply k ``Sequential`` MLPs of the same layer names (``lin``, ``bn``, ``act``) to their channel blocks."""
    for name, layer in parts[0].named_children():
        layers = [getattr(p, name) for p in parts]
        if isinstance(layer, nn.Linear):
            h = _linear(h, layers)
        elif isinstance(layer, nn.BatchNorm1d):
            h = _batchnorm(h, layers)
        elif isinstance(layer, nn.ReLU):
            h = torch.relu(h)
        else:
            raise StackError(f"cannot stack a layer of type {type(layer).__name__} ({name})")
    return h


def stacked_logits(models: list[EdgeScorer], x: torch.Tensor, edge_index: torch.Tensor, edge_u: torch.Tensor,
                   encoding: EdgeEncoding | None = None, mirrored: bool | None = None) -> torch.Tensor:
    """The pre-sigmoid scores of every segment under each of ``models``: a (segments x models) tensor whose column
    k equals ``models[k].logits(x, edge_index, edge_u)`` to float rounding (module docstring). ``mirrored``: as in
    ``EdgeScorer.logits``."""
    check_stackable(models)
    k = len(models)
    c = models[0].config
    d, hidden = c.node_features, c.hidden
    # each model standardises the frame with its own statistics: (segments x k x d)
    v = (x.unsqueeze(1) - torch.stack([m.x_mean for m in models])) / torch.stack([m.x_std for m in models])
    n = v.shape[0]
    if edge_index.shape[1]:
        src, dst = edge_index
        r1 = [m.phi_r1 for m in models]
        w = torch.stack([p.lin0.weight for p in r1])  # k x hidden x (2d + enc)
        node_dst = torch.einsum("nkd,khd->nkh", v, w[:, :, :d]).reshape(n, k * hidden)
        node_src = torch.einsum("nkd,khd->nkh", v, w[:, :, d:2 * d]).reshape(n, k * hidden)
        h = torch.index_select(node_dst, 0, dst) + torch.index_select(node_src, 0, src)
        mirrored = encoding.mirrored if encoding is not None else mirrored_of(edge_u, mirrored)
        first = r1[0]
        if encoding is not None and (encoding.d_enc, encoding.scaling) != (first.d_enc, first.scaling):
            raise ValueError("a shared edge encoding must have the model's encoding_dim and encoding_scaling")
        sin, cos = (None, None) if encoding is None else (encoding.sin, encoding.cos)
        u = edge_u[: edge_u.shape[0] // 2] if mirrored else edge_u
        w_sin = w[:, :, 2 * d::2].reshape(k * hidden, -1)
        w_cos = w[:, :, 2 * d + 1::2].reshape(k * hidden, -1)
        enc = EncodingProjection.apply(u.to(w.dtype) / first.scaling, first.freq.to(w.dtype), w_sin, w_cos, sin, cos)
        if mirrored:
            h = (h.view(2, -1, k * hidden) + enc).view(-1, k * hidden)
        else:
            h = h + enc
        h = h + torch.cat([p.lin0.bias for p in r1])
        e = _sequential(h, [p.rest for p in r1])
        agg = max_aggregation(e, dst, n)
    else:
        agg = torch.zeros((n, k * hidden), dtype=v.dtype, device=v.device)
    node_in = torch.cat([v, agg.view(n, k, hidden)], dim=2).reshape(n, k * (d + hidden))
    v1 = _sequential(node_in, [m.phi_o for m in models])
    return _sequential(v1, [m.phi_r2 for m in models])  # segments x k (phi_r2 has one output)
