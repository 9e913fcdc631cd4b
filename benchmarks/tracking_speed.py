"""Benchmark of tracking throughput: frames per second on one CPU core, GNN tracker and track follower.

    .venv/bin/python benchmarks/tracking_speed.py [--checkpoint runs/default/04_train_run/*/train/*/best.pt]

Frames of 50, 100 and 150 primaries behind 100 mm of water are simulated and their graphs built (not timed). The
GNN tracker's time is scoring + layer-wise assignment + following the chains; the track follower's is its search
on the hits. An untrained network is used when no checkpoint is given (the time does not depend on the weights).
"""

from __future__ import annotations

import argparse
import glob
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint")
    ap.add_argument("--frames", type=int, default=6)
    args = ap.parse_args()
    torch.set_num_threads(1)
    from pctlib.models.interaction_network import EdgeScorer
    from pctlib.physics.geometry import load_geometry
    from pctlib.physics.simulate import Simulator
    from pctlib.tracks.evaluate import evaluate_frames
    from pctlib.training.loop import load_model

    ck = args.checkpoint or next(iter(sorted(glob.glob(str(ROOT / "runs/default/04_train_run/*/train/*/best.pt")))),
                                 None)
    model = load_model(ck) if ck else EdgeScorer().eval()
    print(f"model: {ck or 'untrained EdgeScorer'}; one torch thread; 100 mm water")
    geo = load_geometry(ROOT / "params" / "geometry" / "bergen_dtc.yaml")
    hits = Simulator(geo.with_phantom(100.0)).run(150 * args.frames, seed=5, progress=False).hits
    print(f"{'p+/F':>5} {'tracker':>15} {'frames':>6} {'ms/frame':>9} {'frames/s':>9}")
    for n in (50, 100, 150):
        for tracker in ("gnn", "track-follower"):
            rows = evaluate_frames(hits, n, tracker, model, max_frames=args.frames)
            t = np.mean([r["tracking_seconds"] for r in rows])
            print(f"{n:5d} {tracker:>15} {len(rows):6d} {1e3 * t:9.1f} {1 / t:9.2f}")


if __name__ == "__main__":
    main()
