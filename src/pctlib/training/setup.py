"""What a training request (the parameters of ``04_train_run``) turns into before the first step: its data
(simulated and built once, shared), the configuration of every model, and the run folder of each.

``04_train_run`` and ``benchmarks/gpu_zoo_train.py`` (the reference zoo trained on a GPU) both build their trainings
here, so a run folder holds the same training whichever of them started or resumes it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .config import TrainConfig

#: the parameters of ``04_train_run`` that decide a training (tested to be declared by its parameters cell)
TRAINING_PARAMETERS = (
    "mode", "lam", "seed", "steps", "batch_frames", "eval_every", "lr", "step_lr", "cosine_lr", "one_cycle",
    "warmup_fraction", "optimizer", "weight_decay", "w_tracker", "w_calorimeter", "loss_normalisation",
    "lambda_scope", "max_val_frames", "phantoms", "train_primaries", "val_primaries", "data_seed",
    "primaries_per_frame", "bn_frames", "models", "frames_per_pass", "graph_builder", "preselect",
    "module_primaries", "data_dir", "resume_on_other_cpus", "cached_train_frames")


@dataclass
class TrainingSetup:
    """Everything ``train_many`` needs for one request, and where its data live."""

    configs: list[TrainConfig]
    run_dirs: list[Path]
    train_frames: Any
    val_frames: Any
    normalization: dict
    data_info: dict
    machine_dependent: tuple[str, ...]
    data_root: Path

    @property
    def together(self) -> bool:
        return len(self.configs) > 1


def run_folder(parent: Path, config: TrainConfig, data_info: Mapping[str, Any],
               machine_dependent: tuple[str, ...] = ()) -> Path:
    """``parent/<mode>_lam<lam>_seed<seed>_<hash>``: the hash of the configuration and of the data's description
    without its machine-dependent entries (so that a run resumed on another CPU keeps its folder)."""
    named_by = {k: v for k, v in data_info.items() if k not in machine_dependent}
    blob = json.dumps({"cfg": config.to_dict(), **named_by}, sort_keys=True, default=str)
    digest = hashlib.sha256(blob.encode()).hexdigest()[:10]
    return parent / f"{config.mode}_lam{config.lam:g}_seed{config.seed}_{digest}"


def training_setup(p: Mapping[str, Any], root: Path, default_parent: Path, progress: bool = True) -> TrainingSetup:
    """The training ``p`` asks for (every name of :data:`TRAINING_PARAMETERS`; ``run_root`` optional: the run
    folders' parent relative to ``root``, else ``default_parent``). Its data are simulated and their graphs built
    under ``root / data_dir`` (``data/`` when empty) unless already there."""
    from ..zoo import expand_models
    from .data import DataSpec, feature_statistics, graph_setup, prepare

    missing = [k for k in TRAINING_PARAMETERS if k not in p]
    if missing:
        raise KeyError(f"training parameters missing: {', '.join(missing)}")
    root = Path(root)
    data_root = root / (p["data_dir"] or "data")
    phantoms = tuple(p["phantoms"])
    tr_spec = DataSpec("train", phantoms, p["train_primaries"], p["data_seed"], p["primaries_per_frame"])
    va_spec = DataSpec("val", phantoms, p["val_primaries"], p["data_seed"] + 1, p["primaries_per_frame"])
    # angular graphs without a classifier (the paper's), or those of a learned graph builder / hit classifier,
    # trained once on their own hits (chapter 09 studies them)
    graph_cfg, modules = graph_setup(data_root, p["graph_builder"], p["preselect"], phantoms,
                                     p["primaries_per_frame"], p["module_primaries"])
    train_frames = prepare(tr_spec, data_root, graph=graph_cfg, modules=modules, max_cached=p["cached_train_frames"],
                           progress=progress)
    val_frames = prepare(va_spec, data_root, graph=graph_cfg, modules=modules, progress=progress)
    wanted = expand_models(p["models"]) if p["models"] else [(p["mode"], p["lam"], p["seed"])]
    together = len(wanted) > 1
    configs = [TrainConfig(mode=m, lam=lam, seed=s, steps=p["steps"], batch_frames=p["batch_frames"],
                           eval_every=p["eval_every"], lr=p["lr"], step_lr=p["step_lr"], cosine_lr=p["cosine_lr"],
                           one_cycle=p["one_cycle"], warmup_fraction=p["warmup_fraction"],
                           optimizer=p["optimizer"], weight_decay=p["weight_decay"],
                           max_val_frames=p["max_val_frames"], w_tracker=p["w_tracker"],
                           w_calorimeter=p["w_calorimeter"], loss_normalisation=p["loss_normalisation"],
                           lambda_scope=p["lambda_scope"], bn_frames=p["bn_frames"],
                           frames_per_pass=p["frames_per_pass"],
                           # models trained together see the same frames: their batches are drawn with data_seed
                           data_seed=p["data_seed"] if together else None) for m, lam, s in wanted]
    data_info = {"train": vars(tr_spec), "val": vars(va_spec), "train_data": train_frames.identity,
                 "val_data": val_frames.identity}
    if graph_cfg.uses_modules:  # recorded only when used, so that the reference runs keep their folders
        data_info["graph"] = graph_cfg.to_dict()
    # simulated hits are byte-identical on one CPU, not across CPUs (vectorised kernels round differently): a run
    # trained over several machines (the reference zoo) ships its validation hits (data_dir) and simulates its
    # training hits again on each machine; its folder is then named by the data's specification, and
    # data_history.json in it records which steps saw which machine's training hits
    machine_dependent = ("train_data",) if p["resume_on_other_cpus"] else ()
    parent = root / p["run_root"] if p.get("run_root") else Path(default_parent)
    run_dirs = [run_folder(parent, c, data_info, machine_dependent) for c in configs]
    return TrainingSetup(configs, run_dirs, train_frames, val_frames, feature_statistics(train_frames), data_info,
                         machine_dependent, data_root)
