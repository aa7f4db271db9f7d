"""The task spec grammar: round trips, canonical forms and errors that name the value."""

import pytest

from distill.tasks import TaskSpec


@pytest.mark.parametrize(
    "text",
    [
        "digits",
        "mnist:classes=0-4:transform=noise0.3:size=16:n_train=3000:n_test=2000:seed=1",
        "mnist:classes=0,2,7",
        "mnist:classes=0-9:n_train=1000:n_val=1000:n_test=2000",
        "mnist:classes=0-2,7,9",
        "digits:transform=rotate-15.5:val_fraction=0.2",
        "digits:transform=invert:val_fraction=0",
        "npz:path=/data/x.npz:classes=1,2",
        r"folder:path=C:\data\images:size=32",
        "digits:norm=none",
        "mnist:size=16:norm=0.1307/0.3081",
        "npz:path=/data/rgb.npz:norm=0.485,0.456,0.406/0.229,0.224,0.225",
        "digits:color=rgb",
        "glyphs:fonts=system:classes=0-9:size=16:color=gray:n_train=1000",
        "shapes:background=plain:data_seed=3:classes=0,2:transform=rotate30",
    ],
)
def test_spec_round_trip(text):
    spec = TaskSpec.parse(text)
    assert str(spec) == text
    assert TaskSpec.parse(str(spec)) == spec


def test_spec_parse_values_and_canonical_form():
    spec = TaskSpec.parse("mnist: seed=1 :classes=4,2,3:transform=rotate:size=16")
    assert spec == TaskSpec("mnist", classes=(2, 3, 4), transform="rotate30", size=16, seed=1)
    assert str(spec) == "mnist:classes=2-4:transform=rotate30:size=16:seed=1"
    assert str(TaskSpec("digits", transform="noise0.30")) == "digits:transform=noise0.3"
    assert str(TaskSpec("digits", transform="blur")) == "digits:transform=blur1"
    assert str(TaskSpec("digits", transform="downsample")) == "digits:transform=downsample2"
    assert str(TaskSpec("digits", classes=[0, 1])) == "digits:classes=0,1"
    assert TaskSpec.parse("digits:classes=0-4").classes == (0, 1, 2, 3, 4)


@pytest.mark.parametrize(
    "text, match",
    [
        ("mnist:colour=red", r"unknown key 'colour'; valid keys: path, classes, transform, size"),
        ("mnist:size=abc", r"'size' must be an integer; got 'abc'"),
        ("mnist:size=0", r"'size' must be an integer >= 1; got 0"),
        ("mnist:n_train=-5", r"'n_train' must be an integer >= 1"),
        ("mnist:seed=-1", r"'seed' must be an integer >= 0"),
        ("mnist:val_fraction=1", r"'val_fraction' must be a number in \[0, 1\); got 1.0"),
        ("mnist:val_fraction=x", r"'val_fraction' must be a number; got 'x'"),
        ("mnist:classes=a-b", r"'classes' must be labels like '0-4'"),
        ("mnist:classes=4-0", r"'classes' must be labels like '0-4'"),
        ("mnist:classes=3", r"at least two distinct labels"),
        ("mnist:classes=1,1", r"at least two distinct labels"),
        ("mnist:transform=swirl", r"unknown domain transform 'swirl'; valid: blur, downsample, invert, noise, rotate"),
        ("mnist:transform=invert2", r"'invert' transform takes no parameter; got 2"),
        ("mnist:transform=noise-1", r"'noise' transform's parameter must be a number >= 0; got -1"),
        ("mnist:transform=blur0", r"'blur' transform's parameter must be a number > 0"),
        ("mnist:transform=downsample0.5", r"must be a number >= 1"),
        ("mnist:transform=rotate 30 x", r"must be a name and an optional number"),
        ("mnist:size=8:size=16", r"'size' is given twice"),
        ("mnist:size", r"'size' is not KEY=VALUE"),
        ("imagenet", r"unknown task source 'imagenet'; valid: .*digits.*mnist"),
        ("npz", r"'npz' source needs a path"),
        ("mnist:path=/x.npz", r"'mnist' source takes no path"),
        ("mnist:norm=imagenet", r"'norm' must be 'train', 'none' or MEAN/STD per channel.*got 'imagenet'"),
        ("mnist:norm=0.5/0", r"'norm' must be .*positive stds\); got '0.5/0'"),
        ("mnist:norm=0.5,0.5/0.2", r"'norm' must be .*got '0.5,0.5/0.2'"),
        ("mnist:color=blue", r"'color' must be one of \{gray, rgb\}; got 'blue'"),
        ("mnist:fonts=system", r"unknown key 'fonts'; valid keys: path, .*, norm, color$"),
        ("shapes:background=grass", r"'background' must be one of \{clutter, texture, plain\}; got 'grass'"),
        ("shapes:data_seed=1.5", r"'data_seed' must be an integer >= 0; got '1.5'"),
        ("shapes:data_seed=1:data_seed=2", r"'data_seed' is given twice"),
    ],
)
def test_spec_errors_name_the_value_and_what_is_allowed(text, match):
    with pytest.raises(ValueError, match=match):
        TaskSpec.parse(text)


def test_source_options_are_canonical_and_left_out_at_their_default():
    spec = TaskSpec("shapes", classes=(0, 1), options={"data_seed": 2, "background": "clutter"})
    assert spec.options == (("data_seed", 2),) and str(spec) == "shapes:data_seed=2:classes=0,1"
    assert spec == TaskSpec.parse("shapes:classes=0,1:background=clutter:data_seed=2")
    assert spec.option("background") == "clutter" and spec.option("data_seed") == 2
    assert TaskSpec("shapes", options=[("background", "plain")]).id_text == "shapes:background=plain"
    with pytest.raises(
        ValueError, match=r"the 'shapes' source takes no option 'fonts'; its options: background, data_seed"
    ):
        TaskSpec("shapes", options={"fonts": "system"})
    with pytest.raises(ValueError, match=r"the 'digits' source takes no option 'x'; its options: none"):
        TaskSpec("digits").option("x")
    assert hash(spec) == hash(TaskSpec.parse(str(spec)))


def test_declared_options_do_not_shadow_the_common_keys():
    from dataclasses import fields

    from distill.tasks import TASK_SOURCES

    common = {f.name for f in fields(TaskSpec)}
    for name in TASK_SOURCES:
        assert not common & {o.name for o in TASK_SOURCES.get(name).options}, name
