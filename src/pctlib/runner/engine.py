"""Run all executions of a params set, locally or on a Ray cluster, resumably.

Resume rule: an execution is skipped when its run folder's manifest says ``completed`` with the same parameter
hash and the same code hash (notebook source + ``pctlib`` package); anything else is (re)executed. Notebooks run
in name order; the executions of one notebook may run in parallel on Ray, and the next notebook starts when they
have all ended (later chapters read the runs of earlier ones).
"""

from __future__ import annotations

import atexit
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tqdm import tqdm

from .execute import Target, code_hash, execute, read_manifest
from .param_set import Execution, ParamSet


@dataclass
class Planned:
    execution: Execution
    target: Target
    code: str
    skip: bool
    reason: str


@dataclass
class RunSummary:
    """What a run did: one row per execution."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["status"] == "failed"]

    def format(self) -> str:
        counts: dict[str, int] = {}
        for r in self.rows:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        lines = [
            "summary: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + f" ({len(self.rows)} executions)"
        ]
        for r in self.rows:
            secs = "" if r.get("seconds") is None else f" {r['seconds']:.1f}s"
            lines.append(f"  {r['status']:<9} {r['notebook']}/{r['key']}{secs}")
            if r["status"] == "failed" and r.get("error"):
                e = r["error"]
                cell = e.get("cell_index")
                where = f"cell {cell}: " if cell is not None else ""
                lines.append(f"            {where}{e.get('ename')}: {str(e.get('evalue'))[:300]}")
                lines.append(f"            see {r['run_dir']}/failed.ipynb")
        return "\n".join(lines)


def results_dir_for(results_root: Path, param_set: ParamSet, execution: Execution, n_in_notebook: int) -> Path:
    base = results_root / param_set.name / execution.notebook
    return base / execution.key if n_in_notebook > 1 else base


def plan(
    param_set: ParamSet,
    executions: list[Execution],
    runs_root: Path,
    results_root: Path,
    force: bool = False,
) -> list[Planned]:
    per_nb: dict[str, int] = {}
    for e in executions:
        per_nb[e.notebook] = per_nb.get(e.notebook, 0) + 1
    # Count the whole grid of each notebook, not only the selected part, so folders never move.
    out = []
    for e in executions:
        target = Target(
            run_dir=runs_root / param_set.name / e.notebook / e.key,
            results_dir=results_dir_for(results_root, param_set, e, per_nb[e.notebook]),
        )
        code = code_hash(e.source)
        old = read_manifest(target.run_dir)
        if force:
            skip, reason = False, "forced"
        elif old is None:
            skip, reason = False, "new"
        elif old.get("status") != "completed":
            skip, reason = False, f"previous run {old.get('status')}"
        elif old.get("params_hash") != e.params_hash():
            skip, reason = False, "parameters changed"
        elif old.get("code_hash") != code:
            skip, reason = False, "code changed"
        else:
            skip, reason = True, "completed earlier with the same parameters and code"
        out.append(Planned(e, target, code, skip, reason))
    return out


def planned_executions(project_root: Path, params: str | Path, only: str | None = None
                       ) -> tuple[str, list[Planned]]:
    """(params set name, planned executions) of a params file or of ``params/<name>.yaml``; ``only``: one
    notebook's executions (the grid of the others is still counted, so folders are the same)."""
    from .param_set import expand, load_param_set

    path = Path(params)
    if not path.is_file():
        path = Path(project_root) / "params" / f"{params}.yaml"
    ps = load_param_set(path, Path(project_root) / "notebooks")
    planned = plan(ps, expand(ps, Path(project_root) / "notebooks"), Path(project_root) / "runs",
                   Path(project_root) / "results")
    return ps.name, [p for p in planned if only is None or p.execution.notebook == only]


def _row(p: Planned, manifest: dict[str, Any] | None, status: str | None = None) -> dict[str, Any]:
    m = manifest or {}
    return {
        "notebook": p.execution.notebook,
        "key": p.execution.key,
        "status": status or m.get("status", "unknown"),
        "seconds": m.get("seconds"),
        "error": m.get("error"),
        "run_dir": str(p.target.run_dir),
    }


def run_local(planned: list[Planned], param_set: ParamSet, project_root: Path, progress: bool = True) -> RunSummary:
    summary = RunSummary()
    bar = tqdm(total=len(planned), desc=f"pctlib run {param_set.name}", unit="nb", disable=not progress, file=sys.stderr)
    for p in planned:
        bar.set_postfix_str(f"{p.execution.notebook}/{p.execution.key}")
        if p.skip:
            summary.rows.append(_row(p, read_manifest(p.target.run_dir), "skipped"))
        else:
            m = execute(p.execution, param_set.name, p.target, project_root, p.code)
            summary.rows.append(_row(p, m))
        bar.update(1)
    bar.close()
    return summary


def _ray_task(execution: Execution, params_name: str, target: Target, project_root: str, code: str):
    # the notebook's kernel inherits this environment: its landscape jobs (``pctlib.landscape.jobs``) then run as
    # Ray tasks on the same cluster
    import ray

    os.environ["PCTLIB_ENGINE"] = "ray"
    os.environ["RAY_ADDRESS"] = ray.get_runtime_context().gcs_address
    return execute(execution, params_name, target, Path(project_root), code)


#: Longest temp-dir path for which Ray's socket paths stay under the 107-byte limit of AF_UNIX.
_RAY_DIR_MAX = 40


def ray_init(address: str | None, temp_dir: Path) -> None:
    """Connect to a Ray cluster at ``address``, or start a local one whose files stay under ``temp_dir``."""
    try:
        import ray
    except ImportError:
        raise RuntimeError("--engine ray needs Ray: pip install 'pctlib[ray]'") from None
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, log_to_driver=False)
        return
    temp_dir.mkdir(parents=True, exist_ok=True)
    ray_dir = str(temp_dir.resolve())
    if len(ray_dir) > _RAY_DIR_MAX:
        # Ray's Unix sockets live in <temp>/session_<date>_<pid>/sockets/ and a socket path may not exceed 107
        # bytes. A deep run folder is reached through a short symbolic link; every file still lands in temp_dir.
        link = Path(tempfile.gettempdir()) / f"pctlib-ray-{os.getpid()}"
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(ray_dir, target_is_directory=True)
        atexit.register(lambda: link.unlink(missing_ok=True))
        ray_dir = str(link)
    ray.init(
        _temp_dir=ray_dir,
        include_dashboard=False,
        log_to_driver=False,
        num_cpus=os.cpu_count(),
    )


def run_ray(
    planned: list[Planned],
    param_set: ParamSet,
    project_root: Path,
    address: str | None,
    temp_dir: Path,
    progress: bool = True,
    init: Callable[[str | None, Path], None] = ray_init,
) -> RunSummary:
    import ray

    init(address, temp_dir)
    remote = ray.remote(_ray_task)
    summary = RunSummary()
    bar = tqdm(total=len(planned), desc=f"pctlib run {param_set.name} (ray)", unit="nb", disable=not progress,
               file=sys.stderr)
    notebooks: list[str] = []
    for p in planned:
        if p.execution.notebook not in notebooks:
            notebooks.append(p.execution.notebook)
    try:
        for nb in notebooks:
            stage = [p for p in planned if p.execution.notebook == nb]
            futures = {}
            for p in stage:
                if p.skip:
                    summary.rows.append(_row(p, read_manifest(p.target.run_dir), "skipped"))
                    bar.update(1)
                    continue
                res = p.execution.resources
                opts = {k: v for k, v in res.items() if k in ("num_cpus", "num_gpus", "memory")}
                ref = remote.options(**opts).remote(p.execution, param_set.name, p.target, str(project_root), p.code)
                futures[ref] = p
            pending = list(futures)
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    p = futures[ref]
                    try:
                        m = ray.get(ref)
                        summary.rows.append(_row(p, m))
                    except Exception as exc:  # a worker that died: record, go on
                        summary.rows.append(_row(p, {"error": {"ename": type(exc).__name__, "evalue": str(exc)}},
                                                 "failed"))
                    bar.update(1)
    finally:
        bar.close()
        if not address:
            ray.shutdown()
    return summary
