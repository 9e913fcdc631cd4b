"""Load hit tables: ours and the published / GATE ones, into one structured array (``HIT_DTYPE``).

Accepted inputs:

* ``.npz`` with a structured array ``arr_0`` (the published datasets ``water_{100,150,200}_{100k,5k,10k}.npz``),
  holding ``eventID, trackID, parentID, edep, posX, posY, posZ`` and either ``level1ID, level2ID`` or
  ``volumeID[2], volumeID[3]`` (optionally ``PDGEncoding``, ``spotX, spotY``, ``layer``);
* ``.csv`` with those columns in a header line; ``.pkl`` / ``.pickle`` with a pandas DataFrame of them;
* ``.parquet`` (our own output);
* ``.root`` GATE output: the ``Hits`` tree with the same branch names, read with uproot (``pip install 'pctlib[uproot]'``).

Missing required columns, unreadable or truncated files raise :class:`HitFileError` naming the file and problem.
"""

from __future__ import annotations

import pickle
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .hit_table import HIT_DTYPE, REQUIRED, layer_from_levels


class HitFileError(ValueError):
    """A hit file that cannot be read."""


_ALIASES = {"volumeID[2]": "level1ID", "volumeID[3]": "level2ID", "volumeID_2": "level1ID", "volumeID_3": "level2ID"}


#: layers of the default detector (2 trackers + 41 calorimeter layers); a hit in a layer beyond is refused
DEFAULT_N_LAYERS = 43


def _columns_to_table(cols: Mapping[str, Any], where: str, n_layers: int | None = DEFAULT_N_LAYERS) -> np.ndarray:
    cols = {_ALIASES.get(k, k): v for k, v in cols.items()}
    missing = [c for c in REQUIRED if c not in cols]
    if missing:
        raise HitFileError(f"{where}: missing required column(s) {', '.join(missing)}")
    has_levels = "level1ID" in cols and "level2ID" in cols
    if not has_levels and "layer" not in cols:
        raise HitFileError(f"{where}: needs level1ID and level2ID (or volumeID[2], volumeID[3]) or layer")
    n = len(np.asarray(cols["eventID"]))
    for c, v in cols.items():
        if len(np.asarray(v)) != n:
            raise HitFileError(f"{where}: column {c} has {len(np.asarray(v))} rows, eventID has {n}")
    out = np.zeros(n, dtype=HIT_DTYPE)
    for name in HIT_DTYPE.names:
        if name in cols:
            out[name] = _column(np.asarray(cols[name]), name, HIT_DTYPE[name], where)
    if "PDGEncoding" not in cols:
        out["PDGEncoding"] = 0
    if "primaryInelastic" not in cols:
        out["primaryInelastic"] = -1
    if has_levels:
        layer = layer_from_levels(np.asarray(cols["level1ID"]), np.asarray(cols["level2ID"]))
        if "layer" in cols and not np.array_equal(layer, np.asarray(cols["layer"])):
            raise HitFileError(f"{where}: column layer disagrees with the level1ID/level2ID layer formula")
        out["layer"] = layer
    for c in ("posX", "posY", "posZ", "edep"):
        if not np.all(np.isfinite(out[c])):
            raise HitFileError(f"{where}: column {c} holds NaN or infinite values")
    if n and out["layer"].min() < 0:
        raise HitFileError(f"{where}: negative layer {int(out['layer'].min())} (check level1ID/level2ID)")
    if n_layers is not None and n and out["layer"].max() >= n_layers:
        bad = int(out["layer"].max())
        raise HitFileError(f"{where}: layer {bad} is outside the detector's {n_layers} layers (0-{n_layers - 1}); "
                           "another geometry? pass n_layers")
    return out


def _column(values: np.ndarray, name: str, dtype: np.dtype, where: str) -> np.ndarray:
    """``values`` converted to the table's type: numbers only, integers within the type's range (no silent
    wrap-around of an eventID above 2^31), each refusal naming the column and the first bad value."""
    if values.dtype.kind not in "iufb":
        for v in values.ravel():
            try:
                float(v)
            except (TypeError, ValueError):
                raise HitFileError(f"{where}: column {name} holds a non-numeric value {v!r}") from None
        values = values.astype(np.float64)
    if dtype.kind == "i":
        info = np.iinfo(dtype)
        if values.dtype.kind == "f":
            if not np.all(np.isfinite(values)):
                raise HitFileError(f"{where}: column {name} holds NaN or infinite values")
            frac = values != np.round(values)
            if frac.any():
                raise HitFileError(f"{where}: column {name} holds a non-integer value {values[frac][0]!r}")
        if values.size and (values.min() < info.min or values.max() > info.max):
            bad = values.max() if values.max() > info.max else values.min()
            raise HitFileError(f"{where}: column {name} value {int(bad)} does not fit {dtype} "
                               f"({info.min} to {info.max})")
    return values.astype(dtype)


def _read_npz(path: Path, n_layers: int | None = DEFAULT_N_LAYERS) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as f:
            if "arr_0" not in f.files:
                raise HitFileError(f"{path}: no array 'arr_0' (found {', '.join(f.files) or 'none'})")
            arr = f["arr_0"]
    except HitFileError:
        raise
    except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError) as exc:
        raise HitFileError(f"{path}: unreadable or truncated .npz ({exc})") from None
    if arr.dtype.names is None:
        raise HitFileError(f"{path}: arr_0 is not a structured array with named columns")
    return _columns_to_table({n: arr[n] for n in arr.dtype.names}, str(path), n_layers)


def _read_root(path: Path, tree: str = "Hits", n_layers: int | None = DEFAULT_N_LAYERS) -> np.ndarray:
    try:
        import uproot
    except ImportError:
        raise HitFileError("reading GATE ROOT files needs uproot: pip install 'pctlib[uproot]'") from None
    try:
        with uproot.open(path) as f:
            if tree not in f:
                raise HitFileError(f"{path}: no tree {tree!r} (found {', '.join(k.split(';')[0] for k in f.keys())})")
            t = f[tree]
            wanted = [b for b in t.keys() if _ALIASES.get(b, b) in HIT_DTYPE.names or b in _ALIASES]
            cols = t.arrays(wanted, library="np")
    except HitFileError:
        raise
    except Exception as exc:  # uproot raises many kinds for damaged files
        raise HitFileError(f"{path}: unreadable ROOT file ({type(exc).__name__}: {exc})") from None
    return _columns_to_table(cols, f"{path}:{tree}", n_layers)


def read_hits(path: str | Path, n_layers: int | None = DEFAULT_N_LAYERS, trust_pickle: bool = False) -> np.ndarray:
    """See :func:`_read_hits`; an empty table is returned with a warning (it gives no frames)."""
    hits = _read_hits(Path(path), n_layers, trust_pickle)
    if hits.size == 0:
        warnings.warn(f"{path}: the hit table is empty (no frames will come of it)", UserWarning, stacklevel=2)
    return hits


def _read_hits(path: Path, n_layers: int | None = DEFAULT_N_LAYERS, trust_pickle: bool = False) -> np.ndarray:
    """Read a hit table in any supported format into ``HIT_DTYPE``; hits in layers ``>= n_layers`` (another
    detector) are refused with the file and the layer named (``n_layers=None`` accepts any).

    Loading a pickle runs whatever code the file names, so ``.pkl`` files are read only with ``trust_pickle=True``
    (``--trust-pickle`` on the command line), and then with a warning; convert them once to ``.npz`` or ``.parquet``
    (``pctlib.io.writers.HitWriter``) and share those instead."""
    path = Path(path)
    if not path.is_file():
        raise HitFileError(f"hit file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _read_npz(path, n_layers)
    if suffix == ".csv":
        import pandas as pd

        try:
            df = pd.read_csv(path)
        except Exception as exc:
            raise HitFileError(f"{path}: unreadable CSV ({exc})") from None
        return _columns_to_table({c: df[c].to_numpy() for c in df.columns}, str(path), n_layers)
    if suffix in (".pkl", ".pickle"):
        if not trust_pickle:
            raise HitFileError(f"{path}: a pickle can run code when it is loaded; read it only if you trust its "
                               "source (trust_pickle=True, or --trust-pickle on the command line)")
        warnings.warn(f"{path}: loading a pickle (it may run code); trusted by the caller", UserWarning,
                      stacklevel=2)
        try:
            with open(path, "rb") as fh:
                obj = pickle.load(fh)  # trusted: only reached with trust_pickle=True (refused above otherwise)
        except Exception as exc:
            raise HitFileError(f"{path}: unreadable pickle ({exc})") from None
        if hasattr(obj, "columns"):
            return _columns_to_table({c: obj[c].to_numpy() for c in obj.columns}, str(path), n_layers)
        if isinstance(obj, np.ndarray) and obj.dtype.names:
            return _columns_to_table({n: obj[n] for n in obj.dtype.names}, str(path), n_layers)
        raise HitFileError(f"{path}: the pickle holds {type(obj).__name__}, not a DataFrame or structured array")
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as exc:
            raise HitFileError(f"{path}: unreadable Parquet ({exc})") from None
        return _columns_to_table({c: table.column(c).to_numpy() for c in table.column_names}, str(path), n_layers)
    if suffix == ".root":
        return _read_root(path, n_layers=n_layers)
    raise HitFileError(f"{path}: unknown hit file type {suffix!r}; allowed: .npz, .csv, .pkl, .parquet, .root")
