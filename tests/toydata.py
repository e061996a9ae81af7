"""A tiny in-memory dataset and split for tests that need data but not faces.

Each class has a fixed random pattern, each person a pattern of their own, and
each image noise; compound classes mix two basic patterns, so that what a model
learns on the basic classes transfers to the compound ones, as in the real task.
"""

from __future__ import annotations

import numpy as np

from fsfer_bench.data.dataset import FaceDataset, make_dataset
from fsfer_bench.data.options import LoadOptions
from fsfer_bench.data.vocabulary import BASIC_WITH_NEUTRAL
from fsfer_bench.registry import register_dataset
from fsfer_bench.splits import Split, register_split

TOY_COMPOUND = ("happily_surprised", "sadly_angry", "fearfully_surprised", "appalled", "awed", "hatred")
_MIXES = {
    "happily_surprised": ("happy", "surprised"),
    "sadly_angry": ("sad", "angry"),
    "fearfully_surprised": ("fearful", "surprised"),
    "appalled": ("disgusted", "angry"),
    "awed": ("surprised", "neutral"),
    "hatred": ("angry", "disgusted"),
}


def make_toy(
    name: str, classes: tuple[str, ...], *, subjects: int = 10, per_class: int = 2, size: int = 32,
    seed: int = 0, subject_offset: int = 0, identity_strength: float = 0.6,
) -> FaceDataset:  # fmt: skip
    pattern_rng = np.random.default_rng(1234)  # the same class patterns in every toy dataset
    basic = {c: pattern_rng.normal(size=(size, size, 3)) for c in BASIC_WITH_NEUTRAL}
    patterns = {c: basic[c] if c in basic else (basic[_MIXES[c][0]] + basic[_MIXES[c][1]]) / 1.4 for c in classes}
    rng = np.random.default_rng(seed)
    images, labels, people = [], [], []
    for s in range(subjects):
        identity = rng.normal(size=(size, size, 3)) * identity_strength
        for c in classes:
            for _ in range(per_class):
                x = patterns[c] + identity + rng.normal(size=(size, size, 3)) * 0.8
                images.append(np.clip(127 + 30 * x, 0, 255).astype(np.uint8))
                labels.append(c)
                people.append(f"p{s + subject_offset:03d}")
    return make_dataset(name, np.stack(images), labels, subjects=people)


def register_toys(size: int = 32, subjects: int = 30) -> None:
    """Register Toy-train (7 basic classes), Toy-test (6 compound) and the split Toy_C."""

    def train(_root, options: LoadOptions) -> FaceDataset:
        return make_toy("Toy-train", BASIC_WITH_NEUTRAL, subjects=subjects, size=size, seed=1)

    def test(_root, options: LoadOptions) -> FaceDataset:
        return make_toy("Toy-test", TOY_COMPOUND, subjects=subjects, size=size, seed=2, subject_offset=100)

    register_dataset("Toy-train", layout="in memory", source="tests", needs_files=False)(train)
    register_dataset("Toy-test", layout="in memory", source="tests", needs_files=False)(test)
    register_split(Split("Toy_C", "Toy-test", TOY_COMPOUND, ("Toy-train",), "toy compound split for tests"))
