"""Six behaviours pinned against references computed another way; each test fails on a one-line bug that the rest
of the suite let through (the bug is named in each docstring: deleting or changing that line makes the test fail).

- the Hamming loss where the truth has ones (a swapped term is invisible on all-zero truth);
- linear CKA on features with a non-zero mean (the centring is invisible on centred data), against the kernel form
  of HSIC with an explicit centring matrix;
- power iteration with deflation returns orthonormal eigenvectors, against ``numpy.linalg.eigh``;
- ``train()`` recomputes the BatchNorm statistics before a validation: the checkpointed running statistics are the
  average batch statistics of the chosen training frames, read with forward hooks;
- gradient accumulation in ``train()``: one step over three frames moves the weights by the mean of the three
  single-frame gradients, each computed alone;
- a failed execution leaves no staging folder behind and the previous results untouched.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from scipy.sparse.linalg import aslinearoperator

from pctlib.assign.losses import hamming_loss
from pctlib.landscape.hessian import top_eigenpairs_power
from pctlib.landscape.similarity import linear_cka
from pctlib.models.interaction_network import EdgeScorer
from pctlib.training import loop
from pctlib.training.batchnorm import batchnorm_layers
from pctlib.training.loop import TrainConfig, frame_loss, load_checkpoint, train, validation_indices


def test_hamming_loss_by_hand_with_ones_in_the_truth():
    """Bug caught: ``y * y_hat`` for ``y * (1 - y_hat)`` (or either term dropped)."""
    y = torch.tensor([1.0, 0.0, 1.0, 0.0, 1.0])
    y_hat = torch.tensor([0.9, 0.2, 0.4, 0.0, 1.0])
    # per segment |y - y_hat| for y in {0, 1}: 0.1, 0.2, 0.6, 0, 0
    assert float(hamming_loss(y_hat, y)) == pytest.approx(0.9 / 5, abs=1e-7)
    w = torch.tensor([1.0, 2.0, 1.0, 1.0, 3.0])
    assert float(hamming_loss(y_hat, y, w)) == pytest.approx((0.1 + 0.4 + 0.6) / 5, abs=1e-7)
    # a hard assignment: two wrong of four
    assert float(hamming_loss(torch.tensor([1.0, 1.0, 0.0, 0.0]), torch.tensor([1.0, 0.0, 1.0, 0.0]))) == 0.5


def _cka_kernel_form(x: np.ndarray, y: np.ndarray) -> float:
    """HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)) with K = X Xᵀ, L = Y Yᵀ and the centring matrix H = I - 11ᵀ/n."""
    n = x.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    k, l = x @ x.T, y @ y.T

    def hsic(a, b):
        return np.trace(a @ h @ b @ h)

    return hsic(k, l) / np.sqrt(hsic(k, k) * hsic(l, l))


def test_linear_cka_on_features_with_a_non_zero_mean():
    """Bug caught: deleting ``x = x - x.mean(0)`` (or the same line for y)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 5)) + np.array([4.0, -3.0, 10.0, 0.5, 2.0])
    y = x @ rng.standard_normal((5, 7)) + 0.5 * rng.standard_normal((40, 7)) + 6.0
    want = _cka_kernel_form(x, y)
    assert 0.0 < want < 1.0
    assert linear_cka(torch.as_tensor(x), torch.as_tensor(y)) == pytest.approx(want, rel=1e-10)
    # shifting either representation by a constant vector changes nothing
    assert linear_cka(torch.as_tensor(x - 100.0), torch.as_tensor(y)) == pytest.approx(want, rel=1e-10)


def test_power_iteration_returns_orthonormal_eigenvectors():
    """Bug caught: the product not deflated (``hv = hv - (u @ hv) * u`` dropped: the vector falls back onto the
    first eigenvector), or the vector returned unnormalised. (Dropping the deflation of ``v`` alone is an
    equivalent change: ``v`` is the deflated product of the previous iteration and already orthogonal.)"""
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((12, 12)))
    spectrum = np.array([6.0, -5.0, 4.0, 1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
    a = (q * spectrum) @ q.T
    vals, vecs = top_eigenpairs_power(None, k=3, iters=2000, tol=1e-14, operator=aslinearoperator(a))
    np.testing.assert_allclose(vals, [6.0, -5.0, 4.0], atol=1e-8)
    np.testing.assert_allclose(vecs.T @ vecs, np.eye(3), atol=1e-8)
    w, v = np.linalg.eigh(a)
    for j, lam in enumerate([6.0, -5.0, 4.0]):
        ref = v[:, np.argmin(abs(w - lam))]
        assert abs(ref @ vecs[:, j]) == pytest.approx(1.0, abs=1e-8)


def test_train_recomputes_batchnorm_statistics_before_a_validation(data, tmp_path):
    """Bug caught: deleting ``recalibrate_batchnorm(models, bn_subset)`` in the training loop (the checkpoint then
    holds the momentum average over the training frames)."""
    tr, va, norm = data
    cfg = TrainConfig(mode="ptt", steps=2, batch_frames=2, eval_every=2, max_val_frames=2, bn_frames=4)
    train(cfg, tr, va, tmp_path, norm, progress=False)
    state = load_checkpoint(tmp_path / "last.pt")["model"]
    model = EdgeScorer(cfg.model, norm["x_mean"], norm["x_std"])
    model.load_state_dict(state)
    model.train()
    names = {id(m): n for n, m in model.named_modules()}
    seen: dict[str, list[torch.Tensor]] = {}

    def hook(module, inputs, _out):
        seen.setdefault(names[id(module)], []).append(inputs[0].detach().to(torch.float64))

    handles = [bn.register_forward_hook(hook) for bn in batchnorm_layers(model)]
    chosen = validation_indices(tr, cfg.bn_frames)
    assert len(chosen) >= 2
    with torch.no_grad():
        for i in chosen:
            g = tr[i]
            model.logits(g.x, g.edge_index, g.edge_u)
    for h in handles:
        h.remove()
    # every layer saw frames; those of phi_R1 only frames with line-graph edges (as in the recomputation)
    assert len(seen) == len(batchnorm_layers(model)) and max(len(v) for v in seen.values()) == len(chosen)
    for name, batches in seen.items():
        mean = torch.stack([b.mean(0) for b in batches]).mean(0)
        var = torch.stack([b.var(0, unbiased=True) for b in batches]).mean(0)
        torch.testing.assert_close(state[f"{name}.running_mean"].to(torch.float64), mean, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(state[f"{name}.running_var"].to(torch.float64), var, rtol=1e-4, atol=1e-5)


def test_gradient_accumulation_equals_the_mean_of_single_frame_gradients(data, tmp_path, monkeypatch):
    """Bug caught: the loss not divided by the batch size (``loss / n_batch`` -> ``loss``), or any change that
    back-propagates other than the mean of the three frames' losses. Plain SGD (lr 1) stands in for the
    optimiser so that the weight change is the accumulated gradient itself."""
    tr, va, norm = data
    monkeypatch.setattr(loop, "make_optimizer", lambda config, params: (torch.optim.SGD(params, lr=1.0), None))
    cfg = TrainConfig(mode="ptt", steps=1, batch_frames=3, eval_every=1, max_val_frames=1, bn_frames=0)
    train(cfg, tr, va, tmp_path, norm, progress=False)
    after = load_checkpoint(tmp_path / "last.pt")["model"]

    torch.manual_seed(cfg.seed)
    model = EdgeScorer(cfg.model, norm["x_mean"], norm["x_std"])
    model.train()
    before = copy.deepcopy(model.state_dict())
    idx = torch.randint(len(tr), (3,), generator=torch.Generator().manual_seed(cfg.data_seed + 1
                                                                               if cfg.data_seed is not None
                                                                               else cfg.seed + 1)).tolist()
    grads = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    for i in idx:
        model.zero_grad()
        loss, _ = frame_loss(model, tr[i], cfg)
        loss.backward()
        for n, p in model.named_parameters():
            grads[n] += p.grad / len(idx)
    moved = 0
    for n, g in grads.items():
        step = before[n] - after[n]
        torch.testing.assert_close(step, g, rtol=1e-4, atol=1e-6)
        moved += int(g.abs().sum() > 0)
    assert moved == len(grads)


def test_a_failed_execution_leaves_no_staging_folder_and_keeps_the_results(project):
    """Bug caught: deleting ``shutil.rmtree(staging, ...)`` after a failure in ``runner.execute``."""
    from conftest import write_notebook

    from pctlib.cli import main

    write_notebook(project / "notebooks", "c_half", "fail = False", """
        import pathlib
        p = pathlib.Path(results_dir); p.mkdir(parents=True, exist_ok=True)
        (p / "table.json").write_text('{"fail": %s}' % str(fail).lower())
        if fail:
            raise RuntimeError("failed after writing")
        """)
    params = project / "params" / "g.yaml"
    params.write_text("notebooks:\n  c_half:\n    parameters: {fail: false}\n")
    assert main(["run", str(params), "--no-progress"]) == 0
    results = project / "results" / "g" / "c_half"
    assert json.loads((results / "table.json").read_text()) == {"fail": False}
    params.write_text("notebooks:\n  c_half:\n    parameters: {fail: true}\n")
    assert main(["run", str(params), "--no-progress"]) == 1
    left = [p.name for p in results.parent.iterdir() if ".staging-" in p.name or ".old-" in p.name]
    assert left == []
    assert json.loads((results / "table.json").read_text()) == {"fail": False}
