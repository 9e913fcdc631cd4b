"""Small file helpers shared by the pipeline: content hashes, atomic writes and per-target locks.

Files that others read are written whole or not at all: under a temporary name that is unique to the writing
process (same folder, so the final ``os.replace`` is atomic), then renamed. Two processes producing the same
artefact (grid jobs sharing ``data/``) take the target's lock (:func:`target_lock`, the ``filelock`` package): one
builds while the others wait, then find the finished file and reuse it.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def temporary_path(path: str | Path, tag: str = "partial") -> Path:
    """A name beside ``path`` that no other writer uses: ``.NAME.<pid>.<random>.<tag>``."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.{tag}")


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` under a unique temporary name and rename it to ``path``: readers never see half a file, and
    concurrent writers of the same path never share a temporary file."""
    path = Path(path)
    tmp = temporary_path(path)
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(path: str | Path, obj: Any, indent: int = 2) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=indent, default=str) + "\n").encode())


@contextmanager
def target_lock(path: str | Path, timeout: float = -1) -> Iterator[None]:
    """Hold the inter-process lock of the artefact ``path`` (the file ``PATH.lock`` beside it) while producing
    it; ``timeout`` in seconds (-1: wait as long as it takes)."""
    from filelock import FileLock

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path.with_name(path.name + ".lock")), timeout=timeout):
        yield


class YamlError(ValueError):
    """A YAML file that does not parse; the message names the file, line and column."""


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file; a syntax error becomes :class:`YamlError` with the file, line and column of the problem."""
    import yaml

    path = Path(path)
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise YamlError(f"{path}: not valid YAML ({where}{problem})") from None


class ContentDigest:
    """For objects with ``to_bytes()``: ``digest()`` is the sha256 of those bytes, computed once; an object made
    from bytes (``from_bytes``) sets ``_digest`` to the digest of the bytes it was made from (``remember_digest``),
    so that a loaded object keeps the name it was saved under."""

    _digest: str | None = None

    def digest(self) -> str:
        if self._digest is None:
            self._digest = hashlib.sha256(self.to_bytes()).hexdigest()
        return self._digest

    def remember_digest(self, data: bytes):
        self._digest = hashlib.sha256(data).hexdigest()
        return self
