"""Hit classifiers that remove hits before any graph is built (the pre-emptive noise classification of
the thesis A. Jeendgar, Graph Neural Networks for charged particle tracking, undergraduate thesis, BITS Pilani, 2024, ch. 2), and their evaluation.

The task: score every hit of a preprocessed frame by how likely it is *not* a primary's hit (noise or a secondary,
``io.hit_table.hit_classes``); hits scoring above the operating threshold are removed. Two classifiers on the
per-hit features of ``features.py``:

* ``fcnn`` — the thesis' residual fully connected network (``fcnn.ResidualFCNN``) trained with class-weighted binary
  cross entropy: the rarer class's terms are scaled up by the class ratio (``pos_weight`` = n_keep / n_reject), the
  thesis' "weight in proportion to the imbalance"; Adam with an exponential learning-rate decay per epoch;
* ``gbdt`` — gradient-boosted trees, scikit-learn's ``HistGradientBoostingClassifier`` with balanced class weights
  (the thesis tried XGBoost with ``scale_pos_weight``; scikit-learn is the well-kept library that installs here).

Features enter as log(1 + value) (layer as is), standardised with the training set's mean and standard deviation.

The operating point (:func:`operating_threshold`): the lowest threshold that removes at most ``max_primary_loss``
(0.5 %) of the primary hits of held-out training frames (not those fitted: see ``ClassifierConfig.calibration``);
a hit is removed when its score is strictly above the threshold. The ROC curve is of
removal: "true positive rate" = removed non-primary hits / non-primary hits, "false positive rate" = removed
primary hits / primary hits (the thesis' FPR over the hits of interest).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..fileio import ContentDigest, pack_arrays, unpack_arrays
from ..io.hit_table import HIT_CLASSES
from ..progress import progress_bar
from .fcnn import ResidualFCNN
from .features import FEATURES, hit_features
from .trees import TreeEnsemble

KINDS = ("fcnn", "gbdt")
#: the thesis' requirement on an operating point: at most this fraction of the hits of interest lost
MAX_PRIMARY_LOSS = 0.005


class ClassifierError(ValueError):
    """An invalid classifier setting or an unusable training set."""


@dataclass(frozen=True)
class ClassifierConfig:
    kind: str = "fcnn"
    #: FCNN (thesis: hidden 256, depth 6, alpha 0.6, Adam 1e-3, ExponentialLR 0.985)
    hidden: int = 64
    depth: int = 4
    alpha: float = 0.6
    epochs: int = 20
    batch_size: int = 2048
    lr: float = 1e-3
    gamma: float = 0.985
    #: GBDT
    iterations: int = 200
    learning_rate: float = 0.1
    max_leaf_nodes: int = 31
    #: features: transverse radius of the occupancy count [mm]
    radius_mm: float = 5.0
    max_primary_loss: float = MAX_PRIMARY_LOSS
    #: share of the training frames (or rows) held out from fitting to set the operating threshold: a threshold
    #: set on the fitted rows is too low for new frames (their primaries score higher), so it would lose more
    #: than ``max_primary_loss`` of them
    calibration: float = 0.25
    seed: int = 0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ClassifierError(f"kind must be one of {KINDS}, got {self.kind!r}")
        for name in ("hidden", "epochs", "batch_size", "iterations", "max_leaf_nodes"):
            if getattr(self, name) < 1:
                raise ClassifierError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0.0 < self.calibration < 1.0:
            raise ClassifierError(f"calibration must be in (0, 1), got {self.calibration}")
        if not 0.0 <= self.max_primary_loss < 1.0:
            raise ClassifierError(f"max_primary_loss must be in [0, 1), got {self.max_primary_loss}")
        if not self.lr > 0 or not self.learning_rate > 0 or not 0 < self.gamma <= 1:
            raise ClassifierError("lr and learning_rate must be positive, gamma in (0, 1]")

    def to_dict(self) -> dict:
        return asdict(self)


def _transform(x: np.ndarray) -> np.ndarray:
    out = np.log1p(np.clip(np.asarray(x, np.float64), 0.0, None))
    lay = FEATURES.index("layer")
    out[:, lay] = x[:, lay]
    return out


def reject_labels(classes: np.ndarray) -> np.ndarray:
    """1 for a hit the classifier should remove (noise or secondary), 0 for a primary's hit."""
    return (np.asarray(classes) != HIT_CLASSES.index("primary")).astype(np.int8)


def operating_threshold(scores: np.ndarray, primary: np.ndarray, max_primary_loss: float = MAX_PRIMARY_LOSS
                        ) -> float:
    """The lowest threshold t such that the hits removed by ``score > t`` include at most ``max_primary_loss`` of
    the primary hits (``primary`` a boolean mask). Lower thresholds remove more, so this t removes the most
    non-primary hits the constraint allows. Without primary hits every hit may go: −inf."""
    s = np.asarray(scores, np.float64)[np.asarray(primary, bool)]
    if s.size == 0:
        return -math.inf
    allowed = int(math.floor(max_primary_loss * s.size + 1e-9))
    desc = np.sort(s)[::-1]
    if allowed >= s.size:
        return -math.inf
    # removing the `allowed` highest primary scores means t = the next one; ties at t stay (strict >)
    return float(desc[allowed])


def removal_rates(scores: np.ndarray, classes: np.ndarray, threshold: float) -> dict:
    """Fractions of the hits of each class removed by ``score > threshold``: {'primary_loss', 'secondary_rejection',
    'noise_rejection', 'non_primary_rejection', 'kept_fraction'} (NaN for a class without hits)."""
    removed = np.asarray(scores) > threshold
    c = np.asarray(classes)

    def frac(mask):
        return float(removed[mask].mean()) if mask.any() else math.nan

    return {"primary_loss": frac(c == 0), "secondary_rejection": frac(c == 1), "noise_rejection": frac(c == 2),
            "non_primary_rejection": frac(c != 0), "kept_fraction": float(1.0 - removed.mean()) if c.size else math.nan}


def roc(scores: np.ndarray, classes: np.ndarray) -> dict:
    """ROC of removal (module docstring) by scikit-learn: {'fpr', 'tpr', 'thresholds', 'auc'} (AUC NaN when one
    class is missing)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    y = reject_labels(classes)
    if y.min(initial=1) == y.max(initial=0):
        return {"fpr": np.array([]), "tpr": np.array([]), "thresholds": np.array([]), "auc": math.nan}
    fpr, tpr, thr = roc_curve(y, scores)
    return {"fpr": fpr, "tpr": tpr, "thresholds": thr, "auc": float(roc_auc_score(y, scores))}


@dataclass
class HitClassifier(ContentDigest):
    """A trained classifier: ``scores`` of feature rows, ``keep`` of a preprocessed frame's hits."""

    config: ClassifierConfig
    mean: np.ndarray
    std: np.ndarray
    model: object  # ResidualFCNN (kind fcnn) or the fitted trees as node tables (gbdt: ``trees.TreeEnsemble``)
    threshold: float = math.inf
    info: dict = field(default_factory=dict)
    _digest: str | None = field(default=None, repr=False, compare=False)

    def scores(self, features: np.ndarray) -> np.ndarray:
        if len(features) == 0:
            return np.zeros(0)
        z = (_transform(features) - self.mean) / self.std
        if self.config.kind == "fcnn":
            with torch.no_grad():
                return torch.sigmoid(self.model(torch.as_tensor(z, dtype=torch.float32))[:, 0]).double().numpy()
        return self.model.predict_proba(z)[:, 1]

    def hit_scores(self, hits: np.ndarray) -> np.ndarray:
        return self.scores(hit_features(hits, self.config.radius_mm))

    def keep(self, hits: np.ndarray) -> np.ndarray:
        """Boolean mask of the hits that stay (score at most the operating threshold)."""
        return self.hit_scores(hits) <= self.threshold

    def to_bytes(self) -> bytes:
        """The classifier as data only (``fileio.pack_arrays``): configuration, threshold and record as JSON; the
        standardisation, the network's weights (fcnn) or the trees' node tables (gbdt) as arrays."""
        if self.config.kind == "fcnn":
            arrays = {f"state.{k}": v.detach().cpu().numpy() for k, v in self.model.state_dict().items()}
            extra = {}
        else:
            arrays = self.model.arrays()
            extra = {"baseline": self.model.baseline, "n_features": self.model.n_features}
        meta = {"kind": "hit-classifier", "config": self.config.to_dict(), "threshold": self.threshold,
                "info": self.info, **extra}
        return pack_arrays(meta, {"mean": np.asarray(self.mean), "std": np.asarray(self.std), **arrays})

    @classmethod
    def from_bytes(cls, data: bytes, what: str = "hit classifier") -> "HitClassifier":
        """Inverse of :meth:`to_bytes`; bytes of any other form (a pickle included) raise ``ArraysError`` or
        :class:`ClassifierError` naming ``what``, and nothing in them is run."""
        meta, arrays = unpack_arrays(data, what)
        try:
            if meta.get("kind") != "hit-classifier":
                raise ClassifierError("not a hit classifier")
            cfg = ClassifierConfig(**meta["config"])
            if cfg.kind == "fcnn":
                model = _network(cfg)
                model.load_state_dict({k[6:]: torch.as_tensor(v) for k, v in arrays.items()
                                       if k.startswith("state.")})
                model.eval()
            else:
                model = TreeEnsemble.from_arrays(meta["baseline"], meta["n_features"], arrays)
            out = cls(cfg, arrays["mean"], arrays["std"], model, float(meta["threshold"]), meta["info"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise ClassifierError(f"{what}: unusable contents ({type(exc).__name__}: {exc})") from None
        return out.remember_digest(data)


def _network(cfg: ClassifierConfig) -> ResidualFCNN:
    return ResidualFCNN(len(FEATURES), 1, cfg.hidden, cfg.depth, cfg.alpha)


def calibration_split(n: int, groups: np.ndarray | None, share: float, seed: int) -> np.ndarray:
    """Boolean mask of the rows held out for the threshold: a seeded ``share`` of the groups (frames; at least one,
    and at least one left to fit on) when ``groups`` is given, else of the rows."""
    rng = np.random.default_rng(seed)
    if groups is None:
        held = np.zeros(n, bool)
        held[rng.permutation(n)[:max(1, int(round(share * n)))]] = True
        return held
    groups = np.asarray(groups)
    uniq = np.unique(groups)
    if uniq.size < 2:
        raise ClassifierError("a calibration split by frames needs at least two frames")
    k = min(max(1, int(round(share * uniq.size))), uniq.size - 1)
    return np.isin(groups, rng.permutation(uniq)[:k])


def fit_classifier(features: np.ndarray, classes: np.ndarray, config: ClassifierConfig = ClassifierConfig(),
                   progress: bool = True, groups: np.ndarray | None = None) -> HitClassifier:
    """Train a classifier on feature rows and their classes (``hit_classes``). The rows of a held-out share of
    the frames (``groups``: the frame of each row; without it, of the rows; ``config.calibration``) are left out of
    the fit and set the operating threshold. Deterministic for a given ``config.seed`` on the CPU."""
    features = np.asarray(features, np.float64)
    y = reject_labels(classes)
    if features.ndim != 2 or features.shape[1] != len(FEATURES) or len(features) != len(y):
        raise ClassifierError(f"expected ({len(y)}, {len(FEATURES)}) features, got {features.shape}")
    held = calibration_split(len(y), groups, config.calibration, config.seed)
    for part, name in ((~held, "fitted"), (held, "held-out")):
        n_pos = int(y[part].sum())
        if n_pos == 0 or n_pos == int(part.sum()):
            raise ClassifierError(f"the {name} training hits must hold both primary and non-primary hits")
    cal_x, cal_y = features[held], y[held]
    features, y = features[~held], y[~held]
    n_pos = int(y.sum())
    z = _transform(features)
    mean, std = z.mean(0), z.std(0)
    std = np.where(std > 0, std, 1.0)
    z = (z - mean) / std
    info = {"train_hits": int(len(y)), "train_reject": n_pos, "calibration_hits": int(held.sum()),
            "calibration_groups": sorted(np.unique(groups[held]).tolist()) if groups is not None else None}
    if config.kind == "fcnn":
        model, info["loss"] = _fit_fcnn(z, y, config, progress)
    else:
        from sklearn.ensemble import HistGradientBoostingClassifier

        est = HistGradientBoostingClassifier(max_iter=config.iterations, learning_rate=config.learning_rate,
                                             max_leaf_nodes=config.max_leaf_nodes, class_weight="balanced",
                                             early_stopping=False, random_state=config.seed)
        model = TreeEnsemble.from_sklearn(est.fit(z, y))  # plain node tables: stored as data, never pickled
    clf = HitClassifier(config, mean, std, model, math.inf, info)
    clf.threshold = operating_threshold(clf.scores(cal_x), cal_y == 0, config.max_primary_loss)
    return clf


def _fit_fcnn(z: np.ndarray, y: np.ndarray, cfg: ClassifierConfig, progress: bool):
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    net = _network(cfg)
    xt = torch.as_tensor(z, dtype=torch.float32)
    yt = torch.as_tensor(y, dtype=torch.float32)
    pos_weight = torch.tensor((len(y) - y.sum()) / y.sum(), dtype=torch.float32)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=cfg.gamma)
    lossf = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    losses = []
    bar = progress_bar(total=cfg.epochs, desc="hit classifier (fcnn)", unit="epoch", enabled=progress)
    for _ in range(cfg.epochs):
        perm = torch.randperm(len(yt), generator=gen)
        total = 0.0
        for start in range(0, len(yt), cfg.batch_size):
            idx = perm[start:start + cfg.batch_size]
            opt.zero_grad()
            loss = lossf(net(xt[idx])[:, 0], yt[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        sched.step()
        losses.append(total / len(yt))
        bar.update(1)
    bar.close()
    net.eval()
    return net, losses


def load_classifier(path: str | Path) -> HitClassifier:
    return HitClassifier.from_bytes(Path(path).read_bytes(), str(path))
