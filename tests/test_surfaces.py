"""Loss surfaces: a known quadratic's surface, filter normalisation against its definition, the grid."""

import numpy as np
import pytest
import torch

from pctlib.landscape.surfaces import evaluate_surface, filter_normalised_direction, grid


def test_surface_of_a_known_quadratic():
    # f(θ) = θᵀ A θ, θ* = 0, ν = e1, η = e2: f(α, β) = A11 α² + 2 A12 α β + A22 β²
    a = torch.tensor([[2.0, 0.5, 0.0], [0.5, -1.0, 0.0], [0.0, 0.0, 3.0]], dtype=torch.float64)
    theta = [torch.zeros(3, dtype=torch.float64)]
    nu, eta = [torch.tensor([1.0, 0, 0]).double()], [torch.tensor([0, 1.0, 0]).double()]
    alphas, betas = np.linspace(-1, 1, 5), np.linspace(-2, 2, 7)
    s = evaluate_surface(lambda th: {"f": th[0] @ a @ th[0], "x": th[0][0]}, theta, nu, eta, alphas, betas)
    al, be = np.meshgrid(alphas, betas, indexing="ij")
    assert np.allclose(s["f"], 2 * al ** 2 + 2 * 0.5 * al * be - 1 * be ** 2)
    assert np.allclose(s["x"], al)
    assert len(grid(alphas, betas)) == 35 and grid(alphas, betas)[1] == (0, 1, -1.0, float(betas[1]))


def test_filter_normalised_directions_match_each_filters_norm():
    torch.manual_seed(0)
    theta = [torch.randn(4, 6), torch.randn(4), torch.randn(3, 2, 5)]
    d = filter_normalised_direction(theta, seed=3)
    assert [x.shape for x in d] == [t.shape for t in theta]
    for t, x in ((theta[0], d[0]), (theta[2].reshape(3, -1), d[2].reshape(3, -1))):
        assert torch.allclose(x.norm(dim=1), t.norm(dim=1), rtol=1e-5)
    assert torch.allclose(d[1].abs(), theta[1].abs())
    again = filter_normalised_direction(theta, seed=3)
    other = filter_normalised_direction(theta, seed=4)
    assert all(torch.equal(x, y) for x, y in zip(d, again)) and not torch.equal(d[0], other[0])
    # the direction is random within each filter: not a multiple of the filter itself
    cos = torch.nn.functional.cosine_similarity(d[0], theta[0], dim=1)
    assert (cos.abs() < 0.999).all()


class CountingQuadratic:
    """f(θ) = θᵀ A θ, counting its calls in a file (it may run in worker processes), with a digest for the cache."""

    def __init__(self, a, calls_file=None):
        self.a, self.calls_file = a, calls_file

    def digest(self):
        from pctlib.landscape.cache import digest

        return digest(self.a)

    def __call__(self, theta):
        if self.calls_file is not None:
            with open(self.calls_file, "a") as fh:
                fh.write("x")
        return {"f": float(theta[0] @ self.a @ theta[0])}


def calls(path):
    return len(path.read_text()) if path.exists() else 0


def quadratic_case():
    a = torch.tensor([[2.0, 0.5, 0.0], [0.5, -1.0, 0.0], [0.0, 0.0, 3.0]], dtype=torch.float64)
    theta = [torch.tensor([0.1, 0.0, 0.2], dtype=torch.float64)]
    nu, eta = [torch.tensor([1.0, 0, 0]).double()], [torch.tensor([0, 1.0, 0]).double()]
    return a, theta, nu, eta


def exact(a, theta, nu, eta, alphas, betas):
    out = np.empty((len(alphas), len(betas)))
    for i, x in enumerate(alphas):
        for j, y in enumerate(betas):
            t = theta[0] + x * nu[0] + y * eta[0]
            out[i, j] = float(t @ a @ t)
    return out


def test_cache_reuses_finished_points_for_a_rerun_and_a_larger_grid(tmp_path):
    a, theta, nu, eta = quadratic_case()
    counter = tmp_path / "calls"
    fn = CountingQuadratic(a, counter)
    small = np.linspace(-1, 1, 3)
    s1 = evaluate_surface(fn, theta, nu, eta, small, small, cache_root=tmp_path / "cache")
    assert calls(counter) == 9 and np.allclose(s1["f"], exact(a, theta, nu, eta, small, small))
    s2 = evaluate_surface(fn, theta, nu, eta, small, small, cache_root=tmp_path / "cache")
    assert calls(counter) == 9 and np.array_equal(s1["f"], s2["f"])  # nothing recomputed
    large = np.linspace(-1, 1, 5)  # holds the 3 x 3 points (to rounding in linspace)
    s3 = evaluate_surface(fn, theta, nu, eta, large, large, cache_root=tmp_path / "cache")
    assert calls(counter) == 9 + 16 and np.allclose(s3["f"], exact(a, theta, nu, eta, large, large))
    # other directions, another θ or another metric function: another surface, nothing shared
    evaluate_surface(fn, theta, eta, nu, small, small, cache_root=tmp_path / "cache")
    assert calls(counter) == 34
    evaluate_surface(CountingQuadratic(2 * a, counter), theta, nu, eta, small, small, cache_root=tmp_path / "cache")
    assert calls(counter) == 43
    # a damaged point file is evaluated again, not trusted
    folder = next(p for p in (tmp_path / "cache").iterdir() if len(list(p.glob("*.json"))) == 25)
    victim = sorted(folder.glob("*.json"))[0]
    victim.write_text("{not json")
    s4 = evaluate_surface(fn, theta, nu, eta, large, large, cache_root=tmp_path / "cache")
    assert calls(counter) == 44 and np.allclose(s4["f"], s3["f"])
    assert not list(folder.glob(".*partial"))  # no temporary files left behind


def test_parallel_points_equal_the_sequential_surface(tmp_path):
    a, theta, nu, eta = quadratic_case()
    al, be = np.linspace(-1, 1, 4), np.linspace(-0.5, 0.5, 3)
    fn = CountingQuadratic(a, tmp_path / "calls")
    par = evaluate_surface(fn, theta, nu, eta, al, be, workers=2, cache_root=tmp_path / "cache")
    assert calls(tmp_path / "calls") == 12  # each point once, in the workers
    seq = evaluate_surface(CountingQuadratic(a), theta, nu, eta, al, be)
    assert np.array_equal(par["f"], seq["f"])


def test_basin_width_on_hand_made_surfaces():
    from pctlib.landscape.surfaces import basin_width

    f = np.array([[1.0, 1.05, 1.2], [1.09, 2.0, np.nan]])
    assert basin_width(f) == 3 / 5  # 1.0, 1.05 and 1.09 are within 10 % of 1.0; NaN is not a point
    assert basin_width(f, rel=0.0) == 1 / 5
    assert np.isnan(basin_width(np.full((2, 2), np.nan)))
    assert basin_width(np.zeros((3, 3))) == 1.0


def test_point_metrics_by_hand_and_the_model_left_alone(data):
    from pctlib.assign.batch import assign_scores
    from pctlib.assign.layout import layout_of_graph
    from pctlib.landscape.surfaces import PointMetrics
    from pctlib.models.interaction_network import EdgeScorer, ModelConfig
    from pctlib.training.loop import TrainConfig

    tr, _, norm = data
    torch.manual_seed(0)
    model = EdgeScorer(ModelConfig(hidden=8, encoding_dim=8, n_layers=2), norm["x_mean"], norm["x_std"])
    model.train()
    with torch.no_grad():
        model.logits(tr[2].x, tr[2].edge_index, tr[2].edge_u)  # running statistics away from their start
    before = {k: v.clone() for k, v in model.state_dict().items()}
    frames = [tr[0], tr[1]]
    cfg = TrainConfig(mode="pat", w_tracker=2.0, w_calorimeter=1.0)
    pm = PointMetrics(model, frames, cfg)
    theta = [p.detach().clone() for p in model.parameters()]
    got = pm([t * 1.01 for t in theta])
    # by hand: the model at 1.01 θ in eval mode, the assignment, then each group's mean of |y - t| weighted 2 : 1
    ref = EdgeScorer(model.config, norm["x_mean"], norm["x_std"])
    ref.load_state_dict(before)
    with torch.no_grad():
        for p in ref.parameters():
            p.mul_(1.01)
    ref.eval()
    ham, bce, tp, pos, fp, neg = [], [], 0, 0, 0, 0
    for g in frames:
        with torch.no_grad():
            s = torch.sigmoid(ref.logits(g.x, g.edge_index, g.edge_u)).double().numpy()
        y = assign_scores(s.astype(np.float32), layout_of_graph(g)).astype(float)
        t = g.y.numpy().astype(float)
        tracker = g.hit_x[g.hit_edge_index[0], 4].numpy() < 2
        err = np.abs(y - t)
        ham.append(2.0 * err[tracker].mean() + 1.0 * err[~tracker].mean())
        ell = -(t * np.log(s) + (1 - t) * np.log(1 - s))
        bce.append(2.0 * ell[tracker].mean() + 1.0 * ell[~tracker].mean())
        tp += int(((y == 1) & (t == 1)).sum()); pos += int((t == 1).sum())
        fp += int(((y == 1) & (t == 0)).sum()); neg += int((t == 0).sum())
    assert got["hamming"] == pytest.approx(np.mean(ham), rel=1e-5)
    assert got["bce"] == pytest.approx(np.mean(bce), rel=1e-4)
    assert got["tpr"] == pytest.approx(tp / pos) and got["fpr"] == pytest.approx(fp / neg)
    # BatchNorm statistics, parameters and mode of the caller's model unchanged; the surface through it too
    evaluate_surface(pm, theta, filter_normalised_direction(theta, 1), filter_normalised_direction(theta, 2),
                     [-0.1, 0.0], [0.0])
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    at_star = pm(theta)
    assert at_star == pm(theta)  # deterministic; evaluating elsewhere first does not change it


def test_landscape_summary_is_tidy_and_described_per_configuration():
    from pctlib.landscape.summary import describe, tidy_summary

    s = tidy_summary([("PTT", 0, "trace_bce", 10.0), ("PTT", 1, "trace_bce", 14.0), ("PAT λ=25", 0, "trace_bce", 3),
                      ("PTT", 0, "top_eigenvalue_bce", 2.0)])
    assert list(s.columns) == ["configuration", "seed", "metric", "value"] and s["value"].dtype == float
    d = describe(s)
    row = d[(d["configuration"] == "PTT") & (d["metric"] == "trace_bce")].iloc[0]
    assert (row["mean"], row["std"], row["seeds"]) == (12.0, np.sqrt(8.0), 2)
    assert np.isnan(d[(d["configuration"] == "PAT λ=25")]["std"].iloc[0])
    assert list(dict.fromkeys(d["configuration"])) == ["PTT", "PAT λ=25"]
    with pytest.raises(ValueError, match="given twice"):
        tidy_summary([("PTT", 0, "trace_bce", 1.0), ("PTT", 0, "trace_bce", 2.0)])


class StatefulQuadratic:
    """Writes θ into a buffer of its own, waits, then reads the buffer back: in workers whose contexts shared
    memory, the buffer of one job would be overwritten by the others."""

    def __init__(self, a):
        self.a, self.buf = a, torch.zeros(3, dtype=torch.float64)

    def __call__(self, theta):
        import time

        self.buf.copy_(theta[0])
        time.sleep(0.02)
        return {"f": float(self.buf @ self.a @ self.buf)}


def test_parallel_workers_do_not_share_the_memory_of_their_context():
    a, theta, nu, eta = quadratic_case()
    al = np.linspace(-1, 1, 5)
    par = evaluate_surface(StatefulQuadratic(a), theta, nu, eta, al, al, workers=2)
    assert np.allclose(par["f"], exact(a, theta, nu, eta, al, al), rtol=1e-12)


def test_convex_fraction_of_a_bowl_a_saddle_and_a_ridge():
    from pctlib.landscape.surfaces import convex_fraction

    x = np.linspace(-1, 1, 7)
    al, be = np.meshgrid(x, x, indexing="ij")
    assert convex_fraction(al ** 2 + 0.5 * be ** 2 + 0.3 * al * be) == 1.0  # positive definite
    assert convex_fraction(al ** 2 - be ** 2) == 0.0  # a saddle everywhere
    assert convex_fraction(al ** 2 + be ** 2 + 3 * al * be) == 0.0  # f_aa f_bb < f_ab²: indefinite
    # concave for α > 0: of the interior α = -2/3 ... 2/3, those at -2/3, -1/3 and 0 (f_aa = 0 there) are convex
    assert convex_fraction(np.where(al < 0, al ** 2, -(al ** 2)) + be ** 2) == pytest.approx(3 / 5)
    with pytest.raises(ValueError, match="at least 3 x 3"):
        convex_fraction(np.zeros((2, 5)))


def test_sign_invariant_correlation_sees_through_a_flipped_eigenvector():
    from pctlib.landscape.surfaces import sign_invariant_correlation

    x = np.linspace(-1, 1, 9)
    al, be = np.meshgrid(x, x, indexing="ij")
    f = np.exp(al) + be ** 2 + 0.2 * be
    assert sign_invariant_correlation(f, f[::-1, :]) == pytest.approx(1.0)
    assert sign_invariant_correlation(f, f[::-1, ::-1]) == pytest.approx(1.0)
    assert np.corrcoef(f.ravel(), f[::-1, :].ravel())[0, 1] < 0.5  # plain correlation misses it
    assert sign_invariant_correlation(f, np.exp(be) + al ** 2) < 0.9  # a transposed surface is another one
