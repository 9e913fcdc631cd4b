"""The reference zoo (``params/zoo.yaml``) trained in one process on one device, all its models together: the
prepared GPU command of the reference zoo, and its timing.

    # here (needs the runner, i.e. jupytext): the zoo's trainings, resolved into a plan (committed; a test keeps it
    # in step with params/zoo.yaml and 04_train_run's defaults)
    .venv/bin/python benchmarks/gpu_zoo_train.py --write-plan benchmarks/gpu_zoo_plan.json
    # on the GPU machine (torch, PyG, lap): trains or resumes every model of the plan
    python3 benchmarks/gpu_zoo_train.py --plan benchmarks/gpu_zoo_plan.json --device cuda [--run-root DIR]
        [--max-minutes M] [--stack auto|yes|no] [--assign-workers N]

Each execution of the plan is set up exactly as ``04_train_run`` sets it up (``training.setup``: the same data,
configurations and run folders), so the run folders are those ``pctlib run params/zoo.yaml`` writes and resumes, and
``pctlib publish-zoo zoo`` publishes them whichever of the two trained them. Executions that share their data and
step schedule are trained together in one ``train_many`` (the zoo's 20 models: one process, one network of 20 models
on a GPU with ``--stack auto``). ``--run-root`` writes the run folders elsewhere (e.g. the device's $OUT; copy them
into the plan's run root to publish them). ``--max-minutes``: stop after the first validation past that many minutes
since the command started (the data's preparation included; the command resumes from there). Prints the data
preparation time, the training time, model-frames per second (of training steps, validations included) and every
model's best validation purity. Training hits are simulated on the machine that runs it (the validation hits are
shipped with the repository); on a GPU the models' steps are not bit-reproducible (scatter reductions), on the CPU
they are.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # the repository's pctlib, also where it is not installed (the device)
NOTEBOOK = "04_train_run"


def resolve_plan(params: Path) -> dict:
    """The trainings a params file asks ``04_train_run`` for: every execution's parameters, the notebook's
    defaults filled in (what papermill would run)."""
    from pctlib.runner.engine import planned_executions
    from pctlib.runner.notebook_params import read_notebook_spec
    from pctlib.training.setup import TRAINING_PARAMETERS

    spec = read_notebook_spec(ROOT / "notebooks" / f"{NOTEBOOK}.py")
    name, planned = planned_executions(ROOT, params, only=NOTEBOOK)
    wanted = TRAINING_PARAMETERS + ("run_root", "threads", "assign_workers", "stack_models")
    executions = []
    for p in planned:
        full = {k: v.default for k, v in spec.params.items()}
        full.update(p.execution.parameters)
        executions.append({"key": p.execution.key, "parameters": {k: full[k] for k in wanted}})
    rel = params.resolve().relative_to(ROOT) if params.resolve().is_relative_to(ROOT) else params
    return {"params": str(rel), "params_name": name, "notebook": NOTEBOOK, "executions": executions}


def _joint_key(setup) -> str:
    c = setup.configs[0]
    return json.dumps({"data": setup.data_info, "steps": c.steps,
                       "batch_frames": c.batch_frames, "frames_per_pass": c.frames_per_pass,
                       "data_seed": c.data_seed}, sort_keys=True, default=str)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write-plan", type=Path, help="resolve --params into this plan file and stop")
    ap.add_argument("--params", type=Path, default=ROOT / "params" / "zoo.yaml")
    ap.add_argument("--plan", type=Path, default=ROOT / "benchmarks" / "gpu_zoo_plan.json")
    ap.add_argument("--device", help="cuda, cpu or auto; required to train (without it: this help, nothing run)")
    ap.add_argument("--run-root", type=Path, help="the run folders' parent (default: the plan's run_root)")
    ap.add_argument("--max-minutes", type=float,
                    help="stop after the first validation past this many minutes since the start (data included)")
    ap.add_argument("--stack", choices=["auto", "yes", "no"], default="auto",
                    help="the models scored as one network (auto: on a GPU)")
    ap.add_argument("--assign-workers", type=int, default=8, help="threads solving PAT's assignments")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: the plan's)")
    a = ap.parse_args(argv)
    if a.write_plan:
        plan = resolve_plan(a.params)
        a.write_plan.write_text(json.dumps(plan, indent=1, sort_keys=True) + "\n")
        n = sum(len(e["parameters"]["models"]) for e in plan["executions"])
        print(f"{a.write_plan}: {len(plan['executions'])} executions of {NOTEBOOK} ({n} model entries)")
        return

    if a.device is None:  # e.g. `make benchmarks`: the whole zoo is not trained by accident
        ap.print_help()
        return
    import torch

    from pctlib.training.loop import resolve_device, train_many
    from pctlib.training.setup import training_setup

    plan = json.loads(a.plan.read_text())
    dev = resolve_device(a.device)
    first = plan["executions"][0]["parameters"]
    torch.set_num_threads(a.threads or first["threads"])
    t0 = time.perf_counter()
    groups: dict[str, list] = {}
    for e in plan["executions"]:
        p = dict(e["parameters"])
        if a.run_root is not None:
            p["run_root"] = str(a.run_root.resolve())  # an absolute run_root: root / run_root is run_root
        default_parent = ROOT / "runs" / plan["params_name"] / NOTEBOOK / e["key"] / "train"
        setup = training_setup(p, ROOT, default_parent, progress=False)
        groups.setdefault(_joint_key(setup), []).append(setup)
    prep = time.perf_counter() - t0
    print(f"device {dev} ({torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'CPU'}); data prepared in "
          f"{prep:.0f} s; {sum(len(g) for g in groups.values())} executions in {len(groups)} joint training(s)",
          flush=True)
    for setups in groups.values():
        budget = None if a.max_minutes is None else max(0.0, 60.0 * a.max_minutes - (time.perf_counter() - t0))
        s0 = setups[0]
        configs = [c for s in setups for c in s.configs]
        run_dirs = [d for s in setups for d in s.run_dirs]
        steps_before = _steps_done(run_dirs)
        t1 = time.perf_counter()
        bests = train_many(configs, s0.train_frames, s0.val_frames, run_dirs, s0.normalization,
                           data_info=s0.data_info, device=str(dev), max_seconds=budget,
                           workers=a.assign_workers, machine_dependent=s0.machine_dependent,
                           stack_models={"auto": "auto", "yes": True, "no": False}[a.stack])
        seconds = time.perf_counter() - t1
        done = _steps_done(run_dirs)
        frames = sum(d - b for d, b in zip(done, steps_before)) * configs[0].batch_frames
        print(f"{len(configs)} models, steps {min(steps_before)} -> {min(done)} of {configs[0].steps}: "
              f"{seconds:.0f} s, {frames / seconds if seconds else float('nan'):.1f} model-frames/s "
              "(validations included)", flush=True)
        for c, d, b in zip(configs, run_dirs, bests):
            print(f"  {c.mode} lam {c.lam:g} seed {c.seed}: best val purity {b.get('purity', float('nan')):.4f} "
                  f"at step {b.get('step')}  ({d})")


def _steps_done(run_dirs: list[Path]) -> list[int]:
    """The step of each run's last checkpoint (0 without one)."""
    from pctlib.training.checkpoint import load_checkpoint

    return [int(load_checkpoint(Path(d) / "last.pt")["step"]) if (Path(d) / "last.pt").is_file() else 0
            for d in run_dirs]


if __name__ == "__main__":
    main()
