"""``pctlib evaluate``: per-frame metrics and timings of a tracker on a hit file, as a tidy CSV."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import UsageError, check_writable, register


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..io.readers import HitFileError
    from ..tracks.evaluate import evaluate_file
    from ..tracks.follower import load_follower_config

    from ..checks import NumberError, check_number

    try:
        check_number(args.min_last_edep, "--min-last-edep", minimum=0.0)
        if args.max_frames is not None:
            check_number(args.max_frames, "--max-frames", minimum=1, integer=True)
    except NumberError as exc:
        raise UsageError(str(exc)) from None
    try:
        densities = [int(x) for x in args.primaries_per_frame.split(",")]
    except ValueError:
        raise UsageError(f"--primaries-per-frame: {args.primaries_per_frame!r} is not a comma-separated list of "
                         "integers") from None
    if not densities or min(densities) < 1:
        raise UsageError(f"--primaries-per-frame: {args.primaries_per_frame!r}: every density must be at least 1 "
                         "primary per frame")
    check_writable(args.out, "--out")  # before the evaluation, not after it
    if args.model == "track-follower":
        tracker, model = "track-follower", None
        follower = load_follower_config(args.follower_config) if args.follower_config else None
    else:
        if not Path(args.model).is_file():
            raise UsageError(f"--model: {args.model} is neither 'track-follower' nor a checkpoint file")
        from ..training.loop import TrainError, load_model

        try:
            tracker, model, follower = "gnn", load_model(args.model), None
        except TrainError as exc:
            raise UsageError(str(exc)) from None
    try:
        df = evaluate_file(args.data, densities, tracker, model, follower, args.min_last_edep, args.max_frames,
                           trust_pickle=args.trust_pickle)
    except HitFileError as exc:
        raise UsageError(str(exc)) from None
    if args.model != "track-follower":
        df["algorithm"] = args.label or f"gnn:{Path(args.model).parent.name}"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False)
    summary = df.groupby("primaries_per_frame")[["purity", "efficiency", "tracking_seconds"]].mean()
    print(summary.round(4).to_string())
    print(f"{out}: {len(df)} frames")
    return 0


@register("evaluate", "per-frame tracking metrics and timings of a GNN checkpoint or the track follower")
def _evaluate_cmd():
    def configure(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", required=True, help="a checkpoint (best.pt) or 'track-follower'")
        p.add_argument("--data", required=True, help="hit file")
        p.add_argument("--primaries-per-frame", default="50,100,150")
        p.add_argument("--out", required=True, help="CSV file")
        p.add_argument("--follower-config", help="track-follower parameters (params/trackers/track_follower.yaml)")
        p.add_argument("--min-last-edep", type=float, default=0.0625,
                       help="track filter: deposit of the deepest hit [MeV] (0.0625 released code, 0.625 paper text)")
        p.add_argument("--max-frames", type=int, help="at most this many frames per density")
        p.add_argument("--label", help="algorithm name in the CSV (default gnn:<run folder>)")
        p.add_argument("--trust-pickle", action="store_true",
                       help="read a .pkl hit file (loading a pickle can run code: only files you trust)")

    return configure, cmd_evaluate
