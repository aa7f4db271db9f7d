"""The glyphs source: letters from matplotlib's bundled fonts (or the machine's), warped and painted."""

from pathlib import Path

import numpy as np
import pytest

from distill.tasks import TaskSpec, load_task
from distill.tasks.sources import glyphs


def test_contract_and_class_names(check_generated):
    raw = check_generated("glyphs:classes=0-4:n_train=15:n_test=6", num_classes=5)
    assert raw.class_names[:10] == list("ABCDEFGHIJ") and len(raw.class_names) == 26
    assert load_task("glyphs:classes=0,25:n_train=4:n_test=2").class_names == ["A", "Z"]


def test_bundled_fonts_are_matplotlibs_letter_faces():
    fonts = glyphs.font_files("bundled")
    assert [Path(f).name for f in fonts] == list(glyphs.BUNDLED_FONTS)
    assert all(glyphs._has_letters(f) for f in fonts)


def test_font_option_and_its_errors():
    assert str(TaskSpec.parse("glyphs:fonts=bundled")) == "glyphs"  # the default is left out of the name
    assert str(TaskSpec.parse("glyphs:fonts=all:size=16")) == "glyphs:fonts=all:size=16"
    with pytest.raises(ValueError, match=r"'fonts' must be one of \{bundled, system, all\}; got 'comic'"):
        TaskSpec.parse("glyphs:fonts=comic")
    with pytest.raises(ValueError, match=r"unknown key 'font'; valid keys: .*, color, fonts, data_seed"):
        TaskSpec.parse("glyphs:font=system")


def test_system_fonts_change_the_id_when_there_are_any():
    if not glyphs.font_files("all")[len(glyphs.BUNDLED_FONTS) :]:
        pytest.skip("this machine has no system fonts with the letters A-Z")
    spec = "glyphs:classes=0,1:n_train=4:n_test=2"
    assert load_task(f"{spec}:fonts=all").id != load_task(spec).id


def test_letters_are_told_apart_by_a_nearest_class_mean(nearest_mean_accuracy):
    task = load_task("glyphs:n_train=400:n_test=200:size=16:color=gray:norm=none:val_fraction=0")
    accuracy = nearest_mean_accuracy(*(t.numpy() for t in (task.x_train, task.y_train, task.x_test, task.y_test)))
    assert accuracy > 0.25  # chance: 0.1


def test_letters_are_darker_than_their_background(draw):
    raw = draw("glyphs:classes=0,8:n_train=20:n_test=2")
    gray = raw.x_train.astype(float) @ [0.299, 0.587, 0.114]
    center, border = gray[:, 12:20, 12:20].min(axis=(1, 2)), np.median(gray[:, [0, -1], :], axis=(1, 2))
    assert (center < border).all()
