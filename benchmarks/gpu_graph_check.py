"""Device check: graph building gives the same graphs on a GPU as on the CPU, and how fast each is.

    PYTHONPATH=src python3 benchmarks/gpu_graph_check.py OUT.json [--device cuda] [--primaries 3000]

Simulates 100 mm of water (on the CPU), builds the first five frames at 100 and 150 p+/F on the CPU and on the
device and compares every integer tensor (edges, truth, pointers), the node features and the line-edge scalar u;
then times all frames on both (CPU with one torch thread). Same code path on both (the ``device`` argument).
"""

from __future__ import annotations

import argparse
import json
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--primaries", type=int, default=3000)
    args = ap.parse_args()
    from pctlib.graphs.build import graph_from_hits
    from pctlib.graphs.config import GraphConfig
    from pctlib.graphs.frames import split_frames
    from pctlib.physics.config import SimulationConfig
    from pctlib.physics.simulate import Simulator

    torch.set_num_threads(1)
    dev = torch.device(args.device)
    print(torch.__version__, torch.cuda.get_device_name(dev) if dev.type == "cuda" else dev)
    hits = Simulator(SimulationConfig(phantom_mm=100).load_geometry()).run(args.primaries, seed=11,
                                                                            progress=False).hits
    out = {}
    for n in (100, 150):
        frames = split_frames(hits, n, drop_partial=True)
        cfg = GraphConfig(primaries_per_frame=n)
        same, max_du = True, 0.0
        for f in frames[:5]:
            gc, sc = graph_from_hits(f, cfg, device="cpu")
            gd, sd = graph_from_hits(f, cfg, device=dev)
            same &= sc == sd
            for k in ("edge_index", "hit_edge_index", "y", "edge_clean", "hit_layer_ptr", "edge_layer_ptr"):
                same &= torch.equal(getattr(gc, k), getattr(gd, k).cpu())
            same &= torch.allclose(gc.x, gd.x.cpu())
            max_du = max(max_du, float((gc.edge_u - gd.edge_u.cpu()).abs().max()))
        rate = {}
        for d in ("cpu", dev):
            graph_from_hits(frames[0], cfg, device=d)
            if torch.device(d).type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            for f in frames:
                graph_from_hits(f, cfg, device=d)
            if torch.device(d).type == "cuda":
                torch.cuda.synchronize()
            rate[str(d)] = len(frames) / (time.perf_counter() - t0)
        out[n] = {"identical_structure_and_sizes": bool(same), "max_abs_diff_edge_u": max_du, "frames": len(frames),
                  "graphs_per_s_cpu_1thread": round(rate["cpu"], 1), f"graphs_per_s_{dev}": round(rate[str(dev)], 1),
                  "line_edges": sc["line_edges"]}
        print(n, out[n], flush=True)
    with open(args.out, "w") as fh:
        json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
