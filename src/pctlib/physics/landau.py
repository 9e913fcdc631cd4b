"""Landau's distribution of the energy deposited in a thin layer, sampled through a tabulated inverse CDF.

In Landau's variable lambda = (Delta - Delta_p) / xi + lambda_p the distribution of the deposit Delta in a thin
layer is the universal Landau density, with its most probable value lambda_p = -0.22278 and its full width at half
maximum 4.018 (Landau 1944; PDG review "Passage of particles through matter"). ``scipy.stats.landau`` gives the
same law in the parametrisation of stable distributions (another location and a scale of 2/pi); the module maps it
to Landau's variable by matching mode and width, measured on a fine grid, and tabulates lambda against
t = logit(u) on a uniform t grid (dense in both tails), so a sample is one uniform variate and one linear
interpolation, the same code on CPU and GPU.

The deposit is then Delta = Delta_p + xi (lambda - lambda_p), with Delta_p and xi from the Landau-Vavilov-Bichsel
formulas (``transport._landau_deposit``). Landau's tail has no mean; the real one ends because no collision
transfers more than T_max. :func:`sample_lambda` therefore draws from the distribution truncated at the quantile
u_c whose truncated mean is a given one (the mean energy loss of the step, from the range tables): the deposit's
mode and width stay Landau's, its mean is the Bethe mean loss (tested against PSTAR). Compared with the Moyal
approximation used before (same mode and width by construction), the tail is heavier: the median deposit lies
~1.6 xi above the most probable one instead of 0.88 xi, and the mean is no longer ~26 % short of the mean loss.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

LAMBDA_MODE = -0.22278  # most probable value of Landau's lambda
LAMBDA_FWHM = 4.018  # full width at half maximum of Landau's density
T_MAX = 16.0  # the table covers u = 1 / (1 + exp(-t)) for |t| <= T_MAX (u within 1.1e-7 of 0 and 1)


TABLE_POINTS = 8001
#: the table as shipped with the package (data only: arrays read with ``allow_pickle=False``), so that a
#: simulation neither imports ``scipy.stats`` (seconds) nor depends on the scipy build it runs with;
#: ``tests/test_stopping.py`` checks it against :func:`compute_table`
SHIPPED_TABLE = Path(__file__).with_name("data") / "landau_table.npz"


def compute_table(points: int = TABLE_POINTS) -> tuple[np.ndarray, float, float]:
    """lambda on the uniform t grid, and the mode and width of ``scipy.stats.landau`` measured on a fine grid."""
    from scipy import stats

    x = np.linspace(-3.0, 6.0, 180001)
    pdf = stats.landau.pdf(x)
    mode = float(x[np.argmax(pdf)])
    above = x[pdf >= 0.5 * pdf.max()]
    width = float(above[-1] - above[0])
    t = np.linspace(-T_MAX, T_MAX, points)
    u = 1.0 / (1.0 + np.exp(-t))
    lam = (stats.landau.ppf(u) - mode) * (LAMBDA_FWHM / width) + LAMBDA_MODE
    return lam, mode, width


def write_table(path: str | Path = SHIPPED_TABLE) -> None:
    """Write :func:`compute_table` to ``path`` (whole or not at all)."""
    import io

    from ..fileio import write_bytes_atomic

    lam, mode, width = compute_table()
    buf = io.BytesIO()
    np.savez(buf, lam=lam, mode=np.float64(mode), width=np.float64(width), t_max=np.float64(T_MAX))
    write_bytes_atomic(path, buf.getvalue())


@lru_cache(maxsize=1)
def _table() -> tuple[np.ndarray, float, float]:
    """The shipped table (computed when it is missing or was made for another grid)."""
    if SHIPPED_TABLE.is_file():
        with np.load(SHIPPED_TABLE, allow_pickle=False) as z:
            if z["lam"].shape == (TABLE_POINTS,) and float(z["t_max"]) == T_MAX:
                return np.array(z["lam"]), float(z["mode"]), float(z["width"])
    return compute_table()


def _truncated_means() -> tuple[np.ndarray, np.ndarray]:
    """(u_c, mean of lambda over u < u_c) on the table's grid: increasing in u_c."""
    lam = _table()[0]
    t = np.linspace(-T_MAX, T_MAX, lam.size)
    u = 1.0 / (1.0 + np.exp(-t))
    cum = np.concatenate([[lam[0] * u[0]], lam[0] * u[0] + np.cumsum(0.5 * (lam[1:] + lam[:-1]) * np.diff(u))])
    return u, cum / u


@lru_cache(maxsize=8)
def _torch_table(device: str, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    u, means = _truncated_means()
    start = int(np.argmin(means))  # below it the truncated mean is not monotone (the far left tail)
    return (torch.as_tensor(_table()[0], device=device, dtype=dtype),
            torch.as_tensor(means[start:], device=device, dtype=dtype),
            torch.as_tensor(u[start:], device=device, dtype=dtype))


def sample_lambda(shape, generator: torch.Generator, like: torch.Tensor,
                  mean: torch.Tensor | None = None) -> torch.Tensor:
    """Landau variates in Landau's variable lambda (mode -0.22278, FWHM 4.018), shaped ``shape``; with ``mean``
    (per variate, in lambda units) drawn from the distribution truncated so that its mean is ``mean``."""
    tab, means, u_of_mean = _torch_table(str(like.device), like.dtype)
    u = torch.rand(shape, generator=generator, device=like.device, dtype=like.dtype)
    if mean is not None:
        m = mean.to(like.dtype).clamp(float(means[0]), float(means[-1]))
        j = torch.searchsorted(means, m.contiguous()).clamp(1, means.numel() - 1)
        f = (m - means[j - 1]) / (means[j] - means[j - 1])
        u = u * (u_of_mean[j - 1] + f * (u_of_mean[j] - u_of_mean[j - 1]))
    u = u.clamp(1e-12, 1 - 1e-12)
    t = torch.log(u) - torch.log1p(-u)
    pos = ((t + T_MAX) / (2 * T_MAX) * (tab.numel() - 1)).clamp(0.0, tab.numel() - 1.000001)
    i = pos.long()
    f = pos - i
    return tab[i] + f * (tab[i + 1] - tab[i])
