"""Per-hit features of the hit classifier on a hand-made hit table."""

import numpy as np
import pytest

from pctlib.io.hit_table import HIT_DTYPE, cluster_size
from pctlib.preselect.features import FEATURES, MISSING_MM, hit_features


def table(rows):
    hits = np.zeros(len(rows), HIT_DTYPE)
    for k, (layer, x, y, edep) in enumerate(rows):
        hits[k]["layer"], hits[k]["posX"], hits[k]["posY"], hits[k]["edep"] = layer, x, y, edep
    return hits


def test_features_of_a_hand_made_frame():
    hits = table([(0, 0.0, 0.0, 0.01), (0, 3.0, 4.0, 0.02), (0, 20.0, 0.0, 0.01),  # layer 0
                  (1, 0.0, 1.0, 0.03),  # layer 1
                  (3, 6.0, 8.0, 0.005)])  # layer 3: no layer 2 or 4
    f = hit_features(hits, radius_mm=5.0)
    col = {name: f[:, k] for k, name in enumerate(FEATURES)}
    assert list(col["layer"]) == [0, 0, 0, 1, 3]
    assert np.allclose(col["edep"], [0.01, 0.02, 0.01, 0.03, 0.005])
    assert np.array_equal(col["cluster_size"], cluster_size(hits["edep"].astype(float)))
    # hits 0 and 1 are 5 mm apart (on the radius: counted), hit 2 is alone
    assert list(col["occupancy"]) == [1, 1, 0, 0, 0]
    # nearest hit of the next layer: layer 1's only hit at (0, 1)
    assert col["dist_next"][:3] == pytest.approx([1.0, np.hypot(3, 3), np.hypot(20, 1)])
    assert col["dist_prev"][3] == pytest.approx(1.0)  # from (0, 1) to (0, 0)
    # layer 0 has no previous layer, layer 1 no hit in layer 2, layer 3 neither neighbour
    assert (col["dist_prev"][:3] == MISSING_MM).all() and col["dist_next"][3] == MISSING_MM
    assert col["dist_prev"][4] == MISSING_MM and col["dist_next"][4] == MISSING_MM
    assert hit_features(table([])).shape == (0, len(FEATURES))
    with pytest.raises(ValueError, match="radius_mm"):
        hit_features(hits, radius_mm=0)
