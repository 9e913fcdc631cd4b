"""The trained modules of learned graph construction in the graph-building path: a hit classifier run before graph building
(``preselect``) and a learned graph builder (``graph_builder: learned``), selected by ``GraphConfig``.

:class:`GraphModules` holds what a configuration needs; its :meth:`~GraphModules.digest` names them in the graph
configuration (``GraphConfig.modules_digest``), so graph caches and evaluations built with other modules are never
reused. :func:`labelled_frames` turns hit frames into the classifier's training rows and the embedding's training
frames; :func:`fitted_modules` trains both from hit frames and keeps them in a verified file (written whole, under
the file's lock, so that concurrent jobs train once).

Order in a frame: reference preprocessing (``frames.preprocess``) → the classifier removes hits scoring above its
operating threshold → the gap rule again (a layer the classifier emptied ends the frame, as an empty layer always
does) → segments by the angular filter or the embedding's kNN → the hit graph and line graph as usual.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..fileio import ArraysError, pack_arrays, target_lock, unpack_arrays, write_bytes_atomic, write_json_atomic
from ..io.hit_table import hit_classes
from ..preselect.classifier import ClassifierConfig, HitClassifier, fit_classifier
from ..preselect.features import FEATURES, hit_features
from .config import GraphConfig
from .frames import last_connected_layer, preprocess

#: 2: stored as data (``fileio.pack_arrays``); version 1 files were pickles and are trained again, never loaded
MODULES_VERSION = 2


class ModulesError(ValueError):
    """Modules that do not fit the graph configuration, or a modules file that cannot be read."""


class ModulesWarning(UserWarning):
    """A kept modules file was unusable (damaged, edited, another format) and the modules were trained again."""


@dataclass
class GraphModules:
    classifier: HitClassifier | None = None
    embedder: object | None = None  # learned.HitEmbedder

    def digest(self) -> str:
        parts = [self.classifier.digest() if self.classifier else "-", self.embedder.digest() if self.embedder else "-"]
        return hashlib.sha256(("|".join(parts) + f"|v{MODULES_VERSION}").encode()).hexdigest()[:20]

    def config(self, base: GraphConfig, graph_builder: str = "angular", preselect: str = "none") -> GraphConfig:
        """``base`` with the chosen modules named (checked against what this object holds)."""
        if preselect != "none" and (self.classifier is None or self.classifier.config.kind != preselect):
            raise ModulesError(f"preselect {preselect!r} needs a trained {preselect} classifier in the modules")
        if graph_builder == "learned" and self.embedder is None:
            raise ModulesError("graph_builder 'learned' needs a trained embedding in the modules")
        uses = graph_builder != "angular" or preselect != "none"
        return replace(base, graph_builder=graph_builder, preselect=preselect,
                       modules_digest=self.digest() if uses else "")

    def check(self, config: GraphConfig) -> None:
        if config.uses_modules and config.modules_digest != self.digest():
            raise ModulesError(f"the graph configuration names modules {config.modules_digest}, these are "
                               f"{self.digest()}")

    def to_bytes(self) -> bytes:
        """Data only (``fileio.pack_arrays``): each module's own container as a byte array; loading never runs
        code, whoever wrote the file."""
        parts = {name: np.frombuffer(m.to_bytes(), np.uint8)
                 for name, m in (("classifier", self.classifier), ("embedder", self.embedder)) if m is not None}
        return pack_arrays({"kind": "graph-modules", "version": MODULES_VERSION}, parts)

    @classmethod
    def from_bytes(cls, data: bytes, what: str = "graph modules") -> "GraphModules":
        """Inverse of :meth:`to_bytes`; anything else (a pickle, a damaged or edited file) raises
        :class:`ModulesError` naming ``what``."""
        from .learned import EmbeddingError, HitEmbedder
        from ..preselect.classifier import ClassifierError

        try:
            meta, parts = unpack_arrays(data, what)
            if meta.get("kind") != "graph-modules" or meta.get("version") != MODULES_VERSION:
                raise ModulesError(f"{what}: not a pctlib graph-modules file of version {MODULES_VERSION}")
            return cls(HitClassifier.from_bytes(parts["classifier"].tobytes(), f"{what} (classifier)")
                       if "classifier" in parts else None,
                       HitEmbedder.from_bytes(parts["embedder"].tobytes(), f"{what} (embedding)")
                       if "embedder" in parts else None)
        except (ArraysError, ClassifierError, EmbeddingError) as exc:
            raise ModulesError(str(exc)) from None


def prepare_hits(hits: np.ndarray, config: GraphConfig, modules: GraphModules | None = None,
                 epitaxial_um: float = 25.0, preprocessed: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """A frame's hits as the graph sees them (module docstring) and the learned segments (None: angular)."""
    h = hits if preprocessed else preprocess(hits, config, epitaxial_um)
    if not config.uses_modules:
        return h, None
    if modules is None:
        raise ModulesError(f"graph_builder {config.graph_builder!r} / preselect {config.preselect!r} need the "
                           "trained modules (graphs.modules.GraphModules)")
    modules.check(config)
    if config.preselect != "none" and len(h):
        h = h[modules.classifier.keep(h)]
        if config.truncate_after_empty_layer and len(h):
            h = h[h["layer"] <= last_connected_layer(h["layer"])]
    edges = modules.embedder.edges(h) if config.graph_builder == "learned" else None
    return h, edges


def labelled_frames(frames: list[np.ndarray], config: GraphConfig, radius_mm: float = 5.0):
    """Per frame, after the reference preprocessing: (features, classes) of its hits for the classifier, and
    (hits, angular segments, their truth) for the embedding. Returns (features, classes, frame number, graph
    frames); the angular graph is that of ``config`` without modules."""
    from .hit_graph import build_hit_graph

    base = replace(config, graph_builder="angular", preselect="none", modules_digest="")
    feats, classes, which, graphs = [], [], [], []
    for i, f in enumerate(frames):
        p = preprocess(f, base)
        feats.append(hit_features(p, radius_mm))
        classes.append(hit_classes(p))
        which.append(np.full(len(p), i))
        g = build_hit_graph(p, base)
        graphs.append((p, g.edge_index.numpy(), g.y.numpy()))
    if not frames:
        return np.zeros((0, len(FEATURES))), np.zeros(0, np.int8), np.zeros(0, int), graphs
    return np.concatenate(feats), np.concatenate(classes), np.concatenate(which), graphs


def fit_modules(frames: list[np.ndarray], config: GraphConfig, classifier: ClassifierConfig | None = None,
                embedding=None, progress: bool = True) -> GraphModules:
    """Train the modules asked for (a ``ClassifierConfig`` and/or a ``learned.EmbeddingConfig``) on hit frames.
    Each learns from the reference-preprocessed frames (the embedding does not see the classifier's cut), so that
    either can be used alone or both together."""
    from .learned import fit_embedding

    x, c, which, graphs = labelled_frames(frames, config, classifier.radius_mm if classifier else 5.0)
    clf = fit_classifier(x, c, classifier, progress, groups=which) if classifier else None
    emb = fit_embedding(graphs, embedding, progress) if embedding else None
    return GraphModules(clf, emb)


def fitted_modules(path: str | Path, frames_key: str, frames, config: GraphConfig,
                   classifier: ClassifierConfig | None = None, embedding=None,
                   progress: bool = True) -> GraphModules:
    """The modules of :func:`fit_modules`, trained once and kept at ``path`` (with ``PATH.json``: the training
    key and the file's sha256). ``frames_key`` names the training frames (e.g. the hit file's hash); ``frames`` is
    a list of hit frames or a callable returning it (called only when training is needed). A file whose record or
    hash does not match, or that is not a data-only modules file (``GraphModules.from_bytes``: a pickle or an edited
    file is never loaded), is trained again with a :class:`ModulesWarning` naming it."""
    path = Path(path)
    key = hashlib.sha256(json.dumps({
        "frames": frames_key, "graph": config.to_dict(), "version": MODULES_VERSION,
        "classifier": classifier.to_dict() if classifier else None,
        "embedding": embedding.to_dict() if embedding else None}, sort_keys=True).encode()).hexdigest()[:20]
    side = path.with_name(path.name + ".json")

    def cached():
        try:
            meta = json.loads(side.read_text())
            data = path.read_bytes()
        except (OSError, json.JSONDecodeError):
            return None
        if meta.get("key") != key or hashlib.sha256(data).hexdigest() != meta.get("sha256"):
            return None
        try:
            return GraphModules.from_bytes(data, str(path))
        except ModulesError as exc:
            warnings.warn(f"{exc}; training the modules again", ModulesWarning, stacklevel=3)
            return None

    got = cached()
    if got is not None:
        return got
    with target_lock(path):
        got = cached()
        if got is not None:
            return got
        mods = fit_modules(frames() if callable(frames) else frames, config, classifier, embedding, progress)
        data = mods.to_bytes()
        write_bytes_atomic(path, data)
        write_json_atomic(side, {"key": key, "sha256": hashlib.sha256(data).hexdigest(), "digest": mods.digest()})
        return mods
