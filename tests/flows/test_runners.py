"""The Dask runner's LocalCluster: its worker processes run without Dask's per-task profiler, whose
sys._current_frames() sampling can freeze a worker process on CPython 3.11 (flows/runners.py)."""

from __future__ import annotations

import pytest

from flows.runners import WORKER_CONFIG, dask_task_runner, local_cluster_kwargs

pytestmark = pytest.mark.slow  # starts a Dask scheduler and a worker process


def _worker_profiling(dask_worker) -> tuple[bool, list[str]]:
    import dask

    return dask.config.get("distributed.worker.profile.enabled"), sorted(dask_worker.periodic_callbacks)


def test_local_cluster_workers_do_not_sample_task_stacks():
    import os

    import distributed

    assert dask_task_runner(n_workers=2).cluster_kwargs == local_cluster_kwargs(2)  # what the build starts
    # A Nanny writes its workers' pre-spawn variables (MALLOC_TRIM_THRESHOLD_, OMP_NUM_THREADS...) into
    # this process's environment: put it back for the tests that run after this one.
    saved = dict(os.environ)
    try:
        with distributed.LocalCluster(**local_cluster_kwargs(1)) as cluster, distributed.Client(cluster) as client:
            [(enabled, callbacks)] = client.run(_worker_profiling).values()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert enabled is False, WORKER_CONFIG
    assert "heartbeat" in callbacks  # the worker's own periodic work is there...
    assert not any(name.startswith("profile") for name in callbacks), callbacks  # ...its stack sampler is not
