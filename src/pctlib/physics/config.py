"""Everything that fixes a simulation, as one typed record (stored beside every output file)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .beam import Beam
from .geometry import REPO_GEOMETRY, Geometry, load_geometry
from .simulate import Digitisation
from .transport import PhysicsConfig

DEFAULT_GEOMETRY = REPO_GEOMETRY / "bergen_dtc.yaml"


@dataclass(frozen=True)
class SimulationConfig:
    geometry: str = str(DEFAULT_GEOMETRY)
    phantom_mm: float = 100.0
    gap_to_detector_mm: float | None = None  # None: the geometry's placement
    centre_to_detector_mm: float | None = None  # phantom centred this far upstream of the detector (gap follows t)
    primaries: int = 1000
    seed: int = 0
    chunk_size: int = 20000
    max_step_mm: float = 10.0
    beam: Beam = field(default_factory=Beam)
    physics: PhysicsConfig = field(default_factory=PhysicsConfig)
    digitisation: Digitisation = field(default_factory=Digitisation)

    def load_geometry(self) -> Geometry:
        return load_geometry(self.geometry).with_phantom(self.phantom_mm, self.gap_to_detector_mm,
                                                         self.centre_to_detector_mm)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["geometry_sha256"] = hashlib.sha256(Path(self.geometry).read_bytes()).hexdigest() if Path(
            self.geometry).is_file() else None
        return d

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True, default=str).encode()).hexdigest()[:16]
