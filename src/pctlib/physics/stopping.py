"""Proton stopping powers and CSDA ranges from the NIST PSTAR tables.

Materials with a PSTAR table of their own (aluminium, silicon, air) use it directly. Every other material is built
by Bragg additivity of its elements' tables, S = sum_i w_i S_i, and then corrected to the material's own mean
excitation energy I (the elemental tables carry the I of the free elements, e.g. 19.2 eV for H2 gas and 95 eV for
O2, which by additivity give 69 eV for water instead of the measured 75 eV). The correction multiplies by the ratio
of Bethe stopping numbers, L(beta, I) = ln(2 m_e c^2 beta^2 gamma^2 / I) - beta^2, above 0.5 MeV where the
Bethe formula holds. For water this reproduces the PSTAR CSDA ranges to better than 0.1 % (tests/test_stopping.py),
an independent check since the PSTAR water table itself is not used.

Nitrogen has no elemental table here; it is derived from air (75.5 % N by mass) less its oxygen, carbon and argon,
argon being taken as air scaled by Z/A. The minor elements of tissues (Na, Mg, P, S, Cl, Ca: a third of cortical
bone's mass) have no table either: theirs is silicon's scaled by Z/A, i.e. silicon's shape and I; the compound's own
I (ICRU) corrects the mixture as for every other material, so above 0.5 MeV the compound follows Bethe's formula
with its electron density and I, whatever the shape of the borrowed table (tests/test_stopping.py compares cortical
bone with that formula).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .constants import M_E, beta2_gamma
from .materials import DATA, ELEMENTS, SILICON_SCALED, Material

PSTAR = DATA / "pstar"
_ELEMENT_FILES = {"H": "hydrogen", "C": "carbon", "O": "oxygen", "Al": "aluminium", "Si": "silicon"}
#: validity of the tables [MeV]
E_MIN, E_MAX = 1e-3, 1e4


class EnergyRangeError(ValueError):
    """An energy outside the stopping-power tables."""


def _read(name: str) -> tuple[np.ndarray, np.ndarray]:
    d = np.loadtxt(PSTAR / f"{name}_S.csv")
    return d[:, 0], d[:, 1]


@lru_cache(maxsize=None)
def _element_table(symbol: str) -> tuple[np.ndarray, np.ndarray]:
    if symbol in _ELEMENT_FILES:
        return _read(_ELEMENT_FILES[symbol])
    e, s_air = _read("air")
    _, s_o = _read("oxygen")
    _, s_c = _read("carbon")
    if symbol == "Ar":
        return e, s_air * (18 / 39.948) / 0.49919
    if symbol in SILICON_SCALED:  # tissue elements without a table: silicon's, scaled by Z/A (same I as silicon)
        el, si = ELEMENTS[symbol], ELEMENTS["Si"]
        e_si, s_si = _read("silicon")
        return e_si, s_si * (el.Z / el.A) / (si.Z / si.A)
    if symbol == "N":
        s_ar = s_air * (18 / 39.948) / 0.49919
        return e, (s_air - 0.231781 * s_o - 0.000124 * s_c - 0.012827 * s_ar) / 0.755267
    raise KeyError(symbol)


def stopping_number(e_kin: np.ndarray, I_eV: float) -> np.ndarray:
    """Bethe stopping number L = ln(2 m_e c^2 beta^2 gamma^2 / I) - beta^2 (no shell or density corrections)."""
    b2, g = beta2_gamma(e_kin)
    return np.log(2.0 * M_E * 1e6 * b2 * g * g / I_eV) - b2


def mass_stopping_power_table(material: Material) -> tuple[np.ndarray, np.ndarray]:
    """(E [MeV], S/rho [MeV cm^2/g]) on the PSTAR energy grid."""
    if material.pstar:
        return _read(material.pstar)
    e = None
    s = 0.0
    for el, w in material.composition.items():
        e, s_el = _element_table(el)
        s = s + w * s_el
    corr = np.ones_like(e)
    hi = e > 0.5
    corr[hi] = stopping_number(e[hi], material.I_eV) / stopping_number(e[hi], material.bragg_I_eV)
    return e, s * corr


@dataclass(frozen=True)
class StoppingTable:
    """Mass stopping power S(E) and CSDA range R(E) of one material on a fine logarithmic grid."""

    material: Material
    log_e: np.ndarray
    s: np.ndarray  # [MeV cm^2/g]
    r: np.ndarray  # CSDA range [g/cm^2]

    @classmethod
    def build(cls, material: Material, n: int = 4000) -> "StoppingTable":
        e0, s0 = mass_stopping_power_table(material)
        log_e = np.linspace(np.log(E_MIN), np.log(E_MAX), n)
        s = np.exp(np.interp(log_e, np.log(e0), np.log(s0)))
        e = np.exp(log_e)
        # R(E) = int dE / S; below the first point S ~ sqrt(E) (velocity-proportional stopping) -> R = 2 E / S
        f = e / s
        r = np.concatenate([[2.0 * e[0] / s[0]], 2.0 * e[0] / s[0] + np.cumsum(0.5 * (f[1:] + f[:-1]) * np.diff(log_e))])
        return cls(material, log_e, s, r)

    def _check(self, e: np.ndarray) -> None:
        e = np.asarray(e)
        if np.any(e < E_MIN) or np.any(e > E_MAX):
            raise EnergyRangeError(f"energy outside the PSTAR tables ({E_MIN}-{E_MAX} MeV): {e}")

    def stopping_power(self, e) -> np.ndarray:
        """Mass stopping power [MeV cm^2/g] at kinetic energy ``e`` [MeV]."""
        self._check(e)
        return np.exp(np.interp(np.log(e), self.log_e, np.log(self.s)))

    def linear_stopping_power(self, e) -> np.ndarray:
        """dE/dx [MeV/mm]."""
        return self.stopping_power(e) * self.material.density / 10.0

    def csda_range(self, e) -> np.ndarray:
        """CSDA range [g/cm^2]."""
        self._check(e)
        return np.exp(np.interp(np.log(e), self.log_e, np.log(self.r)))

    def csda_range_mm(self, e) -> np.ndarray:
        return self.csda_range(e) / self.material.density * 10.0

    def energy_at_range(self, r_gcm2) -> np.ndarray:
        """Inverse of :meth:`csda_range`."""
        return np.exp(np.interp(np.log(r_gcm2), np.log(self.r), self.log_e))
