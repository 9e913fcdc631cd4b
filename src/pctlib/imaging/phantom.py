"""Radiography phantoms: a phantom file (``params/phantoms/*.yaml``: material, thickness, inserts, and
the scan grid of the pencil beam) put onto a detector geometry, and the beam that scans it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ..checks import MemoryEstimateError, NumberError, check_memory, check_number
from ..fileio import YamlError, read_yaml
from ..physics.beam import Beam
from ..physics.geometry import Geometry, GeometryError, _num, parse_inserts

KEYS = ("material", "thickness_mm", "inserts", "scan")


def load_phantom(path: str | Path, geometry: Geometry) -> tuple[Geometry, dict]:
    """``geometry`` with the file's phantom (material, thickness, inserts; the geometry's placement kept) and the
    file's scan specification {'x_mm': [lo, hi], 'y_mm': [lo, hi], 'step_mm': s}, checked (finite numbers, lo <= hi,
    a positive step, a grid that fits in memory). A syntax error names the file and line."""
    where = str(path)
    try:
        d = read_yaml(path)
    except (YamlError, OSError) as exc:
        raise GeometryError(f"{exc}" if isinstance(exc, YamlError) else f"{where}: cannot read ({exc})") from None
    if not isinstance(d, dict) or set(d) - set(KEYS) or not {"material", "thickness_mm"} <= set(d):
        raise GeometryError(f"{where}: a phantom file holds {', '.join(KEYS)} (material and thickness_mm needed)")
    if d["material"] not in geometry.materials:
        raise GeometryError(f"{where}: unknown material {d['material']!r}")
    thickness = _num(d["thickness_mm"], f"{where}: thickness_mm")
    inserts = parse_inserts(d.get("inserts") or [], geometry.materials, f"{where}: inserts", thickness)
    g = geometry.with_phantom(thickness)
    g = replace(g, phantom=replace(g.phantom, material=d["material"], inserts=inserts))
    scan = d.get("scan") or {"x_mm": [0.0, 0.0], "y_mm": [0.0, 0.0], "step_mm": 1.0}
    if not isinstance(scan, dict) or set(scan) != {"x_mm", "y_mm", "step_mm"}:
        raise GeometryError(f"{where}: scan needs x_mm, y_mm ([lo, hi]) and step_mm")
    scan_spots(scan, f"{where}: scan")  # checked now, not when the beam is made
    return g, scan


#: memory of one spot of a scan grid as the beam holds it (a tuple of two floats), with room for the arrays made
#: from it, in bytes
SPOT_BYTES = 200


def scan_spots(scan: dict, where: str = "scan") -> tuple[tuple[float, float], ...]:
    """The spot centres of a scan grid, row by row (y outer, x inner), both ends included. Ranges must be two
    finite numbers, lo <= hi, the step positive; a grid too large for the free memory is refused with its size."""
    step = _num(scan["step_mm"], f"{where}.step_mm")
    ends = {}
    for axis in ("x_mm", "y_mm"):
        r = scan[axis]
        if not isinstance(r, (list, tuple)) or len(r) != 2:
            raise GeometryError(f"{where}.{axis}: expected [lo, hi], got {r!r}")
        try:
            lo, hi = (check_number(v, f"{where}.{axis}") for v in r)
        except NumberError as exc:
            raise GeometryError(str(exc)) from None
        if lo > hi:
            raise GeometryError(f"{where}.{axis}: lo {lo:g} exceeds hi {hi:g}")
        ends[axis] = (lo, hi)
    counts = [int((hi - lo) // step) + 1 for lo, hi in ends.values()]
    try:
        check_memory(counts[0] * counts[1] * SPOT_BYTES,
                     f"{where}: a grid of {counts[0]} x {counts[1]} spots (step_mm {step:g})")
    except MemoryEstimateError as exc:
        raise GeometryError(str(exc)) from None
    xs = np.arange(ends["x_mm"][0], ends["x_mm"][1] + 1e-9, step)
    ys = np.arange(ends["y_mm"][0], ends["y_mm"][1] + 1e-9, step)
    return tuple((float(x), float(y)) for y in ys for x in xs)


def scanning_beam(scan: dict, **beam) -> Beam:
    """The default beam (230 MeV, 3 mm spots) over the scan grid; ``beam`` overrides its other fields."""
    return Beam(spots=scan_spots(scan), **beam)
