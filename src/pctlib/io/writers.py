"""Streaming, atomic writers of hit tables (``.npz`` with ``arr_0`` as in the published data, or Parquet).

Chunks are appended as they are simulated, so memory stays bounded; the file appears under its final name only
when complete (written under a temporary name unique to the process, ``fileio.temporary_path``, and renamed). The ``.npz`` is byte-reproducible: fixed zip timestamps.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from ..fileio import temporary_path

_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


class HitWriter:
    """``with HitWriter(path, fmt) as w: w.write(chunk)`` for structured-array chunks of one dtype."""

    def __init__(self, path: str | Path, fmt: str | None = None, dtype: np.dtype | None = None):
        self.path = Path(path)
        self.fmt = fmt or ("parquet" if self.path.suffix == ".parquet" else "npz")
        if self.fmt not in ("npz", "parquet"):
            raise ValueError(f"unknown format {self.fmt!r}; allowed: npz, parquet")
        self.dtype = dtype
        self.rows = 0
        self.partial = temporary_path(self.path)
        self.raw = temporary_path(self.path, "raw.partial")
        self._fh = None
        self._pq = None

    def __enter__(self) -> "HitWriter":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.fmt == "npz":
            self._fh = open(self.raw, "wb")
        return self

    def write(self, chunk: np.ndarray) -> None:
        if self.dtype is None:
            self.dtype = chunk.dtype
        if chunk.dtype != self.dtype:
            raise TypeError(f"chunk dtype {chunk.dtype} differs from {self.dtype}")
        self.rows += len(chunk)
        if self.fmt == "npz":
            self._fh.write(np.ascontiguousarray(chunk).tobytes())
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.table({name: chunk[name] for name in chunk.dtype.names})
            if self._pq is None:
                self._pq = pq.ParquetWriter(self.partial, table.schema, compression="zstd")
            self._pq.write_table(table)

    def _finish_npz(self) -> None:
        self._fh.close()
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": (self.rows,)}
        info = zipfile.ZipInfo("arr_0.npy", date_time=_ZIP_DATE)
        info.compress_type = zipfile.ZIP_DEFLATED
        with zipfile.ZipFile(self.partial, "w", allowZip64=True) as zf:
            with zf.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array_header_2_0(member, header)
                with open(self.raw, "rb") as src:
                    while True:
                        block = src.read(1 << 24)
                        if not block:
                            break
                        member.write(block)
        self.raw.unlink()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            if self._fh:
                self._fh.close()
            if self._pq:
                self._pq.close()
            for p in (self.raw, self.partial):
                p.unlink(missing_ok=True)
            return
        if self.fmt == "npz":
            if self.dtype is None:
                raise ValueError("nothing was written")
            self._finish_npz()
        else:
            if self._pq is None:
                raise ValueError("nothing was written")
            self._pq.close()
        os.replace(self.partial, self.path)
