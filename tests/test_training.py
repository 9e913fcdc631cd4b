"""Training: one smoke step per configuration, gradients, resume = uninterrupted, config mismatch, BatchNorm."""

import csv
import json

import pytest
import torch

from pctlib.models.interaction_network import EdgeScorer, freeze_batchnorm, functional_scores
from pctlib.training.loop import TrainConfig, TrainError, frame_loss, train


@pytest.mark.parametrize("mode,lam", [("ptt", 50.0), ("pat", 25.0), ("pat", 50.0), ("pat", 75.0)])
def test_one_smoke_step_per_configuration(data, tmp_path, mode, lam):
    tr, va, norm = data
    best = train(TrainConfig(mode=mode, lam=lam, steps=1, batch_frames=2, eval_every=1), tr, va, tmp_path, norm,
                 progress=False)
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert [r["split"] for r in rows] == ["train", "val"]
    assert set(rows[0]) == {"step", "split", "tpr", "fpr", "purity", "efficiency", "loss"}
    assert (tmp_path / "last.pt").is_file() and 0.0 <= best["tpr"] <= 1.0


@pytest.mark.parametrize("mode", ["ptt", "pat"])
def test_gradients_reach_every_parameter(data, mode):
    tr, _, norm = data
    torch.manual_seed(0)
    model = EdgeScorer(x_mean=norm["x_mean"], x_std=norm["x_std"])
    cfg = TrainConfig(mode=mode, lam=2000.0)  # a large lambda makes the blackbox gradient non-zero from the start
    for i in range(len(tr)):
        loss, _ = frame_loss(model, tr[i], cfg)
        loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_resume_ends_bit_identical_to_an_uninterrupted_run(data, tmp_path):
    tr, va, norm = data
    cfg = TrainConfig(mode="pat", lam=50.0, steps=4, batch_frames=2, eval_every=2, max_val_frames=2)
    train(cfg, tr, va, tmp_path / "a", norm, progress=False)
    train(cfg, tr, va, tmp_path / "b", norm, progress=False, stop_after=2)  # interrupted after the checkpoint
    train(cfg, tr, va, tmp_path / "b", norm, progress=False)  # resumed
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=True)  # tensors and plain values only
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert (tmp_path / "a" / "metrics.csv").read_text() == (tmp_path / "b" / "metrics.csv").read_text()


def test_a_folder_with_another_configuration_is_refused(data, tmp_path):
    tr, va, norm = data
    train(TrainConfig(steps=1, batch_frames=1, eval_every=1), tr, va, tmp_path, norm, progress=False)
    with pytest.raises(TrainError, match=r"another configuration \(train.lr: 0.001 in the folder, 0.01 requested"):
        train(TrainConfig(steps=1, batch_frames=1, eval_every=1, lr=0.01), tr, va, tmp_path, norm, progress=False)
    with pytest.raises(TrainError, match="mode must be"):
        TrainConfig(mode="ppt")
    # the same request on other data (another hit file or graph parameters) is refused too
    d = tmp_path / "d"
    cfg = TrainConfig(steps=1, batch_frames=1, eval_every=1)
    train(cfg, tr, va, d, norm, data_info={"train_data": ["key-a"]}, progress=False)
    with pytest.raises(TrainError, match=r"data: .*key-a.* in the folder, .*key-b.* requested"):
        train(cfg, tr, va, d, norm, data_info={"train_data": ["key-b"]}, progress=False)


def test_edge_encoding_is_shared_by_the_two_directions_of_a_pair(data):
    # phi_R1 encodes u once per segment pair when both directions carry the same u; the result and the gradients
    # must equal those of encoding every directed edge
    tr, _, norm = data
    g = tr[0]
    m = g.edge_u.shape[0] // 2
    assert torch.equal(g.edge_u[:m], g.edge_u[m:])
    torch.manual_seed(0)
    r1 = EdgeScorer(x_mean=norm["x_mean"], x_std=norm["x_std"]).phi_r1
    v = torch.randn(g.x.shape[0], 8)
    src, dst = g.edge_index
    out = r1(v, src, dst, g.edge_u)
    out.square().sum().backward()
    fast = r1.lin0.weight.grad.clone()
    r1.lin0.weight.grad = None
    w, d = r1.lin0.weight, r1.d_node
    h = (v @ w[:, :d].t())[dst] + (v @ w[:, d:2 * d].t())[src] + r1._encode(g.edge_u) + r1.lin0.bias
    ref = r1.rest(h)
    ref.square().sum().backward()
    assert torch.allclose(out, ref, atol=1e-5)
    slow = r1.lin0.weight.grad  # sums over 10^4-10^5 rows in another order: float32 rounding at 1e-5 of the scale
    assert torch.allclose(fast, slow, rtol=1e-3, atol=1e-5 * float(slow.abs().max()))


def test_batchnorm_freezing_and_functional_call(data):
    tr, _, norm = data
    g = tr[0]
    model = EdgeScorer(x_mean=norm["x_mean"], x_std=norm["x_std"]).train()
    model(g)  # move the running statistics away from their initial values
    before = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    freeze_batchnorm(model)
    out_frozen = model(g)
    after = {k: v for k, v in model.state_dict().items() if "running" in k}
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert torch.allclose(out_frozen, model.eval()(g))
    params = {k: v.detach().clone() for k, v in model.named_parameters()}
    assert torch.allclose(functional_scores(model, params, g), model(g))
    params = {k: torch.zeros_like(v) for k, v in params.items()}
    assert torch.allclose(functional_scores(model, params, g), torch.full_like(model(g), 0.5))


def test_folded_first_layer_equals_an_explicit_concatenation_through_linear(data):
    """phi_R1's first layer, evaluated without building (v_dst, v_src, enc(u)), against nn.Linear applied to that
    concatenation built explicitly with the graph module's own encoding function."""
    from pctlib.graphs.line_graph import sinusoidal_encoding

    tr, _, norm = data
    g = tr[0]
    torch.manual_seed(1)
    r1 = EdgeScorer(x_mean=norm["x_mean"], x_std=norm["x_std"]).phi_r1.eval()
    v = torch.randn(g.x.shape[0], 8)
    src, dst = g.edge_index
    captured = {}
    hook = r1.lin0_out.register_forward_hook(lambda mod, inp, out: captured.setdefault("h", out.detach().clone()))
    r1(v, src, dst, g.edge_u)
    hook.remove()
    lin = torch.nn.Linear(2 * 8 + 128, r1.lin0.out_features)
    with torch.no_grad():
        lin.weight.copy_(r1.lin0.weight)
        lin.bias.copy_(r1.lin0.bias)
        explicit = torch.cat([v[dst], v[src], sinusoidal_encoding(g.edge_u, 128, 0.001)], dim=1)
        ref = lin(explicit)
    assert torch.allclose(captured["h"], ref, rtol=1e-4, atol=1e-5)
    # and the rest of phi_R1 is applied to it: the output equals rest(linear(concatenation))
    with torch.no_grad():
        assert torch.allclose(r1(v, src, dst, g.edge_u), r1.rest(ref), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode,lr", [("ptt", 1e-2), ("pat", 1e-2)])
def test_the_loss_falls_over_a_few_steps_on_a_fixed_small_set(data, tmp_path, mode, lr):
    from pctlib.training.loop import evaluate

    tr, va, norm = data
    cfg = TrainConfig(mode=mode, lam=50.0, steps=25, batch_frames=2, eval_every=25, lr=lr, seed=3,
                      max_val_frames=2)
    fixed = [tr[i] for i in range(len(tr))]
    torch.manual_seed(cfg.seed)
    model = EdgeScorer(x_mean=norm["x_mean"], x_std=norm["x_std"])
    before = evaluate(model, fixed, cfg)["loss"]
    train(cfg, tr, va, tmp_path, norm, progress=False)
    from pctlib.training.loop import load_model
    after = evaluate(load_model(tmp_path / "last.pt"), fixed, cfg)["loss"]
    assert after < 0.8 * before, (before, after)


def test_a_run_resumes_on_training_hits_simulated_again_on_another_cpu(data, tmp_path):
    """Hits are byte-identical per CPU only: a run named ``machine_dependent`` resumes on other training hits (their
    identity differs, nothing else may), keeps the input normalisation it started with, and records which steps saw
    which hits; it ends where an uninterrupted run on the same frames ends."""
    from pctlib.training.loop import train_many

    tr, va, norm = data
    cfg = TrainConfig(mode="ptt", steps=4, batch_frames=2, eval_every=2, max_val_frames=2)
    info = {"train": {"primaries": 120}, "train_data": ["hits-of-cpu-a"], "val_data": ["shipped"]}
    other = {**info, "train_data": ["hits-of-cpu-b"]}
    shifted = {"x_mean": [m + 1.0 for m in norm["x_mean"]], "x_std": norm["x_std"]}  # cpu b's statistics
    train_many([cfg], tr, va, [tmp_path / "a"], norm, info, progress=False, machine_dependent=("train_data",))
    b = tmp_path / "b"
    train_many([cfg], tr, va, [b], norm, info, progress=False, stop_after=2, machine_dependent=("train_data",))
    with pytest.raises(TrainError, match="hits-of-cpu-a.* in the folder"):  # not without saying so
        train_many([cfg], tr, va, [b], shifted, other, progress=False)
    for changed in ({**other, "val_data": ["other"]}, {**other, "train": {"primaries": 60}}):
        with pytest.raises(TrainError, match="another configuration"):  # anything else still refused
            train_many([cfg], tr, va, [b], shifted, changed, progress=False, machine_dependent=("train_data",))
    train_many([cfg], tr, va, [b], shifted, other, progress=False, machine_dependent=("train_data",))
    history = json.loads((b / "data_history.json").read_text())
    assert [(h["step"], h["train_data"]) for h in history] == [(0, ["hits-of-cpu-a"]), (2, ["hits-of-cpu-b"])]
    assert all(h["cpu"] for h in history)
    ck_a = torch.load(tmp_path / "a" / "last.pt", weights_only=True)
    ck_b = torch.load(b / "last.pt", weights_only=True)
    assert ck_b["normalization"] == norm and ck_b["step"] == 4
    for k in ck_a["model"]:
        assert torch.equal(ck_a["model"][k], ck_b["model"][k]), k
    # the folder's record keeps the first request: a second resume on cpu a's hits adds a segment, not a refusal
    assert json.loads((b / "config.json").read_text())["data"]["train_data"] == ["hits-of-cpu-a"]
