"""Mode connectivity (paper Sec. 3.3, 5.4, App. D; Tables 2 and 3): paths in parameter space between two trained
scorers w_a and w_b, and the loss and TPR along them.

* the straight line, φ(t) = (1 − t) w_a + t w_b;
* the quadratic Bézier curve with one learnable anchor θ (paper Eq. 3, after Garipov et al. 2018 and Yang et al.
  2021), ψ(t) = (1 − t)² w_a + 2t(1 − t) θ + t² w_b, θ initialised at the midpoint (w_a + w_b)/2 — where the curve
  *is* the straight line — and trained to minimise E_{t∼U(0,1)} L(ψ(t)) (Eq. 2): every step draws one t and a batch
  of training frames, RMSProp on θ alone (the endpoints are fixed). L is the Hamming loss of the assignment through
  the blackbox gradient (with the curve's own λ: the released code used 10) or the BCE of the scores, with the
  segment weights the first endpoint was trained with (``training.loop.frame_step``, the training code itself).

BatchNorm along a path, three policies (``BN_POLICIES``), each named by its source:

* ``"first"`` (the paper's text, App. D): BatchNorm in eval mode with the running statistics of the first endpoint,
  at every t, in curve training and in evaluation: L is then a function of the parameters alone.
* ``"batch"`` (the released code, whose curve module never switches to eval mode): curve training and evaluation
  both normalise each frame with its own batch statistics; at t = 0 and 1 the loss is then the endpoints' loss
  under batch statistics, not their loss as trained (eval mode).
* ``"recompute"`` (Garipov et al. 2018): curve training normalises each frame with its own batch statistics (as the
  models were trained), and before evaluating a point its running statistics are recomputed at ψ(t) over fixed
  training frames (``training.batchnorm.recalibrate_batchnorm``). Points in between two modes have activations of
  other scales than either endpoint's, so the first endpoint's statistics can create a barrier of their own.
  Curve training is the same as for ``"batch"`` and the trained curve is shared (``training_policy``).

Curve training is resumable: a checkpoint (θ, the optimiser, the sampler's RNG, the step) is written atomically every
``checkpoint_every`` steps in the curve's cache folder, keyed by the two models, the frame pool and the curve's
settings; a killed training resumes from it and ends where an uninterrupted one ends (tested, CPU). Evaluations are
cached beside it. :func:`connect_pairs` runs every (pair, path, loss, policy) as an independent job in parallel
(``landscape.jobs``: a process pool or Ray tasks).

Summaries per path (:func:`path_summary`): min / max / mean of the Hamming loss and of the TPR over the evaluated t
(Tables 2 and 3), the barrier max_t [L(t) − ((1 − t) L(0) + t L(1))] above the endpoints' chord, and Yang et al.
(2021)'s mode-connectivity mc = ½ (L(0) + L(1)) − L(t*), t* = argmax_t |½ (L(0) + L(1)) − L(t)| (negative: a
barrier; positive: the path runs below its endpoints).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.func import functional_call

PATHS = ("linear", "bezier")
CURVE_LOSSES = ("hamming", "bce")
BN_POLICIES = ("first", "batch", "recompute")
#: where each policy comes from (for the chapters' tables)
BN_POLICY_SOURCES = {"first": "paper text (App. D)", "batch": "released code", "recompute": "Garipov et al. 2018"}


def training_policy(policy: str) -> str:
    """The BatchNorm mode of curve *training* under ``policy``: ``first`` (eval mode) or ``batch`` (each frame's
    batch statistics; ``recompute`` trains so too)."""
    return "first" if policy == "first" else "batch"
#: version of the curve training and evaluation (part of the cache keys)
CONNECTIVITY_VERSION = 2


class ConnectivityError(ValueError):
    """Endpoints that cannot be joined, or settings out of range."""


def parameters_of(model: torch.nn.Module) -> list[torch.Tensor]:
    """The model's parameters (detached copies), in the order of ``named_parameters``."""
    return [p.detach().clone() for _, p in model.named_parameters()]


def check_endpoints(model_a: torch.nn.Module, model_b: torch.nn.Module) -> None:
    """Two models can be joined when they have the same parameters (names, shapes, dtypes) and buffers."""
    pa, pb = dict(model_a.named_parameters()), dict(model_b.named_parameters())
    if list(pa) != list(pb) or any(pa[k].shape != pb[k].shape or pa[k].dtype != pb[k].dtype for k in pa):
        raise ConnectivityError("the two models have different parameters (names, shapes or dtypes)")
    if [k for k, _ in model_a.named_buffers()] != [k for k, _ in model_b.named_buffers()]:
        raise ConnectivityError("the two models have different buffers")


def linear_point(w_a: list[torch.Tensor], w_b: list[torch.Tensor], t: float) -> list[torch.Tensor]:
    """φ(t) = (1 − t) w_a + t w_b; exact endpoints at t = 0 and 1."""
    if t == 0:
        return [a.clone() for a in w_a]
    if t == 1:
        return [b.clone() for b in w_b]
    return [(1 - t) * a + t * b for a, b in zip(w_a, w_b)]


class BezierCurve(torch.nn.Module):
    """ψ(t) = (1 − t)² w_a + 2t(1 − t) θ + t² w_b (paper Eq. 3). The endpoints are buffers (fixed), θ the only
    parameters; θ starts at the midpoint (w_a + w_b)/2, where ψ is the straight line. ψ(0) and ψ(1) are the
    endpoints exactly (not up to rounding)."""

    def __init__(self, w_a: list[torch.Tensor], w_b: list[torch.Tensor], theta: list[torch.Tensor] | None = None):
        super().__init__()
        if len(w_a) != len(w_b) or any(a.shape != b.shape for a, b in zip(w_a, w_b)):
            raise ConnectivityError("endpoints of different shapes")
        for k, (a, b) in enumerate(zip(w_a, w_b)):
            self.register_buffer(f"a{k}", a.detach().clone())
            self.register_buffer(f"b{k}", b.detach().clone())
        start = [(a.detach() + b.detach()) / 2 for a, b in zip(w_a, w_b)] if theta is None else theta
        self.theta = torch.nn.ParameterList([torch.nn.Parameter(t.detach().clone()) for t in start])
        self.n = len(w_a)

    @property
    def w_a(self) -> list[torch.Tensor]:
        return [getattr(self, f"a{k}") for k in range(self.n)]

    @property
    def w_b(self) -> list[torch.Tensor]:
        return [getattr(self, f"b{k}") for k in range(self.n)]

    def point(self, t: float) -> list[torch.Tensor]:
        if t == 0:
            return [a.clone() for a in self.w_a]
        if t == 1:
            return [b.clone() for b in self.w_b]
        c0, c1, c2 = (1 - t) ** 2, 2 * t * (1 - t), t ** 2
        return [c0 * a + c1 * th + c2 * b for a, th, b in zip(self.w_a, self.theta, self.w_b)]


@dataclass(frozen=True)
class CurveSpec:
    """How a Bézier curve is trained (paper App. D: RMSProp 1e-3, 1000 steps × 8 frames; ``lam`` the blackbox λ of
    the Hamming loss, 10 in the released code) and which BatchNorm policy it uses."""

    loss: str = "hamming"
    lam: float = 10.0
    steps: int = 1000
    batch_frames: int = 8
    lr: float = 1e-3
    bn_policy: str = "first"
    seed: int = 0
    checkpoint_every: int = 25

    def __post_init__(self):
        from ..checks import NumberError, check_number

        if self.loss not in CURVE_LOSSES:
            raise ConnectivityError(f"loss must be one of {CURVE_LOSSES}, got {self.loss!r}")
        if self.bn_policy not in BN_POLICIES:
            raise ConnectivityError(f"bn_policy must be one of {BN_POLICIES}, got {self.bn_policy!r}")
        try:
            check_number(self.lam, "lam", above=0.0)
            check_number(self.lr, "lr", above=0.0)
            for name in ("steps", "batch_frames", "checkpoint_every"):
                check_number(getattr(self, name), name, minimum=1, integer=True)
            check_number(self.seed, "seed", minimum=0, integer=True)
        except NumberError as exc:
            raise ConnectivityError(str(exc)) from None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def curve_train_config(config, spec: CurveSpec):
    """The ``TrainConfig`` of the curve's loss: the first endpoint's (its segment weights and normalisation) with
    the curve's loss (PAT's Hamming loss with the curve's λ, or PTT's BCE)."""
    return dataclasses.replace(config, mode="pat" if spec.loss == "hamming" else "ptt", lam=spec.lam)


class _LossAt(torch.nn.Module):
    """A frame's training loss (``frame_step``) as a module's forward, so that ``functional_call`` can put the
    curve's point in place of the model's parameters (the gradient then flows into the point's tensors)."""

    def __init__(self, model, config):
        super().__init__()
        self.m, self.config = model, config

    def forward(self, g, loss_scale):
        from ..training.loop import frame_step

        return frame_step(self.m, g, self.config, loss_scale)[0]


def curve_loss(model: torch.nn.Module, point: list[torch.Tensor], frames: list, config) -> torch.Tensor:
    """The mean training loss (``config``: a ``TrainConfig``) of ``model`` with its parameters replaced by
    ``point`` over ``frames``, differentiable in ``point``. BatchNorm follows the model's mode (eval: its running
    statistics; train: each frame's own batch statistics, and the running statistics are updated)."""
    names = [n for n, _ in model.named_parameters()]
    wrapper = _LossAt(model, config)
    state = {f"m.{n}": p for n, p in zip(names, point)}
    scale = 1.0 / len(frames)
    total = 0.0
    for g in frames:
        total = total + functional_call(wrapper, state, (g, scale), strict=False) * scale
    return total


def curve_key(model_a, model_b, pool: list, spec: CurveSpec) -> str:
    """What determines a trained curve: the two models, the training frames it draws from, its settings."""
    from .cache import frames_digest, model_digest

    return _curve_key(model_digest(model_a), model_digest(model_b), frames_digest(pool), spec)


def _curve_key(digest_a: str, digest_b: str, digest_pool: str, spec: CurveSpec) -> str:
    from .cache import digest

    return digest(digest_a, digest_b, digest_pool, spec.to_dict(), CONNECTIVITY_VERSION)[:24]


def _model_for(model_a: torch.nn.Module, policy: str) -> torch.nn.Module:
    """A private copy of the first endpoint whose parameters are replaced along the path: eval mode for ``first``
    (its running statistics), train mode for ``batch`` and ``recompute`` (batch statistics)."""
    m = copy.deepcopy(model_a)
    for p in m.parameters():
        p.requires_grad_(False)
    return m.train(training_policy(policy) == "batch")


def _check_curve_checkpoint(ck: dict, curve: "BezierCurve") -> None:
    """A curve checkpoint must hold one anchor tensor per parameter of the endpoints, each of its shape."""
    theta = ck["theta"]
    shapes = [tuple(p.shape) for p in curve.theta]
    if len(theta) != len(shapes) or any(tuple(t.shape) != s for t, s in zip(theta, shapes)):
        raise ValueError(f"anchor tensors of shapes {[tuple(t.shape) for t in theta]}, the models need {shapes}")
    int(ck["step"]), list(ck["losses"]), ck["optimizer"], ck["generator"]


def train_curve(model_a: torch.nn.Module, model_b: torch.nn.Module, pool: list, config, spec: CurveSpec,
                folder: str | Path | None = None, progress: bool = False, stop_after: int | None = None,
                on_step=None, device: str = "cpu") -> tuple[BezierCurve, dict]:
    """Train the Bézier anchor θ between ``model_a`` and ``model_b`` (module docstring) on frames drawn from
    ``pool`` (seeded, with replacement) with the loss of ``spec`` (``config``: the first endpoint's
    ``TrainConfig``); returns the curve and a record (``steps``, ``loss`` per step, ``resumed_from``).

    ``folder``: where the checkpoint lives (resumed from when present; the finished curve is its last checkpoint,
    so a second call returns at once; a damaged checkpoint, or one of other shapes, is trained again with a
    ``cache.CacheWarning``). ``stop_after``: stop after this many steps of this call (an interruption,
    for tests). ``on_step(step, loss)``: called after every step. ``device``: where the curve is trained (frames
    are moved there batch by batch); the returned curve lives there, its checkpoint holds CPU tensors."""
    from ..progress import progress_bar
    from .cache import load_torch, save_torch_atomic

    check_endpoints(model_a, model_b)
    if not len(pool):
        raise ConnectivityError("no training frames for the curve")
    dev = torch.device(device)
    curve = BezierCurve(parameters_of(model_a), parameters_of(model_b)).to(dev)
    opt = torch.optim.RMSprop(curve.parameters(), lr=spec.lr)
    gen = torch.Generator().manual_seed(spec.seed)
    start, losses, resumed_from = 0, [], 0
    path = None if folder is None else Path(folder) / "curve.pt"
    ck = None
    if path is not None and path.is_file():
        ck = load_torch(path, lambda c: _check_curve_checkpoint(c, curve))
    if ck is not None:
        if ck.get("spec") != spec.to_dict():
            raise ConnectivityError(f"{path} holds a curve of other settings: {ck.get('spec')}")
        with torch.no_grad():
            for p, v in zip(curve.theta, ck["theta"]):
                p.copy_(v)
        opt.load_state_dict(ck["optimizer"])
        gen.set_state(ck["generator"])
        start = resumed_from = int(ck["step"])
        losses = list(ck["losses"])
    model = _model_for(model_a, spec.bn_policy).to(dev)
    cfg = curve_train_config(config, spec)

    def save(step):
        if path is not None:
            save_torch_atomic(path, {"theta": [p.detach().cpu().clone() for p in curve.theta],
                                     "optimizer": opt.state_dict(), "generator": gen.get_state(), "step": step,
                                     "losses": list(losses), "spec": spec.to_dict()})

    bar = progress_bar(total=spec.steps, initial=start, desc="curve", enabled=progress, leave=False)
    done = 0
    try:
        for step in range(start, spec.steps):
            if stop_after is not None and done >= stop_after:
                break
            t = float(torch.rand((), generator=gen, dtype=torch.float64))
            idx = torch.randint(len(pool), (spec.batch_frames,), generator=gen).tolist()
            opt.zero_grad(set_to_none=True)
            loss = curve_loss(model, curve.point(t), [pool[i].to(dev) for i in idx], cfg)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            done += 1
            bar.update(1)
            if (step + 1) % spec.checkpoint_every == 0 or step + 1 == spec.steps:
                save(step + 1)
            if on_step is not None:
                on_step(step + 1, losses[-1])
    finally:
        bar.close()
    return curve, {"steps": start + done, "loss": losses, "resumed_from": resumed_from}


def model_at(model_a: torch.nn.Module, point: list[torch.Tensor], policy: str = "first",
             bn_frames: list | None = None, device: str = "cpu") -> torch.nn.Module:
    """A private copy of ``model_a`` (eval mode) with parameters ``point`` and BatchNorm statistics by ``policy``:
    the first endpoint's (``first``) or recomputed at ``point`` over ``bn_frames`` (``recompute``; each frame one
    batch, ``recalibrate_batchnorm``), on ``device``. Parameters other than the point and the caller's model are
    untouched."""
    from ..training.batchnorm import recalibrate_batchnorm

    if policy not in BN_POLICIES:
        raise ConnectivityError(f"policy must be one of {BN_POLICIES}, got {policy!r}")
    m = copy.deepcopy(model_a).eval().to(device)
    with torch.no_grad():
        for p, v in zip(m.parameters(), point):
            p.copy_(v)
    if policy == "recompute":
        if not bn_frames:
            raise ConnectivityError("policy 'recompute' needs frames to recompute the BatchNorm statistics on")
        recalibrate_batchnorm([m], [g.to(device) for g in bn_frames])
    return m


def evaluate_path(points, ts, model_a: torch.nn.Module, frames: list, config=None, policy: str = "first",
                  bn_frames: list | None = None, device: str = "cpu") -> list[dict]:
    """Metrics (``surfaces.PointMetrics``: Hamming loss and BCE weighted as ``config``, TPR, FPR) of the path
    ``points(t)`` at each t of ``ts`` on ``frames``, BatchNorm by ``policy``; one dict per t (with ``t``)."""
    from .surfaces import PointMetrics

    if policy not in BN_POLICIES:
        raise ConnectivityError(f"policy must be one of {BN_POLICIES}, got {policy!r}")
    out = []
    fixed = (PointMetrics(model_a, frames, config, device=device, batch_statistics=policy == "batch")
             if policy in ("first", "batch") else None)
    for t in ts:
        point = points(float(t))
        metrics = fixed or PointMetrics(model_at(model_a, point, "recompute", bn_frames, device), frames, config,
                                        device=device)
        out.append({"t": float(t), **metrics(point)})
    return out


def path_summary(rows: list[dict], metric: str = "hamming", ends: tuple[float, float] | None = None
                 ) -> dict[str, float]:
    """Tables 2/3 summaries of an evaluated path (rows of :func:`evaluate_path`, t ascending from 0 to 1):
    ``{metric}_min/_max/_mean`` and ``tpr_min/_max/_mean`` over the points, ``barrier`` = max_t [L(t) − ((1 − t)
    L_a + t L_b)] and Yang et al.'s ``mc`` = ½ (L_a + L_b) − L(t*) (module docstring). L_a, L_b: ``ends`` — the
    endpoints' losses as trained, which differ from the path's own end points when BatchNorm statistics other than
    each model's own are used there — or, without ``ends``, the path's values at t = 0 and 1 (then the barrier is
    ≥ 0)."""
    ts = np.array([r["t"] for r in rows], float)
    if len(ts) < 2 or ts[0] != 0 or ts[-1] != 1 or np.any(np.diff(ts) <= 0):
        raise ConnectivityError("a path summary needs t ascending from 0 to 1")
    loss = np.array([r[metric] for r in rows], float)
    tpr = np.array([r["tpr"] for r in rows], float)
    la, lb = (loss[0], loss[-1]) if ends is None else (float(ends[0]), float(ends[1]))
    chord = (1 - ts) * la + ts * lb
    mid = 0.5 * (la + lb)
    star = int(np.argmax(np.abs(mid - loss)))
    return {f"{metric}_min": float(loss.min()), f"{metric}_max": float(loss.max()),
            f"{metric}_mean": float(loss.mean()), "tpr_min": float(np.nanmin(tpr)),
            "tpr_max": float(np.nanmax(tpr)), "tpr_mean": float(np.nanmean(tpr)),
            "barrier": float(np.max(loss - chord)), "mc": float(mid - loss[star]), "t_star": float(ts[star])}


ACROSS = ("all", "matched", "first", "none")
#: the paper's curve training, in frames drawn: 1000 steps of 8 frames (App. D)
PAPER_CURVE_FRAMES = 1000 * 8


def check_choices(name: str, values, allowed) -> None:
    """A list parameter whose every entry must be one of ``allowed`` (and not empty): a named error otherwise."""
    bad = [v for v in values if v not in allowed]
    if bad or not len(values):
        raise ConnectivityError(f"parameter {name}: {list(values)!r}; each must be one of {allowed}, at least one")


def select_pairs(models: list[tuple[str, int, str]], across: str = "matched") -> list[tuple[int, int, str]]:
    """The pairs of a zoo to join: ``models`` as (configuration, seed, mode) in zoo order. Every two seeds of one
    configuration (``"within configuration"``, in zoo order), and PTT ↔ PAT pairs (``"PTT ↔ PAT"``, the PTT model
    first) by ``across``: ``all`` of them, ``matched`` (the same seed: one initialisation, ``TrainConfig.seed``),
    ``first`` (PTT's smallest seed with the two smallest seeds of every PAT configuration: one pair sharing the
    initialisation, one not) or ``none``."""
    import itertools

    if across not in ACROSS:
        raise ConnectivityError(f"across must be one of {ACROSS}, got {across!r}")
    firsts: dict[str, list[int]] = {}
    for conf, seed, _ in models:
        firsts.setdefault(conf, []).append(seed)
    firsts = {c: sorted(v)[:2] for c, v in firsts.items()}
    pairs = []
    for i, j in itertools.combinations(range(len(models)), 2):
        (ca, sa, ma), (cb, sb, mb) = models[i], models[j]
        if ca == cb:
            pairs.append((i, j, "within configuration"))
            continue
        if {ma, mb} != {"ptt", "pat"}:
            continue
        (p, (cp, sp)), (q, (cq, sq)) = ((i, (ca, sa)), (j, (cb, sb))) if ma == "ptt" else ((j, (cb, sb)),
                                                                                        (i, (ca, sa)))
        keep = (across == "all" or (across == "matched" and sp == sq) or
                (across == "first" and sp == firsts[cp][0] and sq in firsts[cq]))
        if keep:
            pairs.append((p, q, "PTT ↔ PAT"))
    return pairs


@dataclass(frozen=True)
class PathJob:
    """One path of one pair: models ``i``, ``j`` of the list, ``path`` (linear | bezier), the curve's ``loss``
    (bezier only) and the BatchNorm ``policy``."""

    i: int
    j: int
    path: str
    loss: str | None
    policy: str

    def __post_init__(self):
        if self.path not in PATHS:
            raise ConnectivityError(f"path must be one of {PATHS}, got {self.path!r}")
        if (self.path == "bezier") != (self.loss is not None):
            raise ConnectivityError("a Bézier path needs its training loss, a linear one has none")
        if self.policy not in BN_POLICIES:
            raise ConnectivityError(f"policy must be one of {BN_POLICIES}, got {self.policy!r}")


def run_path(models: list, configs: list, pool: list, frames: list, bn_frames: list, ts, job: PathJob,
             spec: CurveSpec | None = None, cache_dir=None, device: str = "cpu") -> dict:
    """Train (or resume, or read) and evaluate one :class:`PathJob`; the result ``{"rows": [...], "train": {...}}``
    (``train``: empty for a straight line, else the steps, the step it resumed from and the loss of every step)
    is cached as JSON under ``cache_dir`` per pair, path, loss, policy, curve settings and evaluation points."""
    from ..fileio import write_json_atomic
    from .cache import digest, frames_digest, model_digest

    a, b = models[job.i], models[job.j]
    check_endpoints(a, b)
    ts = [float(t) for t in ts]
    # the curve is trained under the policy's training mode: "batch" and "recompute" share one trained curve
    spec = None if job.path == "linear" else dataclasses.replace(spec or CurveSpec(), loss=job.loss,
                                                                  bn_policy=training_policy(job.policy))
    # each digest once: the pool's (up to hundreds of frames) serves the evaluation key and the curve's folder
    da, db = model_digest(a), model_digest(b)
    dpool = None if spec is None else frames_digest(pool)
    eval_key = digest(da, db, job.path, job.loss, job.policy, None if spec is None else spec.to_dict(),
                      frames_digest(frames), frames_digest(bn_frames) if job.policy == "recompute" else None,
                      dpool, ts, configs[job.i].to_dict(), CONNECTIVITY_VERSION)[:24]
    root = None if cache_dir is None else Path(cache_dir)
    result_path = None if root is None else root / "paths" / f"{eval_key}.json"
    if result_path is not None and result_path.is_file():
        try:
            return json.loads(result_path.read_text())
        except (OSError, json.JSONDecodeError):
            pass
    if spec is None:
        w_a, w_b = parameters_of(a), parameters_of(b)

        def points(t):
            return linear_point(w_a, w_b, t)

        record = {}
    else:
        folder = None if root is None else root / "curves" / _curve_key(da, db, dpool, spec)
        curve, record = train_curve(a, b, pool, configs[job.i], spec, folder, device=device)
        record = {"steps": record["steps"], "resumed_from": record["resumed_from"], "loss": record["loss"]}

        def points(t):
            with torch.no_grad():
                return [p.detach() for p in curve.point(t)]

    rows = evaluate_path(points, ts, a, frames, configs[job.i], job.policy, bn_frames, device)
    result = {"rows": rows, "train": record}
    if result_path is not None:
        result_path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(result_path, result)
    return result


def _path_job(context, job):
    models, configs, pool, frames, bn_frames, ts, spec, cache_dir, device = context
    return run_path(models, configs, pool, frames, bn_frames, ts, job, spec, cache_dir, device)


def connect_pairs(models: list, configs: list, pool: list, frames: list, bn_frames: list, ts, jobs: list[PathJob],
                  spec: CurveSpec | None = None, cache_dir=None, workers: int = 1, threads: int = 1,
                  engine: str | None = "local", device: str = "cpu", progress: bool = True) -> list[dict]:
    """:func:`run_path` of every job, in parallel (``landscape.jobs.map_jobs``); results in the order of ``jobs``."""
    from .jobs import map_jobs

    return map_jobs(_path_job, (models, configs, pool, frames, bn_frames, ts, spec, cache_dir, device), list(jobs),
                    workers=workers, threads=threads, engine=engine, progress=progress, desc="paths")
