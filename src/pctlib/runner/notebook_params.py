"""Read the papermill ``parameters`` cell of a jupytext notebook.

Every notebook declares its parameters in one cell tagged ``parameters``, one plain assignment a line::

    # %% tags=["parameters"]
    params_name = "interactive"              # injected by the runner
    mode = "ptt"                             # one of: ptt, pat
    lam = 50                                 # one of: 25, 50, 75
    steps = 200

The default fixes the type a params file must give (an ``int`` default accepts ints, a ``float`` default ints and
floats, ``None`` anything); a trailing ``# one of: a, b, c`` comment restricts the values.
"""

from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import NotebookError

#: Parameters the runner sets for every execution; a params file may not set them.
RESERVED = ("params_name", "results_dir", "run_key")




@dataclass(frozen=True)
class ParamSpec:
    """One declared notebook parameter."""

    name: str
    default: Any
    choices: tuple[Any, ...] | None = None

    @property
    def type_name(self) -> str:
        return "any" if self.default is None else type(self.default).__name__

    def check(self, value: Any) -> str | None:
        """Return why ``value`` is not acceptable, or ``None`` when it is."""
        if self.choices is not None:
            if value not in self.choices:
                allowed = ", ".join(repr(c) for c in self.choices)
                return f"{value!r} is not allowed; allowed values: {allowed}"
            return None
        d = self.default
        if d is None:
            return None
        ok: bool
        if isinstance(d, bool):
            ok = isinstance(value, bool)
        elif isinstance(d, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(d, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif isinstance(d, (list, tuple)):
            ok = isinstance(value, (list, tuple))
        else:
            ok = isinstance(value, type(d))
        if not ok:
            return f"{value!r} has type {type(value).__name__}, expected {self.type_name}"
        return None


@dataclass(frozen=True)
class NotebookSpec:
    """A notebook source and its declared parameters."""

    name: str
    path: Path
    params: dict[str, ParamSpec] = field(default_factory=dict)


def _parse_choices(comment: str) -> tuple[Any, ...] | None:
    text = comment.lstrip("#").strip()
    if not text.lower().startswith("one of:"):
        return None
    items = [t.strip() for t in text[len("one of:"):].split(",") if t.strip()]
    values = []
    for item in items:
        try:
            values.append(ast.literal_eval(item))
        except (ValueError, SyntaxError):
            values.append(item)
    return tuple(values)


def parse_parameters_cell(source: str, where: str = "<cell>") -> dict[str, ParamSpec]:
    """Parse the text of a parameters cell into ``ParamSpec``s (order preserved)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise NotebookError(f"{where}: the parameters cell is not valid Python: {exc}") from None
    comments: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string
    specs: dict[str, ParamSpec] = {}
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            target, value_node = node.target, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target, value_node = node.targets[0], node.value
        else:
            raise NotebookError(f"{where}: line {node.lineno}: a parameters cell holds only `name = literal` lines")
        try:
            default = ast.literal_eval(value_node)
        except ValueError:
            raise NotebookError(
                f"{where}: parameter {target.id!r} (line {node.lineno}) must have a literal default"
            ) from None
        choices = _parse_choices(comments.get(node.lineno, ""))
        specs[target.id] = ParamSpec(target.id, default, choices)
    return specs


def read_notebook_spec(path: Path) -> NotebookSpec:
    """Read a jupytext notebook source and its parameters cell."""
    import jupytext  # lazily: importing it costs seconds

    nb = jupytext.read(path)
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise NotebookError(f"{path}: expected exactly one cell tagged 'parameters', found {len(cells)}")
    params = parse_parameters_cell(cells[0].source, where=str(path))
    missing = [r for r in RESERVED if r not in params]
    if missing:
        raise NotebookError(f"{path}: the parameters cell must declare {', '.join(missing)}")
    return NotebookSpec(name=path.stem, path=path, params=params)


def discover_notebooks(notebooks_dir: Path) -> dict[str, NotebookSpec]:
    """All jupytext notebook sources (``*.py`` and ``*.md``) of a folder, by name."""
    found: dict[str, NotebookSpec] = {}
    for path in sorted(notebooks_dir.glob("*.py")) + sorted(notebooks_dir.glob("*.md")):
        if path.stem in found:
            raise NotebookError(f"two sources for notebook {path.stem!r} in {notebooks_dir}")
        found[path.stem] = read_notebook_spec(path)
    return found
