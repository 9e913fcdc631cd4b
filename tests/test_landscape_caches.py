"""Damaged, wrong-shaped or incomplete landscape cache files are computed again with a warning naming them, never
served and never a bare error."""

import json

import numpy as np
import pytest
import torch

from pctlib.landscape.cache import CacheWarning, PointCache, load_torch, save_torch_atomic
from pctlib.landscape.connectivity import CurveSpec, train_curve
from pctlib.models.interaction_network import EdgeScorer, ModelConfig
from pctlib.training.loop import TrainConfig


def test_truncated_cache_file_is_a_named_miss(tmp_path):
    path = tmp_path / "x.pt"
    save_torch_atomic(path, {"v": torch.ones(100)})
    path.write_bytes(path.read_bytes()[:40])
    with pytest.warns(CacheWarning, match="x.pt"):
        assert load_torch(path) is None
    assert load_torch(tmp_path / "absent.pt") is None


def test_point_missing_a_metric_is_recomputed_not_nan(tmp_path):
    cache = PointCache(tmp_path, metrics=("hamming", "bce"))
    cache.put(0.0, 0.0, {"hamming": 0.1, "bce": 0.2})
    assert cache.get(0.0, 0.0) == {"hamming": 0.1, "bce": 0.2}
    cache.put(0.5, 0.0, {"hamming": 0.1})
    with pytest.warns(CacheWarning, match="expected"):
        assert cache.get(0.5, 0.0) is None
    path = next(tmp_path.glob("a+5*"))
    path.write_text(json.dumps({"metrics": {"hamming": "x", "bce": 1}}))
    with pytest.warns(CacheWarning, match="damaged"):
        assert cache.get(0.5, 0.0) is None


def _model(seed, frame, norm):
    torch.manual_seed(seed)
    m = EdgeScorer(ModelConfig(hidden=4, encoding_dim=4, n_layers=2), norm["x_mean"], norm["x_std"])
    with torch.no_grad():
        m.train()
        m.logits(frame.x, frame.edge_index, frame.edge_u)
    return m.eval()


def test_curvature_cache_of_another_shape_is_recomputed(data, tmp_path):
    import pctlib.landscape.hessian as H

    tr, _, norm = data
    model = _model(0, tr[0], norm)
    first, vecs = H.curvature_cached(model, [tr[0]], None, "bce", k=2, trace_samples=0, cache_dir=tmp_path)
    (path,) = tmp_path.glob("curvature_bce_*.pt")
    hit = torch.load(path, weights_only=True)
    hit["vectors"] = torch.zeros(3, 7, dtype=torch.float64)  # not this model's 2 vectors
    save_torch_atomic(path, hit)
    with pytest.warns(CacheWarning, match="shape"):
        again, vecs2 = H.curvature_cached(model, [tr[0]], None, "bce", k=2, trace_samples=0, cache_dir=tmp_path)
    assert vecs2.shape == vecs.shape and np.allclose(again.eigenvalues, first.eigenvalues, rtol=1e-3)
    assert tuple(torch.load(path, weights_only=True)["vectors"].shape) == vecs.shape  # rewritten


def test_model_view_cache_with_other_layers_is_recomputed(data, tmp_path):
    from pctlib.landscape.similarity import model_view_cached

    tr, _, norm = data
    torch.manual_seed(0)
    model = EdgeScorer(ModelConfig(hidden=8, encoding_dim=8), norm["x_mean"], norm["x_std"]).eval()
    view = model_view_cached(model, [tr[0]], rows_per_graph=20, cache_dir=tmp_path)
    (path,) = tmp_path.glob("view_*.pt")
    hit = torch.load(path, weights_only=True)
    hit["activations"] = {"phi_o.lin0": torch.zeros(3, 2)}
    save_torch_atomic(path, hit)
    with pytest.warns(CacheWarning, match="layers"):
        again = model_view_cached(model, [tr[0]], rows_per_graph=20, cache_dir=tmp_path)
    assert set(again.activations) == set(view.activations)
    assert all(torch.equal(again.activations[k], view.activations[k]) for k in view.activations)


@pytest.mark.parametrize("damage", ["truncate", "shape"])
def test_damaged_curve_checkpoint_is_trained_again(data, tmp_path, damage):
    tr, va, norm = data
    frames = [tr[k] for k in range(len(tr))]
    a, b = _model(0, frames[0], norm), _model(1, frames[1], norm)
    spec = CurveSpec(loss="bce", steps=3, batch_frames=1, lr=3e-3, seed=2)
    whole, _ = train_curve(a, b, frames, TrainConfig(mode="ptt"), spec, tmp_path / "c")
    path = tmp_path / "c" / "curve.pt"
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:100])
    else:
        ck = torch.load(path, weights_only=True)
        ck["theta"] = [torch.zeros(3, 7)]
        save_torch_atomic(path, ck)
    with pytest.warns(CacheWarning, match="curve.pt"):
        again, rec = train_curve(a, b, frames, TrainConfig(mode="ptt"), spec, tmp_path / "c")
    assert rec["resumed_from"] == 0 and all(torch.equal(x, y) for x, y in zip(whole.theta, again.theta))
