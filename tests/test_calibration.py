"""The phantom-placement calibration (pctlib.graphs.calibration) on synthetic scans with a known answer."""

import numpy as np
import pandas as pd
import pytest

from pctlib.graphs import calibration
from pctlib.graphs.reference import HIT_GRAPH_SIZES, LINE_GRAPH_EDGES


def synthetic_scan(best: float, distances=(240.0, 260.0, 280.0, 300.0, 320.0), slope=0.01):
    """Sizes equal to the published ones times exp(slope * (best - d)): exact at d = best."""
    rows = []
    for d in distances:
        f = float(np.exp(slope * (best - d)))
        for (n, t), ref in HIT_GRAPH_SIZES.items():
            rows.append({"placement": "centre", "distance_mm": d, "gap_mm": d - t / 2, "phantom_mm": float(t),
                         "primaries_per_frame": n, "frames": 10, "nodes": ref[0], "edges": ref[2] * f,
                         "line_edges_both_directions": LINE_GRAPH_EDGES.get((n, t), np.nan) * f ** 2})
    return pd.DataFrame(rows)


def test_comparison_covers_every_published_number_once_per_distance():
    c = calibration.comparison(synthetic_scan(270.0))
    per = c[c.distance_mm == 240.0].groupby("quantity").size().to_dict()
    assert per == {"nodes": 9, "edges": 9, "line_edges": 4}
    exact = calibration.comparison(synthetic_scan(260.0))
    assert np.allclose(exact[exact.distance_mm == 260.0]["log_ratio"], 0.0)


def test_misfit_is_rms_log_ratio_and_fit_recovers_the_optimum():
    df = synthetic_scan(270.0)
    m = calibration.misfit(df)
    # at 240 mm: 9 edges off by 0.3 and 4 line-edge counts by 0.6 in log
    assert m[240.0] == pytest.approx(np.sqrt((9 * 0.3 ** 2 + 4 * 0.6 ** 2) / 13))
    # the misfit is |d - 270| * const, piecewise linear: the parabola through 260/280/300 ... peaks at the minimum
    assert calibration.fit_distance(df) == pytest.approx(270.0, abs=5.0)
    assert calibration.fit_distance(synthetic_scan(280.0)) == pytest.approx(280.0, abs=1e-6)
    at = calibration.interpolate(df, 270.0)
    assert np.allclose(at[at.quantity != "nodes"]["relative_difference_%"], 0.0, atol=1e-9)
    loo = calibration.leave_one_phantom_out(df)
    assert list(loo.held_out_phantom_mm) == [100.0, 150.0, 200.0]
    assert np.all(loo["held_out_max_abs_difference_%"] < 6.0)


def test_fit_at_the_edge_of_the_scan_is_an_error():
    with pytest.raises(ValueError, match="edge of the scan"):
        calibration.fit_distance(synthetic_scan(400.0))


def test_scan_runs_end_to_end_small():
    cfg = calibration.ScanConfig(distances_mm=(250.0, 290.0), phantoms_mm=(100.0,), densities=(50,), primaries=150)
    df = calibration.scan(cfg, progress=False)
    assert len(df) == 2 and set(df.gap_mm) == {200.0, 240.0}
    # a shorter distance concentrates the protons at the trackers: more candidate segments
    e = df.set_index("distance_mm")["edges"]
    assert e[250.0] > e[290.0]
    with pytest.raises(ValueError, match="placement"):
        calibration.scan(calibration.ScanConfig(placement="floating"), progress=False)
