"""Exact solution of one assignment block: a maximum-cardinality matching of least total cost.

The cost block C (sources x targets) holds finite non-negative costs on feasible pairs and ``inf`` elsewhere. Any
shape is accepted: empty, rectangular either way, rows or columns without a feasible pair. Infeasible entries are
replaced by a constant M larger than any total of feasible costs (M = 1 + 2 min(n, m) max C), so the solver first
minimises the number of infeasible pairs it must use, which maximises the number of feasible pairs matched, and then
the cost of those; pairs at cost M are dropped from the result. Feasible pairs are never left unmatched in favour
of a cheaper matching of fewer pairs: cardinality comes first, as in the released code's "min-cost maximal matching".

Backends (all Jonker-Volgenant class, all exact): ``scipy`` (``scipy.optimize.linear_sum_assignment``), ``lap``
(``lap.lapjv``) and ``lapjv`` (``lapjv.lapjv``, square matrices: padded with constant rows or columns, which shifts
every complete assignment's cost equally). With ties between equally good matchings, backends may pick different
ones; a given backend is deterministic. ``benchmarks/assign_speed.py`` compares them.
"""

from __future__ import annotations

import numpy as np

BACKENDS = ("lap", "lapjv", "scipy")  # order of preference: lap won benchmarks/assign_speed.py at 100-150 p+/F


class AssignmentError(ValueError):
    """Costs the assignment cannot take (NaN, negative)."""


def available_backends() -> list[str]:
    out = []
    for b in BACKENDS:
        try:
            __import__(b if b != "scipy" else "scipy.optimize")
            out.append(b)
        except ImportError:
            pass
    return out


def default_backend() -> str:
    return available_backends()[0]


def _solve_dense(c: np.ndarray, backend: str) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of an optimal complete assignment of the smaller side of a finite matrix."""
    n, m = c.shape
    if backend == "scipy":
        from scipy.optimize import linear_sum_assignment

        return linear_sum_assignment(c)
    if backend == "lap":
        import lap

        _, x, _ = lap.lapjv(c, extend_cost=n != m)
        rows = np.nonzero(x >= 0)[0]
        return rows, x[rows]
    if backend == "lapjv":
        import lapjv

        k = max(n, m)
        if n != m:
            sq = np.full((k, k), float(c.max()) if c.size else 0.0)
            sq[:n, :m] = c
        else:
            sq = c
        x = np.asarray(lapjv.lapjv(np.ascontiguousarray(sq, dtype=np.float64))[0])
        rows = np.arange(k)
        keep = (rows < n) & (x < m)
        return rows[keep], x[keep]
    raise ValueError(f"unknown backend {backend!r}; available: {', '.join(available_backends())}")


def solve_block(cost: np.ndarray, backend: str | None = None) -> np.ndarray:
    """0/1 matrix of a maximum-cardinality, least-cost matching of one cost block (``inf`` marks infeasible)."""
    c = np.asarray(cost, dtype=np.float64)
    if c.ndim != 2:
        raise AssignmentError(f"cost block must be 2-d, got shape {c.shape}")
    if np.isnan(c).any():
        raise AssignmentError("cost block holds NaN")
    if (c < 0).any():
        raise AssignmentError("cost block holds negative costs" if np.isfinite(c[c < 0]).any() else
                              "cost block holds -inf")
    return match_block(c, backend or default_backend())


def match_block(c: np.ndarray, backend: str) -> np.ndarray:
    """``solve_block`` without input checks (the caller has validated the costs)."""
    out = np.zeros(c.shape, dtype=np.int8)
    if c.size == 0:
        return out
    feasible = np.isfinite(c)
    if not feasible.any():
        return out
    n, m = c.shape
    big = 1.0 + 2.0 * min(n, m) * max(float(c[feasible].max()), 1.0)
    rows, cols = _solve_dense(np.where(feasible, c, big), backend)
    ok = feasible[rows, cols]
    out[rows[ok], cols[ok]] = 1
    return out
