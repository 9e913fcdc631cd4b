"""Shared fixtures: a throw-away project (notebooks/, params/) for runner tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

HEADER = """\
# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---
"""


def write_notebook(folder: Path, name: str, params: str, body: str) -> Path:
    """Write a minimal jupytext percent notebook with a parameters cell."""
    text = (
        HEADER
        + f"\n# %% [markdown]\n# # Notebook {name}\n"
        + '\n# %% tags=["parameters"]\n'
        + 'params_name = "interactive"\nresults_dir = "out"\nrun_key = "main"\n'
        + textwrap.dedent(params).strip()
        + "\n\n# %%\n"
        + textwrap.dedent(body).strip()
        + "\n"
    )
    path = folder / f"{name}.py"
    path.write_text(text)
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with two small notebooks: `a_square` (grid-able) and `b_fail` (fails when asked to)."""
    root = tmp_path / "proj"
    (root / "notebooks").mkdir(parents=True)
    (root / "params").mkdir()
    write_notebook(
        root / "notebooks",
        "a_square",
        """
        x = 1
        scale = 1.0
        mode = "ptt"  # one of: ptt, pat
        sizes = [50, 100]
        """,
        """
        import json, pathlib
        p = pathlib.Path(results_dir); p.mkdir(parents=True, exist_ok=True)
        (p / "out.json").write_text(json.dumps({"y": x * x * scale, "mode": mode, "sizes": sizes}))
        """,
    )
    write_notebook(
        root / "notebooks",
        "b_fail",
        """
        fail = False
        """,
        """
        if fail:
            raise ValueError("asked to fail")
        print("fine")
        """,
    )
    return root


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Small simulated training and validation sets (200 mm water, frames of 30 primaries) and their feature
    statistics: (train frames, validation frames, normalisation)."""
    from pctlib.training.data import DataSpec, feature_statistics, prepare

    root = tmp_path_factory.mktemp("data")
    tr = prepare(DataSpec("train", (200.0,), 120, 1, primaries_per_frame=30), root, progress=False)
    va = prepare(DataSpec("val", (200.0,), 60, 2, primaries_per_frame=30), root, progress=False)
    return tr, va, feature_statistics(tr)
