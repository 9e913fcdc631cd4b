"""The reference zoo's GPU command (``benchmarks/gpu_zoo_train.py``): its committed plan is what params/zoo.yaml asks
for, and it trains a plan's executions together into the run folders ``04_train_run`` uses (on the CPU here)."""

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

from pctlib.runner.notebook_params import read_notebook_spec
from pctlib.training.checkpoint import load_checkpoint
from pctlib.training.setup import TRAINING_PARAMETERS, training_setup

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("gpu_zoo_train", ROOT / "benchmarks" / "gpu_zoo_train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_plan_is_what_params_zoo_asks_04_train_run_for():
    committed = json.loads((ROOT / "benchmarks" / "gpu_zoo_plan.json").read_text())
    assert _script().resolve_plan(ROOT / "params" / "zoo.yaml") == committed, (
        "params/zoo.yaml or 04_train_run's defaults changed: rewrite the plan with "
        "benchmarks/gpu_zoo_train.py --write-plan benchmarks/gpu_zoo_plan.json")
    models = [m for e in committed["executions"] for m in e["parameters"]["models"]]
    assert sum(len(m["seeds"]) for m in models) == 20


def test_the_training_parameters_are_parameters_of_04_train_run():
    declared = read_notebook_spec(ROOT / "notebooks" / "04_train_run.py").params
    assert set(TRAINING_PARAMETERS) <= set(declared)
    assert "run_root" in declared
    with pytest.raises(KeyError, match="training parameters missing: steps"):
        training_setup({k: None for k in TRAINING_PARAMETERS if k != "steps"}, ROOT, ROOT)


def test_a_plan_of_two_executions_is_trained_together_into_their_own_run_folders(tmp_path, capsys):
    small = dict(steps=2, batch_frames=1, eval_every=1, max_val_frames=2, phantoms=[200.0], train_primaries=300,
                 val_primaries=200, data_seed=5, bn_frames=2, threads=1, device="cpu",
                 data_dir=str(tmp_path / "data"), run_root=str(tmp_path / "notebook_runs"))
    params = {"description": "two executions of two models", "notebooks": {"04_train_run": {
        "cases": [{"models": [{"mode": "ptt", "seeds": [0, 1]}]}, {"models": [{"mode": "pat", "lam": 25.0,
                                                                               "seeds": [0, 1]}]}],
        "parameters": small}}}
    (tmp_path / "small.yaml").write_text(yaml.safe_dump(params))
    script = _script()
    plan = script.resolve_plan(tmp_path / "small.yaml")
    assert len(plan["executions"]) == 2
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    runs = tmp_path / "gpu_runs"
    script.main(["--plan", str(tmp_path / "plan.json"), "--device", "cpu", "--run-root", str(runs),
                 "--assign-workers", "1"])
    out = capsys.readouterr().out
    assert "2 executions in 1 joint training(s)" in out and "4 models, steps 0 -> 2 of 2" in out
    # the folders are those 04_train_run names for the same parameters (under the other run root)
    for e in plan["executions"]:
        setup = training_setup({**e["parameters"], "run_root": str(runs)}, ROOT, tmp_path, progress=False)
        for cfg, d in zip(setup.configs, setup.run_dirs):
            assert d.parent == runs
            ck = load_checkpoint(d / "last.pt")
            assert ck["step"] == 2 and ck["config"] == cfg.to_dict()
    assert sorted(p.name for p in runs.iterdir()) == sorted(
        d.name for e in plan["executions"]
        for d in training_setup({**e["parameters"], "run_root": str(runs)}, ROOT, tmp_path, progress=False).run_dirs)
    # a second call finds every model trained: nothing to do, nothing changed
    before = {p: p.read_bytes() for p in runs.rglob("last.pt")}
    script.main(["--plan", str(tmp_path / "plan.json"), "--device", "cpu", "--run-root", str(runs)])
    assert "steps 2 -> 2 of 2" in capsys.readouterr().out
    assert {p: p.read_bytes() for p in runs.rglob("last.pt")} == before
