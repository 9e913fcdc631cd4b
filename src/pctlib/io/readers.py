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
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .hit_table import HIT_DTYPE, REQUIRED, layer_from_levels


class HitFileError(ValueError):
    """A hit file that cannot be read."""


_ALIASES = {"volumeID[2]": "level1ID", "volumeID[3]": "level2ID", "volumeID_2": "level1ID", "volumeID_3": "level2ID"}


def _columns_to_table(cols: Mapping[str, Any], where: str) -> np.ndarray:
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
            out[name] = np.asarray(cols[name])
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
    return out


def _read_npz(path: Path) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as f:
            if "arr_0" not in f.files:
                raise HitFileError(f"{path}: no array 'arr_0' (found {', '.join(f.files) or 'none'})")
            arr = f["arr_0"]
    except HitFileError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise HitFileError(f"{path}: unreadable or truncated .npz ({exc})") from None
    if arr.dtype.names is None:
        raise HitFileError(f"{path}: arr_0 is not a structured array with named columns")
    return _columns_to_table({n: arr[n] for n in arr.dtype.names}, str(path))


def _read_root(path: Path, tree: str = "Hits") -> np.ndarray:
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
    return _columns_to_table(cols, f"{path}:{tree}")


def read_hits(path: str | Path) -> np.ndarray:
    """Read a hit table in any supported format into ``HIT_DTYPE``."""
    path = Path(path)
    if not path.is_file():
        raise HitFileError(f"hit file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _read_npz(path)
    if suffix == ".csv":
        import pandas as pd

        try:
            df = pd.read_csv(path)
        except Exception as exc:
            raise HitFileError(f"{path}: unreadable CSV ({exc})") from None
        return _columns_to_table({c: df[c].to_numpy() for c in df.columns}, str(path))
    if suffix in (".pkl", ".pickle"):
        try:
            with open(path, "rb") as fh:
                obj = pickle.load(fh)
        except Exception as exc:
            raise HitFileError(f"{path}: unreadable pickle ({exc})") from None
        if hasattr(obj, "columns"):
            return _columns_to_table({c: obj[c].to_numpy() for c in obj.columns}, str(path))
        if isinstance(obj, np.ndarray) and obj.dtype.names:
            return _columns_to_table({n: obj[n] for n in obj.dtype.names}, str(path))
        raise HitFileError(f"{path}: the pickle holds {type(obj).__name__}, not a DataFrame or structured array")
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as exc:
            raise HitFileError(f"{path}: unreadable Parquet ({exc})") from None
        return _columns_to_table({c: table.column(c).to_numpy() for c in table.column_names}, str(path))
    if suffix == ".root":
        return _read_root(path)
    raise HitFileError(f"{path}: unknown hit file type {suffix!r}; allowed: .npz, .csv, .pkl, .parquet, .root")
