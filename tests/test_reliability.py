"""Bad numbers, bad files, full or read-only disks and oversized requests: one line and exit 2 before any work, or a
named error, never a traceback and never silently other physics."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest
import yaml

from pctlib.cli import main

ROOT = Path(__file__).resolve().parents[1]


def one_line_error(capsys, code, match):
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "error:" in err and "Traceback" not in err, err
    assert match in err, err
    return err


@pytest.mark.parametrize("argv,match", [
    (["--phantoms", "nan"], "--phantoms: nan is not a finite number"),
    (["--phantoms", "-100"], "--phantoms: -100.0 must be >= 0"),
    (["--phantoms", "100,abc"], "not a comma-separated list"),
    (["--train-primaries", "-5"], "--train-primaries: -5 must be >= 1"),
    (["--val-primaries", "0"], "--val-primaries: 0 must be >= 1"),
    (["--data-seed", "-3"], "--data-seed: -3 must be >= 0"),
    (["--device", "nosuch"], "--device 'nosuch': not a device"),
])
def test_train_numbers_and_device_are_checked_first(tmp_path, capsys, monkeypatch, argv, match):
    import pctlib.training.data as D

    monkeypatch.setattr(D, "prepare", lambda *a, **k: (_ for _ in ()).throw(AssertionError("data built")))
    code = main(["train", "--out", str(tmp_path / "r"), "--data-root", str(tmp_path / "d"), "--no-progress", *argv])
    one_line_error(capsys, code, match)


@pytest.mark.parametrize("argv,match", [
    (["--seed", "-1"], "--seed: -1 must be >= 0"),
    (["--device", "nosuch"], "not a device"),
])
def test_simulate_seed_and_device(tmp_path, capsys, argv, match):
    code = main(["simulate", "--primaries", "5", "--out", str(tmp_path / "h.npz"), "--no-progress", *argv])
    one_line_error(capsys, code, match)
    assert not list(tmp_path.iterdir())


def test_noise_that_cannot_fit_in_memory_is_refused_with_the_estimate(tmp_path, capsys):
    code = main(["simulate", "--primaries", "10", "--pixel-frames", "10", "--noise-rate", "1", "--out",
                 str(tmp_path / "h.npz"), "--no-progress"])
    err = one_line_error(capsys, code, "GiB of memory")
    assert "noise at 1 per pixel" in err
    assert not list(tmp_path.iterdir())  # no .partial left


def test_memory_check_by_hand():
    from pctlib.checks import MemoryEstimateError, check_memory

    check_memory(10 * 2**30, "x", available=11 * 2**30)
    with pytest.raises(MemoryEstimateError, match=r"x needs about 12 GiB of memory, more than the 11 GiB free"):
        check_memory(12 * 2**30, "x", available=11 * 2**30)


def datasets_file(tmp_path, sets, **top):
    spec = {"out_dir": str(tmp_path / "out"), "sets": sets, **top}
    path = tmp_path / "params" / "ds.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(spec))
    return path


GOOD = {"name": "a", "phantom_mm": 100.0, "primaries": 5, "seed": 0}


@pytest.mark.parametrize("sets,top,match", [
    ([GOOD], {"format": "csv"}, "format 'csv'"),
    ([{**GOOD, "primaries": float("nan")}], {}, "sets[0].primaries: nan is not a finite number"),
    ([{**GOOD, "primaries": -5}], {}, "sets[0].primaries: -5 must be >= 1"),
    ([GOOD], {"chunk_size": 0}, "chunk_size: 0 must be >= 1"),
    ([GOOD, {**GOOD, "seed": 1}], {}, "name 'a' is already the name of sets[0]"),
    ([GOOD, {**GOOD, "name": "b", "seed": "0"}], {}, "sets[1].seed: '0' is not a number"),
    ([{**GOOD, "name": "../../escaped"}], {}, "must be a plain file name"),
    ([{**GOOD, "phantom_mm": float("inf")}], {}, "phantom_mm: inf is not a finite number"),
])
def test_datasets_file_is_checked_before_anything_is_simulated(tmp_path, capsys, sets, top, match):
    path = datasets_file(tmp_path, sets, **top)
    one_line_error(capsys, main(["datasets", str(path), "--no-progress"]), match)
    assert not (tmp_path / "out").exists() and not (tmp_path.parent / "escaped.npz").exists()


def _refuse_writes(monkeypatch):
    import tempfile

    def read_only(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)


def test_read_only_outputs_are_named_before_any_work(tmp_path, capsys, monkeypatch):
    import pctlib.tracks.evaluate as E

    monkeypatch.setattr(E, "evaluate_file", lambda *a, **k: (_ for _ in ()).throw(AssertionError("evaluated")))
    hits = tmp_path / "h.npz"
    assert main(["simulate", "--primaries", "20", "--out", str(hits), "--no-progress"]) == 0
    capsys.readouterr()
    _refuse_writes(monkeypatch)
    ro = tmp_path / "ro"
    for argv in (["simulate", "--primaries", "5", "--out", str(ro / "h.npz")],
                 ["graphs", "--hits", str(hits), "--out", str(ro / "g")],
                 ["evaluate", "--model", "track-follower", "--data", str(hits), "--out", str(ro / "e.csv")],
                 ["train", "--out", str(ro / "r"), "--data-root", str(ro / "d")]):
        code = main([*argv, *([] if argv[0] == "evaluate" else ["--no-progress"])])
        one_line_error(capsys, code, "Read-only file system")


def test_a_full_disk_during_a_write_is_one_line_naming_the_file(tmp_path, capsys, monkeypatch):
    import pctlib.commands.simulate as S

    def full(cfg, out, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(out))

    monkeypatch.setattr(S, "simulate_to_file", full)
    out = tmp_path / "h.npz"
    err = one_line_error(capsys, main(["simulate", "--primaries", "5", "--out", str(out), "--no-progress"]),
                         "No space left on device")
    assert str(out) in err


def test_evaluate_density_zero_says_what_is_wrong(tmp_path, capsys):
    code = main(["evaluate", "--model", "track-follower", "--data", str(tmp_path / "x.npz"),
                 "--primaries-per-frame", "0", "--out", str(tmp_path / "e.csv")])
    one_line_error(capsys, code, "every density must be at least 1")


# phantom files: the radiography phantom with one thing changed

def phantom_file(tmp_path, change):
    d = yaml.safe_load((ROOT / "params" / "phantoms" / "radiography.yaml").read_text())
    change(d)
    path = tmp_path / "ph.yaml"
    path.write_text(yaml.safe_dump(d))
    return path


def _set_insert(key, value):
    def change(d):
        d["inserts"][0][key] = value
    return change


def _set_scan(key, value):
    def change(d):
        d["scan"][key] = value
    return change


@pytest.mark.parametrize("change,match", [
    (_set_insert("x_mm", float("nan")), r"inserts\[0\]\.x_mm: nan is not a finite number"),
    (_set_insert("y_mm", float("inf")), r"inserts\[0\]\.y_mm: inf is not a finite number"),
    (_set_insert("x_mm", "abc"), r"inserts\[0\]\.x_mm: 'abc' is not a number"),
    (_set_insert("z_from_mm", 150.0), r"inserts\[0\]: z_from_mm 150 lies at or beyond the phantom's exit face"),
    (_set_scan("x_mm", [float("nan"), 40.0]), r"scan\.x_mm: nan is not a finite number"),
    (_set_scan("x_mm", [40.0, -40.0]), r"scan\.x_mm: lo 40 exceeds hi -40"),
    (_set_scan("step_mm", 1e-3), r"GiB of memory"),
])
def test_phantom_files_refuse_what_would_change_the_physics_silently(tmp_path, change, match):
    from pctlib.imaging.phantom import load_phantom
    from pctlib.physics.geometry import GeometryError, load_geometry

    geo = load_geometry(ROOT / "params" / "geometry" / "bergen_dtc.yaml")
    with pytest.raises(GeometryError, match=match):
        load_phantom(phantom_file(tmp_path, change), geo)


def test_phantom_yaml_syntax_error_names_file_and_line(tmp_path):
    from pctlib.imaging.phantom import load_phantom
    from pctlib.physics.geometry import GeometryError, load_geometry

    path = tmp_path / "bad.yaml"
    path.write_text("material: water\nthickness_mm: 100\ninserts: [{material: bone, x_mm: 1\n")
    with pytest.raises(GeometryError, match=r"bad\.yaml: not valid YAML \(line \d+, column \d+"):
        load_phantom(path, load_geometry(ROOT / "params" / "geometry" / "bergen_dtc.yaml"))
