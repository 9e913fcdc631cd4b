"""The interaction network that scores every segment (paper Sec. 4.2, Eq. 9-11, Table 4).

On the line graph (nodes = segments, edges = segment pairs):

    e_ij = phi_R1(v_i, v_j, enc(u_ij))        edge update (Eq. 9)
    v_i' = phi_O(v_i, max_j e_ij)             node update with max aggregation (Eq. 10)
    s_i  = sigmoid(phi_R2(v_i'))              segment score (Eq. 11)

Each phi is an MLP of ``n_layers`` linear layers (hidden size ``hidden``) with BatchNorm and ReLU between them.
Inputs are standardised with the training-set statistics stored with the dataset (buffers ``x_mean``, ``x_std``).
The 128-d sinusoidal encoding of u is computed on the fly, folded into phi_R1's first layer (``EdgeMLP``).
Submodules are named (``phi_r1`` with ``lin0``/``lin0_out`` and ``rest``; ``phi_o`` and ``phi_r2``, each a
``Sequential`` of ``lin{k}``, ``bn{k}``, ``act{k}``) so that landscape studies can hook every layer;
``functional_scores`` evaluates the network with a given parameter dictionary (``torch.func``).

Max aggregation uses ``torch.Tensor.scatter_reduce`` (deterministic on the CPU; on CUDA scatter reductions may be
non-deterministic, one source of the prediction instability the paper measures).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ModelConfig:
    node_features: int = 8
    encoding_dim: int = 128
    encoding_scaling: float = 0.001
    hidden: int = 16
    n_layers: int = 3

    def to_dict(self) -> dict:
        return asdict(self)


def mlp(d_in: int, hidden: int, d_out: int, n_layers: int) -> nn.Sequential:
    """n_layers linear layers; BatchNorm + ReLU after every layer but the last."""
    layers: "OrderedDict[str, nn.Module]" = OrderedDict()
    d = d_in
    for k in range(n_layers):
        out = d_out if k == n_layers - 1 else hidden
        layers[f"lin{k}"] = nn.Linear(d, out)
        if k < n_layers - 1:
            layers[f"bn{k}"] = nn.BatchNorm1d(out)
            layers[f"act{k}"] = nn.ReLU()
        d = out
    return nn.Sequential(layers)


class EdgeMLP(nn.Module):
    """phi_R1 on the concatenation (v_i, v_j, enc(u)), computed without materialising the concatenation.

    ``lin0`` holds the weight of the first layer over the full 2d + 128 input, exactly as for the concatenation;
    its product is evaluated as W_a v_i + W_b v_j (per node, then gathered per edge) + W_sin sin(w u/s) +
    W_cos cos(w u/s) (the encoding's interleaved sin/cos columns), which saves the copies of a (edges x 144)
    matrix. ``lin0_out`` (an identity) marks the first layer's output for hooks; the other layers are applied as
    usual.
    """

    def __init__(self, d_node: int, d_enc: int, hidden: int, n_layers: int, scaling: float):
        super().__init__()
        self.d_node, self.d_enc, self.scaling = d_node, d_enc, scaling
        self.lin0 = nn.Linear(2 * d_node + d_enc, hidden)
        self.lin0_out = nn.Identity()
        rest = mlp(hidden, hidden, hidden, n_layers)
        # the first layer of ``rest`` is replaced by lin0: keep bn0, act0, lin1, ... in order
        layers = OrderedDict((k, v) for k, v in rest.named_children() if k != "lin0")
        self.rest = nn.Sequential(layers)
        k = torch.arange(d_enc // 2, dtype=torch.float32)
        self.register_buffer("freq", torch.exp(-(2.0 * k / d_enc) * math.log(10000.0)), persistent=False)

    def forward(self, v: torch.Tensor, src: torch.Tensor, dst: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        w = self.lin0.weight
        d = self.d_node
        node_dst = v @ w[:, :d].t()
        node_src = v @ w[:, d:2 * d].t()
        m = u.shape[0] // 2
        if u.shape[0] % 2 == 0 and m and torch.equal(u[:m], u[m:]):
            # a frame's line graph lists every segment pair twice, once per direction, with the same u: encode
            # the first half only (the sin/cos are the most expensive step) and use it for both
            half = self._encode(u[:m])
            enc = torch.cat([half, half])
        else:
            enc = self._encode(u)
        # index_select, not advanced indexing: its backward (index_add) is deterministic on multi-threaded CPUs,
        # the accumulate-put of x[idx] is not
        h = torch.index_select(node_dst, 0, dst)
        h = h + torch.index_select(node_src, 0, src)
        h = self.lin0_out(h.add_(enc).add_(self.lin0.bias))
        return self.rest(h)

    def _encode(self, u: torch.Tensor) -> torch.Tensor:
        """The encoding's contribution to the first layer: W_enc enc(u) without materialising enc(u) twice."""
        w, d = self.lin0.weight, self.d_node
        arg = (u.float() / self.scaling).unsqueeze(1) * self.freq
        return torch.sin(arg) @ w[:, 2 * d::2].t() + torch.cos(arg) @ w[:, 2 * d + 1::2].t()


class EdgeScorer(nn.Module):
    def __init__(self, config: ModelConfig = ModelConfig(), x_mean=None, x_std=None):
        super().__init__()
        self.config = config
        c = config
        self.phi_r1 = EdgeMLP(c.node_features, c.encoding_dim, c.hidden, c.n_layers, c.encoding_scaling)
        self.phi_o = mlp(c.node_features + c.hidden, c.hidden, c.hidden, c.n_layers)
        self.phi_r2 = mlp(c.hidden, c.hidden, 1, c.n_layers)
        self.register_buffer("x_mean", torch.zeros(c.node_features) if x_mean is None else torch.as_tensor(
            x_mean, dtype=torch.float32))
        self.register_buffer("x_std", torch.ones(c.node_features) if x_std is None else torch.as_tensor(
            x_std, dtype=torch.float32))

    def logits(self, x: torch.Tensor, edge_index: torch.Tensor, edge_u: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid score of every line node (segment)."""
        v = (x - self.x_mean) / self.x_std
        if edge_index.shape[1]:
            src, dst = edge_index
            e = self.phi_r1(v, src, dst, edge_u)
            agg = torch.zeros((v.shape[0], e.shape[1]), dtype=e.dtype, device=e.device)
            agg = agg.scatter_reduce(0, dst.unsqueeze(1).expand_as(e), e, reduce="amax", include_self=False)
        else:
            agg = torch.zeros((v.shape[0], self.config.hidden), dtype=v.dtype, device=v.device)
        v1 = self.phi_o(torch.cat([v, agg], dim=1))
        return self.phi_r2(v1).squeeze(1)

    def forward(self, data) -> torch.Tensor:
        """Scores in (0, 1) of every segment of a ``FrameGraph``."""
        return torch.sigmoid(self.logits(data.x, data.edge_index, data.edge_u))

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def freeze_batchnorm(model: nn.Module, frozen: bool = True) -> nn.Module:
    """Put every BatchNorm layer in eval mode (running statistics fixed) while the rest keeps its mode."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.train(not frozen)
            for p in m.parameters():
                p.requires_grad_(True)
    return model


def functional_scores(model: EdgeScorer, params: dict[str, torch.Tensor], data,
                      buffers: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """Scores of ``data`` computed with the parameters ``params`` (names as in ``model.named_parameters()``)
    instead of the model's own, through ``torch.func.functional_call``."""
    from torch.func import functional_call

    state = dict(params)
    if buffers is not None:
        state.update(buffers)
    return functional_call(model, state, (data,), strict=False)
