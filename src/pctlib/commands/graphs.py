"""``pctlib graphs``: build (or repair) the cached graphs of a hit file."""

from __future__ import annotations

import argparse
import warnings

from .common import UsageError, check_device, check_writable, register


def cmd_graphs(args: argparse.Namespace) -> int:
    from ..graphs.config import GraphConfig, GraphConfigError
    from ..graphs.dataset import build_cache
    from ..io.readers import HitFileError

    try:
        cfg = GraphConfig(primaries_per_frame=args.primaries_per_frame, theta_calorimeter=args.theta_calorimeter,
                          theta_tracker=args.theta_tracker, energy_feature=args.energy_feature)
    except GraphConfigError as exc:
        raise UsageError(str(exc)) from None
    check_device(args.device)
    check_writable(args.out, "--out", folder=True)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.formatwarning = lambda msg, cat, *a, **k: f"warning: {msg}\n"
        try:
            info = build_cache(args.hits, args.out, cfg, progress=not args.no_progress, device=args.device,
                               trust_pickle=args.trust_pickle)
        except HitFileError as exc:
            raise UsageError(str(exc)) from None
    print(f"{info.folder}: {info.n_frames} frames ({info.built} built) in {info.seconds:.1f} s, key {info.key}")
    return 0


@register("graphs", "build the hit and line graphs of a hit file into a cached dataset")
def _graphs_cmd():
    def configure(p: argparse.ArgumentParser) -> None:
        p.add_argument("--hits", required=True, help="hit file (.npz, .parquet, .csv, .pkl, .root)")
        p.add_argument("--primaries-per-frame", type=int, default=100)
        p.add_argument("--out", required=True, help="cache folder")
        p.add_argument("--theta-calorimeter", type=float, default=0.4, help="angle filter in the calorimeter [rad]")
        p.add_argument("--theta-tracker", type=float, default=0.2, help="angle filter at the trackers [rad]")
        p.add_argument("--energy-feature", choices=["edep", "cluster_size"], default="edep")
        p.add_argument("--device", default="cpu")
        p.add_argument("--no-progress", action="store_true")
        p.add_argument("--trust-pickle", action="store_true",
                       help="read a .pkl hit file (loading a pickle can run code: only files you trust)")

    return configure, cmd_graphs
