"""One rule for every chapter's claims table: agree, disagree or cannot tell, from an estimate, its uncertainty and
the claim's margin.

A claim of the paper is a statement about a quantity θ that we estimate (a difference of purities, of CKA, of
losses; always in the units the claim speaks of). Three kinds:

- ``greater``: θ > threshold ("PAT is purer than PTT": θ = purity(PAT) − purity(PTT), threshold 0);
- ``less``: θ < threshold;
- ``within``: |θ| ≤ margin ("almost identical", "within 1 point": an equivalence claim).

Each kind has two one-sided tests, one for each verdict, at level α:

===========  =================================================  ==================================================
kind         agree when the data show                            disagree when the data show
===========  =================================================  ==================================================
greater      θ > threshold (H0: θ ≤ threshold rejected)          θ < threshold (H0: θ ≥ threshold rejected)
less         θ < threshold                                       θ > threshold
within       −margin < θ < margin (both one-sided tests, TOST)   θ > margin or θ < −margin (the side of the estimate)
===========  =================================================  ==================================================

and otherwise *cannot tell*: a verdict must clear the noise, so a difference smaller than its uncertainty decides
nothing, and an equivalence whose uncertainty is wider than its margin cannot be agreed with. The p-values come from
the estimate's distribution: Student's t with the standard error and degrees of freedom given (:meth:`Evidence.welch`
builds them for two samples), or the draws of a bootstrap (:meth:`Evidence.bootstrap`: the share of draws on the
other side of the bound). Within a chapter's family of claims the decisive p-value of each (the smaller of the two)
is corrected by Holm's step-down method (statsmodels); a claim keeps its verdict only if its corrected p is below α.
:func:`decide` returns the table with every input as a column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

KINDS = ("greater", "less", "within")
ALPHA = 0.05


class ClaimError(ValueError):
    """A claim that cannot be decided as asked (unknown kind, negative margin, no uncertainty given)."""


@dataclass(frozen=True)
class Evidence:
    """What we know about θ: its estimate and either a standard error (with degrees of freedom; None: normal) or
    bootstrap draws. ``method`` says which, in words, for the table."""

    estimate: float
    se: float = math.nan
    dof: float | None = None
    draws: tuple[float, ...] = field(default=(), repr=False)
    method: str = ""

    @classmethod
    def normal(cls, estimate: float, se: float, dof: float | None = None, method: str = "") -> "Evidence":
        return cls(float(estimate), float(se), None if dof is None else float(dof), (),
                   method or ("standard error" + (f", t with {dof:.1f} dof" if dof is not None else ", normal")))

    @classmethod
    def welch(cls, a, b, method: str = "") -> "Evidence":
        """θ = mean(a) − mean(b) of two independent samples (e.g. seeds), Welch's standard error and
        Welch–Satterthwaite degrees of freedom; NaN uncertainty with fewer than two values on a side."""
        a, b = np.asarray(a, float), np.asarray(b, float)
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        if a.size == 0 or b.size == 0:
            return cls(math.nan, math.nan, None, (), method or "Welch (no values)")
        est = float(a.mean() - b.mean())
        if a.size < 2 or b.size < 2:
            return cls(est, math.nan, None, (), method or f"Welch ({a.size} vs {b.size} values: no uncertainty)")
        va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
        se = math.sqrt(va + vb)
        dof = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1)) if va + vb > 0 else math.inf
        return cls(est, se, dof, (), method or f"Welch over {a.size} vs {b.size} values")

    @classmethod
    def seeds_and_frames(cls, a, b=None, method: str = "") -> "Evidence":
        """θ = mean(a) − mean(b) where ``a`` (seeds × frames) and ``b`` (seeds × the same frames, or None for 0)
        hold a metric per trained model and test frame: a difference between configurations measured on one test
        set. Two independent sources of noise add: the seeds (training), var(seed means) / seeds on each side with
        more than one seed, and the test frames, var(d_f) / frames of the per-frame difference d_f of the seed
        means (frames are shared, so this term is paired). Degrees of freedom by Welch–Satterthwaite. NaN values
        (a frame without tracks) are left out of the means."""
        a = np.atleast_2d(np.asarray(a, float))
        b = None if b is None else np.atleast_2d(np.asarray(b, float))
        if b is not None and b.shape[1] != a.shape[1]:
            raise ClaimError(f"the two configurations were measured on {a.shape[1]} and {b.shape[1]} frames")
        d_f = np.nanmean(a, axis=0) - (np.nanmean(b, axis=0) if b is not None else 0.0)
        d_f = d_f[np.isfinite(d_f)]
        if d_f.size == 0:
            return cls(math.nan, math.nan, None, (), method or "no frames")
        est = float(d_f.mean())
        terms = []  # (variance term, its degrees of freedom)
        if d_f.size > 1:
            terms.append((d_f.var(ddof=1) / d_f.size, d_f.size - 1))
        for side in (a, b):
            if side is not None and side.shape[0] > 1:
                means = np.nanmean(side, axis=1)
                terms.append((means.var(ddof=1) / means.size, means.size - 1))
        if not terms:
            return cls(est, math.nan, None, (), method or "one frame, one seed: no uncertainty")
        var = sum(v for v, _ in terms)
        dof = var ** 2 / sum(v ** 2 / k for v, k in terms) if var > 0 else math.inf
        seeds = f"{a.shape[0]}" + (f" vs {b.shape[0]}" if b is not None else "")
        return cls(est, math.sqrt(var), dof, (), method or f"seeds ({seeds}) and {d_f.size} frames")

    @classmethod
    def bootstrap(cls, estimate: float, draws, method: str = "") -> "Evidence":
        d = np.asarray(draws, float)
        d = d[np.isfinite(d)]
        return cls(float(estimate), float(d.std(ddof=1)) if d.size > 1 else math.nan, None, tuple(d.tolist()),
                   method or f"bootstrap, {d.size} draws")

    @classmethod
    def resampled(cls, units, statistic=None, shift: float = 0.0, resamples: int = 2000, seed: int = 0,
                  min_units: int = 3, method: str = "") -> "Evidence":
        """θ = statistic(units) − ``shift`` with a bootstrap over the independent units (trained models, surfaces):
        ``units`` resampled with replacement, ``statistic`` (default: the mean of numbers) of each resample. No
        uncertainty with fewer than ``min_units`` units (a bootstrap of one or two units has no spread to show)."""
        units = list(units)
        stat = statistic or (lambda xs: float(np.mean(xs)))
        if not units:
            return cls(math.nan, math.nan, None, (), method or "no units")
        est = float(stat(units)) - shift
        if len(units) < min_units:
            return cls(est, math.nan, None, (), method or f"{len(units)} unit(s): no uncertainty")
        rng = np.random.default_rng(seed)
        draws = [float(stat([units[i] for i in rng.integers(0, len(units), len(units))])) - shift
                 for _ in range(resamples)]
        d = np.asarray(draws)
        d = d[np.isfinite(d)]
        return cls(est, float(d.std(ddof=1)) if d.size > 1 else math.nan, None, tuple(d.tolist()),
                   method or f"bootstrap over {len(units)} units, {d.size} resamples")

    def p_greater(self, bound: float) -> float:
        """p-value of H0: θ ≤ bound against θ > bound."""
        if self.draws:
            return float(np.mean(np.asarray(self.draws) <= bound))
        return self._tail((self.estimate - bound), upper=True)

    def p_less(self, bound: float) -> float:
        """p-value of H0: θ ≥ bound against θ < bound."""
        if self.draws:
            return float(np.mean(np.asarray(self.draws) >= bound))
        return self._tail((self.estimate - bound), upper=False)

    def _tail(self, diff: float, upper: bool) -> float:
        from scipy import stats

        if not (math.isfinite(self.estimate) and math.isfinite(self.se)):
            return math.nan
        if self.se == 0:
            return 0.0 if (diff > 0 if upper else diff < 0) else 1.0
        z = diff / self.se
        dist = stats.norm if self.dof is None or not math.isfinite(self.dof) else stats.t(self.dof)
        return float(dist.sf(z) if upper else dist.cdf(z))

    def interval(self, alpha: float = ALPHA) -> tuple[float, float]:
        """The (1 − 2α) interval: the bounds of the two one-sided tests at level α."""
        if self.draws:
            lo, hi = np.quantile(np.asarray(self.draws), [alpha, 1 - alpha])
            return float(lo), float(hi)
        if not (math.isfinite(self.estimate) and math.isfinite(self.se)):
            return math.nan, math.nan
        from scipy import stats

        q = (stats.norm if self.dof is None or not math.isfinite(self.dof) else stats.t(self.dof)).ppf(1 - alpha)
        return self.estimate - q * self.se, self.estimate + q * self.se


@dataclass(frozen=True)
class Claim:
    """One claim: its words, the paper's figure (for the table), the kind, its threshold (greater, less) or
    margin (within), and our evidence."""

    claim: str
    kind: str
    evidence: Evidence
    bound: float = 0.0
    paper: str = ""
    ours: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ClaimError(f"{self.claim!r}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "within" and not self.bound > 0:
            raise ClaimError(f"{self.claim!r}: a 'within' claim needs a positive margin, got {self.bound!r}")

    def p_values(self) -> tuple[float, float]:
        """(p of the test whose rejection means agree, p of the one whose rejection means disagree)."""
        e, m = self.evidence, self.bound
        if self.kind == "greater":
            return e.p_greater(m), e.p_less(m)
        if self.kind == "less":
            return e.p_less(m), e.p_greater(m)
        agree = max(e.p_greater(-m), e.p_less(m))
        disagree = e.p_greater(m) if e.estimate >= 0 else e.p_less(-m)
        return agree, disagree


def decide(claims: list[Claim], alpha: float = ALPHA, holm: bool = True) -> pd.DataFrame:
    """The claims table of one chapter (one family): per claim its inputs (estimate, the (1 − 2α) interval, the
    uncertainty's method, kind and bound), the two p-values, the decisive one corrected by Holm over the family
    (``holm=False``: uncorrected), and the verdict."""
    from statsmodels.stats.multitest import multipletests

    rows = []
    for c in claims:
        p_agree, p_disagree = c.p_values()
        side = "agree" if (p_agree if math.isfinite(p_agree) else 1) <= (p_disagree if math.isfinite(p_disagree)
                                                                          else 1) else "disagree"
        p = p_agree if side == "agree" else p_disagree
        lo, hi = c.evidence.interval(alpha)
        bound = f"|θ| ≤ {c.bound:g}" if c.kind == "within" else f"θ {'>' if c.kind == 'greater' else '<'} {c.bound:g}"
        rows.append({"claim": c.claim, "paper": c.paper, "ours": c.ours, "test": bound,
                     "estimate": c.evidence.estimate, "low": lo, "high": hi, "uncertainty": c.evidence.method,
                     "p_agree": p_agree, "p_disagree": p_disagree, "side": side, "p": p})
    out = pd.DataFrame(rows, columns=["claim", "paper", "ours", "test", "estimate", "low", "high", "uncertainty",
                                      "p_agree", "p_disagree", "side", "p"])
    finite = out["p"].map(lambda v: isinstance(v, float) and math.isfinite(v)).to_numpy(bool)
    out["p_holm"] = np.nan
    if finite.any():
        ps = out.loc[finite, "p"].to_numpy(float)
        out.loc[finite, "p_holm"] = multipletests(ps, alpha=alpha, method="holm")[1] if holm else ps
    out["verdict"] = [side if math.isfinite(ph) and ph < alpha else "cannot tell"
                      for side, ph in zip(out["side"], out["p_holm"].astype(float))]
    return out.drop(columns=["side"])


def std_draws(s: float, n: int, size: int = 20000, seed: int = 0) -> np.ndarray:
    """Draws of a standard deviation σ given a sample standard deviation ``s`` of ``n`` values (normal model):
    σ = s √((n − 1) / X), X ~ χ²(n − 1) (the fiducial distribution). The share of draws below a bound is the
    p-value of the χ² test of σ ≤ bound, so :meth:`Evidence.bootstrap` on these draws (or on differences of two
    independent sets) tests claims about a spread between seeds. NaN draws for n < 2."""
    if n < 2 or not math.isfinite(s):
        return np.full(size, np.nan)
    x = np.random.default_rng(seed).chisquare(n - 1, size)
    return s * np.sqrt((n - 1) / x)
