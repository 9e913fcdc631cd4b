"""What every subcommand shares: the registry the ``pctlib`` command line is built from, the one-line usage
error, and the checks of outputs made before any work (a folder that cannot be written is named at once, not after
an hour of computing)."""

from __future__ import annotations

import argparse
import errno
import os
import tempfile
from pathlib import Path
from typing import Callable


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {}


def register(name: str, help_: str):
    """Decorator: ``@register("simulate", "...")`` on a ``(configure(parser), run(args))`` pair factory."""

    def deco(factory):
        configure, run = factory()
        COMMANDS[name] = (help_, configure, run)
        return factory

    return deco


#: errors of writing that the user must fix (space, permissions, a read-only file system), named in one line
WRITE_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.ENOTDIR, errno.EISDIR}


def check_writable(path: str | Path, option: str, folder: bool = False) -> Path:
    """Refuse, before any work, an output that cannot be written: ``path`` must not be a folder (a file output) or
    a file (``folder``), and the nearest existing folder at or above it must take a new file (tried by creating and
    removing one: this catches read-only file systems and permissions alike). Returns ``path``."""
    path = Path(path)
    if not folder and path.is_dir():
        raise UsageError(f"{option} {path}: is a folder; give a file name")
    if folder and path.exists() and not path.is_dir():
        raise UsageError(f"{option} {path}: is a file; give a folder")
    start = path if folder else path.parent
    existing = next((d for d in (start, *start.parents) if d.exists()), Path("."))
    if not existing.is_dir():
        raise UsageError(f"{option} {path}: {existing} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".pctlib-write-check.", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot write into {existing} ({exc.strerror or exc})") from None
    return path


def write_error_message(exc: OSError) -> str | None:
    """One line for an error of writing the user must fix (disk full, read-only, permissions), naming the file;
    None for other errors."""
    if exc.errno not in WRITE_ERRNOS:
        return None
    name = exc.filename or ""
    return f"cannot write {name}: {exc.strerror or exc}" if name else f"cannot write: {exc.strerror or exc}"


def check_device(device: str, option: str = "--device", allow_auto: bool = False) -> str:
    """A torch device name that exists here (``cpu``, ``cuda``, ``cuda:N``; ``auto`` where allowed), else a
    one-line error listing the choices."""
    import torch

    if allow_auto and device == "auto":
        return device
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda"):
        choices = "cpu, cuda, cuda:N" + (", auto" if allow_auto else "")
        raise UsageError(f"{option} {device!r}: not a device; choose one of {choices}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"{option} {device}: no CUDA device on this machine")
    return device


def checked_numbers(checks: list[tuple]) -> None:
    """Each ``(value, name, bounds)`` through ``checks.check_number``; the first failure is a :class:`UsageError`."""
    from ..checks import NumberError, check_number

    try:
        for value, name, bounds in checks:
            if value is not None:
                check_number(value, name, **bounds)
    except NumberError as exc:
        raise UsageError(str(exc)) from None
