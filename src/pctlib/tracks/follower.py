"""The classical track follower of the Digital Tracking Calorimeter Toolkit (Pettersen et al. 2020), as summarised
in REFERENCE.md, with the same interface as the GNN tracker: hits of a frame in, ``Tracks`` out.

Tracks are grown *upstream*, from the deepest layer towards the trackers:

* every hit not yet used, layer by layer from the deepest, seeds a search;
* a branch continues from its last hit to a hit of the next upstream layer (one empty layer may be skipped); the
  first segment of a branch and every segment into a tracker layer must lie within a cone around the beam axis
  (``seed_cone`` in the calorimeter, ``tracker_cone`` into tracker layers);
* a branch carries a score s, updated with the kink angle theta between its last two segments as
  s <- sqrt(s^2 + theta^2); a continuation is allowed while s < ``max_score`` or theta < ``max_kink``;
* each node keeps at most ``max_children`` continuations: candidates are taken in the order of their distance to
  the branch's straight extrapolation (their kink; the first segment of a branch: lateral distance to the seed), and
  a new one replaces the worst kept one when its score is below ``replace_factor`` times the worst;
* the complete branch of lowest score that reaches a tracker layer wins; its hits are used up.

Post-processing: tracks that leave the sensor laterally (their straight extrapolation one layer downstream falls
outside the sensor) are dropped; tracks are extended downstream with unused hits within ``extend_cone`` of their
direction. Hits are used once, so two tracks never share a hit. A cap on the nodes expanded per seed
(``max_nodes``) bounds the search; it is reported in the parameters, not hidden.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..fileio import YamlError, read_yaml
from .build import Tracks


@dataclass(frozen=True)
class FollowerConfig:
    seed_cone: float = 0.4  # [rad] first segment of a branch, to the beam axis
    tracker_cone: float = 0.5  # [rad] segments into tracker layers, to the beam axis
    max_score: float = 0.275  # [rad]
    max_kink: float = 0.1  # [rad]
    max_children: int = 2
    replace_factor: float = 0.845
    skip_empty_layers: int = 1
    n_tracker_layers: int = 2
    extend_cone: float = 0.4  # [rad]
    sensor_half_x: float = 135.4  # [mm]
    sensor_half_y: float = 83.15  # [mm]
    max_nodes: int = 5000
    #: order in which candidate continuations fill a node's children: "extrapolation" (by kink, i.e. distance to
    #: the branch's straight extrapolation) or "nearest" (by lateral distance to the current hit; pctlib's order
    #: before, kept for comparison: across the tracker gaps it misses inclined tracks' own hits)
    candidate_order: str = "extrapolation"

    def __post_init__(self):
        if self.candidate_order not in ("extrapolation", "nearest"):
            raise ValueError(f"candidate_order must be 'extrapolation' or 'nearest', got {self.candidate_order!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def load_follower_config(path: str | Path) -> FollowerConfig:
    try:
        d = read_yaml(path) or {}
    except YamlError as exc:
        raise ValueError(str(exc)) from None
    allowed = set(FollowerConfig.__dataclass_fields__)
    bad = set(d) - allowed
    if bad:
        raise ValueError(f"{path}: unknown track-follower parameter(s) {', '.join(sorted(bad))}; "
                         f"allowed: {', '.join(sorted(allowed))}")
    return FollowerConfig(**d)


def _angle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Angle between vector u (3,) and each row of v (n, 3)."""
    c = (v @ u) / (np.linalg.norm(v, axis=-1) * np.linalg.norm(u) + 1e-30)
    return np.arccos(np.clip(c, -1.0, 1.0))


class TrackFollower:
    def __init__(self, config: FollowerConfig = FollowerConfig()):
        self.config = config

    def __call__(self, pos: np.ndarray, layer: np.ndarray) -> Tracks:
        """Tracks of one frame from hit positions (n, 3) and layers (n,)."""
        c = self.config
        pos = np.asarray(pos, dtype=np.float64)
        layer = np.asarray(layer, dtype=np.int64)
        n = len(layer)
        used = np.zeros(n, bool)
        by_layer = {int(lay): np.nonzero(layer == lay)[0] for lay in np.unique(layer)}
        z_axis = np.array([0.0, 0.0, 1.0])
        tracks: list[np.ndarray] = []
        for lay in sorted(by_layer, reverse=True):
            if lay < c.n_tracker_layers:
                break
            for seed in by_layer[lay]:
                if used[seed]:
                    continue
                best = self._search(seed, pos, layer, by_layer, used, z_axis)
                if best is not None:
                    used[best] = True
                    tracks.append(best)
        # post-processing: drop tracks leaving the sensor, extend downstream
        kept = []
        for t in tracks:
            nxt = 2 * pos[t[-1]] - pos[t[-2]]  # straight extrapolation by one more segment
            if abs(nxt[0]) > c.sensor_half_x or abs(nxt[1]) > c.sensor_half_y:
                used[t] = False
                continue
            kept.append(t)
        out = []
        for t in kept:
            t = list(t)
            while True:
                last, prev = t[-1], t[-2]
                cand = by_layer.get(int(layer[last]) + 1)
                if cand is None:
                    break
                cand = cand[~used[cand]]
                if cand.size == 0:
                    break
                ang = _angle(pos[last] - pos[prev], pos[cand] - pos[last])
                k = int(np.argmin(ang))
                if ang[k] >= c.extend_cone:
                    break
                used[cand[k]] = True
                t.append(int(cand[k]))
            out.append(np.asarray(t, dtype=np.int64))
        track_of_hit = np.full(n, -1, np.int64)
        for i, t in enumerate(out):
            track_of_hit[t] = i
        return Tracks(track_of_hit, out)

    def _search(self, seed, pos, layer, by_layer, used, z_axis):
        """Best complete branch (hit indices in beam order) grown upstream from ``seed``, or None."""
        c = self.config
        # stack of (path (list, seed first, upstream order), score)
        stack = [([int(seed)], 0.0)]
        best, best_score = None, math.inf
        nodes = 0
        while stack and nodes < c.max_nodes:
            path, score = stack.pop()
            nodes += 1
            h = path[-1]
            lay = int(layer[h])
            if lay < c.n_tracker_layers:  # reached a tracker layer: complete
                if len(path) > 1 and score < best_score and lay == 0:
                    best, best_score = path, score
                if lay == 0:
                    continue
            children: list[tuple[float, int]] = []
            for skip in range(c.skip_empty_layers + 1):
                up = lay - 1 - skip
                cand = by_layer.get(up)
                if cand is None:
                    continue
                cand = cand[~used[cand]]
                if cand.size == 0:
                    continue
                seg = pos[cand] - pos[h]  # pointing upstream
                beam_angle = _angle(-z_axis, seg)
                if up < c.n_tracker_layers:
                    ok = beam_angle < c.tracker_cone
                elif len(path) == 1:
                    ok = beam_angle < c.seed_cone
                else:
                    ok = np.ones(cand.size, bool)
                if len(path) > 1:
                    prev_dir = pos[h] - pos[path[-2]]
                    kink = _angle(prev_dir, seg)
                    new_score = np.sqrt(score**2 + kink**2)
                    ok &= (new_score < c.max_score) | (kink < c.max_kink)
                else:
                    kink = np.zeros(cand.size)
                    new_score = np.full(cand.size, score)
                # candidates in the order of their distance to the branch's straight extrapolation (the kink; for the
                # first segment, the lateral distance to the seed): the best ones fill the children first
                if len(path) > 1 and c.candidate_order == "extrapolation":
                    order = np.argsort(kink[ok], kind="stable")
                else:
                    order = np.argsort(np.linalg.norm(seg[ok][:, :2], axis=1), kind="stable")
                for i in np.nonzero(ok)[0][order]:
                    sc = float(new_score[i])
                    if len(children) < c.max_children:
                        children.append((sc, int(cand[i])))
                    else:
                        worst = max(range(len(children)), key=lambda j: children[j][0])
                        if sc < c.replace_factor * children[worst][0]:
                            children[worst] = (sc, int(cand[i]))
                if children:
                    break  # the next layer had continuations: no skipping
            for sc, hit in sorted(children, reverse=True):  # best child expanded first (top of the stack)
                stack.append((path + [hit], sc))
        if best is None:
            return None
        return np.asarray(best[::-1], dtype=np.int64)
