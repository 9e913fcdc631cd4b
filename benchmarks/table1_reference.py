"""Table 1 of the reference zoo on test sets large enough for a standard error of about one point per cell.

    .venv/bin/python benchmarks/table1_reference.py [--primaries 10000] [--workers 2] [--densities 50 100 150]
        [--export benchmarks/results/table1_reference]

Every model of the committed reference zoo (``zoo/reference``, verified first) and the track follower reconstruct
the test frames of 100 / 150 / 200 mm (``--primaries`` per phantom, the paper's 10,000 by default; hits simulated
as chapter 05 simulates them, ``data/hits/test_*``, test seed 9) at each density, as ``05_benchmarks`` does
(``tracks.evaluate.evaluate_frames``: the paper's purity and efficiency and their stricter companions, per frame).
The jobs (one per phantom, density and tracker) run in ``--workers`` processes of one thread each; each job's rows
are kept in ``runs/table1_reference/parts/`` as it finishes, so a killed run resumes where it stopped. The export
folder receives ``per_frame.csv.gz`` (every frame of every tracker) and ``about.json`` (the command, the CPU, the zoo's
manifest digest, the test set and the seconds), which ``05_benchmarks`` reads (its ``table1_export`` parameter)
when the digest is the reference zoo's. Chapter 05's own evaluation on its smaller default test set, which fits the
book's time budget, stays beside it.

About 4-6 CPU seconds per 100 test primaries per model and phantom (20 models, three densities) plus the follower
(its 150 p+/F frames take ~3 s each): some 25-35 minutes on two cores for the paper's 10,000 primaries.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_HITS: dict = {}


def run_job(context: dict, job: dict) -> str:
    """One (phantom, density, tracker) evaluation; returns the path of its rows (CSV), reused when present."""
    import pandas as pd

    from pctlib.fileio import write_bytes_atomic
    from pctlib.io.readers import read_hits
    from pctlib.tracks.evaluate import evaluate_frames
    from pctlib.training.loop import load_model

    out = Path(context["parts"]) / f"{job['key']}.csv"
    if out.is_file():
        return str(out)
    path = context["hits"][str(job["phantom_mm"])]
    if path not in _HITS:
        _HITS.clear()  # one phantom's hits at a time per worker
        _HITS[path] = read_hits(path)
    hits = _HITS[path]
    if job["checkpoint"]:
        rows = evaluate_frames(hits, job["density"], "gnn", load_model(job["checkpoint"]),
                               min_last_edep=context["min_last_edep"])
    else:
        rows = evaluate_frames(hits, job["density"], "track-follower", min_last_edep=context["min_last_edep"])
    df = pd.DataFrame([{**r, "algorithm": job["algorithm"], "seed": job["seed"], "phantom_mm": job["phantom_mm"]}
                       for r in rows])
    buf = io.StringIO()
    df.to_csv(buf, index=False)
    write_bytes_atomic(out, buf.getvalue().encode())
    return str(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--primaries", type=int, default=10000, help="test primaries per phantom")
    ap.add_argument("--phantoms", type=float, nargs="+", default=[100.0, 150.0, 200.0])
    ap.add_argument("--densities", type=int, nargs="+", default=[50, 100, 150])
    ap.add_argument("--test-seed", type=int, default=9, help="as chapter 05's test_seed")
    ap.add_argument("--min-last-edep", type=float, default=0.0625)
    ap.add_argument("--no-follower", action="store_true")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--zoo", default=str(ROOT / "zoo" / "reference"))
    ap.add_argument("--work", default=str(ROOT / "runs" / "table1_reference"))
    ap.add_argument("--export", default=str(ROOT / "benchmarks" / "results" / "table1_reference"))
    a = ap.parse_args()
    import pandas as pd

    from pctlib.fileio import write_bytes_atomic, write_json_atomic
    from pctlib.landscape.jobs import map_jobs
    from pctlib.machine import cpu_name
    from pctlib.reference_zoo import reference_zoo, verify
    from pctlib.training.data import simulated_hits

    if not (Path(a.zoo) / "manifest.json").is_file():
        print(f"no reference zoo under {a.zoo} (params/zoo.yaml trains it, `pctlib publish-zoo zoo` writes it): "
              "nothing to evaluate")
        return
    manifest = verify(a.zoo)
    zoo = reference_zoo(a.zoo).checked()
    hits = {str(t): str(simulated_hits(ROOT / "data", "test", t, a.primaries, a.test_seed * 1000 + k))
            for k, t in enumerate(a.phantoms)}
    settings = {"primaries": a.primaries, "phantoms": a.phantoms, "densities": a.densities,
                "test_seed": a.test_seed, "min_last_edep": a.min_last_edep, "zoo_digest": manifest["digest"]}
    tag = __import__("hashlib").sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    parts = Path(a.work) / f"parts_{tag}"
    parts.mkdir(parents=True, exist_ok=True)
    trackers = [(f"GNN {m.configuration}", m.seed, str(m.checkpoint)) for m in zoo.models]
    if not a.no_follower:
        trackers.append(("track follower", 0, ""))
    # the costly jobs first (dense frames, the follower), so that the two workers finish together
    jobs = [{"key": f"{t:g}mm_{n}_{alg.replace(' ', '_').replace('=', '')}_s{seed}", "phantom_mm": t, "density": n,
             "algorithm": alg, "seed": seed, "checkpoint": ck}
            for n in sorted(a.densities, reverse=True) for t in a.phantoms for alg, seed, ck in trackers]
    jobs.sort(key=lambda j: (-j["density"], j["checkpoint"] != ""))
    context = {"parts": str(parts), "hits": hits, "min_last_edep": a.min_last_edep}
    t0 = time.perf_counter()
    files = map_jobs(run_job, context, jobs, workers=a.workers, threads=1, engine="local", desc="table 1 jobs")
    seconds = time.perf_counter() - t0
    frames = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    dest = Path(a.export)
    dest.mkdir(parents=True, exist_ok=True)
    # gzip without a timestamp: the same rows give the same bytes
    write_bytes_atomic(dest / "per_frame.csv.gz", gzip.compress(frames.to_csv(index=False).encode(), mtime=0))
    write_json_atomic(dest / "about.json", {
        "command": "benchmarks/table1_reference.py " + " ".join(sys.argv[1:]), **settings,
        "models": len(zoo.models), "jobs": len(jobs), "workers": a.workers, "seconds_this_call": seconds,
        "cpu": cpu_name(), "cores": os.cpu_count()})
    per_cell = frames.groupby(["algorithm", "primaries_per_frame", "phantom_mm", "frame"]).purity.mean().groupby(
        ["algorithm", "primaries_per_frame", "phantom_mm"]).sem()
    print(f"{len(frames)} frame rows of {len(jobs)} jobs in {seconds:.0f} s; purity standard error over frames "
          f"{100 * per_cell.min():.2f}-{100 * per_cell.max():.2f} points; exported to {dest}")


if __name__ == "__main__":
    main()
