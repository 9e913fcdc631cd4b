"""``pctlib train``: simulate (once) and build (once) the data, then train or resume one run, or several seeds
together (``--seeds``: one process, ``train_many``, a run folder per seed under ``--out``)."""

from __future__ import annotations

import argparse
import json

from .common import UsageError, check_device, check_writable, checked_numbers, register


def cmd_train(args: argparse.Namespace) -> int:
    from ..training.data import DataSpec, feature_statistics, prepare
    from pathlib import Path

    from ..training.loop import TrainConfig, TrainError, check_run_folder, train_many

    seeds = args.seeds if args.seeds else [args.seed]
    if len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds lists a seed twice: {seeds}")
    together = args.seeds is not None
    try:
        phantoms = tuple(float(p) for p in args.phantoms.split(","))
    except ValueError:
        raise UsageError(f"--phantoms {args.phantoms!r}: not a comma-separated list of thicknesses [mm]") from None
    nonneg, positive = {"minimum": 0, "integer": True}, {"minimum": 1, "integer": True}
    checked_numbers([(p, "--phantoms", {"minimum": 0.0}) for p in phantoms]
                    + [(args.train_primaries, "--train-primaries", positive),
                       (args.val_primaries, "--val-primaries", positive), (args.data_seed, "--data-seed", nonneg)])
    check_device(args.device, allow_auto=True)
    check_writable(args.out, "--out", folder=True)
    check_writable(args.data_root, "--data-root", folder=True)
    try:
        cfgs = [TrainConfig(mode=args.mode, lam=args.lam, steps=args.steps, batch_frames=args.batch_frames,
                            lr=args.lr, step_lr=args.step_lr, cosine_lr=args.cosine_lr,
                            eval_every=args.eval_every, seed=seed,
                            max_val_frames=args.max_val_frames, scale_by_lambda=not args.no_lambda_scaling,
                            w_tracker=args.w_tracker, w_calorimeter=args.w_calorimeter,
                            loss_normalisation=args.loss_normalisation, tracker_group=args.tracker_group,
                            lambda_scope=args.lambda_scope, bn_frames=args.bn_frames,
                            data_seed=args.data_seed if together else None) for seed in seeds]
    except (ValueError, TrainError) as exc:
        raise UsageError(str(exc)) from None
    outs = [Path(args.out) / f"seed{seed}" for seed in seeds] if together else [Path(args.out)]
    tr_spec = DataSpec("train", phantoms, args.train_primaries, args.data_seed)
    va_spec = DataSpec("val", phantoms, args.val_primaries, args.data_seed + 1)
    try:  # a folder holding another run is refused before the data are simulated and built
        for cfg, out in zip(cfgs, outs):
            check_run_folder(out, cfg, {"train": vars(tr_spec), "val": vars(va_spec)})
    except TrainError as exc:
        raise UsageError(str(exc)) from None
    tr = prepare(tr_spec, args.data_root, progress=not args.no_progress)
    va = prepare(va_spec, args.data_root, progress=not args.no_progress)
    try:
        bests = train_many(cfgs, tr, va, outs, feature_statistics(tr),
                           data_info={"train": vars(tr_spec), "val": vars(va_spec), "train_data": tr.identity,
                                      "val_data": va.identity}, progress=not args.no_progress,
                           device=args.device)
    except TrainError as exc:
        raise UsageError(str(exc)) from None
    print(json.dumps(bests[0] if not together else {str(o): b for o, b in zip(outs, bests)}, indent=1))
    return 0


@register("train", "train (or resume) an edge scorer, predict-then-track (ptt) or predict-and-track (pat)")
def _train_cmd():
    def configure(p: argparse.ArgumentParser) -> None:
        p.add_argument("--mode", choices=["ptt", "pat"], default="ptt")
        p.add_argument("--lam", type=float, default=50.0, help="blackbox interpolation lambda (pat)")
        p.add_argument("--no-lambda-scaling", action="store_true", help="released-code gradient without 1/lambda")
        p.add_argument("--lambda-scope", choices=["frame", "batch"], default="frame",
                       help="frame: lambda perturbs each frame's loss (independent of --batch-frames); batch: the "
                            "released code's convention (effective lambda = lam / batch frames)")
        p.add_argument("--w-tracker", type=float, default=1.0, help="loss weight of the tracker segment group")
        p.add_argument("--w-calorimeter", type=float, default=1.0, help="loss weight of the calorimeter group")
        p.add_argument("--loss-normalisation", choices=["group", "pooled"], default="group",
                       help="group: mean per segment group, weighted and added (released code); pooled: one mean")
        p.add_argument("--tracker-group", choices=["tracker", "released"], default="tracker",
                       help="tracker: segments leaving a tracker layer; released: also the 2->3 segments")
        p.add_argument("--steps", type=int, default=10000)
        p.add_argument("--batch-frames", type=int, default=32)
        p.add_argument("--lr", type=float, default=1e-3)
        p.add_argument("--step-lr", action="store_true", help="StepLR(1000, 0.5) as in the released code")
        p.add_argument("--cosine-lr", action="store_true", help="cosine decay of the learning rate over the run")
        p.add_argument("--eval-every", type=int, default=100)
        p.add_argument("--max-val-frames", type=int, default=50)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--seeds", type=int, nargs="+", default=None,
                       help="several seeds trained together in one process, a run folder OUT/seed<N> each")
        p.add_argument("--bn-frames", type=int, default=16,
                       help="training frames over which BatchNorm statistics are recomputed before validation")
        p.add_argument("--phantoms", default="100,150,200", help="water phantoms [mm], comma separated")
        p.add_argument("--train-primaries", type=int, default=100000, help="per phantom")
        p.add_argument("--val-primaries", type=int, default=5000, help="per phantom")
        p.add_argument("--data-seed", type=int, default=1)
        p.add_argument("--data-root", default="data")
        p.add_argument("--out", required=True, help="run folder (resumed when it holds the same configuration)")
        p.add_argument("--device", default="auto", help="cpu, cuda, or auto (a GPU when there is one)")
        p.add_argument("--no-progress", action="store_true")

    return configure, cmd_train
