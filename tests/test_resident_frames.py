"""Training frames held on the device (``training.resident``): the same frames as the graph cache, refused with an
estimate when they do not fit, and training on them equals training from the cache."""

import numpy as np
import pytest
import torch

from pctlib.assign.layout import layout_from_pointers
from pctlib.models.interaction_network import is_mirrored
from pctlib.training.loop import TrainConfig, TrainError, train_many
from pctlib.training.resident import ResidentError, ResidentFrames, frame_bytes


def test_resident_frames_are_the_frames_of_the_graph_cache(data):
    tr, _, _ = data
    res = ResidentFrames(tr, "cpu")
    assert len(res) == len(tr) and res.identity == tr.identity
    assert [len(p) for p in res.parts] == [len(p) for p in tr.parts]
    for i in range(len(tr)):
        a, b = tr[i].to_dict(), res[i].to_dict()
        # and two records read once on the host: whether the edge scalars are mirrored, the assignment blocks
        assert set(b) - set(a) <= {"mirrored", "block_layout"}
        assert res[i].mirrored == is_mirrored(tr[i].edge_u)
        want = layout_from_pointers(tr[i].hit_edge_index.numpy(), tr[i].hit_layer_ptr.numpy(),
                                    tr[i].edge_layer_ptr.numpy())
        for name in ("row", "col", "block_ptr", "shape", "frame_ptr"):
            assert np.array_equal(getattr(res[i].block_layout, name), getattr(want, name)), (i, name)
        for k, v in a.items():
            if k in ("mirrored", "block_layout"):
                continue
            if isinstance(v, torch.Tensor):
                assert torch.equal(v, b[k]), (i, k)
            else:
                assert v == b[k], (i, k)
    # the frames are copied once: asking again gives the same objects, not another read of the cache
    assert res[0] is res[0]


def test_frames_that_do_not_fit_are_refused_before_any_copy(data):
    tr, _, _ = data
    need = frame_bytes(tr[0]) * len(tr)
    with pytest.raises(ResidentError, match=r"frames need about .* GiB .* the budget is"):
        ResidentFrames(tr, "cpu", budget_bytes=need // 2, sample=len(tr))
    assert len(ResidentFrames(tr, "cpu", budget_bytes=10 * need)) == len(tr)


def test_training_on_resident_frames_equals_training_from_the_cache(data, tmp_path):
    tr, va, norm = data
    cfgs = [TrainConfig(mode="pat", lam=50.0, seed=s, steps=3, batch_frames=2, eval_every=3, max_val_frames=2,
                        data_seed=3) for s in (0, 1)]
    a = [tmp_path / f"a{k}" for k in range(2)]
    b = [tmp_path / f"b{k}" for k in range(2)]
    train_many(cfgs, tr, va, a, norm, progress=False, resident_frames=False)
    train_many(cfgs, tr, va, b, norm, progress=False, resident_frames=True)
    for x, y in zip(a, b):
        wa = torch.load(x / "last.pt", weights_only=True)["model"]
        wb = torch.load(y / "last.pt", weights_only=True)["model"]
        assert all(torch.equal(wa[k], wb[k]) for k in wa)
        assert (x / "metrics.csv").read_text() == (y / "metrics.csv").read_text()
    with pytest.raises(TrainError, match="resident_frames must be"):
        train_many(cfgs, tr, va, [tmp_path / "c0", tmp_path / "c1"], norm, progress=False, resident_frames="on")
