"""environment.yml (conda) and pyproject.toml (pip) must list the same pinned dependencies."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _norm(req: str) -> str:
    return re.sub(r"[-_.]+", "-", req.strip().lower())


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_reqs = set(map(_norm, project["dependencies"]))
    for extra in project["optional-dependencies"].values():
        pip_reqs |= set(map(_norm, extra))
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    conda_reqs = {_norm(r) for r in pip_section if not r.startswith("-e")}
    assert conda_reqs == pip_reqs, (
        f"only in environment.yml: {sorted(conda_reqs - pip_reqs)}; only in pyproject.toml: {sorted(pip_reqs - conda_reqs)}"
    )


def test_every_dependency_is_pinned():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"]) + [r for e in project["optional-dependencies"].values() for r in e]
    loose = [r for r in reqs if "==" not in r]
    assert not loose, f"unpinned dependencies: {loose}"


def test_jupyter_book_is_version_1():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    jb = [r for r in project["dependencies"] if r.startswith("jupyter-book")]
    assert jb and jb[0].split("==")[1].startswith("1."), jb
