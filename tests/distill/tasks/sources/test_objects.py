"""The objects source: solids ray-cast in a scene, told apart by their silhouette and shading."""

import numpy as np

from distill.tasks import load_task
from distill.tasks.sources.objects import (
    _SOLIDS,
    SOLID_NAMES,
    G,
    _render,
    axis_rotation,
    camera_rays,
    random_pose,
    ray_cast,
)


def test_contract_and_class_names(check_generated):
    raw = check_generated("objects:classes=0-11:n_train=24:n_test=12", num_classes=12)
    assert list(raw.class_names) == list(SOLID_NAMES) and len(SOLID_NAMES) == 12


def test_each_solid_fits_the_unit_sphere_and_its_distance_is_a_bound():
    """Every distance function is negative inside the solid (on a fair share of the central cube: the torus is
    hollow at the centre), positive outside the unit sphere, and never more than
    the true distance to the surface (sphere tracing overshoots otherwise): checked along random rays, where a
    step of the returned distance must not cross the surface."""
    rng = np.random.default_rng(0)
    proportions = np.full(3, 1.15)  # the largest jitter
    outside = rng.standard_normal((3, 500))
    outside *= rng.uniform(1.02, 2.0, 500) / np.linalg.norm(outside, axis=0)
    for name, solid in _SOLIDS.items():
        inside = rng.uniform(-0.5, 0.5, (3, 2000))
        assert (solid(inside, proportions) < 0).mean() > 0.05, f"{name} is (nearly) empty"
        d = solid(outside, proportions)
        assert (d > 0).all(), f"{name} reaches outside the unit sphere"
        # march towards the centre by the returned distance: the point reached is still outside (or on) the solid
        step = outside - outside / np.linalg.norm(outside, axis=0) * d
        assert (solid(step, proportions) > -1e-6).all(), f"{name}: the distance overshoots"


def test_a_sphere_is_a_disc_and_a_cube_shows_flat_faces():
    rays = camera_rays()
    assert rays.shape == (3, G * G) and np.allclose(np.linalg.norm(rays, axis=0), 1.0)
    rotation = random_pose(np.random.default_rng(1))
    assert np.allclose(rotation @ rotation.T, np.eye(3)) and np.isclose(np.linalg.det(rotation), 1.0)
    assert np.allclose(axis_rotation((0, 0, 1), np.pi / 2) @ [1, 0, 0], [0, 1, 0])
    up = np.stack([random_pose(np.random.default_rng(s))[:, 1] for s in range(50)])  # where the object's up goes
    assert (up[:, 1] > np.cos(np.radians(65))).all() and (up[:, 2] < 0.1).mean() > 0.8  # upright, top to the camera
    hit, normal = ray_cast(_SOLIDS["sphere"], np.ones(3), rotation, np.zeros(3), 1.0)
    mask = hit.reshape(G, G)
    ys, xs = np.nonzero(mask)
    # a centred sphere: a disc about the middle, as wide as it is tall
    assert abs(xs.mean() - (G - 1) / 2) < 0.5 and abs(ys.mean() - (G - 1) / 2) < 0.5
    assert abs((xs.max() - xs.min()) - (ys.max() - ys.min())) <= 1
    assert np.allclose(np.linalg.norm(normal[:, hit], axis=0), 1.0, atol=1e-3)
    hit, normal = ray_cast(_SOLIDS["cube"], np.ones(3), rotation, np.zeros(3), 1.0)
    # a cube seen from anywhere shows at most three faces: its normals take few directions (three, and blends at the
    # edges; 9 here), where a sphere's take hundreds (477 in this pose)
    directions = np.unique(np.round(normal[:, hit], 1), axis=1)
    assert hit.sum() > 0.05 * G * G and directions.shape[1] <= 12
    hit, normal = ray_cast(_SOLIDS["sphere"], np.ones(3), rotation, np.zeros(3), 1.0)
    assert np.unique(np.round(normal[:, hit], 1), axis=1).shape[1] > 100


def test_solids_are_told_apart_by_shape_not_colour(nearest_mean_accuracy):
    """The mean colour of an image does not tell the solid (the albedo and the scene are random), its silhouette
    does: the nearest class mean of three numbers of the silhouette (its area and the two spreads along its
    principal axes), over random poses and proportions, is far above chance. Shading adds more; a network sees it."""
    task = load_task("objects:n_train=200:n_test=100:norm=none:val_fraction=0")
    y_train, y_test = task.y_train.numpy(), task.y_test.numpy()
    colour = nearest_mean_accuracy(
        task.x_train.numpy().mean(axis=(2, 3)), y_train, task.x_test.numpy().mean(axis=(2, 3)), y_test
    )
    assert colour < 0.25  # chance: 0.1

    def silhouette(name, rng):
        hit, _ = ray_cast(_SOLIDS[name], rng.uniform(0.85, 1.15, 3), random_pose(rng), np.zeros(3), 1.0)
        ys, xs = np.nonzero(hit.reshape(G, G))
        spreads = np.sqrt(np.linalg.eigvalsh(np.cov(np.stack([xs, ys]))))
        return [np.sqrt(hit.sum()), *spreads]

    rng = np.random.default_rng(3)
    features = {split: ([], []) for split in ("train", "test")}
    for label, name in enumerate(SOLID_NAMES):
        for split, n in (("train", 12), ("test", 8)):
            for _ in range(n):
                features[split][0].append(silhouette(name, rng))
                features[split][1].append(label)
    (x_train, y_train), (x_test, y_test) = ((np.asarray(x), np.asarray(y)) for x, y in features.values())
    scale = x_train.std(axis=0)
    assert nearest_mean_accuracy(x_train / scale, y_train, x_test / scale, y_test) > 0.25  # chance: 1/12


def test_images_differ_by_class_and_draw_alone():
    sphere = _render(SOLID_NAMES.index("sphere"), [np.random.default_rng([7, j]) for j in range(3)])
    torus = _render(SOLID_NAMES.index("torus"), [np.random.default_rng([7, j]) for j in range(3)])
    assert sphere.shape == (3, 32, 32, 3) and sphere.dtype == np.uint8 and not np.array_equal(sphere, torus)
    again = _render(SOLID_NAMES.index("sphere"), [np.random.default_rng([7, 2])])
    assert np.array_equal(again[0], sphere[2])  # image j depends on its own generator alone
