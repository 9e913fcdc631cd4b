"""Training recipes beyond the paper's: optimisers, the one-cycle schedule, the density curriculum, and the CPU
seconds of the training steps that time-to-accuracy comparisons use."""

import math

import pytest
import torch

from pctlib.training.loop import TrainConfig, TrainError, load_checkpoint, make_optimizer, train

SMALL = dict(steps=2, batch_frames=1, eval_every=1, max_val_frames=1, bn_frames=1, data_seed=3)


def test_optimiser_kinds_and_weight_decay():
    p = [torch.nn.Parameter(torch.zeros(3))]
    assert type(make_optimizer(TrainConfig(), p)[0]) is torch.optim.RMSprop
    adam, _ = make_optimizer(TrainConfig(optimizer="adam"), p)
    assert type(adam) is torch.optim.Adam and adam.param_groups[0]["weight_decay"] == 0
    adamw, _ = make_optimizer(TrainConfig(optimizer="adamw", weight_decay=0.02), p)
    assert type(adamw) is torch.optim.AdamW and adamw.param_groups[0]["weight_decay"] == 0.02
    with pytest.raises(TrainError, match="optimizer"):
        TrainConfig(optimizer="sgd")
    with pytest.raises(TrainError, match="weight_decay"):
        TrainConfig(weight_decay=-1e-3)


def test_one_cycle_follows_the_written_out_schedule():
    """Warm-up by a half cosine from lr/25 to lr over the first 10 % of the steps, then a half cosine down to
    lr/25/1e4 at the last step (the one-cycle policy written out by hand)."""
    lr, steps, warm = 3e-3, 50, 0.1
    opt, sched = make_optimizer(TrainConfig(lr=lr, steps=steps, one_cycle=True, warmup_fraction=warm),
                                [torch.nn.Parameter(torch.zeros(1))])
    lo, end = lr / 25, lr / 25 / 1e4
    up = warm * steps - 1  # OneCycleLR's phase boundary, in scheduler steps

    def anneal(a, b, t):  # from a (t = 0) to b (t = 1) along a half cosine
        return b + (a - b) * (1 + math.cos(math.pi * t)) / 2

    def expected(k):
        return anneal(lo, lr, k / up) if k <= up else anneal(lr, end, (k - up) / (steps - 1 - up))

    seen = []
    for k in range(steps):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen[0] == pytest.approx(lo)
    assert max(seen) == pytest.approx(lr)
    assert seen[-1] == pytest.approx(end, rel=1e-6)
    for k, v in enumerate(seen):
        assert v == pytest.approx(expected(k), rel=1e-6), k


def test_schedules_exclude_each_other():
    for pair in (dict(step_lr=True, one_cycle=True), dict(cosine_lr=True, one_cycle=True)):
        with pytest.raises(TrainError, match="one schedule"):
            TrainConfig(**pair)
    with pytest.raises(TrainError, match="warmup_fraction"):
        TrainConfig(one_cycle=True, warmup_fraction=1.0)


def test_new_settings_stay_out_of_old_records_at_their_defaults():
    d = TrainConfig().to_dict()
    for name in ("optimizer", "weight_decay", "one_cycle", "warmup_fraction", "curriculum_steps"):
        assert name not in d
    d = TrainConfig(optimizer="adamw", curriculum_steps=3, steps=10).to_dict()
    assert d["optimizer"] == "adamw" and d["curriculum_steps"] == 3


def _weights(folder):
    return load_checkpoint(folder / "last.pt")["model"]


def test_curriculum_draws_its_first_steps_from_the_easy_frames(data, tmp_path):
    """One step of curriculum then one ordinary step equals a run that trains its first step on the easy frames
    and is resumed on the training frames (the same sampler stream continues)."""
    tr, va, norm = data
    easy = va  # any other frames will do: what matters is which set each step draws from
    cfg = TrainConfig(mode="ptt", curriculum_steps=1, **SMALL)
    train(cfg, tr, va, tmp_path / "curriculum", norm, progress=False, easy_frames=easy)
    plain = TrainConfig(mode="ptt", **SMALL)
    train(plain, easy, va, tmp_path / "by_hand", norm, progress=False, stop_after=1)
    train(plain, tr, va, tmp_path / "by_hand", norm, progress=False)
    a, b = _weights(tmp_path / "curriculum"), _weights(tmp_path / "by_hand")
    assert all(torch.equal(a[k], b[k]) for k in a)
    # and it is not what training on the training frames alone gives
    train(plain, tr, va, tmp_path / "no_curriculum", norm, progress=False)
    c = _weights(tmp_path / "no_curriculum")
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_curriculum_needs_its_frames(data, tmp_path):
    tr, va, norm = data
    with pytest.raises(TrainError, match="easy_frames"):
        train(TrainConfig(curriculum_steps=1, **SMALL), tr, va, tmp_path / "r", norm, progress=False)


def test_step_cpu_seconds_accumulate_across_a_resume(data, tmp_path):
    tr, va, norm = data
    cfg = TrainConfig(mode="pat", lam=50.0, **SMALL)
    train(cfg, tr, va, tmp_path / "r", norm, progress=False, stop_after=1)
    first = float(load_checkpoint(tmp_path / "r" / "last.pt")["step_cpu_seconds"])
    train(cfg, tr, va, tmp_path / "r", norm, progress=False)
    second = float(load_checkpoint(tmp_path / "r" / "last.pt")["step_cpu_seconds"])
    assert 0 < first < second
