"""Execute one notebook with papermill into its run folder and write the manifest.

Layout of one execution (all under the ignored ``runs/`` folder)::

    runs/<params-name>/<notebook>/<key>/
        input.ipynb       the jupytext source converted to a notebook, before parameter injection
        notebook.ipynb    the papermill-executed notebook (rendered by the book)
        manifest.json     parameters, hashes, git commit, start/end time, status, the failing cell's error
        history.jsonl     earlier manifests of this folder, one a line (nothing is lost on a rerun)

Tables and figures written by the notebook go to ``results/<params-name>/<notebook>/`` (with ``/<key>`` added when
the notebook runs as a grid of several executions).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..fileio import write_json_atomic
from ..paths import package_root
from .param_set import Execution

MANIFEST = "manifest.json"
OUTPUT_NOTEBOOK = "notebook.ipynb"


@dataclass(frozen=True)
class Target:
    """Where one execution writes: its run folder and its results folder."""

    run_dir: Path
    results_dir: Path


def code_hash(notebook_source: Path) -> str:
    """Hash of the notebook source and every file of the installed ``pctlib`` package."""
    h = hashlib.sha256()
    h.update(notebook_source.read_bytes())
    root = package_root()
    for f in sorted(root.rglob("*.py")):
        if "__pycache__" in f.parts:
            continue
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def git_commit(project_root: Path) -> dict[str, Any]:
    """The commit the project is at, and whether tracked files other than ``results/`` (the outputs) had changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=project_root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!results"],
                cwd=project_root, capture_output=True, text=True, check=True,
            ).stdout.strip()
        )
        return {"commit": head, "dirty": dirty}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}


def read_manifest(run_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((run_dir / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def prepare_input(source: Path, dest: Path) -> None:
    """Convert a jupytext source to ``.ipynb`` (kernel ``python3``)."""
    import jupytext

    nb = jupytext.read(source)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata.pop("jupytext", None)
    jupytext.write(nb, dest, fmt="ipynb")


#: Arguments of every kernel the runner starts: its own log lines (a TCP-transport warning at start, a
#: "KeyboardInterrupt caught in kernel" line when it is shut down) say nothing about the notebook. A failing cell
#: still reaches the runner as papermill's execution error, and a dying kernel as a dead-kernel error.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=CRITICAL"]

#: Environment of the kernels: progress bars of library calls stay out of executed notebooks (and so out of the
#: book; ``pctlib.progress``, and TQDM_DISABLE for other libraries' bars); the runner's own progress bar in the
#: terminal is not affected.
KERNEL_ENVIRONMENT = {"PCTLIB_PROGRESS": "0", "TQDM_DISABLE": "1"}


def display_path(path: Path, project_root: Path | None) -> str:
    """``path`` relative to the project root when it lies inside it (what a reader of the book should see)."""
    path = Path(path)
    if project_root is not None:
        try:
            return path.resolve().relative_to(Path(project_root).resolve()).as_posix()
        except ValueError:
            pass
    return str(path)


def injected_parameters(execution: Execution, params_name: str, target: Target,
                        project_root: Path | None = None) -> dict[str, Any]:
    """The parameters papermill injects; ``results_dir`` relative to ``project_root`` (the kernel's working
    directory) when one is given, absolute otherwise."""
    return {
        **execution.parameters,
        "params_name": params_name,
        "results_dir": display_path(target.results_dir, project_root),
        "run_key": execution.key,
    }


class _kernel_environment:
    """Set :data:`KERNEL_ENVIRONMENT` while a kernel is started (it inherits the environment), then restore."""

    def __enter__(self):
        self.saved = {k: os.environ.get(k) for k in KERNEL_ENVIRONMENT}
        os.environ.update(KERNEL_ENVIRONMENT)

    def __exit__(self, *exc):
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def execute(
    execution: Execution,
    params_name: str,
    target: Target,
    project_root: Path,
    code: str,
) -> dict[str, Any]:
    """Run one execution with papermill; never raises for a failing notebook: the manifest says what failed."""
    import papermill as pm

    run_dir, results_dir = target.run_dir, target.results_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    results_dir.mkdir(parents=True, exist_ok=True)
    old = read_manifest(run_dir)
    if old is not None:
        with open(run_dir / "history.jsonl", "a") as fh:
            fh.write(json.dumps(old, default=str) + "\n")
    manifest: dict[str, Any] = {
        "params_name": params_name,
        "notebook": execution.notebook,
        "key": execution.key,
        "parameters": execution.parameters,
        "params_hash": execution.params_hash(),
        "code_hash": code,
        "git": git_commit(project_root),
        "host": socket.gethostname(),
        "results_dir": str(results_dir),
        "start": _now(),
        "end": None,
        "seconds": None,
        "status": "running",
        "error": None,
    }
    write_json_atomic(run_dir / MANIFEST, manifest)
    t0 = time.perf_counter()
    try:
        prepare_input(execution.source, run_dir / "input.ipynb")
        with _kernel_environment():
            pm.execute_notebook(
                str(run_dir / "input.ipynb"),
                str(run_dir / OUTPUT_NOTEBOOK),
                parameters=injected_parameters(execution, params_name, target, project_root),
                kernel_name="python3",
                cwd=str(project_root),
                progress_bar=False,
                log_output=False,
                extra_arguments=KERNEL_ARGUMENTS,
            )
        manifest["status"] = "completed"
        write_json_atomic(results_dir / "provenance.json", {
            k: manifest[k] for k in ("params_name", "notebook", "key", "parameters", "code_hash", "git", "start")
        })
    except pm.PapermillExecutionError as exc:
        manifest["status"] = "failed"
        manifest["error"] = {
            "cell_index": exc.cell_index,
            "execution_count": exc.exec_count,
            "ename": exc.ename,
            "evalue": exc.evalue,
            "source": exc.source,
        }
    except Exception as exc:  # the runner must record any failure and go on with the grid
        manifest["status"] = "failed"
        manifest["error"] = {
            "cell_index": None,
            "ename": type(exc).__name__,
            "evalue": str(exc),
            "traceback": traceback.format_exc(limit=5),
        }
    manifest["end"] = _now()
    manifest["seconds"] = round(time.perf_counter() - t0, 3)
    write_json_atomic(run_dir / MANIFEST, manifest)
    return manifest


def prepare_injected(execution: Execution, params_name: str, target: Target, dest: Path) -> Path:
    """Write the notebook with its parameters injected but not executed (for ``pytest --nbmake``)."""
    import papermill as pm

    dest.parent.mkdir(parents=True, exist_ok=True)
    target.results_dir.mkdir(parents=True, exist_ok=True)
    raw = dest.with_name(dest.stem + ".input.ipynb")
    prepare_input(execution.source, raw)
    pm.execute_notebook(
        str(raw), str(dest), parameters=injected_parameters(execution, params_name, target),
        kernel_name="python3", prepare_only=True, progress_bar=False,
    )
    raw.unlink()
    return dest
