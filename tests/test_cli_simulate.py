"""`pctlib simulate` and `pctlib datasets`: files, metadata, resumption and bad input."""

import json
from pathlib import Path

import yaml

from pctlib.cli import main
from pctlib.io.readers import read_hits

ROOT = Path(__file__).resolve().parents[1]


def test_simulate_writes_hits_and_metadata(tmp_path, capsys):
    out = tmp_path / "w.npz"
    assert main(["simulate", "--phantom-mm", "150", "--primaries", "300", "--seed", "1", "--out", str(out),
                 "--no-progress"]) == 0
    hits = read_hits(out)
    meta = json.loads((tmp_path / "w.npz.json").read_text())
    assert meta["primaries"] == 300 and meta["config"]["phantom_mm"] == 150.0 and len(meta["sha256"]) == 64
    assert hits["eventID"].max() < 300 and len(hits) > 300 * 5
    assert main(["simulate", "--primaries", "100", "--out", str(tmp_path / "w.parquet"), "--no-progress"]) == 0
    assert len(read_hits(tmp_path / "w.parquet")) > 0


def test_simulate_bad_input_is_exit_2(tmp_path, capsys):
    for args in (["--energy-mev", "5000"], ["--primaries", "0"], ["--phantom-mm", "-5"],
                 ["--geometry", str(tmp_path / "none.yaml")]):
        assert main(["simulate", "--out", str(tmp_path / "x.npz"), "--no-progress", *args]) == 2
        assert "error:" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_datasets_writes_index_and_skips_up_to_date(tmp_path, capsys):
    spec = {
        "geometry": str(ROOT / "params" / "geometry" / "bergen_dtc.yaml"),
        "out_dir": str(tmp_path / "data"),
        "sets": [{"name": "a", "phantom_mm": 100, "primaries": 100, "seed": 1},
                 {"name": "b", "phantom_mm": 200, "primaries": 50, "seed": 2}],
    }
    p = tmp_path / "params" / "ds.yaml"
    p.parent.mkdir()
    p.write_text(yaml.safe_dump(spec))
    assert main(["datasets", str(p), "--no-progress"]) == 0
    index = json.loads((tmp_path / "data" / "datasets.json").read_text())
    assert set(index) == {"a", "b"} and index["b"]["phantom_mm"] == 200
    capsys.readouterr()
    assert main(["datasets", str(p), "--no-progress"]) == 0
    assert capsys.readouterr().err.count("up to date") == 2
    spec["sets"][1]["seed"] = 1
    p.write_text(yaml.safe_dump(spec))
    assert main(["datasets", str(p)]) == 2
    assert "seed 1 is used twice" in capsys.readouterr().err


def test_repository_datasets_file_is_valid():
    spec = yaml.safe_load((ROOT / "params" / "datasets.yaml").read_text())
    assert len(spec["sets"]) == 9 and len({s["seed"] for s in spec["sets"]}) == 9
    assert sum(s["primaries"] for s in spec["sets"]) == 345000


def test_evaluate_track_follower_writes_a_tidy_csv(tmp_path, capsys):
    import pandas as pd

    hits = tmp_path / "t.npz"
    assert main(["simulate", "--phantom-mm", "200", "--primaries", "120", "--seed", "3", "--out", str(hits),
                 "--no-progress"]) == 0
    out = tmp_path / "ev.csv"
    assert main(["evaluate", "--model", "track-follower", "--data", str(hits), "--primaries-per-frame", "30,60",
                 "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert set(df.primaries_per_frame) == {30, 60} and (df.algorithm == "track-follower").all()
    for col in ("purity", "efficiency", "tpr", "fpr", "double_majority", "tracking_seconds"):
        assert col in df.columns
    assert df.purity.between(0, 1).all()
    assert main(["evaluate", "--model", str(tmp_path / "none.pt"), "--data", str(hits), "--out", str(out)]) == 2
    assert main(["evaluate", "--model", "track-follower", "--data", str(hits), "--primaries-per-frame", "x",
                 "--out", str(out)]) == 2
