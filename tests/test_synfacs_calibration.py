"""SynFACS difficulty, measured with the harness itself on the calibration set, never on reported episodes.

Raw-pixel nearest prototype on SynFACS_C's shape (wild compound faces, 5-way
5-shot) must land between 30% and 75%: above chance, far from solved by
appearance alone. A ProtoNet trained on lab basic expressions must beat it by at
least 8 points and stay below 95%, so learned features help but the split is
not saturated. RelationNet's score-bias initialisation, a method default chosen
on SynFACS, must let it learn in a short training. Both run on the calibration people and episode seeds
(`fsfer_bench.data.synfacs.calibration`), at 32 px with 60 people per domain
and a short training; the reference tables use other people and seeds, and
the last tests here assert that the two sets are disjoint.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from fsfer_bench.backbones import build_backbone
from fsfer_bench.data.adapters import synfacs as synfacs_adapter
from fsfer_bench.data.synfacs.calibration import (
    CALIBRATION_SEEDS,
    REPORTED_SEEDS,
    REPORTED_SUBJECTS,
    calibration_dataset,
    calibration_people,
)
from fsfer_bench.data.vocabulary import COMPOUND, is_compound
from fsfer_bench.episodes import EpisodeSpec, sample_episodes
from fsfer_bench.evaluate import evaluate
from fsfer_bench.methods import TrainSettings
from fsfer_bench.registry import get_method
from fsfer_bench.training import fit

SIZE, SUBJECTS, EPISODES = 32, 60, 60
RESULTS = Path(__file__).resolve().parents[1] / "results" / "reference"


@functools.cache
def _pools():
    """(test pool, training pool) shaped as SynFACS_C's, from calibration people."""
    wild, lab = (calibration_dataset(domain, SUBJECTS, SIZE) for domain in ("wild", "lab"))
    test = wild.with_classes(COMPOUND, name="SynFACS_C (calibration)")
    train = lab.with_classes(tuple(c for c in lab.classes if not is_compound(c)))
    return test, train


@functools.cache
def _accuracy(name: str, steps: int = 60) -> float:
    test, train = _pools()
    cls = get_method(name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        method = cls(build_backbone("conv4", SIZE), cls.Options(), len(train.classes))
        settings = replace(TrainSettings(), steps=steps, shot=5, query=5, val_every=0)
        fit(method, train, settings, seed=0)
    episodes = sample_episodes(test, EpisodeSpec(5, 5, 5, EPISODES, seed=CALIBRATION_SEEDS[0]))
    return float(evaluate(method, test, episodes).accuracies.mean())


@pytest.mark.slow
def test_raw_pixels_are_above_chance_but_far_from_solving_it():
    assert 30.0 <= _accuracy("pixels") <= 75.0, f"pixels {_accuracy('pixels'):.1f}%"


@pytest.mark.slow
def test_a_trained_protonet_beats_raw_pixels_by_8_points_and_stays_below_95():
    pixels, protonet = _accuracy("pixels"), _accuracy("protonet")
    assert protonet >= pixels + 8.0, f"protonet {protonet:.1f}%, pixels {pixels:.1f}%"
    assert protonet < 95.0, f"protonet {protonet:.1f}%"


@pytest.mark.slow
def test_relationnet_with_its_score_bias_learns_in_a_short_training():
    # the bias starting scores at a 5-way prior was chosen because 60 steps left RelationNet at chance without it
    assert _accuracy("relationnet", steps=100) > 20.0 + 7, f"relationnet {_accuracy('relationnet', 100):.1f}%"


# ---- the calibration set and the reported one share no person and no seed


def test_calibration_people_are_not_the_registered_sets_people():
    registered = range(synfacs_adapter.SUBJECTS)  # what SynFACS-lab and SynFACS-wild hold
    assert set(registered) <= set(REPORTED_SUBJECTS)
    assert not set(REPORTED_SUBJECTS) & set(calibration_people())
    one = calibration_dataset("wild", 1, SIZE)
    reported_ids = {f"wild-{s:04d}" for s in registered}
    assert not set(np.unique(one.subjects)) & reported_ids


def test_calibration_seeds_are_not_reported_seeds():
    assert not set(REPORTED_SEEDS) & set(CALIBRATION_SEEDS)
    scripts = [RESULTS / "run_reference.sh", RESULTS / "run_seed_study.sh"]
    text = "".join(p.read_text() for p in scripts)
    seeds = {int(s) for group in re.findall(r"--(?:seeds|episode-seed) ([\d,]+)", text) for s in group.split(",")}
    assert seeds and seeds <= set(REPORTED_SEEDS)


def test_committed_synfacs_records_use_reported_people_and_seeds_only():
    records = [json.loads(p.read_text()) for p in RESULTS.rglob("records/SynFACS_*/**/*.json")]
    assert records
    for r in records:
        for seed in (r["seed"], r.get("episode_seed", r["seed"])):  # schema 1: one seed drew both
            assert seed in REPORTED_SEEDS and seed not in CALIBRATION_SEEDS, r["record_id"]
        content = r["target_notes"]["content"]
        assert content.get("first_subject", 0) == 0 and content["subjects"] <= len(REPORTED_SUBJECTS), r["record_id"]
