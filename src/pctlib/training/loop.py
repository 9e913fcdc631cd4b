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

from ..assign.batch import assign_scores
from ..assign.blackbox import assign_differentiable
from ..assign.layout import layout_of_graph
from ..assign.losses import NORMALISATIONS, TRACKER_GROUPS, hamming_loss, segment_weights
from ..allocator import keep_freed_memory
from ..fileio import write_bytes_atomic, write_json_atomic
from ..models.interaction_network import EdgeScorer, ModelConfig
from ..tracks.build import build_tracks
from ..tracks.metrics import edge_metrics, track_metrics

METRIC_FIELDS = ["step", "split", "tpr", "fpr", "purity", "efficiency", "loss"]
LAMBDA_SCOPES = ("frame", "batch")


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
    lr_step: int = 1000
    lr_gamma: float = 0.5
    eval_every: int = 100
    max_val_frames: int = 50
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
    min_track_hits: int = 4
    min_last_edep: float = 0.0625
    model: ModelConfig = field(default_factory=ModelConfig)

    def __post_init__(self):
        if self.mode not in ("ptt", "pat"):
            raise TrainError(f"mode must be 'ptt' or 'pat', got {self.mode!r}")
        if self.steps < 1 or self.batch_frames < 1 or self.eval_every < 1:
            raise TrainError("steps, batch_frames and eval_every must be positive")
        if not self.lam > 0 or not math.isfinite(self.lam):
            raise TrainError(f"lam must be positive and finite, got {self.lam}")
        from ..checks import NumberError, check_number

        try:
            check_number(self.lr, "lr", above=0.0)
            check_number(self.lr_gamma, "lr_gamma", above=0.0, maximum=1.0)
            check_number(self.min_last_edep, "min_last_edep", minimum=0.0)
            for name in ("steps", "batch_frames", "eval_every", "max_val_frames", "lr_step", "min_track_hits"):
                check_number(getattr(self, name), name, minimum=1 if name != "min_track_hits" else 0, integer=True)
        except NumberError as exc:
            raise TrainError(str(exc)) from None
        for name in ("w_tracker", "w_calorimeter"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise TrainError(f"{name} must be finite and >= 0, got {v}")
        if self.w_tracker == 0 and self.w_calorimeter == 0:
            raise TrainError("w_tracker and w_calorimeter must not both be 0")
        choices = {"loss_normalisation": NORMALISATIONS, "tracker_group": TRACKER_GROUPS,
                   "lambda_scope": LAMBDA_SCOPES}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise TrainError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")

    def to_dict(self) -> dict:
        return asdict(self)


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
    logits = model.logits(g.x, g.edge_index, g.edge_u)
    weights = segment_weights(g.hit_x[g.hit_edge_index[0], 4].long(), config.w_tracker, config.w_calorimeter,
                              normalisation=config.loss_normalisation, tracker_group=config.tracker_group)
    layout = layout_of_graph(g)
    scores = torch.sigmoid(logits)
    if config.mode == "ptt":
        loss = F.binary_cross_entropy_with_logits(logits, g.y, weight=weights) if logits.numel() else logits.sum()
        assigned = assign_scores(scores.detach().cpu().numpy(), layout)
        return loss, scores, assigned
    scale = loss_scale if config.lambda_scope == "frame" else 1.0
    y_hat = assign_differentiable(scores, layout, config.lam, config.scale_by_lambda, loss_scale=scale)
    loss = hamming_loss(y_hat, g.y, weights) if scores.numel() else scores.sum()
    return loss, scores, y_hat.detach().cpu().numpy().astype(np.int8)


def frame_loss(model: EdgeScorer, g, config: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss of one frame and its scores."""
    loss, scores, _ = frame_step(model, g, config)
    return loss, scores


@torch.no_grad()
def evaluate(model: EdgeScorer, frames, config: TrainConfig) -> dict:
    """TPR/FPR of the reconstructed (assigned) segments and the paper's track purity/efficiency
    (``tracks/metrics.py``), counts pooled over ``frames``."""
    was_training = model.training
    model.eval()
    tp = fp = tn = fn = 0
    primary_tracks = correct_primary = primary_events = 0
    losses = []
    for g in frames:
        loss, _, y = frame_step(model, g, config)
        losses.append(float(loss))
        m = edge_metrics(y, g.y.cpu().numpy())
        tp, fp, tn, fn = tp + m["tp"], fp + m["fp"], tn + m["tn"], fn + m["fn"]
        tr = build_tracks(g.hit_x.shape[0], g.hit_edge_index.cpu().numpy(), y)
        tm = track_metrics(tr, g.hit_event.cpu().numpy(), g.hit_track.cpu().numpy(), g.hit_x[:, 0].cpu().numpy(),
                           g.hit_clean.cpu().numpy(), int(g.n_clean_primaries), config.min_track_hits,
                           config.min_last_edep)
        primary_tracks += tm["primary_tracks"]
        correct_primary += tm["correct_primary"]
        primary_events += tm["primary_events"]
    model.train(was_training)

    def r(a, b):
        return a / b if b else math.nan

    return {"tpr": r(tp, tp + fn), "fpr": r(fp, fp + tn), "purity": r(correct_primary, primary_tracks),
            "efficiency": r(correct_primary, primary_events),
            "loss": float(np.mean(losses)) if losses else math.nan}


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
          device: str | None = "cpu", max_seconds: float | None = None) -> dict:
    """Train (or resume) a run; returns the best validation metrics. ``stop_after`` ends the call early after that
    many steps (as an interruption would); ``max_seconds`` ends it after the first checkpoint past that time.
    Frames are moved to ``device`` as they are used (the same code on CPU and GPU)."""
    run_dir = Path(run_dir)
    if len(train_frames) == 0 or len(val_frames) == 0:
        raise TrainError("training and validation sets must not be empty")
    _check_config(run_dir, config, {"data": data_info or {}})
    keep_freed_memory()
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    random.seed(config.seed)
    norm = normalization or {}
    dev = resolve_device(device)
    model = EdgeScorer(config.model, norm.get("x_mean"), norm.get("x_std")).to(dev)
    opt = torch.optim.RMSprop(model.parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, config.lr_step, config.lr_gamma) if config.step_lr else None
    gen = torch.Generator().manual_seed(config.seed + 1)
    start, best = 0, {"purity": -math.inf}
    trained_before = 0.0  # training seconds of earlier calls (a resumed run), kept in the checkpoints
    last = run_dir / "last.pt"
    if last.is_file():
        ck = load_checkpoint(last, map_location=dev)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        if sched is not None:
            sched.load_state_dict(ck["scheduler"])
        _set_rng_state(ck["rng"], gen)
        start, best = ck["step"], ck["best"]
        trained_before = float(ck.get("train_seconds", 0.0))
    metrics_path = run_dir / "metrics.csv"
    if start == 0 and metrics_path.exists():
        metrics_path.unlink()
    # rows written after the last checkpoint are dropped: the resumed run writes them again
    if metrics_path.exists():
        rows = [r for r in csv.DictReader(open(metrics_path)) if int(r["step"]) <= start]
        with open(metrics_path, "w", newline="") as fh:
            w = csv.DictWriter(fh, METRIC_FIELDS)
            w.writeheader()
            w.writerows(rows)
    fh = open(metrics_path, "a", newline="")
    writer = csv.DictWriter(fh, METRIC_FIELDS)
    if start == 0:
        writer.writeheader()
    val_subset = [val_frames[i].to(dev) for i in validation_indices(val_frames, config.max_val_frames)]
    model.train()
    bar = progress_bar(range(start + 1, config.steps + 1), desc=f"train {config.mode}", unit="step", enabled=progress,
               initial=start, total=config.steps)
    done = 0
    t0 = time.perf_counter()
    try:
        for step in bar:
            idx = torch.randint(len(train_frames), (config.batch_frames,), generator=gen).tolist()
            opt.zero_grad(set_to_none=True)
            total = 0.0
            tp = fp = tn = fn = 0
            for i in idx:
                g = train_frames[i].to(dev)
                loss, _, y_rec = frame_step(model, g, config, loss_scale=1.0 / config.batch_frames)
                (loss / config.batch_frames).backward()
                total += float(loss.detach())
                m = edge_metrics(y_rec, g.y.cpu().numpy())
                tp, fp, tn, fn = tp + m["tp"], fp + m["fp"], tn + m["tn"], fn + m["fn"]
            opt.step()
            if sched is not None:
                sched.step()
            writer.writerow({"step": step, "split": "train", "tpr": tp / (tp + fn) if tp + fn else math.nan,
                             "fpr": fp / (fp + tn) if fp + tn else math.nan, "purity": math.nan,
                             "efficiency": math.nan, "loss": total / config.batch_frames})
            bar.set_postfix(loss=f"{total / config.batch_frames:.4g}")
            if step % config.eval_every == 0 or step == config.steps:
                val = evaluate(model, val_subset, config)
                writer.writerow({"step": step, "split": "val", **val})
                fh.flush()
                state = {"model": model.state_dict(), "optimizer": opt.state_dict(),
                         "scheduler": sched.state_dict() if sched is not None else None,
                         "rng": _rng_state(gen), "step": step, "config": config.to_dict(),
                         "normalization": norm,
                         "train_seconds": trained_before + time.perf_counter() - t0}
                if not math.isnan(val["purity"]) and val["purity"] > best.get("purity", -math.inf):
                    best = {**val, "step": step}
                    _save(run_dir / "best.pt", {**state, "best": best})
                state["best"] = best
                _save(last, state)
            done += 1
            if stop_after is not None and done >= stop_after:
                break
            if max_seconds is not None and step % config.eval_every == 0 and time.perf_counter() - t0 > max_seconds:
                break
    finally:
        bar.close()
        fh.close()
    best = dict(best)
    best["seconds_this_call"] = time.perf_counter() - t0
    best["train_seconds"] = trained_before + best["seconds_this_call"]  # the whole run, resumed calls included
    write_json_atomic(run_dir / "best.json", best)
    return best


def load_model(checkpoint: str | Path) -> EdgeScorer:
    """The model of a checkpoint (``best.pt`` or ``last.pt``), in eval mode."""
    ck = load_checkpoint(checkpoint)
    cfg = ck["config"]["model"]
    model = EdgeScorer(ModelConfig(**cfg), ck["normalization"].get("x_mean"), ck["normalization"].get("x_std"))
    model.load_state_dict(ck["model"])
    return model.eval()
