"""`fsfer-bench run` end to end on toy data: records, reproducibility, and one-line errors."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from toydata import register_toys

from fsfer_bench.cli import main
from fsfer_bench.methods import FeatureMethod, Stage, register_method

FAST = ["--split", "Toy_C", "--image-size", "32", "--query", "5", "--set", "train.steps=4",
        "--set", "train.val_every=0", "--quiet"]  # fmt: skip


@register_method("test-diverges")
class Diverges(FeatureMethod):
    """Returns a NaN loss at its third step."""

    def classify(self, support_features, support_labels, query_features):
        return -torch.cdist(query_features, support_features)[:, : int(support_labels.max()) + 1]

    def training_stages(self, settings):
        return [Stage("episodic", lambda d: self.episode_loss(d.episode) * (float("nan") if d.step == 2 else 1))]


@pytest.fixture(autouse=True, scope="module")
def toys():
    register_toys()


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def _json(result) -> list[dict]:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_json_records_carry_mean_ci_and_episodes(tmp_path):
    records = _json(invoke("run", "--method", "protonet", *FAST, "--episodes", "30", "--format", "json",
                           "--out", str(tmp_path)))  # fmt: skip
    assert [r["shot"] for r in records] == [1, 5]
    for r in records:
        assert r["n_episodes"] == 30 and len(r["accuracies"]) == 30
        assert 0 <= r["mean"] <= 100 and r["ci95"] > 0 and r["ci95_z"] < r["ci95"]
        assert r["config"]["method"] == "protonet" and r["git_commit"] is not None
        assert r["training"]["torch_threads"] == torch.get_num_threads()  # CPU numbers depend on it
        assert (tmp_path / "episodes" / f"{r['episode_hash']}.npz").exists()
    assert len(list((tmp_path / "records").rglob("*.json"))) == 2


def test_same_seed_same_numbers_and_episodes(tmp_path):
    args = ["run", "--method", "protonet", *FAST, "--episodes", "20", "--shot", "5", "--format", "json"]
    a = _json(invoke(*args, "--out", str(tmp_path / "a")))[0]
    b = _json(invoke(*args, "--out", str(tmp_path / "b")))[0]
    assert a["episode_hash"] == b["episode_hash"]
    assert a["accuracies"] == b["accuracies"] and a["mean"] == b["mean"]
    c = _json(invoke(*args, "--episode-seed", "1", "--out", str(tmp_path / "c")))[0]
    assert c["episode_hash"] != a["episode_hash"]  # --seed seeds training only; --episode-seed the episodes


def test_text_output_is_one_line_per_shot(tmp_path):
    result = invoke("run", "--method", "protonet", *FAST, "--episodes", "10", "--out", str(tmp_path))
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("protonet  Toy_C  5-way 1-shot  ") and lines[0].endswith("(10 episodes, 95% t-CI)")


def _fails_with(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert "Traceback" not in result.output and len(message.splitlines()) == 1, message
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--method", "protonnet"], ["unknown method 'protonnet'", "did you mean 'protonet'"]),
        (["--split", "Toy_X"], ["unknown split 'Toy_X'", "Toy_C"]),
        (["--train-on", "Toyy-train"], ["unknown dataset 'Toyy-train'", "did you mean 'Toy-train'"]),
        (["--way", "9"], ["--way 9 is larger than the 6 usable classes", "--way 6"]),
        (["--shot", "5", "--query", "56"], ["has 60 usable images", "needs 61", "--min-per-class 61"]),
        (["--shot", "1,x"], ["malformed shot list '1,x'"]),
        (["--method", "test-diverges"], ["loss became nan at step 3"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, fragments):
    base = ["run", "--method", "protonet", *FAST, "--episodes", "5", "--out", str(tmp_path)]
    _fails_with(invoke(*base, *args), *fragments)


def test_unwritable_out_fails_before_work_and_keeps_what_exists(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("precious")
    _fails_with(invoke("run", *FAST, "--out", str(blocker / "results")), "cannot write results to", "--out")
    assert blocker.read_text() == "precious"


def test_malformed_config_file(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("[run]\nepisodes = = 3\n")
    _fails_with(invoke("run", *FAST, "--config", str(config)), "bad.toml is not valid TOML")


def test_list_commands():
    assert "protonet" in invoke("list", "methods").stdout
    assert "Toy_C" in invoke("list", "splits").stdout
    assert "Toy-train" in invoke("list", "datasets").stdout


def test_reused_training_gives_the_same_numbers(tmp_path):
    args = ["run", "--method", "protonet", *FAST, "--episodes", "10", "--shot", "1", "--format", "json",
            "--out", str(tmp_path), "--reuse-training"]  # fmt: skip
    first = _json(invoke(*args))[0]
    second = _json(invoke(*args))[0]
    assert first["training"]["reused"] is False and second["training"]["reused"] is True
    assert first["accuracies"] == second["accuracies"]
    assert len(list((tmp_path / "models").glob("*.pt"))) == 1


def test_every_run_keeps_its_model_and_the_next_one_reuses_it(tmp_path):
    args = ["run", "--method", "protonet", *FAST, "--episodes", "10", "--shot", "1", "--format", "json",
            "--out", str(tmp_path)]  # fmt: skip
    first = _json(invoke(*args))[0]
    (weights,) = (tmp_path / "models").glob("*.pt")
    assert weights.name == f"{first['training_hash']}.pt" and first["training"]["reused"] is False
    second = _json(invoke(*args))[0]
    assert second["training"]["reused"] is True and second["accuracies"] == first["accuracies"]
    weights.write_bytes(weights.read_bytes())  # a fresh inode stamp: --retrain must write the file again
    before = weights.stat().st_mtime_ns
    retrained = _json(invoke(*args, "--retrain"))[0]
    assert retrained["training"]["reused"] is False and retrained["training_hash"] == first["training_hash"]
    assert retrained["accuracies"] == first["accuracies"]  # same seed, same model
    assert weights.stat().st_mtime_ns != before and len(list((tmp_path / "models").glob("*.pt"))) == 1
    assert _json(invoke(*args, "--reuse-training"))[0]["training"]["reused"] is True  # still accepted
    clash = invoke(*args, "--retrain", "--reuse-training")
    assert clash.exit_code == 2 and clash.stderr.strip().splitlines() == [
        "error: --retrain and --reuse-training contradict each other; give one of them"
    ]


def test_a_reused_model_is_said_once_on_stderr(tmp_path):
    args = ["run", "--method", "protonet", *FAST[:-1], "--episodes", "10", "--shot", "1", "--out", str(tmp_path)]
    assert "model reused" not in invoke(*args).stderr
    note = [line for line in invoke(*args).stderr.splitlines() if line.startswith("model reused")]
    assert len(note) == 1 and note[0].endswith("; --retrain trains anew")
    assert "reuses it" in invoke("run", "--help").stdout
