"""Training predict-then-track (BCE on scores) or predict-and-track (Hamming loss through the blackbox assignment).

One run lives in a folder: ``config.json`` (the request; a different request for the same folder is refused),
``metrics.csv`` (one row per step and split: step, split, tpr, fpr, purity, efficiency, loss; TPR and FPR are those
of the *reconstructed* segments, i.e. of the assignment, as in the paper's Sec. 5), ``last.pt`` and
``best.pt`` (model, optimizer, scheduler and every RNG state; written atomically every ``eval_every`` steps; best by
validation purity). A run that finds ``last.pt`` resumes from it and ends bit-identical to an uninterrupted run on
the CPU (tested). Steps use ``batch_frames`` frames by gradient accumulation, as the paper does.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from ..progress import progress_bar

from ..assign.batch import assign_costs, check_scores, thread_map
from ..assign.blackbox import assign_differentiable_many
from ..assign.layout import concat_layouts, layout_of_graph
from ..assign.losses import NORMALISATIONS, TRACKER_GROUPS, hamming_loss, segment_weights
from ..allocator import keep_freed_memory
from ..fileio import write_bytes_atomic, write_json_atomic
from ..models.interaction_network import EdgeScorer, ModelConfig
from ..tracks.build import build_tracks
from .batchnorm import recalibrate_batchnorm
from ..tracks.metrics import edge_metrics, track_metrics

METRIC_FIELDS = ["step", "split", "tpr", "fpr", "purity", "efficiency", "loss"]
LAMBDA_SCOPES = ("frame", "batch")
OPTIMIZERS = ("rmsprop", "adam", "adamw")
#: settings added after runs were recorded: left out of ``to_dict`` at their defaults so old records still match
_RECENT_DEFAULTS = ("downstream_weight", "downstream_intercept", "downstream_slope", "downstream_pixel_mm", "init",
                    "one_cycle", "warmup_fraction", "optimizer", "weight_decay", "curriculum_steps")


class TrainError(RuntimeError):
    """A run that cannot start (mismatching configuration, empty dataset)."""


@dataclass(frozen=True)
class TrainConfig:
    mode: str = "ptt"  # ptt: BCE on scores; pat: Hamming loss of the assignment
    lam: float = 50.0  # blackbox interpolation (pat)
    scale_by_lambda: bool = True  # False: the released code's gradient without 1/lambda
    steps: int = 200
    batch_frames: int = 32
    lr: float = 1e-3
    step_lr: bool = False  # StepLR(step_size=lr_step, gamma=lr_gamma) as in the released code
    #: cosine decay of the learning rate from lr to lr_min_factor * lr over the run (CosineAnnealingLR); for short
    #: runs, whose last steps at the full rate leave the weights wherever the last batches pushed them
    cosine_lr: bool = False
    lr_min_factor: float = 0.05
    #: one-cycle schedule (OneCycleLR, cosine annealing): the rate rises from lr / 25 to ``lr`` over the first
    #: ``warmup_fraction`` of the steps, then decays to lr / 1e4 at the last step
    one_cycle: bool = False
    warmup_fraction: float = 0.1
    #: "rmsprop" (the paper's), "adam" or "adamw"; ``weight_decay`` applies to all three (AdamW: decoupled)
    optimizer: str = "rmsprop"
    weight_decay: float = 0.0
    #: density curriculum: the first ``curriculum_steps`` steps draw their frames from the easier frames handed to
    #: ``train_many`` as ``easy_frames`` (e.g. 50 p+/F), the rest from the training frames
    curriculum_steps: int = 0
    lr_step: int = 1000
    lr_gamma: float = 0.5
    eval_every: int = 100
    max_val_frames: int = 50
    #: before each validation the BatchNorm running statistics are recomputed at the current weights over this
    #: many training frames (fixed, stratified by phantom; ``training/batchnorm.py``); 0: the running averages
    bn_frames: int = 16
    #: frames scored in one pass (a PyG Batch; for GPUs): 1 = frame by frame, every frame its own BatchNorm batch
    #: (the paper's gradient accumulation); k > 1: BatchNorm normalises over the k frames of a pass
    frames_per_pass: int = 1
    #: the validations summarised in best.json as the run's settled value (mean and spread of the last ones)
    settle_validations: int = 4
    #: weights of the tracker and calorimeter segment groups in the loss (paper Sec. 4.3; ``assign/losses.py``)
    w_tracker: float = 1.0
    w_calorimeter: float = 1.0
    #: "group": one mean per group, weighted and added (the released code); "pooled": one mean over all segments
    loss_normalisation: str = "group"
    #: "tracker": segments leaving a tracker layer; "released": also the 2->3 segments, as the released code groups
    tracker_group: str = "tracker"
    #: "frame": lambda perturbs each frame's own loss gradient, whatever batch_frames is; "batch": the released
    #: code's convention, lambda perturbs the gradient of the batch mean (effective lambda = lam / batch_frames)
    lambda_scope: str = "frame"
    seed: int = 0
    #: seed of the batch sampling; None: ``seed``. Models trained together (``train_many``) share it, and so see the
    #: same frames in the same order
    data_seed: int | None = None
    min_track_hits: int = 4
    min_last_edep: float = 0.0625
    model: ModelConfig = field(default_factory=ModelConfig)
    #: PAT + downstream (issue 18): the loss is Hamming + downstream_weight x the WEPL loss of the assignment
    #: (``imaging.downstream.DownstreamLoss``: layer depths, WEPL calibration intercept and slope, pixel pitch of
    #: the grouping, 0 = per track), its gradient through the same blackbox assignment; frames need ``hit_wepl``
    downstream_weight: float = 0.0
    downstream_depths: tuple[float, ...] = ()
    downstream_intercept: float = 0.0
    downstream_slope: float = 0.0
    downstream_pixel_mm: float = 0.0
    #: fine-tuning: the model's weights (and input normalisation) start from this checkpoint ("": initialised by
    #: ``seed``); the optimiser and the schedule start afresh
    init: str = ""

    def __post_init__(self):
        if self.mode not in ("ptt", "pat"):
            raise TrainError(f"mode must be 'ptt' or 'pat', got {self.mode!r}")
        object.__setattr__(self, "downstream_depths", tuple(float(v) for v in self.downstream_depths))
        if not (math.isfinite(self.downstream_weight) and self.downstream_weight >= 0):
            raise TrainError(f"downstream_weight must be finite and >= 0, got {self.downstream_weight}")
        if self.downstream_weight > 0:
            if self.mode != "pat":
                raise TrainError("the downstream loss needs mode 'pat' (its gradient goes through the assignment)")
            from ..imaging.downstream import DownstreamError

            try:
                self.downstream()
            except DownstreamError as exc:
                raise TrainError(f"downstream: {exc}") from None
        if self.steps < 1 or self.batch_frames < 1 or self.eval_every < 1:
            raise TrainError("steps, batch_frames and eval_every must be positive")
        if not self.lam > 0 or not math.isfinite(self.lam):
            raise TrainError(f"lam must be positive and finite, got {self.lam}")
        from ..checks import NumberError, check_number

        try:
            check_number(self.lr, "lr", above=0.0)
            check_number(self.lr_gamma, "lr_gamma", above=0.0, maximum=1.0)
            check_number(self.lr_min_factor, "lr_min_factor", minimum=0.0, maximum=1.0)
            check_number(self.min_last_edep, "min_last_edep", minimum=0.0)
            for name in ("steps", "batch_frames", "eval_every", "max_val_frames", "lr_step", "min_track_hits",
                         "bn_frames", "settle_validations", "frames_per_pass"):
                check_number(getattr(self, name), name,
                             minimum=0 if name in ("min_track_hits", "bn_frames") else 1, integer=True)
            check_number(self.seed, "seed", minimum=0, integer=True)
            if self.data_seed is not None:
                check_number(self.data_seed, "data_seed", minimum=0, integer=True)
            check_number(self.weight_decay, "weight_decay", minimum=0.0)
            check_number(self.warmup_fraction, "warmup_fraction", above=0.0, below=1.0)
            check_number(self.curriculum_steps, "curriculum_steps", minimum=0, integer=True)
        except NumberError as exc:
            raise TrainError(str(exc)) from None
        if sum((self.step_lr, self.cosine_lr, self.one_cycle)) > 1:
            raise TrainError("choose one schedule: step_lr, cosine_lr and one_cycle cannot both be set")
        for name in ("w_tracker", "w_calorimeter"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise TrainError(f"{name} must be finite and >= 0, got {v}")
        if self.w_tracker == 0 and self.w_calorimeter == 0:
            raise TrainError("w_tracker and w_calorimeter must not both be 0")
        choices = {"loss_normalisation": NORMALISATIONS, "tracker_group": TRACKER_GROUPS,
                   "lambda_scope": LAMBDA_SCOPES, "optimizer": OPTIMIZERS}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise TrainError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")

    def downstream(self):
        """The ``DownstreamLoss`` of the settings (None when ``downstream_weight`` is 0)."""
        if self.downstream_weight == 0:
            return None
        from ..imaging.downstream import DownstreamLoss

        return DownstreamLoss(self.downstream_depths, self.downstream_intercept, self.downstream_slope,
                              self.downstream_pixel_mm)

    def to_dict(self) -> dict:
        """The settings; the downstream and fine-tuning ones only when set, so that the records of runs made before
        they existed still match."""
        d = asdict(self)
        for name in _RECENT_DEFAULTS:
            if getattr(self, name) == getattr(TrainConfig, name):
                d.pop(name)
        if not self.downstream_depths:
            d.pop("downstream_depths")
        if "downstream_depths" in d:
            d["downstream_depths"] = list(d["downstream_depths"])
        return d


def _rng_state(gen: torch.Generator) -> dict:
    """Every RNG state as tensors and plain Python values, so that checkpoints load with ``weights_only=True``."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"torch": torch.get_rng_state(), "numpy": [name, torch.as_tensor(keys.astype(np.int64)), int(pos),
                                                      int(has_gauss), float(gauss)],
            "python": list(random.getstate()), "sampler": gen.get_state()}


def _set_rng_state(state: dict, gen: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.int64).astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    gen.set_state(state["sampler"])


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """A checkpoint's contents, loaded with ``weights_only=True``: tensors and plain types only, so a planted file
    cannot run code. A file that is truncated, not a checkpoint, or holds other objects (written by pctlib before
    this rule) raises :class:`TrainError` naming it."""
    path = Path(path)
    try:
        return torch.load(path, weights_only=True, map_location=map_location)
    except FileNotFoundError:
        raise TrainError(f"checkpoint {path} does not exist") from None
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError... for bad files
        raise TrainError(f"{path}: not a loadable checkpoint (damaged, not a pctlib checkpoint, or from an older "
                         f"pctlib; only tensors and plain values are loaded): {type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''}") from None


def frame_step(model: EdgeScorer, g, config: TrainConfig, loss_scale: float = 1.0
               ) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """Loss of one frame, its scores, and the assignment of its segments (0/1 numpy): PAT's loss already solves
    the assignment, which is reused instead of being solved again for the metrics. ``loss_scale``: the factor the
    caller multiplies the loss by before ``backward`` (1 / batch_frames in training); with ``lambda_scope="frame"``
    the blackbox perturbation undoes it, so lambda acts on the frame's own loss (``assign/blackbox.py``)."""
    return frame_steps([model], g, [config], loss_scale)[0]


def frame_steps(models: list[EdgeScorer], g, configs: list[TrainConfig], loss_scale: float = 1.0,
                workers: int = 1) -> list[tuple[torch.Tensor, torch.Tensor, np.ndarray]]:
    """:func:`frame_step` of several models on the same frame: the frame's features are standardised by each
    model, its edge encoding (sin/cos) is computed once for all models (one model: fused with the product), and
    the assignments of all models are solved in one call (PTT's for the metrics, PAT's with blackbox gradients)."""
    return pass_steps(models, [g], configs, loss_scale, workers)[0]


def pass_steps(models: list[EdgeScorer], frames: list, configs: list[TrainConfig], loss_scale: float = 1.0,
               workers: int = 1) -> list[list[tuple[torch.Tensor, torch.Tensor, np.ndarray]]]:
    """Losses, scores and assignments of several models on several frames scored in one pass: the frames are
    joined into one disconnected graph (PyG ``Batch``), so a GPU scores them in one launch sequence, and every
    model's assignments of all frames are solved in one call. Result ``[frame][model]``; each frame keeps its own
    loss (its own group normalisation and mean), exactly as if scored alone, except that BatchNorm in training
    mode normalises over the whole pass (``TrainConfig.frames_per_pass``; tested equal to frame-by-frame
    scoring with BatchNorm statistics fixed)."""
    if len(models) != len(configs):
        raise ValueError(f"{len(models)} models and {len(configs)} configurations")
    if len(frames) == 1:
        g = frames[0]
        layout = layout_of_graph(g)
    else:
        from torch_geometric.data import Batch

        g = Batch.from_data_list(list(frames))
        layout = concat_layouts([layout_of_graph(f) for f in frames])
    seg_ptr = np.concatenate([[0], np.cumsum([int(f.x.shape[0]) for f in frames])]).astype(int)
    share = len(models) > 1 and g.edge_index.shape[1] > 0
    encoding = models[0].phi_r1.encode_edges(g.edge_u) if share else None
    logits = [m.logits(g.x, g.edge_index, g.edge_u, encoding) for m in models]
    scores = [torch.sigmoid(lg) for lg in logits]
    src_layers = [f.hit_x[f.hit_edge_index[0], 4].long() for f in frames]
    weights = [[segment_weights(sl, c.w_tracker, c.w_calorimeter, normalisation=c.loss_normalisation,
                                tracker_group=c.tracker_group) for sl in src_layers] for c in configs]
    pat = [k for k, c in enumerate(configs) if c.mode == "pat"]
    ptt = [k for k, c in enumerate(configs) if c.mode == "ptt"]
    out: list = [[None] * len(models) for _ in frames]
    parts = list(zip(range(len(frames)), seg_ptr[:-1], seg_ptr[1:]))
    if ptt:
        for k in ptt:
            check_scores(scores[k].detach().cpu().numpy())
        costs = [1.0 - scores[k].detach().cpu().numpy().astype(np.float64) for k in ptt]
        assigned = thread_map(lambda c: assign_costs(c, layout), costs, workers)
        for k, y in zip(ptt, assigned):
            for f, a, z in parts:
                lg = logits[k][a:z]
                loss = (F.binary_cross_entropy_with_logits(lg, frames[f].y, weight=weights[k][f]) if lg.numel()
                        else lg.sum())
                out[f][k] = (loss, scores[k][a:z], y[a:z])
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


def frame_loss(model: EdgeScorer, g, config: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss of one frame and its scores."""
    loss, scores, _ = frame_step(model, g, config)
    return loss, scores


def evaluate(model: EdgeScorer, frames, config: TrainConfig) -> dict:
    """TPR/FPR of the reconstructed (assigned) segments and the paper's track purity/efficiency
    (``tracks/metrics.py``), counts pooled over ``frames``."""
    return evaluate_many([model], frames, [config])[0]


@torch.no_grad()
def evaluate_many(models: list[EdgeScorer], frames, configs: list[TrainConfig], workers: int = 1) -> list[dict]:
    """:func:`evaluate` of several models on the same frames (each frame encoded once, assignments in one call)."""
    modes = [m.training for m in models]
    for m in models:
        m.eval()
    counts = [dict(tp=0, fp=0, tn=0, fn=0, primary_tracks=0, correct_primary=0, primary_events=0) for _ in models]
    losses: list[list[float]] = [[] for _ in models]
    for g in frames:
        truth = g.y.cpu().numpy()
        hit_edges = g.hit_edge_index.cpu().numpy()
        for k, (loss, _, y) in enumerate(frame_steps(models, g, configs, workers=workers)):
            c, cfg = counts[k], configs[k]
            losses[k].append(float(loss))
            for key, v in edge_metrics(y, truth).items():
                if key in c:
                    c[key] += v
            tr = build_tracks(g.hit_x.shape[0], hit_edges, y)
            tm = track_metrics(tr, g.hit_event.cpu().numpy(), g.hit_track.cpu().numpy(),
                               g.hit_x[:, 0].cpu().numpy(), g.hit_clean.cpu().numpy(), int(g.n_clean_primaries),
                               cfg.min_track_hits, cfg.min_last_edep)
            for key in ("primary_tracks", "correct_primary", "primary_events"):
                c[key] += tm[key]
    for m, was in zip(models, modes):
        m.train(was)

    def r(a, b):
        return a / b if b else math.nan

    return [{"tpr": r(c["tp"], c["tp"] + c["fn"]), "fpr": r(c["fp"], c["fp"] + c["tn"]),
             "purity": r(c["correct_primary"], c["primary_tracks"]),
             "efficiency": r(c["correct_primary"], c["primary_events"]),
             "loss": float(np.mean(ls)) if ls else math.nan} for c, ls in zip(counts, losses)]


def validation_indices(frames, n: int) -> list[int]:
    """Indices of at most ``n`` validation frames, stratified over the parts of ``frames`` (one part per phantom,
    and per density if several: ``FrameList.parts``): the parts get equal shares (the remainder to the first
    parts; a part too small to fill its share gives the rest to the others), each share spread evenly over its
    part. A plain sequence counts as one part."""
    parts = getattr(frames, "parts", None)
    lengths = [len(p) for p in parts] if parts else [len(frames)]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(int)
    share = [0] * len(lengths)
    left = min(n, sum(lengths))
    while left > 0:
        open_ = [k for k in range(len(lengths)) if share[k] < lengths[k]]
        per, extra = divmod(left, len(open_))
        for j, k in enumerate(open_):
            add = min(per + (1 if j < extra else 0), lengths[k] - share[k])
            share[k] += add
            left -= add
    out: list[int] = []
    for k, q in enumerate(share):
        if q:
            within = np.unique(np.linspace(0, lengths[k] - 1, q).round().astype(int))
            out += (offsets[k] + within).tolist()
    return out


def _differences(have: dict, want: dict, keys) -> list[str]:
    want = json.loads(json.dumps(want, default=str))
    detail = []
    for k in sorted(keys):
        if have.get(k) == want.get(k):
            continue
        if k == "train" and isinstance(have.get(k), dict) and isinstance(want.get(k), dict):
            for kk in sorted(set(have["train"]) | set(want["train"])):
                a, b = have["train"].get(kk), want["train"].get(kk)
                if a != b:
                    detail.append(f"train.{kk}: {a!r} in the folder, {b!r} requested")
        else:
            detail.append(f"{k}: {have.get(k)!r} in the folder, {want.get(k)!r} requested")
    return detail


def check_run_folder(run_dir: str | Path, config: TrainConfig, data_specs: dict | None = None) -> None:
    """Refuse, before any work, a run folder that holds another request: the training configuration, and the
    data specifications given (``{"train": DataSpec dict, "val": ...}``, known before the data are built), must
    match those recorded in its ``config.json``."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        return
    try:
        have = json.loads(path.read_text())
    except json.JSONDecodeError:
        raise TrainError(f"{path}: unreadable; use another folder or delete this one") from None
    detail = _differences(have, {"train": config.to_dict()}, ["train"])
    recorded = have.get("data") or {}
    for k, spec in (data_specs or {}).items():
        want = json.loads(json.dumps(spec, default=str))
        if k in recorded and recorded[k] != want:
            detail.append(f"data.{k}: {recorded[k]!r} in the folder, {want!r} requested")
    if detail:
        raise TrainError(f"{run_dir} holds a run with another configuration ({'; '.join(detail)}); "
                         "use another folder or delete this one")


def _check_config(run_dir: Path, config: TrainConfig, extra: dict) -> None:
    path = run_dir / "config.json"
    want = {"train": config.to_dict(), **extra}
    if path.is_file():
        have = json.loads(path.read_text())
        detail = _differences(have, want, set(have) | set(want))
        if detail:
            raise TrainError(f"{run_dir} holds a run with another configuration ({'; '.join(detail)}); "
                             "use another folder or delete this one")
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, want)


def _save(path: Path, obj: dict) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    write_bytes_atomic(path, buf.getvalue())


def resolve_device(device: str | None) -> torch.device:
    """``auto`` (or None): CUDA when available, else the CPU."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def train(config: TrainConfig, train_frames, val_frames, run_dir: str | Path, normalization: dict | None = None,
          data_info: dict | None = None, progress: bool = True, stop_after: int | None = None,
          device: str | None = "cpu", max_seconds: float | None = None, easy_frames=None) -> dict:
    """Train (or resume) a run; returns the best validation metrics. ``stop_after`` ends the call early after that
    many steps (as an interruption would); ``max_seconds`` ends it after the first checkpoint past that time.
    Frames are moved to ``device`` as they are used (the same code on CPU and GPU)."""
    return train_many([config], train_frames, val_frames, [run_dir], normalization, data_info, progress,
                      stop_after, device, max_seconds, easy_frames=easy_frames)[0]


#: settings every model trained together must share: the step schedule, the frames seen and the edge encoding
SHARED_SETTINGS = ("steps", "batch_frames", "eval_every", "max_val_frames", "bn_frames", "frames_per_pass",
                   "curriculum_steps")


def _sampler_seed(config: TrainConfig) -> int:
    return (config.seed if config.data_seed is None else config.data_seed) + 1


def check_together(configs: list[TrainConfig]) -> None:
    """Refuse models that cannot be trained in one process: they must share the step schedule, the batch
    sampling (``data_seed``, or ``seed`` when it is None) and the encoding settings of the model."""
    if not configs:
        raise TrainError("no models to train")
    first = configs[0]
    for c in configs[1:]:
        for name in SHARED_SETTINGS:
            if getattr(c, name) != getattr(first, name):
                raise TrainError(f"models trained together must share {name}: {getattr(first, name)!r} and "
                                 f"{getattr(c, name)!r}")
        if _sampler_seed(c) != _sampler_seed(first):
            raise TrainError("models trained together must see the same frames: give them the same data_seed "
                             f"(got batch-sampling seeds {_sampler_seed(first) - 1} and {_sampler_seed(c) - 1})")
        for name in ("encoding_dim", "encoding_scaling", "node_features"):
            if getattr(c.model, name) != getattr(first.model, name):
                raise TrainError(f"models trained together must share model.{name}")


class _Run:
    """One model's state in a (possibly joint) training: folder, model, optimiser, metrics file, best."""

    def __init__(self, config: TrainConfig, run_dir: Path, norm: dict, dev: torch.device):
        self.config, self.dir, self.norm = config, run_dir, norm
        torch.manual_seed(config.seed)
        np.random.seed(config.seed)
        random.seed(config.seed)
        self.model = EdgeScorer(config.model, norm.get("x_mean"), norm.get("x_std")).to(dev)
        self.opt, self.sched = make_optimizer(config, self.model.parameters())
        self.start, self.best, self.trained_before, self.sampler_state = 0, {"purity": -math.inf}, 0.0, None
        self.cpu_before = 0.0
        self.last = run_dir / "last.pt"
        if config.init and not self.last.is_file():
            self.model.load_state_dict(load_checkpoint(config.init, map_location=dev)["model"])
        if self.last.is_file():
            ck = load_checkpoint(self.last, map_location=dev)
            self.model.load_state_dict(ck["model"])
            self.opt.load_state_dict(ck["optimizer"])
            if self.sched is not None:
                self.sched.load_state_dict(ck["scheduler"])
            self.rng = ck["rng"]
            self.start, self.best = ck["step"], ck["best"]
            self.trained_before = float(ck.get("train_seconds", 0.0))
            self.cpu_before = float(ck.get("step_cpu_seconds", 0.0))

    def open_metrics(self) -> None:
        path = self.dir / "metrics.csv"
        if self.start == 0 and path.exists():
            path.unlink()
        # rows written after the last checkpoint are dropped: the resumed run writes them again; so is a last line
        # cut by a kill (no newline at its end: "12,tr" would otherwise read as a row of step 1)
        if path.exists():
            text = path.read_text()
            if not text.endswith("\n"):
                text = text[:text.rfind("\n") + 1]
            rows = [r for r in csv.DictReader(io.StringIO(text))
                    if (r.get("step") or "").isdigit() and int(r["step"]) <= self.start]
            with open(path, "w", newline="") as fh:
                w = csv.DictWriter(fh, METRIC_FIELDS)
                w.writeheader()
                w.writerows(rows)
        self.fh = open(path, "a", newline="")
        self.writer = csv.DictWriter(self.fh, METRIC_FIELDS)
        if self.start == 0:
            self.writer.writeheader()

    def checkpoint(self, step: int, val: dict, gen: torch.Generator, seconds: float, step_cpu: float) -> None:
        state = {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                 "scheduler": self.sched.state_dict() if self.sched is not None else None,
                 "rng": _rng_state(gen), "step": step, "config": self.config.to_dict(),
                 "normalization": self.norm, "train_seconds": self.trained_before + seconds,
                 "step_cpu_seconds": self.cpu_before + step_cpu}
        if not math.isnan(val["purity"]) and val["purity"] > self.best.get("purity", -math.inf):
            self.best = {**val, "step": step}
            _save(self.dir / "best.pt", {**state, "best": self.best})
        state["best"] = self.best
        _save(self.last, state)


def make_optimizer(config: TrainConfig, params) -> tuple[torch.optim.Optimizer, object]:
    """The optimiser and learning-rate schedule of a configuration (the schedule None for a constant rate)."""
    kind = {"rmsprop": torch.optim.RMSprop, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[config.optimizer]
    extra = {"weight_decay": config.weight_decay} if config.weight_decay or config.optimizer == "adamw" else {}
    opt = kind(params, lr=config.lr, **extra)
    lrs = torch.optim.lr_scheduler
    if config.step_lr:
        sched = lrs.StepLR(opt, config.lr_step, config.lr_gamma)
    elif config.cosine_lr:
        sched = lrs.CosineAnnealingLR(opt, config.steps, config.lr * config.lr_min_factor)
    elif config.one_cycle:
        # cycle_momentum off: RMSProp without momentum has none to cycle, and Adam's betas stay the paper-free
        # defaults for every recipe alike
        sched = lrs.OneCycleLR(opt, max_lr=config.lr, total_steps=config.steps, pct_start=config.warmup_fraction,
                               cycle_momentum=False)
    else:
        sched = None
    return opt, sched


def train_many(configs: list[TrainConfig], train_frames, val_frames, run_dirs: list[str | Path],
               normalization: dict | None = None, data_info: dict | None = None, progress: bool = True,
               stop_after: int | None = None, device: str | None = "cpu", max_seconds: float | None = None,
               workers: int = 1, easy_frames=None) -> list[dict]:
    """Train (or resume) several models in one process, each in its own run folder exactly as :func:`train` writes
    it; returns their best validation metrics. Every step loads each frame once for all models, encodes its edges
    once, solves all models' assignments in one call and back-propagates all losses together; each model keeps
    its own initialisation seed, optimiser and metrics. The models must share the schedule and the frames
    (:func:`check_together`); the result of each equals a separate :func:`train` with the same configuration
    (tested). Memory grows with the number of models (every model's activations of one frame are held until the
    joint backward pass). ``easy_frames``: the frames of the first ``curriculum_steps`` steps (a density
    curriculum); needed exactly when ``curriculum_steps`` > 0."""
    configs = list(configs)
    run_dirs = [Path(d) for d in run_dirs]
    if len(configs) != len(run_dirs):
        raise TrainError(f"{len(configs)} configurations for {len(run_dirs)} run folders")
    if len({d.resolve() for d in run_dirs}) != len(run_dirs):
        raise TrainError("models trained together need one run folder each")
    check_together(configs)
    if len(train_frames) == 0 or len(val_frames) == 0:
        raise TrainError("training and validation sets must not be empty")
    if configs[0].curriculum_steps and not (easy_frames is not None and len(easy_frames)):
        raise TrainError("curriculum_steps > 0 needs the curriculum's frames (easy_frames)")
    for c, d in zip(configs, run_dirs):
        _check_config(d, c, {"data": data_info or {}})
    keep_freed_memory()
    norm = normalization or {}
    dev = resolve_device(device)
    runs = [_Run(c, d, norm, dev) for c, d in zip(configs, run_dirs)]
    first = configs[0]
    gen = torch.Generator().manual_seed(_sampler_seed(first))
    if len({r.start for r in runs}) > 1:
        # a kill between two models' checkpoint saves: the runs behind are trained alone (the same frames, from
        # their own checkpoints; a run alone equals the same run trained with others) up to the next run ahead,
        # until all stand at the same step; nothing is rolled back or lost
        lowest = min(r.start for r in runs)
        ahead = min(r.start for r in runs if r.start > lowest)
        behind = [k for k, r in enumerate(runs) if r.start == lowest]
        if progress:
            print(f"resuming: {len(behind)} of {len(runs)} runs stopped at step {lowest}, the others later; "
                  f"training those to step {ahead} first", flush=True)
        del runs
        train_many([configs[k] for k in behind], train_frames, val_frames, [run_dirs[k] for k in behind],
                   normalization, data_info, progress, ahead - lowest, device, None, workers, easy_frames)
        return train_many(configs, train_frames, val_frames, run_dirs, normalization, data_info, progress,
                          stop_after, device, max_seconds, workers, easy_frames)
    start = runs[0].start
    if start:
        states = [r.rng["sampler"] for r in runs]
        if any(not torch.equal(states[0], st) for st in states[1:]):
            raise TrainError("the runs' batch samplers are in different states: they were not trained together")
        _set_rng_state(runs[0].rng, gen)
    for r in runs:
        r.open_metrics()
    val_subset = [val_frames[i].to(dev) for i in validation_indices(val_frames, first.max_val_frames)]
    bn_subset = [train_frames[i].to(dev) for i in validation_indices(train_frames, first.bn_frames)]
    models = [r.model for r in runs]
    for m in models:
        m.train()
    desc = f"train {first.mode}" if len(runs) == 1 else f"train {len(runs)} models"
    bar = progress_bar(range(start + 1, first.steps + 1), desc=desc, unit="step", enabled=progress, initial=start,
                       total=first.steps)
    done, n_batch = 0, first.batch_frames
    t0 = time.perf_counter()
    # process CPU seconds of the training steps alone (every thread; validations and BatchNorm recomputation
    # left out), the currency of time-to-accuracy comparisons; shared by the models trained together
    cpu0, val_cpu = time.process_time(), 0.0
    try:
        for step in bar:
            pool = easy_frames if step <= first.curriculum_steps else train_frames
            idx = torch.randint(len(pool), (n_batch,), generator=gen).tolist()
            for r in runs:
                r.opt.zero_grad(set_to_none=True)
            totals = [0.0] * len(runs)
            conf = [[0, 0, 0, 0] for _ in runs]
            per_pass = first.frames_per_pass
            for p0 in range(0, n_batch, per_pass):
                frames = [pool[i].to(dev) for i in idx[p0:p0 + per_pass]]
                results = pass_steps(models, frames, configs, loss_scale=1.0 / n_batch, workers=workers)
                sum(loss / n_batch for per_frame in results for loss, _, _ in per_frame).backward()
                for g, per_frame in zip(frames, results):
                    truth = g.y.cpu().numpy()
                    for k, (loss, _, y_rec) in enumerate(per_frame):
                        totals[k] += float(loss.detach())
                        m = edge_metrics(y_rec, truth)
                        conf[k] = [conf[k][0] + m["tp"], conf[k][1] + m["fp"], conf[k][2] + m["tn"],
                                   conf[k][3] + m["fn"]]
            for r, total, (tp, fp, tn, fn) in zip(runs, totals, conf):
                r.opt.step()
                if r.sched is not None:
                    r.sched.step()
                r.writer.writerow({"step": step, "split": "train", "tpr": tp / (tp + fn) if tp + fn else math.nan,
                                   "fpr": fp / (fp + tn) if fp + tn else math.nan, "purity": math.nan,
                                   "efficiency": math.nan, "loss": total / n_batch})
            bar.set_postfix(loss=f"{totals[0] / n_batch:.4g}" if len(runs) == 1 else
                            f"{np.mean(totals) / n_batch:.4g} (mean)")
            if step % first.eval_every == 0 or step == first.steps:
                v0 = time.process_time()
                step_cpu = v0 - cpu0 - val_cpu
                recalibrate_batchnorm(models, bn_subset)
                vals = evaluate_many(models, val_subset, configs, workers=workers)
                val_cpu += time.process_time() - v0
                for r, val in zip(runs, vals):
                    r.writer.writerow({"step": step, "split": "val", **val})
                    r.fh.flush()
                    r.checkpoint(step, val, gen, time.perf_counter() - t0, step_cpu)
            done += 1
            if stop_after is not None and done >= stop_after:
                break
            if max_seconds is not None and step % first.eval_every == 0 and time.perf_counter() - t0 > max_seconds:
                break
    finally:
        bar.close()
        for r in runs:
            if hasattr(r, "fh"):
                r.fh.close()
    out = []
    seconds = time.perf_counter() - t0
    for r in runs:
        best = dict(r.best)
        best["settled"] = settled_validation(r.dir / "metrics.csv", r.config.settle_validations)
        best["seconds_this_call"] = seconds
        best["models_together"] = len(runs)
        best["train_seconds"] = r.trained_before + seconds  # the whole run, resumed calls included
        write_json_atomic(r.dir / "best.json", best)
        out.append(best)
    return out


def settled_validation(metrics_csv: str | Path, last: int) -> dict:
    """Mean and standard deviation (ddof 1; NaN for one value) of the last ``last`` validations of a run, per
    metric, with the steps they span: how good a run is once settled, beside its best checkpoint."""
    rows = [r for r in csv.DictReader(open(metrics_csv)) if r["split"] == "val"][-last:]
    out: dict = {"n": len(rows), "steps": [int(r["step"]) for r in rows]}
    for key in ("tpr", "fpr", "purity", "efficiency"):
        v = np.array([float(r[key]) if r[key] != "" else math.nan for r in rows])
        out[key] = {"mean": float(np.nanmean(v)) if np.isfinite(v).any() else math.nan,
                    "std": float(np.nanstd(v, ddof=1)) if np.isfinite(v).sum() > 1 else math.nan}
    return out


def load_model(checkpoint: str | Path) -> EdgeScorer:
    """The model of a checkpoint (``best.pt`` or ``last.pt``), in eval mode."""
    ck = load_checkpoint(checkpoint)
    cfg = ck["config"]["model"]
    model = EdgeScorer(ModelConfig(**cfg), ck["normalization"].get("x_mean"), ck["normalization"].get("x_std"))
    model.load_state_dict(ck["model"])
    return model.eval()
