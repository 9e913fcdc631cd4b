"""Pencil beams: energy, energy spread, spot size, divergence and spot positions."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .stopping import E_MAX, E_MIN


from ..checks import NumberError, check_number


class BeamError(ValueError):
    """A beam that cannot be simulated."""


@dataclass(frozen=True)
class Beam:
    energy_mev: float = 230.0
    energy_spread_mev: float = 0.0  # Gaussian sigma
    spot_sigma_mm: float = 3.0  # Gaussian sigma in x and y
    divergence_rad: float = 0.002  # Gaussian sigma of the angle in x and y
    #: spot centres (x, y) [mm]; primaries are split into equal consecutive blocks, one a spot
    spots: tuple[tuple[float, float], ...] = ((0.0, 0.0),)

    def __post_init__(self):
        try:
            check_number(self.energy_mev, "beam energy [MeV]")
            for name in ("energy_spread_mev", "spot_sigma_mm", "divergence_rad"):
                check_number(getattr(self, name), f"beam {name}", minimum=0.0)
            for k, spot in enumerate(self.spots):
                for v in spot:
                    check_number(v, f"beam spot {k}")
        except NumberError as exc:
            raise BeamError(str(exc)) from None
        if not (1.0 <= self.energy_mev <= 1000.0) or not (E_MIN < self.energy_mev < E_MAX):
            raise BeamError(f"beam energy {self.energy_mev} MeV is outside 1-1000 MeV (the transport tables)")
        if not self.spots:
            raise BeamError("beam needs at least one spot position")

    def spot_of(self, primary_index: torch.Tensor, n_total: int) -> torch.Tensor:
        per = max(1, -(-n_total // len(self.spots)))
        return (primary_index // per).clamp_max(len(self.spots) - 1)

    def sample(self, first: int, n: int, n_total: int, z0: float, gen: torch.Generator, device, dtype):
        """Positions, directions and energies of primaries ``first .. first+n-1`` starting at plane ``z0``."""
        idx = torch.arange(first, first + n, device=device)
        spots = torch.tensor(self.spots, device=device, dtype=dtype)[self.spot_of(idx, n_total)]
        g = torch.randn((5, n), generator=gen, device=device, dtype=dtype)
        x = spots[:, 0] + self.spot_sigma_mm * g[0]
        y = spots[:, 1] + self.spot_sigma_mm * g[1]
        tx = torch.tan(self.divergence_rad * g[2])
        ty = torch.tan(self.divergence_rad * g[3])
        norm = torch.sqrt(1 + tx * tx + ty * ty)
        e = (self.energy_mev + self.energy_spread_mev * g[4]).clamp_min(1.0)
        return x, y, tx / norm, ty / norm, 1.0 / norm, e, spots
