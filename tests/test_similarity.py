"""CKA (unbiased minibatch HSIC) against brute-force U-statistics and its invariances; disagreement and d_norm on
hand-made assignments; the statistics wrappers against scipy, hand formulas and exact permutations."""

import itertools

import numpy as np
import pytest
import torch
from scipy import stats

from pctlib.landscape.similarity import (MinibatchCKA, SimilarityError, disagreement, holm, hsic_unbiased,
                                         linear_cka, normalised_disagreement, permutation_p, welch_interval,
                                         welch_test)


def brute_hsic(x, y):
    """The unbiased HSIC as the U-statistic of Song et al. (2012), summed over distinct index tuples."""
    k, l = x @ x.T, y @ y.T
    n = k.shape[0]
    t1 = np.mean([k[i, j] * l[i, j] for i, j in itertools.permutations(range(n), 2)])
    t2 = np.mean([k[i, j] * l[q, r] for i, j, q, r in itertools.permutations(range(n), 4)])
    t3 = np.mean([k[i, j] * l[i, q] for i, j, q in itertools.permutations(range(n), 3)])
    return t1 + t2 - 2 * t3


def gram(x):
    k = torch.as_tensor(x) @ torch.as_tensor(x).T
    return k.fill_diagonal_(0.0)


def test_unbiased_hsic_equals_the_u_statistic():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((7, 3)), rng.standard_normal((7, 2))
    assert hsic_unbiased(gram(x), gram(y)) == pytest.approx(brute_hsic(x, y), rel=1e-10)
    with pytest.raises(SimilarityError, match="at least 4 rows"):
        hsic_unbiased(gram(x[:3]), gram(y[:3]))


def cka_of(x, y, batch=64):
    acc = MinibatchCKA()
    for a in range(0, x.shape[0], batch):
        acc.update(torch.as_tensor(x[a:a + batch]), torch.as_tensor(y[a:a + batch]))
    return acc.value()


def test_cka_identity_invariances_and_a_non_orthogonal_map():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((512, 6))
    y = x @ rng.standard_normal((6, 5)) + 0.5 * rng.standard_normal((512, 5))
    assert cka_of(x, x) == pytest.approx(1.0, abs=1e-12)
    q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    base = cka_of(x, y)
    assert 0.2 < base < 0.99
    assert cka_of(x, 3.7 * y @ q) == pytest.approx(base, rel=1e-10)  # orthogonal map and isotropic scaling
    a = np.diag([10.0, 1.0, 1.0, 0.2, 1.0]) + 0.3 * rng.standard_normal((5, 5))
    assert abs(np.linalg.det(a)) > 1e-3
    assert abs(cka_of(x, y @ a) - base) > 0.01  # linear CKA is not invariant to a general invertible map


def test_minibatch_estimate_agrees_with_full_batch_cka_on_large_data():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((16384, 8))
    y = np.tanh(x @ rng.standard_normal((8, 6))) + 0.3 * rng.standard_normal((16384, 6))
    full = linear_cka(torch.as_tensor(x), torch.as_tensor(y))
    mini = cka_of(x, y, batch=1024)
    # the stated tolerance: 0.002 at 16 batches of 1,024 rows (measured: 1.8e-4)
    assert abs(mini - full) <= 0.002, (mini, full)


def test_cka_errors_and_undefined_cases():
    with pytest.raises(SimilarityError, match="at least 4 rows"):
        MinibatchCKA().update(torch.ones(3, 2), torch.ones(3, 2))
    with pytest.raises(SimilarityError, match="same rows"):
        MinibatchCKA().update(torch.ones(8, 2), torch.ones(7, 2))
    assert np.isnan(MinibatchCKA().value())
    acc = MinibatchCKA()
    acc.update(torch.zeros(8, 2), torch.randn(8, 2))  # a dead layer: zero HSIC with itself
    assert np.isnan(acc.value())


def test_disagreement_and_its_normalisation_on_hand_made_assignments():
    truth = np.array([1, 0, 1, 1])
    r = normalised_disagreement(np.array([1, 0, 1, 0]), np.array([1, 1, 1, 0]), truth)
    # d = 1/4; errors 1/4 and 2/4: bounds |q1 - q2| = 1/4 and min(q1 + q2, 1) = 3/4, so d sits at its lower bound
    assert (r["d"], r["q1"], r["q2"], r["d_min"], r["d_max"], r["d_norm"]) == (0.25, 0.25, 0.5, 0.25, 0.75, 0.0)
    # each model errs where the other is right: the most disagreement their errors allow
    r = normalised_disagreement(np.array([0, 1, 1, 1]), np.array([1, 0, 1, 1]), np.ones(4))
    assert (r["d"], r["d_min"], r["d_max"], r["d_norm"]) == (0.5, 0.0, 0.5, 1.0)
    # the upper bound saturates at 1
    r = normalised_disagreement(np.array([0, 0]), np.array([1, 1]), np.array([1, 0]))
    assert (r["d"], r["d_max"], r["d_norm"]) == (1.0, 1.0, 1.0)
    # two perfect models: the bounds coincide, d_norm undefined (NaN), d itself 0
    r = normalised_disagreement(truth, truth.copy(), truth)
    assert r["d"] == 0.0 and np.isnan(r["d_norm"])
    # d_active: only segments that the truth or a model marks active count; here 3 of 6, and the models differ on 1
    r = normalised_disagreement(np.array([1, 0, 0, 0, 0, 0]), np.array([1, 1, 0, 0, 0, 0]),
                                np.array([0, 0, 1, 0, 0, 0]))
    assert r["d"] == pytest.approx(1 / 6) and r["d_active"] == pytest.approx(1 / 3)
    # nothing active anywhere: d_active undefined, d = 0
    r = normalised_disagreement(np.zeros(3), np.zeros(3), np.zeros(3))
    assert r["d"] == 0.0 and np.isnan(r["d_active"])
    assert np.isnan(disagreement(np.array([]), np.array([])))
    with pytest.raises(SimilarityError, match="different shapes"):
        disagreement(np.zeros(3), np.zeros(4))


def test_welch_wrapper_reproduces_scipy_and_the_hand_formula():
    a = [0.12, 0.15, 0.11, 0.18, 0.14]
    b = [0.19, 0.22, 0.17, 0.25]
    r = welch_test(a, b, alternative="less")
    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    t = (np.mean(a) - np.mean(b)) / np.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    assert r["t"] == pytest.approx(t, rel=1e-12) and r["df"] == pytest.approx(df, rel=1e-12)
    assert r["p"] == pytest.approx(stats.t.cdf(t, df), rel=1e-10)
    for alt in ("less", "greater", "two-sided"):
        ref = stats.ttest_ind(a, b, equal_var=False, alternative=alt)
        assert welch_test(a, b, alt)["p"] == pytest.approx(ref.pvalue, rel=1e-12)
    with pytest.raises(SimilarityError, match="at least 2 values"):
        welch_test([1.0], [1.0, 2.0])
    # the two-sided interval: difference ± t_{0.975, df} · SE with the Welch–Satterthwaite df above
    ci = welch_interval(a, b, 0.95)
    half = stats.t.ppf(0.975, df) * np.sqrt(va + vb)
    diff = np.mean(a) - np.mean(b)
    assert (ci["difference"], ci["low"], ci["high"]) == pytest.approx((diff, diff - half, diff + half), rel=1e-10)
    assert welch_interval(a, b, 0.5)["high"] - welch_interval(a, b, 0.5)["low"] < 2 * half
    with pytest.raises(SimilarityError, match="at least 2 values"):
        welch_interval([1.0, 2.0], [3.0])


def test_permutation_p_is_exact_on_small_groups_and_holm_by_hand():
    # 4 values in groups of 2: 6 relabellings, the observed difference -2 is the single smallest
    assert permutation_p([1.0, 2.0], [3.0, 4.0], "less") == pytest.approx(1 / 6)
    assert permutation_p([1.0, 2.0], [3.0, 4.0], "greater") == pytest.approx(1.0)
    reject, adjusted = holm([0.01, 0.04, 0.03])
    # sorted 0.01, 0.03, 0.04 times 3, 2, 1 = 0.03, 0.06, 0.04; running maximum 0.03, 0.06, 0.06
    assert np.allclose(adjusted, [0.03, 0.06, 0.06]) and list(reject) == [True, False, False]


def test_layer_activations_hook_the_named_layers_on_the_same_rows(data):
    from pctlib.landscape.similarity import LAYERS, layer_activations, layer_cka, sample_rows
    from pctlib.models.interaction_network import EdgeScorer, ModelConfig

    tr, _, norm = data
    torch.manual_seed(0)
    a = EdgeScorer(ModelConfig(hidden=8, encoding_dim=8), norm["x_mean"], norm["x_std"])
    torch.manual_seed(1)
    b = EdgeScorer(ModelConfig(hidden=8, encoding_dim=8), norm["x_mean"], norm["x_std"])
    for m in (a, b):
        m.train()
        with torch.no_grad():
            m.logits(tr[2].x, tr[2].edge_index, tr[2].edge_u)
    before = {k: v.clone() for k, v in a.state_dict().items()}
    frames = [tr[0], tr[1]]
    acts = layer_activations(a, frames, rows_per_graph=20)
    assert a.training and all(torch.equal(before[k], v) for k, v in a.state_dict().items())
    assert set(acts) == set(LAYERS)
    # the last layer's output is the logit: the hooked rows are the logits of the sampled segments
    a.eval()
    with torch.no_grad():
        want = torch.cat([a.logits(g.x, g.edge_index, g.edge_u)[torch.as_tensor(
            sample_rows(g.x.shape[0], k, 20))] for k, g in enumerate(frames)])
    a.train()
    assert torch.allclose(acts["phi_r2.lin2"].squeeze(1), want.double(), atol=1e-6)
    n_seg = sum(min(20, g.x.shape[0]) for g in frames)
    assert acts["phi_o.lin0"].shape == (n_seg, 8) and acts["phi_r1.rest.lin1"].shape[0] <= 40
    # a model against itself (another copy) is identical on every layer; against another seed it is not
    copy = EdgeScorer(a.config, norm["x_mean"], norm["x_std"])
    copy.load_state_dict(a.state_dict())
    same = layer_cka(acts, layer_activations(copy, frames, rows_per_graph=20), batch=16)
    assert all(v == pytest.approx(1.0, abs=1e-9) for v in same.values())
    other = layer_cka(acts, layer_activations(b, frames, rows_per_graph=20), batch=16)
    assert all(v < 0.999 for v in other.values())
    with pytest.raises(SimilarityError, match="no layer"):
        layer_activations(a, frames, layers=("phi_x.lin0",))


def test_pair_similarity_of_a_model_with_itself_and_with_another(data):
    from pctlib.assign.batch import assign_scores
    from pctlib.assign.layout import layout_of_graph
    from pctlib.landscape.similarity import model_view, pair_similarity
    from pctlib.models.interaction_network import EdgeScorer, ModelConfig

    tr, va, norm = data
    models = []
    for s in (0, 1):
        torch.manual_seed(s)
        m = EdgeScorer(ModelConfig(hidden=8, encoding_dim=8), norm["x_mean"], norm["x_std"])
        m.train()
        with torch.no_grad():
            m.logits(tr[2].x, tr[2].edge_index, tr[2].edge_u)
        models.append(m.eval())
    frames = [tr[0], tr[1]]
    va_a, va_b = (model_view(m, frames, rows_per_graph=30) for m in models)
    self_pair = pair_similarity(va_a, model_view(models[0], frames, rows_per_graph=30), batch=16)
    assert self_pair["d"] == 0.0 and all(v == pytest.approx(1.0) for v in self_pair["cka"].values())
    r = pair_similarity(va_a, va_b, batch=16)
    # by hand: the two models' assignments of the frames' segments
    ys = [np.concatenate([assign_scores(torch.sigmoid(m.logits(g.x, g.edge_index, g.edge_u)).detach().numpy(),
                                        layout_of_graph(g)) for g in frames]) for m in models]
    truth = np.concatenate([g.y.numpy() for g in frames])
    assert r["d"] == pytest.approx(np.mean(ys[0] != ys[1])) and r["q2"] == pytest.approx(np.mean(ys[1] != truth))
    assert r["d_min"] <= r["d"] <= r["d_max"] and 0.0 <= r["d_norm"] <= 1.0
    with pytest.raises(SimilarityError, match="different frames"):
        pair_similarity(va_a, model_view(models[1], [tr[1], tr[0]], rows_per_graph=30))


def test_pair_tables_cover_every_pair_in_parallel_and_reuse_cached_views(data, tmp_path, monkeypatch):
    import pctlib.landscape.similarity as S
    from pctlib.models.interaction_network import EdgeScorer, ModelConfig

    tr, _, norm = data
    models = []
    for s in (0, 1, 2):
        torch.manual_seed(s)
        models.append(EdgeScorer(ModelConfig(hidden=8, encoding_dim=8), norm["x_mean"], norm["x_std"]).eval())
    frames = [tr[0], tr[1]]
    kw = dict(rows_per_graph=30, batch=16, cache_dir=tmp_path, progress=False)
    cka, dis = S.pair_tables(["a", "b", "c"], models, frames, workers=2, **kw)
    assert len(dis) == 3 and set(zip(dis.model_a, dis.model_b)) == {("a", "b"), ("a", "c"), ("b", "c")}
    assert len(cka) == 3 * len(S.LAYERS) and cka["cka"].between(-1, 1.0000001).all()
    assert len(list(tmp_path.glob("view_*.pt"))) == 3 and len(list(tmp_path.glob("pairs/pair_*.json"))) == 3
    # a rerun reads the views (no forward pass) and the pairs (no CKA), and gives the same tables, sequentially too
    monkeypatch.setattr(S, "model_view", lambda *a, **k: (_ for _ in ()).throw(AssertionError("recomputed")))
    monkeypatch.setattr(S, "pair_similarity", lambda *a, **k: (_ for _ in ()).throw(AssertionError("recomputed")))
    cka2, dis2 = S.pair_tables(["a", "b", "c"], models, frames, workers=1, **kw)
    assert cka2.equals(cka) and dis2.equals(dis)
    with pytest.raises(SimilarityError, match="name each model once"):
        S.pair_tables(["a", "a", "c"], models, frames, **kw)


def test_combination_tests_match_direct_welch_tests_and_holm():
    from pctlib.landscape.similarity import combination, combination_tests

    order = ["PTT", "PAT λ=25"]
    assert combination("PAT λ=25", "PTT", order) == "PTT | PAT λ=25"
    values = [0.10, 0.12, 0.11, 0.20, 0.22, 0.25, 0.16, 0.18]
    groups = ["A"] * 3 + ["B"] * 3 + ["C"] * 2
    t = combination_tests(values, groups, resamples=200)
    assert len(t) == 6 and set(t["a"]) == {"A", "B", "C"}
    row = t[(t["a"] == "A") & (t["b"] == "B")].iloc[0]
    ref = stats.ttest_ind(values[:3], values[3:6], equal_var=False, alternative="less")
    assert row["t"] == pytest.approx(ref.statistic) and row["p"] == pytest.approx(ref.pvalue)
    assert np.allclose(t["p_holm"], holm(t["p"].to_numpy())[1])
    # a group of one value is left out
    assert "D" not in set(combination_tests(values + [0.3], groups + ["D"], resamples=50)["a"])


def test_seed_bootstrap_resamples_training_runs():
    import pandas as pd

    from pctlib.landscape.similarity import seed_bootstrap

    rows = []
    for conf, base in (("X", 0.10), ("Y", 0.20)):
        for i in range(3):
            for j in range(i + 1, 3):
                rows.append({"conf_a": conf, "seed_a": i, "conf_b": conf, "seed_b": j, "group": conf,
                             "d": base + 0.01 * (i + j)})
    df = pd.DataFrame(rows)
    r = seed_bootstrap(df, "X", "Y", resamples=300)
    assert r["difference"] == pytest.approx(-0.10)
    assert r["low"] <= r["difference"] <= r["high"] and r["high"] < 0 and r["share_below_0"] == 1.0
    # without spread within groups every resample gives the same difference (resamples leaving a group with no
    # pair of distinct models drop out)
    flat = df.assign(d=np.where(df["group"] == "X", 0.1, 0.3))
    r = seed_bootstrap(flat, "X", "Y", resamples=100)
    assert r["low"] == pytest.approx(-0.2) and r["high"] == pytest.approx(-0.2)
    with pytest.raises(SimilarityError, match="no pairs"):
        seed_bootstrap(df, "X", "Z")
    # one group: its mean; the draws come back on request, one per kept resample
    r = seed_bootstrap(flat, "Y", None, resamples=50, return_draws=True)
    assert r["difference"] == pytest.approx(0.3) and len(r["draws"]) == r["resamples"]
    assert np.allclose(r["draws"], 0.3)
    r = seed_bootstrap(df, "X", None, resamples=200, return_draws=True)
    # resampled means of X's pairs lie between its smallest and largest pair value
    assert r["draws"].min() >= 0.11 - 1e-12 and r["draws"].max() <= 0.13 + 1e-12
    # as claims evidence: the same draws, shifted; one seed per configuration gives no uncertainty
    from pctlib.landscape.similarity import seed_evidence

    ev = seed_evidence(df, "X", "Y", "d", shift=0.05, resamples=300)
    assert ev.estimate == pytest.approx(-0.15) and len(ev.draws) > 0 and max(ev.draws) < -0.05
    # two seeds per configuration leave one within pair each, repeated by every resample: no uncertainty either
    two = df[(df["seed_a"] == 0) & (df["seed_b"] == 1)]
    ev = seed_evidence(two, "X", "Y", "d", shift=0.05)
    assert np.isnan(ev.se)  # but its estimate is the plain difference of the group means, by hand
    assert ev.estimate == pytest.approx(two[two.group == "X"].d.mean() - two[two.group == "Y"].d.mean() - 0.05)
    one = pd.DataFrame([{"conf_a": "X", "seed_a": 0, "conf_b": "Y", "seed_b": 0, "group": "A", "d": 0.1}])
    ev = seed_evidence(one, "A", None, "d")
    assert np.isnan(ev.se) and ev.estimate == pytest.approx(0.1)
    assert np.isnan(seed_evidence(one, "A", "B", "d").estimate)  # an empty group: nothing to estimate


def test_released_cka_protocol_against_brute_force_hsic_of_every_layer_pair(data):
    """released_cka with one minibatch per module (rows_cap = batch = 8): every (layer of a, layer of b) entry equals
    the CKA of the first 8 rows' outputs from brute-force U-statistics; a layer that never runs (phi_r1.lin0,
    whose product is computed without calling it) is left out; a model against itself has ones on the diagonal."""
    from pctlib.landscape.similarity import MODULES, module_layers, released_cka
    from pctlib.models.interaction_network import EdgeScorer, ModelConfig

    tr, _, norm = data
    g = tr[0]

    def tiny(seed):
        torch.manual_seed(seed)
        m = EdgeScorer(ModelConfig(hidden=4, encoding_dim=4, n_layers=2), norm["x_mean"], norm["x_std"]).train()
        with torch.no_grad():
            m.logits(g.x, g.edge_index, g.edge_u)
        return m.eval()

    a, b = tiny(0), tiny(1)
    got = released_cka(a, b, [g], rows_cap=8, batch=8, repeats=1)
    seen = {}
    for tag, model in (("a", a), ("b", b)):
        mods = dict(model.named_modules())
        hs = [mods[n].register_forward_hook(
            lambda _m, _i, out, key=(tag, n): seen.__setitem__(key, out.detach()[:8].double().reshape(8, -1).numpy()))
            for m in MODULES for n in module_layers(model, m)]
        with torch.no_grad():
            model.logits(g.x, g.edge_index, g.edge_u)
        for h in hs:
            h.remove()
    assert "phi_r1.lin0" not in got["phi_r1"].index and "phi_r1.lin0_out" in got["phi_r1"].index
    for m in MODULES:
        table = got[m]
        assert list(table.index) == [n for n in module_layers(a, m) if ("a", n) in seen]
        for na in table.index:
            for nb in table.columns:
                xa, xb = seen[("a", na)], seen[("b", nb)]
                want = brute_hsic(xa, xb) / np.sqrt(brute_hsic(xa, xa) * brute_hsic(xb, xb))
                # two float32 forward passes may differ in the last bits (threaded scatters); HSIC's cancellations
                # magnify that to ~1e-6 relative
                assert table.loc[na, nb] == pytest.approx(want, rel=1e-5, abs=1e-8), (m, na, nb)
    # one minibatch holds all its rows whatever the shuffle: more repeats give the same value
    again = released_cka(a, b, [g], rows_cap=8, batch=8, repeats=3, seed=5)
    for m in MODULES:
        np.testing.assert_allclose(again[m].to_numpy(), got[m].to_numpy(), rtol=1e-5)
    same = released_cka(a, a, [g], rows_cap=64, batch=16, repeats=2)
    for m in MODULES:
        np.testing.assert_allclose(np.diag(same[m].to_numpy()), 1.0, rtol=1e-10)


def test_hsic_from_features_equals_the_u_statistic():
    from pctlib.landscape.similarity import _BlockTerms

    rng = np.random.default_rng(2)
    x = rng.standard_normal((9, 3)) + 2.0
    y = x @ rng.standard_normal((3, 4)) + rng.standard_normal((9, 4))
    z = rng.standard_normal((9, 2))
    tx, ty = _BlockTerms([torch.as_tensor(x), torch.as_tensor(z)]), _BlockTerms([torch.as_tensor(y)])
    cross = tx.cross_hsic(ty)  # (layers of tx) x (layers of ty), from the features alone
    assert cross.shape == (2, 1)
    assert cross[0, 0] == pytest.approx(brute_hsic(x, y), rel=1e-10)
    assert cross[1, 0] == pytest.approx(hsic_unbiased(gram(z), gram(y)), rel=1e-10)
    assert tx.self_hsic == pytest.approx([brute_hsic(x, x), brute_hsic(z, z)], rel=1e-10)
    with pytest.raises(SimilarityError, match="at least 4"):
        _BlockTerms([torch.as_tensor(x[:3])])
