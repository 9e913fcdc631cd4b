"""A batch of particles as the transport moves it (one tensor per property), and the frame perpendicular to a
direction that scattering and the emission of secondaries both use. Shared by ``transport`` and ``nuclear``, which
import it and not each other."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Particles:
    """State of a batch of particles (all tensors of one length)."""

    x: torch.Tensor
    y: torch.Tensor
    ux: torch.Tensor
    uy: torch.Tensor
    uz: torch.Tensor
    e: torch.Tensor
    frac: torch.Tensor  # fraction of the current step still to cross
    start: torch.Tensor  # index of the first step
    event: torch.Tensor
    track: torch.Tensor
    parent: torch.Tensor
    primary: torch.Tensor  # bool: may interact and emit secondaries

    FIELDS = ("x", "y", "ux", "uy", "uz", "e", "frac", "start", "event", "track", "parent", "primary")

    def __len__(self) -> int:
        return self.x.numel()

    def take(self, idx: torch.Tensor) -> "Particles":
        return Particles(*(getattr(self, f)[idx] for f in self.FIELDS))

    @staticmethod
    def cat(parts: list["Particles"]) -> "Particles":
        return Particles(*(torch.cat([getattr(p, f) for p in parts]) for f in Particles.FIELDS))


def perpendicular_basis(ux, uy, uz):
    """Two unit vectors perpendicular to u (e1 in the plane of u and x, e2 = u x e1)."""
    n = torch.sqrt(ux * ux + uz * uz).clamp_min(1e-12)
    e1x, e1y, e1z = uz / n, torch.zeros_like(ux), -ux / n
    e2x = uy * e1z - uz * e1y
    e2y = uz * e1x - ux * e1z
    e2z = ux * e1y - uy * e1x
    return (e1x, e1y, e1z), (e2x, e2y, e2z)
