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
