"""Several models trained in one process (``train_many``) against separate runs, resume, and what is refused."""

import numpy as np
import pytest
import torch

from pctlib.assign.blackbox import BlackboxAssignment, assign_differentiable_many
from pctlib.assign.layout import layout_of_graph
from pctlib.training.loop import TrainConfig, TrainError, train, train_many

STEPS = dict(steps=4, batch_frames=2, eval_every=2, max_val_frames=2, data_seed=7)


def configs():
    return [TrainConfig(mode="ptt", seed=0, **STEPS), TrainConfig(mode="pat", lam=25.0, seed=1, **STEPS),
            TrainConfig(mode="pat", lam=75.0, seed=0, **STEPS)]


def weights(folder):
    return torch.load(folder / "last.pt", weights_only=True)["model"]


def test_models_trained_together_equal_separate_runs(data, tmp_path):
    tr, va, norm = data
    cfgs = configs()
    together = [tmp_path / f"joint{k}" for k in range(len(cfgs))]
    best_joint = train_many(cfgs, tr, va, together, norm, progress=False)
    for k, cfg in enumerate(cfgs):
        alone = tmp_path / f"alone{k}"
        best = train(cfg, tr, va, alone, norm, progress=False)
        a, b = weights(alone), weights(together[k])
        for name in a:
            assert torch.allclose(a[name].float(), b[name].float(), rtol=1e-5, atol=1e-7), (k, name)
        assert best["purity"] == pytest.approx(best_joint[k]["purity"], abs=1e-9)
        rows_a = (alone / "metrics.csv").read_text().splitlines()
        rows_b = (together[k] / "metrics.csv").read_text().splitlines()
        assert len(rows_a) == len(rows_b) == 1 + 4 + 2
        for ra, rb in zip(rows_a[1:], rows_b[1:]):
            va_, vb_ = (np.array([float(x) if x else np.nan for x in r.split(",")[2:]]) for r in (ra, rb))
            assert ra.split(",")[:2] == rb.split(",")[:2]
            assert np.allclose(va_, vb_, rtol=1e-5, equal_nan=True), (ra, rb)
    # the models differ from each other (each kept its own seed and configuration)
    assert not torch.equal(weights(together[0])["phi_r2.lin2.weight"], weights(together[2])["phi_r2.lin2.weight"])


def test_resume_of_models_trained_together_is_bit_identical(data, tmp_path):
    tr, va, norm = data
    cfgs = configs()[1:]
    a = [tmp_path / "a0", tmp_path / "a1"]
    b = [tmp_path / "b0", tmp_path / "b1"]
    train_many(cfgs, tr, va, a, norm, progress=False)
    train_many(cfgs, tr, va, b, norm, progress=False, stop_after=2)
    train_many(cfgs, tr, va, b, norm, progress=False)
    for x, y in zip(a, b):
        wa, wb = weights(x), weights(y)
        assert all(torch.equal(wa[k], wb[k]) for k in wa)
        assert (x / "metrics.csv").read_text() == (y / "metrics.csv").read_text()


def test_what_cannot_be_trained_together_is_refused(data, tmp_path):
    tr, va, norm = data
    base = TrainConfig(mode="ptt", seed=0, **STEPS)
    with pytest.raises(TrainError, match="same data_seed"):
        train_many([base, TrainConfig(mode="ptt", seed=1, steps=4, batch_frames=2, eval_every=2,
                                      max_val_frames=2)], tr, va, [tmp_path / "x", tmp_path / "y"], norm)
    with pytest.raises(TrainError, match="share steps"):
        train_many([base, TrainConfig(mode="pat", seed=1, **{**STEPS, "steps": 5})], tr, va,
                   [tmp_path / "x", tmp_path / "y"], norm)
    with pytest.raises(TrainError, match="one run folder each"):
        train_many([base, base], tr, va, [tmp_path / "x", tmp_path / "x"], norm)


def test_runs_killed_between_two_checkpoint_saves_are_caught_up_and_resumed_together(data, tmp_path):
    """A kill between two models' saves leaves one run a validation ahead: the run behind is trained alone to the
    step of the one ahead, then both go on together, ending as an uninterrupted joint run does."""
    tr, va, norm = data
    steps = {**STEPS, "steps": 6}
    cfgs = [TrainConfig(mode="ptt", seed=0, **steps), TrainConfig(mode="pat", lam=50.0, seed=3, **steps)]
    ref = [tmp_path / "ref0", tmp_path / "ref1"]
    train_many(cfgs, tr, va, ref, norm, progress=False)
    runs = [tmp_path / "k0", tmp_path / "k1"]
    train_many(cfgs, tr, va, runs, norm, progress=False, stop_after=2)
    train(cfgs[0], tr, va, runs[0], norm, progress=False, stop_after=2)  # run 0 saved step 4, run 1 did not
    assert [torch.load(r / "last.pt", weights_only=True)["step"] for r in runs] == [4, 2]
    train_many(cfgs, tr, va, runs, norm, progress=False)
    for a, b in zip(ref, runs):
        wa, wb = weights(a), weights(b)
        assert all(torch.allclose(wa[k].float(), wb[k].float(), rtol=1e-5, atol=1e-7) for k in wa)
        rows_a = [r.split(",")[:2] for r in (a / "metrics.csv").read_text().splitlines()]
        rows_b = [r.split(",")[:2] for r in (b / "metrics.csv").read_text().splitlines()]
        assert rows_a == rows_b  # every step and validation once, in order


def test_a_metrics_line_cut_by_a_kill_is_dropped_on_resume(data, tmp_path):
    tr, va, norm = data
    cfg = TrainConfig(mode="ptt", seed=0, **STEPS)
    train(cfg, tr, va, tmp_path / "a", norm, progress=False)
    train(cfg, tr, va, tmp_path / "b", norm, progress=False, stop_after=2)
    path = tmp_path / "b" / "metrics.csv"
    with open(path, "a") as fh:
        fh.write("1")  # the start of the row of step 12 (or 3, ...) when the kill came
    train(cfg, tr, va, tmp_path / "b", norm, progress=False)
    assert path.read_text() == (tmp_path / "a" / "metrics.csv").read_text()


def test_batched_blackbox_equals_one_call_per_model(data):
    tr, _, _ = data
    g = tr[0]
    lay = layout_of_graph(g)
    n = int(g.y.shape[0])
    torch.manual_seed(0)
    scores = [torch.rand(n, dtype=torch.float64, requires_grad=True) for _ in range(3)]
    dl = [torch.randn(n, dtype=torch.float64) for _ in range(3)]
    settings = [(10.0, True, 1.0), (50.0, False, 0.25), (75.0, True, 0.5)]
    ys = assign_differentiable_many(scores, lay, [s[0] for s in settings], [s[1] for s in settings],
                                    [s[2] for s in settings], workers=2)
    torch.autograd.backward(ys, dl)
    for k, (lam, scaled, ls) in enumerate(settings):
        s = scores[k].detach().clone().requires_grad_(True)
        y = BlackboxAssignment.apply(1.0 - s, lay, lam, scaled, None, 1, ls)
        y.backward(dl[k])
        assert torch.equal(y, ys[k].detach())
        assert torch.equal(s.grad, scores[k].grad), k
        assert s.grad.abs().sum() > 0


def test_frames_scored_in_one_pass_equal_frame_by_frame_with_fixed_batchnorm(data):
    from pctlib.models.interaction_network import EdgeScorer
    from pctlib.training.loop import frame_steps, pass_steps

    tr, _, norm = data
    frames = [tr[0], tr[1], tr[2]]
    cfgs = [TrainConfig(mode="ptt"), TrainConfig(mode="pat", lam=2000.0)]
    torch.manual_seed(0)
    models = [EdgeScorer(x_mean=norm["x_mean"], x_std=norm["x_std"]).eval() for _ in cfgs]  # BN statistics fixed

    def grads():
        return [{n: p.grad.clone() for n, p in m.named_parameters()} for m in models]

    joint = pass_steps(models, frames, cfgs, loss_scale=1 / 3)
    sum(loss / 3 for per in joint for loss, _, _ in per).backward()
    g_joint = grads()
    for m in models:
        m.zero_grad(set_to_none=True)
    alone = [frame_steps(models, f, cfgs, loss_scale=1 / 3) for f in frames]
    sum(loss / 3 for per in alone for loss, _, _ in per).backward()
    g_alone = grads()
    for f in range(3):
        for k in range(2):
            assert torch.allclose(joint[f][k][0], alone[f][k][0], rtol=1e-5, atol=1e-7)
            assert (joint[f][k][2] == alone[f][k][2]).all()
    for ga, gb in zip(g_joint, g_alone):
        scale = max(float(v.abs().max()) for v in gb.values())
        for n in gb:
            assert torch.allclose(ga[n], gb[n], rtol=1e-4, atol=1e-5 * scale), n
    assert any(v.abs().sum() > 0 for v in g_joint[1].values())  # the PAT model got a gradient


def test_training_in_passes_of_frames_runs_and_resumes(data, tmp_path):
    tr, va, norm = data
    cfg = TrainConfig(mode="pat", steps=2, batch_frames=4, frames_per_pass=2, eval_every=1, max_val_frames=2)
    train(cfg, tr, va, tmp_path / "a", norm, progress=False)
    train(cfg, tr, va, tmp_path / "b", norm, progress=False, stop_after=1)
    train(cfg, tr, va, tmp_path / "b", norm, progress=False)
    wa, wb = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_cosine_learning_rate_follows_the_formula_and_resumes(data, tmp_path):
    import math

    tr, va, norm = data
    cfg = TrainConfig(mode="ptt", steps=4, batch_frames=1, eval_every=2, max_val_frames=1, cosine_lr=True,
                      lr=1e-2, lr_min_factor=0.1)
    train(cfg, tr, va, tmp_path / "a", norm, progress=False, stop_after=2)
    lr_at = lambda t: 1e-3 + (1e-2 - 1e-3) * (1 + math.cos(math.pi * t / 4)) / 2  # noqa: E731
    ck = torch.load(tmp_path / "a" / "last.pt", weights_only=True)
    assert ck["optimizer"]["param_groups"][0]["lr"] == pytest.approx(lr_at(2), rel=1e-9)
    train(cfg, tr, va, tmp_path / "a", norm, progress=False)  # resumed
    train(cfg, tr, va, tmp_path / "b", norm, progress=False)  # uninterrupted
    a, b = (torch.load(tmp_path / k / "last.pt", weights_only=True) for k in "ab")
    assert a["optimizer"]["param_groups"][0]["lr"] == pytest.approx(lr_at(4), rel=1e-9)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    with pytest.raises(TrainError, match="cannot both"):
        train(TrainConfig(steps=2, batch_frames=1, eval_every=1, step_lr=True, cosine_lr=True), tr, va,
              tmp_path / "c", norm, progress=False)


def test_models_trained_as_one_network_get_the_gradients_of_the_models_side_by_side(data, tmp_path):
    """``stack_models=True`` (one block-diagonal network, ``models.stacked``; the default on CUDA) gives every model
    of a training step the gradient it gets side by side: compared through each optimiser's running average of
    squared gradients after one step (RMSProp's ``square_avg`` = 0.01 g²) and the step's training metrics.

    Weights after several steps are not compared: RMSProp's first step is 10 lr sign(g) for every parameter, so a
    gradient that is 0 up to rounding (a bias before BatchNorm, a unit that barely fires) moves by the learning
    rate's size in a direction set by rounding, and any other order of the same arithmetic (this one, other thread
    counts) makes such differences, which later steps carry on. The forward and backward pass are compared to
    rounding in ``tests/test_stacked_models.py``."""
    tr, va, norm = data
    one_step = dict(STEPS, steps=1, eval_every=1)
    cfgs = [TrainConfig(mode="ptt", seed=0, **one_step), TrainConfig(mode="pat", lam=25.0, seed=1, **one_step),
            TrainConfig(mode="pat", lam=75.0, seed=0, **one_step)]
    side = [tmp_path / f"side{k}" for k in range(len(cfgs))]
    one = [tmp_path / f"one{k}" for k in range(len(cfgs))]
    train_many(cfgs, tr, va, side, norm, progress=False, stack_models=False)
    train_many(cfgs, tr, va, one, norm, progress=False, stack_models=True)
    for k in range(len(cfgs)):
        a = torch.load(side[k] / "last.pt", weights_only=True)["optimizer"]["state"]
        b = torch.load(one[k] / "last.pt", weights_only=True)["optimizer"]["state"]
        assert a.keys() == b.keys() and len(a) == sum(1 for _ in load_params(side[k]))
        scale = max(float(st["square_avg"].max()) for st in a.values())
        for i in a:
            torch.testing.assert_close(b[i]["square_avg"], a[i]["square_avg"], rtol=1e-3, atol=1e-6 * scale,
                                       msg=f"model {k}, parameter {i}")
        train_a = (side[k] / "metrics.csv").read_text().splitlines()[1].split(",")
        train_b = (one[k] / "metrics.csv").read_text().splitlines()[1].split(",")
        assert train_a[:2] == train_b[:2] == ["1", "train"]
        assert np.allclose([float(x) for x in train_a[2:4] + train_a[6:]],
                           [float(x) for x in train_b[2:4] + train_b[6:]], rtol=1e-4)
    # the models differ from each other: each got its own gradient
    sq = [torch.load(d / "last.pt", weights_only=True)["optimizer"]["state"][0]["square_avg"] for d in one]
    assert not torch.allclose(sq[0], sq[1]) and not torch.allclose(sq[1], sq[2])
    with pytest.raises(TrainError, match="stack_models must be"):
        train_many(cfgs, tr, va, [tmp_path / f"x{k}" for k in range(3)], norm, progress=False, stack_models="yes")


def load_params(run_dir):
    return torch.load(run_dir / "last.pt", weights_only=True)["optimizer"]["param_groups"][0]["params"]
