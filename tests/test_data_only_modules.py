"""Trained modules are stored as data: the array container, the trees copied out of scikit-learn, and a planted
pickle that must not run."""

import hashlib
import json
import pickle

import numpy as np
import pytest
import torch
from sklearn.ensemble import HistGradientBoostingClassifier

from pctlib.fileio import ArraysError, pack_arrays, unpack_arrays
from pctlib.graphs.config import GraphConfig
from pctlib.graphs.learned import EmbeddingConfig, HitEmbedder, _embedding_network
from pctlib.graphs.modules import GraphModules, ModulesError, ModulesWarning, fitted_modules
from pctlib.preselect.classifier import ClassifierConfig, HitClassifier, _network
from pctlib.preselect.features import FEATURES
from pctlib.preselect.trees import NODE_DTYPE, TreeEnsemble, TreesError


def test_array_container_round_trips_and_is_deterministic():
    nodes = np.zeros(3, NODE_DTYPE)
    nodes["value"] = [0.5, -1.0, 2.0]
    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "nodes": nodes, "b": np.array([True, False])}
    meta = {"x": 1, "inf": float("inf"), "list": [1, "two"]}
    data = pack_arrays(meta, arrays)
    assert data == pack_arrays(meta, dict(reversed(list(arrays.items()))))  # same content, same bytes
    m, back = unpack_arrays(data)
    assert m == meta and set(back) == set(arrays)
    for k in arrays:
        assert back[k].dtype == arrays[k].dtype and np.array_equal(back[k], arrays[k])
    with pytest.raises(ArraysError, match="objects"):
        pack_arrays({}, {"o": np.array([object()], dtype=object)})


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("cut", [None, 10, -5])
def test_container_refuses_pickles_and_truncated_bytes(tmp_path, cut):
    marker = tmp_path / "ran"
    data = pickle.dumps({"x": _Payload(marker)}) if cut is None else pack_arrays({"m": 1}, {"a": np.ones(50)})[:cut]
    with pytest.raises(ArraysError, match="thing.bin"):
        unpack_arrays(data, "thing.bin")
    assert not marker.exists()


def test_copied_trees_predict_what_scikit_learn_predicts():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 5))
    y = ((x[:, 0] + 0.5 * x[:, 1] ** 2 - x[:, 3] > 0.2) ^ (rng.random(3000) < 0.05)).astype(int)
    x[rng.random(x.shape) < 0.03] = np.nan  # missing values: each node's learned side
    est = HistGradientBoostingClassifier(max_iter=40, max_leaf_nodes=15, class_weight="balanced",
                                         random_state=0).fit(x, y)
    trees = TreeEnsemble.from_sklearn(est)
    test = rng.normal(size=(2000, 5))
    test[rng.random(test.shape) < 0.05] = np.nan
    assert np.allclose(trees.predict_proba(test), est.predict_proba(test), rtol=0, atol=1e-12)
    assert len(trees.trees) == est.n_iter_


def test_damaged_node_tables_are_refused():
    t = np.zeros(3, NODE_DTYPE)
    t["left"], t["right"], t["is_leaf"] = [1, 0, 0], [2, 0, 0], [0, 1, 1]
    TreeEnsemble.from_arrays(0.0, 2, {"tree00000": t})
    bad = t.copy()
    bad["left"][0] = 0  # a loop back to the root
    with pytest.raises(TreesError, match="child"):
        TreeEnsemble.from_arrays(0.0, 2, {"tree00000": bad})
    bad = t.copy()
    bad["feature_idx"][0] = 7
    with pytest.raises(TreesError, match="feature"):
        TreeEnsemble.from_arrays(0.0, 2, {"tree00000": bad})


def _small_classifier(kind):
    cfg = ClassifierConfig(kind=kind, iterations=5, hidden=8, depth=2)
    rng = np.random.default_rng(1)
    if kind == "fcnn":
        torch.manual_seed(0)
        model = _network(cfg).eval()
    else:
        x = rng.normal(size=(400, len(FEATURES)))
        model = TreeEnsemble.from_sklearn(HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(
            x, (x[:, 0] > 0).astype(int)))
    n = len(FEATURES)
    return HitClassifier(cfg, np.zeros(n), np.ones(n), model, 0.25, {"note": "hand-made"})


@pytest.mark.parametrize("kind", ["fcnn", "gbdt"])
def test_classifier_and_embedding_round_trip_as_data(kind):
    clf = _small_classifier(kind)
    data = clf.to_bytes()
    assert not data.startswith(b"\x80")  # not a pickle
    back = HitClassifier.from_bytes(data)
    z = np.abs(np.random.default_rng(2).normal(size=(50, len(FEATURES))))
    assert np.array_equal(back.scores(z), clf.scores(z)) and back.threshold == 0.25
    assert back.digest() == clf.digest()
    torch.manual_seed(0)
    cfg = EmbeddingConfig(dim=3, hidden=8, depth=2)
    emb = HitEmbedder(cfg, np.zeros(5), np.ones(5), _embedding_network(cfg).eval(), {})
    e2 = HitEmbedder.from_bytes(emb.to_bytes())
    mods = GraphModules.from_bytes(GraphModules(back, e2).to_bytes())
    assert mods.digest() == GraphModules(clf, emb).digest()


def test_planted_pickle_with_a_matching_record_does_not_run(tmp_path):
    """Whoever can write the modules file can write its sidecar too: a pickle with a correct record and hash is
    still never unpickled; the modules are trained again, with a warning naming the file."""
    clf = _small_classifier("gbdt")
    cfg = GraphConfig(primaries_per_frame=50)
    path = tmp_path / "m.modules"
    calls = []

    def fit(*a, **k):
        calls.append(1)
        return GraphModules(clf, None)

    import pctlib.graphs.modules as modules

    real = modules.fit_modules
    modules.fit_modules = fit
    try:
        fitted_modules(path, "frames", [], cfg, ClassifierConfig(kind="gbdt"), progress=False)
        meta = json.loads(path.with_name(path.name + ".json").read_text())
        marker = tmp_path / "ran"
        planted = pickle.dumps(_Payload(marker))
        path.write_bytes(planted)
        meta["sha256"] = hashlib.sha256(planted).hexdigest()
        path.with_name(path.name + ".json").write_text(json.dumps(meta))
        with pytest.warns(ModulesWarning, match="m.modules"):
            got = fitted_modules(path, "frames", [], cfg, ClassifierConfig(kind="gbdt"), progress=False)
    finally:
        modules.fit_modules = real
    assert not marker.exists() and len(calls) == 2 and got.digest() == GraphModules(clf, None).digest()
    with pytest.raises(ModulesError, match="not a pctlib"):
        GraphModules.from_bytes(planted)
    assert not marker.exists()
