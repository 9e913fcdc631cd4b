"""PAT + downstream and fine-tuning in the training loop: the loss is Hamming + w x the WEPL loss of the same
assignment, the settings are validated and recorded only when set, and a fine-tuned run starts from its checkpoint."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from pctlib.graphs.config import GraphConfig
from pctlib.imaging.downstream import DownstreamError, DownstreamLoss, chain_ranges
from pctlib.imaging.range import RangeModel
from pctlib.physics.geometry import load_geometry
from pctlib.imaging.scan import ScanSpec, scan_frames
from pctlib.models.interaction_network import EdgeScorer, ModelConfig
from pctlib.training.data import feature_statistics
from pctlib.training.loop import TrainConfig, TrainError, frame_step, load_checkpoint, train

ROOT = Path(__file__).resolve().parents[1]
DEPTHS = RangeModel.of(load_geometry(ROOT / "params/geometry/bergen_dtc.yaml")).depths
DS = dict(downstream_depths=DEPTHS, downstream_intercept=330.0, downstream_slope=-1.0, downstream_pixel_mm=2.5)


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    root = tmp_path_factory.mktemp("scan")
    frames, _ = scan_frames(root, "t", ScanSpec(str(ROOT / "params/phantoms/radiography.yaml"), 2, 21),
                            GraphConfig(primaries_per_frame=40), progress=False)
    return frames, feature_statistics(frames.frames)


def test_settings_are_validated_and_recorded_only_when_set():
    plain = TrainConfig(mode="pat").to_dict()
    assert not {"downstream_weight", "downstream_depths", "init"} & set(plain)  # old records still match
    cfg = TrainConfig(mode="pat", downstream_weight=1e-3, init="x.pt", **DS)
    d = cfg.to_dict()
    assert d["downstream_weight"] == 1e-3 and d["downstream_depths"] == list(DEPTHS) and d["init"] == "x.pt"
    assert len(DEPTHS) == 44  # 43 sensitive layers and the back face
    model = d.pop("model")
    assert TrainConfig(**d, model=ModelConfig(**model)) == cfg  # as the zoo rebuilds it from config.json
    with pytest.raises(TrainError, match="needs mode 'pat'"):
        TrainConfig(mode="ptt", downstream_weight=1.0, **DS)
    with pytest.raises(TrainError, match="downstream: depths"):
        TrainConfig(mode="pat", downstream_weight=1.0)
    with pytest.raises(TrainError, match="downstream_weight"):
        TrainConfig(mode="pat", downstream_weight=-1.0, **DS)


def test_the_loss_adds_the_weighted_downstream_loss_of_the_same_assignment(scan):
    frames, norm = scan
    torch.manual_seed(0)
    model = EdgeScorer(x_mean=norm["x_mean"], x_std=norm["x_std"]).eval()
    g = frames[0]
    base = TrainConfig(mode="pat", lam=25.0)
    with torch.no_grad():
        l0, _, y0 = frame_step(model, g, base)
        l1, _, y1 = frame_step(model, g, replace(base, downstream_weight=0.5, **DS))
    np.testing.assert_array_equal(y0, y1)
    ds = DownstreamLoss(DEPTHS, 330.0, -1.0, 2.5)(torch.as_tensor(y0, dtype=torch.float64), g)
    assert float(ds) > 0
    assert float(l1) == pytest.approx(float(l0) + 0.5 * float(ds), rel=1e-5)


def test_the_downstream_gradient_reaches_the_model(scan):
    frames, norm = scan
    torch.manual_seed(0)
    model = EdgeScorer(x_mean=norm["x_mean"], x_std=norm["x_std"])
    from pctlib.assign.blackbox import assign_differentiable
    from pctlib.assign.layout import layout_of_graph

    # the downstream term alone, through the blackbox (a large lambda, so that the perturbed assignment differs)
    ds_only = DownstreamLoss(DEPTHS, 330.0, -1.0, 2.5)
    ds_only(assign_differentiable(model(frames[0]), layout_of_graph(frames[0]), 2000.0), frames[0]).backward()
    assert sum(float(p.grad.abs().sum()) for p in model.parameters() if p.grad is not None) > 0


def test_fine_tuning_starts_from_the_checkpoint(scan, tmp_path):
    frames, norm = scan
    first = TrainConfig(mode="pat", lam=25.0, steps=1, batch_frames=1, eval_every=1, max_val_frames=1, bn_frames=1)
    train(first, frames, frames, tmp_path / "a", norm, progress=False)
    ck = tmp_path / "a" / "last.pt"
    tiny = replace(first, seed=5, lr=1e-12, init=str(ck), downstream_weight=1e-6, **DS)
    train(tiny, frames, frames, tmp_path / "b", progress=False)
    a, b = load_checkpoint(ck)["model"], load_checkpoint(tmp_path / "b" / "last.pt")["model"]
    fresh = replace(first, seed=5, lr=1e-12)
    train(fresh, frames, frames, tmp_path / "c", norm, progress=False)
    c = load_checkpoint(tmp_path / "c" / "last.pt")["model"]
    weights = [k for k in a if a[k].is_floating_point() and "running" not in k]
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in weights)  # from the checkpoint (normalisation too)
    assert not all(torch.allclose(a[k], c[k], atol=1e-6) for k in weights)  # seed 5 alone would start elsewhere


def test_depths_must_cover_every_layer_of_the_frame():
    y = torch.ones(1, dtype=torch.float64)
    with pytest.raises(DownstreamError, match="a hit in layer 5"):
        chain_ranges(y, torch.tensor([[0], [1]]), torch.tensor([4, 5]), torch.tensor([0]), (0.0, 1.0, 2.0))
