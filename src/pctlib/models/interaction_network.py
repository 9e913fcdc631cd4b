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

Max aggregation uses ``torch.Tensor.scatter_reduce`` with a hand-written backward (``MaxAggregation``; deterministic
on the CPU; on CUDA scatter reductions and ``index_add`` may be non-deterministic, one source of the prediction
instability the paper measures). The encoding's product is evaluated in cache-sized blocks (``EncodingProjection``).
Both are tested against the plain formulation (explicit concatenation, torch's scatter_reduce) in
``tests/test_model_speed.py``; ``compile_scorer`` compiles the MLPs.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import NamedTuple

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

    def forward(self, v: torch.Tensor, src: torch.Tensor, dst: torch.Tensor, u: torch.Tensor,
                encoding: "EdgeEncoding | None" = None, mirrored: bool | None = None) -> torch.Tensor:
        """Edge messages e (edges x hidden). ``encoding``: the sin/cos of ``u`` from :meth:`encode_edges`, computed
        once and shared by several models scoring the same frame; None: computed here (block by block, fused with
        the product). ``mirrored``: :func:`is_mirrored` of ``u`` when the caller knows it (False is always safe),
        None: tested here (a read of the device's values, i.e. a host synchronisation on a GPU)."""
        w = self.lin0.weight
        d = self.d_node
        node_dst = v @ w[:, :d].t()
        node_src = v @ w[:, d:2 * d].t()
        mirrored = encoding.mirrored if encoding is not None else mirrored_of(u, mirrored)
        # index_select, not advanced indexing: its backward (index_add) is deterministic on multi-threaded CPUs,
        # the accumulate-put of x[idx] is not
        h = torch.index_select(node_dst, 0, dst)
        h = h + torch.index_select(node_src, 0, src)
        if mirrored:
            # a frame's line graph lists every segment pair twice, once per direction, with the same u: encode
            # the first half only (the sin/cos are the most expensive step) and add it to both halves
            m = u.shape[0] // 2
            h.view(2, m, h.shape[1]).add_(self._encode(u[:m], encoding))
        else:
            h.add_(self._encode(u, encoding))
        h = self.lin0_out(h.add_(self.lin0.bias))
        return self.rest(h)

    def encode_edges(self, u: torch.Tensor, mirrored: bool | None = None) -> "EdgeEncoding":
        """sin(w u / s) and cos(w u / s) of the edge scalars (of the first half only for a mirrored line graph):
        data, without gradient, that models with the same encoding settings can share. ``mirrored`` as in
        :meth:`forward`."""
        mirrored = mirrored_of(u, mirrored)
        x = u[: u.shape[0] // 2] if mirrored else u
        with torch.no_grad():
            arg = torch.outer(x.to(self.lin0.weight.dtype) / self.scaling, self.freq.to(self.lin0.weight.dtype))
            return EdgeEncoding(torch.sin(arg), torch.cos(arg), mirrored, self.d_enc, self.scaling)

    def _encode(self, u: torch.Tensor, encoding: "EdgeEncoding | None" = None) -> torch.Tensor:
        """The encoding's contribution to the first layer, W_sin sin(w u / s) + W_cos cos(w u / s) (the encoding's
        interleaved sin/cos columns of ``lin0``), without materialising enc(u) as one (n x d_enc) matrix."""
        w, d = self.lin0.weight, self.d_node
        if encoding is not None and (encoding.d_enc, encoding.scaling) != (self.d_enc, self.scaling):
            raise ValueError("a shared edge encoding must have the model's encoding_dim and encoding_scaling")
        sin, cos = (None, None) if encoding is None else (encoding.sin, encoding.cos)
        return EncodingProjection.apply(u.to(w.dtype) / self.scaling, self.freq.to(w.dtype), w[:, 2 * d::2],
                                        w[:, 2 * d + 1::2], sin, cos)


class EdgeEncoding(NamedTuple):
    """The sin and cos halves of the 128-d encoding of a frame's edge scalars (``EdgeMLP.encode_edges``)."""

    sin: torch.Tensor
    cos: torch.Tensor
    mirrored: bool
    d_enc: int
    scaling: float


class EncodingProjection(torch.autograd.Function):
    """y = sin(x w^T) A^T + cos(x w^T) B^T for a column x of n scalars, frequencies w (k), weights A, B (h x k).

    The sin/cos are evaluated in row blocks and each block is multiplied while it is still in the cache (the
    matrix products of a whole (n x k) matrix read it back from memory); sin and cos are kept for the weight
    gradient, A' = G^T sin, B' = G^T cos. Given precomputed ``sin`` and ``cos`` (shared by several models), only
    the products are computed. x is data: no gradient flows to it."""

    BLOCK = 8192

    @staticmethod
    def forward(ctx, x: torch.Tensor, freq: torch.Tensor, w_sin: torch.Tensor, w_cos: torch.Tensor,
                sin: torch.Tensor | None = None, cos: torch.Tensor | None = None) -> torch.Tensor:
        n, k = x.shape[0], freq.shape[0]
        given = sin is not None
        if not given:
            sin = torch.empty((n, k), dtype=x.dtype, device=x.device)
            cos = torch.empty_like(sin)
        elif sin.shape != (n, k) or cos.shape != (n, k):
            raise ValueError(f"a shared encoding of shape {tuple(sin.shape)} for {n} edges and {k} frequencies")
        out = torch.empty((n, w_sin.shape[0]), dtype=x.dtype, device=x.device)
        a_t, b_t = w_sin.t(), w_cos.t()
        step = EncodingProjection.BLOCK if x.device.type == "cpu" else max(n, 1)
        for a in range(0, n, step):
            z = min(n, a + step)
            if given:
                s, c = sin[a:z], cos[a:z]
            else:
                arg = torch.outer(x[a:z], freq)
                s, c = torch.sin(arg, out=sin[a:z]), torch.cos(arg, out=cos[a:z])
            torch.addmm(torch.mm(s, a_t), c, b_t, out=out[a:z])
        ctx.save_for_backward(sin, cos)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        sin, cos = ctx.saved_tensors
        g_t = grad.t()
        return None, None, g_t @ sin, g_t @ cos, None, None


def mirrored_of(u: torch.Tensor, known: bool | None) -> bool:
    """``known`` when given (the caller's knowledge of :func:`is_mirrored`; a wrong True gives wrong scores, a
    False only forgoes the halved encoding), else :func:`is_mirrored` of ``u``."""
    return is_mirrored(u) if known is None else bool(known)


def is_mirrored(u: torch.Tensor) -> bool:
    """Whether the edge scalars are a first half repeated (both directions of every pair, ``both_directions``)."""
    m = u.shape[0] // 2
    return bool(u.shape[0] % 2 == 0 and m and torch.equal(u[:m], u[m:]))


class MaxAggregation(torch.autograd.Function):
    """agg[n] = max over the edges e with dst[e] = n of e's message, channel by channel; 0 for a node without
    incoming edges (``scatter_reduce(..., "amax", include_self=False)`` on zeros).

    The gradient is that of torch's own ``scatter_reduce`` amax (the incoming gradient split evenly among the edges
    that attain the maximum; unlike torch's, never shared with the untouched initial zero when a maximum is exactly
    0), computed in fewer passes over the (edges x hidden) messages: torch's generic backward took ~20 % of a
    training step."""

    @staticmethod
    def forward(ctx, e: torch.Tensor, dst: torch.Tensor, n_nodes: int) -> torch.Tensor:
        out = torch.zeros((n_nodes, e.shape[1]), dtype=e.dtype, device=e.device)
        out.scatter_reduce_(0, dst.unsqueeze(1).expand_as(e), e, reduce="amax", include_self=False)
        ctx.save_for_backward(e, dst, out)
        return out

    #: device types on which the backward always splits the gradient among the winners, without first testing
    #: for ties: the test reads two numbers back to the host, a synchronisation a GPU step must not make (and the
    #: meta device has no numbers to read). Without
    #: ties the split divides by exactly 1, so both ways give the same gradient bit for bit (tested).
    SPLIT_WITHOUT_TEST = ("cuda", "meta")

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        e, dst, out = ctx.saved_tensors
        winner = (e == torch.index_select(out, 0, dst)).to(e.dtype)
        tie_free = False
        if e.device.type not in MaxAggregation.SPLIT_WITHOUT_TEST:
            receiving = int(torch.count_nonzero(torch.bincount(dst, minlength=out.shape[0])))
            tie_free = float(winner.sum()) == receiving * out.shape[1]
        if tie_free:
            share = grad  # one winner per node and channel: nothing to split
        else:  # ties (or not tested): split evenly, as torch does
            share = grad / torch.zeros_like(out).index_add_(0, dst, winner).clamp_min(1.0)
        return torch.index_select(share, 0, dst).mul_(winner), None, None


def max_aggregation(e: torch.Tensor, dst: torch.Tensor, n_nodes: int) -> torch.Tensor:
    """Channel-wise max of the messages ``e`` over the incoming edges of each of ``n_nodes`` nodes (Eq. 10)."""
    return MaxAggregation.apply(e, dst, n_nodes)


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

    def logits(self, x: torch.Tensor, edge_index: torch.Tensor, edge_u: torch.Tensor,
               encoding: EdgeEncoding | None = None, mirrored: bool | None = None) -> torch.Tensor:
        """Pre-sigmoid score of every line node (segment); ``encoding``: a shared ``phi_r1.encode_edges(edge_u)``;
        ``mirrored``: whether ``edge_u`` is mirrored, when the caller knows (``EdgeMLP.forward``)."""
        v = (x - self.x_mean) / self.x_std
        if edge_index.shape[1]:
            src, dst = edge_index
            e = self.phi_r1(v, src, dst, edge_u, encoding, mirrored)
            agg = max_aggregation(e, dst, v.shape[0])
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


def compile_scorer(model: EdgeScorer) -> EdgeScorer:
    """Compile (``torch.compile``, dynamic shapes, in place: parameter names unchanged) the three MLPs of a scorer;
    the encoding and the max aggregation stay eager (their custom autograd functions are already fused by hand).
    Results equal the eager model's to float rounding (tested); the first frame pays the compilation."""
    for part in (model.phi_r1.rest, model.phi_o, model.phi_r2):
        part.compile(dynamic=True)
    return model
