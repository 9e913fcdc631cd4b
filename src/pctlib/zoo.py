"""The model zoo: the trained models of a params set, by configuration and seed.

A params set's training notebook (``04_train_run``, run as a grid of single models or training several models
together) records each model in ``results/<params>/04_train_run/<key>/run.json`` or, for models trained together,
``.../<key>/<mode>_lam<lam>_seed<seed>/run.json`` (mode, lambda, seed, best and settled validation metrics, the run
folder); the run folder's ``config.json`` holds the request and the identity of the data (cache keys of the training and
validation graphs). :class:`Zoo` lists them, groups them by configuration (``PTT``, ``PAT λ=50``, ...), loads their
best checkpoints, and refuses to mix models trained on different data: every landscape study compares models, and a
comparison across data sets would measure the data, not the landscape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd


class ZooError(ValueError):
    """A zoo that cannot be used as asked (no models, models trained on different data, a missing checkpoint)."""


class ZooWarning(UserWarning):
    """A zoo used on data that is not bit for bit what it was trained on (see ``Zoo.training_frames``)."""


def configuration_label(mode: str, lam: float) -> str:
    """``PTT`` or ``PAT λ=<lam>`` (the labels of the chapters and of Table 1)."""
    return "PTT" if mode == "ptt" else f"PAT λ={lam:g}"


def _planned_results(root: Path, params_name: str) -> list[Path]:
    """Results folders of the ``04_train_run`` executions that ``params/<params_name>.yaml`` plans (none when
    there is no such file or it plans no such notebook)."""
    path = root / "params" / f"{params_name}.yaml"
    if not path.is_file() or not (root / "notebooks").is_dir():
        return []
    from .runner.engine import planned_executions

    _, planned = planned_executions(root, path, only="04_train_run")
    return [p.target.results_dir for p in planned]


def expand_models(entries: list[dict]) -> list[tuple[str, float, int]]:
    """(mode, lambda, seed) of every model a ``models`` parameter of ``04_train_run`` asks for: each entry has
    ``mode`` (ptt or pat), ``lam`` (PAT; 50 if not given) and ``seed`` or ``seeds`` (a list; 0 if neither). A
    model asked for twice, an unknown key or mode is an error naming it."""
    out: list[tuple[str, float, int]] = []
    for k, e in enumerate(entries):
        if not isinstance(e, dict):
            raise ZooError(f"models[{k}] must be a mapping (mode, lam, seeds), got {e!r}")
        unknown = set(e) - {"mode", "lam", "seed", "seeds"}
        if unknown:
            raise ZooError(f"models[{k}]: unknown key(s) {sorted(unknown)}; allowed: mode, lam, seed, seeds")
        mode = e.get("mode")
        if mode not in ("ptt", "pat"):
            raise ZooError(f"models[{k}].mode must be 'ptt' or 'pat', got {mode!r}")
        if "seed" in e and "seeds" in e:
            raise ZooError(f"models[{k}]: give seed or seeds, not both")
        seeds = e.get("seeds", [e.get("seed", 0)])
        if not isinstance(seeds, list) or not seeds or not all(isinstance(v, int) and v >= 0 for v in seeds):
            raise ZooError(f"models[{k}].seeds must be a non-empty list of non-negative integers, got {seeds!r}")
        lam = float(e.get("lam", 50.0))
        for seed in seeds:
            item = (mode, lam, int(seed))
            if item in out:
                raise ZooError(f"models: {configuration_label(mode, lam)} seed {seed} is asked for twice")
            out.append(item)
    return out


@dataclass(frozen=True)
class ZooModel:
    """One trained model: its configuration, seed, run folder, best checkpoint, validation metrics and data."""

    configuration: str
    mode: str
    lam: float
    seed: int
    run_dir: Path
    checkpoint: Path
    best: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    #: the run.json that records the model (beside it, in the results folder, its metrics.csv)
    record: Path | None = None

    @property
    def data_identity(self) -> tuple:
        """What the model was trained and validated on: the cache keys of its graphs."""
        return (tuple(self.data.get("train_data") or ()), tuple(self.data.get("val_data") or ()))

    def train_config(self):
        """The model's ``TrainConfig``, rebuilt from its run folder's ``config.json``."""
        from .models.interaction_network import ModelConfig
        from .training.loop import TrainConfig

        d = dict(self.config)
        model = d.pop("model", None) or {}
        return TrainConfig(**d, model=ModelConfig(**model))

    def load(self):
        """The model of the best checkpoint, in eval mode (loaded with ``weights_only=True``)."""
        from .training.loop import load_model

        if not self.checkpoint.is_file():
            raise ZooError(f"{self.configuration} seed {self.seed}: checkpoint {self.checkpoint} is missing")
        return load_model(self.checkpoint)


@dataclass
class Zoo:
    models: list[ZooModel]

    @classmethod
    def from_results(cls, project_root: str | Path, params_name: str) -> "Zoo":
        """The models recorded by ``04_train_run`` for a params set.

        Each execution of ``04_train_run`` lists the records it wrote in ``zoo.json`` (in its results folder);
        only those count, so records left in the folder by an earlier layout of the grid (the runner keeps files
        an execution did not write) are not taken for models of now. When ``params/<params_name>.yaml`` exists,
        only the executions it plans are read. Results without any ``zoo.json`` (written before it existed) are
        read from every ``run.json``. Executions in progress are left out."""
        root = Path(project_root)
        base = root / "results" / params_name / "04_train_run"
        indexes = [d / "zoo.json" for d in _planned_results(root, params_name)]
        if not indexes:
            indexes = sorted(base.glob("**/zoo.json"))
        indexes = [f for f in indexes if f.is_file() and ".staging-" not in str(f) and ".old-" not in str(f)]
        if indexes:
            records = [f.parent / rel / "run.json" for f in indexes for rel in json.loads(f.read_text())["records"]]
        else:
            records = [f for f in sorted(base.glob("**/run.json")) if ".staging-" not in str(f)
                       and ".old-" not in str(f)]
        return cls.from_records(root, records)

    @classmethod
    def from_records(cls, project_root: str | Path, records: list[Path]) -> "Zoo":
        """The models of the given ``run.json`` records (as ``04_train_run`` writes them; a relative run folder is
        taken relative to ``project_root``)."""
        root = Path(project_root)
        models = []
        for f in records:
            try:
                info = json.loads(f.read_text())
            except (OSError, json.JSONDecodeError):
                raise ZooError(f"{f}: a model record listed by its zoo.json is missing or unreadable; rerun "
                               "04_train_run") from None
            run_dir = Path(info["run_dir"])
            run_dir = run_dir if run_dir.is_absolute() else root / run_dir
            try:
                cfg = json.loads((run_dir / "config.json").read_text())
            except (OSError, json.JSONDecodeError):
                raise ZooError(f"{f}: its run folder {run_dir} has no readable config.json; rerun 04_train_run") \
                    from None
            models.append(ZooModel(configuration_label(info["mode"], float(info["lam"])), info["mode"],
                                   float(info["lam"]), int(info["seed"]), run_dir, run_dir / "best.pt",
                                   info.get("best", {}), cfg.get("train", {}), cfg.get("data", {}), f))
        models.sort(key=lambda m: (m.mode != "ptt", m.lam, m.seed))
        return cls(models)

    def __len__(self) -> int:
        return len(self.models)

    def configurations(self) -> dict[str, list[ZooModel]]:
        """Models by configuration label, PTT first, then PAT by lambda; each list by seed."""
        out: dict[str, list[ZooModel]] = {}
        for m in self.models:
            out.setdefault(m.configuration, []).append(m)
        return out

    def select(self, mode: str | None = None, lam: float | None = None, seed: int | None = None) -> "Zoo":
        """The models matching every criterion given (lambda only for PAT)."""
        return Zoo([m for m in self.models if (mode is None or m.mode == mode)
                    and (lam is None or (m.mode == "pat" and m.lam == lam)) and (seed is None or m.seed == seed)])

    def checked(self) -> "Zoo":
        """This zoo, after checking that it holds models and that all were trained on the same data."""
        if not self.models:
            raise ZooError("the zoo is empty: run the training grid (04_train_run) of this params set first")
        ids = {m.data_identity for m in self.models}
        if len(ids) > 1:
            groups = {}
            for m in self.models:
                groups.setdefault(m.data_identity, []).append(f"{m.configuration} seed {m.seed}")
            detail = "; ".join(f"{', '.join(v)} on {', '.join(k[0]) or 'unrecorded data'}" for k, v in groups.items())
            raise ZooError(f"the zoo mixes models trained on different data ({detail}); retrain them on one "
                           "data set or select a subset")
        return self

    def training_frames(self, data_root: str | Path, strict: bool = True):
        """The frames the zoo's models were trained on, rebuilt from the recorded data specification under
        ``data_root`` (cached hits and graphs are reused); an error if what is rebuilt is not what they saw.
        ``strict=False`` (a zoo trained elsewhere, e.g. the reference zoo): simulated hits are identical per machine
        but not across CPUs, so frames of the same specification that differ in their last bits are used with a
        :class:`ZooWarning` instead."""
        import warnings

        from .training.data import DataSpec, prepare

        first = self.checked().models[0]
        spec = DataSpec(**{k: (tuple(v) if k == "phantoms" else v) for k, v in first.data["train"].items()})
        frames = prepare(spec, Path(data_root), progress=False)
        if frames.identity != list(first.data_identity[0]):
            if strict:
                raise ZooError("the training frames rebuilt here are not those the zoo was trained on")
            warnings.warn("the training frames rebuilt here from the zoo's data specification differ from those it "
                          "was trained on (another CPU simulates other last bits): landscape numbers on them differ "
                          "slightly from the recorded ones", ZooWarning, stacklevel=2)
        return frames

    def table(self) -> pd.DataFrame:
        """One row per model: configuration, seed, best step and validation metrics, run folder."""
        return pd.DataFrame([{"configuration": m.configuration, "mode": m.mode, "lam": m.lam, "seed": m.seed,
                              **{k: m.best.get(k) for k in ("step", "tpr", "fpr", "purity", "efficiency")},
                              "run_dir": str(m.run_dir)} for m in self.models])
