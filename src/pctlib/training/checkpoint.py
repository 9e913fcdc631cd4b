"""A run's files: checkpoints (tensors and plain values only, written whole, loaded with ``weights_only=True``,
every RNG state in them), the configuration record of a run folder (another request for the same folder is
refused), and the model of a checkpoint."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import numpy as np
import torch

from ..fileio import write_bytes_atomic, write_json_atomic
from ..machine import cpu_name
from ..models.interaction_network import EdgeScorer, ModelConfig
from .config import TrainConfig, TrainError


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


def _check_config(run_dir: Path, config: TrainConfig, extra: dict, machine_dependent: tuple[str, ...] = ()) -> dict:
    """Refuse a folder that holds another request; write the request into a new one. ``machine_dependent``: keys of
    ``extra["data"]`` (e.g. ``train_data``, the content hashes of hits simulated again on each machine) that may
    differ from the recorded ones; returns those that do, with the values of this call."""
    path = run_dir / "config.json"
    want = {"train": config.to_dict(), **extra}
    if not path.is_file():
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, want)
        return {}
    have = json.loads(path.read_text())
    have_data, want_data = dict(have.get("data") or {}), dict(json.loads(json.dumps(want.get("data") or {},
                                                                                     default=str)))
    changed = {k: want_data[k] for k in machine_dependent if k in want_data and have_data.get(k) != want_data[k]}
    for k in changed:
        want_data[k] = have_data.get(k)
    detail = _differences(have, {**want, "data": want_data} if "data" in want else want, set(have) | set(want))
    if detail:
        raise TrainError(f"{run_dir} holds a run with another configuration ({'; '.join(detail)}); "
                         "use another folder or delete this one")
    return changed


def record_data_segment(run_dir: Path, step: int, data: dict) -> None:
    """Append to ``run_dir/data_history.json`` that training from ``step`` on used ``data`` (the machine-dependent
    identities of this machine) on this CPU: a run resumed on other machines says which steps saw which hits."""
    path = run_dir / "data_history.json"
    history = json.loads(path.read_text()) if path.is_file() else []
    entry = {"step": int(step), "cpu": cpu_name(), **json.loads(json.dumps(data, default=str))}
    if history and {k: v for k, v in history[-1].items() if k != "step"} == {k: v for k, v in entry.items()
                                                                           if k != "step"}:
        return  # the same data on the same CPU as the segment before: nothing new
    if history and history[-1]["step"] == step:
        history.pop()  # a segment that trained nothing before it was resumed elsewhere
    history.append(entry)
    write_json_atomic(path, history)


def _save(path: Path, obj: dict) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    write_bytes_atomic(path, buf.getvalue())


def load_model(checkpoint: str | Path) -> EdgeScorer:
    """The model of a checkpoint (``best.pt`` or ``last.pt``), in eval mode."""
    ck = load_checkpoint(checkpoint)
    cfg = ck["config"]["model"]
    model = EdgeScorer(ModelConfig(**cfg), ck["normalization"].get("x_mean"), ck["normalization"].get("x_std"))
    model.load_state_dict(ck["model"])
    return model.eval()
