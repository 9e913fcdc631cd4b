"""Real concurrent producers of the same artefacts (grid jobs sharing data/): every file produced is complete and
identical to a serial run's, and each artefact is produced once."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
from pathlib import Path

import numpy as np
import pytest

from pctlib.fileio import file_sha256, write_bytes_atomic

SPEC = dict(name="train", phantom_mm=200.0, primaries=400, seed=5)


def _produce(root: str, barrier, out) -> None:
    """One grid job: the hit file, then its graph cache (the work of training.data.prepare for one phantom)."""
    import warnings

    import torch

    from pctlib.graphs.config import GraphConfig
    from pctlib.graphs.dataset import build_cache
    from pctlib.training.data import simulated_hits

    torch.set_num_threads(1)
    barrier.wait()  # start together
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = simulated_hits(root, SPEC["name"], SPEC["phantom_mm"], SPEC["primaries"], SPEC["seed"],
                              progress=False)
        info = build_cache(path, Path(root) / "graphs" / path.stem, GraphConfig(primaries_per_frame=50),
                           progress=False)
    out.put((os.getpid(), str(path), info.built, len(caught)))


def _files(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder``; cache.json without its one absolute path (the hit file's)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or p.name.endswith(".lock"):
            continue
        if p.name == "cache.json":
            meta = json.loads(p.read_text())
            assert Path(meta.pop("hits_file")).is_relative_to(folder)
            out[str(p.relative_to(folder))] = json.dumps(meta, sort_keys=True)
        else:
            out[str(p.relative_to(folder))] = file_sha256(p)
    return out


def test_concurrent_jobs_produce_each_artefact_once_and_identical_to_a_serial_run(tmp_path):
    ctx = mp.get_context("spawn")
    serial, shared = tmp_path / "serial", tmp_path / "shared"
    q = ctx.Queue()
    one = ctx.Barrier(1)
    _produce(str(serial), one, q)
    serial_result = q.get()
    n = 3
    barrier = ctx.Barrier(n)
    procs = [ctx.Process(target=_produce, args=(str(shared), barrier, q)) for _ in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=600)
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    results = [q.get(timeout=10) for _ in range(n)]
    assert len({r[1] for r in results}) == 1
    # the graphs were built by exactly one job, the others reused them; nothing warned of damage
    assert sorted(r[2] for r in results) == [0] * (n - 1) + [serial_result[2]]
    assert all(r[3] == 0 for r in results)
    # every file complete and byte-identical to the serial run's; no temporary file left behind
    assert _files(shared) == _files(serial)
    assert not [p for p in shared.rglob("*") if p.name.endswith("partial")]


def _write_many(path: str, payload: bytes, barrier) -> None:
    barrier.wait()
    for _ in range(20):
        write_bytes_atomic(path, payload)


def test_concurrent_atomic_writers_never_leave_a_mixed_file(tmp_path):
    ctx = mp.get_context("spawn")
    target = tmp_path / "shared.bin"
    payloads = [bytes([k]) * 2_000_000 for k in range(3)]
    barrier = ctx.Barrier(3)
    procs = [ctx.Process(target=_write_many, args=(str(target), p, barrier)) for p in payloads]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert all(p.exitcode == 0 for p in procs)
    assert target.read_bytes() in payloads
    assert [p.name for p in tmp_path.iterdir()] == ["shared.bin"]


def test_a_damaged_cached_hit_file_is_simulated_again(tmp_path):
    from pctlib.io.readers import read_hits
    from pctlib.training.data import DataWarning, simulated_hits

    path = simulated_hits(tmp_path, **{k: SPEC[k] for k in ("name", "phantom_mm", "primaries", "seed")},
                          progress=False)
    good = read_hits(path)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # one flipped byte in the middle
    path.write_bytes(bytes(raw))
    with pytest.warns(DataWarning, match="simulating it again"):
        again = simulated_hits(tmp_path, **{k: SPEC[k] for k in ("name", "phantom_mm", "primaries", "seed")},
                               progress=False)
    assert again == path and np.array_equal(read_hits(path), good)


def test_two_concurrent_runs_of_one_params_file_leave_complete_identical_results(project):
    import subprocess
    import sys

    pctlib = str(Path(sys.executable).parent / "pctlib")
    pfile = project / "params" / "c.yaml"
    pfile.write_text("notebooks:\n  a_square:\n    parameters: {x: [2, 3]}\n")
    serial = subprocess.run([pctlib, "run", str(pfile), "--no-progress"], cwd=project, capture_output=True)
    assert serial.returncode == 0, serial.stderr
    res = project / "results" / "c" / "a_square"
    want = {k: (res / k / "out.json").read_text() for k in ("x-2", "x-3")}
    procs = [subprocess.Popen([pctlib, "run", str(pfile), "--no-progress", "--force"], cwd=project,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert {k: (res / k / "out.json").read_text() for k in ("x-2", "x-3")} == want
    for k in ("x-2", "x-3"):
        assert sorted(f.name for f in (res / k).iterdir()) == ["out.json", "provenance.json"]
        nb = project / "runs" / "c" / "a_square" / k / "notebook.ipynb"
        json.loads(nb.read_text())  # whole
        assert json.loads((nb.parent / "manifest.json").read_text())["status"] == "completed"
    assert not [p for p in res.iterdir() if ".staging-" in p.name or ".old-" in p.name]
