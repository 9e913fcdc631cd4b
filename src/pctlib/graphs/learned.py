"""Learned graph construction (the thesis A. Jeendgar, Graph Neural Networks for charged particle tracking, undergraduate thesis, BITS Pilani, 2024, ch. 1 and 3): the losses an embedding of
hits is trained with, the alignment and uniformity of the embedding (Wang & Isola 2020), and segments built by
nearest neighbours in the embedding between adjacent layers.

Pairs are given as index tensors of shape (2, P): ``att`` the attractive pairs (two hits of one particle),
``rep`` the repulsive ones (hits of different particles, or a noise hit). Embedding distances are Euclidean.

* :func:`hinge_losses` — the composite loss of the thesis (Sec. 3.1): L_att = mean over attractive pairs of
  ‖h_i − h_j‖², L_rep = mean over repulsive pairs of ReLU(r² − ‖h_i − h_j‖²) (r = 1 in the thesis); the total is
  L_att + s_rep · L_rep.
* :func:`info_nce_loss` — supervised InfoNCE (thesis Sec. 3.2) with logits s(u, v) = −‖h_u − h_v‖² / τ: for each
  attractive pair (u, v⁺), −log( e^{s(u,v⁺)} / (e^{s(u,v⁺)} + Σ_{v⁻} e^{s(u,v⁻)}) ), the sum over the repulsive
  partners v⁻ of the anchor u, averaged over the attractive pairs. (The thesis' code listing normalises over all
  pairs of the batch at once; here each anchor's own negatives compete with its positive, the usual supervised
  form.) As τ → ∞ every logit tends to 0 and the loss of a pair tends to log(1 + n⁻(u)), n⁻(u) the anchor's number
  of negatives: the embedding no longer matters. An anchor without negatives contributes 0.
* :class:`HitEmbedder` (trained by :func:`fit_embedding` on the true / false segments of angular hit graphs) maps
  hits to the embedding; its ``edges`` are :func:`knn_between_layers` of a frame: the graph builder that
  ``GraphConfig(graph_builder="learned")`` selects (``graphs.modules``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch

from ..fileio import ContentDigest, pack_arrays, unpack_arrays


def _sq_dist(h: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    # index_select, not h[pairs[0]]: the backward of advanced indexing is index_put_ with accumulation, whose CPU
    # kernel adds in thread order (runs of the same seed differed from process to process); index_select's
    # backward is index_add_, deterministic on the CPU
    return (torch.index_select(h, 0, pairs[0]) - torch.index_select(h, 0, pairs[1])).pow(2).sum(-1)


def hinge_losses(h: torch.Tensor, att: torch.Tensor, rep: torch.Tensor, margin: float = 1.0
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """(L_att, L_rep) of the embedding ``h`` (module docstring); an empty pair set gives 0 (no term), so a batch
    without one kind of pair still trains on the other."""
    zero = h.sum() * 0.0
    l_att = _sq_dist(h, att).mean() if att.shape[1] else zero
    l_rep = torch.relu(margin ** 2 - _sq_dist(h, rep)).mean() if rep.shape[1] else zero
    return l_att, l_rep


def info_nce_loss(h: torch.Tensor, att: torch.Tensor, rep: torch.Tensor, tau: float) -> torch.Tensor:
    """Supervised InfoNCE of the embedding ``h`` at temperature ``tau`` (module docstring), vectorised: each
    anchor's negatives enter through a scattered log-sum-exp."""
    if not tau > 0:
        raise ValueError(f"tau must be positive, got {tau}")
    if att.shape[1] == 0:
        return h.sum() * 0.0
    s_pos = -_sq_dist(h, att) / tau
    n = h.shape[0]
    lse = torch.full((n,), float("-inf"), dtype=h.dtype, device=h.device)
    if rep.shape[1]:
        s_neg = -_sq_dist(h, rep) / tau
        peak = torch.full((n,), float("-inf"), dtype=h.dtype, device=h.device)
        peak = peak.scatter_reduce(0, rep[0], s_neg, reduce="amax", include_self=True).detach()
        total = torch.zeros(n, dtype=h.dtype, device=h.device).index_add(
            0, rep[0], torch.exp(s_neg - torch.index_select(peak, 0, rep[0])))
        has = total > 0
        lse = torch.where(has, torch.log(torch.where(has, total, torch.ones_like(total))) + peak, lse)
    # -log(e^p / (e^p + e^L)) = softplus(L - p); softplus(-inf) = 0 for an anchor without negatives
    return torch.nn.functional.softplus(torch.index_select(lse, 0, att[0]) - s_pos).mean()


def alignment(h: torch.Tensor, att: torch.Tensor, alpha: float = 2.0) -> float:
    """Wang & Isola's alignment: the mean of ‖h_i − h_j‖^α over the attractive pairs (NaN without any)."""
    if att.shape[1] == 0:
        return float("nan")
    return float(_sq_dist(h, att).sqrt().pow(alpha).mean())


def uniformity(h: torch.Tensor, t: float = 2.0) -> float:
    """Wang & Isola's uniformity: log of the mean over all pairs i < j of exp(−t ‖h_i − h_j‖²) (NaN for fewer than
    two points). Their definition is for unit-normalised features: normalise ``h`` first to compare with it."""
    if h.shape[0] < 2:
        return float("nan")
    d2 = torch.pdist(h.to(torch.float64)).pow(2)
    return float(torch.logsumexp(-t * d2, 0) - np.log(d2.numel()))


def knn_between_layers(h: np.ndarray, layer: np.ndarray, k: int) -> np.ndarray:
    """Segments by nearest neighbours in the embedding: for every hit of layer l, its ``k`` nearest hits of layer
    l + 1 (fewer if that layer has fewer), by scipy's cKDTree. Returns (2, E) hit indices (from, to), sorted by
    source hit and then distance."""
    from scipy.spatial import cKDTree

    h, layer = np.asarray(h, float), np.asarray(layer)
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    src, dst = [], []
    for l in np.unique(layer):
        a, b = np.flatnonzero(layer == l), np.flatnonzero(layer == l + 1)
        if not len(a) or not len(b):
            continue
        kk = min(k, len(b))
        _, idx = cKDTree(h[b]).query(h[a], k=kk)
        idx = np.asarray(idx).reshape(len(a), kk)
        src.append(np.repeat(a, kk))
        dst.append(b[idx].reshape(-1))
    if not src:
        return np.zeros((2, 0), dtype=np.int64)
    out = np.stack([np.concatenate(src), np.concatenate(dst)]).astype(np.int64)
    return out[:, np.argsort(out[0], kind="stable")]


# --- the hit embedding and the graph builder ---------------------------------------------------------------------

LOSSES = ("hinge", "infonce")
#: input columns of the embedding, from a preprocessed hit table
EMBED_INPUTS = ("posX", "posY", "posZ", "edep", "layer")


class EmbeddingError(ValueError):
    """An invalid embedding setting or an unusable training set."""


@dataclass(frozen=True)
class EmbeddingConfig:
    """An MLP embedding of hits (the thesis' ``GraphConstructionFCNN``: residual, ``alpha``, ``depth``, ``hidden``,
    ``dim`` output coordinates) trained on the segments of an angular hit graph: its true segments are the
    attractive pairs, its false ones the repulsive pairs (the hard negatives: hits a kNN search would reach).
    Segments are then the ``k`` nearest hits of the next layer in the embedding."""

    loss: str = "infonce"
    tau: float = 0.1
    #: hinge: repulsion radius r and weight s_rep of L_rep (thesis: r = 1)
    margin: float = 1.0
    s_rep: float = 1.0
    dim: int = 8
    hidden: int = 64
    depth: int = 3
    alpha: float = 0.6
    epochs: int = 10
    lr: float = 1e-3
    k: int = 4
    seed: int = 0

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise EmbeddingError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        for name in ("dim", "hidden", "epochs", "k"):
            if getattr(self, name) < 1:
                raise EmbeddingError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.tau > 0 or not self.margin > 0 or not self.lr > 0 or self.s_rep < 0:
            raise EmbeddingError("tau, margin and lr must be positive, s_rep non-negative")

    def to_dict(self) -> dict:
        return asdict(self)


def embedding_inputs(hits: np.ndarray) -> np.ndarray:
    """(N, 5) raw inputs of a hit table: x, y, z [mm], edep [MeV], layer."""
    return np.stack([np.asarray(hits[c], np.float64) for c in EMBED_INPUTS], 1) if len(hits) else np.zeros((0, 5))


def segment_pairs(edge_index: np.ndarray, truth: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """(att, rep) of a hit graph: its true and its false segments, source hit first (the anchor)."""
    ei = torch.as_tensor(np.asarray(edge_index), dtype=torch.long)
    t = torch.as_tensor(np.asarray(truth) > 0)
    return ei[:, t], ei[:, ~t]


@dataclass
class HitEmbedder(ContentDigest):
    """A trained embedding: ``embed`` hit tables, ``edges`` of a preprocessed frame by kNN between layers."""

    config: EmbeddingConfig
    mean: np.ndarray
    std: np.ndarray
    net: torch.nn.Module
    info: dict = field(default_factory=dict)
    _digest: str | None = field(default=None, repr=False, compare=False)

    def embed(self, hits: np.ndarray) -> np.ndarray:
        z = (embedding_inputs(hits) - self.mean) / self.std
        with torch.no_grad():
            return self.net(torch.as_tensor(z, dtype=torch.float32)).double().numpy()

    def edges(self, hits: np.ndarray, k: int | None = None) -> np.ndarray:
        """(2, E) segments of a frame's hits (sorted by layer, as ``frames.preprocess`` leaves them)."""
        if len(hits) == 0:
            return np.zeros((2, 0), np.int64)
        return knn_between_layers(self.embed(hits), np.asarray(hits["layer"]), k or self.config.k)

    def with_k(self, k: int) -> "HitEmbedder":
        """The same embedding building ``k`` segments per hit (a new digest: ``k`` is part of the configuration)."""
        return HitEmbedder(replace(self.config, k=k), self.mean, self.std, self.net, dict(self.info))

    def to_bytes(self) -> bytes:
        """The embedding as data only (``fileio.pack_arrays``): configuration and record as JSON, the input
        standardisation and the network's weights as arrays."""
        arrays = {f"state.{k}": v.detach().cpu().numpy() for k, v in self.net.state_dict().items()}
        return pack_arrays({"kind": "hit-embedder", "config": self.config.to_dict(), "info": self.info},
                           {"mean": np.asarray(self.mean), "std": np.asarray(self.std), **arrays})

    @classmethod
    def from_bytes(cls, data: bytes, what: str = "hit embedding") -> "HitEmbedder":
        """Inverse of :meth:`to_bytes`; bytes of any other form (a pickle included) raise ``ArraysError`` or
        :class:`EmbeddingError` naming ``what``, and nothing in them is run."""
        meta, arrays = unpack_arrays(data, what)
        try:
            if meta.get("kind") != "hit-embedder":
                raise EmbeddingError("not a hit embedding")
            cfg = EmbeddingConfig(**meta["config"])
            net = _embedding_network(cfg)
            net.load_state_dict({k[6:]: torch.as_tensor(v) for k, v in arrays.items() if k.startswith("state.")})
            net.eval()
            out = cls(cfg, arrays["mean"], arrays["std"], net, meta["info"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise EmbeddingError(f"{what}: unusable contents ({type(exc).__name__}: {exc})") from None
        return out.remember_digest(data)


def _embedding_network(cfg: EmbeddingConfig) -> torch.nn.Module:
    from ..preselect.fcnn import ResidualFCNN

    return ResidualFCNN(len(EMBED_INPUTS), cfg.dim, cfg.hidden, cfg.depth, cfg.alpha)


def embedding_loss(h: torch.Tensor, att: torch.Tensor, rep: torch.Tensor, config: EmbeddingConfig) -> torch.Tensor:
    if config.loss == "hinge":
        l_att, l_rep = hinge_losses(h, att, rep, config.margin)
        return l_att + config.s_rep * l_rep
    return info_nce_loss(h, att, rep, config.tau)


def fit_embedding(frames: list[tuple[np.ndarray, np.ndarray, np.ndarray]], config: EmbeddingConfig = EmbeddingConfig(),
                  progress: bool = True) -> HitEmbedder:
    """Train an embedding on frames given as (hits, edge_index, truth): a preprocessed hit table and the segments
    of its (angular) hit graph with their truth. One Adam step per frame, ``epochs`` passes in a seeded order;
    deterministic on the CPU."""
    from ..progress import progress_bar

    frames = [f for f in frames if len(f[0])]
    if not frames:
        raise EmbeddingError("no training frame holds a hit")
    raw = np.concatenate([embedding_inputs(h) for h, _, _ in frames])
    mean, std = raw.mean(0), raw.std(0)
    std = np.where(std > 0, std, 1.0)
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    net = _embedding_network(config)
    opt = torch.optim.Adam(net.parameters(), lr=config.lr)
    prepared = [(torch.as_tensor((embedding_inputs(h) - mean) / std, dtype=torch.float32), *segment_pairs(ei, y))
                for h, ei, y in frames]
    if not any(att.shape[1] for _, att, _ in prepared):
        raise EmbeddingError("the training frames hold no true segment")
    losses = []
    bar = progress_bar(total=config.epochs * len(prepared), desc=f"embedding ({config.loss})", unit="frame",
                       enabled=progress)
    for _ in range(config.epochs):
        total = 0.0
        for i in torch.randperm(len(prepared), generator=gen).tolist():
            x, att, rep = prepared[i]
            opt.zero_grad()
            loss = embedding_loss(net(x), att, rep, config)
            loss.backward()
            opt.step()
            total += loss.item()
            bar.update(1)
        losses.append(total / len(prepared))
    bar.close()
    net.eval()
    return HitEmbedder(config, mean, std, net, {"loss": losses, "train_frames": len(prepared)})


def embedding_quality(embedder: HitEmbedder, frames: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                      max_points: int = 2000, seed: int = 0) -> dict:
    """Wang & Isola's alignment (α = 2) over the true segments and uniformity (t = 2) over up to ``max_points``
    hits per frame, both of the unit-normalised embedding (their definitions are for points on the sphere), averaged
    over frames: {'alignment', 'uniformity'}."""
    rng = np.random.default_rng(seed)
    al, un = [], []
    for hits, ei, y in frames:
        if len(hits) < 2:
            continue
        h = torch.as_tensor(embedder.embed(hits))
        h = h / h.norm(dim=1, keepdim=True).clamp_min(1e-12)
        att, _ = segment_pairs(ei, y)
        if att.shape[1]:
            al.append(alignment(h, att))
        pick = rng.choice(len(hits), size=min(max_points, len(hits)), replace=False)
        un.append(uniformity(h[torch.as_tensor(pick)]))
    return {"alignment": float(np.mean(al)) if al else float("nan"),
            "uniformity": float(np.mean(un)) if un else float("nan")}
