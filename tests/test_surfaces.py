"""Loss surfaces: a known quadratic's surface, filter normalisation against its definition, the grid."""

import numpy as np
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
