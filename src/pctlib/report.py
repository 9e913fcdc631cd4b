"""Writing a chapter's tables and figures into its results folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd


def results_folder(results_dir: str | Path) -> Path:
    path = Path(results_dir)
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_figure(fig, results_dir: str | Path, name: str, dpi: int = 120) -> Path:
    """Save ``fig`` as ``<results_dir>/<name>.png``."""
    path = results_folder(results_dir) / f"{name}.png"
    fig.savefig(path, dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    return path


def save_table(df: pd.DataFrame, results_dir: str | Path, name: str) -> Path:
    """Save ``df`` as ``<results_dir>/<name>.csv``."""
    path = results_folder(results_dir) / f"{name}.csv"
    df.to_csv(path, index=False)
    return path


def save_json(data: dict[str, Any], results_dir: str | Path, name: str) -> Path:
    path = results_folder(results_dir) / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path
