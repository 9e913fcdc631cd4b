"""Radiography phantoms (issue 18): a phantom file (``params/phantoms/*.yaml``: material, thickness, inserts, and
the scan grid of the pencil beam) put onto a detector geometry, and the beam that scans it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import yaml

from ..physics.beam import Beam
from ..physics.geometry import Geometry, GeometryError, _num, parse_inserts

KEYS = ("material", "thickness_mm", "inserts", "scan")


def load_phantom(path: str | Path, geometry: Geometry) -> tuple[Geometry, dict]:
    """``geometry`` with the file's phantom (material, thickness, inserts; the geometry's placement kept) and the
    file's scan specification {'x_mm': [lo, hi], 'y_mm': [lo, hi], 'step_mm': s}."""
    d = yaml.safe_load(Path(path).read_text())
    where = str(path)
    if not isinstance(d, dict) or set(d) - set(KEYS) or not {"material", "thickness_mm"} <= set(d):
        raise GeometryError(f"{where}: a phantom file holds {', '.join(KEYS)} (material and thickness_mm needed)")
    if d["material"] not in geometry.materials:
        raise GeometryError(f"{where}: unknown material {d['material']!r}")
    inserts = parse_inserts(d.get("inserts") or [], geometry.materials, f"{where}: inserts")
    g = geometry.with_phantom(_num(d["thickness_mm"], f"{where}: thickness_mm"))
    g = replace(g, phantom=replace(g.phantom, material=d["material"], inserts=inserts))
    scan = d.get("scan") or {"x_mm": [0.0, 0.0], "y_mm": [0.0, 0.0], "step_mm": 1.0}
    if set(scan) != {"x_mm", "y_mm", "step_mm"}:
        raise GeometryError(f"{where}: scan needs x_mm, y_mm ([lo, hi]) and step_mm")
    return g, scan


def scan_spots(scan: dict) -> tuple[tuple[float, float], ...]:
    """The spot centres of a scan grid, row by row (y outer, x inner), both ends included."""
    step = _num(scan["step_mm"], "scan.step_mm")
    xs = np.arange(scan["x_mm"][0], scan["x_mm"][1] + 1e-9, step)
    ys = np.arange(scan["y_mm"][0], scan["y_mm"][1] + 1e-9, step)
    return tuple((float(x), float(y)) for y in ys for x in xs)


def scanning_beam(scan: dict, **beam) -> Beam:
    """The default beam (230 MeV, 3 mm spots) over the scan grid; ``beam`` overrides its other fields."""
    return Beam(spots=scan_spots(scan), **beam)
