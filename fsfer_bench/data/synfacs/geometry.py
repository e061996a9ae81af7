"""Curves, circles, depth and pose: the small exact-arithmetic geometry the renderer needs.

Everything here uses only +, -, *, / and sqrt, which IEEE 754 rounds the same
way on every machine, so that the same seed draws the same pixels anywhere:
circles and rotations come from the rational parametrisation
cos = (1 - t^2) / (1 + t^2), sin = 2t / (1 + t^2) instead of np.sin / np.cos,
whose last bits differ between libm and SIMD builds.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np


def cos_sin(t: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """(cos a, sin a) for a = 2 * atan(t), exactly rounded arithmetic only."""
    t = np.asarray(t, dtype=float)
    d = 1.0 + t * t
    return (1.0 - t * t) / d, 2.0 * t / d


@lru_cache(maxsize=8)
def unit_circle(n: int) -> np.ndarray:
    """(n, 2) points around the unit circle, evenly enough spaced for small polygons."""
    t = np.linspace(-1.0, 1.0, n // 2 + 1)[:-1]  # a = 2 atan(t) sweeps -90..90 degrees: the right half
    half = np.stack(cos_sin(t), axis=1)
    circle = np.concatenate([half, -half])
    circle.setflags(write=False)
    return circle


def ellipse(centre: np.ndarray, rx: float, ry: float, n: int = 16) -> np.ndarray:
    return np.asarray(centre) + unit_circle(n) * (rx, ry)


@lru_cache(maxsize=64)
def _catmull_rom(n: int, k: int, closed: bool) -> np.ndarray:
    """The (m, n) matrix that samples a Catmull-Rom spline through n points, k samples per span."""
    spans = n if closed else n - 1
    u = np.arange(k) / k
    basis = 0.5 * np.stack([-(u**3) + 2 * u**2 - u, 3 * u**3 - 5 * u**2 + 2, -3 * u**3 + 4 * u**2 + u, u**3 - u**2])
    rows = []
    for span in range(spans):
        for j in range(k):
            row = np.zeros(n)
            for w, offset in zip(basis[:, j], (-1, 0, 1, 2)):
                i = span + offset
                row[i % n if closed else min(max(i, 0), n - 1)] += w
            rows.append(row)
    if not closed:
        last = np.zeros(n)
        last[-1] = 1.0
        rows.append(last)
    matrix = np.array(rows)
    matrix.setflags(write=False)
    return matrix


def smooth(points: np.ndarray, k: int = 3, closed: bool = False) -> np.ndarray:
    """A smooth curve through `points` (Catmull-Rom), k samples per segment."""
    return _catmull_rom(len(points), k, closed) @ points


def face_depth(points: np.ndarray) -> np.ndarray:
    """Depth (towards the camera) of face-frame points: a rounded head with a nose and lips standing out."""
    x, y = points[:, 0], points[:, 1]
    dome = np.sqrt(np.clip(1.0 - (x / 1.15) ** 2 - (np.clip(np.abs(y + 0.1) - 0.7, 0.0, None) / 1.4) ** 2, 0, 1))
    nose = (x / 0.12) ** 2 + ((y - 0.2) / 0.25) ** 2
    lips = (x / 0.3) ** 2 + ((y - 0.65) / 0.12) ** 2
    return 0.55 * dome + 0.3 / (1.0 + nose) ** 2 + 0.05 / (1.0 + lips) ** 2


@dataclass(frozen=True)
class Pose:
    """Head pose as rational rotation parameters (t = tan(angle / 2)), and placement in the image.

    `scale` is output pixels per face unit divided by the image size, `centre`
    the face-frame origin as a fraction of the image size: both independent of
    the output size, so one pose renders the same face at any resolution.
    """

    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    scale: float = 0.3
    centre: tuple[float, float] = (0.5, 0.5)

    def matrix(self) -> np.ndarray:
        """The 2x3 projection of (x, y, z) face-frame points: yaw, then pitch, then roll, orthographic."""
        (cy, sy), (cp, sp), (cr, sr) = (cos_sin(t) for t in (self.yaw, self.pitch, self.roll))
        yaw = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
        pitch = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
        roll = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
        return (roll @ pitch @ yaw)[:2]


def project(points: np.ndarray, depth: np.ndarray, pose: Pose, size: float) -> np.ndarray:
    """Face-frame points (k, 2) with depths (k,) to pixel coordinates in an image of `size` pixels."""
    xyz = np.column_stack([points, depth])
    return (xyz @ pose.matrix().T) * (pose.scale * size) + np.asarray(pose.centre) * size
