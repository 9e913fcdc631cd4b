"""Training predict-then-track (BCE on scores) or predict-and-track (Hamming loss through the blackbox assignment).

One run lives in a folder: ``config.json`` (the request; a different request for the same folder is refused),
``metrics.csv`` (one row per step and split: step, split, tpr, fpr, purity, efficiency, loss; TPR and FPR are those
of the *reconstructed* segments, i.e. of the assignment, as in the paper's Sec. 5; a PTT model's training rows have
none under on-device step metrics, ``train_many(step_metrics=...)``), ``last.pt`` and
``best.pt`` (model, optimizer, scheduler and every RNG state; written atomically every ``eval_every`` steps; best by
validation purity). A run that finds ``last.pt`` resumes from it and ends bit-identical to an uninterrupted run on
the CPU (tested). Steps use ``batch_frames`` frames by gradient accumulation, as the paper does.

This module holds the training loop (:func:`train`, :func:`train_many`, one model's state in ``_Run``, the
optimiser and schedule of a configuration); the other rooms of a training are ``config`` (:class:`TrainConfig`),
``step`` (the losses, scores and assignments of a pass), ``validation`` (the paper's metrics on validation
frames), ``checkpoint`` (checkpoints, run-folder records, the model of a checkpoint) and ``batchnorm``. Their
names are re-exported here.
"""

from __future__ import annotations

import csv
import io
import math
import random
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from ..allocator import keep_freed_memory
from ..fileio import write_json_atomic
from ..models.interaction_network import EdgeScorer
from ..progress import progress_bar
from ..tracks.metrics import edge_metrics
from .batchnorm import recalibrate_batchnorm
# the rooms of a training, re-exported here where every caller has always found them
from .checkpoint import (_check_config, _rng_state, _save, _set_rng_state, check_run_folder,  # noqa: F401
                         load_checkpoint, load_model, record_data_segment)
from .config import LAMBDA_SCOPES, OPTIMIZERS, TrainConfig, TrainError  # noqa: F401
from .step import frame_loss, frame_step, frame_steps, pass_steps  # noqa: F401
from .validation import evaluate, evaluate_many, settled_validation, validation_indices  # noqa: F401

METRIC_FIELDS = ["step", "split", "tpr", "fpr", "purity", "efficiency", "loss"]
STEP_METRICS = ("assignment", "device", "auto")


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


def _train_row(step: int, loss: float, counts: list | None) -> dict:
    """A training row of ``metrics.csv``: the step's mean frame loss and the TPR/FPR of its assignments (NaN
    where none were solved, or on empty denominators)."""
    tp, fp, tn, fn = counts if counts is not None else (0, 0, 0, 0)
    return {"step": step, "split": "train", "tpr": tp / (tp + fn) if tp + fn else math.nan,
            "fpr": fp / (fp + tn) if fp + tn else math.nan, "purity": math.nan, "efficiency": math.nan,
            "loss": loss}


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
               workers: int = 1, easy_frames=None, machine_dependent: tuple[str, ...] = (),
               stack_models: bool | str = "auto", resident_frames: bool | str = "auto",
               step_metrics: str = "auto") -> list[dict]:
    """Train (or resume) several models in one process, each in its own run folder exactly as :func:`train` writes
    it; returns their best validation metrics. Every step loads each frame once for all models, encodes its edges
    once, solves all models' assignments in one call and back-propagates all losses together; each model keeps
    its own initialisation seed, optimiser and metrics. The models must share the schedule and the frames
    (:func:`check_together`); the result of each equals a separate :func:`train` with the same configuration
    (tested). Memory grows with the number of models (every model's activations of one frame are held until the
    joint backward pass). ``easy_frames``: the frames of the first ``curriculum_steps`` steps (a density
    curriculum); needed exactly when ``curriculum_steps`` > 0. ``machine_dependent``: keys of ``data_info`` whose
    values may differ from those of the folder's first request (training hits simulated again on another CPU, the
    same seeds and configuration but other rounding); a resume with other values goes on, the models keeping their
    recorded input normalisation, and each run's ``data_history.json`` records from which step which values held
    (and on which CPU). ``stack_models``: score the models as one network (``models.stacked``: the same scores and
    gradients to float rounding, but RMSProp turns rounding-sized gradients into steps of the learning rate's size,
    so the weights are not those of the side-by-side run; True, False, or ``"auto"``: on CUDA devices, where it is
    faster). ``resident_frames``: the training frames copied to the device once and served from there
    (``training.resident``; True, False, or ``"auto"``: on CUDA devices when they fit in half the free memory, else
    from the graph cache with a warning). ``step_metrics``: what the training rows of ``metrics.csv`` hold:
    ``"assignment"``, every step's loss and the TPR/FPR of its assignments (PTT models' frames are assigned for
    it, and each number is read back from the device at every step); ``"device"``, the loss accumulated on the
    device and written at each validation (PTT models' rows then have no TPR/FPR, and a step of PTT models alone
    waits for nothing on the host); ``"auto"``: ``"device"`` on CUDA devices. The weights do not depend on it
    (tested)."""
    for name, value in (("stack_models", stack_models), ("resident_frames", resident_frames)):
        if value not in (True, False, "auto"):
            raise TrainError(f"{name} must be True, False or 'auto', got {value!r}")
    if step_metrics not in STEP_METRICS:
        raise TrainError(f"step_metrics must be one of {STEP_METRICS}, got {step_metrics!r}")
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
    changed = [_check_config(d, c, {"data": data_info or {}}, machine_dependent) for c, d in zip(configs, run_dirs)]
    keep_freed_memory()
    norm = normalization or {}
    dev = resolve_device(device)
    runs = [_Run(c, d, norm, dev) for c, d in zip(configs, run_dirs)]
    stack = len(runs) > 1 and (stack_models is True or (stack_models == "auto" and dev.type == "cuda"))
    if stack and len({c.model for c in configs}) > 1:
        if stack_models is True:
            raise TrainError("stack_models=True needs one model architecture (ModelConfig) for all models")
        stack = False
    if machine_dependent:
        for r, ch in zip(runs, changed):
            if ch and r.start:  # resumed on other hits: the model keeps the normalisation it was trained with
                r.norm = load_checkpoint(r.last)["normalization"]
            record_data_segment(r.dir, r.start, {k: (data_info or {}).get(k) for k in machine_dependent})
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
                   normalization, data_info, progress, ahead - lowest, device, None, workers, easy_frames,
                   machine_dependent, stack_models, resident_frames)
        return train_many(configs, train_frames, val_frames, run_dirs, normalization, data_info, progress,
                          stop_after, device, max_seconds, workers, easy_frames, machine_dependent, stack_models,
                          resident_frames)
    start = runs[0].start
    if start:
        states = [r.rng["sampler"] for r in runs]
        if any(not torch.equal(states[0], st) for st in states[1:]):
            raise TrainError("the runs' batch samplers are in different states: they were not trained together")
        _set_rng_state(runs[0].rng, gen)
    if resident_frames is True or (resident_frames == "auto" and dev.type == "cuda"):
        from .resident import ResidentError, ResidentFrames

        try:
            train_frames = ResidentFrames(train_frames, dev, progress=progress)
            if easy_frames is not None:
                easy_frames = ResidentFrames(easy_frames, dev, progress=progress)
        except ResidentError as exc:
            if resident_frames is True:
                raise
            warnings.warn(f"training frames read from the graph cache: {exc}", ResourceWarning, stacklevel=2)
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
    on_device = step_metrics == "device" or (step_metrics == "auto" and dev.type == "cuda")
    pending: list = []  # on_device: (step, every model's loss on the device, confusion counts), written in bulk

    def write_train_rows() -> None:
        if not pending:
            return
        losses = torch.stack([torch.stack(ls) for _, ls, _ in pending]).cpu().tolist()  # the one read
        for (step_, _, conf_), row in zip(pending, losses):
            for r, total, counts in zip(runs, row, conf_):
                r.writer.writerow(_train_row(step_, total / n_batch, counts))
        if progress:
            bar.set_postfix(loss=f"{losses[-1][0] / n_batch:.4g}" if len(runs) == 1 else
                            f"{np.mean(losses[-1]) / n_batch:.4g} (mean)")
        pending.clear()

    try:
        for step in bar:
            pool = easy_frames if step <= first.curriculum_steps else train_frames
            idx = torch.randint(len(pool), (n_batch,), generator=gen).tolist()
            for r in runs:
                r.opt.zero_grad(set_to_none=True)
            totals: list = [0.0] * len(runs)
            conf: list = [None] * len(runs)  # None: no assignment this step (PTT with on-device metrics)
            per_pass = first.frames_per_pass
            for p0 in range(0, n_batch, per_pass):
                frames = [pool[i].to(dev) for i in idx[p0:p0 + per_pass]]
                results = pass_steps(models, frames, configs, loss_scale=1.0 / n_batch, workers=workers, stack=stack,
                                     assign_ptt=not on_device)
                sum(loss / n_batch for per_frame in results for loss, _, _ in per_frame).backward()
                for g, per_frame in zip(frames, results):
                    truth = g.y.cpu().numpy() if any(y is not None for _, _, y in per_frame) else None
                    for k, (loss, _, y_rec) in enumerate(per_frame):
                        totals[k] = totals[k] + (loss.detach().double() if on_device else float(loss.detach()))
                        if y_rec is not None:
                            m = edge_metrics(y_rec, truth)
                            c = conf[k] or [0, 0, 0, 0]
                            conf[k] = [c[0] + m["tp"], c[1] + m["fp"], c[2] + m["tn"], c[3] + m["fn"]]
            for r in runs:
                r.opt.step()
                if r.sched is not None:
                    r.sched.step()
            if on_device:
                pending.append((step, [torch.as_tensor(t, dtype=torch.float64, device=dev) for t in totals], conf))
            else:
                for r, total, counts in zip(runs, totals, conf):
                    r.writer.writerow(_train_row(step, total / n_batch, counts))
                bar.set_postfix(loss=f"{totals[0] / n_batch:.4g}" if len(runs) == 1 else
                                f"{np.mean(totals) / n_batch:.4g} (mean)")
            if step % first.eval_every == 0 or step == first.steps:
                write_train_rows()
                v0 = time.process_time()
                step_cpu = v0 - cpu0 - val_cpu
                recalibrate_batchnorm(models, bn_subset)
                vals = evaluate_many(models, val_subset, configs, workers=workers, stack=stack)
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
        try:
            write_train_rows()  # rows after the last checkpoint: dropped again by a resume, as in either mode
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
