"""A new user's CFEE_C run pairs with the committed reference (issue 23 item 1).

The test episodes are keyed by the target pool's content identity, which no longer
holds where the data lives. So a copy of the repository in another folder, reading
the shared data through another path (a symlink, given relative to a working
directory the reference never used), draws the committed seed study's CFEE_C
episodes, and `compare` pairs its records with the committed ones.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fsfer_bench.results import iter_records

REPO = Path(__file__).resolve().parents[1]
STUDY = REPO / "results" / "reference" / "seed_study"


def _committed(split: str, method: str, shot: int, seed: int = 0):
    return next(
        r
        for _, r in iter_records(STUDY)
        if (r.split, r.method, r.shot, r.seed, r.variant) == (split, method, shot, seed, "")
    )


def _fsfer(args: list[str], cwd: Path, package: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(package), "OMP_NUM_THREADS": "1"}
    env.pop("FSFER_DATA", None)  # the data is reached only through the path given here
    code = "import sys; from fsfer_bench.cli import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True)


@pytest.mark.slow
def test_a_cfee_run_from_another_folder_pairs_with_the_committed_records(tmp_path, shared_data):
    clone = tmp_path / "somewhere" / "else" / "fsfer-bench"
    shutil.copytree(REPO / "fsfer_bench", clone / "fsfer_bench", ignore=shutil.ignore_patterns("__pycache__"))
    store = tmp_path / "store"
    shutil.copytree(STUDY / "episodes", store / "episodes")
    shutil.copytree(STUDY / "records" / "CFEE_C" / "egsnet", store / "records" / "CFEE_C" / "egsnet")
    (tmp_path / "faces").symlink_to(shared_data, target_is_directory=True)

    # the seed study's CFEE_C settings (run_seed_study.sh), with a 2-step training
    run = _fsfer(
        ["run", "--method", "protonet", "--split", "CFEE_C", "--train-on", "CKplus,JAFFE", "--shot", "1,5",
         "--seed", "0", "--episode-seed", "0", "--episodes", "600", "--profile", "quick", "--device", "cpu",
         "--set", "train.steps=2", "--data-root", "../../../faces", "--out", str(store)],
        cwd=clone, package=clone,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    for shot in (1, 5):
        new = next(r for _, r in iter_records(store) if r.method == "protonet" and r.shot == shot)
        assert new.episode_hash == _committed("CFEE_C", "egsnet", shot).episode_hash
        assert new.config["data_root"] == "../../../faces"

        compare = _fsfer(
            ["compare", "protonet [train.steps=2]", "egsnet", "--split", "CFEE_C",
             "--shot", str(shot), "--seed", "0", "--results", str(store), "--format", "json"],
            cwd=tmp_path, package=clone,
        )  # fmt: skip
        assert compare.returncode == 0, compare.stderr[-2000:]
        assert json.loads(compare.stdout)["paired"]["n"] == 600  # every episode paired
