"""Drawing SynFACS faces: anti-aliased faces, plain lab scenes, degraded wild ones."""

from __future__ import annotations

import numpy as np

from fsfer_bench.data.synfacs.aus import AUS, au_vector
from fsfer_bench.data.synfacs.face import FaceModel, Identity, sample_identity
from fsfer_bench.data.synfacs.geometry import Pose
from fsfer_bench.data.synfacs.render import (
    LAB_BACKGROUNDS,
    Scene,
    lab_scene,
    make_look,
    render,
    sketch_face,
    wild_scene,
)

POSE = Pose(scale=0.5, centre=(0.5, 0.45))
GAZE = np.zeros(2)


def _face(aus: dict[int, float] | None = None, identity: Identity | None = None, scene: Scene | None = None):
    model = FaceModel(identity or Identity())
    look = make_look(model)
    shape = model.shape(au_vector(aus or {}))
    return render(look, shape, POSE, scene or Scene(background=(200, 200, 200)), 64, GAZE)


def test_lab_scene_is_plain_and_noise_free():
    scene = lab_scene(np.random.default_rng(0))
    assert scene.background in LAB_BACKGROUNDS
    image, _ = _face(scene=scene)
    assert tuple(image[0, 0]) == scene.background  # the corner is background, untouched by noise or light


def test_wild_scene_degrades_the_image():
    look = make_look(FaceModel(Identity()))
    scenes = [wild_scene(np.random.default_rng(i), look, 64) for i in range(40)]
    assert all(s.noise > 0 and s.contrast < 1 and s.clutter for s in scenes)
    assert any(s.occluders for s in scenes) and not all(s.occluders for s in scenes)
    clean, _ = _face()
    wild, _ = _face(scene=scenes[0])
    assert wild.std() < clean.std() * 1.5  # lower contrast, not more
    assert np.abs(wild.astype(int) - clean).mean() > 5


def test_edges_are_anti_aliased():
    model = FaceModel(Identity())
    small = Pose(scale=0.3, centre=(0.5, 0.5))
    image, _ = render(make_look(model), model.shape(np.zeros(len(AUS))), small, Scene((0, 0, 0)), 64, GAZE)
    row = image[32].astype(int).sum(axis=1)  # black, then the face outline, then skin
    skin = int(np.rint(Identity().skin).sum())
    first = int(np.flatnonzero(row > 0)[0])
    assert 0 < row[first] < skin - 60  # the outline pixel is a blend of background and skin


def test_open_mouth_shows_dark_cavity_and_teeth():
    closed, points = _face()
    opened, points_open = _face({25: 1.0, 26: 1.0})
    x, y = np.rint((points_open[62] + points_open[66]) / 2).astype(int)
    assert opened[y, x].sum() < closed[y, x].sum() - 150
    assert (opened.sum(axis=2) > 640).any()  # white teeth


def test_landmarks_track_the_drawn_brows():
    image, points = _face()
    x, y = np.rint(points[19]).astype(int)
    brow = image[y, x].astype(int).sum()
    forehead = image[y - 4, x].astype(int).sum()
    assert brow < forehead - 100


def test_every_identity_renders():
    for seed in range(12):
        model = FaceModel(sample_identity(np.random.default_rng(seed)))
        image, _ = render(make_look(model), model.shape(np.zeros(len(AUS))), POSE, Scene((90, 90, 90)), 32, GAZE)
        assert image.shape == (32, 32, 3) and image.std() > 10


def test_a_face_is_a_few_dozen_primitives():
    model = FaceModel(Identity())
    sketch = sketch_face(make_look(model), model.shape(au_vector({1: 1, 2: 1, 6: 1, 9: 1, 25: 1})), GAZE)
    assert 30 < len(sketch.items) < 120  # speed: every primitive costs a PIL call per image
