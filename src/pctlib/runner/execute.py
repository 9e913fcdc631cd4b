"""Execute one notebook with papermill into its run folder and write the manifest.

Layout of one execution (all under the ignored ``runs/`` folder)::

    runs/<params-name>/<notebook>/<key>/
        input.ipynb       the jupytext source converted to a notebook, before parameter injection
        notebook.ipynb    the papermill-executed notebook of the last completed execution (rendered by the book)
        failed.ipynb      the notebook of the last failed execution, when there is one
        manifest.json     parameters, hashes, git commit, start/end time, status, the failing cell's error
        history.jsonl     earlier manifests of this folder, one a line (nothing is lost on a rerun)

Tables and figures written by the notebook go to ``results/<params-name>/<notebook>/`` (with ``/<key>`` added when
the notebook runs as a grid of several executions).

An execution is staged: the notebook runs with its ``results_dir`` in a fresh staging folder beside the final one
(``NAME.staging-<id>``) and papermill writes to a temporary notebook; only when the execution completes is the
staging folder swapped in for the results folder (and the notebook renamed to ``notebook.ipynb``, the staging path
in its text replaced by the final one). A failed or killed execution leaves the previous results and notebook as
they were; leftovers of a killed one are removed by the next execution of the same target.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..fileio import target_lock, temporary_path, write_bytes_atomic, write_json_atomic
from ..paths import package_root
from .param_set import Execution

MANIFEST = "manifest.json"
OUTPUT_NOTEBOOK = "notebook.ipynb"
FAILED_NOTEBOOK = "failed.ipynb"


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


def _leftovers(results_dir: Path) -> list[Path]:
    return sorted(results_dir.parent.glob(f"{results_dir.name}.staging-*")) + sorted(
        results_dir.parent.glob(f"{results_dir.name}.old-*"))


def recover_leftovers(results_dir: Path) -> Path | None:
    """Clean up after a killed execution, losing nothing: a kill between the two renames of :func:`_swap_in` leaves
    the previous results as ``NAME.old-*`` and no ``NAME``; that folder is renamed back (the newest, if several).
    Then staging folders (an unfinished execution) and ``.old-*`` folders whose results are in place (a kill after
    the swap, before the removal; the swap had copied everything of them it needed) are removed. Returns the folder
    restored, if any."""
    olds = sorted(results_dir.parent.glob(f"{results_dir.name}.old-*"), key=lambda p: p.stat().st_mtime)
    restored = None
    if not results_dir.exists() and olds:
        restored = olds.pop()
        os.replace(restored, results_dir)
    for left in _leftovers(results_dir):
        shutil.rmtree(left, ignore_errors=True)
    return restored


def _swap_in(staging: Path, final: Path) -> None:
    """Replace the folder ``final`` by ``staging`` (two renames; the old folder is removed afterwards). Entries of
    the old folder that the execution did not write (a benchmark's output kept beside a chapter's, a file of an
    earlier version) are copied into the staging folder first: the swap loses nothing that was there."""
    old = None
    if final.exists():
        for entry in final.iterdir():
            dest = staging / entry.name
            if dest.exists() or ".staging-" in entry.name or ".old-" in entry.name:
                continue
            if entry.is_dir():
                shutil.copytree(entry, dest)
            else:
                shutil.copy2(entry, dest)
        old = final.with_name(f"{final.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(final, old)
    os.replace(staging, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _retarget_notebook(src: Path, dest: Path, replacements: list[tuple[str, str]]) -> None:
    """Write the executed notebook ``src`` to ``dest`` (atomically) with each (staging path, final path) of
    ``replacements`` replaced in its text, then remove ``src``."""
    text = src.read_text()
    for old, new in replacements:
        text = text.replace(json.dumps(old)[1:-1], json.dumps(new)[1:-1])
    write_bytes_atomic(dest, text.encode())
    src.unlink(missing_ok=True)


def execute(
    execution: Execution,
    params_name: str,
    target: Target,
    project_root: Path,
    code: str,
) -> dict[str, Any]:
    """Run one execution with papermill; never raises for a failing notebook: the manifest says what failed.

    Two processes executing the same target (two ``pctlib run`` of one params file at once) take turns: the
    target's lock is held throughout, so neither removes the other's staging folder or swaps in half."""
    with target_lock(target.run_dir):
        return _execute(execution, params_name, target, project_root, code)


def _execute(execution: Execution, params_name: str, target: Target, project_root: Path, code: str
             ) -> dict[str, Any]:
    import papermill as pm

    run_dir, results_dir = target.run_dir, target.results_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    results_dir.parent.mkdir(parents=True, exist_ok=True)
    recover_leftovers(results_dir)  # of a killed execution
    for left in run_dir.glob(".notebook.ipynb.*"):
        left.unlink(missing_ok=True)
    staging = results_dir.with_name(f"{results_dir.name}.staging-{uuid.uuid4().hex[:8]}")
    staging.mkdir()
    staged_nb = temporary_path(run_dir / OUTPUT_NOTEBOOK, "ipynb")
    paths = [(display_path(staging, project_root), display_path(results_dir, project_root)),
             (str(staging.resolve()), str(results_dir.resolve()))]
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
                str(staged_nb),
                parameters=injected_parameters(execution, params_name, Target(run_dir, staging), project_root),
                kernel_name="python3",
                cwd=str(project_root),
                progress_bar=False,
                log_output=False,
                extra_arguments=KERNEL_ARGUMENTS,
            )
        manifest["status"] = "completed"
        write_json_atomic(staging / "provenance.json", {
            k: manifest[k] for k in ("params_name", "notebook", "key", "parameters", "code_hash", "git", "start")
        })
        _swap_in(staging, results_dir)
        _retarget_notebook(staged_nb, run_dir / OUTPUT_NOTEBOOK, paths)
        (run_dir / FAILED_NOTEBOOK).unlink(missing_ok=True)
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
    if manifest["status"] != "completed":
        shutil.rmtree(staging, ignore_errors=True)
        if staged_nb.exists():
            _retarget_notebook(staged_nb, run_dir / FAILED_NOTEBOOK, paths)
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
