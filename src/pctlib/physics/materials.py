"""Materials: density, mean excitation energy, radiation length, elemental composition and nuclear cross section.

Material data live in ``data/materials.yaml``; a geometry file may add its own materials in the same form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .constants import AVOGADRO, BARN_CM2

DATA = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Element:
    symbol: str
    Z: int
    A: float  # molar mass [g/mol]
    I_eV: float  # mean excitation energy of the PSTAR table's material [eV]
    #: inelastic proton-nucleus cross section above ~50 MeV [barn]
    sigma_inel_b: float


def _sigma_inel(A: float) -> float:
    """Proton-nucleus inelastic cross section [b] from the A^(2/3) scaling through sigma(p + 16O) = 0.30 b.

    Hydrogen (free protons) has no inelastic channel below the pion threshold (~280 MeV): 0.
    """
    if A < 1.5:
        return 0.0
    return 0.30 * (A / 15.999) ** (2.0 / 3.0)


ELEMENTS: dict[str, Element] = {
    e.symbol: e
    for e in (
        Element("H", 1, 1.008, 19.2, _sigma_inel(1.008)),
        Element("C", 6, 12.011, 78.0, _sigma_inel(12.011)),
        Element("N", 7, 14.007, 82.0, _sigma_inel(14.007)),
        Element("O", 8, 15.999, 95.0, _sigma_inel(15.999)),
        Element("Al", 13, 26.9815, 166.0, _sigma_inel(26.9815)),
        Element("Si", 14, 28.085, 173.0, _sigma_inel(28.085)),
        Element("Ar", 18, 39.948, 188.0, _sigma_inel(39.948)),
        # elements of tissues without a PSTAR table here: their stopping tables are silicon's scaled by Z/A
        # (``stopping.py``), so they carry silicon's I; the compound's own I then corrects the mixture
        Element("Na", 11, 22.98977, 173.0, _sigma_inel(22.98977)),
        Element("Mg", 12, 24.305, 173.0, _sigma_inel(24.305)),
        Element("P", 15, 30.97376, 173.0, _sigma_inel(30.97376)),
        Element("S", 16, 32.06, 173.0, _sigma_inel(32.06)),
        Element("Cl", 17, 35.45, 173.0, _sigma_inel(35.45)),
        Element("Ca", 20, 40.078, 173.0, _sigma_inel(40.078)),
    )
}
#: elements whose stopping table is silicon's scaled by Z/A (see ``stopping.py``)
SILICON_SCALED = ("Na", "Mg", "P", "S", "Cl", "Ca")


class MaterialError(ValueError):
    """An unknown or malformed material."""


@dataclass(frozen=True)
class Material:
    name: str
    density: float  # [g/cm^3]
    I_eV: float
    X0_cm: float
    composition: dict[str, float] = field(default_factory=dict)  # element -> mass fraction
    pstar: str | None = None  # name of a PSTAR table of this very material, if there is one

    @property
    def X0_mm(self) -> float:
        return self.X0_cm * 10.0

    @property
    def z_over_a(self) -> float:
        """<Z/A> [mol/g] by mass fractions."""
        return sum(w * ELEMENTS[el].Z / ELEMENTS[el].A for el, w in self.composition.items())

    @property
    def nuclear_sigma_per_mm(self) -> float:
        """Macroscopic inelastic cross section [1/mm] at high energy (sum of n_el * sigma_el)."""
        total = 0.0
        for el, w in self.composition.items():
            e = ELEMENTS[el]
            n = self.density * w / e.A * AVOGADRO  # nuclei per cm^3
            total += n * e.sigma_inel_b * BARN_CM2  # 1/cm
        return total / 10.0

    @property
    def bragg_I_eV(self) -> float:
        """Mean excitation energy of the elemental tables by Bragg additivity: ln I = sum w Z/A ln I / sum w Z/A."""
        num = sum(w * ELEMENTS[el].Z / ELEMENTS[el].A * math.log(ELEMENTS[el].I_eV) for el, w in
                  self.composition.items())
        return math.exp(num / self.z_over_a)


def _material(name: str, d: Any) -> Material:
    if not isinstance(d, dict):
        raise MaterialError(f"material {name!r}: expected a mapping")
    need = ("density", "I_eV", "X0_cm", "composition")
    missing = [k for k in need if k not in d]
    if missing:
        raise MaterialError(f"material {name!r}: missing {', '.join(missing)}")
    unknown = [k for k in d if k not in need + ("pstar",)]
    if unknown:
        raise MaterialError(f"material {name!r}: unknown key(s) {', '.join(unknown)}")
    comp = d["composition"]
    for el in comp:
        if el not in ELEMENTS:
            raise MaterialError(f"material {name!r}: unknown element {el!r}; known: {', '.join(ELEMENTS)}")
    total = sum(comp.values())
    if abs(total - 1.0) > 1e-3:
        raise MaterialError(f"material {name!r}: mass fractions sum to {total:.4f}, not 1")
    for k in ("density", "I_eV", "X0_cm"):
        if not isinstance(d[k], (int, float)) or d[k] <= 0:
            raise MaterialError(f"material {name!r}: {k} must be a positive number, got {d[k]!r}")
    return Material(name, float(d["density"]), float(d["I_eV"]), float(d["X0_cm"]),
                    {k: float(v) / total for k, v in comp.items()}, d.get("pstar"))


def load_materials(extra: dict[str, Any] | None = None) -> dict[str, Material]:
    """The built-in materials, plus (or overridden by) ``extra`` in the same YAML form."""
    data = yaml.safe_load((DATA / "materials.yaml").read_text())
    data.update(extra or {})
    return {name: _material(name, d) for name, d in data.items()}
