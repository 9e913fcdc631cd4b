"""Graph building on hand-built frames: hit graph, line graph, features, labels, filter boundary, cache, bad input."""

import math

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

from pctlib.graphs.build import graph_from_hits, pack, unpack
from pctlib.graphs.config import GraphConfig, GraphConfigError
from pctlib.graphs.dataset import CacheWarning, GraphDataset, build_cache
from pctlib.graphs.frames import FrameError, preprocess, split_frames
from pctlib.graphs.hit_graph import build_hit_graph
from pctlib.graphs.line_graph import sinusoidal_encoding
from pctlib.io.hit_table import HIT_DTYPE, levels_from_layer

Z = {0: 0.0, 1: 50.0, 2: 90.0, 3: 95.5, 4: 101.0, 5: 106.5, 6: 112.0}


def make_hits(rows):
    """rows: (event, track, layer, x, y, edep)."""
    h = np.zeros(len(rows), HIT_DTYPE)
    for i, (ev, tr, lay, x, y, e) in enumerate(rows):
        h[i]["eventID"], h[i]["trackID"], h[i]["layer"] = ev, tr, lay
        h[i]["parentID"] = 0 if tr == 1 else 1
        h[i]["posX"], h[i]["posY"], h[i]["posZ"], h[i]["edep"] = x, y, Z[lay], e
    h["level1ID"], h["level2ID"] = levels_from_layer(h["layer"])
    return h


THREE = make_hits([(0, 1, 0, 0.0, 0.0, 0.02), (1, 1, 0, 5.0, 0.0, 0.03),
                   (0, 1, 1, 0.0, 0.0, 0.021), (1, 1, 1, 5.0, 0.0, 0.031),
                   (0, 1, 2, 0.0, 0.0, 0.022), (1, 1, 2, 5.0, 0.0, 0.032)])


def test_three_layer_frame_hit_graph_line_graph_features_labels():
    g, s = graph_from_hits(THREE, GraphConfig())
    # hits sorted by layer: A B | C D | E F; all 4 pairs survive 0.2 rad at both gaps (5 mm over 50 and 40 mm)
    edges = set(map(tuple, g.hit_edge_index.t().tolist()))
    assert edges == {(0, 2), (0, 3), (1, 2), (1, 3), (2, 4), (2, 5), (3, 4), (3, 5)}
    truth = {tuple(e): bool(y) for e, y in zip(g.hit_edge_index.t().tolist(), g.y.tolist())}
    assert {e for e, t in truth.items() if t} == {(0, 2), (1, 3), (2, 4), (3, 5)}
    assert g.hit_layer_ptr.tolist() == [0, 2, 4, 6] and g.edge_layer_ptr.tolist() == [0, 4, 8]
    assert s == {"hits": 6, "edges": 8, "true_edges_kept": 4, "true_edges_removed": 0, "line_nodes": 8,
                 "line_edges": 8, "line_edges_both_directions": 16, "segment_pairs_any_shared_hit": 16,
                 "clean_primaries": 2}
    # line-node features (E_i, E_j, x_i, y_i, z_i, x_j, y_j, z_j) of segment B -> C
    k = [i for i, e in enumerate(g.hit_edge_index.t().tolist()) if tuple(e) == (1, 2)][0]
    assert torch.allclose(g.x[k], torch.tensor([0.03, 0.021, 5.0, 0.0, 0.0, 0.0, 0.0, 50.0]))
    # line edges: both directions of 8 segment pairs; u = 1 - sqrt(cos) of the two segments
    m = g.edge_index.shape[1] // 2
    seg = {tuple(e): np.array([THREE[e[1]]["posX"] - THREE[e[0]]["posX"], 0.0, Z[int(THREE[e[1]]["layer"])]
                               - Z[int(THREE[e[0]]["layer"])]]) for e in edges}
    hit_order = np.lexsort((THREE["trackID"], THREE["eventID"], THREE["layer"]))
    assert list(hit_order) == list(range(6))
    ei = g.hit_edge_index.t().tolist()
    for (a, b), u in zip(g.edge_index[:, :m].t().tolist(), g.edge_u[:m].tolist()):
        sa, sb = seg[tuple(ei[a])], seg[tuple(ei[b])]
        assert ei[a][1] == ei[b][0]
        cos = sa @ sb / np.linalg.norm(sa) / np.linalg.norm(sb)
        assert u == pytest.approx(1 - math.sqrt(cos), abs=1e-7)
    assert torch.equal(g.edge_index[:, m:], g.edge_index[:, :m].flip(0))


def test_angle_filter_threshold_boundary():
    # calorimeter layers 5 -> 6 (5.5 mm apart): 0.4 rad; tracker layer 0 -> 1 (50 mm): 0.2 rad
    rows = []
    for i, d in enumerate([-1e-5, 1e-5]):
        x = 5.5 * math.tan(0.4 + d)
        rows += [(i, 1, 5, 100.0 * i, 0.0, 0.02), (i, 1, 6, 100.0 * i + x, 0.0, 0.02)]
    h = make_hits(rows)
    g = build_hit_graph(h[np.lexsort((h["eventID"], h["layer"]))], GraphConfig(truncate_after_empty_layer=False))
    kept = {(int(g.event[s]), int(g.event[t])) for s, t in g.edge_index.t().tolist()}
    assert kept == {(0, 0)}
    rows = []
    for i, d in enumerate([-1e-5, 1e-5]):
        x = 50.0 * math.tan(0.2 + d)
        rows += [(i, 1, 0, 100.0 * i, 0.0, 0.02), (i, 1, 1, 100.0 * i + x, 0.0, 0.02)]
    h = make_hits(rows)
    g = build_hit_graph(preprocess(h, GraphConfig()), GraphConfig())
    assert {(int(g.event[s]), int(g.event[t])) for s, t in g.edge_index.t().tolist()} == {(0, 0)}
    assert g.true_candidates == 2  # the removed true edge is counted


def test_preprocessing_merges_cuts_and_truncates():
    h = make_hits([(0, 1, 0, 1.0, 0.0, 0.02), (0, 1, 0, 3.0, 2.0, 0.01),  # merged: edep 0.03, x 2, y 1
                   (0, 1, 1, 0.0, 0.0, 0.001),  # cs 1: dropped ... which empties layer 1
                   (1, 1, 1, 0.0, 0.0, 0.02), (1, 1, 3, 0.0, 0.0, 0.02)])  # layer 2 empty: layer 3 dropped
    p = preprocess(h, GraphConfig())
    assert len(p) == 2 and p["layer"].tolist() == [0, 1]
    assert p[0]["edep"] == pytest.approx(0.03) and p[0]["posX"] == pytest.approx(2.0) and p[0]["posY"] == 1.0


def test_noise_hits_are_never_merged():
    # three fake clusters of one layer share eventID and trackID -1: merging them by (eventID, trackID, layer)
    # would leave one hit at their mean position
    h = make_hits([(0, 1, 0, 0.0, 0.0, 0.02), (0, -1, 0, 10.0, 0.0, 0.02), (0, -1, 0, 30.0, 5.0, 0.02),
                   (0, -1, 0, -40.0, 1.0, 0.02), (0, 1, 1, 0.0, 0.0, 0.02)])
    h["parentID"][h["trackID"] < 0] = -1
    p = preprocess(h, GraphConfig(min_cluster_size=0))
    assert len(p) == 5
    noise = p[p["trackID"] < 0]
    assert sorted(noise["posX"].tolist()) == [-40.0, 10.0, 30.0]


def test_bad_and_degenerate_frames():
    empty = make_hits([])
    g, s = graph_from_hits(empty, GraphConfig())
    assert g.x.shape == (0, 8) and s["edges"] == 0 and s["line_edges"] == 0
    g, s = graph_from_hits(make_hits([(0, 1, 0, 0.0, 0.0, 0.02)]), GraphConfig())
    assert s["hits"] == 1 and s["edges"] == 0
    # layer 0 empty: a leading empty layer is no gap (as in the released code), the hits stay
    lead = make_hits([(0, 1, 1, 0.0, 0.0, 0.02), (0, 1, 2, 0.0, 0.0, 0.02)])
    assert graph_from_hits(lead, GraphConfig())[1]["hits"] == 2
    nan = make_hits([(0, 1, 0, 0.0, 0.0, 0.02)])
    nan["posY"] = np.nan
    with pytest.raises(FrameError, match="non-finite values in posY"):
        graph_from_hits(nan, GraphConfig())
    with pytest.raises(GraphConfigError, match="theta_tracker"):
        GraphConfig(theta_tracker=0.0)


def test_noise_hits_are_never_true():
    h = make_hits([(0, 1, 0, 0.0, 0.0, 0.02), (0, -1, 1, 0.5, 0.0, 0.02), (0, 1, 1, 0.0, 0.0, 0.02)])
    g, s = graph_from_hits(h, GraphConfig())
    noise = (g.hit_track == -1).nonzero().item()
    for (a, b), y in zip(g.hit_edge_index.t().tolist(), g.y.tolist()):
        assert y == (0.0 if noise in (a, b) else 1.0)


def test_encoding_and_pack_round_trip_and_batching():
    u = torch.tensor([0.0, 1e-4, 2e-3])
    enc = sinusoidal_encoding(u, 8, 0.001)
    w = torch.exp(-(2 * torch.arange(4) / 8) * math.log(10000.0))
    assert torch.allclose(enc[:, 0::2], torch.sin(u[:, None] / 0.001 * w))
    assert torch.allclose(enc[:, 1::2], torch.cos(u[:, None] / 0.001 * w))
    g, _ = graph_from_hits(THREE, GraphConfig())
    back = unpack(pack(g))
    for k in ("x", "edge_index", "y", "hit_x", "hit_edge_index", "hit_event", "edge_layer_ptr"):
        assert torch.equal(getattr(back, k).to(getattr(g, k).dtype), getattr(g, k)), k
    assert torch.allclose(back.edge_u, g.edge_u)
    b = Batch.from_data_list([g, g])
    assert b.hit_edge_index.shape[1] == 16 and int(b.hit_edge_index[:, 8:].min()) == 6
    assert int(b.edge_index[:, g.edge_index.shape[1]:].min()) == 8


def test_frames_split_by_consecutive_primaries():
    h = make_hits([(e, 1, 0, 0.0, 0.0, 0.02) for e in (10, 11, 12, 13, 14)])
    frames = split_frames(h, 2)
    assert [f["eventID"].tolist() for f in frames] == [[10, 11], [12, 13], [14]]


def test_hit_graph_same_edges_with_or_without_a_common_z_per_layer():
    # a layer whose hits share one z takes a faster path (dz a number); jittering z by 0.1 um forces the general
    # (dz matrix) path, which must give the same segments
    cfg = GraphConfig()
    flat = build_hit_graph(preprocess(THREE, cfg), cfg)
    jit = THREE.copy()
    jit["posZ"] += 1e-4 * np.arange(jit.size)
    general = build_hit_graph(preprocess(jit, cfg), cfg)
    assert torch.equal(flat.edge_index, general.edge_index) and torch.equal(flat.edge_ptr, general.edge_ptr)


def test_framing_recorded_versus_eventid():
    # primary 12 left no hit (absorbed in the phantom); a noise hit carries eventID 12 (trackID -1)
    h = make_hits([(e, 1, 0, 0.0, 0.0, 0.02) for e in (10, 11, 13, 14, 15)])
    noise = h[:1].copy()
    noise["eventID"], noise["trackID"] = 12, -1
    h = np.concatenate([h, noise])
    rec = split_frames(h, 2)  # recorded: 10 11 | 13 14 | 15; the noise hit joins the frame of event 13
    assert [sorted(f["eventID"].tolist()) for f in rec] == [[10, 11], [12, 13, 14], [15]]
    dlv = split_frames(h, 2, "eventid")  # delivered: 10 11 | 12 13 | 14 15
    assert [sorted(f["eventID"].tolist()) for f in dlv] == [[10, 11], [12, 13], [14, 15]]
    assert len(split_frames(h, 2, drop_partial=True)) == 2  # event 15 alone is not a frame of 2
    assert len(split_frames(h, 2, "eventid", drop_partial=True)) == 3  # 14 15 ends the file's range
    assert len(split_frames(h[h["eventID"] != 15], 2, "eventid", drop_partial=True)) == 2
    with pytest.raises(ValueError, match="framing"):
        split_frames(h, 2, "time")
    with pytest.raises(GraphConfigError, match="framing"):
        GraphConfig(framing="time")


def test_cache_build_reuse_repair_and_invalidation(tmp_path):
    from pctlib.physics.geometry import load_geometry
    from pctlib.physics.simulate import Simulator
    from pathlib import Path

    geo = load_geometry(Path(__file__).resolve().parents[1] / "params" / "geometry" / "bergen_dtc.yaml")
    hits_file = tmp_path / "h.npz"
    Simulator(geo.with_phantom(150.0)).run(150, seed=1, out=hits_file, progress=False)
    out = tmp_path / "cache"
    cfg = GraphConfig(primaries_per_frame=50, drop_partial=False)
    info = build_cache(hits_file, out, cfg, progress=False)
    assert info.n_frames == 3 and info.built == 3
    assert build_cache(hits_file, out, cfg, progress=False).built == 0
    (out / "frames" / "000001.pt").write_bytes(b"garbage")
    with pytest.warns(CacheWarning, match="damaged"):
        assert build_cache(hits_file, out, cfg, progress=False).built == 1
    with pytest.warns(CacheWarning, match="stale"):
        info2 = build_cache(hits_file, out, GraphConfig(primaries_per_frame=50, theta_calorimeter=0.3, drop_partial=False), progress=False)
    assert info2.built == 3 and info2.key != info.key
    ds = GraphDataset(out, max_cached=2)
    assert len(ds) == 3 and len(ds.summary) == 3
    g0, _, g2 = ds[0], ds[1], ds[2]
    assert len(ds._cache) == 2 and g0.x.shape[1] == 8
    assert ds.summary[2]["line_nodes"] == g2.x.shape[0]
    assert len(ds.normalization["x_mean"]) == 8


def test_tracker_threshold_applies_to_the_tracker1_to_calorimeter0_pair():
    # layer 1 (tracker) -> layer 2 (first calorimeter layer), 40 mm apart in this test geometry: the 0.2 rad
    # tracker threshold applies, not the calorimeter's 0.4 rad
    dz = Z[2] - Z[1]
    rows = []
    for i, ang in enumerate([0.2 - 1e-5, 0.2 + 1e-5, 0.3]):
        rows += [(i, 1, 1, 1000.0 * i, 0.0, 0.02), (i, 1, 2, 1000.0 * i + dz * math.tan(ang), 0.0, 0.02)]
    h = make_hits(rows)
    g = build_hit_graph(h[np.lexsort((h["eventID"], h["layer"]))], GraphConfig(truncate_after_empty_layer=False))
    assert {(int(g.event[s]), int(g.event[t])) for s, t in g.edge_index.t().tolist()} == {(0, 0)}
    # the same angles between two calorimeter layers 2 -> 3 pass up to 0.4 rad
    rows = [(i, 1, 2 + k, 1000.0 * i + k * (Z[3] - Z[2]) * math.tan(ang), 0.0, 0.02)
            for i, ang in enumerate([0.2 + 1e-5, 0.3]) for k in (0, 1)]
    h = make_hits(rows)
    g = build_hit_graph(h[np.lexsort((h["eventID"], h["layer"]))], GraphConfig(truncate_after_empty_layer=False))
    assert {(int(g.event[s]), int(g.event[t])) for s, t in g.edge_index.t().tolist()} == {(0, 0), (1, 1)}


def _small_cache(tmp_path):
    from pctlib.physics.geometry import load_geometry
    from pctlib.physics.simulate import Simulator
    from pathlib import Path

    geo = load_geometry(Path(__file__).resolve().parents[1] / "params" / "geometry" / "bergen_dtc.yaml")
    hits_file = tmp_path / "h.npz"
    Simulator(geo.with_phantom(200.0)).run(300, seed=2, out=hits_file, progress=False)
    return hits_file, GraphConfig(primaries_per_frame=10)


def test_derived_cache_files_are_covered_by_hashes_and_a_bad_record_is_a_warning(tmp_path):
    import json

    from pctlib.graphs.dataset import CacheError

    hits_file, cfg = _small_cache(tmp_path)
    out = tmp_path / "c"
    build_cache(hits_file, out, cfg, progress=False)
    norm = json.loads((out / "normalization.json").read_text())
    edited = dict(norm, x_mean=[0.0] * len(norm["x_mean"]))
    (out / "normalization.json").write_text(json.dumps(edited))
    with pytest.raises(CacheError, match="normalization.json does not match"):
        GraphDataset(out)
    with pytest.warns(CacheWarning, match="does not match its recorded hash"):
        assert build_cache(hits_file, out, cfg, progress=False).built == 0
    assert json.loads((out / "normalization.json").read_text()) == norm
    assert len(GraphDataset(out)) > 0
    meta = json.loads((out / "cache.json").read_text())
    del meta["files"]
    (out / "cache.json").write_text(json.dumps(meta))
    with pytest.warns(CacheWarning, match="unreadable or incomplete"):
        info = build_cache(hits_file, out, cfg, progress=False)
    assert info.n_frames == len(GraphDataset(out))


def test_a_killed_cache_build_resumes_instead_of_starting_over(tmp_path, monkeypatch):
    import pctlib.graphs.dataset as ds

    hits_file, _ = _small_cache(tmp_path)
    cfg = GraphConfig(primaries_per_frame=4)  # about 60 frames: the kill comes after the first progress record
    out = tmp_path / "c"
    calls = {"n": 0}
    real = ds.graph_from_hits

    def dying(*a, **k):
        calls["n"] += 1
        if calls["n"] > ds.PARTIAL_EVERY + 2:
            raise KeyboardInterrupt("killed")
        return real(*a, **k)

    monkeypatch.setattr(ds, "graph_from_hits", dying)
    with pytest.raises(KeyboardInterrupt):
        build_cache(hits_file, out, cfg, progress=False)
    assert (out / ds.PARTIAL).is_file() and not (out / "cache.json").exists()
    monkeypatch.setattr(ds, "graph_from_hits", real)
    info = build_cache(hits_file, out, cfg, progress=False)
    assert info.n_frames > ds.PARTIAL_EVERY + 2
    # the frames of the progress record are reused; the two built after it are verified by their hash only if
    # recorded, so they are built again
    assert info.built == info.n_frames - ds.PARTIAL_EVERY
    assert not (out / ds.PARTIAL).exists()
    ref = build_cache(hits_file, tmp_path / "ref", cfg, progress=False)
    assert ref.key == info.key
    assert GraphDataset(out).meta["files"] == GraphDataset(tmp_path / "ref").meta["files"]
