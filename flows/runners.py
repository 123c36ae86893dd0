"""Task runners for the build-dataset flow: Prefect's default thread pool, or Dask (prefect-dask) for
shards spread over processes or machines.

On Dask each worker process gets its engine from pipeline.build.engine_for (built on first use in
that process; an engine cannot be pickled), and all of them share <out>/cache/responses.sqlite (WAL:
safe across processes on one machine; on several machines <out> must be a shared file system).
Run it against a Prefect server (PREFECT_API_URL): without one, every Dask worker process starts its
own throwaway Prefect server, which costs 10-20 s per worker."""

from __future__ import annotations

from typing import Any, Literal

RunnerKind = Literal["thread", "dask"]
RUNNERS: tuple[str, ...] = ("thread", "dask")

# Dask samples the stack of each thread running a task every 10 ms with sys._current_frames(). On
# CPython 3.11 that call can freeze the whole worker process: it holds the interpreter's thread-list
# lock while it allocates frame objects, a garbage collection inside it lets another thread take the
# GIL and then wait for that lock (python/cpython#106883, dask/distributed#8616). Every thread of the
# worker then waits forever, and the build waits for that worker's shard: 2 of 5 two-worker builds
# froze so on a loaded 2-core machine (likely helped by the many threads that come and go in a
# worker: image encoding, an event loop per engine call). distributed turns its event-loop profiler
# off on 3.11, not this one; the build reads no Dask profiles. Workers of an existing cluster are
# started by the user: README "Scaling out" sets the same key in their environment.
WORKER_CONFIG = {"distributed.worker.profile.enabled": False}


def local_cluster_kwargs(n_workers: int | None = None, threads_per_worker: int = 1) -> dict[str, Any]:
    """LocalCluster options: worker processes, Dask's dashboard on a free port, and WORKER_CONFIG
    (each Nanny lays `config` over this process's Dask config and applies it in its worker process
    before the worker starts)."""
    kwargs: dict[str, Any] = {"processes": True, "threads_per_worker": threads_per_worker,
                              "dashboard_address": ":0", "config": dict(WORKER_CONFIG)}
    if n_workers:
        kwargs["n_workers"] = n_workers
    return kwargs


def dask_task_runner(address: str | None = None, n_workers: int | None = None, threads_per_worker: int = 1):
    """Connect to a running Dask scheduler (`address`, e.g. tcp://10.0.0.5:8786), or start a
    LocalCluster of worker processes for the length of the flow run."""
    from prefect_dask import DaskTaskRunner

    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(cluster_class="distributed.LocalCluster",
                          cluster_kwargs=local_cluster_kwargs(n_workers, threads_per_worker))


def build_flow(runner: str = "thread", dask_address: str | None = None, dask_workers: int | None = None,
               shard_workers: int | None = None):
    """The build-dataset flow with the chosen task runner (the module's flow itself for "thread" with
    the default bound; `shard_workers` sizes the thread pool, matching BuildConfig.shard_workers)."""
    from flows.build import build_dataset

    if runner == "thread":
        if dask_address or dask_workers:
            raise ValueError("--dask-address and --dask-workers need --runner dask")
        if shard_workers:
            from prefect.task_runners import ThreadPoolTaskRunner

            return build_dataset.with_options(task_runner=ThreadPoolTaskRunner(max_workers=shard_workers))
        return build_dataset
    if runner == "dask":
        return build_dataset.with_options(task_runner=dask_task_runner(dask_address, dask_workers))
    raise ValueError(f"unknown runner {runner!r}; choose one of {', '.join(RUNNERS)}")
