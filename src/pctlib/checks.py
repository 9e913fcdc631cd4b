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
