"""The landmark-geometry baseline: normalisation, whitening from the training sources, and its errors."""

from __future__ import annotations

import math

import pytest
import torch
from click.testing import CliRunner
from fewshot_runs import CHANCE, build, episodes, evaluated, pools, summary, trained
from toydata import register_toys

from baselines.landmarks import Landmarks, Options, normalise
from fsfer_bench.backbones import build_backbone
from fsfer_bench.cli import main
from fsfer_bench.errors import ConfigError
from fsfer_bench.evaluate import evaluate
from fsfer_bench.methods import TrainSettings


@pytest.mark.slow
def test_beats_chance_on_synfacs_c_from_geometry_alone():
    result = evaluated("landmarks")
    assert result.path == "feature-cache"
    assert result.accuracies.mean() > CHANCE + 30, summary("landmarks")
    assert trained("landmarks").report.steps == {}  # nothing was trained


@pytest.mark.slow
def test_whitening_comes_from_the_training_sources():
    method = trained("landmarks").method
    assert not torch.allclose(method.whitening, torch.eye(136))  # set by after_training
    plain = build("landmarks", {"whiten": "none"}).eval()
    accuracy = evaluate(plain, pools()[0], episodes()).accuracies.mean()
    assert accuracy > CHANCE + 20, f"landmarks whiten=none: {accuracy:.1f}%"


def _similar(points: torch.Tensor, angle: float, scale: float, shift: tuple[float, float]) -> torch.Tensor:
    c, s = math.cos(angle), math.sin(angle)
    rotation = torch.tensor([[c, s], [-s, c]])
    return scale * points @ rotation + torch.tensor(shift)


def test_normalisation_removes_position_scale_and_roll():
    points = pools()[0].landmarks[:4]
    points = torch.from_numpy(points).float()
    moved = _similar(points, angle=0.4, scale=1.7, shift=(12.0, -5.0))
    torch.testing.assert_close(normalise(moved), normalise(points), rtol=0, atol=1e-4)
    unit = normalise(points)
    eyes = torch.stack([unit[:, 36:42].mean(1), unit[:, 42:48].mean(1)], 1)
    torch.testing.assert_close(eyes, torch.tensor([[-0.5, 0.0], [0.5, 0.0]]).expand(4, 2, 2), rtol=0, atol=1e-5)


def test_training_free_with_landmark_inputs():
    method = Landmarks(build_backbone("conv4", 32))
    assert method.training_stages(TrainSettings()) == []
    assert Landmarks.inputs == "landmarks" and Landmarks.training_loop == "none"


def test_options_are_checked():
    with pytest.raises(ConfigError, match="whiten must be one of none, within, total"):
        Options(whiten="pca")
    with pytest.raises(ConfigError, match="shrinkage must be positive"):
        Options(shrinkage=0.0)


def test_data_without_landmarks_is_a_one_line_error_naming_face_align(tmp_path):
    register_toys()
    result = CliRunner().invoke(main, ["run", "--method", "landmarks", "--split", "Toy_C", "--episodes", "5",
                                       "--out", str(tmp_path), "--quiet"])  # fmt: skip
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in result.output
    assert "has no facial landmarks" in message and "--face-align" in message and "fsfer-bench[faces]" in message


def test_images_without_a_found_face_are_left_out_of_the_whitening_and_sit_at_the_mean_shape():
    """`--face-align` gives NaN landmarks where no face was found (a quarter of FER2013's 48 px crops):
    the fit must equal the fit without them, and such an image must not turn its episode into NaN."""
    from baselines.landmarks import fit_whitening, whitened

    points, labels = torch.as_tensor(pools()[0].landmarks[:60]).float(), torch.arange(60) % 5
    lost = points.clone()
    lost[::4] = float("nan")
    found = torch.isfinite(lost).flatten(1).all(1)
    with_nan = fit_whitening([(lost, labels)], Options())
    without = fit_whitening([(points[found], labels[found])], Options())
    assert all(torch.equal(a, b) for a, b in zip(with_nan, without))
    shapes = whitened(lost, *with_nan)
    assert torch.isfinite(shapes).all() and shapes[0].abs().max() == 0
