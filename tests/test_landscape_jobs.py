"""Parallel landscape jobs: the engine choice and the map's results on each engine, in order."""

import os

import pytest

from pctlib.landscape.jobs import map_jobs, resolve_engine


def offset_square(context, item):
    return context["offset"] + item * item, os.getpid()


def test_engine_from_argument_environment_or_default(monkeypatch):
    monkeypatch.delenv("PCTLIB_ENGINE", raising=False)
    assert resolve_engine(None) == "local"
    monkeypatch.setenv("PCTLIB_ENGINE", "ray")
    assert resolve_engine(None) == "ray" and resolve_engine("local") == "local"
    monkeypatch.setenv("PCTLIB_ENGINE", "slurm")
    with pytest.raises(ValueError, match="engine must be one of"):
        resolve_engine(None)
    with pytest.raises(ValueError, match="workers and threads must be positive"):
        map_jobs(offset_square, {"offset": 1}, [1], workers=0, engine="local")


@pytest.mark.parametrize("engine,workers", [("local", 1), ("local", 2), ("ray", 2)])
def test_map_returns_every_result_in_order(engine, workers):
    if engine == "ray":
        import sys

        import ray.cloudpickle

        # Ray's workers cannot import this test module: ship its functions by value
        ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    items = list(range(7))
    out = map_jobs(offset_square, {"offset": 10}, items, workers=workers, engine=engine, progress=False)
    assert [v for v, _ in out] == [10 + i * i for i in items]
    pids = {p for _, p in out}
    if engine == "local" and workers == 1:
        assert pids == {os.getpid()}  # in this process
    else:
        assert os.getpid() not in pids  # in worker processes


def failing(context, item):
    if item == 2:
        raise RuntimeError("job 2 failed")
    return item


def test_a_failing_job_stops_the_map_with_its_error():
    with pytest.raises(RuntimeError, match="job 2 failed"):
        map_jobs(failing, None, [0, 1, 2, 3], workers=2, engine="local", progress=False)
