#!/usr/bin/env bash
# The prepared device check, two parts. (1) The training step's host synchronisations:
# tests/test_step_synchronisation.py
# (its CUDA test runs a PTT step under torch.cuda.set_sync_debug_mode("error"); about a minute). (2) Model-frames per
# second of training 1, 4 and 20 models together on one GPU, scored one by one and as one network (models.stacked),
# with the training frames resident on the device, and the paper zoo's projected time
# (benchmarks/gpu_zoo_projection.py; about 5-8 minutes on an H100/H200). Run from the repository root of a machine
# with torch and PyG. lap and pytest are not installed there: before the call, here,
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
#       lap==0.5.13 pytest==9.2.0 pluggy iniconfig packaging
# and carry .whl. Results go to $OUT (or the working directory).
set -euo pipefail
source benchmarks/device_env.sh  # wheels from .whl, PYTHONPATH, $out
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee "$out/gpu_check.txt"
if python3 -c "import pytest" 2> /dev/null; then
    timeout 120 python3 -m pytest -q -p no:cacheprovider -rs tests/test_step_synchronisation.py 2>&1 \
        | tee -a "$out/gpu_check.txt" || true
else
    echo "pytest is not installed: the synchronisation test was not run (carry its wheels)" | tee -a "$out/gpu_check.txt"
fi
timeout 420 python3 benchmarks/gpu_zoo_projection.py --device cuda --steps 6 --passes 32 --models 1 4 20 \
    --stack no yes --primaries 2000 --assign-workers 8 2>&1 | tee -a "$out/gpu_check.txt"
