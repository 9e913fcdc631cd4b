"""Representational and functional similarity of trained scorers (paper Sec. 3.3, 5.3, App. D, F; Fig. 7 and 10).

Representational: linear CKA (Kornblith et al. 2019) with the unbiased HSIC estimator accumulated over minibatches
(Nguyen et al. 2020): for a minibatch of n rows with activations X (n x p) and Y (n x q) of two models, the linear
Gram matrices K = X Xᵀ, L = Y Yᵀ with their diagonals set to zero give

    HSIC₁(K, L) = [tr(K L) + (1ᵀK1)(1ᵀL1) / ((n−1)(n−2)) − 2/(n−2) 1ᵀK L 1] / (n (n−3)),

an unbiased estimate of HSIC (Song et al. 2012; needs n ≥ 4), and over minibatches b

    CKA = Σ_b HSIC₁(K_b, L_b) / √(Σ_b HSIC₁(K_b, K_b) · Σ_b HSIC₁(L_b, L_b)).

Functional: the disagreement of two models' predictions (Eq. 5), here the assignments of the segments (0/1), its
bounds |q₁ − q₂| ≤ d ≤ min(q₁ + q₂, 1) by the two error rates (Eq. 6), and the min-max normalised disagreement
d_norm = (d − min) / (max − min) (Eq. 7). Activations come from forward hooks on the named layers
(:data:`LAYERS`: the output of every linear layer of φ_R1, φ_O and φ_R2), models in eval mode, at most
``rows_per_graph`` rows per frame and layer (paper App. D: 80), the same rows for every model (chosen from the frame
and the layer's row count, never from the model).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch


class SimilarityError(ValueError):
    """A similarity that cannot be computed as asked (too few rows for the unbiased estimator, mismatched rows)."""


def _gram(x: torch.Tensor) -> torch.Tensor:
    x = x.to(torch.float64)
    k = x @ x.T
    k.fill_diagonal_(0.0)
    return k


def hsic_unbiased(k: torch.Tensor, l: torch.Tensor) -> float:
    """HSIC₁ of two symmetric n x n Gram matrices whose diagonals are zero (module docstring); n ≥ 4."""
    n = k.shape[0]
    if n < 4:
        raise SimilarityError(f"the unbiased HSIC estimator needs at least 4 rows, got {n}")
    # O(n²) for symmetric K, L: tr(KL) = Σ K∘L and 1ᵀKL1 = (K1)·(L1), no n x n product
    k1, l1 = k.sum(1), l.sum(1)
    value = (torch.sum(k * l) + k1.sum() * l1.sum() / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * (k1 @ l1))
    return float(value / (n * (n - 3)))


@dataclass
class MinibatchCKA:
    """Linear CKA accumulated over minibatches (module docstring): ``update(x, y)`` with the two models'
    activations of the same rows, ``value()`` at the end."""

    kl: float = 0.0
    kk: float = 0.0
    ll: float = 0.0
    batches: int = 0
    rows: list = field(default_factory=list)

    def update(self, x: torch.Tensor, y: torch.Tensor) -> None:
        if x.shape[0] != y.shape[0]:
            raise SimilarityError(f"the two activations must have the same rows, got {x.shape[0]} and {y.shape[0]}")
        x, y = x.reshape(x.shape[0], -1), y.reshape(y.shape[0], -1)
        k, l = _gram(x), _gram(y)
        self.kl += hsic_unbiased(k, l)
        self.kk += hsic_unbiased(k, k)
        self.ll += hsic_unbiased(l, l)
        self.batches += 1
        self.rows.append(int(x.shape[0]))

    def value(self) -> float:
        """The CKA so far; NaN when a representation is constant (zero HSIC with itself) or nothing was added."""
        if self.batches == 0 or self.kk <= 0 or self.ll <= 0:
            return float("nan")
        return float(self.kl / np.sqrt(self.kk * self.ll))


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Full-batch linear CKA with centred features (Kornblith et al. 2019): ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F) — the
    biased estimator, the reference the minibatch estimate converges to for many rows."""
    x = x.reshape(x.shape[0], -1).to(torch.float64)
    y = y.reshape(y.shape[0], -1).to(torch.float64)
    x = x - x.mean(0)
    y = y - y.mean(0)
    num = torch.linalg.matrix_norm(y.T @ x) ** 2
    den = torch.linalg.matrix_norm(x.T @ x) * torch.linalg.matrix_norm(y.T @ y)
    return float(num / den) if den > 0 else float("nan")


def disagreement(y1: np.ndarray, y2: np.ndarray) -> float:
    """d(f₁, f₂) (Eq. 5): the share of segments whose assignment (0/1) differs between the two models; NaN for no
    segments."""
    y1, y2 = np.asarray(y1), np.asarray(y2)
    if y1.shape != y2.shape:
        raise SimilarityError(f"assignments of different shapes: {y1.shape} and {y2.shape}")
    return float(np.mean(y1 != y2)) if y1.size else float("nan")


def normalised_disagreement(y1: np.ndarray, y2: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Disagreement, the error rates q₁, q₂ against ``truth``, the bounds of Eq. 6 and d_norm of Eq. 7.

    Keys: ``d``, ``q1``, ``q2``, ``d_min`` = |q₁ − q₂|, ``d_max`` = min(q₁ + q₂, 1), ``d_norm``, ``d_active``.
    The denominator of d, q₁, q₂ is every candidate segment (every edge of the hit graph, the set the paper's loss
    labels), so the many easy rejections make d small; ``d_active`` is the same disagreement over the segments that
    the truth or either model marks active (NaN if there are none), the scale of the tracks themselves. d_norm is
    NaN when the bounds coincide (d_max = d_min, e.g. two perfect models: no disagreement is possible, so none can
    be normalised); otherwise it lies in [0, 1] (0: the least disagreement their errors allow; 1: the most)."""
    truth = np.asarray(truth)
    d = disagreement(y1, y2)
    active = (np.asarray(y1) != 0) | (np.asarray(y2) != 0) | (truth != 0)
    d_active = disagreement(np.asarray(y1)[active], np.asarray(y2)[active])
    q1, q2 = disagreement(y1, truth), disagreement(y2, truth)
    lo, hi = abs(q1 - q2), min(q1 + q2, 1.0)
    span = hi - lo
    return {"d": d, "q1": q1, "q2": q2, "d_min": lo, "d_max": hi,
            "d_norm": float((d - lo) / span) if span > 0 else float("nan"), "d_active": d_active}


def welch_test(a, b, alternative: str = "less") -> dict[str, float]:
    """Welch's t-test (unequal variances) of the means of ``a`` and ``b`` (scipy's ``ttest_ind(equal_var=False)``),
    one-sided by default as in the paper's App. F (H₁: mean(a) < mean(b)). Returns t, the p-value, the
    Welch–Satterthwaite degrees of freedom and the two sample sizes."""
    from scipy import stats

    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size < 2 or b.size < 2:
        raise SimilarityError(f"Welch's test needs at least 2 values per group, got {a.size} and {b.size}")
    res = stats.ttest_ind(a, b, equal_var=False, alternative=alternative)
    return {"t": float(res.statistic), "p": float(res.pvalue), "df": float(res.df), "n_a": int(a.size),
            "n_b": int(b.size)}


def welch_interval(a, b, level: float = 0.95) -> dict[str, float]:
    """The two-sided Welch (Welch–Satterthwaite) confidence interval at ``level`` for mean(a) − mean(b), by scipy's
    ``ttest_ind(equal_var=False).confidence_interval``: what the pair-level test believes about the difference if
    every value were an independent sample — the interval to set beside :func:`seed_bootstrap`'s."""
    from scipy import stats

    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size < 2 or b.size < 2:
        raise SimilarityError(f"Welch's interval needs at least 2 values per group, got {a.size} and {b.size}")
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(confidence_level=level)
    return {"difference": float(a.mean() - b.mean()), "low": float(ci.low), "high": float(ci.high)}


def permutation_p(a, b, alternative: str = "less", resamples: int = 1000, seed: int = 0) -> float:
    """Permutation p-value of the difference of means (scipy's ``permutation_test``, ``resamples`` relabellings,
    seeded), the distribution-free check beside :func:`welch_test`."""
    from scipy import stats

    res = stats.permutation_test((np.asarray(a, float), np.asarray(b, float)),
                                 lambda x, y: np.mean(x) - np.mean(y), permutation_type="independent",
                                 alternative=alternative, n_resamples=resamples, rng=np.random.default_rng(seed))
    return float(res.pvalue)


def holm(pvalues, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Holm's step-down correction for multiple tests (statsmodels ``multipletests``): (reject, adjusted p)."""
    from statsmodels.stats.multitest import multipletests

    reject, adjusted, _, _ = multipletests(np.asarray(pvalues, float), alpha=alpha, method="holm")
    return reject, adjusted


#: the hooked layers: the output of each linear layer (before its BatchNorm) of phi_R1 (rows: segment pairs of the
#: line graph), phi_O and phi_R2 (rows: segments)
LAYERS = ("phi_r1.lin0_out", "phi_r1.rest.lin1", "phi_r1.rest.lin2", "phi_o.lin0", "phi_o.lin1", "phi_o.lin2",
          "phi_r2.lin0", "phi_r2.lin1", "phi_r2.lin2")


def sample_rows(n: int, frame: int, rows_per_graph: int, seed: int = 0) -> np.ndarray:
    """Indices of at most ``rows_per_graph`` of ``n`` rows, sorted, drawn without replacement from a generator
    seeded by (seed, frame, n): the same for every model and for every layer with n rows."""
    if n <= rows_per_graph:
        return np.arange(n)
    return np.sort(np.random.default_rng([seed, frame, n]).choice(n, rows_per_graph, replace=False))


@torch.no_grad()
def layer_activations(model: torch.nn.Module, frames: list, layers=LAYERS, rows_per_graph: int = 80,
                      seed: int = 0) -> dict[str, torch.Tensor]:
    """The sampled activations (rows x width, float64) of each named layer over ``frames``, the model in eval mode
    (its mode is restored; nothing of it changes). A layer name that the model lacks is an error naming it."""
    modules = dict(model.named_modules())
    missing = [n for n in layers if n not in modules]
    if missing:
        raise SimilarityError(f"the model has no layer(s) {missing}; known: {[n for n in modules if n]}")
    out: dict[str, list[torch.Tensor]] = {n: [] for n in layers}
    frame_index = {"k": 0}

    def hook(name):
        def store(_module, _inputs, output):
            rows = sample_rows(output.shape[0], frame_index["k"], rows_per_graph, seed)
            out[name].append(output.detach()[torch.as_tensor(rows, device=output.device)].to(torch.float64).cpu())
        return store

    handles = [modules[n].register_forward_hook(hook(n)) for n in layers]
    was = model.training
    model.eval()
    try:
        for k, g in enumerate(frames):
            frame_index["k"] = k
            model.logits(g.x, g.edge_index, g.edge_u)
    finally:
        for h in handles:
            h.remove()
        model.train(was)
    return {n: torch.cat(v) for n, v in out.items()}


def layer_cka(acts_a: dict[str, torch.Tensor], acts_b: dict[str, torch.Tensor], batch: int = 1024,
              seed: int = 0) -> dict[str, float]:
    """Minibatch CKA (unbiased HSIC) per layer of two models' activations of the same rows: the rows are shuffled
    (one permutation for both models, seeded) and cut into minibatches of ``batch``; a last minibatch of fewer
    than 4 rows is left out (the estimator needs 4)."""
    out = {}
    for name, a in acts_a.items():
        b = acts_b[name]
        if a.shape[0] != b.shape[0]:
            raise SimilarityError(f"{name}: {a.shape[0]} and {b.shape[0]} rows; the two models must see the same rows")
        perm = torch.as_tensor(np.random.default_rng(seed).permutation(a.shape[0]))
        acc = MinibatchCKA()
        for start in range(0, a.shape[0], batch):
            idx = perm[start:start + batch]
            if idx.numel() >= 4:
                acc.update(a[idx], b[idx])
        if acc.batches == 0:
            raise SimilarityError(f"{name}: only {a.shape[0]} rows; CKA needs a minibatch of at least 4")
        out[name] = acc.value()
    return out


@dataclass
class ModelView:
    """What the similarity of a model to others needs: its sampled layer activations and its assignment of every
    segment of the frames (concatenated), with the truth."""

    activations: dict
    assignment: np.ndarray
    truth: np.ndarray


def model_view(model: torch.nn.Module, frames: list, layers=LAYERS, rows_per_graph: int = 80,
               seed: int = 0) -> ModelView:
    """:func:`layer_activations` and the assignment (``assign.batch.assign_scores`` of the eval-mode scores) of
    ``model`` on ``frames``."""
    from ..assign.batch import assign_scores
    from ..assign.layout import layout_of_graph

    acts = layer_activations(model, frames, layers, rows_per_graph, seed)
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            ys = [assign_scores(torch.sigmoid(model.logits(g.x, g.edge_index, g.edge_u)).cpu().numpy(),
                                layout_of_graph(g)) for g in frames]
    finally:
        model.train(was)
    truth = np.concatenate([g.y.cpu().numpy().astype(np.int8) for g in frames])
    return ModelView(acts, np.concatenate(ys).astype(np.int8), truth)


def pair_similarity(a: ModelView, b: ModelView, batch: int = 1024, seed: int = 0) -> dict:
    """CKA per layer and the (normalised) disagreement of the assignments of two models on the same frames:
    ``{"cka": {layer: value}, "d": ..., "q1": ..., "q2": ..., "d_min": ..., "d_max": ..., "d_norm": ...}``."""
    if not np.array_equal(a.truth, b.truth):
        raise SimilarityError("the two views are of different frames")
    return {"cka": layer_cka(a.activations, b.activations, batch, seed),
            **normalised_disagreement(a.assignment, b.assignment, a.truth)}


#: version of the similarity computations (part of the cache keys)
SIMILARITY_VERSION = 1
#: version of what a pair's record holds (part of the pair cache keys only: the views stay valid)
PAIR_VERSION = 2


def _view_job(context, k):
    models, frames, settings, cache_dir = context
    return model_view_cached(models[k], frames, cache_dir=cache_dir, **settings)


def view_key(model, frames: list, layers=LAYERS, rows_per_graph: int = 80, seed: int = 0) -> str:
    """What determines a model's view: the model, the frames, the layers, the row sampling, the code version."""
    from .cache import digest, frames_digest, model_digest

    return digest(model_digest(model), frames_digest(frames), list(layers), rows_per_graph, seed,
                  SIMILARITY_VERSION)[:24]


def _pair_job(context, item):
    views, keys, batch, seed, cache_dir = context
    i, j = item
    return pair_similarity_cached(views[i], views[j], keys[i], keys[j], batch, seed, cache_dir)


def pair_similarity_cached(a: ModelView, b: ModelView, key_a: str, key_b: str, batch: int = 1024, seed: int = 0,
                           cache_dir=None) -> dict:
    """:func:`pair_similarity`, kept per pair in ``cache_dir`` (a JSON keyed by the two views' keys, the minibatch
    size and the seed; written atomically)."""
    import json
    from pathlib import Path

    from ..fileio import write_json_atomic
    from .cache import digest

    name = f"pair_{digest(key_a, key_b, batch, seed, PAIR_VERSION)[:24]}.json"
    path = None if cache_dir is None else Path(cache_dir) / "pairs" / name
    if path is not None and path.is_file():
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            pass
    result = pair_similarity(a, b, batch, seed)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, result)
    return result


def model_view_cached(model, frames: list, layers=LAYERS, rows_per_graph: int = 80, seed: int = 0,
                      cache_dir=None) -> ModelView:
    """:func:`model_view`, kept in ``cache_dir`` (one file per model digest, frames digest and settings; written
    atomically) and read from there when present."""
    from pathlib import Path

    from .cache import load_torch, save_torch_atomic

    key = view_key(model, frames, layers, rows_per_graph, seed)
    path = None if cache_dir is None else Path(cache_dir) / f"view_{key}.pt"
    def check(hit):
        acts, a, t = hit["activations"], hit["assignment"], hit["truth"]
        if set(acts) != set(layers):
            raise ValueError(f"layers {sorted(acts)}, expected {sorted(layers)}")
        rows = {v.shape[0] for v in acts.values() if isinstance(v, torch.Tensor) and v.ndim == 2}
        if len(rows) != 1 or len([v for v in acts.values() if isinstance(v, torch.Tensor)]) != len(acts):
            raise ValueError("activations are not matrices with one row count")
        if a.ndim != 1 or t.shape != a.shape:
            raise ValueError("assignment and truth are not one vector each of the same length")

    if path is not None:
        hit = load_torch(path, check)
        if hit is not None:
            return ModelView(hit["activations"], hit["assignment"].numpy(), hit["truth"].numpy())
    view = model_view(model, frames, layers, rows_per_graph, seed)
    if path is not None:
        save_torch_atomic(path, {"activations": view.activations, "assignment": torch.as_tensor(view.assignment),
                                 "truth": torch.as_tensor(view.truth)})
    return view


def pair_tables(labels: list[str], models: list, frames: list, layers=LAYERS, rows_per_graph: int = 80,
                batch: int = 1024, seed: int = 0, cache_dir=None, workers: int = 1, threads: int = 1,
                engine: str | None = "local", progress: bool = True):
    """Every unordered pair of ``models`` (labels give their names): the tidy tables (model_a, model_b, layer,
    cka) and (model_a, model_b, d, q_a, q_b, d_min, d_max, d_norm, d_active). The models' views (the forward
    passes, the costly part) and then the pairs run as independent jobs in parallel (``landscape.jobs``), each
    cached (views per model, frames and settings; pairs per the two views, minibatch size and seed)."""
    from .jobs import map_jobs

    if len(set(labels)) != len(labels) or len(labels) != len(models):
        raise SimilarityError("labels must name each model once")
    settings = dict(layers=tuple(layers), rows_per_graph=rows_per_graph, seed=seed)
    views = map_jobs(_view_job, (models, frames, settings, cache_dir), list(range(len(models))), workers=workers,
                     threads=threads, engine=engine, progress=progress, desc="model views")
    keys = [view_key(m, frames, layers, rows_per_graph, seed) for m in models]
    pairs = [(i, j) for i in range(len(models)) for j in range(i + 1, len(models))]
    results = map_jobs(_pair_job, (views, keys, batch, seed, cache_dir), pairs, workers=workers, threads=threads,
                       engine=engine, progress=progress, desc="pairs")
    cka_rows, dis_rows = [], []
    for (i, j), r in zip(pairs, results):
        cka_rows += [{"model_a": labels[i], "model_b": labels[j], "layer": n, "cka": v} for n, v in r["cka"].items()]
        dis_rows.append({"model_a": labels[i], "model_b": labels[j], "d": r["d"], "q_a": r["q1"], "q_b": r["q2"],
                         "d_min": r["d_min"], "d_max": r["d_max"], "d_norm": r["d_norm"],
                         "d_active": r["d_active"]})
    return pd.DataFrame(cka_rows), pd.DataFrame(dis_rows)


def combination(conf_a: str, conf_b: str, order: list[str]) -> str:
    """The label of a configuration pair, its two configurations in ``order`` (e.g. ``PTT | PAT λ=25``)."""
    a, b = sorted((conf_a, conf_b), key=order.index)
    return f"{a} | {b}"


def combination_tests(values, groups, order: list[str] | None = None, resamples: int = 1000,
                      seed: int = 0):
    """Fig. 10 of the paper: for every ordered pair of groups (a, b) of pair values (disagreements of the model
    pairs of each configuration combination), Welch's one-sided test of H₁: mean(a) < mean(b), its permutation
    p-value (``resamples``) and Holm's adjustment over all tests of the table. Groups with fewer than 2 values are
    left out. The values of one group share models (a model is in several pairs), so they are not independent:
    the p-values are indicative, and :func:`seed_bootstrap` gives the robust check."""
    values, groups = np.asarray(values, float), np.asarray(groups)
    order = order or list(dict.fromkeys(groups.tolist()))
    usable = [g for g in order if (groups == g).sum() >= 2]
    rows = []
    for ga in usable:
        for gb in usable:
            if ga == gb:
                continue
            a, b = values[groups == ga], values[groups == gb]
            w = welch_test(a, b, "less")
            rows.append({"a": ga, "b": gb, "mean_a": float(a.mean()), "mean_b": float(b.mean()), "t": w["t"],
                         "df": w["df"], "p": w["p"], "p_perm": permutation_p(a, b, "less", resamples, seed),
                         "n_a": w["n_a"], "n_b": w["n_b"]})
    out = pd.DataFrame(rows)
    if len(out):
        out["p_holm"] = holm(out["p"].to_numpy())[1]
    return out


def seed_evidence(pairs, group_a: str, group_b: str | None, value: str, shift: float = 0.0,
                  resamples: int = 1000, seed: int = 0):
    """:func:`seed_bootstrap` as evidence for the claims rule (``pctlib.claims.Evidence``): θ = mean(value | a) −
    mean(value | b) (b None: mean(value | a)) − ``shift``, with the bootstrap draws. No uncertainty (NaN) when a
    configuration of the two groups has fewer than 3 seeds (resampling one seed gives no spread, and two seeds
    have a single within pair, whose value every resample that keeps it repeats: no spread either, not
    certainty), when a group has no pairs, or when no resample kept both groups."""
    from ..claims import Evidence

    rows = pairs[pairs["group"].isin([g for g in (group_a, group_b) if g is not None])]
    seeds = pd.concat([rows[["conf_a", "seed_a"]].set_axis(["conf", "seed"], axis=1),
                       rows[["conf_b", "seed_b"]].set_axis(["conf", "seed"], axis=1)]).groupby("conf")["seed"].nunique()
    if len(seeds) == 0 or seeds.min() < 3:
        # the estimate itself is still reported (the table shows it), only its uncertainty is missing
        v = rows[value].to_numpy(float)
        in_a, in_b = (rows["group"] == group_a).to_numpy(), (rows["group"] == group_b).to_numpy()
        est = (np.nan if not in_a.any() or (group_b is not None and not in_b.any()) else
               v[in_a].mean() - (v[in_b].mean() if group_b is not None else 0.0) - shift)
        return Evidence.normal(float(est), np.nan, method="a configuration with fewer than 3 seeds: no uncertainty")
    try:
        r = seed_bootstrap(pairs, group_a, group_b, value, resamples=resamples, seed=seed, return_draws=True)
    except SimilarityError as exc:
        return Evidence.normal(np.nan, np.nan, method=str(exc))
    if not len(r["draws"]):
        return Evidence.normal(r["difference"] - shift, np.nan, method="no bootstrap resample kept both groups")
    return Evidence.bootstrap(r["difference"] - shift, r["draws"] - shift,
                              method=f"seed bootstrap, {r['resamples']} resamples")


def seed_bootstrap(pairs, group_a: str, group_b: str | None, value: str = "d", resamples: int = 1000, seed: int = 0,
                   level: float = 0.95, return_draws: bool = False) -> dict[str, float]:
    """Seed-level (cluster) bootstrap of mean(value | group_a) − mean(value | group_b) over model pairs.

    ``pairs``: a table with ``conf_a``, ``seed_a``, ``conf_b``, ``seed_b``, ``group`` and ``value``. Each resample
    draws, for every configuration, its seeds with replacement; a model pair then counts as often as the product of
    its two models' draws (pairs of a model with itself do not exist, so none are made). This resamples the unit
    that is independent — the training run — instead of the pairs, which share models. Returns the observed
    difference, the percentile interval at ``level`` and the share of resamples with a difference below 0.
    ``group_b`` None: the mean of group_a itself (minus 0). ``return_draws``: also the resampled differences
    (``draws``, for ``pctlib.claims.Evidence.bootstrap``)."""
    df = pairs.reset_index(drop=True)
    confs = sorted(set(df["conf_a"]) | set(df["conf_b"]))
    seeds = {c: sorted(set(df.loc[df["conf_a"] == c, "seed_a"]) | set(df.loc[df["conf_b"] == c, "seed_b"]))
             for c in confs}
    in_a = (df["group"] == group_a).to_numpy()
    in_b = (df["group"] == group_b).to_numpy() if group_b is not None else None
    if in_a.sum() == 0 or (in_b is not None and in_b.sum() == 0):
        raise SimilarityError(f"no pairs in group {group_a!r} or {group_b!r}")
    v = df[value].to_numpy(float)

    def diff(weights):
        wa = weights * in_a
        if wa.sum() == 0:
            return np.nan
        if in_b is None:
            return float((wa * v).sum() / wa.sum())
        wb = weights * in_b
        if wb.sum() == 0:
            return np.nan
        return float((wa * v).sum() / wa.sum() - (wb * v).sum() / wb.sum())

    rng = np.random.default_rng(seed)
    observed = diff(np.ones(len(df)))
    draws = []
    for _ in range(resamples):
        count = {}
        for c in confs:
            picked = rng.choice(seeds[c], size=len(seeds[c]), replace=True)
            for s in seeds[c]:
                count[(c, s)] = int((picked == s).sum())
        w = np.array([count[(r.conf_a, r.seed_a)] * count[(r.conf_b, r.seed_b)] for r in df.itertuples()], float)
        draws.append(diff(w))
    draws = np.array(draws)
    draws = draws[np.isfinite(draws)]
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2]) if draws.size else (np.nan, np.nan)
    out = {"difference": observed, "low": float(lo), "high": float(hi),
           "share_below_0": float(np.mean(draws < 0)) if draws.size else float("nan"), "resamples": int(draws.size)}
    if return_draws:
        out["draws"] = draws
    return out


#: the scorer's three modules, whose layers the released code compares with each other (its R1, O, R2)
MODULES = ("phi_r1", "phi_o", "phi_r2")


def module_layers(model: torch.nn.Module, module: str) -> list[str]:
    """The leaf layers (linear, BatchNorm, activation, the first layer's output marker) of one module of the
    scorer, in order: every layer whose output the released code's similarity hooks."""
    root = dict(model.named_modules())[module]
    return [f"{module}.{n}" for n, m in root.named_modules() if n and not list(m.children())]


class _BlockTerms:
    """What the unbiased HSIC of linear kernels needs of several layers' features of one minibatch (the layers
    side by side in one matrix), so that the HSIC of every pair of layers of two models is a few matrix products.
    Per layer with features X (n x p), K = X Xᵀ with its diagonal set to zero: a_i = |x_i|², the row sums
    r = K1 = X (Xᵀ1) − a and the total 1ᵀK1; then Σ K∘L = ‖XᵀY‖²_F − a·b and 1ᵀK L 1 = r_K·r_L, so the cost is
    n p q instead of n² (p + q), without n x n matrices."""

    def __init__(self, xs: list[torch.Tensor]):
        xs = [x.to(torch.float64) for x in xs]
        self.n = xs[0].shape[0]
        if self.n < 4:
            raise SimilarityError(f"the unbiased HSIC estimator needs at least 4 rows, got {self.n}")
        self.x = torch.cat(xs, 1)
        self.starts = np.cumsum([0] + [x.shape[1] for x in xs])[:-1]
        self.a = torch.stack([(x * x).sum(1) for x in xs])  # layers x n
        cols = [x.sum(0) for x in xs]
        self.r = torch.stack([x @ c for x, c in zip(xs, cols)]) - self.a
        self.total = torch.stack([c @ c for c in cols]) - self.a.sum(1)
        self.self_hsic = np.array([self._combine(float(torch.sum((x.T @ x) ** 2)), i, self, i) for i, x in
                                   enumerate(xs)])

    def _combine(self, frob, i, other, j):
        n = self.n
        value = (frob - float(self.a[i] @ other.a[j]) + float(self.total[i] * other.total[j]) / ((n - 1) * (n - 2))
                 - 2.0 / (n - 2) * float(self.r[i] @ other.r[j]))
        return value / (n * (n - 3))

    def cross_hsic(self, other: "_BlockTerms") -> np.ndarray:
        """HSIC₁ of every (layer of self, layer of other) pair: a (layers x layers) array."""
        n = self.n
        sq = ((self.x.T @ other.x) ** 2).numpy()
        frob = np.add.reduceat(np.add.reduceat(sq, self.starts, axis=0), other.starts, axis=1)
        value = (frob - (self.a @ other.a.T).numpy() + np.outer(self.total.numpy(), other.total.numpy())
                 / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * (self.r @ other.r.T).numpy())
        return value / (n * (n - 3))


@torch.no_grad()
def released_activations(model: torch.nn.Module, frames: list, rows_cap: int = 80 * 1024
                         ) -> list[dict[str, torch.Tensor]]:
    """Per frame, the outputs (first ``rows_cap`` rows, float64) of every leaf layer of the three modules that
    runs (:func:`module_layers`), the model in eval mode (its mode restored): what :func:`released_cka` compares.
    Computed once per model, shared by all its pairs."""
    names = [n for m in MODULES for n in module_layers(model, m)]
    mods = dict(model.named_modules())
    store: dict[str, torch.Tensor] = {}

    def hook(name):
        def keep(_module, _inputs, output):
            store[name] = output.detach()[:rows_cap].to(torch.float64).cpu()
        return keep

    handles = [mods[n].register_forward_hook(hook(n)) for n in names]
    was = model.training
    model.eval()
    out = []
    try:
        for g in frames:
            store.clear()
            model.logits(g.x, g.edge_index, g.edge_u)
            out.append(dict(store))
    finally:
        for h in handles:
            h.remove()
        model.train(was)
    return out


def released_cka(model_a, model_b, frames: list | None = None, rows_cap: int = 80 * 1024, batch: int = 1024,
                 repeats: int = 5, seed: int = 0) -> dict[str, pd.DataFrame]:
    """CKA as the released code computes it (paper App. D as implemented): per frame, both models in eval mode,
    the outputs of every leaf layer of each module (:func:`module_layers`; layers that do not run, such as the
    first linear layer of φ_R1 whose product is computed without calling it, are left out), the first
    ``rows_cap`` rows (80 x 1,024) of each; ``repeats`` times a shuffle of those rows into minibatches of
    ``batch`` within the frame (the remainder dropped), and for every pair (layer i of a, layer j of b) of a
    module the unbiased HSIC sums (:class:`_BlockTerms`) accumulated over all minibatches of all frames. Returns
    per module the table CKA[i, j] (rows: the layers of a that ran, columns: those of b; the released figures show
    the mean over all its entries); NaN where no minibatch was full. ``model_a`` / ``model_b``: models (with
    ``frames``) or their :func:`released_activations` on the same frames."""
    acts_a = model_a if isinstance(model_a, list) else released_activations(model_a, frames, rows_cap)
    acts_b = model_b if isinstance(model_b, list) else released_activations(model_b, frames, rows_cap)
    if len(acts_a) != len(acts_b):
        raise SimilarityError(f"activations of {len(acts_a)} and {len(acts_b)} frames")
    names = {m: [n for n in (acts_a[0] if acts_a else {}) if n.split(".")[0] == m] for m in MODULES}
    sums = {m: np.zeros((len(names[m]), len(names[m]), 3)) for m in MODULES}
    rng = np.random.default_rng(seed)
    for fa, fb in zip(acts_a, acts_b):
        for m in MODULES:
            ran = [n for n in names[m] if n in fa and n in fb]
            if not ran:
                continue
            n_rows = fa[ran[0]].shape[0]
            for _ in range(repeats):
                perm = torch.as_tensor(rng.permutation(n_rows))
                for start in range(0, n_rows - batch + 1, batch):
                    idx = perm[start:start + batch]
                    ta = _BlockTerms([fa[n][idx].reshape(batch, -1) for n in ran])
                    tb = _BlockTerms([fb[n][idx].reshape(batch, -1) for n in ran])
                    kk, ll, kl = ta.self_hsic, tb.self_hsic, ta.cross_hsic(tb)
                    sums[m][..., 0] += kk[:, None]
                    sums[m][..., 1] += kl
                    sums[m][..., 2] += ll[None, :]
    out = {}
    for m in MODULES:
        kk, kl, ll = sums[m][..., 0], sums[m][..., 1], sums[m][..., 2]
        with np.errstate(invalid="ignore", divide="ignore"):
            cka = np.where((kk > 0) & (ll > 0), kl / np.sqrt(np.abs(kk * ll)), np.nan)
        out[m] = pd.DataFrame(cka, index=names[m], columns=names[m])
    return out
