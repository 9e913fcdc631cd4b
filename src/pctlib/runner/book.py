"""Build the Jupyter Book (v1) from the papermill-executed notebooks of one params set.

The book never executes anything itself (``execute_notebooks: off``): it renders what ``pctlib run`` produced, so
the figures in the book are those of the recorded runs. ``book/_toc.yml`` lists each chapter as
``notebooks/<name>``; the builder stages a copy of ``book/`` in ``book/_build/_src`` with every chapter replaced by
its executed notebook (a chapter run as a grid gets one section per execution), refuses chapters whose execution
is missing or failed, writes the API page (``runner.api_page``) where the table of contents lists ``api``, and
runs ``jupyter-book build`` strictly (``-W -n --keep-going``).
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from .errors import BookError
from .execute import OUTPUT_NOTEBOOK, read_manifest


#: a table-of-contents entry of this name is the API page, generated from the docstrings when the book is staged
API_PAGE = "api"


def _toc_files(node: Any) -> list[str]:
    out: list[str] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("file", "root") and isinstance(v, str):
                out.append(v)
            else:
                out.extend(_toc_files(v))
    elif isinstance(node, list):
        for v in node:
            out.extend(_toc_files(v))
    return out


def chapter_notebooks(toc: dict[str, Any]) -> list[str]:
    """Names of the notebooks the table of contents lists (entries ``notebooks/<name>``)."""
    return [f.split("/", 1)[1] for f in _toc_files(toc) if f.startswith("notebooks/")]


def notebook_errors(path: Path) -> list[str]:
    """Error outputs recorded in an executed notebook (a failing cell)."""
    nb = json.loads(path.read_text())
    errs = []
    for i, cell in enumerate(nb.get("cells", [])):
        for out in cell.get("outputs", []) or []:
            if out.get("output_type") == "error":
                errs.append(f"cell {i}: {out.get('ename')}: {out.get('evalue')}")
    return errs


#: Cells the book folds (a reader opens them with a click): the parameters cell and the one papermill injects.
FOLDED_TAGS = ("parameters", "injected-parameters")
_PROGRESS = re.compile(r"\d+%\|.*\||IProgress not found|TqdmWarning")


def for_reader(nb: dict[str, Any]) -> dict[str, Any]:
    """A copy of an executed notebook as the book shows it: parameter cells folded (tag ``hide-cell``), bare path
    results (``PosixPath('...')``, the value of a cell ending in a ``save_*`` call) and progress-bar output on
    stderr dropped. Everything else, warnings and errors included, is kept."""
    out = copy.deepcopy(nb)
    for cell in out.get("cells", []):
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if any(t in tags for t in FOLDED_TAGS) and "hide-cell" not in tags:
            tags.append("hide-cell")
        if cell.get("cell_type") != "code":
            continue
        kept = []
        for o in cell.get("outputs", []) or []:
            if o.get("output_type") == "execute_result":
                text = "".join(o.get("data", {}).get("text/plain", ""))
                if re.fullmatch(r"(Posix|Windows)Path\(.*\)", text.strip()) and len(o.get("data", {})) == 1:
                    continue
            if o.get("output_type") == "stream" and o.get("name") == "stderr":
                text = "".join(o.get("text", ""))
                if _PROGRESS.search(text) or not text.strip():
                    continue
            kept.append(o)
        cell["outputs"] = kept
    return out


def stage(project_root: Path, params: str | Path) -> Path:
    """Copy ``book/`` into ``book/_build/_src`` with chapters replaced by executed notebooks; return the stage.

    Exactly the executions the params file defines are staged (no folder of a removed grid value), and each must
    have completed with the parameters and the code of now: a stale one is refused, like a missing or failed one.
    """
    book = project_root / "book"
    toc_path = book / "_toc.yml"
    if not toc_path.is_file():
        raise BookError(f"{toc_path} is missing")
    toc = yaml.safe_load(toc_path.read_text())
    from .engine import planned_executions

    params_name, planned = planned_executions(project_root, params)
    src = book / "_build" / "_src"
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    for item in book.iterdir():
        if item.name.startswith("_build") or item.name == "_toc.yml":
            continue
        if item.is_dir():
            shutil.copytree(item, src / item.name)
        else:
            shutil.copy2(item, src / item.name)
    if API_PAGE in _toc_files(toc):
        from .api_page import api_markdown

        (src / f"{API_PAGE}.md").write_text(api_markdown())
    problems: list[str] = []
    replacements: dict[str, dict[str, Any]] = {}
    (src / "notebooks").mkdir(exist_ok=True)
    for nb in chapter_notebooks(toc):
        execs = [p for p in planned if p.execution.notebook == nb]
        if not execs:
            problems.append(f"{nb}: not a notebook of params set '{params_name}'")
            continue
        entries = []
        for p in execs:
            key, out = p.execution.key, p.target.run_dir / OUTPUT_NOTEBOOK
            manifest = read_manifest(p.target.run_dir)
            if manifest is None:
                problems.append(f"{nb}/{key}: no execution under runs/{params_name}/{nb} (run `pctlib run` first)")
                continue
            if manifest.get("status") != "completed" or not out.is_file():
                problems.append(f"{nb}/{key}: execution {manifest.get('status')} (see {p.target.run_dir})")
                continue
            if manifest.get("params_hash") != p.execution.params_hash() or manifest.get("code_hash") != p.code:
                problems.append(f"{nb}/{key}: stale (its parameters or code changed since it ran; run `pctlib run`)")
                continue
            errs = notebook_errors(out)
            if errs:
                problems.append(f"{nb}/{key}: error output in the executed notebook: {errs[0]}")
                continue
            if len(execs) == 1:
                dest = src / "notebooks" / f"{nb}.ipynb"
                entries.append(f"notebooks/{nb}")
            else:
                dest = src / "notebooks" / nb / f"{key}.ipynb"
                dest.parent.mkdir(parents=True, exist_ok=True)
                entries.append(f"notebooks/{nb}/{key}")
            dest.write_text(json.dumps(for_reader(json.loads(out.read_text())), indent=1))
        if entries:
            replacements[nb] = {"file": entries[0], **({"sections": [{"file": e} for e in entries[1:]]}
                                                       if len(entries) > 1 else {})}
    if problems:
        raise BookError("cannot build the book of '" + params_name + "':\n  " + "\n  ".join(problems))
    staged = _replace_entries(copy.deepcopy(toc), replacements)
    (src / "_toc.yml").write_text(yaml.safe_dump(staged, sort_keys=False))
    return src


def _replace_entries(node: Any, repl: dict[str, dict[str, Any]]) -> Any:
    if isinstance(node, list):
        return [_replace_entries(v, repl) for v in node]
    if isinstance(node, dict):
        f = node.get("file")
        if isinstance(f, str) and f.startswith("notebooks/") and f.split("/", 1)[1] in repl:
            new = dict(node)
            new.update(repl[f.split("/", 1)[1]])
            return new
        return {k: _replace_entries(v, repl) for k, v in node.items()}
    return node


def build(project_root: Path, params: str | Path, strict: bool = True) -> Path:
    """Stage and build the HTML book of a params file (or name) into ``book/_build/html``; return that folder."""
    src = stage(project_root, params)
    exe = Path(sys.executable).parent / "jupyter-book"
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(src),
           "--path-output", str(project_root / "book"), "--builder", "html"]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    proc = subprocess.run(cmd, cwd=project_root)
    if proc.returncode != 0:
        raise BookError(f"jupyter-book build failed (exit {proc.returncode}); see the messages above")
    return project_root / "book" / "_build" / "html"
