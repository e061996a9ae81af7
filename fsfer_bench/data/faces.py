"""`--face-align`: find the face, fit 68 landmarks, and align the eyes to a template.

This is the FER field's standard preprocessing (dlib's HOG frontal detector and
its iBUG-68 shape predictor). dlib is an optional extra, imported only here and
only when alignment is asked for, so the harness runs without it.

The alignment is a similarity transform (rotation, scale, shift) that puts the
two eye centres where they sit on the mean face of the template below. The
output square is that mean face's landmark box grown by `margin` of its side
(the same convention as `images.square_box`), like dlib's own face chips.
Landmarks are returned in the output image's pixel coordinates.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from fsfer_bench.data.images import Box, DecodeJob, crop_resize, job_box, open_job, run_jobs, to_rgb
from fsfer_bench.errors import DataError

#: Bumped whenever aligned output changes, so cache keys change with it.
ALIGNER_VERSION = "dlib68-1"
INSTALL_HINT = "pip install fsfer-bench[faces]"
#: Images whose short side is below this are upscaled before detection: dlib's
#: detector misses faces under about 80 px (CK+48, FER2013, RAF-DB's 100 px crops).
MIN_DETECT_SIDE = 144

# The mean dlib-68 face of all 1,165 shared CFEE images, in units of the
# inter-ocular distance, eyes level, origin midway between the eye centres:
# the landmarks span x in [-HALF_WIDTH, HALF_WIDTH] and y in [TOP, BOTTOM]
# (eyebrows to chin; y grows downwards).
HALF_WIDTH = 1.13
TOP = -0.40
BOTTOM = 1.84

_RIGHT_EYE = slice(36, 42)  # the subject's right eye: on the image's left
_LEFT_EYE = slice(42, 48)


def predictor_path() -> Path:
    """The 68-landmark model shipped by face-recognition-models, found without importing it.

    Importing that package needs `pkg_resources` (setuptools), which recent
    Pythons no longer have; its spec gives the folder without running it.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"--face-align needs the face-recognition-models package; run: {INSTALL_HINT}")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "models" / "shape_predictor_68_face_landmarks.dat"
        if path.is_file():
            return path
    raise DataError(
        f"face-recognition-models is installed without shape_predictor_68_face_landmarks.dat; "
        f"reinstall it: {INSTALL_HINT}"
    )


def require_dlib() -> None:
    """Fail early, in the parent process, with the install line, if the extra is missing."""
    if importlib.util.find_spec("dlib") is None:
        raise DataError(f"--face-align needs dlib; run: {INSTALL_HINT}")
    predictor_path()


@functools.lru_cache(maxsize=1)
def _models() -> tuple:
    """dlib's detector and shape predictor, loaded once per process (about 1 s)."""
    import dlib

    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(predictor_path()))


def find_landmarks(rgb: np.ndarray, near: Box | None = None) -> np.ndarray | None:
    """The 68 landmarks (x, y) of the face in `rgb`, or None if dlib finds none.

    Of several faces it takes the one whose centre is nearest the centre of
    `near` (a known face box or default crop), else the largest.
    """
    detector, predictor = _models()
    scale = max(1, int(np.ceil(MIN_DETECT_SIDE / min(rgb.shape[:2]))))
    if scale > 1:
        h, w = rgb.shape[:2]
        rgb = np.asarray(Image.fromarray(rgb).resize((w * scale, h * scale), Image.Resampling.BICUBIC))
    faces = list(detector(rgb, 0))
    if not faces:
        return None
    if near is not None:
        cx, cy = (near[0] + near[2] / 2) * scale, (near[1] + near[3] / 2) * scale
        face = min(faces, key=lambda r: (r.center().x - cx) ** 2 + (r.center().y - cy) ** 2)
    else:
        face = max(faces, key=lambda r: r.area())
    shape = predictor(rgb, face)
    points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
    return (points + 0.5) / scale - 0.5  # pixel centres map back exactly


def eye_template(size: int, margin: float) -> tuple[complex, complex]:
    """Where the (image-left, image-right) eye centres go in a `size` x `size` output, as x + iy.

    In the landmarks' convention: pixel centres at integers, so the two eyes
    are symmetric about (size - 1) / 2.
    """
    side = max(2 * HALF_WIDTH, BOTTOM - TOP) * (1 + margin)  # in inter-ocular units
    unit = size / side
    cx, cy = size / 2, size / 2 - (TOP + BOTTOM) / 2 * unit  # continuous coordinates
    return complex(cx - unit / 2 - 0.5, cy - 0.5), complex(cx + unit / 2 - 0.5, cy - 0.5)


def alignment(landmarks: np.ndarray, size: int, margin: float) -> tuple[complex, complex]:
    """The similarity z -> a*z + b taking the eyes to the template.

    It maps continuous image coordinates (a pixel i spans [i, i+1]), in which
    scaling is exact and PIL's transforms are written; landmarks, like dlib's,
    put pixel centres at integers, hence the half-pixel shifts.
    """
    half = 0.5 + 0.5j
    eyes = [complex(*landmarks[part].mean(axis=0)) + half for part in (_RIGHT_EYE, _LEFT_EYE)]
    target = [t + half for t in eye_template(size, margin)]
    a = (target[1] - target[0]) / (eyes[1] - eyes[0])
    return a, target[0] - a * eyes[0]


def map_points(points: np.ndarray, a: complex, b: complex) -> np.ndarray:
    """Landmarks (pixel centres at integers) through the similarity of `alignment`."""
    z = a * (points[:, 0] + 0.5 + 1j * (points[:, 1] + 0.5)) + b - (0.5 + 0.5j)
    return np.stack([z.real, z.imag], axis=1).astype(np.float32)


def warp(img: Image.Image, a: complex, b: complex, size: int) -> np.ndarray:
    """Apply z -> a*z + b to `img`, giving a `size` x `size` RGB array.

    Downscaling is done after the warp with an antialiasing resize, because an
    affine warp samples without a low-pass filter and would alias.
    """
    work = max(size, int(np.ceil(size / abs(a))))  # output side at about source resolution
    inv = size / (a * work)  # PIL maps each output point back to its source
    c = -b / a
    coeffs = (inv.real, -inv.imag, c.real, inv.imag, inv.real, c.imag)
    out = to_rgb(img).transform((work, work), Image.Transform.AFFINE, coeffs, Image.Resampling.BICUBIC)
    if work != size:
        out = out.resize((size, size), Image.Resampling.BICUBIC, reducing_gap=3.0)
    return np.asarray(out, dtype=np.uint8)


def align_image(
    img: Image.Image, size: int, margin: float, box: Box | None = None
) -> tuple[np.ndarray, np.ndarray, bool]:
    """(aligned image, landmarks in its pixels, found). Not found: the default crop and NaN landmarks."""
    img = to_rgb(img)
    points = find_landmarks(np.asarray(img), near=box)
    if points is None:
        return crop_resize(img, box, size), np.full((68, 2), np.nan, np.float32), False
    a, b = alignment(points, size, margin)
    return warp(img, a, b, size), map_points(points, a, b), True


def _align_job(job: DecodeJob, margin: float) -> tuple[np.ndarray, np.ndarray, bool] | str:
    try:
        img = open_job(job)
        return align_image(img, job.size, margin, job_box(job, *img.size))
    except Exception as exc:  # PIL raises many types for broken files
        return f"{type(exc).__name__}: {exc}"


def align_files(
    jobs: Sequence[DecodeJob], *, margin: float, strict: bool = False, workers: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Decode and align `jobs` in parallel: (images, landmarks (N, 68, 2), kept, fallbacks).

    Bad files are skipped or fail as in `images.decode_files`; `fallbacks`
    counts the kept images where no face was found.
    """
    require_dlib()
    if not jobs:
        return np.empty((0, 0, 0, 3), np.uint8), np.empty((0, 68, 2), np.float32), np.empty(0, np.int64), 0
    results, kept = run_jobs(functools.partial(_align_job, margin=margin), jobs, strict=strict, workers=workers)
    size = jobs[0].size
    if not results:
        return np.empty((0, size, size, 3), np.uint8), np.empty((0, 68, 2), np.float32), kept, 0
    images = np.stack([r[0] for r in results])
    landmarks = np.stack([r[1] for r in results])
    return images, landmarks, kept, sum(not r[2] for r in results)
