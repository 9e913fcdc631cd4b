#!/usr/bin/env bash
# The prepared device command of the reference zoo: params/zoo.yaml's 20 models (PTT and PAT lambda = 25/50/75 x 5
# seeds, 1,200 steps x 4 frames each) trained from scratch together on one GPU (benchmarks/gpu_zoo_train.py with
# the committed plan benchmarks/gpu_zoo_plan.json), stopped after the first validation past MINUTES (default 8)
# minutes; prints the data preparation time, model-frames per second and each model's best validation purity.
# Run from the repository root of a machine with torch and PyG; lap (and anything else missing) comes as wheels in
# .whl, downloaded here before the call as benchmarks/gpu_check.sh says, and carried. The run folders go to
# $OUT/zoo_training (copy them into zoo/training, then `pctlib publish-zoo zoo`); a second call with the same
# run root resumes them.
set -euo pipefail
source benchmarks/device_env.sh  # wheels from .whl, PYTHONPATH, $out
minutes=${1:-8}
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee "$out/gpu_zoo_train.txt"
timeout 590 python3 benchmarks/gpu_zoo_train.py --plan benchmarks/gpu_zoo_plan.json --device cuda \
    --run-root "$out/zoo_training" --max-minutes "$minutes" --threads 8 --assign-workers 12 2>&1 \
    | tee -a "$out/gpu_zoo_train.txt"
