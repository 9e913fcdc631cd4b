"""Mode connectivity: the paths' definitions, where the curve's gradient goes (against the chain rule through the
model's own gradient), curve training and its resumption, BatchNorm along the path, the summaries by hand."""

import copy

import numpy as np
import pytest
import torch

from pctlib.landscape.connectivity import (BezierCurve, ConnectivityError, CurveSpec, PathJob, check_endpoints,
                                           connect_pairs, curve_loss, curve_train_config, evaluate_path,
                                           linear_point, model_at, parameters_of, path_summary, run_path,
                                           select_pairs, train_curve)
from pctlib.landscape.connectivity import check_choices
from pctlib.models.interaction_network import EdgeScorer, ModelConfig
from pctlib.training.loop import TrainConfig, frame_step


def tiny_model(norm, seed, frame):
    torch.manual_seed(seed)
    model = EdgeScorer(ModelConfig(hidden=4, encoding_dim=4, n_layers=2), norm["x_mean"], norm["x_std"])
    model.train()
    with torch.no_grad():  # running statistics away from their initial values
        model.logits(frame.x, frame.edge_index, frame.edge_u)
    return model.eval()


@pytest.fixture(scope="module")
def pair(data):
    tr, va, norm = data
    frames = [tr[k] for k in range(len(tr))] + [va[k] for k in range(len(va))]
    assert len(frames) >= 4
    return tiny_model(norm, 0, frames[0]), tiny_model(norm, 1, frames[1]), frames


def test_endpoints_are_exact_and_the_midpoint_anchor_is_the_straight_line():
    gen = torch.Generator().manual_seed(0)
    w_a = [torch.randn(3, 4, generator=gen), torch.randn(5, generator=gen)]
    w_b = [torch.randn(3, 4, generator=gen), torch.randn(5, generator=gen)]
    curve = BezierCurve(w_a, w_b)
    assert all(torch.equal(x, y) for x, y in zip(curve.point(0.0), w_a))
    assert all(torch.equal(x, y) for x, y in zip(curve.point(1.0), w_b))
    assert all(torch.equal(x, y) for x, y in zip(linear_point(w_a, w_b, 0.0), w_a))
    assert all(torch.equal(x, y) for x, y in zip(linear_point(w_a, w_b, 1.0), w_b))
    for x, a, b in zip(curve.point(0.5), w_a, w_b):
        assert torch.allclose(x, (a + b) / 2, atol=1e-6)
    for t in (0.1, 0.37, 0.9):  # the midpoint anchor makes the whole curve the straight line
        for x, y in zip(curve.point(t), linear_point(w_a, w_b, t)):
            assert torch.allclose(x, y, atol=1e-6)
    theta = [torch.ones(3, 4), torch.zeros(5)]
    bent = BezierCurve(w_a, w_b, theta)
    t = 0.3
    for x, a, th, b in zip(bent.point(t), w_a, theta, w_b):
        assert torch.allclose(x, 0.49 * a + 0.42 * th + 0.09 * b, atol=1e-6)
    # the endpoints are copies: changing the caller's tensors does not move the curve
    w_a[0].add_(1.0)
    assert not torch.equal(curve.point(0.0)[0], w_a[0])


@pytest.mark.parametrize("mode", ["ptt", "pat"])
def test_the_curves_gradient_reaches_only_theta_and_is_the_chain_rule(pair, mode):
    a, b, frames = pair
    config = TrainConfig(mode=mode, lam=10.0)
    curve = BezierCurve(parameters_of(a), parameters_of(b))
    assert [p.data_ptr() for p in curve.parameters()] == [p.data_ptr() for p in curve.theta]
    model = copy.deepcopy(a)
    for p in model.parameters():
        p.requires_grad_(False)
    t = 0.3
    loss = curve_loss(model, curve.point(t), frames[:2], config)
    loss.backward()
    grads = [p.grad.clone() for p in curve.theta]
    assert all(g is not None for g in grads) and sum(float(g.abs().sum()) for g in grads) > 0
    assert all(bf.grad is None and not bf.requires_grad for bf in curve.buffers())
    assert all(p.grad is None for p in model.parameters()) and all(p.grad is None for p in a.parameters())
    # reference: the model's own training gradient at ψ(t) (frame_step, no functional call), times ∂ψ/∂θ = 2t(1-t)
    ref = copy.deepcopy(a)
    with torch.no_grad():
        for p, v in zip(ref.parameters(), curve.point(t)):
            p.copy_(v)
    total = sum(frame_step(ref, g, config, 0.5)[0] * 0.5 for g in frames[:2])
    total.backward()
    assert float(total.detach()) == pytest.approx(float(loss.detach()), rel=1e-6)
    for g, p in zip(grads, ref.parameters()):
        assert torch.allclose(g, 2 * t * (1 - t) * p.grad, rtol=1e-4, atol=1e-7)


def test_a_path_between_two_copies_of_one_model_is_flat(pair):
    a, _, frames = pair
    b = copy.deepcopy(a)
    ts = np.linspace(0, 1, 5)
    at_a = evaluate_path(lambda t: parameters_of(a), [0.0], a, frames[:2])[0]
    curve = BezierCurve(parameters_of(a), parameters_of(b))
    for points in (lambda t: linear_point(parameters_of(a), parameters_of(b), t),
                   lambda t: [p.detach() for p in curve.point(t)]):
        rows = evaluate_path(points, ts, a, frames[:2])
        for r in rows:
            for key in ("hamming", "bce", "tpr", "fpr"):
                assert r[key] == pytest.approx(at_a[key], rel=1e-5, abs=1e-7)
        s = path_summary(rows)
        assert s["barrier"] == pytest.approx(0, abs=1e-6) and s["mc"] == pytest.approx(0, abs=1e-6)


def test_bezier_training_lowers_the_mean_loss_along_the_curve(pair):
    a, b, frames = pair
    config = TrainConfig(mode="ptt")
    ts = np.linspace(0, 1, 7)
    before = evaluate_path(lambda t: linear_point(parameters_of(a), parameters_of(b), t), ts, a, frames[:4], config)
    spec = CurveSpec(loss="bce", steps=30, batch_frames=2, lr=3e-3, seed=0)
    curve, record = train_curve(a, b, frames[:4], config, spec)
    after = evaluate_path(lambda t: [p.detach() for p in curve.point(t)], ts, a, frames[:4], config)
    # the interior of the path (the endpoints are fixed): measured 1.381 before, 1.313 after (deterministic, CPU)
    mean_before, mean_after = (np.mean([r["bce"] for r in rows[1:-1]]) for rows in (before, after))
    assert record["steps"] == 30 and len(record["loss"]) == 30
    assert mean_after < 0.97 * mean_before
    # the endpoints stay where they were
    assert after[0]["bce"] == pytest.approx(before[0]["bce"], rel=1e-6)
    assert after[-1]["bce"] == pytest.approx(before[-1]["bce"], rel=1e-6)
    # the Hamming loss (through the blackbox assignment) trains θ too
    curve_h, _ = train_curve(a, b, frames[:4], config, CurveSpec(loss="hamming", steps=3, batch_frames=2, lr=3e-3))
    moved = sum(float((p - m).detach().abs().sum()) for p, m in zip(curve_h.theta, BezierCurve(parameters_of(a),
                                                                                       parameters_of(b)).theta))
    assert moved > 0


def test_batchnorm_recomputation_changes_the_running_statistics_and_nothing_else(pair):
    a, b, frames = pair
    state_before = {k: v.clone() for k, v in a.state_dict().items()}
    point = linear_point(parameters_of(a), parameters_of(b), 0.5)
    first = model_at(a, point, "first")
    again = model_at(a, point, "recompute", frames[:3])
    for (name, p1), (_, p2), v in zip(first.named_parameters(), again.named_parameters(), point):
        assert torch.equal(p1, v) and torch.equal(p2, v), name
    buffers_a = dict(a.named_buffers())
    changed = 0
    for name, buf in first.named_buffers():
        assert torch.equal(buf, buffers_a[name]), name
    for name, buf in again.named_buffers():
        if name.endswith(("running_mean", "running_var")):
            changed += int(not torch.allclose(buf, buffers_a[name]))
    assert changed > 0
    assert all(torch.equal(v, a.state_dict()[k]) for k, v in state_before.items())  # the caller's model untouched
    # reference for the first BatchNorm layer: the mean over frames of its input's batch mean at the point
    bn = next(m for m in again.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm))
    name = next(n for n, m in again.named_modules() if m is bn)
    probe = model_at(a, point, "first")
    seen = []
    handle = dict(probe.named_modules())[name].register_forward_hook(lambda m, inp, out: seen.append(inp[0]))
    with torch.no_grad():
        probe.train()
        for g in frames[:3]:
            probe.logits(g.x, g.edge_index, g.edge_u)
    handle.remove()
    want = torch.stack([x.reshape(-1, x.shape[-1]).mean(0) for x in seen]).mean(0)
    assert torch.allclose(bn.running_mean, want, atol=1e-5)
    with pytest.raises(ConnectivityError, match="needs frames"):
        model_at(a, point, "recompute")
    # the policies give different metrics between the modes (else the comparison would say nothing)
    r_first = evaluate_path(lambda t: point, [0.5], a, frames[:2], policy="first")[0]
    r_again = evaluate_path(lambda t: point, [0.5], a, frames[:2], policy="recompute", bn_frames=frames[:3])[0]
    assert r_first["bce"] != pytest.approx(r_again["bce"], rel=1e-4)


@pytest.mark.parametrize("every", [1, 2])
def test_a_killed_curve_training_resumes_to_the_uninterrupted_result(pair, tmp_path, every):
    a, b, frames = pair
    config = TrainConfig(mode="ptt")
    spec = CurveSpec(loss="bce", steps=6, batch_frames=2, lr=3e-3, seed=4, checkpoint_every=every,
                     bn_policy="recompute")
    whole, rec = train_curve(a, b, frames, config, spec, tmp_path / "whole")

    def kill(step, loss):
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_curve(a, b, frames, config, spec, tmp_path / "killed", on_step=kill)
    resumed, rec2 = train_curve(a, b, frames, config, spec, tmp_path / "killed")
    assert rec2["resumed_from"] == (3 if every == 1 else 2)
    assert all(torch.equal(x, y) for x, y in zip(whole.theta, resumed.theta))
    assert rec2["loss"] == rec["loss"]
    # a stop (not a kill) resumes the same way, and a finished curve is read, not trained again
    part, _ = train_curve(a, b, frames, config, spec, tmp_path / "stopped", stop_after=4)
    done, rec3 = train_curve(a, b, frames, config, spec, tmp_path / "stopped")
    assert all(torch.equal(x, y) for x, y in zip(whole.theta, done.theta))
    again, rec4 = train_curve(a, b, frames, config, spec, tmp_path / "stopped", on_step=kill)
    assert rec4["resumed_from"] == 6 and all(torch.equal(x, y) for x, y in zip(whole.theta, again.theta))
    with pytest.raises(ConnectivityError, match="other settings"):
        train_curve(a, b, frames, config, CurveSpec(loss="bce", steps=7, batch_frames=2), tmp_path / "stopped")


def test_path_summary_on_hand_made_paths():
    rows = [{"t": 0.0, "hamming": 1.0, "tpr": 0.9}, {"t": 0.5, "hamming": 3.0, "tpr": 0.5},
            {"t": 1.0, "hamming": 2.0, "tpr": 0.8}]
    s = path_summary(rows)
    # chord at t = 0.5 is 1.5: barrier 1.5; mid 1.5, |1.5 - L| = 0.5, 1.5, 0.5: t* = 0.5, mc = 1.5 - 3 = -1.5
    assert (s["hamming_min"], s["hamming_max"], s["hamming_mean"]) == (1.0, 3.0, 2.0)
    assert (s["tpr_min"], s["tpr_max"], s["tpr_mean"]) == pytest.approx((0.5, 0.9, 2.2 / 3))
    assert (s["barrier"], s["mc"], s["t_star"]) == (1.5, -1.5, 0.5)
    below = path_summary([{"t": 0.0, "hamming": 2.0, "tpr": 1.0}, {"t": 0.5, "hamming": 1.0, "tpr": 1.0},
                          {"t": 1.0, "hamming": 2.0, "tpr": 1.0}])
    assert below["barrier"] == 0.0 and below["mc"] == 1.0
    # against the endpoints as trained (0.5 and 1.0, not the path's 1 and 2): chord 0.5, 0.75, 1.0, so the barrier
    # is max(0.5, 2.25, 1.0) = 2.25; mid 0.75, |0.75 - L| = 0.25, 2.25, 1.25: mc = 0.75 - 3 = -2.25
    ended = path_summary(rows, ends=(0.5, 1.0))
    assert (ended["barrier"], ended["mc"], ended["t_star"]) == (2.25, -2.25, 0.5)
    assert ended["hamming_max"] == s["hamming_max"]  # the min/max/mean are of the path alone
    with pytest.raises(ConnectivityError, match="ascending from 0 to 1"):
        path_summary(rows[:2])


def test_settings_and_endpoints_are_checked(pair):
    a, _, frames = pair
    with pytest.raises(ConnectivityError, match="loss must be one of"):
        CurveSpec(loss="mse")
    with pytest.raises(ConnectivityError, match="bn_policy"):
        CurveSpec(bn_policy="mean")
    with pytest.raises(ConnectivityError, match="steps"):
        CurveSpec(steps=0)
    with pytest.raises(ConnectivityError, match="needs its training loss"):
        PathJob(0, 1, "bezier", None, "first")
    with pytest.raises(ConnectivityError, match="needs its training loss"):
        PathJob(0, 1, "linear", "bce", "first")
    other = EdgeScorer(ModelConfig(hidden=5, encoding_dim=4, n_layers=2))
    with pytest.raises(ConnectivityError, match="different parameters"):
        check_endpoints(a, other)
    cfg = curve_train_config(TrainConfig(mode="ptt", w_tracker=3.0), CurveSpec(loss="hamming", lam=7.0))
    assert (cfg.mode, cfg.lam, cfg.w_tracker) == ("pat", 7.0, 3.0)


def test_paths_run_as_jobs_and_are_cached(pair, tmp_path, monkeypatch):
    import pctlib.landscape.connectivity as conn

    a, b, frames = pair
    configs = [TrainConfig(mode="ptt"), TrainConfig(mode="pat")]
    jobs = [PathJob(0, 1, "linear", None, "first"), PathJob(0, 1, "bezier", "bce", "recompute")]
    spec = CurveSpec(steps=2, batch_frames=1)
    ts = [0.0, 0.5, 1.0]
    got = connect_pairs([a, b], configs, frames[:3], frames[:2], frames[2:4], ts, jobs, spec, tmp_path,
                        progress=False)
    assert [len(r["rows"]) for r in got] == [3, 3] and got[1]["train"]["steps"] == 2
    # the linear path at t = 0 and 1: the endpoints' own metrics (the second with the first's BatchNorm)
    assert got[0]["rows"][0]["bce"] == pytest.approx(evaluate_path(lambda t: parameters_of(a), [0.0], a,
                                                                   frames[:2], configs[0])[0]["bce"], rel=1e-9)

    def fail(*args, **kwargs):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(conn, "train_curve", fail)
    monkeypatch.setattr(conn, "evaluate_path", fail)
    assert run_path([a, b], configs, frames[:3], frames[:2], frames[2:4], ts, jobs[1], spec, tmp_path) == got[1]
    monkeypatch.undo()
    # other evaluation points: evaluated again, the trained curve read from its checkpoint
    again = run_path([a, b], configs, frames[:3], frames[:2], frames[2:4], [0.0, 1.0], jobs[1], spec, tmp_path)
    assert again["train"]["resumed_from"] == 2 and len(again["rows"]) == 2


def test_pair_selection_on_a_hand_made_zoo():
    zoo = [("PTT", 0, "ptt"), ("PTT", 1, "ptt"), ("PAT λ=25", 0, "pat"), ("PAT λ=25", 1, "pat"),
           ("PAT λ=25", 2, "pat"), ("PAT λ=50", 0, "pat")]
    within = [(0, 1, "within configuration"), (2, 3, "within configuration"), (2, 4, "within configuration"),
              (3, 4, "within configuration")]
    assert select_pairs(zoo, "none") == within
    across = [p for p in select_pairs(zoo, "all") if p[2] == "PTT ↔ PAT"]
    assert len(across) == 2 * 4 and all(zoo[i][2] == "ptt" and zoo[j][2] == "pat" for i, j, _ in across)
    assert [p[:2] for p in select_pairs(zoo, "matched") if p[2] != "within configuration"] == [(0, 2), (0, 5),
                                                                                                (1, 3)]
    # PTT's first seed with the first two seeds of every PAT configuration (λ=50 has only one)
    assert [p[:2] for p in select_pairs(zoo, "first") if p[2] != "within configuration"] == [(0, 2), (0, 3), (0, 5)]
    # the PTT model comes first whatever the zoo's order
    flipped = [zoo[2], zoo[0]]
    assert select_pairs(flipped, "all") == [(1, 0, "PTT ↔ PAT")]
    # two PAT configurations are not a PTT ↔ PAT pair
    assert select_pairs([zoo[2], zoo[5]], "all") == []
    with pytest.raises(ConnectivityError, match="across must be one of"):
        select_pairs(zoo, "some")


def test_list_parameters_are_checked_entry_by_entry():
    check_choices("policies", ["first", "recompute"], ("first", "recompute"))
    with pytest.raises(ConnectivityError, match="parameter policies.*'mean'"):
        check_choices("policies", ["first", "mean"], ("first", "recompute"))
    with pytest.raises(ConnectivityError, match="at least one"):
        check_choices("curve_losses", [], ("hamming", "bce"))


def test_the_batch_statistics_policy_ends_at_the_models_batch_statistics_loss(pair):
    """Policy "batch" (the released code's curves never enter eval mode): at t = 0 and t = 1 the path's BCE is
    each endpoint's BCE with every frame normalised by its own batch statistics, computed here by hand with
    BatchNorm in train mode; it differs from the endpoints as trained (eval mode, "first"), and the models'
    running statistics are left as they were."""
    import torch.nn.functional as F

    a, b, frames = pair
    before = {k: v.clone() for k, v in a.state_dict().items()}
    w_a, w_b = parameters_of(a), parameters_of(b)
    rows = evaluate_path(lambda t: linear_point(w_a, w_b, t), [0.0, 1.0], a, frames[:3], policy="batch")

    def batch_bce(model):
        m = copy.deepcopy(model).train()
        with torch.no_grad():
            return float(np.mean([float(F.binary_cross_entropy_with_logits(
                m.logits(g.x, g.edge_index, g.edge_u), g.y.float())) for g in frames[:3]]))

    assert rows[0]["bce"] == pytest.approx(batch_bce(a), rel=1e-5)
    assert rows[1]["bce"] == pytest.approx(batch_bce(b), rel=1e-5)
    first = evaluate_path(lambda t: linear_point(w_a, w_b, t), [0.0], a, frames[:3], policy="first")[0]
    assert first["bce"] != pytest.approx(rows[0]["bce"], rel=1e-4)
    for k, v in a.state_dict().items():
        assert torch.equal(v, before[k]), k
    # curve training is shared by "batch" and "recompute" (both train with batch statistics)
    from pctlib.landscape.connectivity import BN_POLICY_SOURCES, training_policy

    assert training_policy("batch") == training_policy("recompute") == "batch" and training_policy("first") == "first"
    assert set(BN_POLICY_SOURCES) == {"first", "batch", "recompute"}
