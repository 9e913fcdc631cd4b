"""Where the repository's folders are.

The runner works on a *project root*: a folder holding ``notebooks/`` (the jupytext sources), ``params/``,
``runs/`` (ignored execution folders) and ``results/`` (small tables and figures). The root is found by walking
up from a starting path until a folder with a ``notebooks/`` sub-folder appears, so tests can build a throw-away
project in a temporary directory.
"""

from __future__ import annotations

import os
from pathlib import Path


def find_project_root(start: str | os.PathLike | None = None) -> Path:
    """Return the nearest folder at or above ``start`` (default: the working directory) holding ``notebooks/``.

    ``PCTLIB_ROOT`` in the environment overrides the search.
    """
    env = os.environ.get("PCTLIB_ROOT")
    if env:
        return Path(env).resolve()
    here = Path(start or Path.cwd()).resolve()
    if here.is_file():
        here = here.parent
    for folder in (here, *here.parents):
        if (folder / "notebooks").is_dir():
            return folder
    raise FileNotFoundError(f"no project root (a folder with notebooks/) at or above {here}")


def package_root() -> Path:
    """The installed ``pctlib`` package folder (its files enter the code hash of every execution)."""
    return Path(__file__).resolve().parent
