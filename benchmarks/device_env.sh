# Sourced by the prepared device scripts (gpu_check.sh, gpu_zoo_train.sh): installs the wheels carried in .whl
# (lap, and whatever else the device machine lacks) into /tmp/site and puts them and src/ on PYTHONPATH.
if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD/src:${PYTHONPATH:-} PYTHONUNBUFFERED=1 PCTLIB_PROGRESS=0
out=${OUT:-.}
