"""Time of one Bézier curve training step and of one path point, per frame (100 p+/F), for sizing chapter 08.

    .venv/bin/python benchmarks/connectivity_speed.py [--frames 4] [--threads 1] [--device cpu] [--params default]

Frames of 100 primaries behind 100 mm of water are simulated (not timed). The endpoints are the first two PTT
models of the params set's zoo (``pctlib.zoo``; run ``pctlib run params/<params>.yaml --only 04_train_run``
first) or, without a zoo, two freshly initialised scorers (the time does not depend on the weights). Prints the
seconds per frame of one curve training step (forward, loss, backward, RMSProp) for the Hamming loss through the
blackbox assignment and for the BCE, each with BatchNorm at the first endpoint's statistics (``first``) and with
batch statistics (``recompute``); of one path point (``evaluate_path``) with either policy, the recomputation of
the BatchNorm statistics over ``--frames`` frames included; medians of 3 after one warm-up.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--params", default="default")
    ap.add_argument("--root", default=str(ROOT), help="project root whose zoo to take the models from")
    a = ap.parse_args()
    import torch

    from pctlib.allocator import keep_freed_memory
    from pctlib.graphs.build import graph_from_hits
    from pctlib.graphs.config import GraphConfig
    from pctlib.graphs.frames import split_frames
    from pctlib.landscape import connectivity as C
    from pctlib.models.interaction_network import EdgeScorer
    from pctlib.physics.geometry import load_geometry
    from pctlib.physics.simulate import Simulator
    from pctlib.training.loop import TrainConfig
    from pctlib.zoo import Zoo, ZooError

    torch.set_num_threads(a.threads)
    keep_freed_memory()  # as the landscape's workers do (pctlib.landscape.jobs)
    geo = load_geometry(ROOT / "params" / "geometry" / "bergen_dtc.yaml")
    hits = Simulator(geo.with_phantom(100.0)).run(100 * a.frames, seed=11, progress=False).hits
    frames = [graph_from_hits(f, GraphConfig())[0].to(a.device) for f in split_frames(hits, 100)][: a.frames]
    try:
        zoo = Zoo.from_results(Path(a.root), a.params).select(mode="ptt").checked()
        ma, mb = (m.load() for m in zoo.models[:2])
        what = "PTT seeds " + ", ".join(str(m.seed) for m in zoo.models[:2])
    except (ZooError, FileNotFoundError, ValueError):
        torch.manual_seed(0)
        ma, mb, what = EdgeScorer(), EdgeScorer(), "two untrained scorers (no zoo)"
    ma, mb = ma.to(a.device).eval(), mb.to(a.device).eval()
    print(f"device {a.device}, {a.threads} threads; endpoints {what}; {len(frames)} frames of 100 p+/F behind "
          f"100 mm")

    def median_time(fn, repeats=3):
        fn()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    config = TrainConfig(mode="ptt")
    for loss in C.CURVE_LOSSES:
        for policy in C.BN_POLICIES:
            spec = C.CurveSpec(loss=loss, steps=1, batch_frames=len(frames), bn_policy=policy)
            s = median_time(lambda: C.train_curve(ma, mb, frames, config, spec))
            print(f"curve training step, loss {loss}, BatchNorm {policy}: {s / len(frames):.3f} s per frame")
    w_a, w_b = C.parameters_of(ma), C.parameters_of(mb)
    for policy in C.BN_POLICIES:
        s = median_time(lambda: C.evaluate_path(lambda t: C.linear_point(w_a, w_b, t), [0.5], ma, frames, config,
                                                policy, frames, a.device))
        print(f"one path point, BatchNorm {policy} (recomputed over the same {len(frames)} frames): "
              f"{s / len(frames):.3f} s per frame")


if __name__ == "__main__":
    main()
