"""Why validation purity jumped between checkpoints: BatchNorm running averages against statistics recomputed at
the same weights (``pctlib.training.batchnorm.recalibrate_batchnorm``).

    .venv/bin/python benchmarks/validation_stability.py [--mode ptt] [--steps 200] [--every 10] [--eps 1e-8]

Trains one model on the default params' data (100 / 150 / 200 mm, 6000 primaries each, 100 p+/F; built under
``data/`` if missing), 8 frames per step, RMSProp lr 1e-3 (``--eps``: its epsilon), with BatchNorm recalibration
switched off (``bn_frames=0``, the running averages of the last ~10 frames as before), and every ``--every``
steps evaluates the same weights twice on 30 stratified validation frames: with the running averages (``run``) and
with statistics recomputed over 16 stratified training frames (``recomputed``). Prints purity, TPR and FPR of both.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", default="ptt", choices=["ptt", "pat"])
    ap.add_argument("--lam", type=float, default=50.0)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--eps", type=float, default=1e-8)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from pctlib.allocator import keep_freed_memory
    from pctlib.models.interaction_network import EdgeScorer
    from pctlib.training.batchnorm import recalibrate_batchnorm
    from pctlib.training.data import DataSpec, feature_statistics, prepare
    from pctlib.training.loop import TrainConfig, evaluate_many, frame_steps, validation_indices

    keep_freed_memory()
    phantoms = (100.0, 150.0, 200.0)
    tr = prepare(DataSpec("train", phantoms, 6000, 1), ROOT / "data", progress=False)
    va = prepare(DataSpec("val", phantoms, 1000, 2), ROOT / "data", progress=False)
    norm = feature_statistics(tr)
    cfg = TrainConfig(mode=a.mode, lam=a.lam, seed=0, steps=a.steps, batch_frames=8, bn_frames=0)
    torch.manual_seed(cfg.seed)
    model = EdgeScorer(cfg.model, norm["x_mean"], norm["x_std"])
    opt = torch.optim.RMSprop(model.parameters(), lr=cfg.lr, eps=a.eps)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    val = [va[i] for i in validation_indices(va, 30)]
    bn_frames = [tr[i] for i in validation_indices(tr, 16)]
    print(f"{a.mode} lambda {a.lam:g}, RMSProp eps {a.eps:g}: validation purity / TPR / FPR with BatchNorm running "
          "averages (run) and recomputed statistics (recomputed)")
    print(f"{'step':>5} {'run purity':>10} {'recomputed':>10} {'run TPR':>8} {'rec TPR':>8} {'run FPR':>8} "
          f"{'rec FPR':>8}")
    model.train()
    for step in range(1, a.steps + 1):
        opt.zero_grad(set_to_none=True)
        for i in torch.randint(len(tr), (cfg.batch_frames,), generator=gen).tolist():
            ((loss, _, _),) = frame_steps([model], tr[i], [cfg], 1.0 / cfg.batch_frames)
            (loss / cfg.batch_frames).backward()
        opt.step()
        if step % a.every == 0:
            run = evaluate_many([model], val, [cfg])[0]
            twin = copy.deepcopy(model)
            recalibrate_batchnorm([twin], bn_frames)
            rec = evaluate_many([twin], val, [cfg])[0]
            print(f"{step:5d} {run['purity']:10.4f} {rec['purity']:10.4f} {run['tpr']:8.4f} {rec['tpr']:8.4f} "
                  f"{run['fpr']:8.5f} {rec['fpr']:8.5f}", flush=True)


if __name__ == "__main__":
    main()
