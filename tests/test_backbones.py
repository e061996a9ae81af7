"""Backbones: output widths, size limits, and weights files."""

from __future__ import annotations

import pytest
import torch

from fsfer_bench.backbones import build_backbone
from fsfer_bench.errors import ConfigError, UnknownNameError


@pytest.mark.parametrize(("name", "size", "dim"), [("conv4", 64, 1024), ("conv4", 84, 1600), ("resnet12", 32, 640),
                                                    ("resnet18", 32, 512), ("resnet50", 32, 2048)])  # fmt: skip
def test_output_width(name, size, dim):
    backbone = build_backbone(name, size)
    assert backbone.out_dim == dim
    assert backbone(torch.zeros(2, 3, size, size)).shape == (2, dim)


def test_backbone_too_big_for_the_image_size():
    with pytest.raises(ConfigError, match="resnet18 needs images of at least 32 px"):
        build_backbone("resnet18", 24)


def test_unknown_backbone():
    with pytest.raises(UnknownNameError, match="did you mean 'resnet12'"):
        build_backbone("resnet-12", 64)


def test_weights_round_trip(tmp_path):
    torch.manual_seed(0)
    source = build_backbone("conv4", 32)
    torch.save(source.state_dict(), tmp_path / "w.pt")
    loaded = build_backbone("conv4", 32, tmp_path / "w.pt", preset="none")
    x = torch.randn(2, 3, 32, 32)
    source.eval(), loaded.eval()
    assert torch.equal(source(x), loaded(x))


def test_mismatched_weights_list_the_keys(tmp_path):
    torch.save(build_backbone("resnet12", 32).state_dict(), tmp_path / "r12.pt")
    with pytest.raises(ConfigError, match=r"does not match the Conv4 backbone \(24 missing: layers\.0\.0\.weight"):
        build_backbone("conv4", 32, tmp_path / "r12.pt", preset="none")
