"""Independent landscape jobs (grid points, models, model pairs) in parallel: a process pool locally, Ray tasks on a
cluster.

``map_jobs(fn, context, items)`` returns ``[fn(context, item) for item in items]``. ``fn`` must be a module-level
function and ``context`` (models, frames, directions) picklable: the context is shipped once per worker (the pool's
initializer; ``ray.put`` for Ray) as plain pickle bytes, so that every worker has its own copy (:func:`private`),
the items one by one. Each worker runs torch with ``threads`` threads, so that
``workers x threads`` matches the cores. Processes are started with ``spawn``: a forked child of a process whose
OpenMP threads have run can hang, and spawn behaves the same on every platform.

The engine: ``"local"`` (``workers == 1`` runs in this process, without pickling), ``"ray"``, or ``None``: the
environment variable ``PCTLIB_ENGINE`` (set for the notebooks by ``pctlib run --engine ray``, with ``RAY_ADDRESS``
naming the cluster the notebook runs on), else local.
"""

from __future__ import annotations

import os
import pickle
from typing import Any, Callable, Sequence

ENGINES = ("local", "ray")

_CONTEXT: Any = None


def private(context: Any) -> bytes:
    """The context as plain pickle bytes, which each worker unpickles into memory of its own. Passed as it is, the
    tensors of a context would reach the workers through torch's multiprocessing reductions (or Ray's zero-copy
    buffers), in memory *shared* by all workers: a job that writes into its context (a model whose parameters are
    set to each grid point) would then overwrite the parameters of the jobs running beside it (found by measurement:
    scrambled surfaces; tested)."""
    return pickle.dumps(context, protocol=pickle.HIGHEST_PROTOCOL)


def resolve_engine(engine: str | None) -> str:
    """The engine to use: ``engine`` if given, else ``$PCTLIB_ENGINE``, else ``"local"``; an unknown one is an
    error naming it."""
    chosen = engine if engine is not None else os.environ.get("PCTLIB_ENGINE", "local")
    if chosen not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {chosen!r}")
    return chosen


def _init_worker(blob: bytes, threads: int) -> None:
    global _CONTEXT
    import torch

    from ..allocator import keep_freed_memory

    keep_freed_memory()  # large tensors freed and mapped again at every product cost more in page faults than work
    torch.set_num_threads(threads)
    _CONTEXT = pickle.loads(blob)  # trusted: the bytes of private() made by this run, never read from a file


def _call(fn: Callable, item: Any) -> Any:
    return fn(_CONTEXT, item)


def _ray_call(fn: Callable, blob: bytes, item: Any, threads: int) -> Any:
    import torch

    from ..allocator import keep_freed_memory

    keep_freed_memory()
    torch.set_num_threads(threads)
    return fn(pickle.loads(blob), item)  # trusted: private() bytes of this run, never read from a file


def map_jobs(fn: Callable[[Any, Any], Any], context: Any, items: Sequence, workers: int = 1, threads: int = 1,
             engine: str | None = "local", progress: bool = True, desc: str = "jobs",
             address: str | None = None) -> list:
    """``[fn(context, item) for item in items]``, in parallel (module docstring); a progress bar over finished
    items. A job that raises stops the map with its error."""
    from ..progress import progress_bar

    from ..allocator import keep_freed_memory

    engine = resolve_engine(engine)
    keep_freed_memory()
    if workers < 1 or threads < 1:
        raise ValueError(f"workers and threads must be positive, got {workers} and {threads}")
    items = list(items)
    results: list = [None] * len(items)
    bar = progress_bar(total=len(items), desc=desc, enabled=progress)
    try:
        if engine == "local" and (workers == 1 or len(items) <= 1):
            for k, item in enumerate(items):
                results[k] = fn(context, item)
                bar.update(1)
        elif engine == "local":
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor, as_completed

            with ProcessPoolExecutor(max_workers=min(workers, len(items)), mp_context=mp.get_context("spawn"),
                                     initializer=_init_worker, initargs=(private(context), threads)) as pool:
                futures = {pool.submit(_call, fn, item): k for k, item in enumerate(items)}
                for fut in as_completed(futures):
                    results[futures[fut]] = fut.result()
                    bar.update(1)
        else:
            results = _map_ray(fn, context, items, threads, bar, address)
    finally:
        bar.close()
    return results


def _map_ray(fn, context, items, threads, bar, address) -> list:
    import ray

    started = False
    if not ray.is_initialized():
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        address = address or os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(include_dashboard=False, log_to_driver=False, num_cpus=os.cpu_count())
        started = True
    try:
        ctx = ray.put(private(context))
        remote = ray.remote(num_cpus=threads)(_ray_call)
        refs = {remote.remote(fn, ctx, item, threads): k for k, item in enumerate(items)}
        results: list = [None] * len(items)
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                results[refs[ref]] = ray.get(ref)
                bar.update(1)
        return results
    finally:
        if started:
            ray.shutdown()
