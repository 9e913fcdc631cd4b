"""Conventions of training that a reader must be able to rely on: stratified validation, lambda's meaning
independent of the batch size, the tracker/calorimeter loss weights, the run's training time, partial frames,
and the order and gap rule of the preprocessing."""

from __future__ import annotations


import numpy as np
import pytest
import torch

from pctlib.assign.losses import hamming_loss, segment_weights, tracker_segments
from pctlib.graphs.config import GraphConfig
from pctlib.graphs.dataset import build_cache
from pctlib.graphs.frames import last_connected_layer, preprocess
from pctlib.io.hit_table import cluster_size
from pctlib.io.writers import HitWriter
from pctlib.models.interaction_network import EdgeScorer
from pctlib.training.data import FrameList
from pctlib.training.loop import TrainConfig, TrainError, frame_step, train, validation_indices
from test_graphs import make_hits


class _Part:
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return i


@pytest.mark.parametrize("lengths,n,shares", [
    ([46, 30, 20], 50, [17, 17, 16]),      # the paper params: 46 of 50 frames came from the first phantom
    ([46, 5, 30], 50, [23, 5, 22]),        # a small part gives its unused share to the others
    ([3, 4], 50, [3, 4]),                  # fewer frames than asked: all of them
    ([10, 10, 10], 2, [1, 1, 0]),
])
def test_validation_is_stratified_over_phantoms(lengths, n, shares):
    frames = FrameList([_Part(k) for k in lengths])
    idx = validation_indices(frames, n)
    assert len(idx) == len(set(idx)) == sum(shares)
    bounds = np.cumsum([0] + lengths)
    got = [int(((idx >= np.array(bounds[k])) & (np.array(idx) < bounds[k + 1])).sum()) for k in range(len(lengths))]
    assert got == shares
    # spread over each part, not its first frames
    first = [i for i in idx if i < lengths[0]]
    if len(first) > 1:
        assert max(first) == lengths[0] - 1
    assert validation_indices(list(range(7)), 3) == [0, 3, 6]  # a plain sequence is one part


def test_group_normalised_loss_weights_by_hand():
    src_layer = torch.tensor([0, 1, 2, 2, 5, 9])
    err = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 1.0])  # per-segment errors, y_hat vs y
    y = torch.zeros(6)
    # tracker group {0, 1}: mean 0.5; calorimeter {2, 2, 5, 9}: mean 0.75
    w = segment_weights(src_layer, 2.0, 1.0, normalisation="group")
    assert float(hamming_loss(err, y, w)) == pytest.approx(2.0 * 0.5 + 1.0 * 0.75)
    w = segment_weights(src_layer, 2.0, 1.0, normalisation="pooled")
    assert float(hamming_loss(err, y, w)) == pytest.approx((2 * 1 + 2 * 0 + 1 + 1 + 0 + 1) / 6)
    # the released code's grouping puts the 2->3 segments into the tracker group: {0,1,2,2} mean 0.75, {5,9} 0.5
    assert tracker_segments(src_layer, "released").tolist() == [True, True, True, True, False, False]
    w = segment_weights(src_layer, 1.0, 1.0, normalisation="group", tracker_group="released")
    assert float(hamming_loss(err, y, w)) == pytest.approx(0.75 + 0.5)
    # an empty group adds nothing; all weights finite
    w = segment_weights(torch.tensor([4, 5]), 3.0, 1.0, normalisation="group")
    assert torch.isfinite(w).all() and float(hamming_loss(torch.tensor([1.0, 0.0]), torch.zeros(2), w)) == 0.5


@pytest.mark.parametrize("bad", [{"w_tracker": -1.0}, {"w_calorimeter": float("nan")},
                                 {"w_tracker": 0.0, "w_calorimeter": 0.0}, {"loss_normalisation": "sum"},
                                 {"tracker_group": "x"}, {"lambda_scope": "epoch"}, {"lam": float("inf")}])
def test_bad_loss_options_are_refused(bad):
    with pytest.raises(TrainError, match=list(bad)[0] if len(bad) == 1 else "both"):
        TrainConfig(**bad)


def _batch_gradient(model, frames, cfg):
    model.zero_grad(set_to_none=True)
    for g in frames:
        loss, _, _ = frame_step(model, g, cfg, loss_scale=1.0 / len(frames))
        (loss / len(frames)).backward()
    return torch.cat([p.grad.flatten() for p in model.parameters()])


def test_lambda_means_the_same_for_every_batch_size(data):
    """B copies of one frame must give the one-frame gradient when lambda is per frame; with the released code's
    convention lambda is divided by B and the gradient changes."""
    tr, _, norm = data
    torch.manual_seed(3)
    model = EdgeScorer(x_mean=norm["x_mean"], x_std=norm["x_std"]).eval()  # eval: BatchNorm sees no batch
    g = tr[0]
    for lam in (5.0, 200.0):
        frame = TrainConfig(mode="pat", lam=lam, lambda_scope="frame")
        batch = TrainConfig(mode="pat", lam=lam, lambda_scope="batch")
        one = _batch_gradient(model, [g], frame)
        assert one.abs().sum() > 0
        eight = _batch_gradient(model, [g] * 8, frame)
        assert torch.allclose(eight, one, rtol=1e-5, atol=1e-8)
        eight_batch = _batch_gradient(model, [g] * 8, batch)
        one_batch_small_lam = _batch_gradient(model, [g], TrainConfig(mode="pat", lam=lam / 8, lambda_scope="frame"))
        assert torch.allclose(eight_batch, one_batch_small_lam, rtol=1e-5, atol=1e-8)  # effective lambda = lam/8
        assert not torch.allclose(eight_batch, one, rtol=1e-3, atol=1e-6)


def test_training_time_counts_every_call_of_a_resumed_run(data, tmp_path):
    tr, va, norm = data
    cfg = TrainConfig(mode="ptt", steps=4, batch_frames=2, eval_every=2, max_val_frames=2)

    def recorded():
        return float(torch.load(tmp_path / "last.pt", weights_only=True)["train_seconds"])

    first = train(cfg, tr, va, tmp_path, norm, progress=False, stop_after=2)
    before = recorded()
    assert before > 0 and first["train_seconds"] == pytest.approx(first["seconds_this_call"])
    second = train(cfg, tr, va, tmp_path, norm, progress=False)  # resumed: the time before it counts
    assert second["train_seconds"] == pytest.approx(before + second["seconds_this_call"])
    after = recorded()
    third = train(cfg, tr, va, tmp_path, norm, progress=False)  # already complete: nothing trained
    assert third["train_seconds"] == pytest.approx(after + third["seconds_this_call"])


def test_partial_frames_stay_out_of_graph_caches(tmp_path):
    rows = [(ev, 1, lay, 0.1 * ev, 0.0, 0.03) for ev in range(25) for lay in range(4)]
    path = tmp_path / "h.npz"
    with HitWriter(path) as w:
        w.write(make_hits(rows))
    info = build_cache(path, tmp_path / "c", GraphConfig(primaries_per_frame=10), progress=False)
    assert info.n_frames == 2  # 25 recorded primaries: two frames of 10, the last 5 left out
    info = build_cache(path, tmp_path / "d", GraphConfig(primaries_per_frame=10, drop_partial=False), progress=False)
    assert info.n_frames == 3


def _released_order_by_hand(h, min_cs=2):
    """The released code's steps written out independently: gap rule (value-based, keeping the layer before the
    gap), merge by (event, track, layer) with summed deposits, cluster-size cut, gap rule again."""
    def gap_rule(rows):
        layers = sorted({r[2] for r in rows})
        keep = set()
        for a, b in zip([None] + layers, layers):
            if a is not None and b - a > 1:
                break
            keep.add(b)
        return [r for r in rows if r[2] in keep]

    rows = [(int(r["eventID"]), int(r["trackID"]), int(r["layer"]), float(r["edep"])) for r in h]
    rows = gap_rule(rows)
    merged: dict = {}
    for ev, tr, lay, e in rows:
        merged[(ev, tr, lay)] = merged.get((ev, tr, lay), 0.0) + e
    rows = [(ev, tr, lay, e) for (ev, tr, lay), e in merged.items() if cluster_size(np.array([e]))[0] >= min_cs]
    return sorted((lay, ev, tr, round(e, 9)) for ev, tr, lay, e in gap_rule(rows))


@pytest.mark.parametrize("rows,layers", [
    # an internal empty layer: {0,1,2,3,5} keeps 0-3 (the released code's index comparison would keep 0-2)
    ([(0, 1, 0, 0, 0, .02), (0, 1, 1, 0, 0, .02), (0, 1, 2, 0, 0, .02), (0, 1, 3, 0, 0, .02), (0, 1, 5, 0, 0, .02)],
     [0, 1, 2, 3]),
    # the cut empties layer 2: a gap appears after the cut, layers 3-4 go
    ([(0, 1, 0, 0, 0, .02), (0, 1, 1, 0, 0, .02), (0, 1, 2, 0, 0, .001), (0, 1, 3, 0, 0, .02), (0, 1, 4, 0, 0, .02)],
     [0, 1]),
    # two sub-threshold deposits of one particle in one layer merge above the cut: the layer survives
    ([(0, 1, 0, 0, 0, .02), (0, 1, 1, 0, 0, .004), (0, 1, 1, 1, 0, .004), (0, 1, 2, 0, 0, .02)], [0, 1, 2]),
    # a leading empty layer is no gap
    ([(0, 1, 1, 0, 0, .02), (0, 1, 2, 0, 0, .02), (1, 1, 3, 0, 0, .02)], [1, 2, 3]),
])
def test_preprocessing_follows_the_released_order_and_the_gap_rule(rows, layers):
    h = make_hits(rows)
    p = preprocess(h, GraphConfig())
    assert sorted(set(p["layer"].tolist())) == layers
    ours = sorted((int(r["layer"]), int(r["eventID"]), int(r["trackID"]), round(float(r["edep"]), 9)) for r in p)
    assert ours == _released_order_by_hand(h)


def test_last_connected_layer():
    assert last_connected_layer(np.array([0, 1, 2, 3, 5])) == 3
    assert last_connected_layer(np.array([3, 1, 2, 2])) == 3
    assert last_connected_layer(np.array([], dtype=int)) == -1
    assert last_connected_layer(np.array([0, 2])) == 0
