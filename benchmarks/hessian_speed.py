"""Time of one Hessian-vector product per frame (100 p+/F) and of the top-2 eigenpairs of one model's BCE loss.

    .venv/bin/python benchmarks/hessian_speed.py [--frames 2] [--threads 2] [--device cpu] [--params default]

Frames of 100 primaries behind 100 mm of water are simulated (not timed). The model is the first PTT model of the
params set's zoo (``pctlib.zoo``; run ``pctlib run params/<params>.yaml --only 04_train_run`` first) or, without a
zoo, a freshly initialised scorer (the time does not depend on the weights). Prints the seconds of one HVP per
frame (mean of 3, after one warm-up) for the BCE and for PAT's interpolated surrogate H_lambda, the seconds of one
loss-surface point (``PointMetrics``: scores, assignment, Hamming, BCE, TPR) per frame, and the seconds and
matrix-vector products of the top-2 eigenpairs by Lanczos (``eigsh``) and by power iteration on ``--frames``
frames, with the eigenvalues found.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--params", default="default")
    ap.add_argument("--root", default=str(ROOT), help="project root whose zoo to take the model from")
    ap.add_argument("--system-malloc", action="store_true", help="glibc's defaults instead of keep_freed_memory()")
    a = ap.parse_args()
    import numpy as np
    import torch
    from scipy.sparse.linalg import LinearOperator

    from pctlib.graphs.build import graph_from_hits
    from pctlib.graphs.config import GraphConfig
    from pctlib.graphs.frames import split_frames
    from pctlib.landscape import hessian as H
    from pctlib.models.interaction_network import EdgeScorer
    from pctlib.physics.geometry import load_geometry
    from pctlib.physics.simulate import Simulator
    from pctlib.zoo import Zoo, ZooError

    torch.set_num_threads(a.threads)
    if not a.system_malloc:
        from pctlib.allocator import keep_freed_memory

        keep_freed_memory()  # as the landscape's workers do (pctlib.landscape.jobs)
    dev = torch.device(a.device)
    geo = load_geometry(ROOT / "params" / "geometry" / "bergen_dtc.yaml")
    hits = Simulator(geo.with_phantom(100.0)).run(100 * a.frames, seed=11, progress=False).hits
    frames = [graph_from_hits(f, GraphConfig())[0].to(dev) for f in split_frames(hits, 100)][: a.frames]
    try:
        zoo = Zoo.from_results(Path(a.root), a.params).select(mode="ptt").checked()
        model, what = zoo.models[0].load(), f"{zoo.models[0].configuration} seed {zoo.models[0].seed}"
    except (ZooError, FileNotFoundError):
        model, what = EdgeScorer(), "an untrained scorer (no zoo)"
    model = model.to(dev)
    edges = sum(int(g.edge_index.shape[1]) for g in frames) // len(frames)
    print(f"device {a.device}, {a.threads} threads, {'system' if a.system_malloc else 'kept'} malloc; {what}; {len(frames)} frames of 100 p+/F behind 100 mm "
          f"({edges} directed line-graph edges on average)")
    one = H.LossOfParameters(model, frames[:1])
    theta = one.params()
    v = [torch.randn_like(t) for t in theta]
    H.hvp(one, theta, v)
    t0 = time.perf_counter()
    for _ in range(3):
        H.hvp(one, theta, v)
    print(f"one HVP, one frame: {(time.perf_counter() - t0) / 3:.3f} s")
    from pctlib.landscape.surfaces import PointMetrics
    from pctlib.training.loop import TrainConfig

    inter = H.LossOfParameters(model, frames[:1], "interpolated", TrainConfig(mode="pat", lam=50.0))
    H.hvp(inter, theta, v)
    t0 = time.perf_counter()
    for _ in range(3):
        H.hvp(inter, theta, v)
    print(f"one HVP of H_lambda (PAT's interpolated surrogate), one frame: {(time.perf_counter() - t0) / 3:.3f} s")
    pm = PointMetrics(model, frames[:1], TrainConfig(), device=a.device)
    pm(theta)
    t0 = time.perf_counter()
    for _ in range(3):
        pm(theta)
    print(f"one loss-surface point (Hamming, BCE, TPR), one frame: {(time.perf_counter() - t0) / 3:.3f} s")
    loss = H.LossOfParameters(model, frames)
    op = H.hessian_operator(loss)
    counted = {"n": 0}

    def counting(x):
        counted["n"] += 1
        return op.matvec(x)

    counting_op = LinearOperator(op.shape, matvec=counting, dtype=np.float64)
    for name, fn in (("Lanczos (eigsh)", H.top_eigenpairs_lanczos), ("power iteration", H.top_eigenpairs_power)):
        counted["n"] = 0
        t0 = time.perf_counter()
        vals, _ = fn(loss, k=2, tol=1e-4, operator=counting_op)
        print(f"top-2 eigenpairs, {name}: {time.perf_counter() - t0:.1f} s, {counted['n']} HVPs of {len(frames)} "
              f"frames; eigenvalues {', '.join(f'{x:.4g}' for x in vals)}")

if __name__ == "__main__":
    main()
