"""The ``pctlib`` command line.

Subcommands register themselves in ``commands.common.COMMANDS`` (``run``, ``prepare`` and ``book`` here; the
pipeline's ``simulate``, ``datasets``, ``graphs``, ``train``, ``evaluate`` in ``commands/``, which never import this
module). Bad input, and an output that cannot be written (disk full, read-only, permissions), is one line on stderr
and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .commands.common import COMMANDS, UsageError, register, write_error_message
from .paths import find_project_root


def _resolve(params: str, root: str | None = None) -> tuple[Path, Path]:
    """The params file and the project root.

    The root is ``--root`` when given, else ``PCTLIB_ROOT``, else the nearest folder holding ``notebooks/`` at or
    above the params file, else at or above the working directory: a params file inside a project runs against
    that project, and a user's own params file anywhere runs against the repository one works in.
    """
    if root is not None:
        project = Path(root).resolve()
        if not (project / "notebooks").is_dir():
            raise UsageError(f"--root {root}: no notebooks/ folder there")
    else:
        path = Path(params)
        project = None
        if path.exists():
            try:
                project = find_project_root(path)
            except FileNotFoundError:
                project = None
        if project is None:
            project = find_project_root()
    path = Path(params)
    if not path.exists() and not path.is_absolute():
        # a relative path or a name is also looked up in the project (``--root R params/x.yaml`` from elsewhere)
        for alt in (project / params, project / "params" / f"{params}.yaml"):
            if alt.is_file():
                path = alt
                break
    if not path.exists():
        raise FileNotFoundError(f"params file {params} does not exist")
    return path, project


def _load(args: argparse.Namespace):
    from .runner.param_set import expand, load_param_set

    path, root = _resolve(args.params, args.root)
    ps = load_param_set(path, root / "notebooks")
    executions = expand(ps, root / "notebooks", only=args.only)
    return ps, executions, root


def cmd_run(args: argparse.Namespace) -> int:
    from .runner.engine import plan, run_local, run_ray

    ps, executions, root = _load(args)
    planned = plan(ps, executions, root / "runs", root / "results", force=args.force)
    todo = sum(not p.skip for p in planned)
    print(f"pctlib run {ps.name}: {len(planned)} executions, {todo} to run, {len(planned) - todo} up to date",
          file=sys.stderr)
    if args.engine == "ray":
        summary = run_ray(planned, ps, root, args.address, root / "runs" / ps.name / ".ray",
                          progress=not args.no_progress)
    else:
        summary = run_local(planned, ps, root, progress=not args.no_progress)
    print(summary.format())
    return 1 if summary.failed else 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from .runner.engine import plan
    from .runner.execute import prepare_injected

    ps, executions, root = _load(args)
    out = Path(args.out).resolve()
    for p in plan(ps, executions, root / "runs", root / "results", force=True):
        dest = out / f"{p.execution.notebook}__{p.execution.key}.ipynb"
        prepare_injected(p.execution, ps.name, p.target, dest)
        print(dest)
    return 0


def cmd_book(args: argparse.Namespace) -> int:
    from .runner.book import build

    path, root = _resolve(args.params, args.root)
    html = build(root, path, strict=not args.no_strict)
    print(f"book: {html / 'index.html'}")
    return 0


def _add_params_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("params", help="a params file (params/default.yaml) or the name of one in params/ (default)")
    p.add_argument("--only", metavar="NOTEBOOK", help="only this notebook of the params file")
    _add_root_arg(p)


def _add_root_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", metavar="FOLDER",
                   help="the project (a folder with notebooks/; default: the one at or above the working directory, "
                        "else above the params file)")


@register("run", "execute the notebooks of a params file (grids, resumable, local or Ray)")
def _run_cmd():
    def configure(p: argparse.ArgumentParser) -> None:
        _add_params_args(p)
        p.add_argument("--engine", choices=["local", "ray"], default="local")
        p.add_argument("--address", help="Ray cluster address (default: start a local Ray inside the run folder)")
        p.add_argument("--force", action="store_true", help="rerun executions that are up to date")
        p.add_argument("--no-progress", action="store_true", help="no progress bar")

    return configure, cmd_run


@register("prepare", "write the notebooks of a params file with parameters injected, unexecuted (for nbmake)")
def _prepare_cmd():
    def configure(p: argparse.ArgumentParser) -> None:
        _add_params_args(p)
        p.add_argument("--out", required=True, help="folder for the prepared .ipynb files")

    return configure, cmd_prepare


@register("book", "build the Jupyter Book from the executed notebooks of a params set")
def _book_cmd():
    def configure(p: argparse.ArgumentParser) -> None:
        p.add_argument("params", help="the params set whose runs the book renders (default or params/default.yaml)")
        p.add_argument("--no-strict", action="store_true", help="do not turn Sphinx warnings into errors")
        _add_root_arg(p)

    return configure, cmd_book


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pctlib", description="pctlib: differentiable proton CT tracking")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_, configure, run) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        configure(p)
        p.set_defaults(func=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .checks import MemoryEstimateError
    from .runner.errors import BookError, NotebookError, ParamsError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ParamsError, NotebookError, BookError, UsageError, FileNotFoundError, MemoryEstimateError,
            RuntimeError) as exc:
        print(f"pctlib {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        message = write_error_message(exc)
        if message is None:
            raise
        print(f"pctlib {args.command}: error: {message}", file=sys.stderr)
        return 2


# Commands of later pipeline stages register themselves on import.
from .commands import evaluate as _evaluate  # noqa: E402,F401
from .commands import graphs as _graphs  # noqa: E402,F401
from .commands import train as _train  # noqa: E402,F401
from .commands import simulate as _simulate  # noqa: E402,F401
from .commands import zoo as _zoo  # noqa: E402,F401


if __name__ == "__main__":
    sys.exit(main())
