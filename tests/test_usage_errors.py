"""Usability: bad requests are refused before any work, with the file (and line) named."""

from __future__ import annotations

import numpy as np
import pytest

from pctlib.cli import main


def test_simulate_checks_its_output_before_simulating(tmp_path, capsys, monkeypatch):
    from pctlib.physics.simulate import Simulator

    def never(*a, **k):
        raise AssertionError("simulated before the output was checked")

    monkeypatch.setattr(Simulator, "run", never)
    folder = tmp_path / "outdir"
    folder.mkdir()
    assert main(["simulate", "--primaries", "200000", "--out", str(folder), "--no-progress"]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert main(["simulate", "--primaries", "10", "--out", str(tmp_path / "h.csv"), "--no-progress"]) == 2
    assert "must end in .npz or .parquet" in capsys.readouterr().err and not (tmp_path / "h.csv").exists()
    assert main(["simulate", "--primaries", "10", "--out", str(tmp_path / "h.npz"), "--format", "parquet",
                 "--no-progress"]) == 2
    assert "disagrees" in capsys.readouterr().err


def test_yaml_syntax_errors_name_the_line(project, tmp_path, capsys):
    (project / "params" / "y.yaml").write_text("notebooks:\n  a_square:\n    parameters: {x: [1, 2}\n")
    assert main(["run", str(project / "params" / "y.yaml"), "--no-progress"]) == 2
    assert "y.yaml: not valid YAML (line 3" in capsys.readouterr().err
    from pctlib.physics.geometry import GeometryError, load_geometry

    bad = tmp_path / "g.yaml"
    bad.write_text("name: x\nsensor: {width_mm: 1\n")
    with pytest.raises(GeometryError, match=r"g\.yaml: not valid YAML \(line \d+, column \d+"):
        load_geometry(bad)


def test_train_refuses_another_run_folder_before_building_data(tmp_path, capsys):
    import json

    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text(json.dumps({"train": {"mode": "pat", "lr": 0.01}, "data": {}}))
    assert main(["train", "--out", str(out), "--data-root", str(tmp_path / "data"), "--no-progress",
                 "--train-primaries", "100000"]) == 2
    assert not (tmp_path / "data").exists()  # refused before any data were simulated
    assert "holds a run with another configuration" in capsys.readouterr().err
    # the same training request on other data specifications: refused before the data are built, too
    from pctlib.training.loop import TrainConfig

    same = TrainConfig(steps=10000).to_dict()  # what the command's defaults request
    (out / "config.json").write_text(json.dumps({"train": same, "data": {"train": {"name": "train",
                                                  "phantoms": [100.0], "primaries": 5, "seed": 1,
                                                  "primaries_per_frame": 100}}}))
    assert main(["train", "--out", str(out), "--data-root", str(tmp_path / "data"), "--no-progress"]) == 2
    assert not (tmp_path / "data").exists()
    assert "data.train" in capsys.readouterr().err


def test_a_truncated_checkpoint_is_named(tmp_path, capsys):
    from pctlib.training.loop import TrainError, load_model

    bad = tmp_path / "last.pt"
    bad.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(TrainError, match=r"last\.pt: not a loadable checkpoint"):
        load_model(bad)


def test_an_empty_hit_table_warns(tmp_path):
    from pctlib.io.hit_table import HIT_DTYPE
    from pctlib.io.readers import read_hits

    np.savez(tmp_path / "e.npz", np.zeros(0, HIT_DTYPE))
    with pytest.warns(UserWarning, match="hit table is empty"):
        assert read_hits(tmp_path / "e.npz").size == 0
