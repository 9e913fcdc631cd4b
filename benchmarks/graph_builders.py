"""Benchmark of the issue-17 graph paths: milliseconds per frame to go from a frame's hits to its line graph with
each preselection (none with or without the cluster-size cut, FCNN, gradient-boosted trees) and each graph builder
(angular filter, kNN in a learned embedding), on one CPU thread, and the graph sizes.

    .venv/bin/python benchmarks/graph_builders.py [--train 2000] [--test 1000] [--noise-rate 1e-6] [--passes 3]

Simulates noisy hits once (ALPIDE pixel clusters, noise at --noise-rate, no cluster-size cut at simulation, 100 mm,
100 p+/F; not timed), trains the modules with their default settings (not timed), then times
`graph_from_hits` frame by frame over the test frames in several passes (median of the per-pass means, and the
range). The classifier's share of the time is timed on its own as well.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", type=int, default=2000, help="primaries the modules learn from")
    ap.add_argument("--test", type=int, default=1000, help="primaries of the timed frames")
    ap.add_argument("--noise-rate", type=float, default=1e-6)
    ap.add_argument("--passes", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    from pctlib.graphs.build import graph_from_hits
    from pctlib.graphs.config import GraphConfig
    from pctlib.graphs.frames import preprocess, split_frames
    from pctlib.graphs.learned import EmbeddingConfig
    from pctlib.graphs.modules import GraphModules, fit_modules
    from pctlib.physics.geometry import load_geometry
    from pctlib.physics.simulate import Digitisation, Simulator
    from pctlib.preselect.classifier import ClassifierConfig

    geo = load_geometry(ROOT / "params" / "geometry" / "bergen_dtc.yaml").with_phantom(100.0)
    d = Digitisation(pixel_clusters=True, frame_primaries=100, noise_rate=args.noise_rate, min_cluster_size=0)
    train = split_frames(Simulator(geo, digitisation=d).run(args.train, seed=11, progress=False).hits, 100,
                         drop_partial=True)
    test = split_frames(Simulator(geo, digitisation=d).run(args.test, seed=12, progress=False).hits, 100,
                        drop_partial=True)
    no_cut, ref = GraphConfig(min_cluster_size=0), GraphConfig()
    t0 = time.perf_counter()
    fcnn = fit_modules(train, no_cut, ClassifierConfig(kind="fcnn"), progress=False)
    gbdt = fit_modules(train, no_cut, ClassifierConfig(kind="gbdt"), progress=False)
    emb = fit_modules(train, ref, None, EmbeddingConfig(k=2), progress=False)
    print(f"{len(train)} training frames, {len(test)} timed frames; modules trained in "
          f"{time.perf_counter() - t0:.1f} s (not timed below)")
    variants = {
        "cs >= 2, angular (reference)": (ref, None),
        "no cut, angular": (no_cut, None),
        "fcnn, angular": (fcnn.config(no_cut, preselect="fcnn"), fcnn),
        "gbdt, angular": (gbdt.config(no_cut, preselect="gbdt"), gbdt),
        "cs >= 2, learned (k = 2)": (emb.config(ref, graph_builder="learned"), emb),
        "fcnn, learned (k = 2)": (GraphModules(fcnn.classifier, emb.embedder).config(
            no_cut, graph_builder="learned", preselect="fcnn"), GraphModules(fcnn.classifier, emb.embedder)),
    }
    print(f"{'variant':32s} {'ms/frame':>9s} {'range':>15s} {'hits':>7s} {'segments':>9s} {'line edges':>11s}")
    for name, (cfg, mods) in variants.items():
        means, sizes = [], []
        for _ in range(args.passes):
            t = []
            for f in test:
                t1 = time.perf_counter()
                _, s = graph_from_hits(f, cfg, modules=mods)
                t.append(time.perf_counter() - t1)
                sizes.append(s)
            means.append(1000 * np.mean(t))
        print(f"{name:32s} {np.median(means):9.1f} {min(means):7.1f}-{max(means):<7.1f} "
              f"{np.mean([s['hits'] for s in sizes]):7.0f} {np.mean([s['edges'] for s in sizes]):9.0f} "
              f"{np.mean([s['line_edges'] for s in sizes]):11.0f}")
    for name, mods in (("fcnn", fcnn), ("gbdt", gbdt)):
        pre = [preprocess(f, no_cut) for f in test]
        t1 = time.perf_counter()
        for p in pre:
            mods.classifier.keep(p)
        print(f"classifier {name}: {1000 * (time.perf_counter() - t1) / len(pre):.1f} ms/frame (features + scores)")


if __name__ == "__main__":
    main()
