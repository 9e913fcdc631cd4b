"""Benchmark of the layer-wise assignment: forward and backward time per frame, solver comparison.

    .venv/bin/python benchmarks/assign_speed.py [--primaries 3000] [--phantom-mm 100]

Frames are simulated and built once (not timed). Two kinds of scores: ``random`` (uniform in [0, 1], the hardest
case) and ``noisy-truth`` (truth plus Gaussian noise of sigma 0.3, clipped: a stand-in for a trained network, whose
blocks the backward pass can often skip because the loss gradient favours the current matching). Forward = the differentiable assignment of all layer pairs of a frame; backward = the
blackbox backward pass (one more assignment of the perturbed costs plus the gradient) through torch autograd, with
lambda = 50 and a Hamming loss. Best of three passes. One torch thread; ``workers`` is the thread pool over blocks.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--primaries", type=int, default=3000)
    ap.add_argument("--phantom-mm", type=float, default=100.0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    from pctlib.assign.batch import assign_scores
    from pctlib.assign.blackbox import assign_differentiable
    from pctlib.assign.layout import layout_of_graph
    from pctlib.assign.losses import hamming_loss
    from pctlib.assign.solver import available_backends
    from pctlib.graphs.build import graph_from_hits
    from pctlib.graphs.config import GraphConfig
    from pctlib.graphs.frames import split_frames
    from pctlib.physics.geometry import load_geometry
    from pctlib.physics.simulate import Simulator

    geo = load_geometry(ROOT / "params" / "geometry" / "bergen_dtc.yaml")
    hits = Simulator(geo.with_phantom(args.phantom_mm)).run(args.primaries, seed=21, progress=False).hits
    rng = np.random.default_rng(0)
    print(f"phantom {args.phantom_mm:.0f} mm; backends available: {', '.join(available_backends())}")
    print(f"{'p+/F':>5} {'scores':>11} {'backend':>8} {'workers':>7} {'frames':>6} {'segments':>9} "
          f"{'forward ms':>10} {'backward ms':>11}")
    for n in (50, 100, 150):
        frames = [graph_from_hits(f, GraphConfig(primaries_per_frame=n))[0]
                  for f in split_frames(hits, n, drop_partial=True)]
        layouts = [layout_of_graph(g) for g in frames]
        kinds = {"random": [rng.random(g.hit_edge_index.shape[1]) for g in frames],
                 "noisy-truth": [np.clip(g.y.numpy() + 0.3 * rng.standard_normal(g.y.shape[0]), 0, 1)
                                 for g in frames]}
        for (kind, scores), backend in itertools.product(kinds.items(), available_backends()):
            for workers in (1, 2) if kind == "random" else (1,):
                assign_scores(scores[0], layouts[0], backend, workers)  # warm-up
                fwd = bwd = float("inf")
                for _ in range(3):  # best of three passes over the frames
                    t_f = t_b = 0.0
                    for s, lay, g in zip(scores, layouts, frames):
                        st = torch.tensor(s, requires_grad=True)
                        t0 = time.perf_counter()
                        y = assign_differentiable(st, lay, 50.0, backend=backend, workers=workers)
                        t1 = time.perf_counter()
                        loss = hamming_loss(y, g.y.double())
                        t2 = time.perf_counter()
                        loss.backward()
                        t3 = time.perf_counter()
                        t_f += t1 - t0
                        t_b += t3 - t2
                    fwd = min(fwd, t_f / len(frames))
                    bwd = min(bwd, t_b / len(frames))
                seg = np.mean([lay.n_edges for lay in layouts])
                print(f"{n:5d} {kind:>11} {backend:>8} {workers:7d} {len(frames):6d} {seg:9.0f} {1e3 * fwd:10.2f} "
                      f"{1e3 * bwd:11.2f}")


if __name__ == "__main__":
    main()
