"""Sweeps in this process: the grid, the sweep file, one training per job, skips, failures and --retry-failed."""

from __future__ import annotations

import json
import os
import stat

import pytest
import sweeptoys
from sweeptoys import TINY, TINY_SET

from fsfer_bench.claims import ClaimBoard
from fsfer_bench.errors import ConfigError, FsferWarning
from fsfer_bench.executors import InProcessExecutor
from fsfer_bench.results import iter_records
from fsfer_bench.sweep import (
    Sweep,
    SweepOptions,
    failure_path,
    load_sweep,
    make_executor,
    plan_sweep,
    run_sweep,
    training_groups,
)
from fsfer_bench.worker import ClaimedStore, ClaimLostError, Job, WorkerSettings, run_job


@pytest.fixture(autouse=True, scope="module")
def toys():
    sweeptoys.register()


def tiny(out, **grid) -> Sweep:
    grid = {"methods": ("protonet",), "splits": ("Toy_C",), "shots": (1, 5), "seeds": (0,), **grid}
    return Sweep(**grid, flags={**TINY, "out": str(out)}, assignments=tuple(TINY_SET), plugins=("sweeptoys",))


def records(out) -> list[dict]:
    return [r for _, r in iter_records(out)]


def test_grid_has_one_cell_per_point_grouped_by_training():
    sweep = Sweep(methods=("protonet", "simpleshot"), splits=("SynFACS_C", "CFEE_C"), shots=(1, 5), seeds=(0, 1, 2))
    cells = sweep.cells()
    assert len(cells) == 24 and len({c.hash for c in cells}) == 24
    assert {c.config.shots for c in cells} == {(1,), (5,)}
    assert {c.config.train_on for c in cells} == {("SynFACS-lab",), ("RAF-DB",)}
    # different training sources: one training per (method, seed, source); the shots share it
    assert sorted(len(g) for g in training_groups(cells)) == [2] * 12
    assert len(training_groups(cells, reuse_training=False)) == 24
    same_source = Sweep(methods=("protonet",), splits=("SynFACS_C", "SynFACS_B"), shots=(1, 5), seeds=(0, 1, 2))
    assert sorted(len(g) for g in training_groups(same_source.cells())) == [4, 4, 4]


def test_sweep_file_tables_apply_to_every_cell_and_flags_win(tmp_path):
    file = tmp_path / "study.toml"
    file.write_text(
        '[sweep]\nmethods = ["protonet", "simpleshot"]\nsplits = ["SynFACS_C"]\nshots = [1, 5]\nseeds = [0, 1]\n'
        'jobs = 3\nlease = 60\n[sweep.slurm]\npartition = "gpu"\ntimeout = 90\n'
        "[run]\nepisodes = 50\n[train]\nsteps = 7\n"
    )
    sweep, options = load_sweep({"seeds": "3,4", "jobs": 2, "out": str(tmp_path / "r"), "shots": None}, file)
    cells = sweep.cells()
    assert len(cells) == 8
    assert {c.config.seed for c in cells} == {3, 4} and {c.config.episodes for c in cells} == {50}
    assert {c.config.train.steps for c in cells} == {7} and {c.config.out for c in cells} == {str(tmp_path / "r")}
    assert (options.jobs, options.lease, options.slurm.partition, options.slurm.timeout) == (2, 60, "gpu", 90)


@pytest.mark.parametrize(
    ("text", "flags", "message"),
    [
        ('[sweep]\nmethod = ["protonet"]\n', {}, "unknown key 'method' in \\[sweep\\]; did you mean 'methods'"),
        ('[sweep]\nmethods = ["protonet"]\nsplits = ["Toy_C"]\nexecutor = "pbs"\n', {}, "unknown executor 'pbs'"),
        ("", {"methods": "protonet", "splits": "Toy_C", "seeds": "a,b"}, "malformed seed list"),
        ("[sweep.slurm]\nqueue = 'x'\n", {}, "unknown key 'queue' in \\[sweep.slurm\\]"),
        ("[sweep.slurm]\npoll = 0\n", {}, "\\[sweep.slurm\\] poll must be a positive number of seconds, got 0"),
        ("[sweep]\nrequeue = 'yes'\n", {}, "\\[sweep\\] requeue must be true or false"),
    ],
)
def test_sweep_file_mistakes_are_one_line_config_errors(tmp_path, text, flags, message):
    file = tmp_path / "bad.toml"
    file.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_sweep(flags, file)


def test_a_sweep_needs_methods_and_splits():
    sweep, _ = load_sweep({"splits": "Toy_C"})
    with pytest.raises(ConfigError, match="needs methods and splits"):
        sweep.cells()


def test_one_training_serves_every_shot_and_split_then_a_rerun_skips_all(tmp_path):
    sweep = tiny(tmp_path, splits=("Toy_C", "Toy_C5"))
    plan = plan_sweep(sweep)
    assert len(plan.to_run) == 4 and len(training_groups(plan.to_run)) == 1
    bars, heard = [], []

    def progress(iterable, desc="", total=None):
        bars.append((desc, total))
        return iterable

    summary = run_sweep(plan, InProcessExecutor(), progress=progress, on_outcome=heard.append)
    assert len(summary.done) == 4 and not summary.failed
    assert bars == [("sweep", 4)] and [o.status for o in heard] == ["done"] * 4
    stored = records(tmp_path)
    assert sorted(r["config_hash"] for r in stored) == sorted(c.hash for c in plan.to_run)
    assert {r["split"]: r["training"]["reused"] for r in stored} == {"Toy_C": False, "Toy_C5": True}
    assert len({r["training_hash"] for r in stored}) == 1
    assert len(list((tmp_path / "models").glob("*.pt"))) == 1
    again = plan_sweep(sweep)
    assert not again.to_run and {p.note for p in again.skipped} == {"already in the store"}
    assert run_sweep(again, InProcessExecutor()).skipped == 4


def test_failed_cells_do_not_stop_the_others_and_retry_failed_reruns_only_them(tmp_path, monkeypatch):
    sweep = tiny(tmp_path, methods=("toy-flaky", "protonet"))
    monkeypatch.setenv("FSFER_TEST_FLAKY", "1")
    summary = run_sweep(plan_sweep(sweep), InProcessExecutor())
    assert len(summary.done) == 2 and len(summary.failed) == 2
    flaky = [o.cell for o in summary.failed]
    assert {c.config.method for c in flaky} == {"toy-flaky"}
    assert {o.reason for o in summary.failed} == {"RuntimeError: flaky training broke, as asked"}
    failure = json.loads(failure_path(tmp_path, flaky[0].hash).read_text())
    assert failure["cell"] == flaky[0].label and "Traceback" in failure["details"]

    monkeypatch.delenv("FSFER_TEST_FLAKY")
    retry = plan_sweep(sweep, retry_failed=True)
    assert [c.hash for c in retry.to_run] == [c.hash for c in flaky]
    assert {p.note for p in retry.cells if p.run} == {"failed before: RuntimeError: flaky training broke, as asked"}
    assert len(run_sweep(retry, InProcessExecutor()).done) == 2
    assert not any(failure_path(tmp_path, c.hash).exists() for c in flaky)
    assert len(records(tmp_path)) == 4


def test_a_cell_claimed_by_a_live_worker_is_left_to_it(tmp_path):
    sweep = tiny(tmp_path)
    first, second = sweep.cells()
    claim = ClaimBoard(tmp_path / "claims").acquire(first.hash)  # held by this (live) process
    plan = plan_sweep(sweep)
    assert [c.hash for c in plan.to_run] == [second.hash]
    assert plan.skipped[0].note.startswith("running elsewhere (pid ")
    outcomes = run_job(Job((first, second), WorkerSettings(out=str(tmp_path), plugins=("sweeptoys",))))
    assert [(o.cell.hash, o.status) for o in outcomes] == [(first.hash, "skipped"), (second.hash, "done")]
    assert [r["config_hash"] for r in records(tmp_path)] == [second.hash]
    assert claim.path.exists()  # the job released its own claims, not this one


def test_a_worker_that_lost_its_claim_does_not_write(tmp_path):
    board = ClaimBoard(tmp_path / "claims")
    claim = board.acquire("abc")
    claim.path.unlink()  # as when a taker supersedes a stalled worker and cleans up
    assert ClaimBoard(tmp_path / "claims").acquire("abc") is not None
    store = ClaimedStore(tmp_path, board, {"abc": claim})
    with pytest.raises(ClaimLostError, match="claimed by another sweep"):
        store.write({"config_hash": "abc", "split": "Toy_C", "method": "protonet", "record_id": "x"})
    assert not (tmp_path / "records").exists()


def test_slurm_without_slurm_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no srun, even where Slurm is installed
    with pytest.raises(ConfigError, match="cannot use Slurm here.*--executor local"):
        make_executor(SweepOptions(executor="slurm"), tmp_path)


def test_a_damaged_failure_file_is_named_and_its_cell_is_retried(tmp_path):
    sweep = tiny(tmp_path)
    first, second = sweep.cells()
    failure_path(tmp_path, first.hash).parent.mkdir(parents=True)
    failure_path(tmp_path, first.hash).write_bytes(b'{"cell": "torn')
    failure_path(tmp_path, second.hash).write_text('["not", "a", "failure"]')
    with pytest.warns(FsferWarning, match=r"\.json is damaged .*counts as failed") as heard:
        retry = plan_sweep(sweep, retry_failed=True)
    named = {c.hash for c in (first, second) for w in heard if f"{c.hash}.json is damaged" in str(w.message)}
    assert named == {first.hash, second.hash}
    assert [c.hash for c in retry.to_run] == [first.hash, second.hash]
    assert {p.note for p in retry.cells} == {"failed before: unknown (failure file damaged: not valid JSON: "
                                             "Unterminated string starting at: line 1 column 10 (char 9))",
                                             "failed before: unknown (failure file damaged: holds a JSON list, "
                                             "not the expected structure)"}  # fmt: skip
    assert len(run_sweep(retry, InProcessExecutor()).done) == 2
    assert not any((tmp_path / "failures").iterdir())


def test_failure_files_follow_the_umask(tmp_path, monkeypatch):
    monkeypatch.setenv("FSFER_TEST_FLAKY", "1")
    old = os.umask(0o002)
    try:
        summary = run_sweep(plan_sweep(tiny(tmp_path, methods=("toy-flaky",))), InProcessExecutor())
    finally:
        os.umask(old)
    paths = [failure_path(tmp_path, o.cell.hash) for o in summary.failed]
    assert len(paths) == 2 and {stat.S_IMODE(p.stat().st_mode) for p in paths} == {0o664}
