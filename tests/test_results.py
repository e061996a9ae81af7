"""The results store: atomic records, concurrent writers, and reading back as a DataFrame."""

from __future__ import annotations

import json
import multiprocessing as mp

import pytest

from fsfer_bench.errors import FsferWarning, StoreError
from fsfer_bench.results import Store, iter_records, load, new_record_id


def _record(method="protonet", shot=5, seed=0, accuracies=(60.0, 80.0, 70.0)) -> dict:
    return {
        "schema": 1, "record_id": new_record_id(method, "Toy_C", shot, seed), "method": method, "split": "Toy_C",
        "way": 5, "shot": shot, "query": 15, "seed": seed, "accuracies": list(accuracies), "episode_hash": "abc",
    }  # fmt: skip


def test_written_records_load_as_a_dataframe(tmp_path):
    store = Store(tmp_path)
    store.write(_record(shot=1))
    store.write(_record(shot=5, accuracies=(50.0, 50.0, 80.0)))
    df = load(tmp_path)
    assert sorted(df["shot"]) == [1, 5]
    row = df[df["shot"] == 1].iloc[0]
    assert row["mean"] == pytest.approx(70.0) and row["n_episodes"] == 3 and row["ci95"] > 0
    assert not list(tmp_path.rglob("*.tmp"))


def _write_many(root: str, worker: int) -> None:
    store = Store(root)
    for i in range(20):
        store.write(_record(seed=worker * 100 + i))


def test_concurrent_writers_lose_nothing(tmp_path):
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_write_many, args=(str(tmp_path), w)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    df = load(tmp_path)
    assert sorted(df["seed"]) == sorted(w * 100 + i for w in range(3) for i in range(20))


def test_corrupt_record_is_skipped_with_a_warning_naming_it(tmp_path):
    store = Store(tmp_path)
    good = store.write(_record())
    bad = good.with_name("broken.json")
    bad.write_text('{"method": "protonet", "spl')
    with pytest.warns(FsferWarning, match="broken.json"):
        df = load(tmp_path)
    assert len(df) == 1


def test_old_record_missing_a_field_names_it(tmp_path):
    record = _record()
    del record["episode_hash"]
    path = tmp_path / "records" / "old.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(record))
    with pytest.warns(FsferWarning, match="lacks field 'episode_hash'"):
        assert list(iter_records(tmp_path)) == []


def test_missing_or_empty_results_folder(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        load(tmp_path / "nope")
    with pytest.raises(StoreError, match="no records"):
        load(tmp_path)


def test_unwritable_store_is_refused_before_work(tmp_path):
    target = tmp_path / "file-not-folder"  # unwritable even for root, unlike a chmod-ed folder
    target.write_text("x")
    with pytest.raises(StoreError, match="choose a writable folder with --out"):
        Store(target / "results").check_writable()
