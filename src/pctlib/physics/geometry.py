"""Layered detector geometries as data (``params/geometry/*.yaml``).

A geometry is a phantom, a gap, and a detector: slabs of given material and thickness in beam order (+z), some of
them sensitive (a detector layer, numbered from 0 in beam order). Named ``stacks`` are included by name and
``repeat`` repeats an entry, so the 43-layer DTC is a page of YAML; :meth:`Geometry.slabs` lists every slab of every
layer. The coordinate origin is the front face of the first detector slab; the phantom lies upstream (z < 0).

Errors (unknown material or key, negative thickness, ...) raise :class:`GeometryError` naming the entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any


from ..checks import NumberError, check_number
from ..fileio import YamlError, read_yaml
from .materials import Material, MaterialError, load_materials

REPO_GEOMETRY = Path(__file__).resolve().parents[3] / "params" / "geometry"


class GeometryError(ValueError):
    """A geometry file that cannot be used; the message names the entry."""


@dataclass(frozen=True)
class Slab:
    material: str
    thickness_mm: float
    z0_mm: float  # upstream face
    sensitive: bool = False
    layer: int = -1  # detector layer of a sensitive slab
    region: int = 0  # slabs of one layer stack (or one standalone slab) share a region
    kind: str = ""  # phantom / gap / tracker / calorimeter / ...

    @property
    def z1_mm(self) -> float:
        return self.z0_mm + self.thickness_mm


@dataclass(frozen=True)
class Sensor:
    width_mm: float
    height_mm: float
    pitch_x_mm: float
    pitch_y_mm: float
    epitaxial_mm: float


INSERT_SHAPES = ("cylinder", "box")


@dataclass(frozen=True)
class Insert:
    """A region of another material inside the phantom: a cylinder along the beam axis (``radius_mm`` around
    (``x_mm``, ``y_mm``)) or a box (half-widths ``half_x_mm``, ``half_y_mm``), from ``z_from_mm`` to ``z_to_mm``
    measured from the phantom's entrance face (``z_to_mm`` None: to its exit face). A particle is in the insert when
    its transverse position at the entrance of a transport step lies inside (steps are cut at the inserts' z
    faces); where inserts overlap, the later one in the list wins."""

    material: str
    shape: str = "cylinder"
    x_mm: float = 0.0
    y_mm: float = 0.0
    radius_mm: float = 0.0
    half_x_mm: float = 0.0
    half_y_mm: float = 0.0
    z_from_mm: float = 0.0
    z_to_mm: float | None = None

    def contains(self, x, y):
        """Boolean (array or tensor) of the points (x, y) inside the insert's cross-section."""
        dx, dy = x - self.x_mm, y - self.y_mm
        if self.shape == "cylinder":
            return dx * dx + dy * dy <= self.radius_mm ** 2
        return (abs(dx) <= self.half_x_mm) & (abs(dy) <= self.half_y_mm)

    def z_range(self, thickness_mm: float) -> tuple[float, float]:
        return self.z_from_mm, thickness_mm if self.z_to_mm is None else min(self.z_to_mm, thickness_mm)


@dataclass(frozen=True)
class Phantom:
    """The phantom slab upstream of the detector.

    Its position is given one of two ways: ``gap_to_detector_mm`` fixes the air gap from the phantom's exit face to
    the detector front, whatever the thickness; ``centre_to_detector_mm`` fixes the phantom's *centre* (the
    isocentre of a pCT set-up, where the object sits and rotates) at that distance upstream of the detector front,
    so the gap is ``centre_to_detector_mm - thickness_mm / 2`` and shrinks as the phantom grows.
    """

    material: str
    thickness_mm: float
    gap_to_detector_mm: float
    centre_to_detector_mm: float | None = None
    inserts: tuple[Insert, ...] = ()


@dataclass(frozen=True)
class Geometry:
    name: str
    description: str
    sensor: Sensor
    phantom: Phantom
    detector: tuple[Slab, ...]
    materials: dict[str, Material] = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_layers(self) -> int:
        return sum(s.sensitive for s in self.detector)

    @property
    def layer_kinds(self) -> list[str]:
        return [s.kind for s in self.detector if s.sensitive]

    @property
    def layer_z_mm(self) -> list[float]:
        """z of the centre of every sensitive slab."""
        return [0.5 * (s.z0_mm + s.z1_mm) for s in self.detector if s.sensitive]

    def with_phantom(self, thickness_mm: float | None = None, gap_mm: float | None = None,
                     centre_mm: float | None = None) -> "Geometry":
        """The geometry with another phantom thickness and/or placement.

        ``gap_mm`` fixes the exit gap; ``centre_mm`` the distance of the phantom's centre from the detector front;
        neither: the placement of the geometry file (a fixed gap, or a fixed centre with the gap following the
        thickness).
        """
        ph = self.phantom
        if gap_mm is not None and centre_mm is not None:
            raise GeometryError("give the phantom's exit gap or its centre distance, not both")
        t = _num(ph.thickness_mm if thickness_mm is None else thickness_mm, "phantom thickness [mm]", False)
        centre = None
        if gap_mm is not None:
            g = _num(gap_mm, "phantom gap [mm]", False)
        elif centre_mm is not None or ph.centre_to_detector_mm is not None:
            centre = _num(centre_mm if centre_mm is not None else ph.centre_to_detector_mm,
                          "phantom centre distance [mm]", False)
            g = centre - 0.5 * t
            if g < 0:
                raise GeometryError(f"a {t:g} mm phantom centred {centre:g} mm upstream of the detector would "
                                    f"overlap it (gap {g:g} mm)")
        else:
            g = ph.gap_to_detector_mm
        if g < 0:
            raise GeometryError(f"phantom gap must be >= 0, got {g}")
        return replace(self, phantom=Phantom(ph.material, t, g, centre, ph.inserts))

    def slabs(self) -> list[Slab]:
        """Every slab from the phantom entrance to the last detector slab, in beam order."""
        out: list[Slab] = []
        ph = self.phantom
        first_region = min((s.region for s in self.detector), default=0)
        if ph.thickness_mm > 0:
            out.append(Slab(ph.material, ph.thickness_mm, -ph.gap_to_detector_mm - ph.thickness_mm,
                            region=first_region - 2, kind="phantom"))
        if ph.gap_to_detector_mm > 0:
            out.append(Slab("air", ph.gap_to_detector_mm, -ph.gap_to_detector_mm, region=first_region - 1, kind="gap"))
        return out + list(self.detector)

    def describe(self) -> str:
        lines = [f"{self.name}: {self.n_layers} sensitive layers"]
        for s in self.slabs():
            tag = f" <- layer {s.layer}" if s.sensitive else ""
            lines.append(f"  z={s.z0_mm:9.3f} mm  {s.thickness_mm:8.3f} mm  {s.material:<13} {s.kind}{tag}")
        return "\n".join(lines)


def _num(value: Any, where: str, positive: bool = True) -> float:
    try:
        return check_number(value, where, **({"above": 0.0} if positive else {"minimum": 0.0}))
    except NumberError as exc:
        raise GeometryError(str(exc)) from None


def _expand(entries: Any, stacks: dict[str, Any], where: str, depth: int = 0) -> list[dict[str, Any]]:
    if depth > 10:
        raise GeometryError(f"{where}: stacks include each other too deeply (a cycle?)")
    if not isinstance(entries, list):
        raise GeometryError(f"{where}: expected a list of slabs")
    out: list[dict[str, Any]] = []
    for i, e in enumerate(entries):
        w = f"{where}[{i}]"
        if not isinstance(e, dict):
            raise GeometryError(f"{w}: expected a mapping")
        unknown = set(e) - {"material", "mm", "sensitive", "include", "repeat", "kind"}
        if unknown:
            raise GeometryError(f"{w}: unknown key(s) {', '.join(sorted(unknown))}; allowed: material, mm, "
                                "sensitive, include, repeat, kind")
        repeat = e.get("repeat", 1)
        if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
            raise GeometryError(f"{w}.repeat: {repeat!r} must be a positive integer")
        for r in range(repeat):
            if "include" in e:
                name = e["include"]
                if name not in stacks:
                    raise GeometryError(f"{w}.include: unknown stack {name!r}; defined: {', '.join(stacks)}")
                inner = [s for s in _expand(stacks[name], stacks, f"stacks.{name}", depth + 1) if "material" in s]
                kind = e.get("kind") or (name if depth == 0 else "")
                if depth == 0:  # a top-level stack instance is one region (one detector layer)
                    out.append({"group": True})
                out.extend({**s, "kind": kind or s.get("kind") or name} for s in inner)
                if depth == 0:
                    out.append({"end_group": True})
            else:
                if "material" not in e or "mm" not in e:
                    raise GeometryError(f"{w}: a slab needs 'material' and 'mm'")
                out.append({"material": e["material"], "mm": _num(e["mm"], f"{w}.mm"),
                            "sensitive": bool(e.get("sensitive", False)), "kind": e.get("kind", ""), "where": w})
    return out


def load_geometry(path: str | Path) -> Geometry:
    """Read and validate a geometry YAML file."""
    path = Path(path)
    if not path.is_file():
        alt = REPO_GEOMETRY / f"{path}.yaml"
        if alt.is_file():
            path = alt
        else:
            raise GeometryError(f"geometry file {path} does not exist")
    try:
        d = read_yaml(path)
    except YamlError as exc:
        raise GeometryError(str(exc)) from None
    return geometry_from_dict(d, str(path.name))


def parse_inserts(entries: Any, materials: dict, where: str, thickness_mm: float | None = None
                  ) -> tuple[Insert, ...]:
    """The inserts of a phantom from their mapping form (a geometry's ``phantom.inserts``, a phantom file). Every
    number must be finite (a NaN centre would make the insert vanish silently); with ``thickness_mm`` an insert
    that starts at or beyond the phantom's exit face (so no proton could cross it) is refused."""
    if not isinstance(entries, list):
        raise GeometryError(f"{where}: expected a list of inserts")
    out = []
    shape_keys = {"cylinder": {"radius_mm"}, "box": {"half_x_mm", "half_y_mm"}}
    for k, e in enumerate(entries):
        w = f"{where}[{k}]"
        if not isinstance(e, dict) or e.get("shape", "cylinder") not in INSERT_SHAPES:
            raise GeometryError(f"{w}: expected a mapping with shape one of {', '.join(INSERT_SHAPES)}")
        shape = e.get("shape", "cylinder")
        allowed = {"material", "shape", "x_mm", "y_mm", "z_from_mm", "z_to_mm"} | shape_keys[shape]
        unknown = set(e) - allowed
        if unknown or "material" not in e or not shape_keys[shape] <= set(e):
            raise GeometryError(f"{w}: a {shape} insert takes material, {', '.join(sorted(shape_keys[shape]))} and "
                                f"optionally x_mm, y_mm, z_from_mm, z_to_mm" + (f"; unknown: {', '.join(sorted(unknown))}"
                                                                                  if unknown else ""))
        if e["material"] not in materials:
            raise GeometryError(f"{w}: unknown material {e['material']!r}; known: {', '.join(materials)}")
        vals = {}
        for key in set(e) - {"material", "shape"}:
            if key in ("x_mm", "y_mm"):  # centres may be anywhere, but must be numbers
                try:
                    vals[key] = check_number(e[key], f"{w}.{key}")
                except NumberError as exc:
                    raise GeometryError(str(exc)) from None
            else:  # sizes positive, z limits non-negative
                vals[key] = _num(e[key], f"{w}.{key}", positive=key in shape_keys[shape])
        ins = Insert(e["material"], shape, **vals)
        if ins.z_to_mm is not None and ins.z_to_mm <= ins.z_from_mm:
            raise GeometryError(f"{w}: z_to_mm must exceed z_from_mm")
        if thickness_mm is not None and ins.z_from_mm >= thickness_mm:
            raise GeometryError(f"{w}: z_from_mm {ins.z_from_mm:g} lies at or beyond the phantom's exit face "
                                f"({thickness_mm:g} mm): the insert would be outside the phantom")
        out.append(ins)
    return tuple(out)


def geometry_from_dict(d: Any, where: str = "geometry") -> Geometry:
    if not isinstance(d, dict):
        raise GeometryError(f"{where}: expected a mapping")
    allowed = {"name", "description", "sensor", "phantom", "stacks", "detector", "materials"}
    unknown = set(d) - allowed
    if unknown:
        raise GeometryError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(allowed))}")
    try:
        materials = load_materials(d.get("materials"))
    except MaterialError as exc:
        raise GeometryError(f"{where}: {exc}") from None
    s = d.get("sensor") or {}
    sensor_keys = ("width_mm", "height_mm", "pitch_x_mm", "pitch_y_mm", "epitaxial_mm")
    bad = set(s) - set(sensor_keys)
    if bad or any(k not in s for k in sensor_keys):
        raise GeometryError(f"{where}: sensor needs exactly {', '.join(sensor_keys)}")
    sensor = Sensor(*(_num(s[k], f"{where}: sensor.{k}") for k in sensor_keys))
    p = dict(d.get("phantom") or {})
    placements = {"gap_to_detector_mm", "centre_to_detector_mm"}
    raw_inserts = p.pop("inserts", None) or []
    if not isinstance(p, dict) or set(p) - placements != {"material", "thickness_mm"} or len(set(p) & placements) != 1:
        raise GeometryError(f"{where}: phantom needs exactly material, thickness_mm and one of gap_to_detector_mm, "
                            f"centre_to_detector_mm (and optionally inserts)")
    if p["material"] not in materials:
        raise GeometryError(f"{where}: phantom.material: unknown material {p['material']!r}; known: "
                            f"{', '.join(materials)}")
    thickness = _num(p["thickness_mm"], f"{where}: phantom.thickness_mm", positive=False)
    inserts = parse_inserts(raw_inserts, materials, f"{where}: phantom.inserts", thickness)
    if "gap_to_detector_mm" in p:
        phantom = Phantom(p["material"], thickness,
                          _num(p["gap_to_detector_mm"], f"{where}: phantom.gap_to_detector_mm", positive=False),
                          None, inserts)
    else:
        centre = _num(p["centre_to_detector_mm"], f"{where}: phantom.centre_to_detector_mm", positive=False)
        if centre < 0.5 * thickness:
            raise GeometryError(f"{where}: phantom.centre_to_detector_mm {centre:g} is less than half the "
                                f"thickness {thickness:g}: the phantom would overlap the detector")
        phantom = Phantom(p["material"], thickness, centre - 0.5 * thickness, centre, inserts)
    flat = _expand(d.get("detector"), d.get("stacks") or {}, f"{where}: detector")
    slabs: list[Slab] = []
    z = 0.0
    layer = 0
    region = 0
    in_group = False
    for e in flat:
        if e.get("group"):
            region += 1
            in_group = True
            continue
        if e.get("end_group"):
            in_group = False
            continue
        if e["material"] not in materials:
            raise GeometryError(f"{e['where']}: unknown material {e['material']!r}; known: {', '.join(materials)}")
        if not in_group:
            region += 1
        slabs.append(Slab(e["material"], e["mm"], z, e["sensitive"], layer if e["sensitive"] else -1, region,
                          e["kind"] or ("gap" if e["material"] == "air" else "")))
        layer += e["sensitive"]
        z += e["mm"]
    if layer == 0:
        raise GeometryError(f"{where}: the detector has no sensitive slab")
    return Geometry(str(d.get("name", "geometry")), str(d.get("description", "")), sensor, phantom, tuple(slabs),
                    materials)
