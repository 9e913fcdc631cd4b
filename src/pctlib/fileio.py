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


#: first bytes of a :func:`pack_arrays` container
ARRAYS_MAGIC = b"PCTLIB-ARRAYS-1\n"


class ArraysError(ValueError):
    """Bytes that are not a :func:`pack_arrays` container (damaged, or another format such as a pickle)."""


def pack_arrays(meta: dict, arrays: dict[str, Any]) -> bytes:
    """A data-only container of plain JSON ``meta`` and named numpy arrays (numeric or structured, never object):
    a magic line, the length and text of a JSON header, then each array in numpy's ``.npy`` format. The same
    content always gives the same bytes (so a digest names it), and reading it (:func:`unpack_arrays`) can never
    run code."""
    import io as _io

    import numpy as np

    blobs, index = [], []
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        if a.dtype.hasobject:
            raise ArraysError(f"array {name!r} holds Python objects; only plain data can be stored")
        buf = _io.BytesIO()
        np.save(buf, a, allow_pickle=False)
        blobs.append(buf.getvalue())
        index.append([name, len(blobs[-1])])
    header = json.dumps({"meta": meta, "arrays": index}, sort_keys=True, allow_nan=True).encode()
    return ARRAYS_MAGIC + len(header).to_bytes(8, "little") + header + b"".join(blobs)


def unpack_arrays(data: bytes, what: str = "file") -> tuple[dict, dict]:
    """``(meta, arrays)`` of :func:`pack_arrays` bytes; anything else (a pickle, a truncated file) raises
    :class:`ArraysError` naming ``what``. Arrays are read with ``allow_pickle=False``."""
    import io as _io

    import numpy as np

    n = len(ARRAYS_MAGIC)
    if not data.startswith(ARRAYS_MAGIC) or len(data) < n + 8:
        raise ArraysError(f"{what}: not a pctlib array container (damaged, or another format such as a pickle, "
                          "which is never loaded)")
    size = int.from_bytes(data[n:n + 8], "little")
    try:
        header = json.loads(data[n + 8:n + 8 + size])
        pos, arrays = n + 8 + size, {}
        for name, length in header["arrays"]:
            if pos + length > len(data):
                raise ValueError("truncated")
            arrays[name] = np.load(_io.BytesIO(data[pos:pos + length]), allow_pickle=False)
            pos += length
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise ArraysError(f"{what}: damaged array container ({type(exc).__name__}: {exc})") from None
    if pos != len(data):
        raise ArraysError(f"{what}: damaged array container ({len(data) - pos} bytes after the last array)")
    return header["meta"], arrays
