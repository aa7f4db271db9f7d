"""The shapes source: coloured geometric shapes on cluttered, textured or plain backgrounds."""

import pytest

from distill.tasks import TaskSpec, load_task
from distill.tasks.sources.shapes import SHAPE_NAMES


def test_contract_and_class_names(check_generated):
    raw = check_generated("shapes:classes=0-11:n_train=24:n_test=12", num_classes=12)
    assert list(raw.class_names) == list(SHAPE_NAMES) and len(SHAPE_NAMES) >= 10


@pytest.mark.parametrize("background", ["clutter", "texture", "plain"])
def test_every_background(background, draw):
    raw = draw(f"shapes:background={background}:classes=0,7:n_train=6:n_test=2")
    corners = raw.x_train[:, :4, :4].reshape(6, -1, 3)
    spread = corners.std(axis=1).max()
    assert (spread == 0) if background == "plain" else (spread > 0)


def test_background_option_and_its_errors():
    assert str(TaskSpec.parse("shapes:background=clutter")) == "shapes"
    assert TaskSpec.parse("shapes:background=plain").option("background") == "plain"
    assert TaskSpec.parse("shapes").option("background") == "clutter"
    with pytest.raises(ValueError, match=r"'background' must be one of \{clutter, texture, plain\}; got 'grass'"):
        TaskSpec.parse("shapes:background=grass")
    with pytest.raises(ValueError, match=r"'data_seed' must be an integer >= 0; got -1"):
        TaskSpec.parse("shapes:data_seed=-1")
    with pytest.raises(ValueError, match=r"the 'digits' source takes no option 'background'; its options: none"):
        TaskSpec("digits", options={"background": "plain"})


def test_shapes_are_told_apart_by_a_nearest_class_mean(nearest_mean_accuracy):
    task = load_task("shapes:background=plain:n_train=400:n_test=200:size=16:color=gray:norm=none:val_fraction=0")
    accuracy = nearest_mean_accuracy(*(t.numpy() for t in (task.x_train, task.y_train, task.x_test, task.y_test)))
    assert accuracy > 0.25  # chance: 0.1
