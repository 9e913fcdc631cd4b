"""A training step that waits for nothing on the host (issue: the paper's zoo on one GPU).

On a GPU every read of a tensor's value (``.item()``, ``float()``, ``.cpu()``, a branch on a value, an operation
whose output size depends on the values) makes the host wait for the device. Without CUDA the check runs on the
*meta* device, whose tensors have shapes but no values: any such read raises there. With CUDA present the same step
also runs under ``torch.cuda.set_sync_debug_mode("error")``; that test is skipped on machines without CUDA (CI)."""

import csv
import math

import pytest
import torch

from pctlib.models.interaction_network import EdgeScorer, MaxAggregation, is_mirrored, max_aggregation
from pctlib.training.loop import TrainConfig, TrainError, pass_steps, train_many
from pctlib.training.resident import ResidentFrames

STEPS = dict(steps=4, batch_frames=2, eval_every=2, max_val_frames=2, data_seed=7)


def configs():
    return [TrainConfig(mode="ptt", seed=0, **STEPS), TrainConfig(mode="pat", lam=25.0, seed=1, **STEPS)]


def rows(folder):
    with open(folder / "metrics.csv") as fh:
        return list(csv.DictReader(fh))


def weights(folder):
    return torch.load(folder / "last.pt", weights_only=True)["model"]


def test_on_device_step_metrics_change_no_weight_and_no_validation(data, tmp_path):
    tr, va, norm = data
    a = [tmp_path / f"a{k}" for k in range(2)]
    b = [tmp_path / f"b{k}" for k in range(2)]
    train_many(configs(), tr, va, a, norm, progress=False, step_metrics="assignment")
    train_many(configs(), tr, va, b, norm, progress=False, step_metrics="device")
    for k, (x, y) in enumerate(zip(a, b)):
        wa, wb = weights(x), weights(y)
        assert all(torch.equal(wa[n], wb[n]) for n in wa), k
        ra, rb = rows(x), rows(y)
        # the same rows in the same order: each validation row after the training rows of its steps
        assert [(r["step"], r["split"]) for r in ra] == [(r["step"], r["split"]) for r in rb]
        for r, s in zip(ra, rb):
            if r["split"] == "val":
                assert r == s
                continue
            assert float(s["loss"]) == pytest.approx(float(r["loss"]), rel=1e-6)
            if k == 0:  # PTT: its frames were not assigned, so there is no TPR/FPR of an assignment
                assert math.isnan(float(s["tpr"])) and math.isnan(float(s["fpr"]))
                assert not math.isnan(float(r["tpr"]))
            else:  # PAT: the loss's own assignment gives them anyway
                assert (s["tpr"], s["fpr"]) == (r["tpr"], r["fpr"])
    with pytest.raises(TrainError, match="step_metrics must be one of"):
        train_many(configs(), tr, va, [tmp_path / "c0", tmp_path / "c1"], norm, progress=False, step_metrics="gpu")


def test_on_device_step_metrics_resume_bit_identical(data, tmp_path):
    tr, va, norm = data
    a = [tmp_path / f"a{k}" for k in range(2)]
    b = [tmp_path / f"b{k}" for k in range(2)]
    train_many(configs(), tr, va, a, norm, progress=False, step_metrics="device")
    # stopped after step 3, between two validations: the training row of step 3 is written on the way out and
    # dropped by the resume, which trains step 3 again from the checkpoint of step 2
    train_many(configs(), tr, va, b, norm, progress=False, step_metrics="device", stop_after=3)
    assert [r["step"] for r in rows(b[0])][-1] == "3"
    train_many(configs(), tr, va, b, norm, progress=False, step_metrics="device")
    for x, y in zip(a, b):
        wa, wb = weights(x), weights(y)
        assert all(torch.equal(wa[n], wb[n]) for n in wa)
        assert (x / "metrics.csv").read_text() == (y / "metrics.csv").read_text()


def test_max_aggregation_gradient_is_the_same_with_or_without_the_tie_test(monkeypatch):
    gen = torch.Generator().manual_seed(0)
    dst = torch.tensor([0, 0, 1, 3, 3, 3])
    tie_free = torch.randn(6, 4, generator=gen)
    ties = tie_free.clone()
    ties[1] = ties[0]  # node 0: both edges attain the maximum in every channel
    ties[5, 2] = ties[3, 2] = 9.0  # node 3, channel 2: a tie between two of its three edges
    grad_out = torch.randn(5, 4, generator=gen)

    def grads(e):
        e = e.clone().requires_grad_(True)
        max_aggregation(e, dst, 5).backward(grad_out)
        return e.grad

    tested = [grads(e) for e in (tie_free, ties)]
    monkeypatch.setattr(MaxAggregation, "SPLIT_WITHOUT_TEST", ("cuda", "meta", "cpu"))
    untested = [grads(e) for e in (tie_free, ties)]
    for x, y in zip(tested, untested):
        assert torch.equal(x, y)
    # against torch's own scatter_reduce amax (ties split evenly)
    for e, g in zip((tie_free, ties), untested):
        e = e.clone().requires_grad_(True)
        out = torch.zeros(5, 4).scatter_reduce(0, dst.unsqueeze(1).expand(6, 4), e, reduce="amax",
                                               include_self=False)
        out.backward(grad_out)
        assert torch.allclose(e.grad, g)


def _meta_frame(g, mirrored):
    m = g.clone().to("meta")  # Data.to works in place: the shared fixture's frame must stay on the CPU
    if mirrored is not None:
        m.mirrored = mirrored
    return m


@pytest.mark.parametrize("n_frames", [1, 2])
def test_a_ptt_pass_and_its_backward_read_no_value_from_the_device(data, n_frames):
    tr, _, norm = data
    cfg = TrainConfig(mode="ptt", seed=0, **STEPS)
    models = [EdgeScorer(cfg.model, norm["x_mean"], norm["x_std"]).to("meta") for _ in range(2)]
    frames = [_meta_frame(tr[i], is_mirrored(tr[i].edge_u)) for i in range(n_frames)]
    for stack in (False, True):
        results = pass_steps(models, frames, [cfg, cfg], loss_scale=0.5, stack=stack, assign_ptt=False)
        sum(loss for per_frame in results for loss, _, _ in per_frame).backward()
        assert all(y is None for per_frame in results for _, _, y in per_frame)
        assert all(p.grad is not None and p.grad.device.type == "meta" for m in models for p in m.parameters())
    # the check has teeth: what does read values fails on the meta device
    with pytest.raises((RuntimeError, NotImplementedError)):
        pass_steps(models, frames, [cfg, cfg], assign_ptt=True)
    if n_frames == 1:  # a frame that does not record whether its edge scalars are mirrored is tested on the device
        with pytest.raises((RuntimeError, NotImplementedError)):
            pass_steps(models, [_meta_frame(tr[0], None)], [cfg, cfg], assign_ptt=False)


def test_resident_frames_record_whether_their_edge_scalars_are_mirrored(data):
    tr, _, _ = data
    res = ResidentFrames(tr, "cpu")
    flags = [res[i].mirrored for i in range(len(res))]
    assert flags == [is_mirrored(tr[i].edge_u) for i in range(len(tr))]
    assert any(flags)  # the line graphs list both directions of every pair
    # and is_mirrored itself, by hand: a repeated half, and what is not one
    assert is_mirrored(torch.tensor([1.0, 2.0, 1.0, 2.0])) and not is_mirrored(torch.tensor([1.0, 2.0, 2.0, 1.0]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (its synchronisation check); the meta-device "
                                                           "test above covers the same step without one")
def test_a_ptt_training_step_makes_no_host_synchronisation_on_cuda(data):
    tr, _, norm = data
    cfg = TrainConfig(mode="ptt", seed=0, **STEPS)
    models = [EdgeScorer(cfg.model, norm["x_mean"], norm["x_std"]).cuda() for _ in range(2)]
    opts = [torch.optim.RMSprop(m.parameters(), lr=1e-3) for m in models]
    frames = ResidentFrames(tr, "cuda")
    torch.cuda.synchronize()
    for batch in ([frames[0]], [frames[1], frames[2]]):
        for stack in (False, True):
            torch.cuda.set_sync_debug_mode("error")
            try:
                results = pass_steps(models, batch, [cfg, cfg], loss_scale=0.5, stack=stack, assign_ptt=False)
                total = sum(loss for per_frame in results for loss, _, _ in per_frame)
                total.backward()
                for o in opts:
                    o.step()
                    o.zero_grad(set_to_none=True)
            finally:
                torch.cuda.set_sync_debug_mode("default")
