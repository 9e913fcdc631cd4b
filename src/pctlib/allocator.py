"""Keep freed memory in the process (glibc malloc), so that a training step does not fault in fresh pages.

A training step allocates and frees tensors of tens of MB (edges x hidden floats) many times. glibc serves
allocations above its mmap threshold (32 MB at most) with fresh ``mmap`` pages and gives them back on ``free``;
the next step faults them in again, and smaller ones trim the heap's top: on the 2-core CPU machines a quarter of a
step's time went to the kernel. :func:`keep_freed_memory` switches both off with ``mallopt`` (``M_MMAP_MAX = 0``,
``M_TRIM_THRESHOLD`` at its maximum): memory freed by torch stays with the process and is reused, at the price that
the resident size stays at its peak until the process ends. ``pctlib.training.loop.train`` calls it; set
``PCTLIB_MALLOC=system`` in the environment to keep glibc's defaults. It does nothing where the C library is not
glibc (macOS, musl) and never changes the results, only where memory comes from.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Apply the setting once per process; True when it is in effect (glibc and not ``PCTLIB_MALLOC=system``)."""
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if os.environ.get("PCTLIB_MALLOC", "").lower() == "system":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    _applied = bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, 2**31 - 1))
    return _applied
