"""Hit tables: our writers and the importers of published/GATE formats, with their error messages."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest

from pctlib.io.hit_table import HIT_DTYPE, cluster_size, layer_from_levels, levels_from_layer
from pctlib.io.readers import HitFileError, read_hits
from pctlib.io.writers import HitWriter

PUBLISHED = ["eventID", "trackID", "parentID", "edep", "posX", "posY", "posZ", "level1ID", "level2ID"]


def small_table(n=50, seed=0):
    rng = np.random.default_rng(seed)
    t = np.zeros(n, HIT_DTYPE)
    t["eventID"] = np.sort(rng.integers(0, 10, n))
    t["trackID"] = rng.integers(1, 3, n)
    t["parentID"] = np.where(t["trackID"] == 1, 0, 1)
    t["PDGEncoding"] = 2212
    t["edep"] = rng.uniform(0.005, 0.1, n)
    t["posX"], t["posY"] = rng.normal(0, 5, n), rng.normal(0, 5, n)
    t["layer"] = rng.integers(0, 43, n)
    t["posZ"] = t["layer"] * 5.5
    t["level1ID"], t["level2ID"] = levels_from_layer(t["layer"])
    t["primaryInelastic"] = rng.integers(0, 2, n)
    return t


def test_layer_formula_round_trip_and_cluster_size():
    layers = np.arange(43)
    assert np.array_equal(layer_from_levels(*levels_from_layer(layers)), layers)
    # cs = int(4.2267 L^0.65 + 0.5): L = 0.10890 cs^1.5384 inverts it; hits below ~5.1 keV get cs < 2
    assert list(cluster_size(np.array([0.0, 0.004, 0.0052, 0.02, 0.1]))) == [0, 1, 2, 4, 10]
    for cs in range(2, 30):
        assert cluster_size(np.array([0.10890 * cs**1.5384 * 25e-3 * 1.001]))[0] == cs


@pytest.mark.parametrize("fmt", ["npz", "parquet"])
def test_writer_round_trip_in_chunks(tmp_path, fmt):
    t = small_table(120)
    path = tmp_path / f"hits.{fmt}"
    with HitWriter(path) as w:
        for part in np.array_split(t, 3):
            w.write(part)
    assert not list(tmp_path.glob("*.partial"))
    back = read_hits(path)
    assert back.dtype == HIT_DTYPE and np.array_equal(back, t)


def test_writer_leaves_nothing_on_error(tmp_path):
    path = tmp_path / "hits.npz"
    with pytest.raises(RuntimeError):
        with HitWriter(path) as w:
            w.write(small_table(5))
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_published_npz_with_volume_ids(tmp_path):
    t = small_table()
    dt = np.dtype([(n if n not in ("level1ID", "level2ID") else {"level1ID": "volumeID[2]", "level2ID": "volumeID[3]"}[n],
                    HIT_DTYPE[n]) for n in PUBLISHED])
    pub = np.zeros(len(t), dt)
    for n in PUBLISHED:
        pub[{"level1ID": "volumeID[2]", "level2ID": "volumeID[3]"}.get(n, n)] = t[n]
    np.savez(tmp_path / "water_100_5k.npz", pub)
    back = read_hits(tmp_path / "water_100_5k.npz")
    assert np.array_equal(back["layer"], t["layer"]) and np.allclose(back["edep"], t["edep"])
    assert (back["primaryInelastic"] == -1).all()  # unknown for published data


def test_csv_and_pickle(tmp_path):
    t = small_table()
    df = pd.DataFrame({n: t[n] for n in PUBLISHED})
    df.to_csv(tmp_path / "h.csv", index=False)
    with open(tmp_path / "h.pkl", "wb") as fh:
        pickle.dump(df, fh)
    for f in ("h.csv", "h.pkl"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            back = read_hits(tmp_path / f, trust_pickle=f.endswith(".pkl"))
        assert np.array_equal(back["layer"], t["layer"]) and np.array_equal(back["eventID"], t["eventID"])


def test_gate_root_file(tmp_path):
    uproot = pytest.importorskip("uproot", reason="the uproot extra is installed by `make test`")
    t = small_table()
    with uproot.recreate(tmp_path / "gate.root") as f:
        f["Hits"] = {n: t[n] for n in PUBLISHED + ["PDGEncoding"]}
    back = read_hits(tmp_path / "gate.root")
    assert np.array_equal(back["layer"], t["layer"]) and np.array_equal(back["PDGEncoding"], t["PDGEncoding"])
    with uproot.recreate(tmp_path / "bad.root") as f:
        f["Hits"] = {n: t[n] for n in PUBLISHED if n != "edep"}
    with pytest.raises(HitFileError, match="missing required column.*edep"):
        read_hits(tmp_path / "bad.root")
    with uproot.recreate(tmp_path / "notree.root") as f:
        f["Singles"] = {"eventID": t["eventID"]}
    with pytest.raises(HitFileError, match="no tree 'Hits'"):
        read_hits(tmp_path / "notree.root")


def test_bad_files_raise_named_errors(tmp_path):
    t = small_table()
    path = tmp_path / "h.npz"
    with HitWriter(path) as w:
        w.write(t)
    data = path.read_bytes()
    (tmp_path / "trunc.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(HitFileError, match="trunc.npz: unreadable or truncated"):
        read_hits(tmp_path / "trunc.npz")
    t2 = t.copy()
    t2["posX"][3] = np.nan
    np.savez(tmp_path / "nan.npz", t2)
    with pytest.raises(HitFileError, match="posX holds NaN"):
        read_hits(tmp_path / "nan.npz")
    np.savez(tmp_path / "plain.npz", np.arange(5))
    with pytest.raises(HitFileError, match="not a structured array"):
        read_hits(tmp_path / "plain.npz")
    pd.DataFrame({"eventID": [1]}).to_csv(tmp_path / "few.csv", index=False)
    with pytest.raises(HitFileError, match="missing required column"):
        read_hits(tmp_path / "few.csv")
    with pytest.raises(HitFileError, match="does not exist"):
        read_hits(tmp_path / "none.npz")
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(HitFileError, match="unknown hit file type"):
        read_hits(tmp_path / "x.txt")


def _published_npz(path, t):
    arr = np.zeros(len(t), [(c, "<f8" if c in ("edep", "posX", "posY", "posZ") else "<i8") for c in PUBLISHED])
    for c in PUBLISHED:
        arr[c] = t[c]
    np.savez_compressed(path, arr)
    return arr


def test_an_npz_damaged_in_the_middle_is_a_named_error(tmp_path):
    path = tmp_path / "h.npz"
    _published_npz(path, small_table(5000))
    raw = bytearray(path.read_bytes())
    for k in range(len(raw) // 2, len(raw) // 2 + 64):
        raw[k] ^= 0x5A
    path.write_bytes(bytes(raw))
    with pytest.raises(HitFileError, match=r"h\.npz: unreadable or truncated"):
        read_hits(path)


def test_text_in_a_numeric_csv_column_is_a_named_error(tmp_path):
    df = pd.DataFrame({c: small_table(10)[c] for c in PUBLISHED})
    df["edep"] = df["edep"].astype(object)
    df.loc[3, "edep"] = "about 0.02"
    df.to_csv(tmp_path / "h.csv", index=False)
    with pytest.raises(HitFileError, match=r"h\.csv: column edep holds a non-numeric value 'about 0.02'"):
        read_hits(tmp_path / "h.csv")


def test_event_ids_beyond_int32_and_layers_outside_the_detector_are_refused(tmp_path):
    t = small_table(20)
    arr = _published_npz(tmp_path / "ok.npz", t)
    arr["eventID"][5] = 2**31
    np.savez_compressed(tmp_path / "big.npz", arr)
    with pytest.raises(HitFileError, match=r"big\.npz: column eventID value 2147483648 does not fit int32"):
        read_hits(tmp_path / "big.npz")
    arr = _published_npz(tmp_path / "ok.npz", t)
    arr["level1ID"][7], arr["level2ID"][7] = 2, 60  # layer 62
    np.savez_compressed(tmp_path / "far.npz", arr)
    with pytest.raises(HitFileError, match=r"far\.npz: layer 62 is outside the detector's 43 layers"):
        read_hits(tmp_path / "far.npz")
    assert read_hits(tmp_path / "far.npz", n_layers=None)["layer"].max() == 62  # another detector: allowed
    arr["level1ID"][7], arr["level2ID"][7] = -3, -1
    np.savez_compressed(tmp_path / "neg.npz", arr)
    with pytest.raises(HitFileError, match=r"neg\.npz: negative layer -3"):
        read_hits(tmp_path / "neg.npz")


class _Planted:
    """A pickle that runs code when loaded: it writes a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_untrusted_pickles_and_checkpoints_never_run_code(tmp_path, capsys):
    import torch

    from pctlib.cli import main

    marker = tmp_path / "PWNED"
    with open(tmp_path / "h.pkl", "wb") as fh:
        pickle.dump(_Planted(marker), fh)
    with pytest.raises(HitFileError, match="a pickle can run code"):
        read_hits(tmp_path / "h.pkl")
    assert main(["graphs", "--hits", str(tmp_path / "h.pkl"), "--out", str(tmp_path / "g"), "--no-progress"]) == 2
    assert "--trust-pickle" in capsys.readouterr().err and not marker.exists()
    torch.save({"model": _Planted(marker)}, tmp_path / "evil.pt")
    assert main(["evaluate", "--model", str(tmp_path / "evil.pt"), "--data", str(tmp_path / "h.pkl"),
                 "--out", str(tmp_path / "e.csv")]) == 2
    assert "not a loadable checkpoint" in capsys.readouterr().err and not marker.exists()
    # trusted on purpose: it runs (and then is not a hit table)
    with pytest.warns(UserWarning, match="loading a pickle"), pytest.raises(HitFileError):
        read_hits(tmp_path / "h.pkl", trust_pickle=True)
    assert marker.exists()
