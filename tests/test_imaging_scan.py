"""Scans as data: the cached scan files, the truth WEPL per hit (against the raw hit table) and its frame offsets."""

import warnings
from pathlib import Path

import numpy as np
import pytest

from pctlib.graphs.build import graph_from_hits
from pctlib.graphs.config import GraphConfig
from pctlib.graphs.frames import preprocess, split_frames
from pctlib.imaging.scan import (ScanSpec, ScanWarning, frame_first_events, hit_truth_wepl, read_primaries,
                                 scan_frames, simulated_scan, with_truth_wepl)
from pctlib.io.readers import read_hits
from pctlib.physics.simulate import PRIMARY_DTYPE

ROOT = Path(__file__).resolve().parents[1]
PHANTOM = ROOT / "params/phantoms/radiography.yaml"


def _primaries(ids, wepl):
    p = np.zeros(len(ids), PRIMARY_DTYPE)
    p["eventID"], p["wepl"] = ids, wepl
    return p


def test_truth_wepl_per_hit_by_hand():
    prim = _primaries([12, 10, 11], [30.0, 10.0, 20.0])  # not sorted
    ev = np.array([0, 1, 2, 1, -1])  # frame-local; the frame starts at eventID 10
    clean = np.array([True, True, True, False, False])
    got = hit_truth_wepl(ev, clean, prim, first_event=10)
    np.testing.assert_array_equal(got[:3], [10.0, 20.0, 30.0])
    assert np.isnan(got[3:]).all()
    with pytest.raises(ValueError, match="not among the primaries"):
        hit_truth_wepl(np.array([5]), np.array([True]), prim, first_event=10)
    assert np.isnan(hit_truth_wepl(ev, np.zeros(5, bool), prim)).all()


def test_scan_files_are_cached_and_checked(tmp_path):
    spec = ScanSpec(str(PHANTOM), 2, 7)
    files = simulated_scan(tmp_path, "t", spec, progress=False)
    prim = read_primaries(files.primaries)
    assert len(prim) == 2 * 85 and files.hits.is_file()
    stamp = files.hits.stat().st_mtime_ns
    assert simulated_scan(tmp_path, "t", spec, progress=False) == files and files.hits.stat().st_mtime_ns == stamp
    files.primaries.write_bytes(b"damaged")
    with pytest.warns(ScanWarning, match="simulating it again"):
        again = simulated_scan(tmp_path, "t", spec, progress=False)
    assert read_primaries(again.primaries).tobytes() == prim.tobytes()  # same seed: the same scan
    # another phantom file content, another digest (another file)
    other = tmp_path / "p.yaml"
    other.write_text(PHANTOM.read_text().replace("radius_mm: 9.0", "radius_mm: 8.0", 1))
    assert ScanSpec(str(other), 2, 7).digest() != spec.digest()
    with pytest.raises(ValueError, match="primaries_per_spot"):
        ScanSpec(str(PHANTOM), 0, 1)


def test_frames_carry_the_truth_of_the_raw_hit_table(tmp_path):
    cfg = GraphConfig(primaries_per_frame=40)
    frames, files = scan_frames(tmp_path, "t", ScanSpec(str(PHANTOM), 2, 8), cfg, progress=False)
    hits = read_hits(files.hits)
    prim = read_primaries(files.primaries)
    raw = split_frames(hits, 40, drop_partial=True)
    assert len(frames) == len(raw) >= 3
    wepl_of = dict(zip(prim["eventID"].tolist(), prim["wepl"].tolist()))
    for i in (0, len(raw) - 1):
        g = frames[i]
        p = preprocess(raw[i], cfg)
        # independent route: match every clean graph hit to the preprocessed table by its position and layer
        key = {(round(float(np.float32(x)), 3), round(float(np.float32(y)), 3), int(l)): int(e)
               for x, y, l, e in zip(p["posX"], p["posY"], p["layer"], p["eventID"])}
        clean = g.hit_clean.numpy()
        assert clean.any()
        for h in np.nonzero(clean)[0]:
            x, y, lay = (float(g.hit_x[h, 1]), float(g.hit_x[h, 2]), int(g.hit_x[h, 4]))
            assert float(g.hit_wepl[h]) == pytest.approx(wepl_of[key[(round(x, 3), round(y, 3), lay)]], rel=1e-6)
        assert np.isnan(g.hit_wepl.numpy()[~clean]).all()
    # the offsets are those of the graphs built from the same frames
    assert frame_first_events(hits, cfg)[1] == int(preprocess(raw[1], cfg)["eventID"][
        preprocess(raw[1], cfg)["trackID"] >= 0].min())
    g1, _ = graph_from_hits(raw[1], cfg)
    with_truth_wepl(g1, prim, frame_first_events(hits, cfg)[1])
    np.testing.assert_array_equal(g1.hit_wepl.numpy(), frames[1].hit_wepl.numpy())
