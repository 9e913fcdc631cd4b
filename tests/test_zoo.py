"""The model zoo on hand-made run records: listing, grouping, loading, and refusing mixed data."""

from __future__ import annotations

import json

import pytest
import torch

from pctlib.models.interaction_network import EdgeScorer
from pctlib.zoo import Zoo, ZooError


def _record(root, params, key, mode, lam, seed, data_key="A", with_checkpoint=True):
    run_dir = root / "runs" / params / "04_train_run" / key / "train" / "r"
    run_dir.mkdir(parents=True)
    train_cfg = {"mode": mode, "lam": lam, "seed": seed, "model": {}}
    (run_dir / "config.json").write_text(json.dumps({"train": train_cfg, "data": {
        "train_data": [f"{data_key}-train"], "val_data": [f"{data_key}-val"]}}))
    if with_checkpoint:
        torch.manual_seed(seed)
        model = EdgeScorer()
        torch.save({"model": model.state_dict(), "config": {"model": {}, "mode": mode},
                    "normalization": {"x_mean": [0.0] * 8, "x_std": [1.0] * 8}}, run_dir / "best.pt")
    res = root / "results" / params / "04_train_run" / key
    res.mkdir(parents=True)
    (res / "run.json").write_text(json.dumps({"mode": mode, "lam": lam, "seed": seed,
                                              "best": {"step": 10, "purity": 0.5 + seed / 10},
                                              "run_dir": str(run_dir.relative_to(root))}))
    return run_dir


def test_the_zoo_lists_groups_and_loads_models(tmp_path):
    for mode, lam in (("pat", 50.0), ("ptt", 50.0), ("pat", 25.0)):
        for seed in (1, 0):
            _record(tmp_path, "p", f"{mode}{lam:g}_{seed}", mode, lam, seed)
    (tmp_path / "results" / "p" / "04_train_run" / "x.staging-1234abcd").mkdir()
    (tmp_path / "results" / "p" / "04_train_run" / "x.staging-1234abcd" / "run.json").write_text("{}")
    zoo = Zoo.from_results(tmp_path, "p").checked()
    assert len(zoo) == 6
    confs = zoo.configurations()
    assert list(confs) == ["PTT", "PAT λ=25", "PAT λ=50"]
    assert [m.seed for m in confs["PAT λ=50"]] == [0, 1]
    assert len(zoo.select(mode="pat")) == 4 and len(zoo.select(mode="pat", lam=25.0, seed=1)) == 1
    model = zoo.select(mode="ptt", seed=1).models[0].load()
    torch.manual_seed(1)
    ref = EdgeScorer()
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), ref.state_dict().values()))
    t = zoo.table()
    assert list(t.configuration) == ["PTT", "PTT", "PAT λ=25", "PAT λ=25", "PAT λ=50", "PAT λ=50"]


def test_the_zoo_refuses_mixed_data_empty_zoos_and_missing_checkpoints(tmp_path):
    _record(tmp_path, "p", "a", "ptt", 50.0, 0, data_key="A")
    _record(tmp_path, "p", "b", "pat", 50.0, 0, data_key="B")
    with pytest.raises(ZooError, match="mixes models trained on different data"):
        Zoo.from_results(tmp_path, "p").checked()
    assert len(Zoo.from_results(tmp_path, "p").select(mode="ptt").checked()) == 1
    with pytest.raises(ZooError, match="empty"):
        Zoo.from_results(tmp_path, "other").checked()
    _record(tmp_path, "q", "c", "ptt", 50.0, 0, with_checkpoint=False)
    with pytest.raises(ZooError, match="checkpoint .* is missing"):
        Zoo.from_results(tmp_path, "q").models[0].load()


def test_models_parameter_expands_and_refuses_mistakes():
    from pctlib.zoo import ZooError, expand_models

    assert expand_models([{"mode": "ptt", "seeds": [0, 1]}, {"mode": "pat", "lam": 25.0, "seed": 2},
                          {"mode": "pat"}]) == [("ptt", 50.0, 0), ("ptt", 50.0, 1), ("pat", 25.0, 2),
                                                ("pat", 50.0, 0)]
    for bad, msg in [([{"mode": "ppt"}], "mode"), ([{"mode": "ptt", "sed": 1}], "sed"),
                     ([{"mode": "ptt", "seed": 1, "seeds": [2]}], "not both"),
                     ([{"mode": "ptt", "seeds": []}], "non-empty"),
                     ([{"mode": "pat", "lam": 25, "seeds": [0]}, {"mode": "pat", "lam": 25.0, "seed": 0}], "twice")]:
        with pytest.raises(ZooError, match=msg):
            expand_models(bad)


def test_models_trained_together_are_listed_from_their_subfolders(tmp_path):
    _record(tmp_path, "p", "main/ptt_lam50_seed0", "ptt", 50.0, 0)
    _record(tmp_path, "p", "main/pat_lam75_seed2", "pat", 75.0, 2)
    staged = tmp_path / "results" / "p" / "04_train_run" / "main.staging-1234abcd" / "ptt_lam50_seed1"
    staged.mkdir(parents=True)
    (staged / "run.json").write_text("{}")  # an execution in progress is not part of the zoo
    zoo = Zoo.from_results(tmp_path, "p").checked()
    assert [(m.configuration, m.seed) for m in zoo.models] == [("PTT", 0), ("PAT λ=75", 2)]


def test_only_the_records_an_execution_lists_in_zoo_json_count(tmp_path):
    # a record left by an earlier layout of the grid (the runner keeps files an execution did not write)
    _record(tmp_path, "p", "mode-pat_lam-50.0_seed-0", "pat", 50.0, 0)
    _record(tmp_path, "p", "ptt_lam50_seed0", "ptt", 50.0, 0)
    _record(tmp_path, "p", "ptt_lam50_seed1", "ptt", 50.0, 1)
    base = tmp_path / "results" / "p" / "04_train_run"
    assert len(Zoo.from_results(tmp_path, "p")) == 3  # without an index: every record (older results)
    (base / "zoo.json").write_text(json.dumps({"records": ["ptt_lam50_seed0", "ptt_lam50_seed1"]}))
    zoo = Zoo.from_results(tmp_path, "p").checked()
    assert [(m.configuration, m.seed) for m in zoo.models] == [("PTT", 0), ("PTT", 1)]
    assert zoo.models[1].record == base / "ptt_lam50_seed1" / "run.json"
    (base / "zoo.json").write_text(json.dumps({"records": ["ptt_lam50_seed0", "gone"]}))
    with pytest.raises(ZooError, match="gone.*missing or unreadable"):
        Zoo.from_results(tmp_path, "p")


def test_the_planned_executions_of_a_params_file_are_read(tmp_path):
    # with params/<name>.yaml present, the zoo reads the results folders of the executions it plans
    import shutil
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    shutil.copytree(repo / "notebooks", tmp_path / "notebooks")
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "q.yaml").write_text(
        "notebooks:\n  04_train_run:\n    parameters:\n      models: [{mode: ptt, seeds: [0]}]\n")
    _record(tmp_path, "q", "ptt_lam50_seed0", "ptt", 50.0, 0)
    _record(tmp_path, "q", "old/ptt_lam50_seed3", "ptt", 50.0, 3)
    base = tmp_path / "results" / "q" / "04_train_run"
    (base / "zoo.json").write_text(json.dumps({"records": ["ptt_lam50_seed0"]}))
    (base / "old" / "zoo.json").write_text(json.dumps({"records": ["ptt_lam50_seed3"]}))  # not planned
    assert [m.seed for m in Zoo.from_results(tmp_path, "q").models] == [0]


def test_training_frames_are_rebuilt_and_refused_when_they_are_not_the_zoos(tmp_path):
    from pctlib.training.data import DataSpec, prepare

    spec = {"name": "train", "phantoms": [200.0], "primaries": 60, "seed": 1, "primaries_per_frame": 30}
    frames = prepare(DataSpec(**{**spec, "phantoms": (200.0,)}), tmp_path / "data", progress=False)
    run_dir = _record(tmp_path, "p", "k", "ptt", 50.0, 0)
    cfg = json.loads((run_dir / "config.json").read_text())

    def write(identity):
        cfg["data"] = {"train": spec, "train_data": identity, "val_data": ["v"]}
        (run_dir / "config.json").write_text(json.dumps(cfg))
        return Zoo.from_results(tmp_path, "p")

    got = write(frames.identity).training_frames(tmp_path / "data")
    assert got.identity == frames.identity and len(got) == len(frames)
    assert torch.equal(got[0].x, frames[0].x)
    with pytest.raises(ZooError, match="not those the zoo was trained on"):
        write(["another-key"]).training_frames(tmp_path / "data")
