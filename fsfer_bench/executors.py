"""Where sweep jobs run: in this process, in a local process pool, or on a cluster through submitit.

Every executor has one method, `run(jobs)`, which yields `(job, outcomes)` as
jobs finish, or `(job, exception)` when a job could not report (its worker
died, the cluster killed it). Stopping the iteration early cancels the jobs not
yet started. On Slurm, a task's death is learnt from squeue (sacct where
accounting answers) and the heartbeats of its cells' claims, not from submitit's
sacct-based status, which never changes where accounting is off. There is no
scheduling here beyond what the process pool and Slurm already do.

SIGTERM and SIGHUP end a local sweep cleanly (`terminated_by_signals`): the main
process raises `Terminated`, sends SIGTERM to the pool's workers, which unwind
(their claims released, no half-written file left: every write is atomic) and
exit, then exits itself with 128 + the signal's number; the fork server ends once
they are gone. Without this the workers, holding the fork server's lifeline,
would idle forever after the main process died. A worker also ends itself when
the main process vanishes without a word (SIGKILL).
"""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from fsfer_bench.claims import DEFAULT_LEASE_S, ClaimBoard, pid_alive
from fsfer_bench.errors import ConfigError, FsferWarning
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


class Terminated(SystemExit):
    """SIGTERM or SIGHUP: unwinds like an exit (finally blocks release claims), with status 128 + the signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signal_name = signal.Signals(signum).name


#: The signals that end a sweep cleanly; SIGINT already raises KeyboardInterrupt.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
#: Set while a stop signal is being handled in this process: the pool then ends its workers, not waits for them.
_stopping = threading.Event()
#: Seconds the workers get to release their claims before they are killed.
WORKER_GRACE_S = 10.0


def _raise_terminated(signum: int, _frame: object) -> None:
    _stopping.set()
    raise Terminated(signum)


@contextmanager
def terminated_by_signals() -> Iterator[None]:
    """While the block runs, SIGTERM and SIGHUP raise `Terminated` in the main thread instead of killing."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers; a sweep run from a thread keeps the defaults
        return
    saved = {s: signal.signal(s, _raise_terminated) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
        _stopping.clear()


def _start_pool_worker(main_pid: int) -> None:
    """A pool worker's set-up: stop signals unwind it, and it ends itself if the main process vanishes."""
    for s in STOP_SIGNALS:
        signal.signal(s, _raise_terminated)
    report = threading.excepthook

    def quiet_when_stopping(args: threading.ExceptHookArgs) -> None:
        # a worker going down takes its image-decoding pool with it, whose manager thread then trips on
        # the futures the unwinding cancelled (InvalidStateError, CPython 3.11): noise, not news
        if not _stopping.is_set():
            report(args)

    threading.excepthook = quiet_when_stopping

    def watch() -> None:
        while pid_alive(main_pid):
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="fsfer-watch-main", daemon=True).start()


def run_pool_job(job: Job) -> list[CellOutcome]:
    """`run_job` in a pool worker: on a stop signal it unwinds, then the process exits (the pool would
    otherwise catch the exit and wait for more work that never comes)."""
    try:
        return run_job(job)
    except Terminated as exc:
        os._exit(exc.code if isinstance(exc.code, int) else 1)


def _end_workers(grace_s: float = WORKER_GRACE_S) -> None:
    """SIGTERM to this process's workers and everything they started (an image-decoding pool, whose
    processes would otherwise wait for work forever), SIGKILL to what still runs after `grace_s`."""
    workers = multiprocessing.active_children()
    below = {pid for process in workers if process.pid for pid in descendants(process.pid)}
    for process in workers:
        process.terminate()
    _signal_all(below, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for process in workers:
        process.join(max(deadline - time.monotonic(), 0.0))
    while below and any(pid_alive(p) for p in below) and time.monotonic() < deadline:
        time.sleep(0.1)
    for process in workers:
        if process.is_alive():
            process.kill()
            process.join(1.0)
    _signal_all({p for p in below if pid_alive(p)}, signal.SIGKILL)


def descendants(pid: int) -> set[int]:
    """The processes below `pid` (children, theirs, ...), from /proc; empty where there is no /proc."""
    found: set[int] = set()
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            pids = [int(child) for child in children.read_text().split()]
        except (OSError, ValueError):
            continue
        for child in pids:
            found |= {child} | descendants(child)
    return found


def _signal_all(pids: set[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


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
        pool = ProcessPoolExecutor(max_workers=min(self.workers, max(len(jobs), 1)), mp_context=_worker_context(),
                                   initializer=_start_pool_worker, initargs=(os.getpid(),))  # fmt: skip
        stopped = False
        try:
            futures = {}
            for job in jobs:
                try:
                    futures[pool.submit(run_pool_job, job)] = job
                except BrokenProcessPool:  # a worker died while the jobs were still being handed out
                    yield job, _worker_died()
            for future in as_completed(futures):
                yield futures[future], _result(future)
        except BaseException:
            # a stop signal or Ctrl-C ends the workers now; an early stop of the caller's (a full disk) lets
            # the running jobs finish, so their records are written
            stopped = _stopping.is_set() or not isinstance(sys.exc_info()[1], GeneratorExit)
            if stopped:
                _end_workers()
            raise
        finally:
            pool.shutdown(wait=not stopped, cancel_futures=True)


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


class TaskDied(WorkerDied):
    """A Slurm task ended (cancelled, timed out, node failure, ...) without reporting its cells."""


#: Slurm states of a task that runs, or will run (again): it is not dead, however silent.
_ACTIVE = {
    "PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD",
    "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD", "SPECIAL_EXIT",
}  # fmt: skip
#: Final states, in the words a failure reason uses.
_ENDED = {"CANCELLED": "cancelled", "NODE_FAIL": "node failure", "TIMEOUT": "timeout",
          "OUT_OF_MEMORY": "out of memory", "PREEMPTED": "preempted", "BOOT_FAIL": "node boot failure",
          "DEADLINE": "deadline reached", "FAILED": "failed", "COMPLETED": "ended without a result"}  # fmt: skip


class SlurmStates:
    """What Slurm says of the sweep's tasks: `squeue` always, `sacct` only where accounting answers.

    Without accounting storage (no slurmdbd), `sacct` fails, and squeue forgets a
    finished task after MinJobAge (5 minutes by default); the caller then relies
    on the cells' claim heartbeats (see `SubmititExecutor`).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.accounting: bool | None = None  # unknown until sacct is first asked
        self.notice = ""  # why accounting is off, once known

    def states(self, array_ids: set[str]) -> dict[str, str] | None:
        """Task id ("<array job>_<index>") -> state; None when squeue does not answer (nothing is concluded)."""
        ok, listed = _slurm(["squeue", "--noheader", "--array", "--states=all", f"--name={self.name}",
                             f"--user={os.getuid()}", "--format=%i|%T"])  # fmt: skip
        if not ok:
            return None
        states = _task_states(listed)
        if self.accounting is not False and array_ids:
            ok, answer = _slurm(["sacct", "--noheader", "--parsable2", "--allocations", "--format=JobID,State",
                                 f"--jobs={','.join(sorted(array_ids))}"])  # fmt: skip
            self.accounting = ok
            if ok:
                states = {**_task_states(answer), **states}  # squeue is the fresher of the two
            else:
                self.notice = (
                    f"Slurm accounting is off here (sacct: {answer}): task states come from squeue and the cells' "
                    "heartbeats; a task that dies is reported failed up to --lease seconds after its last heartbeat"
                )
        return states


def _slurm(command: list[str]) -> tuple[bool, str]:
    """(True, output) of a Slurm command, or (False, its last line of error output)."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        return False, lines[-1] if lines else f"exit status {done.returncode}"
    return True, done.stdout


def _task_states(output: str) -> dict[str, str]:
    """`<id>|<state>` lines as {task id: state}; ranges of pending tasks and job steps are skipped."""
    states = {}
    for line in output.splitlines():
        task, _, state = line.strip().partition("|")
        if re.fullmatch(r"\d+(_\d+)?", task) and state:
            states[task] = state.split()[0].upper()  # sacct says "CANCELLED by 0"
    return states


@contextmanager
def submitit_quiet(log_file: Path) -> Iterator[None]:
    """submitit's log lines and Python warnings go to `log_file`, not to the sweep's output."""
    logger = logging.getLogger("submitit")
    saved = logger.handlers[:], logger.propagate
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_file)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger.handlers, logger.propagate = [handler], False
    show = warnings.showwarning

    def to_log(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None,
               line: str | None = None) -> None:  # fmt: skip
        if f"{os.sep}submitit{os.sep}" in str(filename):
            logger.warning(f"{category.__name__}: {message} ({filename}:{lineno})")
        else:
            show(message, category, filename, lineno, file, line)

    warnings.showwarning = to_log
    try:
        yield
    finally:
        warnings.showwarning = show
        logger.handlers, logger.propagate = saved
        handler.close()


class SubmititExecutor:
    """Submits the jobs as one job array through a submitit executor (Slurm, or submitit's local one).

    On Slurm the sweep does not wait on submitit's own status, which comes from
    `sacct` and so never changes where accounting storage is off. Every poll it
    looks for each task's result file, asks `squeue` (and `sacct` where it
    answers), and reads the heartbeats of the task's cell claims: a task that
    Slurm no longer lists, or lists in a final state, and whose heartbeats are
    older than the lease, is dead; its cells are reported failed with Slurm's
    reason. A requeued task is pending, not dead.
    """

    def __init__(self, executor: Any, poll_s: float = 10.0, worker_threads: int | None = None, *,
                 slurm: bool = False, lease_s: float = DEFAULT_LEASE_S, requeue: bool = False,
                 log_file: Path | None = None) -> None:  # fmt: skip
        self.executor = executor
        self.poll_s = poll_s
        self.worker_threads = worker_threads
        self.slurm, self.lease_s = slurm, lease_s
        self.task = RequeueableJob() if requeue else run_job
        self.log_file = log_file or Path(executor.folder) / "sweep.log"

    def run(self, jobs: list[Job]) -> Iterator[JobResult]:
        if not jobs:
            return
        with submitit_quiet(self.log_file):
            with self.executor.batch():
                handles = [self.executor.submit(self.task, job) for job in jobs]
            pending = {h.job_id: (h, job) for h, job in zip(handles, jobs)}
            states = SlurmStates(self.executor.parameters.get("job_name", "submitit")) if self.slurm else None
            try:
                while pending:
                    for task_id, result in self._poll(pending, states):
                        yield pending.pop(task_id)[1], result
                    if pending:
                        time.sleep(self.poll_s)
            finally:
                for handle, _ in pending.values():
                    handle.cancel(check=False)

    def _poll(self, pending: dict[str, tuple[Any, Job]], states: SlurmStates | None) -> list[tuple[str, Any]]:
        """The tasks that ended since the last poll, with their outcomes or why they died."""
        if states is None:
            return [(t, _submitit_result(h)) for t, (h, _) in pending.items() if h.done()]
        _refresh(self.executor.folder)
        ended = [(t, _submitit_result(h)) for t, (h, _) in pending.items() if h.paths.result_pickle.exists()]
        slurm = states.states({t.split("_")[0] for t in pending})
        if states.notice:
            warnings.warn(states.notice, FsferWarning, stacklevel=2)
            states.notice = ""  # once per sweep
        if slurm is None:
            return ended  # squeue did not answer: conclude nothing
        done = {t for t, _ in ended}
        for task_id, (handle, job) in pending.items():
            state = slurm.get(task_id)
            if task_id in done or state in _ACTIVE:
                continue
            # Ended, or forgotten by Slurm: dead once its heartbeats are older than the lease (never call
            # submitit's result() without a result file: it would wait on sacct, forever without accounting).
            if _silent_for(job, task_id) > self.lease_s and not handle.paths.result_pickle.exists():
                ended.append((task_id, _died(handle, job, state)))
        return ended


def _refresh(folder: str | Path) -> None:
    """Make a shared file system show files written on other nodes (its attribute cache, as submitit does)."""
    with contextlib.suppress(OSError):
        Path(folder).chmod(Path(folder).stat().st_mode)


def _silent_for(job: Job, task_id: str) -> float:
    """Seconds since the last heartbeat of the claims `task_id` holds on `job`'s cells (inf: it holds none)."""
    board = ClaimBoard(Path(job.settings.out) / "claims", job.settings.lease_s)
    ages = [h.age_s for h in map(board.latest, (c.hash for c in job.cells)) if h is not None and h.job == task_id]
    return min(ages, default=math.inf)


def _died(handle: Any, job: Job, state: str | None) -> TaskDied:
    silent = _silent_for(job, handle.job_id)
    heard = f"last heartbeat {silent:.0f} s ago" if math.isfinite(silent) else "no heartbeat"
    why = _ENDED.get(state or "", f"ended ({state})" if state else "task vanished")
    return TaskDied(f"Slurm task {handle.job_id} {why} ({heard}; log: {handle.paths.stderr})")


def _submitit_result(handle: Any) -> list[CellOutcome] | BaseException:
    try:
        return handle.result()
    except Exception as exc:
        lines = [line for line in str(exc).splitlines() if line.strip()]
        last = lines[-1].strip() if lines else type(exc).__name__
        return WorkerDied(f"cluster job {handle.job_id} failed: {last} (log: {handle.paths.stderr})")


class RequeueableJob:
    """`run_job` as submitit calls it for `--requeue`: at its time limit the task is requeued, not failed.

    submitit calls `checkpoint` when Slurm signals the time limit, then requeues
    the task with the same job; the requeued run resumes its trainings from their
    checkpoints (`worker.run_job` resumes whenever SLURM_RESTART_COUNT > 0).
    """

    def __call__(self, job: Job) -> list[CellOutcome]:
        return run_job(job)

    def checkpoint(self, job: Job) -> Any:
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, job)


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
    lease_s: float = DEFAULT_LEASE_S,
    requeue: bool = False,
) -> SubmititExecutor:
    """A Slurm job-array executor (cluster='local' runs the same jobs as local subprocesses, for tests).

    `jobs` caps how many array tasks run at once (Slurm's %N array throttle); `requeue`
    asks Slurm to requeue a task after a node failure or preemption (sbatch --requeue),
    and submitit to requeue it at its time limit; a requeued task resumes its trainings.
    `lease_s` is the sweep's lease: how long a dead task's cells may stay silent.
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
    if requeue and cluster == "slurm":
        params["slurm_additional_parameters"] = {"requeue": True}
    executor.update_parameters(**params)
    return SubmititExecutor(executor, poll_s=poll_s, worker_threads=cpus_per_job, slurm=cluster == "slurm",
                            lease_s=lease_s, requeue=requeue, log_file=Path(folder) / "sweep.log")  # fmt: skip


def local_executor(jobs: int) -> Executor:
    """`--executor local`: this process for one job at a time, else a process pool."""
    return InProcessExecutor() if jobs == 1 else ProcessPoolJobExecutor(jobs)
