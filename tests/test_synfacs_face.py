"""The SynFACS face model: each AU moves what FACS says it moves, in the right direction, and nothing else.

Geometry is checked in the face frame (y down, one unit about half a face
width), on an average identity, one AU at full intensity against neutral.
The table below is written from FACS (Ekman, Friesen & Hager 2002), not copied
from the implementation: `moves` are points that must travel at least MIN_MOVE
in the given direction, `region` is everything the AU may touch at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from fsfer_bench.data.synfacs.aus import AU_NAMES, AUS, au_vector
from fsfer_bench.data.synfacs.face import (
    CHEEK,
    CHIN_BOSS,
    FOLD_LEFT,
    FOLD_RIGHT,
    MIRROR,
    N_POINTS,
    FaceModel,
    Identity,
    neutral_points,
    sample_identity,
)

MIN_MOVE = 0.03  # face units: about 1 px at 64 px, at full intensity
TOLERANCE = 1e-9  # points outside an AU's region must not move at all

UP, DOWN, IN, OUT = "up", "down", "in", "out"
BROWS = set(range(17, 27))
INNER_BROWS = {19, 20, 21, 22, 23, 24}
UPPER_LIDS, LOWER_LIDS = {37, 38, 43, 44}, {40, 41, 46, 47}
NOSTRILS = set(range(31, 36))
MOUTH = set(range(48, 68))
UPPER_LIP = {49, 50, 51, 52, 53, 61, 62, 63}
FOLDS = set(FOLD_LEFT) | set(FOLD_RIGHT)
JAW = set(range(3, 14))


@dataclass(frozen=True)
class Facs:
    moves: dict[int, tuple[str, ...]]
    region: set[int]


FACS = {
    1: Facs({21: (UP,), 22: (UP,), 20: (UP,), 23: (UP,)}, INNER_BROWS),
    2: Facs({17: (UP,), 26: (UP,), 18: (UP,), 25: (UP,)}, BROWS),
    4: Facs({21: (DOWN, IN), 22: (DOWN, IN), 19: (DOWN,), 24: (DOWN,)}, BROWS),
    5: Facs({37: (UP,), 38: (UP,), 43: (UP,), 44: (UP,)}, UPPER_LIDS),
    6: Facs({40: (UP,), 41: (UP,), 46: (UP,), 47: (UP,), CHEEK[0]: (UP,), CHEEK[1]: (UP,)}, LOWER_LIDS | set(CHEEK)),
    7: Facs({40: (UP,), 41: (UP,), 46: (UP,), 47: (UP,)}, LOWER_LIDS | UPPER_LIDS),
    9: Facs(
        {31: (UP,), 35: (UP,), 33: (UP,), 21: (DOWN,), 22: (DOWN,)}, NOSTRILS | {29, 30, 21, 22} | UPPER_LIP | FOLDS
    ),
    10: Facs({50: (UP,), 51: (UP,), 52: (UP,), 62: (UP,)}, UPPER_LIP | NOSTRILS | FOLDS),
    11: Facs({FOLD_LEFT[1]: (OUT,), FOLD_RIGHT[1]: (OUT,)}, FOLDS | {49, 53}),
    12: Facs({48: (UP, OUT), 54: (UP, OUT), 60: (UP, OUT), 64: (UP, OUT)}, MOUTH | FOLDS),
    15: Facs({48: (DOWN,), 54: (DOWN,), 60: (DOWN,), 64: (DOWN,)}, MOUTH | FOLDS),
    17: Facs({8: (UP,), 57: (UP,), CHIN_BOSS: (UP,)}, JAW | MOUTH | {CHIN_BOSS}),
    20: Facs({48: (OUT,), 54: (OUT,), 60: (OUT,), 64: (OUT,)}, MOUTH | FOLDS),
    23: Facs({51: (DOWN,), 57: (UP,), 48: (IN,), 54: (IN,)}, MOUTH),
    24: Facs({51: (DOWN,), 57: (UP,), 50: (DOWN,), 58: (UP,)}, MOUTH),
    25: Facs({66: (DOWN,), 57: (DOWN,), 62: (UP,)}, MOUTH),
    26: Facs({8: (DOWN,), 7: (DOWN,), 9: (DOWN,), 57: (DOWN,), 66: (DOWN,)}, JAW | MOUTH | FOLDS | {CHIN_BOSS}),
}

#: Appearance marks each AU must raise (wrinkles, bulges, fold depth).
MARKS = {1: "forehead_inner", 2: "forehead_outer", 4: "furrow", 6: "crows_feet", 7: "lid_tension", 9: "nose_wrinkle"}
MARKS |= {11: "fold", 17: "chin", 24: "lip_press"}


def test_every_au_has_an_expectation():
    assert set(FACS) == set(AUS)


@pytest.fixture(scope="module")
def model() -> FaceModel:
    return FaceModel(Identity())


def _direction(name: str, point: np.ndarray) -> np.ndarray:
    towards_midline = np.array([-np.sign(point[0]), 0.0])
    return {UP: np.array([0.0, -1.0]), DOWN: np.array([0.0, 1.0]), IN: towards_midline, OUT: -towards_midline}[name]


@pytest.mark.parametrize("au", AUS, ids=[f"AU{a} {AU_NAMES[a]}" for a in AUS])
def test_au_moves_what_facs_says_and_nothing_else(model: FaceModel, au: int):
    neutral = model.shape(np.zeros(len(AUS)))
    moved = model.shape(au_vector({au: 1.0}))
    delta = moved.points - neutral.points
    for point, directions in FACS[au].moves.items():
        for name in directions:
            travel = float(delta[point] @ _direction(name, neutral.points[point]))
            assert travel >= MIN_MOVE, f"AU{au}: point {point} moved {travel:.3f} {name}, wanted >= {MIN_MOVE}"
    outside = np.setdiff1d(np.arange(N_POINTS), sorted(FACS[au].region))
    still = np.abs(delta[outside]).max(axis=1)
    assert still.max() <= TOLERANCE, f"AU{au} moved point {outside[still.argmax()]}, outside its FACS region"
    if au in MARKS:
        assert (moved.marks[MARKS[au]] > neutral.marks[MARKS[au]] + 0.3).all()


def test_au1_raises_inner_brows_more_than_outer(model: FaceModel):
    delta = model.shape(au_vector({1: 1.0})).points - model.neutral
    assert -delta[21, 1] > -delta[17, 1] + MIN_MOVE


def test_au2_raises_outer_brows_more_than_inner(model: FaceModel):
    delta = model.shape(au_vector({2: 1.0})).points - model.neutral
    assert -delta[17, 1] > -delta[21, 1] + MIN_MOVE


def test_au7_narrows_the_eye_and_au5_widens_it(model: FaceModel):
    def opening(aus: dict[int, float]) -> float:
        p = model.shape(au_vector(aus)).points
        return float(p[41, 1] - p[37, 1])

    assert opening({7: 1.0}) < opening({}) - MIN_MOVE < opening({5: 1.0}) - 2 * MIN_MOVE


def test_au25_parts_the_lips_but_leaves_the_jaw(model: FaceModel):
    p = model.shape(au_vector({25: 1.0})).points
    assert p[66, 1] - p[62, 1] > 0.05
    np.testing.assert_allclose(p[:17], model.neutral[:17])


def test_au20_widens_and_au23_narrows_the_mouth(model: FaceModel):
    def width(aus: dict[int, float]) -> float:
        p = model.shape(au_vector(aus)).points
        return float(p[54, 0] - p[48, 0])

    assert width({23: 1.0}) < width({}) < width({20: 1.0}) - 2 * MIN_MOVE


def test_intensity_scales_the_movement(model: FaceModel):
    half = model.shape(au_vector({12: 0.5})).points - model.neutral
    full = model.shape(au_vector({12: 1.0})).points - model.neutral
    np.testing.assert_allclose(2 * half, full, atol=1e-12)


def test_au24_presses_parted_lips_together(model: FaceModel):
    def gap(aus: dict[int, float]) -> float:
        p = model.shape(au_vector(aus)).points
        return float(p[66, 1] - p[62, 1])

    assert gap({25: 1.0, 24: 1.0}) < gap({25: 1.0}) - MIN_MOVE


def test_lips_pressed_together_never_cross(model: FaceModel):
    p = model.shape(au_vector({24: 1.0, 17: 1.0, 23: 1.0})).points
    for upper, lower in ((61, 67), (62, 66), (63, 65)):
        assert p[lower, 1] >= p[upper, 1]


def test_asymmetry_moves_one_side_only(model: FaceModel):
    left = model.shape(au_vector({12: 1.0}), np.zeros(len(AUS))).points - model.neutral
    assert abs(left[48]).max() > MIN_MOVE  # the left corner (image left) moves
    assert abs(left[54]).max() == 0.0  # the right one does not


def test_neutral_face_is_symmetric_and_ordered():
    p = neutral_points(Identity())
    np.testing.assert_allclose(p[MIRROR] * (-1, 1), p, atol=1e-12)
    assert p[0, 0] < p[8, 0] < p[16, 0]  # the jaw runs image left to right
    assert p[36, 0] < p[39, 0] < p[42, 0] < p[45, 0]  # iBUG eye order
    assert p[19, 1] < p[37, 1] < p[30, 1] < p[51, 1] < p[57, 1] < p[8, 1]  # brows, eyes, nose, lips, chin


def test_identities_differ_and_are_reproducible():
    a = sample_identity(np.random.default_rng(1))
    b = sample_identity(np.random.default_rng(1))
    c = sample_identity(np.random.default_rng(2))
    assert a == b
    assert a != c
    assert not np.allclose(neutral_points(a), neutral_points(c))
