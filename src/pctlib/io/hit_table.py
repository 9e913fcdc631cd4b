"""The hit table: the published dataset's format (Kortus et al., Zenodo 7426388) plus explicit extras.

Columns (``HIT_DTYPE``): ``eventID`` (one per primary), ``trackID`` (1 for the primary), ``parentID`` (0 for the
primary), ``PDGEncoding``, ``edep`` [MeV], ``posX, posY, posZ`` [mm], ``level1ID, level2ID`` (GATE volume levels set
so that ``layer = (level2ID != -1) * (2 + level2ID) + (level2ID == -1) * level1ID`` holds), the explicit ``layer``,
the beam spot ``spotX, spotY`` [mm] and ``primaryInelastic`` (1 when the event's primary had an inelastic nuclear
interaction; -1 when unknown, as for imported data without that information).
"""

from __future__ import annotations

import numpy as np

HIT_DTYPE = np.dtype([
    ("eventID", "<i4"), ("trackID", "<i4"), ("parentID", "<i4"), ("PDGEncoding", "<i4"),
    ("edep", "<f4"), ("posX", "<f4"), ("posY", "<f4"), ("posZ", "<f4"),
    ("level1ID", "<i4"), ("level2ID", "<i4"), ("layer", "<i2"),
    ("spotX", "<f4"), ("spotY", "<f4"), ("primaryInelastic", "<i1"),
])

REQUIRED = ("eventID", "trackID", "parentID", "edep", "posX", "posY", "posZ")
N_TRACKER_LAYERS = 2


def layer_from_levels(level1: np.ndarray, level2: np.ndarray) -> np.ndarray:
    """The reference layer formula (layers 0-1 are the trackers)."""
    level1 = np.asarray(level1)
    level2 = np.asarray(level2)
    return np.where(level2 != -1, N_TRACKER_LAYERS + level2, level1)


def levels_from_layer(layer: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GATE-like volume levels for a layer index: trackers (level1 = layer, level2 = -1), calorimeter (level1 = 2)."""
    layer = np.asarray(layer)
    tracker = layer < N_TRACKER_LAYERS
    level1 = np.where(tracker, layer, N_TRACKER_LAYERS)
    level2 = np.where(tracker, -1, layer - N_TRACKER_LAYERS)
    return level1.astype(np.int32), level2.astype(np.int32)


def cluster_size(edep_mev: np.ndarray, thickness_um: float = 25.0) -> np.ndarray:
    """ALPIDE cluster size from the deposited energy: cs = int(4.2267 L^0.65 + 0.5), L in keV/um."""
    lin = np.clip(np.asarray(edep_mev, dtype=np.float64), 0.0, None) * 1000.0 / thickness_um
    return (4.2267 * lin**0.65 + 0.5).astype(np.int64)


#: per-hit truth classes (for the noise classification of chapter 09): index = code of :func:`hit_classes`
HIT_CLASSES = ("primary", "secondary", "noise")


def hit_classes(hits: np.ndarray) -> np.ndarray:
    """The class of every hit of a hit table as a code into ``HIT_CLASSES``: 2 (noise) for a hit no particle made
    (``trackID`` = ``parentID`` = -1: a fake pixel cluster of the digitisation, which keeps the eventID of its
    frame's first primary), 0 (primary) for the primary's own hits (``parentID`` = 0), 1 (secondary) for any other
    particle's. A cluster that merges hits of several particles carries the truth of its largest deposit
    (``physics/pixels.py``), so it is classed by that one."""
    track = np.asarray(hits["trackID"])
    parent = np.asarray(hits["parentID"])
    return np.where((track < 0) | (parent < 0), 2, np.where(parent == 0, 0, 1)).astype(np.int8)
