"""One rule for every number read from the command line, a params file or a geometry file: a real, finite number
(NaN and infinity pass every ``< 0`` test, so they are refused explicitly) within its range, named in the error."""

from __future__ import annotations

import math
from numbers import Real
from typing import Any


class NumberError(ValueError):
    """A number that is not finite, not of the right kind, or out of its range; the message names it."""


def check_number(value: Any, name: str, *, minimum: float | None = None, maximum: float | None = None,
                 above: float | None = None, below: float | None = None, integer: bool = False) -> float | int:
    """``value`` as a float (an int with ``integer``) when it is a finite real number with ``minimum <= value <=
    maximum`` and ``above < value < below`` (each bound optional); else :class:`NumberError` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise NumberError(f"{name}: {value!r} is not a number")
    v = float(value)
    if not math.isfinite(v):
        raise NumberError(f"{name}: {value!r} is not a finite number")
    if integer and not v.is_integer():
        raise NumberError(f"{name}: {value!r} is not a whole number")
    if minimum is not None and v < minimum:
        raise NumberError(f"{name}: {value!r} must be >= {minimum:g}")
    if maximum is not None and v > maximum:
        raise NumberError(f"{name}: {value!r} must be <= {maximum:g}")
    if above is not None and not v > above:
        raise NumberError(f"{name}: {value!r} must be > {above:g}")
    if below is not None and not v < below:
        raise NumberError(f"{name}: {value!r} must be < {below:g}")
    return int(v) if integer else v


class MemoryEstimateError(ValueError):
    """A request whose estimated memory exceeds what the machine has free; the message gives the estimate."""


def available_memory_bytes() -> int:
    """Memory the system can give now (``MemAvailable`` of /proc/meminfo; else the free physical pages)."""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    import os

    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62  # unknown: do not refuse


def check_memory(estimate_bytes: float, what: str, available: int | None = None) -> None:
    """Refuse, before allocating, a request estimated to need more memory than is free (``available``: the free
    bytes, default :func:`available_memory_bytes`); the error names the request and both figures."""
    free = available_memory_bytes() if available is None else available
    if estimate_bytes > free:
        raise MemoryEstimateError(f"{what} needs about {estimate_bytes / 2**30:.3g} GiB of memory, more than the "
                                  f"{free / 2**30:.3g} GiB free; reduce it")
