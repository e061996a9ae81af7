"""`fsfer-bench report`, `compare` and `plot`: outputs, and one-line messages with exit 2 for bad input."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from click.testing import CliRunner
from fakestore import fill_store, record

from fsfer_bench.cli import main
from fsfer_bench.data.vocabulary import BASIC_WITH_NEUTRAL
from fsfer_bench.results import Store

LEVELS = {"protonet": 62.0, "relation_net": 50.0}


@pytest.fixture
def store_root(tmp_path):
    root = tmp_path / "results"
    fill_store(root, LEVELS, classes=BASIC_WITH_NEUTRAL)  # few classes: quick confusion plots
    return root


def invoke(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def _ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


def _refused(result, *phrases: str) -> str:
    """Exit 2, no traceback, and one error line holding every phrase."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for phrase in phrases:
        assert phrase in errors[0]
    return errors[0]


def test_report_markdown_on_stdout(store_root):
    out = _ok(invoke("report", "--results", store_root))
    assert r"| Method | Fake\_B 1-shot | Fake\_B 5-shot | Fake\_C 1-shot | Fake\_C 5-shot |" in out
    assert "| protonet | **" in out and "Holm-corrected" in out


def test_report_latex_standalone_to_a_file(store_root, tmp_path):
    out = tmp_path / "tables" / "main.tex"
    result = invoke("report", "--results", store_root, "--format", "latex", "--standalone", "--out", out,
                    "--splits", "Fake_C", "--caption", "Compound", "--label", "tab:c")  # fmt: skip
    _ok(result)
    tex = out.read_text()
    assert tex.startswith(r"\documentclass") and r"\caption{Compound}" in tex and r"\label{tab:c}" in tex
    assert "Fake\\_B" not in tex and r"relation\_net" in tex


def test_report_csv_and_shot_selection(store_root):
    out = _ok(invoke("report", "--results", store_root, "--format", "csv", "--shots", "5"))
    frame = pd.read_csv(io.StringIO(out))
    assert set(frame["shot"]) == {5} and len(frame) == 4


def test_report_seeds_listed_apart(tmp_path):
    fill_store(tmp_path, LEVELS, splits=("Fake_C",), seeds=(0, 1))
    out = _ok(invoke("report", "--results", tmp_path, "--no-pool-seeds"))
    assert "| protonet (seed 1) |" in out


def test_report_reads_only_the_seeds_asked_for(tmp_path):
    """`--seeds 0`: one trained model per method, where some methods were also trained with other seeds."""
    fill_store(tmp_path, LEVELS, splits=("Fake_C",), seeds=(0, 1, 2))
    frame = pd.read_csv(io.StringIO(_ok(invoke("report", "--results", tmp_path, "--format", "csv", "--seeds", "0"))))
    assert set(frame["seeds"].astype(str)) == {"0"}
    pooled = pd.read_csv(io.StringIO(_ok(invoke("report", "--results", tmp_path, "--format", "csv"))))
    assert set(pooled["seeds"]) == {"0 1 2"}


def test_compare_prints_the_paired_figures(store_root):
    out = _ok(invoke("compare", "protonet", "relation_net", "--split", "Fake_C", "--shot", "1", "--results",
                     store_root))  # fmt: skip
    assert "60 paired episodes" in out and "paired t-test" in out and "Wilcoxon" in out and "win / tie / loss" in out


def test_compare_json(store_root):
    out = _ok(invoke("compare", "protonet", "relation_net", "-s", "Fake_B", "-k", "5", "--results", store_root,
                     "--format", "json"))  # fmt: skip
    data = json.loads(out)
    assert data["paired"]["n"] == 60 and data["paired"]["mean_diff"] > 5


def test_compare_refuses_unpaired_runs(tmp_path):
    store = Store(tmp_path)
    store.write(record("A"))
    store.write(record("B", episode_hash="other"))
    _refused(invoke("compare", "A", "B", "--split", "Fake_C", "--shot", "1", "--results", tmp_path),
             "did not run the same episodes")  # fmt: skip


@pytest.mark.parametrize(
    "kind, args",
    [
        ("shots", ["--split", "Fake_C"]),
        ("per-class", ["--split", "Fake_C", "--shot", "1"]),
        ("confusion", ["--method", "protonet", "--split", "Fake_C", "--shot", "5"]),
        ("histogram", ["--split", "Fake_B", "--shot", "1", "--methods", "protonet"]),
    ],
)
def test_plot_kinds_write_their_file(store_root, tmp_path, kind, args):
    out = tmp_path / f"{kind}.pdf"
    result = invoke("plot", kind, *args, "--results", store_root, "--out", out)
    _ok(result)
    assert out.read_bytes()[:4] == b"%PDF" and f"wrote {out}" in result.stderr


def test_plot_confusion_of_one_record(store_root, tmp_path):
    record_id = next((store_root / "records").rglob("*.json")).stem
    out = tmp_path / "one.png"
    _ok(invoke("plot", "confusion", "--record", record_id, "--results", store_root, "--out", out))
    assert out.exists()
    _refused(invoke("plot", "confusion", "--record", "nope", "--results", store_root, "--out", out), "no record")
    _refused(invoke("plot", "confusion", "--results", store_root, "--out", out), "--record ID")


def test_missing_and_empty_results_folders(tmp_path):
    _refused(invoke("report", "--results", tmp_path / "nowhere"), "does not exist")
    (tmp_path / "empty").mkdir()
    _refused(invoke("report", "--results", tmp_path / "empty"), "no records under")
    _refused(invoke("plot", "shots", "--split", "X", "--results", tmp_path / "empty", "--out", tmp_path / "a.png"),
             "no records under")  # fmt: skip


def test_unknown_method_or_split_lists_what_exists(store_root):
    _refused(invoke("report", "--results", store_root, "--methods", "protonett"),
             "'protonett'", "did you mean 'protonet'", "methods with runs: protonet, relation_net")  # fmt: skip
    _refused(invoke("compare", "protonet", "relation_net", "--split", "CFEE_C", "--shot", "1", "--results",
                    store_root), "split 'CFEE_C'", "splits with runs: Fake_B, Fake_C")  # fmt: skip
    _refused(invoke("plot", "histogram", "--split", "Fake_C", "--shot", "3", "--results", store_root, "--out",
                    store_root / "h.png"), "shot 3", "shots with runs: 1, 5")  # fmt: skip


def test_corrupt_and_old_records_are_skipped_with_one_line_warnings(store_root):
    folder = store_root / "records" / "Fake_C" / "protonet"
    (folder / "torn.json").write_text('{"method": "protonet", "spl')
    old = record("old_method")
    del old["episode_hash"]
    (folder / "old.json").write_text(json.dumps(old))
    result = invoke("report", "--results", store_root)
    _ok(result)
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert any("torn.json" in w and "corrupt" in w for w in warnings), result.stderr
    assert any("old.json" in w and "lacks field 'episode_hash'" in w for w in warnings), result.stderr
    assert "old_method" not in result.stdout


def test_bad_flags_are_one_line_errors(store_root, tmp_path):
    _refused(invoke("report", "--results", store_root, "--standalone"), "--format latex")
    _refused(invoke("report", "--results", store_root, "--shots", "1,five"), "--shots")
    result = invoke("plot", "shots", "--split", "Fake_C", "--results", store_root, "--out", tmp_path / "a.svg")
    assert result.exit_code == 2 and ".png or .pdf" in result.stderr
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    _refused(invoke("report", "--results", store_root, "--out", blocker / "x.tex"), "cannot write")


def test_records_of_wrong_types_or_impossible_accuracies_are_skipped_not_fatal(store_root):
    folder = store_root / "records" / "Fake_C" / "protonet"
    (folder / "typed.json").write_text(json.dumps({**record("typed"), "shot": "one"}))
    (folder / "high.json").write_text(json.dumps(record("high", accs=[500.0] * 60)))
    (folder / "low.json").write_text(json.dumps(record("low", accs=[-300.0] * 60)))
    result = invoke("report", "--results", store_root)
    out = _ok(result)
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert any("typed.json" in w and "field 'shot' is str" in w for w in warnings), result.stderr
    assert any("high.json" in w and "accuracy 500.0" in w for w in warnings), result.stderr
    assert any("low.json" in w and "accuracy -300.0" in w for w in warnings), result.stderr
    assert "| protonet | **" in out and "high" not in out and "low" not in out


def test_compare_json_is_strict_with_one_episode(tmp_path):
    store = Store(tmp_path)
    store.write(record("A", accs=[60.0], episode_hash="h"))
    store.write(record("B", accs=[40.0], episode_hash="h"))
    out = _ok(invoke("compare", "A", "B", "-s", "Fake_C", "-k", "1", "--results", tmp_path, "--format", "json"))
    data = json.loads(out, parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))
    assert data["summary_a"]["ci95"] is None and data["paired"]["t_pvalue"] is None and "1 episode" in data["note"]
    assert data["paired"]["mean_diff"] == 20.0
    text = _ok(invoke("compare", "A", "B", "-s", "Fake_C", "-k", "1", "--results", tmp_path))
    assert "nan" not in text and "± n/a" in text


def test_rows_with_several_settings_changed_can_be_named_in_methods(tmp_path):
    """A row name holds ", " when a run changed several settings, as tables print it; --methods and --minus take
    it back (on the old rule, splitting at every comma, both refused the name)."""
    store = Store(tmp_path)
    several = "train.steps=500, inner_lr=0.01"
    rows = (("maml", 50.0, several), ("maml", 40.0, ""), ("protonet", 60.0, ""))
    for i, (method, level, variant) in enumerate(rows):
        for shot in (1, 5):
            created = f"2025-01-0{i + 1}T00:00:00+00:00"  # record ids differ by it
            store.write(record(method, shot=shot, level=level, variant=variant, created=created))
    named = f"maml [{several}]"
    frame = pd.read_csv(io.StringIO(_ok(invoke("report", "--results", tmp_path, "--format", "csv", "--methods",
                                               f"protonet,{named}"))))  # fmt: skip
    assert list(dict.fromkeys(frame["method"])) == ["protonet", named]
    minus = _ok(invoke("report", "--results", tmp_path, "--minus", named, "--methods", "maml,protonet"))
    assert "maml" in minus and "protonet" in minus
