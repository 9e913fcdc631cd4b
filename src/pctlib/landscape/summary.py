"""The per-model landscape summary (Yang et al. 2021's taxonomy, as the paper follows it): one tidy table of
(configuration, seed, metric, value) that each landscape chapter extends with its measures (curvature and basin
width here; similarity and connectivity in the later chapters), and its summary per configuration."""

from __future__ import annotations

import pandas as pd

COLUMNS = ["configuration", "seed", "metric", "value"]


def tidy_summary(records) -> pd.DataFrame:
    """A tidy table from ``(configuration, seed, metric, value)`` records; a (configuration, seed, metric) given
    twice is an error naming it (two values for one measure of one model would be averaged silently later)."""
    df = pd.DataFrame(list(records), columns=COLUMNS)
    dup = df.duplicated(["configuration", "seed", "metric"], keep=False)
    if dup.any():
        first = df[dup].iloc[0]
        raise ValueError(f"{first['configuration']} seed {first['seed']}: metric {first['metric']!r} given twice")
    df["value"] = df["value"].astype(float)
    return df


def describe(summary: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard deviation (ddof 1; NaN for one seed) and number of seeds of every metric per configuration,
    configurations in their order of first appearance."""
    order = list(dict.fromkeys(summary["configuration"]))
    g = summary.groupby(["configuration", "metric"], sort=False)["value"]
    out = pd.DataFrame({"mean": g.mean(), "std": g.std(ddof=1), "seeds": g.count()}).reset_index()
    out["configuration"] = pd.Categorical(out["configuration"], order, ordered=True)
    return out.sort_values(["configuration", "metric"]).reset_index(drop=True)
