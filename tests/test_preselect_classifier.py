"""The hit classifier: operating point against brute force, removal rates and AUC by hand, class weighting, the
trained classifiers on simulated noise, and the round trip of a saved classifier."""

import math

import numpy as np
import pytest

from pctlib.preselect.classifier import (ClassifierConfig, ClassifierError, HitClassifier, calibration_split,
                                         fit_classifier, operating_threshold, reject_labels, removal_rates, roc)
from pctlib.preselect.features import FEATURES


def brute_force_point(scores, primary, max_loss):
    """Over every threshold that changes the removal (each score and -inf), the most non-primary hits removed with
    at most max_loss of the primaries removed (removal: score > t); returns (removed non-primary count, t)."""
    best = None
    for t in [-math.inf, *sorted(set(scores.tolist()))]:
        removed = scores > t
        if removed[primary].mean() <= max_loss + 1e-12:
            n = int(removed[~primary].sum())
            if best is None or n > best[0]:
                best = (n, t)
    return best


@pytest.mark.parametrize("seed", range(6))
def test_operating_threshold_is_the_brute_force_optimum(seed):
    rng = np.random.default_rng(seed)
    n = 600
    primary = rng.random(n) < 0.7
    # ties on purpose: scores on a coarse grid
    scores = np.round(np.where(primary, rng.normal(0, 1, n), rng.normal(1.5, 1, n)), 1)
    for max_loss in (0.0, 0.005, 0.05, 0.3):
        t = operating_threshold(scores, primary, max_loss)
        removed = scores > t
        assert removed[primary].mean() <= max_loss + 1e-12
        assert int(removed[~primary].sum()) == brute_force_point(scores, primary, max_loss)[0]


def test_operating_threshold_hand_case_and_edges():
    s = np.array([0.1, 0.2, 0.3, 0.9, 0.8])
    prim = np.array([True, True, True, False, False])
    # at most 1/3 of the primaries may go: remove the primary at 0.3 and everything above it
    assert operating_threshold(s, prim, 1 / 3) == 0.2
    assert operating_threshold(s, prim, 0.0) == 0.3
    assert operating_threshold(s, np.zeros(5, bool)) == -math.inf  # no primary: everything may go


def test_removal_rates_and_auc_by_hand():
    # classes: 0 primary, 1 secondary, 2 noise
    classes = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.6, 0.2, 0.9, 0.8])
    r = removal_rates(scores, classes, 0.5)
    assert r["primary_loss"] == 0.25 and r["secondary_rejection"] == 0.5 and r["noise_rejection"] == 1.0
    assert r["non_primary_rejection"] == 0.75 and r["kept_fraction"] == 0.5
    assert math.isnan(removal_rates(scores[:4], classes[:4], 0.5)["noise_rejection"])
    # AUC = P(score of a non-primary > score of a primary), ties counted one half: 16 pairs by hand
    pos, neg = scores[classes != 0], scores[classes == 0]
    want = np.mean([(p > q) + 0.5 * (p == q) for p in pos for q in neg])
    assert roc(scores, classes)["auc"] == pytest.approx(want)
    assert want == pytest.approx(12.5 / 16)
    assert math.isnan(roc(scores[:4], classes[:4])["auc"])


def toy(n, frac_pos, seed, shift=1.0):
    rng = np.random.default_rng(seed)
    x = np.abs(rng.normal(0, 1, (n, len(FEATURES))))
    y = (rng.random(n) < frac_pos).astype(int)
    x[:, 0] += shift * y  # deposit: larger for the rejected class
    return x, np.where(y == 1, 2, 0)


def test_class_weighting_balances_the_rare_class():
    x, c = toy(4000, 0.05, 0)
    clf = fit_classifier(x, c, ClassifierConfig(kind="fcnn", epochs=15, batch_size=256, hidden=16, depth=1), progress=False)
    s = clf.scores(x)
    # with the rare class's terms scaled by the class ratio, its hits score above 1/2 on average; plain BCE would
    # push every score towards the 5 % prior
    assert s[c == 2].mean() > 0.5
    assert s[c == 2].mean() - s[c == 0].mean() > 0.1


@pytest.mark.parametrize("kind", ["fcnn", "gbdt"])
def test_fit_is_deterministic_meets_its_operating_point_and_round_trips(kind):
    x, c = toy(3000, 0.3, 1, shift=3.0)
    cfg = ClassifierConfig(kind=kind, epochs=10, batch_size=256, lr=1e-2, hidden=16, depth=2, iterations=30)
    a = fit_classifier(x, c, cfg, progress=False)
    b = fit_classifier(x, c, cfg, progress=False)
    np.testing.assert_array_equal(a.scores(x), b.scores(x))
    assert a.digest() == b.digest()
    # the threshold is the operating point of the held-out rows, not of the fitted ones
    held = calibration_split(len(c), None, cfg.calibration, cfg.seed)
    assert a.info["calibration_hits"] == held.sum() == round(0.25 * len(c))
    assert a.threshold == operating_threshold(a.scores(x[held]), c[held] == 0, cfg.max_primary_loss)
    r = removal_rates(a.scores(x[held]), c[held], a.threshold)
    assert r["primary_loss"] <= cfg.max_primary_loss and r["noise_rejection"] > 0.5
    assert roc(a.scores(x), c)["auc"] > 0.95
    back = HitClassifier.from_bytes(a.to_bytes())
    np.testing.assert_array_equal(back.scores(x), a.scores(x))
    assert back.threshold == a.threshold and back.digest() == a.digest()


def test_bad_settings_and_training_sets_are_named():
    with pytest.raises(ClassifierError, match="kind"):
        ClassifierConfig(kind="svm")
    with pytest.raises(ClassifierError, match="max_primary_loss"):
        ClassifierConfig(max_primary_loss=1.0)
    x, c = toy(50, 0.3, 2)
    with pytest.raises(ClassifierError, match="both primary and non-primary"):
        fit_classifier(x, np.zeros(50, int), progress=False)
    with pytest.raises(ClassifierError, match="two frames"):
        fit_classifier(x, c, progress=False, groups=np.zeros(50, int))
    with pytest.raises(ClassifierError, match="features"):
        fit_classifier(x[:, :3], c, progress=False)
    assert reject_labels(np.array([0, 1, 2])).tolist() == [0, 1, 1]


def test_calibration_split_by_frames():
    groups = np.repeat(np.arange(8), 5)
    held = calibration_split(40, groups, 0.25, 0)
    # whole frames: 2 of the 8, every row of each
    assert held.sum() == 10 and len(np.unique(groups[held])) == 2
    assert all(held[groups == g].all() or not held[groups == g].any() for g in range(8))
    assert calibration_split(40, np.repeat([0, 1], 20), 0.9, 0).sum() == 20  # one frame always left to fit
