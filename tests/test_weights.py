"""Pretrained checkpoints: torchvision/timm/MS-Celeb layouts load, compute torchvision's function, and
every kind of bad file is one line naming what was expected; the weights decide the input normalisation."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from toydata import make_toy, register_toys

from baselines.protonet import ProtoNet
from fsfer_bench.backbones import ResNet18, ResNet50, build_backbone, load_weights
from fsfer_bench.cli import main
from fsfer_bench.config import resolve_config
from fsfer_bench.errors import ConfigError, FsferWarning
from fsfer_bench.tensors import PRESETS, method_inputs, to_tensor

FIXTURE = Path(os.environ.get("FSFER_WEIGHTS", Path(__file__).resolve().parents[2] / "shared" / "weights"))
TORCHVISION = FIXTURE / "resnet18_torchvision_layout.pt"


def torchvision_names(depths: tuple[int, ...], bottleneck: bool) -> dict[str, tuple[int, ...]]:
    """torchvision's ResNet state-dict keys and shapes, without `fc`, written out from its source's naming
    (models/resnet.py: conv1, bn1, layerN.M.{conv,bn}K, layerN.0.downsample.{0,1}), not from our modules."""

    def bn(name: str, c: int) -> dict[str, tuple[int, ...]]:
        return {f"{name}.{p}": (c,) for p in ("weight", "bias", "running_mean", "running_var")} | {
            f"{name}.num_batches_tracked": ()
        }

    keys = {"conv1.weight": (64, 3, 7, 7), **bn("bn1", 64)}
    cin, expansion = 64, 4 if bottleneck else 1
    for i, (width, depth) in enumerate(zip((64, 128, 256, 512), depths), start=1):
        for j in range(depth):
            p, cout = f"layer{i}.{j}", width * expansion
            convs = [(cin if j == 0 else cout, width, 1), (width, width, 3), (width, cout, 1)] if bottleneck else [
                (cin if j == 0 else cout, width, 3), (width, cout, 3)]  # fmt: skip
            for k, (a, b, side) in enumerate(convs, start=1):
                keys |= {f"{p}.conv{k}.weight": (b, a, side, side), **bn(f"{p}.bn{k}", b)}
            if j == 0 and (i > 1 or cin != cout):
                keys |= {f"{p}.downsample.0.weight": (cout, cin, 1, 1), **bn(f"{p}.downsample.1", cout)}
        cin = width * expansion
    return keys


def _save(obj: object, path: Path) -> Path:
    torch.save(obj, path)
    return path


def _with_classifier(backbone: torch.nn.Module, classes: int) -> dict[str, torch.Tensor]:
    return {
        **backbone.state_dict(),
        "fc.weight": torch.randn(classes, backbone.out_dim),
        "fc.bias": torch.zeros(classes),
    }


@pytest.mark.skipif(not TORCHVISION.is_file(), reason=f"fixture {TORCHVISION} absent")
def test_torchvision_checkpoint_computes_torchvisions_function():
    fixture = torch.load(TORCHVISION, map_location="cpu", weights_only=True)
    with pytest.warns(FsferWarning, match=r"dropped the classifier \(fc.weight 1000x512, fc.bias 1000\)"):
        backbone = build_backbone("resnet18", 224, TORCHVISION, preset="imagenet").eval()
    with torch.no_grad():
        features = backbone(fixture["input"])
    assert (features - fixture["features"]).abs().max() < 1e-5
    # the dropped classifier, applied by hand, gives torchvision's logits: nothing else was lost
    fc_w, fc_b = fixture["state_dict"]["fc.weight"], fixture["state_dict"]["fc.bias"]
    assert (features @ fc_w.T + fc_b - fixture["logits"]).abs().max() < 1e-4
    assert backbone.weights_report["dropped"] == {"fc.weight": [1000, 512], "fc.bias": [1000]}
    assert backbone.weights_report["loaded"] == 120 and backbone.weights_report["preset"] == "imagenet"


def test_resnet18_and_50_have_torchvisions_keys_and_parameter_counts():
    for make, depths, bottleneck, params in ((ResNet18, (2, 2, 2, 2), False, 11_176_512),
                                             (ResNet50, (3, 4, 6, 3), True, 23_508_032)):  # fmt: skip
        net = make(224)
        shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
        assert shapes == torchvision_names(depths, bottleneck)
        # torchvision's resnet18/50 have 11,689,512 / 25,557,032 parameters, of which fc holds 513,000 / 2,049,000
        assert sum(p.numel() for p in net.parameters()) == params


def test_module_prefix_wrapper_and_another_classifier_size(tmp_path):
    torch.manual_seed(0)
    source = ResNet18(64).eval()
    state = {f"module.{k}": v for k, v in _with_classifier(source, 7).items()}
    for wrapper in ("state_dict", "model"):
        path = _save({wrapper: state, "epoch": torch.tensor(3)}, tmp_path / f"{wrapper}.pth")
        target = ResNet18(64)
        with pytest.warns(FsferWarning, match=r"dropped the classifier \(fc.weight 7x512, fc.bias 7\)"):
            report = load_weights(target, path)
        assert report["wrapper"] == wrapper and report["prefix_stripped"] == "module."
        assert report["dropped"] == {"fc.weight": [7, 512], "fc.bias": [7]}
        x = torch.randn(2, 3, 64, 64)
        assert torch.equal(source(x), target.eval()(x))


def test_bare_state_dict_loads_without_a_warning(tmp_path):
    path = _save(ResNet18(32).state_dict(), tmp_path / "bare.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = load_weights(ResNet18(32), path)
    assert (report["wrapper"], report["prefix_stripped"], report["dropped"]) == (None, None, {})


def test_another_architecture_is_one_line_with_counts_and_examples(tmp_path):
    path = _save(_with_classifier(ResNet50(224), 1000), tmp_path / "r50.pt")
    with pytest.raises(ConfigError) as caught:
        build_backbone("resnet18", 224, path, preset="imagenet")
    message = str(caught.value)
    assert "\n" not in message
    assert "does not match the ResNet18 backbone" in message
    assert "missing" not in message  # every resnet18 key name exists in resnet50 ...
    assert "198 unexpected: layer1.0.bn3.bias" in message  # ... which has conv3/bn3 and more blocks
    assert "of another shape: layer1.0.conv1.weight [64, 64, 1, 1] in the file, [64, 64, 3, 3] here" in message


def test_imagenet_stem_at_small_size_says_which_size_fits(tmp_path):
    path = _save(ResNet18(224).state_dict(), tmp_path / "r18.pt")
    with pytest.raises(ConfigError, match=r"conv1.weight \[64, 3, 7, 7\] in the file, \[64, 3, 3, 3\] here.*"
                                          r"--image-size 128 or more"):  # fmt: skip
        build_backbone("resnet18", 64, path, preset="imagenet")


@pytest.mark.parametrize(
    ("content", "expected"),
    [([torch.zeros(2)], "holds a list, not a state dict"),
     ({"state_dict": {"a": 1}}, "holds a dict with keys 'a' whose values are not all tensors"),
     ({}, "holds an empty dict, not a state dict")],
)  # fmt: skip
def test_not_a_state_dict_is_one_line(tmp_path, content, expected):
    path = _save(content, tmp_path / "x.pt")
    with pytest.raises(ConfigError, match=expected) as caught:
        build_backbone("conv4", 32, path, preset="none")
    assert "\n" not in str(caught.value) and "'state_dict' or 'model'" in str(caught.value)


class _Hostile:
    def __reduce__(self):
        return (os.system, ("echo this must never run",))


def test_hostile_pickle_is_refused_in_one_line(tmp_path):
    path = _save({"state_dict": _Hostile()}, tmp_path / "evil.pt")
    with pytest.raises(ConfigError) as caught:
        build_backbone("conv4", 32, path, preset="none")
    message = str(caught.value)
    assert "\n" not in message and "weights_only=False" not in message
    assert "holds Python objects (posix.system" in message or "holds Python objects (nt.system" in message


def test_a_file_torch_did_not_write_is_one_line(tmp_path):
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(ConfigError, match="not a file torch.save wrote") as caught:
        build_backbone("conv4", 32, tmp_path / "junk.pt", preset="none")
    assert "\n" not in str(caught.value)


def test_normalisation_presets_per_channel():
    grey = np.full((1, 2, 2, 3), 200, np.uint8)  # a grey face: three equal channels
    x = 200 / 255
    imagenet = to_tensor(grey, normalisation=PRESETS["imagenet"])[0, :, 0, 0]
    expected = [(x - m) / s for m, s in zip((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))]
    assert torch.allclose(imagenet, torch.tensor(expected), atol=1e-6)
    assert torch.equal(
        to_tensor(grey, normalisation=PRESETS["msceleb"]), to_tensor(grey, normalisation=PRESETS["imagenet"])
    )
    assert torch.allclose(to_tensor(grey)[0, :, 0, 0], torch.full((3,), (x - 0.5) / 0.25), atol=1e-6)


def test_inputs_follow_the_backbones_preset():
    pool = make_toy("toy", ("happy", "sad"), subjects=2)
    method = ProtoNet(build_backbone("conv4", 32, preset="imagenet"))
    got = method_inputs(method, pool, np.arange(3))
    assert torch.equal(got, to_tensor(pool.images[:3], normalisation=PRESETS["imagenet"]))
    assert not torch.equal(got, to_tensor(pool.images[:3]))


def test_preset_resolution_and_record(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "w.pt").write_bytes(b"weights")  # hashed by content, so it must exist
    assert resolve_config({}).weights_preset == "none"
    config = resolve_config({"weights": "w.pt", "weights_preset": "msceleb"})
    assert config.to_dict()["weights_preset"] == "msceleb"  # records store config.to_dict()
    imagenet = resolve_config({"weights": "w.pt", "weights_preset": "imagenet"})
    assert config.training_settings_hash() != imagenet.training_settings_hash()
    (tmp_path / "w.pt").unlink()
    with pytest.raises(ConfigError, match="weights file w.pt does not exist"):
        config.hash()
    profile = {"method": {"protonet": {"profiles": {"quick": {"weights": "w.pt", "weights_preset": "imagenet"}}}}}
    assert resolve_config({}, profile).weights_preset == "imagenet"
    with pytest.raises(ConfigError, match=r"unknown weights preset 'celeb' \(valid: none, imagenet, msceleb\)"):
        resolve_config({"weights_preset": "celeb"})
    with pytest.raises(ConfigError, match="needs --weights-preset: imagenet"):
        resolve_config({"weights": "w.pt"})


@pytest.mark.parametrize(
    ("args", "expected"),
    [(["--weights-preset", "imagenett"], "unknown weights preset 'imagenett' (valid: none, imagenet, msceleb)"),
     (["--weights", "w.pt"], "needs --weights-preset"),
     (["--weights", "missing.pt", "--weights-preset", "imagenet"], "weights file missing.pt does not exist")],
)  # fmt: skip
def test_cli_bad_weights_are_one_line_exit_2(tmp_path, args, expected):
    register_toys()
    result = CliRunner().invoke(main, ["run", "--method", "protonet", "--split", "Toy_C", "--image-size", "32",
                                       "--out", str(tmp_path), "--quiet", *args])  # fmt: skip
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0]


def test_run_with_weights_records_the_preset(tmp_path):
    register_toys()
    torch.save(build_backbone("conv4", 32).state_dict(), tmp_path / "conv4.pt")
    result = CliRunner().invoke(main, ["run", "--method", "protonet", "--split", "Toy_C", "--image-size", "32",
                                       "--weights", str(tmp_path / "conv4.pt"), "--weights-preset", "none",
                                       "--shot", "1", "--episodes", "5", "--query", "5", "--set", "train.steps=2",
                                       "--set", "train.val_every=0", "--out", str(tmp_path / "out"), "--quiet",
                                       "--format", "json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.output)
    assert record["config"]["weights"] == str(tmp_path / "conv4.pt") and record["config"]["weights_preset"] == "none"
