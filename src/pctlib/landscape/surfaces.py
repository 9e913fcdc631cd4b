"""2-D loss surfaces f(α, β) = L(θ* + α ν + β η) (paper Sec. 3.3, 5.2, Fig. 5 and 6): directions and the grid.

Directions are either the top-2 Hessian eigenvectors (the paper; ``landscape.hessian``) or filter-normalised random
directions (Li et al. 2018): a Gaussian direction rescaled, filter by filter (each output row of a weight matrix,
each entry of a bias or BatchNorm vector), to the norm of the matching filter of θ*, so that the surface does not
depend on the scale invariance BatchNorm gives the weights. Each grid point is evaluated by :class:`PointMetrics`
(the model at θ, BatchNorm at the running statistics of θ* as in Yang et al. 2021 and the paper's App. D): the
Hamming loss of the assignment, the BCE of the scores (both weighted as the model was trained) and the TPR/FPR of
the assigned segments. Grid points are independent: :func:`evaluate_surface` runs them in parallel
(``landscape.jobs``: a process pool, or Ray tasks) and keeps each finished point on disk
(``landscape.cache.PointCache``, keyed by the model, frames, metric definition and directions), so that a rerun or
a larger grid reuses what is done.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Callable

import numpy as np
import torch


def filter_normalised_direction(theta: list[torch.Tensor], seed: int = 0) -> list[torch.Tensor]:
    """A random direction d with N(0, 1) entries, each filter rescaled to ‖filter of θ‖ (Li et al. 2018, Sec. 4):
    a filter is a row of a weight (one output unit); 1-d tensors (biases, BatchNorm parameters) are rescaled entry
    by entry: |d_i| = |θ_i| with a random sign."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for t in theta:
        d = torch.randn(t.shape, generator=gen, dtype=torch.float64).to(t.dtype)
        if t.dim() >= 2:
            rows, ref = d.reshape(t.shape[0], -1), t.detach().reshape(t.shape[0], -1)
            scale = ref.norm(dim=1, keepdim=True) / rows.norm(dim=1, keepdim=True).clamp_min(1e-30)
            d = (rows * scale).reshape(t.shape)
        else:
            d = d.sign() * t.detach().abs()
        out.append(d)
    return out


def grid(alphas: np.ndarray, betas: np.ndarray) -> list[tuple[int, int, float, float]]:
    """Every point (i, j, α_i, β_j) of the grid, row-major in α."""
    return [(i, j, float(a), float(b)) for i, a in enumerate(alphas) for j, b in enumerate(betas)]


def shifted(theta: list[torch.Tensor], nu: list[torch.Tensor], eta: list[torch.Tensor], alpha: float,
            beta: float) -> list[torch.Tensor]:
    """θ + α ν + β η, tensor by tensor."""
    return [t + alpha * n + beta * e for t, n, e in zip(theta, nu, eta)]


#: version of the metric definitions of :class:`PointMetrics` (part of the cache key: a change invalidates points)
METRICS_VERSION = 1


class PointMetrics:
    """Metrics of ``model`` with parameters θ on ``frames``: ``hamming`` (the mean over frames of the Hamming loss
    of the assignment, paper Eq. 15, the loss PAT is trained on), ``bce`` (the mean over frames of the BCE of the
    scores, PTT's loss), both with the segment weights of ``config`` (a ``TrainConfig``; None: unit weights), and
    ``tpr`` / ``fpr`` of the assigned segments pooled over the frames. The model is a private copy in eval mode:
    BatchNorm uses the running statistics of θ* at every θ (``batch_statistics``: each frame's own batch
    statistics instead), and the caller's model is never touched. ``device``:
    where the model and frames are evaluated (moved there on first use, e.g. inside a worker process)."""

    #: the metrics of every point (a cached point must hold exactly these)
    METRICS = ("hamming", "bce", "tpr", "fpr")

    def __init__(self, model: torch.nn.Module, frames: list, config=None, device: str = "cpu",
                 batch_statistics: bool = False):
        from .hessian import frame_weights

        self.model = copy.deepcopy(model).eval()
        self.batch_statistics = bool(batch_statistics)
        if self.batch_statistics:
            # each frame normalised with its own batch statistics (BatchNorm in train mode, as the released curve
            # code evaluates); momentum 0 keeps the running statistics, and so the digest, unchanged
            for m in self.model.modules():
                if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                    m.train()
                    m.momentum = 0.0
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.frames = list(frames)
        self.weights = [frame_weights(g, config) if config is not None else None for g in self.frames]
        self.config = None if config is None else config.to_dict()
        self.device = str(device)
        self._encodings = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_encodings"] = None  # recomputed where used (large, and a pure function of the frames)
        return state

    def digest(self) -> str:
        """What determines the metrics at a given θ: the model's buffers, the frames, the weights' settings, the
        metric definitions (not θ itself: the caller keys points by θ* and the directions)."""
        from .cache import digest, frames_digest

        buffers = dict(self.model.named_buffers())
        return digest(sorted(buffers), [buffers[k] for k in sorted(buffers)], frames_digest(self.frames),
                      self.config, METRICS_VERSION, *(("batch statistics",) if self.batch_statistics else ()))

    @torch.no_grad()
    def __call__(self, theta: list[torch.Tensor]) -> dict[str, float]:
        import torch.nn.functional as F

        from ..assign.batch import assign_scores
        from ..assign.layout import layout_of_graph
        from ..assign.losses import hamming_loss

        if self._encodings is None:
            dev = torch.device(self.device)
            self.model.to(dev)
            self.frames = [g.to(dev) for g in self.frames]
            self.weights = [None if w is None else w.to(dev) for w in self.weights]
        for p, t in zip(self.model.parameters(), theta):
            p.copy_(t)
        if self._encodings is None:
            self._encodings = [self.model.phi_r1.encode_edges(g.edge_u) for g in self.frames]
        ham, bce, tp, fn, fp, tn = [], [], 0, 0, 0, 0
        for g, w, enc in zip(self.frames, self.weights, self._encodings):
            logits = self.model.logits(g.x, g.edge_index, g.edge_u, enc)
            s = torch.sigmoid(logits)
            y = torch.as_tensor(assign_scores(s.cpu().numpy(), layout_of_graph(g)), dtype=s.dtype, device=s.device)
            truth = g.y.to(s.dtype)
            ham.append(float(hamming_loss(y, truth, w)))
            bce.append(float(F.binary_cross_entropy_with_logits(logits, truth, weight=w)))
            t = truth.bool()
            a = y.bool()
            tp += int((a & t).sum())
            fn += int((~a & t).sum())
            fp += int((a & ~t).sum())
            tn += int((~a & ~t).sum())

        def r(x, n):
            return x / n if n else float("nan")

        return {"hamming": float(np.mean(ham)), "bce": float(np.mean(bce)), "tpr": r(tp, tp + fn),
                "fpr": r(fp, fp + tn)}


def _surface_chunk(context, chunk):
    fn, theta, nu, eta, cache = context
    out = []
    with torch.no_grad():
        for i, j, a, b in chunk:
            m = fn(shifted(theta, nu, eta, a, b))
            if cache is not None:
                cache.put(a, b, m)
            out.append((i, j, m))
    return out


def surface_cache(cache_root: str | Path, fn, theta, nu, eta):
    """The :class:`~pctlib.landscape.cache.PointCache` of ``fn``'s surface through θ along (ν, η) under
    ``cache_root``: one folder per (metric function, θ, ν, η); ``fn`` must have a ``digest()``."""
    from .cache import PointCache, digest

    if not hasattr(fn, "digest"):
        raise TypeError("a cached surface needs a metric function with a digest() (e.g. PointMetrics)")
    return PointCache(Path(cache_root) / digest(fn.digest(), theta, nu, eta)[:24], getattr(fn, "METRICS", None))


def evaluate_surface(fn: Callable[[list[torch.Tensor]], dict], theta: list[torch.Tensor], nu: list[torch.Tensor],
                     eta: list[torch.Tensor], alphas, betas, cache_root: str | Path | None = None, workers: int = 1,
                     threads: int = 1, engine: str | None = "local", progress: bool = False,
                     desc: str = "surface") -> dict[str, np.ndarray]:
    """``fn`` (parameters -> dict of scalar metrics, e.g. :class:`PointMetrics`) at every point of the grid
    θ + α ν + β η; one (len(alphas) x len(betas)) array per metric. Points already in the cache under
    ``cache_root`` are read, the others evaluated (in parallel: ``workers`` processes of ``threads`` threads, or
    Ray tasks; ``landscape.jobs``) and stored as they finish."""
    from .jobs import map_jobs

    alphas, betas = np.asarray(alphas, float), np.asarray(betas, float)
    cache = surface_cache(cache_root, fn, theta, nu, eta) if cache_root is not None else None
    out: dict[str, np.ndarray] = {}

    def store(i, j, metrics):
        for key, value in metrics.items():
            out.setdefault(key, np.full((alphas.size, betas.size), np.nan))[i, j] = float(value)

    todo = []
    for i, j, a, b in grid(alphas, betas):
        hit = cache.get(a, b) if cache is not None else None
        if hit is None:
            todo.append((i, j, a, b))
        else:
            store(i, j, hit)
    if todo:
        n_chunks = min(len(todo), max(4 * workers, alphas.size))  # a row's worth each, at least 4 per worker
        chunks = [todo[k::n_chunks] for k in range(n_chunks)]
        context = (fn, [t.detach() for t in theta], [t.detach() for t in nu], [t.detach() for t in eta], cache)
        for part in map_jobs(_surface_chunk, context, chunks, workers=workers, threads=threads, engine=engine,
                             progress=progress, desc=desc):
            for i, j, m in part:
                store(i, j, m)
    return out


def basin_width(values: np.ndarray, rel: float = 0.1) -> float:
    """Fraction of the surface's finite points within ``rel`` of its minimum, f - f_min <= rel |f_min| (Yang et
    al. 2021's width of the basin as the paper follows it: "within 10 %" by default); NaN if no point is finite."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan")
    low = v.min()
    return float(np.mean(v - low <= rel * abs(low)))


def convex_fraction(values: np.ndarray, spacing: tuple[float, float] = (1.0, 1.0)) -> float:
    """Fraction of the interior grid points at which the surface is locally convex: its finite-difference Hessian
    (central second differences, the mixed one from the four diagonal neighbours) is positive semidefinite
    (f_aa >= 0, f_bb >= 0, f_aa f_bb >= f_ab²). NaN when no interior point has finite neighbours. ``spacing``:
    the grid steps (Δα, Δβ); the sign test does not depend on them unless they differ."""
    f = np.asarray(values, float)
    if f.ndim != 2 or min(f.shape) < 3:
        raise ValueError(f"convex_fraction needs a 2-d grid of at least 3 x 3 points, got shape {f.shape}")
    da, db = spacing
    c = f[1:-1, 1:-1]
    faa = (f[2:, 1:-1] - 2 * c + f[:-2, 1:-1]) / da ** 2
    fbb = (f[1:-1, 2:] - 2 * c + f[1:-1, :-2]) / db ** 2
    fab = (f[2:, 2:] - f[2:, :-2] - f[:-2, 2:] + f[:-2, :-2]) / (4 * da * db)
    ok = np.isfinite(faa) & np.isfinite(fbb) & np.isfinite(fab)
    if not ok.any():
        return float("nan")
    convex = (faa >= 0) & (fbb >= 0) & (faa * fbb >= fab ** 2)
    return float(convex[ok].mean())


def sign_invariant_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two surfaces on the same grid, the largest over the four reflections of ``b``
    (α → ±α, β → ±β): eigenvectors have no sign, so a surface along (ν, η) and along (−ν, η) are one surface."""
    a = np.asarray(a, float)
    best = -np.inf
    for flip in ((), (0,), (1,), (0, 1)):
        bb = np.flip(np.asarray(b, float), axis=flip) if flip else np.asarray(b, float)
        ok = np.isfinite(a) & np.isfinite(bb)
        if ok.sum() > 2:
            best = max(best, float(np.corrcoef(a[ok], bb[ok])[0, 1]))
    return best if np.isfinite(best) else float("nan")
