"""Drawing a SynFACS face: a face-frame sketch, projected once, rasterised by PIL at 2x, then domain effects.

Speed matters (the default set is ~18k images, made on first use), so a face
is a list of ~60 PIL primitives whose coordinates all go through one
projection; anti-aliasing is 2x supersampling and one box downsample. The
`wild` domain adds, in this order: clutter behind the head, occluders in front
of it (glasses, a hand, hair strands), then on the small image blur, a
lighting gradient with a colour cast, lower contrast and sensor noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from fsfer_bench.data.synfacs.face import CHEEK, CHIN_BOSS, FOLD_LEFT, FOLD_RIGHT, IRIS, FaceModel, FaceShape, Identity
from fsfer_bench.data.synfacs.geometry import Pose, ellipse, face_depth, project, smooth, unit_circle

SUPERSAMPLE = 2
LIP_RED = (150, 40, 55)
#: Depth given to shapes behind the face plane (hair at the back, shoulders): they turn the other way.
BEHIND = -0.35

Colour = tuple[int, ...]


def _rgb(colour: np.ndarray | tuple) -> Colour:
    return tuple(min(255, max(0, int(v + 0.5))) for v in colour)


def _shade(look: Look, darkness: float, alpha: float) -> Colour:
    """Skin times `darkness`, at opacity alpha (0-255, rounded) over plain skin, premixed.

    Drawing opaque premixed colours instead of blending is faster and leaves no
    darker dots where the segments of a translucent line overlap.
    """
    key = (darkness, min(255, max(0, int(alpha + 0.5))))
    colour = look.shades.get(key)
    if colour is None:
        a = key[1] / 255.0
        colour = look.shades[key] = _rgb([v * (1.0 - a + a * darkness) for v in look.skin_values])
    return colour


def _mix(a: tuple | np.ndarray, b: tuple | np.ndarray, t: float) -> np.ndarray:
    return (1 - t) * np.asarray(a, float) + t * np.asarray(b, float)


@dataclass
class Sketch:
    """Face-frame primitives, drawn by one projection: (kind, first, last, fill, width in output px)."""

    items: list[tuple[str, int, int, Colour, float]] = field(default_factory=list)
    chunks: list[np.ndarray] = field(default_factory=list)
    depths: list[tuple[int, int, float]] = field(default_factory=list)  # fixed depths, for shapes off the face
    count: int = 0

    def add(self, kind: str, points: np.ndarray, fill: Colour, width: float = 0.0, depth: float | None = None) -> None:
        last = self.count + len(points)
        self.items.append((kind, self.count, last, fill, width))
        self.chunks.append(points)
        if depth is not None:
            self.depths.append((self.count, last, depth))
        self.count = last

    def polygon(self, points: np.ndarray, fill: Colour, depth: float | None = None) -> None:
        self.add("polygon", points, fill, depth=depth)

    def line(self, points: np.ndarray, fill: Colour, width: float = 1.0) -> None:
        self.add("line", points, fill, width)

    def pixels(self, pose: Pose, size: int) -> np.ndarray:
        """All points in pixels of a `size` canvas, snapped to 1/16 px so float noise cannot flip a pixel."""
        points = np.concatenate(self.chunks)
        depth = face_depth(points)
        for first, last, value in self.depths:
            depth[first:last] = value
        return np.rint(project(points, depth, pose, size) * 16.0) / 16.0

    def draw(self, canvas: ImageDraw.ImageDraw, pose: Pose, size: int, px_width: float) -> np.ndarray:
        """Draw every primitive; returns the points of the unpainted "points" items, in canvas edge coordinates."""
        # PIL fills polygons in edge coordinates (pixel i spans [i, i + 1)) but rounds line
        # coordinates to pixel centres, so lines move half a pixel to land where polygons do.
        edges = self.pixels(pose, size)
        flat, centred = edges.ravel().tolist(), (edges - 0.5).ravel().tolist()
        marked = []
        for kind, first, last, fill, width in self.items:
            if kind == "polygon":
                canvas.polygon(flat[2 * first : 2 * last], fill=fill)
            elif kind == "line":
                w = max(1, int(round(width * px_width)))
                canvas.line(centred[2 * first : 2 * last], fill=fill, width=w, joint="curve")
            else:
                marked.append(edges[first:last])
        return np.concatenate(marked) if marked else np.empty((0, 2))


@dataclass(frozen=True)
class Look:
    """What a subject looks like beyond geometry: colours and the identity-fixed shapes (hair, ears, body)."""

    skin: np.ndarray
    skin_values: tuple[float, float, float]
    blush: Colour
    lips: Colour
    brow: Colour
    hair: Colour
    iris: Colour
    clothes: Colour
    brow_half: np.ndarray  # (9, 2): half the brow thickness along its curve, as a y offset
    lip_line: Colour
    iris_radius: float
    shapes: dict[str, np.ndarray]
    shades: dict[tuple[float, int], Colour] = field(default_factory=dict, compare=False, repr=False)  # a cache


def make_look(model: FaceModel) -> Look:
    f = model.identity
    skin = np.asarray(f.skin)
    hair = np.asarray(f.hair)
    if f.hair_style == "buzz":
        hair = _mix(hair, skin, 0.45)
    return Look(
        skin=skin,
        skin_values=tuple(float(v) for v in skin),
        blush=_rgb(_mix(skin, (235, 120, 110), 0.35)),
        lips=_rgb(_mix(skin, LIP_RED, 0.55)),
        brow=_rgb(_mix(f.hair, (35, 25, 20), 0.7)),
        hair=_rgb(hair),
        iris=_rgb(f.iris),
        clothes=_rgb(f.clothes),
        brow_half=np.column_stack([np.zeros(9), 0.0325 * f.brow_thickness * BROW_PROFILE]),
        lip_line=_rgb(_mix(_mix(skin, LIP_RED, 0.55), (40, 10, 15), 0.6)),
        iris_radius=0.07 * f.eye_size,
        shapes=_static_shapes(model),
    )


def _static_shapes(model: FaceModel) -> dict[str, np.ndarray]:
    f, p = model.identity, model.neutral
    width, top = p[16, 0], p[72, 1]
    shapes = {
        "shoulders": np.array([(-2.2, 2.4), (-1.8, 1.35), (-0.5, 1.15), (0.5, 1.15), (1.8, 1.35), (2.2, 2.4)]),
        "neck": np.array([(-0.42, 0.4), (0.42, 0.4), (0.46, 1.5), (0.0, 1.62), (-0.46, 1.5)]) * (f.face_width, 1),
        "ear_left": ellipse((-width * 0.99, -0.02), 0.11, 0.2, 12),
        "ear_right": ellipse((width * 0.99, -0.02), 0.11, 0.2, 12),
    }
    outer = _hair_outer(width, top, f.hair_volume)
    shapes["hair_front"] = np.concatenate([outer, _hairline(width, f)])
    if f.hair_style == "long":
        shoulder = np.array([(width + 0.3, 1.45), (-width - 0.3, 1.45)])
        shapes["hair_back"] = np.concatenate([outer, shoulder])
    if f.hair_style == "bun":
        shapes["bun"] = ellipse((f.parting * 0.3, top - f.hair_volume - 0.12), 0.27, 0.22, 16)
    return shapes


def _hair_outer(width: float, top: float, volume: float) -> np.ndarray:
    """The outline of the hair over the skull, from the left temple over the top to the right one."""
    circle = unit_circle(24)
    upper = circle[circle[:, 1] <= 0]  # y up is negative
    upper = upper[np.argsort(upper[:, 0], kind="stable")]
    half_height = -0.1 - top + volume
    arc = upper * (width + 0.06 + 0.5 * volume, half_height) + (0, -0.1)
    return np.concatenate([[(-width - 0.05, 0.0)], arc, [(width + 0.05, 0.0)]])


def _hairline(width: float, f: Identity) -> np.ndarray:
    """Where hair meets forehead, from the right temple back to the left one."""
    x = np.linspace(width * 0.98, -width * 0.98, 13)
    low = f.hair_style == "fringe"
    centre = -0.55 if low else f.hairline
    if f.hair_style == "buzz":
        centre = -1.0
    reach = np.abs(x - 0.25 * f.parting) / width
    y = centre + (-0.25 - centre) * np.clip(reach, 0, 1) ** 3
    if low:
        y = y + 0.05 * (np.arange(13) % 2)
    return np.concatenate([[(width + 0.02, -0.05)], np.column_stack([x, y]), [(-width - 0.02, -0.05)]])


# ---------------------------------------------------------------------------------------- the face


def sketch_face(look: Look, shape: FaceShape, gaze: np.ndarray) -> Sketch:
    """Every primitive of one face, back to front, in the face frame."""
    sk = Sketch()
    _body(sk, look)
    _head(sk, look, shape)
    _eyes(sk, look, shape, gaze)
    _brows(sk, look, shape)
    _nose(sk, look, shape)
    _mouth(sk, look, shape)
    _wrinkles(sk, look, shape)
    _hair_front(sk, look)
    return sk


def _body(sk: Sketch, look: Look) -> None:
    s = look.shapes
    sk.polygon(s["shoulders"], look.clothes, depth=BEHIND)
    if "hair_back" in s:
        sk.polygon(s["hair_back"], look.hair, depth=BEHIND)
    sk.polygon(s["neck"], _shade(look, 0.82, 255), depth=0.0)
    for ear in ("ear_left", "ear_right"):
        sk.polygon(s[ear], _shade(look, 0.93, 255), depth=0.0)


def _head(sk: Sketch, look: Look, shape: FaceShape) -> None:
    p, marks = shape.points, shape.marks
    outline = np.concatenate([p[0:17], p[68:77]])
    sk.polygon(smooth(outline, 2, closed=True), _shade(look, 1.0, 0))
    for side, cheek in enumerate(CHEEK):
        raise_ = marks["crows_feet"][side]
        blush = _rgb(_mix(look.skin_values, look.blush, (30 + 60 * raise_) / 255))
        sk.polygon(ellipse(p[cheek], 0.18, 0.12, 12), blush)
        if raise_ > 0.05:  # the raised cheek: a lit bulge with a shadow under it
            sk.polygon(ellipse(p[cheek] + (0, -0.02), 0.12, 0.07, 10), _shade(look, 1.15, 160 * raise_))
            under = p[cheek] + np.array([(-0.17, 0.05), (0.0, 0.13), (0.17, 0.05)])
            sk.line(smooth(under, 3), _shade(look, 0.6, 200 * raise_), 1.2)
    for side, fold in enumerate((FOLD_LEFT, FOLD_RIGHT)):
        depth = marks["fold"][side]
        sk.line(smooth(p[list(fold)], 3), _shade(look, 0.5, 30 + 200 * depth), 0.6 + 1.2 * depth)


def _eyes(sk: Sketch, look: Look, shape: FaceShape, gaze: np.ndarray) -> None:
    p = shape.points
    skin, dark = _shade(look, 1.0, 0), _shade(look, 0.25, 255)
    for side, (corner, iris) in enumerate(((36, IRIS[0]), (42, IRIS[1]))):
        ring = p[corner : corner + 6]
        if side == 1:  # walk the right eye outer corner first too, so both go outer -> upper -> inner -> lower
            ring = ring[[3, 2, 1, 0, 5, 4]]
        upper, lower = ring[:4], np.concatenate([ring[3:], ring[:1]])
        sk.polygon(smooth(ring, 2, closed=True), (238, 236, 230))
        radius = look.iris_radius
        centre = p[iris] + gaze * radius
        sk.polygon(ellipse(centre, radius, radius, 12), look.iris)
        sk.polygon(ellipse(centre, 0.42 * radius, 0.42 * radius, 8), (15, 12, 12))
        sk.polygon(np.concatenate([upper, upper[::-1] + (0, -2.2 * radius)]), skin)  # lid skin hides the iris
        sk.polygon(np.concatenate([lower, lower[::-1] + (0, 2.0 * radius)]), skin)
        sk.line(smooth(upper, 2), dark, 1.1)
        sk.line(smooth(lower, 2), _shade(look, 0.55, 255), 0.6)
        sk.line(smooth(upper[1:3] + (0, -0.045), 2), _shade(look, 0.6, 110), 0.6)  # lid crease


def _brows(sk: Sketch, look: Look, shape: FaceShape) -> None:
    p = shape.points
    for brow in (p[17:22], p[26:21:-1]):  # outer end first, as BROW_PROFILE is
        curve = smooth(brow, 2)
        sk.polygon(np.concatenate([curve - look.brow_half, (curve + look.brow_half)[::-1]]), look.brow)


#: Brow thickness from the outer end to the inner one, at the 9 points of the smoothed brow curve.
BROW_PROFILE = np.interp(np.linspace(0, 4, 9), np.arange(5), [0.5, 0.85, 1.0, 1.0, 0.9])


def _nose(sk: Sketch, look: Look, shape: FaceShape) -> None:
    p = shape.points
    shade = _shade(look, 0.55, 110)
    sk.line(smooth(p[28:31] + (0.05, 0.0), 2), _shade(look, 0.7, 70), 0.8)
    sk.line(smooth(p[31:36], 3), shade, 0.9)
    for wing, sign in ((31, 1), (35, -1)):
        crease = p[wing] + np.array([(0.02 * sign, 0.01), (-0.012 * sign, -0.025), (0.01 * sign, -0.06)])
        sk.line(smooth(crease, 2), shade, 0.7)
    for nostril in (32, 34):
        sk.polygon(ellipse(p[nostril] + (0, -0.012), 0.033, 0.015, 8), _shade(look, 0.35, 200))


def _mouth(sk: Sketch, look: Look, shape: FaceShape) -> None:
    p = shape.points
    sk.polygon(smooth(p[48:60], 2, closed=True), look.lips)
    upper, lower = p[[60, 61, 62, 63, 64]], p[[60, 67, 66, 65, 64]]
    gap = lower[:, 1] - upper[:, 1]
    if gap.max() > 0.012:
        _open_mouth(sk, p, upper, lower, gap)
    sk.line(smooth(upper, 2), look.lip_line, 0.9)
    _lip_and_chin_marks(sk, look, shape)


def _open_mouth(sk: Sketch, p: np.ndarray, upper: np.ndarray, lower: np.ndarray, gap: np.ndarray) -> None:
    """The dark cavity, upper teeth hanging from the upper lip, and lower teeth once the jaw drops far."""
    sk.polygon(smooth(p[60:68], 2, closed=True), (45, 12, 18))
    teeth = upper.copy()
    teeth[:, 1] += np.minimum(0.08, 0.85 * gap)
    sk.polygon(np.concatenate([upper, teeth[::-1]]), (242, 240, 230))
    if gap.max() > 0.09:
        bottom = lower.copy()
        bottom[:, 1] -= np.minimum(0.04, 0.3 * gap)
        sk.polygon(np.concatenate([lower, bottom[::-1]]), (225, 222, 212))


def _lip_and_chin_marks(sk: Sketch, look: Look, shape: FaceShape) -> None:
    """AU24's bulge over pressed lips; AU17's chin boss under a deep mentolabial furrow."""
    p, press, chin = shape.points, shape.marks["lip_press"].mean(), shape.marks["chin"].mean()
    if press > 0.05:
        sk.line(smooth(p[[49, 51, 53]] + (0, -0.04), 2), _shade(look, 0.5, 200 * press), 1.0)
    if chin > 0.05:
        boss = p[CHIN_BOSS]
        sk.polygon(ellipse(boss + (0, 0.03), 0.15, 0.08, 10), _shade(look, 0.78, 200 * chin))
        sk.polygon(ellipse(boss + (0, 0.05), 0.08, 0.04, 8), _shade(look, 1.1, 200 * chin))
    sk.line(smooth(p[57] + MENTOLABIAL, 2), _shade(look, 0.5, 40 + 200 * chin), 0.8 + 0.6 * chin)


MENTOLABIAL = np.array([(-0.11, 0.07), (0.0, 0.1), (0.11, 0.07)])  # the furrow under the lower lip, from point 57


def _wrinkles(sk: Sketch, look: Look, shape: FaceShape) -> None:
    _forehead(sk, look, shape)
    _eye_marks(sk, look, shape)
    _nose_marks(sk, look, shape)


def _line_colour(look: Look, strength: float) -> Colour:
    return _shade(look, 0.45, 230 * strength)


def _forehead(sk: Sketch, look: Look, shape: FaceShape) -> None:
    """AU1 lines over the inner brows, AU2 lines over the outer ones, AU4's furrow between them."""
    p, m = shape.points, shape.marks
    inner = m["forehead_inner"].mean()
    if inner > 0.05:
        top = min(p[21, 1], p[22, 1])
        for k in range(3):
            y = top - 0.12 - 0.075 * k
            sk.line(
                smooth(np.array([(-0.27, y + 0.025), (0, y), (0.27, y + 0.025)]), 2), _line_colour(look, inner), 1.0
            )
    for side, (a, b) in enumerate(((17, 20), (26, 23))):
        outer = m["forehead_outer"][side]
        if outer > 0.05:
            for k in range(3):
                sk.line(p[[a, b]] + (0, -0.12 - 0.075 * k), _line_colour(look, outer), 1.0)
    furrow = m["furrow"].mean()
    if furrow > 0.05:
        centre = 0.5 * (p[21] + p[22])
        sk.polygon(ellipse(centre + (0, 0.02), 0.11, 0.09, 10), _shade(look, 0.8, 200 * furrow))
        for x in (-0.045, 0.045):
            line = np.array([centre + (x, -0.07), centre + (x * 0.7, 0.09)])
            sk.line(line, _line_colour(look, furrow), 1.0)


def _eye_marks(sk: Sketch, look: Look, shape: FaceShape) -> None:
    """AU6's crow's feet at the outer corners, AU7's tense line under the lower lid."""
    p, m = shape.points, shape.marks
    for side in (0, 1):
        corner, out = (p[36], -1) if side == 0 else (p[45], 1)
        crow = m["crows_feet"][side]
        if crow > 0.05:
            for dy in (-0.07, 0.0, 0.07):
                sk.line(np.array([corner + (0.03 * out, 0), corner + (0.13 * out, dy)]), _line_colour(look, crow), 0.8)
        tension = m["lid_tension"][side]
        if tension > 0.05:
            lid = p[[39, 40, 41, 36]] if side == 0 else p[[42, 47, 46, 45]]
            sk.line(smooth(lid + (0, 0.04), 2), _line_colour(look, tension), 1.0)


def _nose_marks(sk: Sketch, look: Look, shape: FaceShape) -> None:
    """AU9: a wrinkled, shadowed nose bridge."""
    p, wrinkle = shape.points, shape.marks["nose_wrinkle"].mean()
    if wrinkle > 0.05:
        sk.polygon(ellipse(p[27] + (0, 0.06), 0.1, 0.08, 10), _shade(look, 0.8, 200 * wrinkle))
        for k in range(3):
            y = p[27, 1] + 0.02 + 0.045 * k
            sk.line(np.array([(-0.09, y + 0.015), (0.0, y), (0.09, y + 0.015)]), _line_colour(look, wrinkle), 0.9)


def _hair_front(sk: Sketch, look: Look) -> None:
    sk.polygon(look.shapes["hair_front"], look.hair)
    if "bun" in look.shapes:
        sk.polygon(look.shapes["bun"], look.hair)


# ---------------------------------------------------------------------------------------- scenes


@dataclass(frozen=True)
class Scene:
    """Everything about one image that is not the face: background, occluders, camera and light."""

    background: Colour
    clutter: list[tuple[str, list[float], Colour]] = field(default_factory=list)
    occluders: list[tuple[str, np.ndarray, Colour]] = field(default_factory=list)
    blur: float = 0.0
    light: tuple[float, float, float] = (0.0, 0.0, 0.0)  # gradient along x, along y, overall offset
    cast: tuple[float, float, float] = (1.0, 1.0, 1.0)
    contrast: float = 1.0
    noise: float = 0.0  # standard deviation, in grey levels
    noise_offset: tuple[int, int] = (0, 0)  # where this image's window of the noise tile starts, in pixels


LAB_BACKGROUNDS = ((228, 228, 226), (200, 206, 214), (236, 232, 222), (186, 190, 186))


def lab_scene(rng: np.random.Generator) -> Scene:
    """Frontal studio: a plain background, even light."""
    return Scene(background=LAB_BACKGROUNDS[int(rng.integers(len(LAB_BACKGROUNDS)))])


def wild_scene(rng: np.random.Generator, look: Look, size: int) -> Scene:
    """Anywhere: clutter, occluders, uneven coloured light, blur, noise, low contrast."""
    u = rng.random(12)
    base = 60 + 150 * rng.random(3)
    clutter = _clutter(rng, base, int(rng.integers(6, 13)))
    return Scene(
        background=_rgb(base),
        clutter=clutter,
        occluders=_occluders(rng, look),
        blur=float(0.6 * max(0.0, 2 * u[0] - 1) ** 2),  # half the images sharp, most others nearly so
        light=(0.3 * (u[1] - 0.5), 0.2 * (u[2] - 0.5), 20 * (u[3] - 0.5)),
        cast=tuple(0.94 + 0.12 * u[4:7]),
        contrast=float(0.7 + 0.25 * u[7]),
        noise=float(1.5 + 4.5 * u[8]),
        noise_offset=(int(rng.integers(size)), int(rng.integers(size))),
    )


def _clutter(rng: np.random.Generator, base: np.ndarray, count: int) -> list[tuple[str, list[float], Colour]]:
    """Rectangles, ellipses and triangles in colours around the background's, in image fractions."""
    kinds = rng.integers(0, 3, count)
    corners = rng.random((count, 6)) * 1.2 - 0.1
    sizes = 0.1 + 0.6 * rng.random((count, 2))
    colours = base + 70 * (rng.random((count, 3)) - 0.5)
    shapes = []
    for kind, corner, extent, colour in zip(kinds, corners, sizes, colours):
        box = np.concatenate([corner[:2], corner[:2] + extent]) if kind < 2 else corner
        shapes.append((("rectangle", "ellipse", "polygon")[kind], box.tolist(), _rgb(colour)))
    return shapes


def _occluders(rng: np.random.Generator, look: Look) -> list[tuple[str, np.ndarray, Colour]]:
    u = rng.random(8)
    out = []
    if u[0] < 0.25:
        tint = u[1] < 0.3
        out.append(("sunglasses" if tint else "glasses", rng.random(2), _rgb(20 + 60 * rng.random(3))))
    if u[2] < 0.15:
        skin = _mix(look.skin, 255 * rng.random(3), 0.15)
        out.append(("hand", rng.random(4), _rgb(skin)))
    if u[3] < 0.15:
        out.append(("strands", rng.random(8), look.hair))
    return out


def sketch_occluders(sk: Sketch, scene: Scene, shape: FaceShape) -> None:
    p = shape.points
    for kind, params, colour in scene.occluders:
        if kind in ("glasses", "sunglasses"):
            _glasses(sk, p, params, colour, kind == "sunglasses")
        elif kind == "hand":
            _hand(sk, params, colour)
        else:
            _strands(sk, p, params, colour)


def _glasses(sk: Sketch, p: np.ndarray, params: np.ndarray, colour: Colour, tinted: bool) -> None:
    rx, ry = 0.2 + 0.05 * params[0], 0.13 + 0.05 * params[1]
    centres = [p[36:42].mean(axis=0), p[42:48].mean(axis=0)]
    for c in centres:
        rim = ellipse(c, rx, ry, 16)
        if tinted:
            sk.polygon(rim, (25, 25, 30))
        sk.line(np.concatenate([rim, rim[:1]]), colour, 1.0)
    sk.line(np.array([centres[0] + (rx, -0.02), (0, centres[0][1] - 0.05), centres[1] + (-rx, -0.02)]), colour, 1.0)


def _hand(sk: Sketch, params: np.ndarray, colour: Colour) -> None:
    centre = np.array([-0.9 + 1.8 * params[0], 0.5 + 0.7 * params[1]])
    sk.polygon(ellipse(centre, 0.34, 0.3, 14), colour, depth=0.8)
    lean = -0.3 + 0.6 * params[2]
    for k in range(4):
        base = centre + (-0.24 + 0.16 * k, -0.1)
        tip = base + (lean + 0.05 * (k - 1.5), -0.45 - 0.1 * params[3] - 0.06 * (k in (1, 2)))
        direction = (tip - base) / np.hypot(*(tip - base))
        side = np.array([-direction[1], direction[0]]) * 0.065
        sk.polygon(np.array([base - side, tip - side, tip + side, base + side]), colour, depth=0.8)
    sk.line(np.array([centre + (-0.2, 0.05), centre + (0.15, 0.0)]), _rgb(np.asarray(colour) * 0.7), 0.7)


def _strands(sk: Sketch, p: np.ndarray, params: np.ndarray, colour: Colour) -> None:
    top = p[72]
    for k in range(3 + int(params[0] * 4)):
        x = -0.7 + 1.4 * params[1 + k % 7]
        curve = np.array([(x * 0.6, top[1] + 0.1), (x, -0.5), (x + 0.15 * (params[k % 8] - 0.5), 0.2)])
        sk.line(smooth(curve, 3), colour, 1.0 + 1.2 * params[(k + 3) % 8])


# ---------------------------------------------------------------------------------------- pixels


def render(
    look: Look, shape: FaceShape, pose: Pose, scene: Scene, size: int, gaze: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One (size, size, 3) uint8 image of `shape` as `look` in `scene`, and its 68 landmarks.

    Landmarks are in output-pixel coordinates with pixel centres at integers,
    exactly where they were drawn.
    """
    canvas_size = size * SUPERSAMPLE
    image = Image.new("RGB", (canvas_size, canvas_size), scene.background)
    canvas = ImageDraw.Draw(image)
    _draw_clutter(canvas, scene, canvas_size)
    sk = sketch_face(look, shape, gaze)
    sketch_occluders(sk, scene, shape)
    sk.add("points", shape.landmarks, (0, 0, 0))
    points = sk.draw(canvas, pose, canvas_size, px_width=SUPERSAMPLE * size / 64.0) / SUPERSAMPLE - 0.5
    image = image.reduce(SUPERSAMPLE)
    if scene.blur > 0:
        image = image.filter(ImageFilter.BoxBlur(scene.blur * size / 64.0))
    pixels = np.asarray(image)
    return (_camera(pixels, scene, size) if scene.noise > 0 else pixels), points


def _draw_clutter(canvas: ImageDraw.ImageDraw, scene: Scene, size: int) -> None:
    for kind, box, colour in scene.clutter:
        coords = [v * size for v in box]
        if kind == "rectangle":
            canvas.rectangle(coords, fill=colour)
        elif kind == "ellipse":
            canvas.ellipse(coords, fill=colour)
        else:
            canvas.polygon(coords, fill=colour)


def _camera(pixels: np.ndarray, scene: Scene, size: int) -> np.ndarray:
    """A lighting gradient with a colour cast, lower contrast, sensor noise: the wild camera."""
    ramp = _ramp(size)
    gx, gy, offset = (np.float32(v) for v in scene.light)
    light = np.float32(scene.contrast) * (np.float32(1.0) + gx * ramp[None, :] + gy * ramp[:, None])
    gain = np.empty((size, size, 3), np.float32)
    for channel, cast in enumerate(scene.cast):  # per channel: broadcasting over a last axis of 3 is slow
        gain[:, :, channel] = light * np.float32(cast)
    out = pixels * gain
    dy, dx = scene.noise_offset
    out += _noise_tile(size)[dy : dy + size, dx : dx + size] * np.float32(scene.noise / NOISE_SCALE)
    out += np.float32(128.0 * (1.0 - scene.contrast)) + offset + np.float32(0.5)  # + 0.5: the cast truncates
    return np.clip(out, 0, 255, out=out).astype(np.uint8)


@lru_cache(maxsize=4)
def _ramp(size: int) -> np.ndarray:
    return np.linspace(-1.0, 1.0, size, dtype=np.float32)


NOISE_SCALE = 32.0


@lru_cache(maxsize=4)
def _noise_tile(size: int) -> np.ndarray:
    """Gaussian noise (std NOISE_SCALE, int8) twice the image size; an image takes a window at a random offset.

    Windows of one fixed tile are far cheaper than fresh noise per image, and
    read the same on every machine.
    """
    noise = np.random.default_rng(20140415).standard_normal((2 * size, 2 * size, 3)) * NOISE_SCALE
    tile = np.clip(np.rint(noise), -127, 127).astype(np.int8)
    tile.setflags(write=False)
    return tile
