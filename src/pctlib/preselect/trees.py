"""Gradient-boosted trees as plain arrays: the fitted trees of scikit-learn's ``HistGradientBoostingClassifier``
(binary, numerical features) copied into node tables that predict by themselves, so that a trained classifier is
stored and loaded as data (``fileio.pack_arrays``), never as a pickle of the estimator.

A tree is a table of nodes; an inner node sends a sample left when its feature is at most the node's threshold
(a missing value goes the side the node learned), a leaf holds its value; the raw score is the baseline plus the
leaves reached in every tree, and the probability of the positive class is its logistic function, as in
scikit-learn's binary log-loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: the node fields kept (a subset of scikit-learn's predictor record)
NODE_DTYPE = np.dtype([("value", "<f8"), ("feature_idx", "<i8"), ("num_threshold", "<f8"),
                       ("missing_go_to_left", "u1"), ("left", "<u4"), ("right", "<u4"), ("is_leaf", "u1")])


class TreesError(ValueError):
    """An estimator or a node table these trees cannot represent."""


@dataclass
class TreeEnsemble:
    baseline: float
    trees: list[np.ndarray]  # NODE_DTYPE tables, node 0 the root
    n_features: int

    @classmethod
    def from_sklearn(cls, estimator) -> "TreeEnsemble":
        """The trees of a fitted binary ``HistGradientBoostingClassifier`` on numerical features."""
        if len(getattr(estimator, "classes_", [])) != 2:
            raise TreesError("only a fitted binary classifier can be copied")
        trees = []
        for per_iteration in estimator._predictors:
            if len(per_iteration) != 1:
                raise TreesError("expected one tree per boosting iteration (binary classification)")
            nodes = per_iteration[0].nodes
            if nodes["is_categorical"].any():
                raise TreesError("categorical splits are not supported")
            t = np.zeros(len(nodes), NODE_DTYPE)
            for name in NODE_DTYPE.names:
                t[name] = nodes[name]
            trees.append(t)
        return cls(float(np.asarray(estimator._baseline_prediction).ravel()[0]), trees,
                   int(estimator.n_features_in_))

    def check(self) -> None:
        """Refuse node tables that would send a sample out of the table or loop (a damaged or edited file)."""
        for k, t in enumerate(self.trees):
            if t.dtype != NODE_DTYPE or len(t) == 0:
                raise TreesError(f"tree {k}: not a node table")
            inner = t["is_leaf"] == 0
            n = len(t)
            idx = np.arange(n)
            if (inner & ((t["left"] >= n) | (t["right"] >= n) | (t["left"] <= idx) | (t["right"] <= idx))).any():
                raise TreesError(f"tree {k}: a child index outside the table or not after its parent")
            if (inner & ((t["feature_idx"] < 0) | (t["feature_idx"] >= self.n_features))).any():
                raise TreesError(f"tree {k}: a feature index outside 0..{self.n_features - 1}")

    def raw(self, x: np.ndarray) -> np.ndarray:
        """Raw scores (log-odds) of the rows of ``x``."""
        x = np.asarray(x, np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise TreesError(f"expected rows of {self.n_features} features, got shape {x.shape}")
        out = np.full(len(x), self.baseline)
        rows = np.arange(len(x))
        for t in self.trees:
            node = np.zeros(len(x), np.int64)
            while True:  # children come after their parents (checked), so this ends within len(t) rounds
                inner = t["is_leaf"][node] == 0
                if not inner.any():
                    break
                v = x[rows, t["feature_idx"][node].clip(0, self.n_features - 1)]
                left = np.where(np.isnan(v), t["missing_go_to_left"][node] == 1, v <= t["num_threshold"][node])
                node = np.where(inner, np.where(left, t["left"][node], t["right"][node]), node)
            out += t["value"][node]
        return out

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-self.raw(x)))
        return np.stack([1.0 - p, p], 1)

    def arrays(self) -> dict[str, np.ndarray]:
        return {f"tree{k:05d}": t for k, t in enumerate(self.trees)}

    @classmethod
    def from_arrays(cls, baseline: float, n_features: int, arrays: dict[str, np.ndarray]) -> "TreeEnsemble":
        names = sorted(k for k in arrays if k.startswith("tree"))
        out = cls(float(baseline), [arrays[k] for k in names], int(n_features))
        out.check()
        return out
