"""Part 9 of meta-dataset v2: the `aerial` family, laid out as parts 5 and 8 are."""

from pathlib import Path

from datasets_meta.collector import _replicate_pairs
from datasets_meta.suite import Suite
from distill.teachers import zoo_names

PART9 = Path(__file__).resolve().parents[2] / "datasets_meta" / "suites" / "meta_v2" / "part9_aerial.toml"


def test_part9_draws_aerial_tasks_with_every_cnn_teacher_family_and_a_replicated_pair():
    suite = Suite.load(PART9)
    pairs = suite.pairs()
    assert {tags["source"] for _, _, tags in pairs} == {"aerial"}
    assert len({spec for spec, _, _ in pairs}) == len(pairs) == 10  # one teacher per task
    assert {":size=12:" in spec for spec, _, _ in pairs} == {True, False}
    assert {":color=rgb:" in spec for spec, _, _ in pairs} == {True, False}
    families = {teacher.split("-")[0] for _, teacher, _ in pairs}
    assert families == {name.split("-")[0] for name in zoo_names()} - {"vit"}
    assert len(_replicate_pairs(suite)) >= 1  # the noise ceiling needs one
