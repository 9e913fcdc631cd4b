"""What every landscape chapter does first: threads for this process, freed memory kept mapped, the project root
found from the results folder, the chapter's cache folder, the checked zoo of the params set with its models,
training configurations and labels, and the zoo's training frames with a stratified choice of them."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..allocator import keep_freed_memory
from ..paths import find_project_root
from ..training.loop import validation_indices
from ..reference_zoo import chapter_zoo
from ..zoo import Zoo


@dataclass
class LandscapeSetup:
    root: Path  # the project
    cache: Path  # runs/<params>/<chapter>/<run_key>/cache
    zoo: Zoo
    train: object  # the zoo's training frames (``training.data.FrameList``)
    models: list  # every zoo model, loaded, in eval mode
    configs: list  # their TrainConfigs
    labels: list[str]  # "PTT s0", ...
    order: list[str]  # the configurations in the zoo's order
    t_start: float = field(default_factory=time.perf_counter)

    def frame_ids(self, n: int) -> list[int]:
        """Indices of ``n`` training frames spread evenly over the phantoms (``validation_indices``)."""
        return validation_indices(self.train, n)

    def frames(self, ids: list[int]) -> list:
        return [self.train[i] for i in ids]


def landscape_setup(results_dir: str | Path, params_name: str, chapter: str, run_key: str, workers: int = 1,
                    threads: int = 1, zoo_source: str = "trained", zoo_seeds: list[int] | None = None
                    ) -> LandscapeSetup:
    """The shared opening of chapters 06-08 (module docstring): ``workers * threads`` torch threads in this process
    (its own work; the workers set theirs), the zoo trained by ``04_train_run`` under ``params_name`` or the
    reference zoo (``zoo_source``, ``reference_zoo.chapter_zoo``), of the seeds ``zoo_seeds`` (empty: all),
    checked."""
    torch.set_num_threads(workers * threads)
    keep_freed_memory()  # freed tensors stay mapped: repeated products otherwise spend their time in page faults
    t_start = time.perf_counter()
    root = find_project_root(Path(results_dir).resolve())
    zoo = chapter_zoo(root, params_name, zoo_source, zoo_seeds)
    train = zoo.training_frames(root / "data", strict=zoo_source != "reference")
    models = [m.load() for m in zoo.models]
    return LandscapeSetup(root, root / "runs" / params_name / chapter / run_key / "cache", zoo, train, models,
                          [m.train_config() for m in zoo.models],
                          [f"{m.configuration} s{m.seed}" for m in zoo.models], list(zoo.configurations()), t_start)
