"""The issue-17 modules in the graph path: segments given to the hit graph, the configuration's rules, the
embedding's training and round trip, the verified module file, and a learned, preselected graph through the cache
and the evaluation, on simulated frames with noise."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from pctlib.graphs.build import graph_from_hits
from pctlib.graphs.config import GraphConfig, GraphConfigError
from pctlib.graphs.dataset import GraphDataset, build_cache, cache_key
from pctlib.graphs.frames import last_connected_layer, preprocess, split_frames
from pctlib.graphs.hit_graph import build_hit_graph
from pctlib.graphs.learned import EmbeddingConfig, HitEmbedder, embedding_quality, fit_embedding
from pctlib.graphs.modules import (GraphModules, ModulesError, fit_modules, fitted_modules, labelled_frames,
                                   prepare_hits)
from pctlib.io.hit_table import hit_classes
from pctlib.io.writers import HitWriter
from pctlib.physics.geometry import load_geometry
from pctlib.physics.simulate import Digitisation, Simulator
from pctlib.preselect.classifier import ClassifierConfig
from pctlib.tracks.evaluate import evaluate_frames

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def noisy():
    geo = load_geometry(ROOT / "params/geometry/bergen_dtc.yaml")
    d = Digitisation(pixel_clusters=True, frame_primaries=50, noise_rate=1e-6, min_cluster_size=0)
    hits = Simulator(geo.with_phantom(100.0), digitisation=d).run(400, seed=3, progress=False).hits
    return split_frames(hits, 50, drop_partial=True), hits


def test_given_segments_make_the_same_graph_as_the_angular_filter(noisy):
    frames, _ = noisy
    cfg = GraphConfig(primaries_per_frame=50)
    p = preprocess(frames[0], cfg)
    a = build_hit_graph(p, cfg)
    b = build_hit_graph(p, cfg, edges=a.edge_index.numpy())
    for f in ("edge_index", "edge_ptr", "y", "edge_clean", "layer_ptr"):
        assert torch.equal(getattr(a, f), getattr(b, f)), f
    assert a.true_candidates == b.true_candidates
    with pytest.raises(ValueError, match="layer l to layer l \\+ 1"):
        build_hit_graph(p, cfg, edges=a.edge_index.numpy()[::-1].copy())


def test_configuration_rules_and_unchanged_cache_keys():
    base = GraphConfig()
    assert not {"graph_builder", "preselect", "modules_digest"} & set(base.to_dict())
    with pytest.raises(GraphConfigError, match="graph_builder"):
        GraphConfig(graph_builder="radius")
    with pytest.raises(GraphConfigError, match="preselect"):
        GraphConfig(preselect="svm")
    with pytest.raises(GraphConfigError, match="modules_digest"):
        GraphConfig(graph_builder="learned")
    with pytest.raises(GraphConfigError, match="modules_digest"):
        GraphConfig(modules_digest="abc")
    learned = GraphConfig(graph_builder="learned", modules_digest="abc")
    assert cache_key("x", learned) != cache_key("x", replace(learned, modules_digest="abd"))


@pytest.fixture(scope="module")
def modules(noisy):
    frames, _ = noisy
    cfg = GraphConfig(primaries_per_frame=50, min_cluster_size=0)
    return cfg, fit_modules(frames[:3], cfg, ClassifierConfig(kind="gbdt", iterations=40),
                            EmbeddingConfig(epochs=3, k=3, hidden=16, depth=1), progress=False)


def test_modules_are_checked_against_the_configuration(noisy, modules):
    frames, _ = noisy
    cfg, mods = modules
    with pytest.raises(ModulesError, match="fcnn classifier"):
        mods.config(cfg, preselect="fcnn")
    with pytest.raises(ModulesError, match="embedding"):
        GraphModules(mods.classifier, None).config(cfg, graph_builder="learned")
    both = mods.config(cfg, "learned", "gbdt")
    with pytest.raises(ModulesError, match="need the trained modules"):
        prepare_hits(frames[4], both)
    with pytest.raises(ModulesError, match="names modules"):
        prepare_hits(frames[4], both, GraphModules(mods.classifier, None))
    # the classifier's cut, then the embedding's k segments per hit towards the next layer
    h, edges = prepare_hits(frames[4], both, mods)
    p = preprocess(frames[4], cfg)
    kept = p[mods.classifier.keep(p)]
    np.testing.assert_array_equal(h, kept[kept["layer"] <= last_connected_layer(kept["layer"])])
    assert len(h) < len(p)
    src_layer = h["layer"][edges[0]]
    assert np.all(h["layer"][edges[1]] == src_layer + 1)
    per_source = np.bincount(edges[0], minlength=len(h))
    assert per_source.max() <= 3
    # the noise the cluster-size cut would have removed is mostly gone: noise is half the hits before
    c_before, c_after = hit_classes(p), hit_classes(h)
    assert (c_before == 2).mean() > 0.3 and (c_after == 2).mean() < 0.05


def test_embedding_training_separates_particles_and_round_trips(noisy):
    frames, _ = noisy
    cfg = GraphConfig(primaries_per_frame=50)
    graphs = labelled_frames(frames, cfg)[3]
    emb = fit_embedding(graphs[:4], EmbeddingConfig(epochs=6, hidden=16, depth=1, k=1), progress=False)
    assert emb.info["loss"][-1] < emb.info["loss"][0]
    q = embedding_quality(emb, graphs[4:])
    assert 0 <= q["alignment"] < 1 and q["uniformity"] < 0
    # k = 1 in the embedding finds the true successor of most hits on held-out frames
    p, _, _ = graphs[4]
    g = build_hit_graph(p, cfg, edges=emb.edges(p))
    assert g.y.mean() > 0.5
    back = HitEmbedder.from_bytes(emb.to_bytes())
    np.testing.assert_array_equal(back.embed(p), emb.embed(p))
    assert back.digest() == emb.digest()
    for loss in ("hinge", "infonce"):  # both losses train (a smoke check of the hinge path)
        e = fit_embedding(graphs[:2], EmbeddingConfig(loss=loss, epochs=2, hidden=8, depth=0), progress=False)
        assert np.isfinite(e.info["loss"]).all()


def test_module_file_is_reused_verified_and_retrained_when_damaged(tmp_path, noisy):
    frames, _ = noisy
    cfg = GraphConfig(primaries_per_frame=50, min_cluster_size=0)
    calls = []

    def get():
        calls.append(1)
        return frames[:2]

    kw = dict(classifier=ClassifierConfig(kind="gbdt", iterations=10), progress=False)
    a = fitted_modules(tmp_path / "m.pkl", "frames-v1", get, cfg, **kw)
    b = fitted_modules(tmp_path / "m.pkl", "frames-v1", get, cfg, **kw)
    assert len(calls) == 1 and a.digest() == b.digest()
    meta = json.loads((tmp_path / "m.pkl.json").read_text())
    assert meta["digest"] == a.digest()
    (tmp_path / "m.pkl").write_bytes(b"damaged")
    fitted_modules(tmp_path / "m.pkl", "frames-v1", get, cfg, **kw)
    assert len(calls) == 2
    fitted_modules(tmp_path / "m.pkl", "frames-v2", get, cfg, **kw)  # other training frames: trained again
    assert len(calls) == 3


def test_learned_preselected_graphs_through_the_cache_and_the_evaluation(tmp_path, noisy, modules):
    frames, hits = noisy
    cfg, mods = modules
    both = mods.config(cfg, "learned", "gbdt")
    path = tmp_path / "hits.npz"
    with HitWriter(path) as w:
        w.write(hits)
    info = build_cache(path, tmp_path / "graphs", both, progress=False, modules=mods)
    ds = GraphDataset(tmp_path / "graphs")
    g0 = ds[0]
    want, _ = graph_from_hits(frames[0], both, modules=mods)
    assert torch.equal(g0.hit_edge_index, want.hit_edge_index) and info.n_frames == len(frames)
    with pytest.raises(ModulesError):
        build_cache(path, tmp_path / "graphs2", both, progress=False)
    rows = evaluate_frames(hits, 50, "track-follower", graph=both, modules=mods, max_frames=2)
    ref = evaluate_frames(hits, 50, "track-follower", graph=cfg, max_frames=2)
    for r, q in zip(rows, ref):
        assert r["hits"] < q["hits"] == q["hits_before_preselect"] == r["hits_before_preselect"]
        assert r["clean_primaries_before"] >= r["clean_primaries"]


def test_graph_setup_of_the_chapters_trains_once_and_feeds_prepare(tmp_path):
    from pctlib.training.data import DataSpec, graph_setup, prepare

    cfg, mods = graph_setup(tmp_path, "angular", "none")
    assert mods is None and not cfg.uses_modules  # the reference: nothing trained, nothing simulated
    assert not (tmp_path / "hits").exists()
    kw = dict(phantoms=(200.0,), module_primaries=300,
              embedding=EmbeddingConfig(epochs=1, hidden=8, depth=0, k=2),
              classifier=ClassifierConfig(kind="gbdt", iterations=10), progress=False)
    cfg, mods = graph_setup(tmp_path, "learned", "gbdt", **kw)
    assert cfg.graph_builder == "learned" and cfg.preselect == "gbdt" and cfg.modules_digest == mods.digest()
    files = sorted((tmp_path / "modules").glob("*.modules"))
    again, mods2 = graph_setup(tmp_path, "learned", "gbdt", **kw)
    assert again == cfg and sorted((tmp_path / "modules").glob("*.modules")) == files  # reused, not retrained
    with pytest.raises(ValueError, match="preselect 'fcnn' with a gbdt"):
        graph_setup(tmp_path, "angular", "fcnn", **kw)
    frames = prepare(DataSpec("t", (200.0,), 200, 1), tmp_path, progress=False, graph=cfg, modules=mods2)
    ref = prepare(DataSpec("t", (200.0,), 200, 1), tmp_path, progress=False)
    assert frames.identity != ref.identity  # their own cache folders
    g, r = frames[0], ref[0]
    # the learned graph: at most k = 2 segments per hit, on the hits the classifier kept
    assert np.bincount(g.hit_edge_index[0].numpy()).max() <= 2 and g.hit_x.shape[0] <= r.hit_x.shape[0]
