"""The results store: atomic records, concurrent writers, and reading back as a DataFrame."""

from __future__ import annotations

import json
import multiprocessing as mp

import pytest

from fsfer_bench.errors import FsferWarning, StoreError
from fsfer_bench.record import SCHEMA, UNKNOWN, Record, RecordError
from fsfer_bench.results import Store, iter_records, load, new_record_id, read_record


def _record(method="protonet", shot=5, seed=0, accuracies=(60.0, 80.0, 70.0)) -> dict:
    return {
        "schema": SCHEMA, "record_id": new_record_id(method, "Toy_C", shot, seed), "method": method, "split": "Toy_C",
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


def _put(root, name: str, record: dict):
    path = root / "records" / "Toy_C" / "protonet" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return path


def test_schema_1_records_upgrade_with_explicit_unknowns(tmp_path):
    old = {**_record(seed=3), "schema": 1}
    _put(tmp_path, "old.json", old)
    [(_, record)] = list(iter_records(tmp_path))
    assert record.schema == SCHEMA and record.episode_seed == 3  # schema 1 drew episodes with the seed
    assert record.support_rule == UNKNOWN and record.transductive is None and record.same_database is None
    assert record.train_duplicates_removed is None
    assert record.unknown_fields == [
        "support_rule",
        "same_database",
        "train_duplicates_removed",
        "train_near_duplicates_removed",
        "transductive",
    ]
    assert record.mean == pytest.approx(70.0)


def test_every_committed_reference_record_loads():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "results"
    stores = sorted({p.parents[3] for p in root.rglob("records/*/*/*.json")})
    assert stores, "no reference records committed"
    for store in stores:
        files = list((store / "records").glob("*/*/*.json"))
        records = [r for _, r in iter_records(store)]
        assert len(records) == len(files) and all(r.schema == SCHEMA for r in records), store


@pytest.mark.parametrize(
    "change, named",
    [
        ({"shot": "five"}, "field 'shot' is str"),
        ({"way": True}, "field 'way' is bool"),
        ({"accuracies": "60,70"}, "field 'accuracies' is str"),
        ({"accuracies": [60.0, "x"]}, "accuracy 'x'"),
        ({"accuracies": [60.0, 500.0]}, "accuracy 500.0; accuracies are percentages in [0, 100]"),
        ({"accuracies": [-300.0, 60.0]}, "accuracy -300.0"),
        ({"accuracies": []}, "no accuracies"),
        ({"training": [1, 2]}, "field 'training' is list"),
        ({"schema": 99}, "schema 99"),
    ],
)
def test_a_record_of_wrong_types_or_values_is_skipped_naming_the_file(tmp_path, change, named):
    Store(tmp_path).write(_record(shot=1))
    bad = _put(tmp_path, "bad.json", {**_record(shot=5), **change})
    with pytest.warns(FsferWarning, match="bad.json") as caught:
        df = load(tmp_path)
    assert list(df["shot"]) == [1]  # the good record still loads
    assert named in str(caught[0].message)
    with pytest.raises(StoreError, match="bad.json"):
        read_record(bad)


def test_the_store_refuses_to_write_what_it_could_not_read_back(tmp_path):
    with pytest.raises(RecordError, match="accuracy 500"):
        Store(tmp_path).write({**_record(), "accuracies": [500.0]})
    assert not list(tmp_path.rglob("*.json"))


def _strict(text: str):
    def refuse(constant: str):
        raise ValueError(f"bare {constant} in JSON")

    return json.loads(text, parse_constant=refuse)


def test_one_episode_is_stored_as_strict_json_with_a_reason(tmp_path):
    path = Store(tmp_path).write(_record(accuracies=(60.0,)))
    stored = _strict(path.read_text())
    assert stored["ci95"] is None and stored["std"] is None and "1 episode" in stored["interval_note"]
    record = read_record(path)
    assert record.ci95 is None and "± n/a (1 episode)" in record.describe()


def test_records_round_trip(tmp_path):
    record = Record.from_dict({**_record(), "transductive": True, "training": {"returned": {"stage": "a"}}})
    path = Store(tmp_path).write(record)
    assert read_record(path) == record and record["transductive"] is True


def test_a_full_disk_leaves_no_partial_episode_file(tmp_path, monkeypatch):
    import errno

    import numpy as np

    from fsfer_bench.episodes import EpisodeSet, EpisodeSpec

    def save_then_fill_the_disk(self, f):
        f.write(b"PK\x03\x04 half an npz")
        raise OSError(errno.ENOSPC, "No space left on device")

    episodes = EpisodeSet(EpisodeSpec(way=2, shot=1, query=1, episodes=1), "pool", np.zeros((1, 2), np.int64),
                          np.zeros((1, 2, 1), np.int64), np.ones((1, 2, 1), np.int64))  # fmt: skip
    monkeypatch.setattr(EpisodeSet, "save", save_then_fill_the_disk)
    with pytest.raises(StoreError, match="No space left"):
        Store(tmp_path).write(_record(), episodes)
    assert [p.name for p in (tmp_path / "episodes").iterdir()] == []
    assert not list(tmp_path.rglob("*.json"))
