"""Load and validate a params file (``params/*.yaml``) and expand its grids.

A params file names notebooks and the values of their parameters::

    description: the embedded CPU run
    resources: {num_cpus: 1}          # per execution, used by --engine ray
    notebooks:
      00_overview: {}
      04_training:
        resources: {num_gpus: 1}      # overrides the file-wide resources
        parameters:
          mode: [ptt, pat]            # a list is a grid axis ...
          seed: [0, 1, 2]
          steps: 200

A list value is a grid axis and the runner executes the cartesian product of all axes of a notebook. When the
notebook's own default is a list, a plain list is a value and a *list of lists* is the axis. Combinations that are
not a product are listed as ``cases`` (each a mapping of single values); the cases form one more axis::

    04_train_run:
      cases: [{mode: ptt}, {mode: pat, lam: 25.0}, {mode: pat, lam: 50.0}]
      parameters: {seed: [0, 1, 2]}     # 3 cases x 3 seeds = 9 executions

Every problem (unknown notebook, unknown or mistyped parameter, an empty grid axis, a malformed file) raises
:class:`ParamsError` with a one-line message naming the key and the allowed values; nothing is executed.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from ..fileio import YamlError, read_yaml
from .errors import ParamsError
from .notebook_params import RESERVED, NotebookError, NotebookSpec, read_notebook_spec

RESOURCE_KEYS = ("num_cpus", "num_gpus", "memory")
TOP_KEYS = ("description", "resources", "notebooks")
ENTRY_KEYS = ("parameters", "resources", "cases")




@dataclass(frozen=True)
class Execution:
    """One notebook run with fully resolved parameters (a single grid point)."""

    notebook: str
    source: Path
    key: str
    parameters: dict[str, Any]
    axes: tuple[str, ...]
    resources: dict[str, float]

    def params_hash(self) -> str:
        blob = json.dumps(self.parameters, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


@dataclass(frozen=True)
class ParamSet:
    """A validated params file."""

    name: str
    path: Path
    description: str
    resources: dict[str, float]
    notebooks: dict[str, dict[str, Any]] = field(default_factory=dict)
    notebook_resources: dict[str, dict[str, float]] = field(default_factory=dict)
    notebook_cases: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _check_resources(value: Any, where: str) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ParamsError(f"{where}: must be a mapping of {', '.join(RESOURCE_KEYS)}")
    for k, v in value.items():
        if k not in RESOURCE_KEYS:
            raise ParamsError(f"{where}.{k}: unknown resource; allowed: {', '.join(RESOURCE_KEYS)}")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            raise ParamsError(f"{where}.{k}: {v!r} must be a non-negative number")
    return dict(value)


def notebook_sources(notebooks_dir: Path) -> dict[str, Path]:
    """Map notebook names to their jupytext sources (``*.py`` or ``*.md``) in ``notebooks_dir``."""
    found: dict[str, Path] = {}
    for path in sorted(notebooks_dir.glob("*.py")) + sorted(notebooks_dir.glob("*.md")):
        if path.stem.startswith("_"):
            continue
        found.setdefault(path.stem, path)
    return found


def load_param_set(path: str | Path, notebooks_dir: Path) -> ParamSet:
    """Read and validate a params file against the notebooks in ``notebooks_dir``."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"params file {path} does not exist")
    try:
        data = read_yaml(path)
    except YamlError as exc:
        raise ParamsError(str(exc)) from None
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: must be a mapping with keys {', '.join(TOP_KEYS)}")
    for k in data:
        if k not in TOP_KEYS:
            raise ParamsError(f"{path.name}: unknown key {k!r}; allowed keys: {', '.join(TOP_KEYS)}")
    entries = data.get("notebooks")
    if not isinstance(entries, dict) or not entries:
        raise ParamsError(f"{path.name}: 'notebooks' must map at least one notebook name to its parameters")
    sources = notebook_sources(notebooks_dir)
    notebooks: dict[str, dict[str, Any]] = {}
    nb_resources: dict[str, dict[str, float]] = {}
    case_cases: dict[str, list[dict[str, Any]]] = {}
    for nb_name, entry in entries.items():
        if nb_name not in sources:
            raise ParamsError(
                f"{path.name}: unknown notebook {nb_name!r}; allowed notebooks: {', '.join(sources) or '(none)'}"
            )
        entry = {} if entry is None else entry
        if not isinstance(entry, dict):
            raise ParamsError(f"{path.name}: notebooks.{nb_name} must be a mapping with keys {', '.join(ENTRY_KEYS)}")
        for k in entry:
            if k not in ENTRY_KEYS:
                raise ParamsError(
                    f"{path.name}: notebooks.{nb_name}: unknown key {k!r}; allowed keys: {', '.join(ENTRY_KEYS)}"
                )
        try:
            spec = read_notebook_spec(sources[nb_name])
        except NotebookError as exc:
            raise ParamsError(str(exc)) from None
        params = entry.get("parameters") or {}
        if not isinstance(params, dict):
            raise ParamsError(f"{path.name}: notebooks.{nb_name}.parameters must be a mapping")
        _validate_parameters(path.name, spec, params)
        cases = entry.get("cases")
        if cases is not None:
            if not isinstance(cases, list) or not cases or not all(isinstance(c, dict) for c in cases):
                raise ParamsError(f"{path.name}: notebooks.{nb_name}.cases must be a non-empty list of mappings")
            for i, case in enumerate(cases):
                _validate_parameters(path.name, spec, case, where_key=f"cases[{i}]")
                if case in cases[:i]:  # dict equality: keys in any order, 25 == 25.0
                    raise ParamsError(f"{path.name}: notebooks.{nb_name}.cases[{i}] repeats cases["
                                      f"{cases.index(case)}] ({case}); each case must differ")
                for k, v in case.items():
                    if _axis_values(spec.params[k].default, v) is not None:
                        raise ParamsError(f"{path.name}: notebooks.{nb_name}.cases[{i}].{k}: a case holds single "
                                          "values, not grid axes")
                    if k in params:
                        raise ParamsError(f"{path.name}: notebooks.{nb_name}.cases[{i}].{k}: also set in parameters")
            case_cases[nb_name] = cases
        notebooks[nb_name] = params
        nb_resources[nb_name] = _check_resources(entry.get("resources"), f"{path.name}: notebooks.{nb_name}.resources")
    return ParamSet(
        name=path.stem,
        path=path.resolve(),
        description=str(data.get("description") or ""),
        resources=_check_resources(data.get("resources"), f"{path.name}: resources"),
        notebooks=notebooks,
        notebook_resources=nb_resources,
        notebook_cases=case_cases,
    )


def _axis_values(spec_default: Any, value: Any) -> list[Any] | None:
    """The values of a grid axis, or ``None`` when ``value`` is a single value."""
    if not isinstance(value, list):
        return None
    if isinstance(spec_default, (list, tuple)):
        if value and all(isinstance(v, list) for v in value):
            return value
        return None
    return value


def _validate_parameters(fname: str, spec: NotebookSpec, params: dict[str, Any], where_key: str = "parameters") -> None:
    allowed = [p for p in spec.params if p not in RESERVED]
    for key, value in params.items():
        where = f"{fname}: notebooks.{spec.name}.{where_key}.{key}"
        if key in RESERVED:
            raise ParamsError(f"{where}: {key!r} is set by the runner and cannot be given")
        if key not in spec.params:
            raise ParamsError(f"{where}: unknown parameter; allowed parameters: {', '.join(allowed) or '(none)'}")
        p = spec.params[key]
        values = _axis_values(p.default, value)
        if values is not None and len(values) == 0:
            raise ParamsError(f"{where}: empty grid axis (a list needs at least one value)")
        for v in values if values is not None else [value]:
            why = p.check(v)
            if why is not None:
                raise ParamsError(f"{where}: {why}")
            bad = _non_finite(v)
            if bad is not None:
                raise ParamsError(f"{where}: {bad!r} is not a finite number (NaN and infinity are refused)")


def _non_finite(value: Any) -> float | None:
    """The first NaN or infinite float in ``value`` (nested lists and mappings searched), or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return value
    if isinstance(value, (list, tuple)):
        for v in value:
            bad = _non_finite(v)
            if bad is not None:
                return bad
    if isinstance(value, dict):
        for v in value.values():
            bad = _non_finite(v)
            if bad is not None:
                return bad
    return None


_SAFE = re.compile(r"[^A-Za-z0-9.+-]+")


def _short_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:6]


def _slug(value: Any) -> str:
    """A readable, file-name-safe form of a grid value; where making it safe loses information (punctuation,
    spaces, an empty string) a short hash of the value is appended, so different values never share a slug
    (``-40`` stays ``-40``, ``a/b`` and ``a b`` become ``a-b~<hash>`` with different hashes)."""
    text = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    safe = _SAFE.sub("-", text)
    if safe == text and text:
        return text
    return f"{safe.strip('-') or 'x'}~{_short_hash(value)}"


def _unique_keys(nb: str, executions: list["Execution"]) -> list["Execution"]:
    """Keys of one notebook's executions are folder names: they must differ. Values whose slugs coincide (the
    integer 1 and the string "1") get a hash of their whole point appended; identical points are an error."""
    seen: dict[str, list[int]] = {}
    for i, e in enumerate(executions):
        seen.setdefault(e.key, []).append(i)
    out = list(executions)
    for key, idx in seen.items():
        if len(idx) < 2:
            continue
        points = [json.dumps({a: executions[i].parameters[a] for a in executions[i].axes}, sort_keys=True,
                             default=str) for i in idx]
        if len(set(points)) < len(points):
            raise ParamsError(f"notebook {nb!r}: the grid holds the same point twice ({key}); remove the duplicate")
        for i in idx:
            e = executions[i]
            point = {a: e.parameters[a] for a in e.axes}
            out[i] = Execution(e.notebook, e.source, f"{key}~{_short_hash(point)}", e.parameters, e.axes,
                               e.resources)
    return out


def expand(param_set: ParamSet, notebooks_dir: Path, only: str | None = None) -> list[Execution]:
    """All executions of a params set, notebook by notebook in name order, each grid in row-major order."""
    names = sorted(param_set.notebooks)
    if only is not None:
        if only not in param_set.notebooks:
            raise ParamsError(
                f"--only {only!r}: not a notebook of {param_set.name}; allowed notebooks: {', '.join(names)}"
            )
        names = [only]
    sources = notebook_sources(notebooks_dir)
    out: list[Execution] = []
    for nb in names:
        spec = read_notebook_spec(sources[nb])
        given = param_set.notebooks[nb]
        resources = {**param_set.resources, **param_set.notebook_resources.get(nb, {})}
        axes: list[tuple[str, list[Any]]] = []
        fixed: dict[str, Any] = {}
        for key, value in given.items():
            values = _axis_values(spec.params[key].default, value)
            if values is None:
                fixed[key] = value
            else:
                axes.append((key, values))
        axis_names = tuple(a for a, _ in axes)
        cases = param_set.notebook_cases.get(nb) or [{}]
        mine: list[Execution] = []
        for case in cases:
            for combo in itertools.product(*(vals for _, vals in axes)):
                point = {**case, **dict(zip(axis_names, combo))}
                key = "_".join(f"{a}-{_slug(v)}" for a, v in point.items()) or "main"
                params = {**fixed, **point}
                mine.append(Execution(nb, sources[nb], key, params, tuple(point), resources))
        out += _unique_keys(nb, mine)
    if not out:
        raise ParamsError(f"{param_set.name}: the grid is empty; nothing to execute")
    return out
