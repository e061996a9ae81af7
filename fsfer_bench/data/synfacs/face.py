"""The SynFACS face model: identity parameters, landmark geometry, and AUs as deformations.

Geometry lives in a face frame: x to the image right, y down, one unit about
half a face width, the eye line near y = -0.12. Points 0-67 are the iBUG-68
landmarks (0 is the jaw end on the image left); extra points follow (forehead
arc, cheeks, nasolabial folds, irises, chin boss). Each AU is a fixed
displacement field over these points, scaled by its intensity, so that AU k
moves exactly the points FACS says it moves and nothing else. A few effects
are not displacements but appearance (wrinkles, crow's feet, fold depth);
they are returned as per-side `marks`.

Asymmetry: every AU has a left and a right intensity; a point takes the
intensity of its side, midline points the mean of both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fsfer_bench.data.synfacs.aus import AU_INDEX, AUS
from fsfer_bench.data.synfacs.geometry import cos_sin

# Extra points after the 68 landmarks.
FOREHEAD = np.arange(68, 77)  # arc from the right temple over the top to the left one
CHEEK = (77, 78)  # left, right (image sides)
FOLD_LEFT, FOLD_RIGHT = (79, 80, 81), (82, 83, 84)  # start by the nose wing, middle, end past the mouth corner
IRIS = (85, 86)
CHIN_BOSS = 87
N_POINTS = 88

JAW, BROWS, NOSE, EYES = np.arange(0, 17), np.arange(17, 27), np.arange(27, 36), np.arange(36, 48)
MOUTH_OUTER, MOUTH_INNER = np.arange(48, 60), np.arange(60, 68)
# Inner-lip pairs (upper, lower) that may touch but never cross.
INNER_LIP_PAIRS = ((61, 67), (62, 66), (63, 65))


def _mirror_table() -> np.ndarray:
    pairs = [(i, 16 - i) for i in range(17)]
    pairs += [(17 + i, 26 - i) for i in range(5)]
    pairs += [(31, 35), (32, 34), (36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]
    pairs += [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58), (60, 64), (61, 63), (65, 67)]
    pairs += [(68 + i, 76 - i) for i in range(4)] + [CHEEK, (79, 82), (80, 83), (81, 84), IRIS]
    table = np.arange(N_POINTS)
    for a, b in pairs:
        table[a], table[b] = b, a
    return table


#: MIRROR[i] is the point that mirrors point i across the midline (itself on the midline).
MIRROR = _mirror_table()

SKIN_TONES = np.array([(240, 208, 182), (224, 182, 150), (204, 156, 122), (184, 136, 104)], float)
HAIR_COLOURS = np.array(
    [(28, 24, 22), (66, 45, 30), (110, 74, 44), (196, 160, 98), (148, 68, 36), (150, 148, 146)], float
)
#: Cumulative shares of the hair colours above: mostly dark, as in most face datasets.
HAIR_SHARES = np.array([0.3, 0.6, 0.8, 0.9, 0.95, 1.0])
IRIS_COLOURS = np.array([(60, 40, 25), (90, 60, 35), (70, 100, 130), (80, 110, 70), (40, 30, 25)], float)
HAIR_STYLES = ("short", "long", "buzz", "fringe", "bun")


@dataclass(frozen=True)
class Identity:
    """What makes one SynFACS subject look like themselves; ratios are around 1."""

    face_width: float = 1.0
    face_height: float = 1.0
    chin_taper: float = 0.25
    eye_spacing: float = 1.0
    eye_size: float = 1.0
    brow_thickness: float = 1.0
    brow_height: float = 1.0
    nose_size: float = 1.0
    mouth_width: float = 1.0
    lip_thickness: float = 1.0
    fold_depth: float = 0.15  # resting nasolabial fold, an age cue
    skin: tuple[float, float, float] = (232.0, 190.0, 160.0)
    hair: tuple[float, float, float] = (66.0, 45.0, 30.0)
    iris: tuple[float, float, float] = (90.0, 60.0, 35.0)
    clothes: tuple[float, float, float] = (60.0, 80.0, 120.0)
    hair_style: str = "short"
    hair_volume: float = 0.1
    hairline: float = -0.82
    parting: float = 0.0


def sample_identity(rng: np.random.Generator) -> Identity:
    """A random subject. Draws happen in a fixed order, so identities are stable across versions of callers."""
    u = rng.random(20)
    skin = _mix(SKIN_TONES, u[10])
    return Identity(
        face_width=0.92 + 0.16 * u[0],
        face_height=0.94 + 0.12 * u[1],
        chin_taper=0.1 + 0.3 * u[2],
        eye_spacing=0.92 + 0.16 * u[3],
        eye_size=0.88 + 0.24 * u[4],
        brow_thickness=0.75 + 0.5 * u[5],
        brow_height=0.88 + 0.24 * u[6],
        nose_size=0.85 + 0.35 * u[7],
        mouth_width=0.88 + 0.24 * u[8],
        lip_thickness=0.75 + 0.5 * u[9],
        skin=skin,
        hair=tuple(HAIR_COLOURS[np.searchsorted(HAIR_SHARES, u[11])]),
        iris=tuple(IRIS_COLOURS[int(u[12] * len(IRIS_COLOURS))]),
        clothes=tuple(40 + 180 * rng.random(3)),
        hair_style=HAIR_STYLES[int(u[13] * len(HAIR_STYLES))],
        hair_volume=0.04 + 0.16 * u[14],
        hairline=-0.95 + 0.25 * u[15],
        parting=-0.3 + 0.6 * u[16],
        fold_depth=0.05 + 0.3 * u[17],
    )


def _mix(anchors: np.ndarray, t: float) -> tuple[float, float, float]:
    position = t * (len(anchors) - 1)
    i = min(int(position), len(anchors) - 2)
    w = position - i
    return tuple((1 - w) * anchors[i] + w * anchors[i + 1])


def neutral_points(identity: Identity) -> np.ndarray:
    """The (N_POINTS, 2) face-frame geometry of `identity` with no AU on."""
    p = np.zeros((N_POINTS, 2))
    _jaw_and_forehead(p, identity)
    _left_eye_and_brow(p, identity)
    _nose(p, identity)
    _mouth(p, identity)
    _cheeks_and_folds(p, identity)
    p[MIRROR[p[:, 0] < 0]] = p[p[:, 0] < 0] * (-1, 1)  # the right half mirrors the left
    p[CHIN_BOSS] = (0.0, 0.5 * (p[57, 1] + p[8, 1]))
    return p


def _jaw_and_forehead(p: np.ndarray, f: Identity) -> None:
    width, top, temple = 0.95 * f.face_width, -1.28 * f.face_height, -0.15
    chin = 1.0 * f.face_height
    c, s = _half_arc(17)
    p[JAW, 0] = -width * c * (1 - f.chin_taper * s**4)
    p[JAW, 1] = temple + (chin - temple) * s
    c, s = _half_arc(9)
    p[FOREHEAD, 0] = width * 1.01 * c
    p[FOREHEAD, 1] = temple + (top - temple) * s


def _half_arc(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(cos a, sin a) for n angles a from 0 to 180 degrees, without platform-dependent trigonometry."""
    cos_b, sin_b = cos_sin(np.linspace(-1.0, 1.0, n))  # b = a - 90 degrees
    return -sin_b, cos_b


def _left_eye_and_brow(p: np.ndarray, f: Identity) -> None:
    cx, cy = -0.36 * f.eye_spacing, -0.12
    w, up, down = 0.18 * f.eye_size, 0.08 * f.eye_size, 0.058 * f.eye_size
    p[36:40] = [(cx - w, cy + 0.01), (cx - 0.4 * w, cy - up), (cx + 0.4 * w, cy - up), (cx + w, cy + 0.012)]
    p[40:42] = [(cx + 0.4 * w, cy + down), (cx - 0.4 * w, cy + down)]
    p[IRIS[0]] = (cx, cy + 0.005)
    brow_y = cy - 0.22 * f.brow_height
    p[17:22, 0] = cx + w * np.array([-1.3, -0.75, -0.1, 0.5, 0.95])
    p[17:22, 1] = brow_y + np.array([0.07, 0.0, -0.02, -0.005, 0.02])


def _nose(p: np.ndarray, f: Identity) -> None:
    length, width = 0.5 * f.nose_size, 0.15 * (0.6 + 0.4 * f.nose_size)
    top = -0.12
    p[27:31, 1] = top + length * np.array([0.0, 0.33, 0.66, 0.95])
    base = top + length * 1.02
    p[31:34] = [(-width, base - 0.03), (-0.5 * width, base + 0.01), (0.0, base + 0.025)]


def _mouth(p: np.ndarray, f: Identity) -> None:
    y, w = 0.6 + 0.05 * (f.face_height - 1), 0.33 * f.mouth_width
    up, down = 0.085 * f.lip_thickness, 0.11 * f.lip_thickness
    p[48:52] = [(-w, y), (-0.6 * w, y - 0.75 * up), (-0.25 * w, y - up), (0.0, y - 0.8 * up)]
    p[57:60] = [(0.0, y + down), (-0.25 * w, y + 0.97 * down), (-0.6 * w, y + 0.75 * down)]
    p[60:63] = [(-0.88 * w, y), (-0.35 * w, y), (0.0, y)]
    p[66:68] = [(0.0, y), (-0.35 * w, y)]


def _cheeks_and_folds(p: np.ndarray, f: Identity) -> None:
    p[CHEEK[0]] = (-0.48 * f.face_width, 0.2)
    wing, corner = p[31], p[48]
    p[FOLD_LEFT[0]] = wing + (-0.05, -0.03)
    p[FOLD_LEFT[1]] = 0.5 * (wing + corner) + (-0.09, 0.0)
    p[FOLD_LEFT[2]] = corner + (-0.07, 0.1)


# Displacements at intensity 1 before AU_GAIN, face units (one unit is about 33 px at 64 px); left half and
# midline only, the right half mirrors them. "Up" is -y; for the left half, "towards the midline" is +x.
AU_MOVES: dict[int, dict[int, tuple[float, float]]] = {
    1: {21: (0, -0.11), 20: (0, -0.07), 19: (0, -0.03)},
    2: {17: (0, -0.11), 18: (0, -0.09), 19: (0, -0.05), 20: (0, -0.02)},
    4: {21: (0.05, 0.08), 20: (0.04, 0.07), 19: (0.03, 0.06), 18: (0.02, 0.05), 17: (0.01, 0.035)},
    5: {37: (0, -0.05), 38: (0, -0.05)},
    6: {40: (0, -0.03), 41: (0, -0.03), CHEEK[0]: (0, -0.09)},
    7: {40: (0, -0.045), 41: (0, -0.045), 37: (0, 0.018), 38: (0, 0.018)},
    9: {31: (-0.01, -0.06), 32: (0, -0.05), 33: (0, -0.045), 30: (0, -0.03), 29: (0, -0.02), 21: (0, 0.035)}
    | {50: (0, -0.02), 51: (0, -0.02), 61: (0, -0.015), 62: (0, -0.015), FOLD_LEFT[0]: (0, -0.05)},
    10: {49: (0, -0.05), 50: (0, -0.075), 51: (0, -0.07), 61: (0, -0.06), 62: (0, -0.055), 31: (0, -0.02)}
    | {FOLD_LEFT[0]: (0, -0.03), FOLD_LEFT[1]: (0, -0.03)},
    11: {FOLD_LEFT[1]: (-0.03, -0.02), FOLD_LEFT[0]: (-0.01, -0.01), 49: (0, -0.015)},
    12: {48: (-0.08, -0.1), 60: (-0.07, -0.095), 49: (-0.035, -0.045), 59: (-0.04, -0.06), 58: (0, -0.02)}
    | {61: (-0.01, -0.02), 67: (-0.01, -0.025), FOLD_LEFT[2]: (-0.06, -0.06), FOLD_LEFT[1]: (-0.03, -0.02)},
    15: {48: (0.01, 0.065), 60: (0.01, 0.06), 59: (0, 0.035), 49: (0, 0.025), 67: (0, 0.02), 61: (0, 0.02)}
    | {FOLD_LEFT[2]: (0.01, 0.05)},
    17: {7: (0, -0.035), 8: (0, -0.05), 6: (0, -0.02), 58: (0, -0.03), 57: (0, -0.035), 59: (0, -0.01)}
    | {48: (0, 0.015), 67: (0, -0.01), 66: (0, -0.012), 61: (0, -0.01), 62: (0, -0.012), CHIN_BOSS: (0, -0.07)},
    20: {48: (-0.08, 0.015), 60: (-0.075, 0.015), 49: (-0.04, 0.005), 59: (-0.04, 0), 61: (-0.02, 0)}
    | {67: (-0.02, 0), 50: (0, 0.01), 51: (0, 0.01), 58: (0, -0.01), 57: (0, -0.01), FOLD_LEFT[2]: (-0.04, 0.01)},
    23: {48: (0.035, 0), 60: (0.03, 0), 49: (0.015, 0.025), 50: (0, 0.03), 51: (0, 0.03), 59: (0.015, -0.03)}
    | {58: (0, -0.035), 57: (0, -0.035)},
    24: {48: (0.01, 0), 60: (0.01, 0), 50: (0, 0.025), 51: (0, 0.025), 49: (0, 0.015), 58: (0, -0.03)}
    | {57: (0, -0.03), 59: (0, -0.02), 61: (0, 0.02), 62: (0, 0.02), 67: (0, -0.02), 66: (0, -0.02)},
    25: {61: (0, -0.02), 62: (0, -0.025), 67: (0, 0.05), 66: (0, 0.06), 59: (0, 0.035), 58: (0, 0.045)}
    | {57: (0, 0.045), 50: (0, -0.01), 51: (0, -0.01)},
    26: {3: (0, 0.02), 4: (0, 0.05), 5: (0, 0.085), 6: (0, 0.11), 7: (0, 0.13), 8: (0, 0.14), 48: (0, 0.035)}
    | {60: (0, 0.035), 59: (0, 0.09), 58: (0, 0.11), 57: (0, 0.12), 67: (0, 0.1), 66: (0, 0.11)}
    | {CHIN_BOSS: (0, 0.13), FOLD_LEFT[2]: (0, 0.03)},
}

#: Posed expressions (CK+, CFEE) are exaggerated; so are SynFACS's, so that a 64 px image shows them.
AU_GAIN = 2.0

# Appearance effects: per-side mark = sum of weight * AU intensity (clipped to [0, 1]).
MARKS: dict[str, dict[int, float]] = {
    "forehead_inner": {1: 1.0},  # horizontal lines above the inner brows
    "forehead_outer": {2: 1.0},
    "furrow": {4: 1.0, 9: 0.3},  # vertical lines between the brows
    "crows_feet": {6: 1.0},
    "lid_tension": {7: 1.0},
    "nose_wrinkle": {9: 1.0},
    "fold": {11: 0.6, 10: 0.35, 12: 0.45, 9: 0.3, 6: 0.2},
    "chin": {17: 1.0},
    "lip_press": {24: 1.0, 23: 0.5},
}


def _displacement_fields(identity: Identity) -> np.ndarray:
    """(len(AUS), N_POINTS, 2): where each point goes per unit of each AU, for this face's proportions."""
    fields = np.zeros((len(AUS), N_POINTS, 2))
    scale = np.array([identity.face_width, identity.face_height])
    for au, moves in AU_MOVES.items():
        field = fields[AU_INDEX[au]]
        for point, (dx, dy) in moves.items():
            field[point] = (dx, dy)
            field[MIRROR[point]] = (-dx, dy)
    fields *= scale * AU_GAIN
    fields[AU_INDEX[5]] *= identity.eye_size
    return fields


def _side_weights(points: np.ndarray) -> np.ndarray:
    """How much each point follows the left-side intensities (1) versus the right (0)."""
    return np.clip(0.5 - points[:, 0] / 0.1, 0.0, 1.0)


@dataclass(frozen=True)
class FaceShape:
    """One posed expression in the face frame: points, and per-side appearance marks."""

    points: np.ndarray  # (N_POINTS, 2)
    marks: dict[str, np.ndarray]  # name -> (2,) [left, right] in [0, 1]

    @property
    def landmarks(self) -> np.ndarray:
        return self.points[:68]


class FaceModel:
    """One subject's face: the neutral geometry and the AU displacement fields, built once."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.neutral = neutral_points(identity)
        self.fields = _displacement_fields(identity)
        self.left_weight = _side_weights(self.neutral)

    def shape(self, au_left: np.ndarray, au_right: np.ndarray | None = None) -> FaceShape:
        """The geometry for AU intensities (len(AUS),) on each side (the right defaults to the left)."""
        au_left = np.clip(au_left, 0.0, 1.0)
        au_right = au_left if au_right is None else np.clip(au_right, 0.0, 1.0)
        w = self.left_weight
        per_point = au_left[:, None] * w + au_right[:, None] * (1.0 - w)  # (AUS, N_POINTS)
        points = self.neutral + np.einsum("ap,apd->pd", per_point, self.fields)
        _close_lips(points)
        levels = MARK_MATRIX @ np.stack([au_left, au_right], axis=1)  # (marks, 2)
        levels[MARK_NAMES.index("fold")] += self.identity.fold_depth
        levels = np.minimum(levels, 1.0)
        return FaceShape(points, dict(zip(MARK_NAMES, levels)))


def _mark_matrix() -> np.ndarray:
    matrix = np.zeros((len(MARKS), len(AUS)))
    for row, weights in enumerate(MARKS.values()):
        for au, weight in weights.items():
            matrix[row, AU_INDEX[au]] = weight
    return matrix


MARK_NAMES = list(MARKS)
MARK_MATRIX = _mark_matrix()


def _close_lips(points: np.ndarray) -> None:
    """Lips that are pushed together meet at a line instead of passing through each other."""
    for upper, lower in INNER_LIP_PAIRS:
        if points[lower, 1] < points[upper, 1]:
            points[[upper, lower], 1] = 0.5 * (points[upper, 1] + points[lower, 1])
