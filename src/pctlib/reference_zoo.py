"""The reference zoo: trained models committed with the repository, so that the book analyses models trained far
enough to decide the paper's claims without anyone having to train them.

A reference zoo is a folder (``zoo/reference/`` in the repository) written whole by :func:`publish` from a trained
:class:`~pctlib.zoo.Zoo`:

- one slim checkpoint per model, ``<mode>_lam<lam>_seed<seed>.pt``: the weights with their recomputed BatchNorm
  statistics, the training configuration and the input normalisation, the step and the validation metrics of the
  best validation; no optimiser state (``torch.load(..., weights_only=True)`` reads it: tensors and plain values);
- the model's ``metrics.csv`` (training and validation curves), as ``<name>.metrics.csv``;
- the hits of the validation frames, ``val_<phantom>mm.npz`` (data only): simulated hits are identical per
  machine but not across CPUs, so the frames the recorded validation metrics were computed on travel with the zoo
  and give the same frames anywhere (:func:`validation_frames`);
- ``manifest.json``: the recipe (every training parameter), per model its configuration, seed, step, frames seen,
  CPU seconds and validation metrics, which steps saw which machine's training hits (``data_history``, for a run
  resumed on other CPUs), the identity of the training and validation data, the code commit, and the
  sha256 of every file; and the sha256 of the manifest itself (``digest``, over its other keys).

:func:`verify` refuses, with an error naming the file, a manifest that was edited (its digest no longer matches), a
listed file that is missing, damaged or edited (its sha256), and any file in the folder the manifest does not
list; :meth:`pctlib.zoo.Zoo.reference` verifies before it lists a model. Nothing is loaded before it is checked.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from pathlib import Path
from typing import Any

from .fileio import file_sha256, write_json_atomic
from .zoo import Zoo, ZooError, ZooModel, configuration_label

#: where the repository keeps its reference zoo, relative to the project root
REFERENCE_FOLDER = Path("zoo") / "reference"
MANIFEST = "manifest.json"
FORMAT = 1
#: the keys of a checkpoint that a reference zoo keeps (no optimiser, scheduler or RNG state)
SLIM_KEYS = ("model", "config", "normalization", "step", "best", "step_cpu_seconds", "train_seconds")


class ReferenceZooError(ZooError):
    """A reference zoo that must not be used: its manifest or a file was edited, damaged, is missing or unlisted."""


def model_name(mode: str, lam: float, seed: int) -> str:
    return f"{mode}_lam{lam:g}_seed{seed}"


def manifest_digest(manifest: dict) -> str:
    """sha256 of the manifest's keys other than ``digest``, as canonical JSON."""
    body = {k: v for k, v in manifest.items() if k != "digest"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def publish(zoo: Zoo, out: str | Path, recipe: dict[str, Any], val_hits: list[str | Path], code_commit: str,
            batch_frames: int) -> dict:
    """Write the reference zoo of the (checked) ``zoo`` into the folder ``out``, replacing what is there only once
    the new folder is complete; return its manifest. ``val_hits``: the hit files of the validation frames, one per
    phantom in the order of the validation spec; ``recipe``: the training parameters as given (recorded as is);
    ``batch_frames``: frames per step (frames seen = step x batch_frames)."""
    import torch

    from .training.loop import load_checkpoint

    zoo = zoo.checked()
    out = Path(out)
    tmp = out.with_name(f"{out.name}.staging-{uuid.uuid4().hex[:8]}")
    tmp.mkdir(parents=True)
    try:
        first = zoo.models[0]
        val_spec = first.data.get("val", {})
        phantoms = list(val_spec.get("phantoms") or [])
        if len(val_hits) != len(phantoms):
            raise ReferenceZooError(f"{len(val_hits)} validation hit files for {len(phantoms)} phantoms")
        val_files = []
        for t, src in zip(phantoms, val_hits):
            name = f"val_{float(t):g}mm.npz"
            shutil.copyfile(src, tmp / name)
            val_files.append(name)
        models = []
        for m in zoo.models:
            name = model_name(m.mode, m.lam, m.seed)
            ck = load_checkpoint(m.checkpoint)
            torch.save({k: ck[k] for k in SLIM_KEYS if k in ck}, tmp / f"{name}.pt")
            metrics = (m.record.parent / "metrics.csv") if m.record is not None else m.run_dir / "metrics.csv"
            shutil.copyfile(metrics, tmp / f"{name}.metrics.csv")
            best = {k: v for k, v in (ck.get("best") or {}).items() if isinstance(v, (int, float, str))}
            models.append({"name": name, "file": f"{name}.pt", "metrics_file": f"{name}.metrics.csv",
                           "configuration": m.configuration, "mode": m.mode, "lam": m.lam, "seed": m.seed,
                           "step": int(ck["step"]), "best_step": int(best.get("step", ck["step"])),
                           "frames_seen": int(ck["step"]) * int(batch_frames),
                           "step_cpu_seconds": float(ck.get("step_cpu_seconds", float("nan"))),
                           "train_seconds": float(ck.get("train_seconds", float("nan"))),
                           "validation": best, "config": ck["config"],
                           # which steps saw which machine's training hits (a run resumed on other CPUs)
                           "data_history": (json.loads((m.run_dir / "data_history.json").read_text())
                                            if (m.run_dir / "data_history.json").is_file() else None)})
        manifest = {
            "format": FORMAT,
            "code_commit": code_commit,
            "recipe": recipe,
            "batch_frames": int(batch_frames),
            "training_data": {"spec": first.data.get("train"), "identity": list(first.data_identity[0])},
            "validation_data": {"spec": val_spec, "identity": list(first.data_identity[1]), "files": val_files,
                                "frames": int(first.config.get("max_val_frames", 0))},
            "models": models,
            "files": {p.name: file_sha256(p) for p in sorted(tmp.iterdir())},
        }
        manifest["digest"] = manifest_digest(manifest)
        write_json_atomic(tmp / MANIFEST, manifest)
        if out.exists():
            old = out.with_name(f"{out.name}.old-{uuid.uuid4().hex[:8]}")
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old)
        else:
            tmp.rename(out)
        return manifest
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def verify(folder: str | Path) -> dict:
    """The manifest of the reference zoo in ``folder`` after checking it and every file (module docstring)."""
    folder = Path(folder)
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise ReferenceZooError(f"{path} is missing: {folder} is not a reference zoo") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ReferenceZooError(f"{path} is not readable JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ReferenceZooError(f"{path}: not a reference zoo manifest of format {FORMAT}")
    if manifest.get("digest") != manifest_digest(manifest):
        raise ReferenceZooError(f"{path} was edited: its digest does not match its content (republish the zoo "
                                "with pctlib.reference_zoo.publish instead of editing the manifest)")
    files = manifest.get("files") or {}
    for name, sha in files.items():
        p = folder / name
        if Path(name).name != name:
            raise ReferenceZooError(f"{path} lists {name!r}, which is not a file of the folder")
        if not p.is_file():
            raise ReferenceZooError(f"{p} is listed in the manifest but missing")
        if file_sha256(p) != sha:
            raise ReferenceZooError(f"{p} is damaged or was edited: its sha256 is not the one in the manifest")
    unlisted = sorted(p.name for p in folder.iterdir() if p.name != MANIFEST and p.name not in files)
    if unlisted:
        raise ReferenceZooError(f"{folder} holds files its manifest does not list: {', '.join(unlisted)} (remove "
                                "them; nothing unlisted is loaded)")
    for m in manifest.get("models", []):
        if m.get("file") not in files or m.get("metrics_file") not in files:
            raise ReferenceZooError(f"{path}: model {m.get('name')} names a file the manifest does not list")
    return manifest


def reference_zoo(folder: str | Path) -> Zoo:
    """The verified reference zoo in ``folder`` as a :class:`~pctlib.zoo.Zoo` (models sorted PTT first, then PAT
    by lambda, each by seed)."""
    folder = Path(folder)
    manifest = verify(folder)
    data = {"train": manifest["training_data"]["spec"], "val": manifest["validation_data"]["spec"],
            "train_data": manifest["training_data"]["identity"], "val_data": manifest["validation_data"]["identity"]}
    models = [ZooModel(configuration_label(m["mode"], float(m["lam"])), m["mode"], float(m["lam"]), int(m["seed"]),
                       folder, folder / m["file"], {**m["validation"], "step": m["best_step"]}, m["config"], data,
                       None) for m in manifest["models"]]
    models.sort(key=lambda m: (m.mode != "ptt", m.lam, m.seed))
    return Zoo(models)


def validation_frames(folder: str | Path, data_root: str | Path, progress: bool = False):
    """The zoo's validation frames (a ``training.data.FrameList``), built from the hits shipped with it into a
    graph cache under ``data_root/graphs`` (keyed by the hits' content)."""
    from .graphs.config import GraphConfig
    from .graphs.dataset import GraphDataset, build_cache
    from .training.data import FrameList

    folder = Path(folder)
    manifest = verify(folder)
    spec = manifest["validation_data"]["spec"]
    cfg = GraphConfig(primaries_per_frame=int(spec.get("primaries_per_frame", 100)))
    parts = []
    for name in manifest["validation_data"]["files"]:
        out = Path(data_root) / "graphs" / f"reference-{Path(name).stem}_{manifest['files'][name][:12]}_" \
                                           f"{cfg.primaries_per_frame}"
        build_cache(folder / name, out, cfg, progress=progress)
        parts.append(GraphDataset(out))
    return FrameList(parts)


#: the training settings that make a recipe (the rest of a TrainConfig names the model: mode, lambda, seed)
_MODEL_KEYS = ("mode", "lam", "seed")


def reference_curves(folder: str | Path):
    """The validation curves of a (verified) reference zoo as one table: per model and validation, its name,
    configuration, seed, step, training frames seen (step x the zoo's frames per step) and the validation metrics
    its ``metrics.csv`` recorded."""
    import pandas as pd

    folder = Path(folder)
    manifest = verify(folder)
    tables = []
    for m in manifest["models"]:
        df = pd.read_csv(folder / m["metrics_file"])
        val = df[df["split"] == "val"].drop(columns="split")
        tables.append(val.assign(name=m["name"], configuration=m["configuration"], seed=m["seed"],
                                 frames=val["step"] * int(manifest["batch_frames"])))
    cols = ["name", "configuration", "seed", "step", "frames", "purity", "efficiency", "tpr", "fpr", "loss"]
    return pd.concat(tables, ignore_index=True)[cols] if tables else pd.DataFrame(columns=cols)


def publish_trained(project_root: str | Path, params_name: str, out: str | Path | None = None) -> dict:
    """Publish the zoo that ``04_train_run`` trained under ``params_name`` (every model must have trained all its
    steps) as the reference zoo in ``out`` (default: the repository's ``zoo/reference``). The recipe recorded is
    the models' common training configuration and their data specifications; the validation hits are those the
    validation frames were built from."""
    from .runner.execute import git_commit
    from .training.data import simulated_hits
    from .training.loop import load_checkpoint

    root = Path(project_root)
    zoo = Zoo.from_results(root, params_name).checked()
    for m in zoo.models:
        last = m.run_dir / "last.pt"
        step = int(load_checkpoint(last)["step"]) if last.is_file() else 0
        if step < int(m.config.get("steps", 0)):
            raise ReferenceZooError(f"{m.configuration} seed {m.seed} has trained {step} of its "
                                    f"{m.config.get('steps')} steps: finish the training first (pctlib run "
                                    f"params/{params_name}.yaml resumes it)")
    recipes = [{k: v for k, v in m.config.items() if k not in _MODEL_KEYS} for m in zoo.models]
    if any(r != recipes[0] for r in recipes[1:]):
        raise ReferenceZooError("the models were trained with different recipes; a reference zoo has one")
    first = zoo.models[0]
    val = first.data["val"]
    # the data folder 04_train_run used (its data_dir parameter, recorded in run.json; data/ before it was)
    data_root = root / (json.loads(first.record.read_text()).get("data_root") or "data") if first.record else (
        root / "data")
    val_hits = [simulated_hits(data_root, val["name"], float(t), int(val["primaries"]),
                               int(val["seed"]) * 1000 + k, progress=False) for k, t in enumerate(val["phantoms"])]
    commit = git_commit(root)
    recipe = {"training": recipes[0], "train_data": first.data["train"], "val_data": val, "params": params_name}
    return publish(zoo, root / REFERENCE_FOLDER if out is None else Path(out), recipe, val_hits,
                   str(commit.get("commit")), int(recipes[0].get("batch_frames", 1)))


#: where a chapter's models come from (its ``zoo_source`` parameter)
ZOO_SOURCES = ("trained", "reference")


def chapter_zoo(project_root: str | Path, params_name: str, source: str = "trained",
                seeds: list[int] | None = None) -> Zoo:
    """The checked zoo a chapter analyses: the models ``04_train_run`` trained under ``params_name``
    (``trained``) or the repository's verified reference zoo (``reference``, :func:`reference_zoo`); ``seeds``
    (a chapter's ``zoo_seeds``; None or empty: all) keeps the models of those seeds only, every configuration
    alike, and each seed asked for must be in the zoo."""
    if source not in ZOO_SOURCES:
        raise ZooError(f"zoo_source must be one of {ZOO_SOURCES}, got {source!r}")
    root = Path(project_root)
    zoo = reference_zoo(root / REFERENCE_FOLDER) if source == "reference" else Zoo.from_results(root, params_name)
    if seeds:
        absent = sorted(set(seeds) - {m.seed for m in zoo.models})
        if absent:
            raise ZooError(f"zoo_seeds {sorted(seeds)}: the {source} zoo has no model of seed(s) {absent} (its seeds: "
                           f"{sorted({m.seed for m in zoo.models})})")
        zoo = Zoo([m for m in zoo.models if m.seed in set(seeds)])
    return zoo.checked()


def table1_export(export: str | Path, zoo_folder: str | Path, phantoms, densities, min_last_edep: float,
                  seeds=None):
    """The per-frame Table 1 rows that ``benchmarks/table1_reference.py`` exported to ``export``, restricted to
    ``phantoms``, ``densities`` and (GNN rows) ``seeds`` (None: all), and a line saying where they come from —
    or None and why not: no export, an export of another zoo than the one in ``zoo_folder`` (manifest digest),
    one lacking a phantom or density, or one measured with another track filter (``min_last_edep``). The zoo
    folder is verified first (a damaged one raises :class:`ReferenceZooError`)."""
    import pandas as pd

    export = Path(export)
    about_file = export / "about.json"
    if not about_file.is_file():
        return None, f"{export}: no Table 1 export"
    about = json.loads(about_file.read_text())
    source = (f"{export.name}: {about['primaries']} test primaries per phantom, measured on {about['cpu']} by "
              f"`{about['command']}`")
    reasons = []
    if about["zoo_digest"] != verify(zoo_folder)["digest"]:
        reasons.append("measured on another zoo")
    missing = sorted(({float(t) for t in phantoms} - {float(t) for t in about["phantoms"]})
                     | ({int(n) for n in densities} - {int(n) for n in about["densities"]}))
    if missing:
        reasons.append(f"lacks {missing}")
    if float(about["min_last_edep"]) != float(min_last_edep):
        reasons.append(f"track filter min_last_edep {about['min_last_edep']}, not {min_last_edep}")
    if reasons:
        return None, f"{source}; NOT used: " + "; ".join(reasons)
    frames = pd.read_csv(export / "per_frame.csv.gz")
    keep = frames.phantom_mm.isin([float(t) for t in phantoms]) & frames.primaries_per_frame.isin(list(densities))
    if seeds is not None:
        keep &= frames.algorithm.eq("track follower") | frames.seed.isin(list(seeds))
    return frames[keep].reset_index(drop=True), f"{source}; used for Table 1"
