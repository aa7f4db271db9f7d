"""Parts 8-10 of meta-dataset v2: the `spectra`, `aerial` and `objects` families, each laid out as part 5 is."""

from pathlib import Path

import pytest

from datasets_meta.collector import _replicate_pairs
from datasets_meta.suite import Suite
from distill.teachers import zoo_names

SUITES = Path(__file__).resolve().parents[2] / "datasets_meta" / "suites" / "meta_v2"


@pytest.mark.parametrize(
    "part, source", [("part8_spectra", "spectra"), ("part9_aerial", "aerial"), ("part10_objects", "objects")]
)
def test_the_part_draws_its_family_s_tasks_with_every_cnn_teacher_family_and_a_replicated_pair(part, source):
    suite = Suite.load(SUITES / f"{part}.toml")
    pairs = suite.pairs()
    assert {tags["source"] for _, _, tags in pairs} == {source}
    assert len({spec for spec, _, _ in pairs}) == len(pairs) == 10  # one teacher per task
    assert {":size=12:" in spec for spec, _, _ in pairs} == {True, False}
    assert {":color=rgb:" in spec for spec, _, _ in pairs} == {True, False}
    families = {teacher.split("-")[0] for _, teacher, _ in pairs}
    assert families == {name.split("-")[0] for name in zoo_names()} - {"vit"}
    assert len(_replicate_pairs(suite)) >= 1  # the noise ceiling needs one
