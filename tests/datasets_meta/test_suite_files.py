"""Suite files: colour modes and source options expand into task specs, and every shipped suite loads."""

from pathlib import Path

import pytest

from datasets_meta.suite import Suite

SUITES = Path(__file__).resolve().parents[2] / "datasets_meta" / "suites"


def _suite(**group):
    return Suite.from_dict({"name": "t", "groups": [{"source": "shapes", "teachers": ["cnn-s"], **group}]})


def test_colors_and_options_expand_into_the_task_specs_and_tags():
    suite = _suite(colors=["gray", "rgb"], options=["background=plain"], size=16, teachers_per_task=1)
    specs = [(spec, tags["color"]) for spec, _, tags in suite.pairs()]
    assert specs == [
        ("shapes:background=plain:size=16:color=gray", "gray"),
        ("shapes:background=plain:size=16:color=rgb", "rgb"),
    ]


def test_a_group_without_colors_keeps_the_specs_and_tags_of_earlier_suites():
    (spec, _, tags), *_ = Suite.load(SUITES / "meta_v1.toml").pairs()
    assert spec == "mnist:classes=0-4:size=12:n_train=500:n_test=2000"
    assert "color" not in tags


@pytest.mark.parametrize(
    ("group", "message"),
    [
        ({"colors": ["grey"]}, "'color' must be one of {gray, rgb}; got 'grey'"),
        ({"options": ["background=sky"]}, "background"),
        ({"options": ["nokey"]}, "is not KEY=VALUE"),
    ],
)
def test_a_bad_colour_or_option_is_refused_when_the_suite_loads(group, message):
    with pytest.raises(ValueError, match="groups\\[0\\]") as e:
        _suite(teachers_per_task=1, **group)
    assert message in str(e.value)


@pytest.mark.parametrize("path", sorted(SUITES.rglob("*.toml")), ids=lambda p: p.stem)
def test_every_shipped_suite_loads(path):
    assert Suite.load(path).pairs()
