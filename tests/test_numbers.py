"""Every number from the command line, a params file or a geometry must be finite and in range (NaN passes every
``< 0`` test, so it is refused explicitly), with an error naming it; nothing is written for a refused request."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from pctlib.checks import NumberError, check_number
from pctlib.cli import main
from pctlib.physics.geometry import GeometryError, load_geometry

ROOT = Path(__file__).resolve().parents[1]


def test_check_number_by_hand():
    assert check_number(3, "x", minimum=0) == 3.0 and check_number(4.0, "n", integer=True) == 4
    for bad, kw, match in [(math.nan, {}, "not a finite"), (math.inf, {}, "not a finite"), (True, {}, "not a number"),
                           ("3", {}, "not a number"), (-1, {"minimum": 0}, ">= 0"), (0, {"above": 0}, "> 0"),
                           (2.5, {"integer": True}, "whole"), (2, {"maximum": 1}, "<= 1"), (1, {"below": 1}, "< 1")]:
        with pytest.raises(NumberError, match=match):
            check_number(bad, "x", **kw)


@pytest.mark.parametrize("argv,match", [
    (["--phantom-mm", "nan"], "--phantom-mm: nan is not a finite number"),
    (["--phantom-mm", "inf"], "--phantom-mm: inf is not a finite number"),
    (["--energy-mev", "nan"], "--energy-mev"),
    (["--centre-mm=-inf"], "--centre-mm"),
    (["--chunk-size", "0"], "--chunk-size: 0 must be >= 1"),
    (["--chunk-size", "-5"], "--chunk-size: -5 must be >= 1"),
    (["--noise-rate", "nan", "--pixel-frames", "10"], "--noise-rate"),
])
def test_simulate_refuses_non_finite_and_out_of_range_numbers_before_writing(tmp_path, capsys, argv, match):
    out = tmp_path / "h.npz"
    assert main(["simulate", "--primaries", "10", "--out", str(out), "--no-progress", *argv]) == 2
    assert match in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("path,value,match", [
    (("sensor", "width_mm"), ".nan", "not a finite number"),
    (("sensor", "width_mm"), ".inf", "not a finite number"),
])
def test_geometry_numbers_must_be_finite(tmp_path, path, value, match):
    d = yaml.safe_load((ROOT / "params" / "geometry" / "bergen_dtc.yaml").read_text())
    d[path[0]][path[1]] = value
    text = yaml.safe_dump(d).replace(f"'{value}'", value)
    f = tmp_path / "g.yaml"
    f.write_text(text)
    with pytest.raises(GeometryError, match=match):
        load_geometry(f)


def test_a_slab_of_infinite_thickness_is_refused(tmp_path):
    d = yaml.safe_load((ROOT / "params" / "geometry" / "bergen_dtc.yaml").read_text())
    text = yaml.safe_dump(d)
    text = text.replace("mm: 3.5", "mm: .inf", 1)
    assert ".inf" in text
    f = tmp_path / "g.yaml"
    f.write_text(text)
    with pytest.raises(GeometryError, match="not a finite number"):
        load_geometry(f)


def test_params_files_refuse_nan_and_infinity(project, capsys):
    (project / "params" / "n.yaml").write_text("notebooks:\n  a_square:\n    parameters: {scale: .nan}\n")
    assert main(["run", str(project / "params" / "n.yaml"), "--no-progress"]) == 2
    assert "scale: nan is not a finite number" in capsys.readouterr().err
    (project / "params" / "n.yaml").write_text("notebooks:\n  a_square:\n    parameters: {scale: [1.0, .inf]}\n")
    assert main(["run", str(project / "params" / "n.yaml"), "--no-progress"]) == 2
    assert not (project / "runs").exists()


@pytest.mark.parametrize("argv,match", [
    (["train", "--lr", "nan", "--out", "X"], "lr: nan is not a finite number"),
    (["train", "--lam", "inf", "--out", "X"], "lam must be positive and finite"),
    (["train", "--w-tracker", "nan", "--out", "X"], "w_tracker"),
    (["evaluate", "--model", "track-follower", "--data", "X.npz", "--out", "X.csv", "--min-last-edep", "nan"],
     "--min-last-edep: nan is not a finite number"),
    (["graphs", "--hits", "X.npz", "--out", "X", "--theta-tracker", "nan"], "theta_tracker"),
])
def test_other_commands_refuse_non_finite_numbers_before_any_work(tmp_path, capsys, monkeypatch, argv, match):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert match in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
