"""The claims rule (pctlib.claims): hand cases at the margins, one-sided against two-sided tests (scipy's Welch test
as the reference), noise larger than the margin, Holm's correction computed by hand, bootstrap draws."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from pctlib.claims import Claim, ClaimError, Evidence, decide


def verdict(kind, evidence, bound=0.0, **kw):
    return decide([Claim("c", kind, evidence, bound)], **kw)["verdict"].iloc[0]


def test_directional_claims_agree_disagree_or_cannot_tell():
    assert verdict("greater", Evidence.normal(2.0, 0.5)) == "agree"  # z = 4
    assert verdict("greater", Evidence.normal(0.5, 1.0)) == "cannot tell"  # z = 0.5, p = 0.31
    assert verdict("greater", Evidence.normal(-3.0, 1.0)) == "disagree"  # the other one-sided test, p = 0.0013
    assert verdict("less", Evidence.normal(-3.0, 1.0)) == "agree"
    assert verdict("less", Evidence.normal(3.0, 1.0)) == "disagree"
    # a threshold other than zero: 2 ± 0.5 is not significantly above 1.5, and significantly below 4
    assert verdict("greater", Evidence.normal(2.0, 0.5), bound=1.5) == "cannot tell"
    assert verdict("greater", Evidence.normal(2.0, 0.5), bound=4.0) == "disagree"


def test_the_one_sided_p_value_at_the_bound_of_the_level():
    # z = 1.645 gives p = 0.04998 (agree), z = 1.64 gives 0.0505 (cannot tell): the test is one-sided at 5 %
    assert decide([Claim("c", "greater", Evidence.normal(1.645, 1.0))])["p_agree"].iloc[0] == pytest.approx(
        0.049985, abs=1e-5)
    assert verdict("greater", Evidence.normal(1.645, 1.0)) == "agree"
    assert verdict("greater", Evidence.normal(1.64, 1.0)) == "cannot tell"


def test_equivalence_needs_the_whole_interval_inside_the_margin():
    # within 1 point: -0.7 with a noise of 4.8 decides nothing (the case of 05's "PAT as pure as PTT")
    assert verdict("within", Evidence.normal(-0.7, 4.8), bound=1.0) == "cannot tell"
    # 0.1 +- 0.2: both one-sided tests reject (p = max(sf(5.5), cdf(-4.5)) = 3.4e-6)
    row = decide([Claim("c", "within", Evidence.normal(0.1, 0.2), 1.0)]).iloc[0]
    assert row["p_agree"] == pytest.approx(stats.norm.cdf(-4.5), rel=1e-9) and row["verdict"] == "agree"
    # 3 +- 0.5 lies outside the margin: disagree, on the side of the estimate; so does -3
    assert verdict("within", Evidence.normal(3.0, 0.5), bound=1.0) == "disagree"
    assert verdict("within", Evidence.normal(-3.0, 0.5), bound=1.0) == "disagree"
    # an estimate exactly at the margin cannot be told either way
    assert verdict("within", Evidence.normal(1.0, 0.1), bound=1.0) == "cannot tell"
    with pytest.raises(ClaimError, match="positive margin"):
        Claim("c", "within", Evidence.normal(0.0, 1.0), 0.0)
    with pytest.raises(ClaimError, match="kind must be"):
        Claim("c", "bigger", Evidence.normal(0.0, 1.0))


def test_welch_evidence_gives_scipys_one_sided_p_values_and_a_directional_claim_uses_one_side():
    """A directional claim is tested one-sided: with a two-sided p just above 5 % the one-sided p is half of it."""
    a = np.array([80.1, 81.3, 79.2, 80.7, 80.0])  # PAT purity per seed
    b = np.array([81.0, 82.4, 81.9, 82.8, 81.1])  # PTT
    ev = Evidence.welch(a, b)
    ref_less = stats.ttest_ind(a, b, equal_var=False, alternative="less").pvalue
    ref_two = stats.ttest_ind(a, b, equal_var=False).pvalue
    row = decide([Claim("PAT at least as pure as PTT", "greater", ev, 0.0)]).iloc[0]
    assert row["p_disagree"] == pytest.approx(ref_less, rel=1e-9)
    assert row["p_agree"] == pytest.approx(1 - ref_less, rel=1e-9)
    assert ref_two == pytest.approx(2 * ref_less, rel=1e-9)
    assert row["verdict"] == ("disagree" if ref_less < 0.05 else "cannot tell")
    assert ref_less < 0.05  # the data were chosen so that the one-sided test decides
    # fewer than two values on a side: no uncertainty, no verdict
    assert verdict("greater", Evidence.welch([80.0], b)) == "cannot tell"


def test_holm_over_a_family_by_hand():
    def ev(p):  # evidence whose one-sided p for "greater than 0" is p
        return Evidence.normal(stats.norm.isf(p), 1.0)

    table = decide([Claim(f"c{i}", "greater", ev(p)) for i, p in enumerate([0.01, 0.04, 0.045])])
    # sorted p: 0.01, 0.04, 0.045 -> 3 x 0.01 = 0.03; max(0.03, 2 x 0.04) = 0.08; max(0.08, 0.045) = 0.08
    np.testing.assert_allclose(table["p_holm"], [0.03, 0.08, 0.08], rtol=1e-9)
    assert list(table["verdict"]) == ["agree", "cannot tell", "cannot tell"]
    uncorrected = decide([Claim(f"c{i}", "greater", ev(p)) for i, p in enumerate([0.01, 0.04, 0.045])], holm=False)
    assert list(uncorrected["verdict"]) == ["agree", "agree", "agree"]
    # a claim without uncertainty neither counts in the family nor gets a verdict
    table = decide([Claim("a", "greater", ev(0.02)), Claim("b", "greater", Evidence.normal(1.0, math.nan))])
    assert table["p_holm"].iloc[0] == pytest.approx(0.02) and list(table["verdict"]) == ["agree", "cannot tell"]


def test_bootstrap_draws_give_the_share_beyond_the_bound():
    draws = np.array([-0.01] * 3 + [0.02] * 97)
    row = decide([Claim("c", "greater", Evidence.bootstrap(0.02, draws))]).iloc[0]
    assert row["p_agree"] == pytest.approx(0.03) and row["p_disagree"] == pytest.approx(0.97)
    assert row["verdict"] == "agree"
    # the (1 - 2 alpha) interval is the 5 % and 95 % quantiles of the draws
    assert (row["low"], row["high"]) == (pytest.approx(np.quantile(draws, 0.05)), pytest.approx(0.02))
    # a bootstrap interval straddling the margin of an equivalence claim: cannot tell
    spread = np.linspace(-0.02, 0.12, 101)
    assert verdict("within", Evidence.bootstrap(0.05, spread), bound=0.1) == "cannot tell"
    assert verdict("greater", Evidence.bootstrap(0.055, np.linspace(0.010, 0.113, 200))) == "agree"


def test_seeds_and_frames_adds_the_two_noises_by_hand():
    a = np.array([[0.9, 0.8, 0.7, 0.95], [0.85, 0.75, 0.8, 0.9], [0.8, 0.9, 0.6, 0.85]])  # 3 seeds x 4 frames
    b = np.array([[0.8, 0.7, 0.75, 0.9]])  # one model (the follower) on the same frames
    ev = Evidence.seeds_and_frames(a, b)
    d_f = a.mean(0) - b[0]
    seed_means = a.mean(1)
    var_frames, var_seeds = d_f.var(ddof=1) / 4, seed_means.var(ddof=1) / 3
    assert ev.estimate == pytest.approx(a.mean() - b.mean())
    assert ev.se == pytest.approx(math.sqrt(var_frames + var_seeds))
    assert ev.dof == pytest.approx((var_frames + var_seeds) ** 2 / (var_frames ** 2 / 3 + var_seeds ** 2 / 2))
    # one seed on each side: the frames alone (the paired t-test's standard error)
    one = Evidence.seeds_and_frames(a[:1], b)
    assert one.se == pytest.approx(stats.ttest_rel(a[0], b[0]).statistic ** -1 * (a[0] - b[0]).mean())
    with pytest.raises(ClaimError, match="frames"):
        Evidence.seeds_and_frames(a, b[:, :3])


def test_spread_draws_give_the_chi_square_test():
    """sd 1.5 from 5 seeds against a bound of 1: the p of sigma <= 1 is the chi-square tail at 4 x 1.5^2 / 1."""
    from pctlib.claims import std_draws

    draws = std_draws(1.5, 5, size=200000, seed=1)
    row = decide([Claim("spread above 1", "greater", Evidence.bootstrap(1.5, draws), 1.0)]).iloc[0]
    assert row["p_agree"] == pytest.approx(stats.chi2.sf(4 * 1.5 ** 2, 4), abs=3e-3)
    assert np.isnan(std_draws(1.0, 1)).all()


def test_resampled_units_bootstrap():
    ev = Evidence.resampled([0.9, 0.85, 0.95, 0.92], resamples=500, seed=3)
    assert ev.estimate == pytest.approx(np.mean([0.9, 0.85, 0.95, 0.92]))
    assert min(ev.draws) >= 0.85 and max(ev.draws) <= 0.95 and len(ev.draws) == 500
    assert verdict("greater", ev, bound=0.8) == "agree"
    assert verdict("greater", Evidence.resampled([0.9, 0.1, 0.95, 0.5]), bound=0.8) == "cannot tell"
    # too few units: no uncertainty; a custom statistic over the units
    assert math.isnan(Evidence.resampled([0.9, 0.95]).se)
    ev = Evidence.resampled([1.0, 2.0, 3.0], statistic=max, shift=1.0)
    assert ev.estimate == 2.0 and max(ev.draws) == 2.0
