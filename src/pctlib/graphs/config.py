"""Parameters of graph construction (paper Sec. 4.1, Table 4)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


GRAPH_BUILDERS = ("angular", "learned")
PRESELECTS = ("none", "fcnn", "gbdt")


class GraphConfigError(ValueError):
    """An invalid graph-construction parameter."""


@dataclass(frozen=True)
class GraphConfig:
    primaries_per_frame: int = 100
    #: how primaries are counted into frames: "recorded" (N events that left hits, the reference convention) or
    #: "eventid" (eventID // N, delivered primaries); see ``frames.py``
    framing: str = "recorded"
    #: maximal angle to the z axis of a candidate segment in the calorimeter [rad]
    theta_calorimeter: float = 0.4
    #: maximal angle for segments into or between tracker layers (source layer < n_tracker_layers) [rad]
    theta_tracker: float = 0.2
    n_tracker_layers: int = 2
    #: node energy feature: deposited energy (MeV) or cluster size
    energy_feature: str = "edep"
    #: reference preprocessing: merge (eventID, trackID, layer), cluster-size cut, drop layers after a gap
    min_cluster_size: int = 2
    truncate_after_empty_layer: bool = True
    #: leave out a last frame of a hit file that holds fewer primaries than ``primaries_per_frame``
    drop_partial: bool = True
    #: sinusoidal encoding of the line-graph edge scalar u = 1 - sqrt(s_cos) (computed on the fly, not stored)
    encoding_dim: int = 128
    encoding_scaling: float = 0.001
    #: learned graph construction: segments by the angular filter or by kNN in a learned embedding, and a hit classifier run before
    #: graph building; a non-default choice names the trained modules by ``modules_digest`` (``graphs.modules``)
    graph_builder: str = "angular"
    preselect: str = "none"
    modules_digest: str = ""

    def __post_init__(self):
        if self.primaries_per_frame < 1:
            raise GraphConfigError(f"primaries_per_frame must be >= 1, got {self.primaries_per_frame}")
        if self.framing not in ("recorded", "eventid"):
            raise GraphConfigError(f"framing must be 'recorded' or 'eventid', got {self.framing!r}")
        for name in ("theta_calorimeter", "theta_tracker"):
            v = getattr(self, name)
            if not 0 < v < 1.5707963:
                raise GraphConfigError(f"{name} must be in (0, pi/2) rad, got {v}")
        if self.energy_feature not in ("edep", "cluster_size"):
            raise GraphConfigError(f"energy_feature must be 'edep' or 'cluster_size', got {self.energy_feature!r}")
        if self.encoding_dim < 2 or self.encoding_dim % 2:
            raise GraphConfigError(f"encoding_dim must be a positive even number, got {self.encoding_dim}")
        if self.encoding_scaling <= 0:
            raise GraphConfigError(f"encoding_scaling must be positive, got {self.encoding_scaling}")

        if self.graph_builder not in GRAPH_BUILDERS:
            raise GraphConfigError(f"graph_builder must be one of {GRAPH_BUILDERS}, got {self.graph_builder!r}")
        if self.preselect not in PRESELECTS:
            raise GraphConfigError(f"preselect must be one of {PRESELECTS}, got {self.preselect!r}")
        if self.uses_modules != bool(self.modules_digest):
            raise GraphConfigError("graph_builder 'learned' or a preselect other than 'none' needs the trained "
                                   "modules' modules_digest (graphs.modules.GraphModules.config), and only they do")

    @property
    def uses_modules(self) -> bool:
        return self.graph_builder != "angular" or self.preselect != "none"

    def to_dict(self) -> dict:
        """The fields; the issue-17 ones only when they differ from the defaults, so that the cache keys of graphs
        built before they existed stay the same."""
        d = asdict(self)
        if not self.uses_modules:
            for k in ("graph_builder", "preselect", "modules_digest"):
                d.pop(k)
        return d
