"""`fsfer-bench export`: a trained backbone written for `--weights`, read back by another method with identical
features; bad input is one line and exit 2, and leaves what was there."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from toydata import register_toys

from fsfer_bench.backbones import build_backbone
from fsfer_bench.cli import main
from fsfer_bench.registry import get_method

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# the settings that make the training (export finds the model by them), then the test's own
TRAINING = ["--split", "Toy_C", "--image-size", "32", "--set", "train.steps=3", "--set", "train.val_every=0"]
FAST = [*TRAINING, "--query", "5"]


@pytest.fixture(autouse=True, scope="module")
def toys():
    register_toys()


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def trained(store, method: str = "baseline++", *extra: str) -> dict:
    """Train `method` on the toy split into `store`'s model cache; its first record."""
    result = invoke("run", "--method", method, *FAST, *extra, "--episodes", "5", "--shot", "1", "--format", "json",
                    "--quiet", "--out", str(store), "--reuse-training")  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)[0]


def fails_with(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    return root, trained(root)


def cached_method(root, record: dict):
    """The trained baseline++ as the model cache holds it."""
    cls = get_method(record["method"])
    state = torch.load(root / "models" / f"{record['training_hash']}.pt", weights_only=True)
    method = cls(build_backbone("conv4", 32), cls.Options(), num_base_classes=len(record["train_classes"]))
    method.load_state_dict(state)
    return method.eval()


def test_round_trip_gives_another_method_identical_features(store, tmp_path):
    root, record = store
    out = tmp_path / "export" / "backbone.pt"
    result = invoke("export", "--model", record["training_hash"], "--store", str(root), "--out", str(out),
                    "--image-size", "32")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "--weights-preset none" in result.stdout and "--image-size 32" in result.stdout
    state = torch.load(out, weights_only=True)  # tensors only: no pickle of objects
    assert all(isinstance(v, torch.Tensor) for v in state.values()) and not any(
        k.startswith("backbone.") for k in state
    )
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["backbone"] == "conv4" and sidecar["image_size"] == 32 and sidecar["weights_preset"] == "none"
    assert sidecar["method"] == "baseline++" and sidecar["training_hash"] == record["training_hash"]

    protonet = get_method("protonet")
    other = protonet(build_backbone("conv4", 32, out, sidecar["weights_preset"]), protonet.Options()).eval()
    original = cached_method(root, record)
    images = torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(other.backbone(images), original.backbone(images))
        fresh = protonet(build_backbone("conv4", 32), protonet.Options()).eval()
        assert not torch.allclose(fresh.backbone(images), original.backbone(images))  # the check can fail


def test_another_method_runs_from_the_export(store, tmp_path):
    root, record = store
    out = tmp_path / "backbone.pt"
    assert invoke("export", "--model", record["training_hash"], "--store", str(root), "--out", str(out)).exit_code == 0
    result = invoke("run", "--method", "protonet", *FAST, "--weights", str(out), "--weights-preset", "none",
                    "--set", "train.regime=frozen", "--episodes", "5", "--shot", "1", "--format", "json", "--quiet",
                    "--out", str(tmp_path / "runs"))  # fmt: skip
    assert result.exit_code == 0, result.output


def test_export_by_the_runs_own_flags_finds_the_same_model(store, tmp_path):
    root, record = store
    by_hash, by_flags = tmp_path / "a.pt", tmp_path / "b.pt"
    assert invoke("export", "--model", str(root / "models" / f"{record['training_hash']}.pt"),
                  "--out", str(by_hash)).exit_code == 0  # fmt: skip
    result = invoke("export", "--method", "baseline++", *TRAINING, "--store", str(root), "--out", str(by_flags))
    assert result.exit_code == 0, result.output
    a, b = torch.load(by_hash, weights_only=True), torch.load(by_flags, weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_model_trained_at_another_image_size_than_asked(store, tmp_path):
    root, record = store
    out = tmp_path / "backbone.pt"
    fails_with(invoke("export", "--model", record["training_hash"], "--store", str(root), "--out", str(out),
                      "--image-size", "48"), "trained at 32 px, not --image-size 48")  # fmt: skip
    flags = [f if f != "32" else "48" for f in TRAINING]  # the run's flags at 48 px: no such model, the 32-px one named
    fails_with(invoke("export", "--method", "baseline++", *flags, "--store", str(root), "--out", str(out)),
               "trained at another image size", f"32 px (--model {record['training_hash']})")  # fmt: skip
    assert not out.exists()


def test_method_without_a_backbone(store, tmp_path):
    root, _ = store
    out = tmp_path / "backbone.pt"
    fails_with(invoke("export", "--method", "landmarks", *TRAINING, "--store", str(root), "--out", str(out)),
               "method landmarks has no trained backbone")  # fmt: skip
    assert not out.exists()


def test_unwritable_path_loses_nothing(store, tmp_path):
    root, record = store
    blocker = tmp_path / "file"
    blocker.write_text("precious")
    fails_with(invoke("export", "--model", record["training_hash"], "--store", str(root),
                      "--out", str(blocker / "backbone.pt")), "cannot write", "--out")  # fmt: skip
    assert blocker.read_text() == "precious"
    assert (root / "models" / f"{record['training_hash']}.pt").is_file()


def test_maml_without_running_statistics_is_refused(tmp_path):
    record = trained(tmp_path, "maml", "--set", "option.inner_steps=1")
    refused = invoke("export", "--model", record["training_hash"], "--store", str(tmp_path), "--out",
                     str(tmp_path / "b.pt"))  # fmt: skip
    fails_with(refused, "no BatchNorm running statistics", "option.bn=running")
    running = trained(tmp_path / "running", "maml", "--set", "option.inner_steps=1", "--set", "option.bn=running")
    assert invoke("export", "--model", running["training_hash"], "--store", str(tmp_path / "running"),
                  "--out", str(tmp_path / "b.pt")).exit_code == 0  # fmt: skip


def test_unknown_model(tmp_path):
    fails_with(invoke("export", "--model", "0123456789abcdef", "--store", str(tmp_path), "--out", str(tmp_path / "b")),
               "no trained model 0123456789abcdef")  # fmt: skip


@pytest.mark.parametrize("flag", [["--backbone", "resnet18"], ["--weights-preset", "imagenet"]])
def test_model_by_hash_refuses_the_flags_of_a_run_instead_of_ignoring_them(store, tmp_path, flag):
    root, record = store
    out = tmp_path / "b.pt"
    fails_with(invoke("export", "--model", record["training_hash"], "--store", str(root), "--out", str(out), *flag),
               "--model names the model")  # fmt: skip
    assert not out.exists()


def test_a_runs_identity_follows_the_weights_content_not_their_path(store, tmp_path):
    """The same export reached by a copy and a symlink is the same training; an export rewritten in place is
    another one (on the old rule, the path was hashed: both went the other way)."""
    root, record = store
    out = tmp_path / "a" / "backbone.pt"
    out.parent.mkdir()
    assert invoke("export", "--model", record["training_hash"], "--store", str(root), "--out", str(out)).exit_code == 0
    copy, link = tmp_path / "copy.pt", tmp_path / "link.pt"
    copy.write_bytes(out.read_bytes())
    link.symlink_to(out)

    def run_from(weights) -> dict:
        result = invoke("run", "--method", "protonet", *FAST, "--weights", str(weights), "--weights-preset", "none",
                        "--set", "train.steps=1", "--episodes", "2", "--shot", "1", "--format", "json", "--quiet",
                        "--out", str(tmp_path / "runs"), "--reuse-training")  # fmt: skip
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)[0]

    first, by_copy, by_link = run_from(out), run_from(copy), run_from(link)
    assert first["training_hash"] == by_copy["training_hash"] == by_link["training_hash"]
    assert first["config_hash"] == by_copy["config_hash"] == by_link["config_hash"]
    assert by_copy["training"]["reused"] and by_link["training"]["reused"]
    digest = first["training"]["weights_sha256"]
    assert digest == json.loads(out.with_suffix(".json").read_text())["sha256"]

    state = torch.load(out, weights_only=True)
    state = {k: v + 1 if v.is_floating_point() else v for k, v in state.items()}
    torch.save(state, out)  # another backbone at the same path
    changed = run_from(out)
    assert changed["training_hash"] != first["training_hash"] and not changed["training"]["reused"]
    assert changed["training"]["weights_sha256"] != digest
