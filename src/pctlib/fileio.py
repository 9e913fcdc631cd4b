"""Small file helpers shared by the pipeline: content hashes and atomic writes (temporary name, then rename)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path.partial`` and rename it to ``path``: readers never see half a file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_json_atomic(path: str | Path, obj: Any, indent: int = 2) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=indent, default=str) + "\n").encode())
