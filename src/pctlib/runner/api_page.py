"""The book's API page: every public module of the installed ``pctlib`` with its public classes and functions,
their signatures and docstrings, written as one MyST page when the book is staged (nothing fetched, nothing
executed but imports of the package itself).

A name is public when it does not start with an underscore and is defined in the module that lists it (re-exports
are listed where they are defined). Docstrings are shown verbatim in text blocks: they are written for ``help()``
and the source, not as reStructuredText, and the strict build must not read them as markup.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

#: modules left out of the page: the command-line entry point's internals are documented by ``pctlib --help``
SKIPPED = ("pctlib.__main__",)


def public_modules(package: str = "pctlib") -> list[tuple[str, ModuleType | None, str]]:
    """(name, module or None, why it could not be imported) of every module of ``package``, sorted by name."""
    root = importlib.import_module(package)
    names = [package] + [m.name for m in pkgutil.walk_packages(root.__path__, prefix=f"{package}.")]
    out = []
    for name in sorted(names):
        if name in SKIPPED or any(part.startswith("_") for part in name.split(".")[1:]):
            continue
        try:
            out.append((name, importlib.import_module(name), ""))
        except Exception as exc:  # an optional dependency missing: the page says so instead of failing
            out.append((name, None, f"{type(exc).__name__}: {exc}"))
    return out


def _signature(obj) -> str:
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return "(...)"


def _block(text: str | None) -> list[str]:
    text = inspect.cleandoc(text or "").replace("```", "'''")
    return ["```text", text, "```", ""] if text else []


def module_entries(module: ModuleType) -> list[tuple[str, object]]:
    """The public classes and functions defined in ``module``, in source order where known."""
    items = []
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isclass(obj) or inspect.isfunction(obj):
            try:
                line = inspect.getsourcelines(obj)[1]
            except (OSError, TypeError):
                line = 10 ** 9
            items.append((line, name, obj))
    return [(name, obj) for _, name, obj in sorted(items, key=lambda t: (t[0], t[1]))]


def api_markdown(package: str = "pctlib") -> str:
    """The API page as MyST markdown."""
    lines = ["# API reference", "",
             f"Every public module of `{package}` with its public classes and functions, generated from the "
             "docstrings of the installed package when the book was built. The chapters call these; "
             "`help(name)` in Python shows the same text.", ""]
    for name, module, why in public_modules(package):
        lines += [f"## `{name}`", ""]
        if module is None:
            lines += [f"Not importable where the book was built ({why}).", ""]
            continue
        lines += _block(module.__doc__)
        for ename, obj in module_entries(module):
            kind = "class" if inspect.isclass(obj) else "function"
            lines += [f"### `{ename}`", "", f"{kind} `{ename}{_signature(obj)}`", ""]
            lines += _block(obj.__doc__ if (obj.__doc__ or "").strip() else None)
            if inspect.isclass(obj):
                for mname, meth in vars(obj).items():
                    if mname.startswith("_") or not (inspect.isfunction(meth) or isinstance(
                            meth, (classmethod, staticmethod, property))):
                        continue
                    fn = meth.fget if isinstance(meth, property) else getattr(meth, "__func__", meth)
                    sig = "" if isinstance(meth, property) else _signature(fn)
                    doc = inspect.cleandoc(fn.__doc__ or "").split("\n\n")[0].replace("\n", " ")
                    lines += [f"- `{mname}{sig}`" + (f": {_inline(doc)}" if doc else "")]
                lines += [""]
    return "\n".join(lines).rstrip() + "\n"


def _inline(text: str) -> str:
    """One docstring paragraph as inline code (backticks inside become quotes), so that nothing in it is markup."""
    return "``" + text.replace("`", "'") + "``"
