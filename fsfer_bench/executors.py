"""Where sweep jobs run: in this process, in a local process pool, or on a cluster through submitit.

Every executor has one method, `run(jobs)`, which yields `(job, outcomes)` as
jobs finish, or `(job, exception)` when a job could not report (its worker
died, the cluster killed it). Stopping the iteration early cancels the jobs not
yet started. There is no scheduling here beyond what the process pool and
Slurm already do.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Protocol

from fsfer_bench.errors import ConfigError
from fsfer_bench.worker import CellOutcome, Job, run_job

JobResult = tuple[Job, "list[CellOutcome] | BaseException"]
EXECUTORS = ("local", "slurm", "submitit-local")


class Executor(Protocol):
    #: torch threads each worker should use (None: leave torch's default)
    worker_threads: int | None

    def run(self, jobs: list[Job]) -> Iterator[JobResult]: ...


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


class InProcessExecutor:
    """Runs jobs one after another in this process (`--jobs 1`): no start-up cost, easy to debug."""

    worker_threads: int | None = None

    def run(self, jobs: list[Job]) -> Iterator[JobResult]:
        for job in jobs:
            try:
                yield job, run_job(job)
            except Exception as exc:
                yield job, exc


#: Imported once by the fork server, before any torch work, so each worker starts in a fraction of a second.
PRELOAD = ["fsfer_bench.worker", "fsfer_bench.experiment", "torch._dynamo"]


def _worker_context() -> multiprocessing.context.BaseContext:
    """A fork server where there is one, else spawn; never a plain fork of this process.

    A forked copy of a process that already ran torch can deadlock in its thread
    pools; the fork server has only imported modules when it forks a worker.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


class ProcessPoolJobExecutor:
    """A pool of `jobs` worker processes on this machine, each with its share of the cores."""

    def __init__(self, jobs: int) -> None:
        if jobs < 1:
            raise ConfigError(f"--jobs must be 1 or more, got {jobs}")
        self.workers = jobs
        self.worker_threads = max(1, available_cpus() // jobs)

    def run(self, jobs: list[Job]) -> Iterator[JobResult]:
        pool = ProcessPoolExecutor(max_workers=min(self.workers, max(len(jobs), 1)), mp_context=_worker_context())
        try:
            futures = {}
            for job in jobs:
                try:
                    futures[pool.submit(run_job, job)] = job
                except BrokenProcessPool:  # a worker died while the jobs were still being handed out
                    yield job, _worker_died()
            for future in as_completed(futures):
                yield futures[future], _result(future)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _result(future: Any) -> list[CellOutcome] | BaseException:
    try:
        return future.result()
    except BrokenProcessPool:
        return _worker_died()
    except Exception as exc:
        return exc


def _worker_died() -> WorkerDied:
    return WorkerDied("a worker process died (killed, or out of memory) and stopped the pool; run the sweep again")


class WorkerDied(Exception):
    """A job's worker ended without reporting."""


class SubmititExecutor:
    """Submits the jobs as one job array through a submitit executor (Slurm, or submitit's local one)."""

    def __init__(self, executor: Any, poll_s: float = 10.0, worker_threads: int | None = None) -> None:
        self.executor = executor
        self.poll_s = poll_s
        self.worker_threads = worker_threads

    def run(self, jobs: list[Job]) -> Iterator[JobResult]:
        from submitit.helpers import as_completed as jobs_completed

        if not jobs:
            return
        with self.executor.batch():
            handles = [self.executor.submit(run_job, job) for job in jobs]
        by_handle = {id(h): job for h, job in zip(handles, jobs)}
        try:
            for handle in jobs_completed(handles, poll_frequency=self.poll_s):
                yield by_handle[id(handle)], _submitit_result(handle)
        finally:
            for handle in handles:
                if not handle.done():
                    handle.cancel(check=False)


def _submitit_result(handle: Any) -> list[CellOutcome] | BaseException:
    try:
        return handle.result()
    except Exception as exc:
        lines = [line for line in str(exc).splitlines() if line.strip()]
        last = lines[-1].strip() if lines else type(exc).__name__
        return WorkerDied(f"cluster job {handle.job_id} failed: {last} (log: {handle.paths.stderr})")


def submitit_executor(
    folder: str | Path,
    *,
    jobs: int,
    partition: str | None = None,
    gpus_per_job: int = 0,
    cpus_per_job: int | None = None,
    timeout_min: int = 60,
    mem_gb: float | None = None,
    cluster: str = "slurm",
    poll_s: float = 10.0,
) -> SubmititExecutor:
    """A Slurm job-array executor (cluster='local' runs the same jobs as local subprocesses, for tests).

    `jobs` caps how many array tasks run at once (Slurm's %N array throttle).
    """
    try:
        import submitit
    except ImportError as exc:
        raise ConfigError("the slurm executor needs submitit: pip install 'fsfer-bench[slurm]'") from exc
    try:
        executor = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
    except RuntimeError as exc:  # no srun/sbatch here
        raise ConfigError(f"cannot use Slurm here ({exc}); run on the cluster, or use --executor local") from exc
    params: dict[str, Any] = {
        "name": "fsfer-sweep",
        "timeout_min": timeout_min,
        "gpus_per_node": gpus_per_job,
        "slurm_array_parallelism": jobs,
    }
    params.update({k: v for k, v in (("slurm_partition", partition), ("cpus_per_task", cpus_per_job),
                                     ("mem_gb", mem_gb)) if v is not None})  # fmt: skip
    executor.update_parameters(**params)
    return SubmititExecutor(executor, poll_s=poll_s, worker_threads=cpus_per_job)


def local_executor(jobs: int) -> Executor:
    """`--executor local`: this process for one job at a time, else a process pool."""
    return InProcessExecutor() if jobs == 1 else ProcessPoolJobExecutor(jobs)
