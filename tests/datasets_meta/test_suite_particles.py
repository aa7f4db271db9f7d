"""Parts 5 and 6 of meta-dataset v2: the `particles` family, its tasks at 12 and 16 px (part 5) and at 32 px (part 6)
with teachers of every CNN zoo family and a replicated pair for its noise ceiling."""

from pathlib import Path

from datasets_meta.collector import _replicate_pairs
from datasets_meta.suite import Suite
from distill.teachers import zoo_names

PART5 = Path(__file__).resolve().parents[2] / "datasets_meta" / "suites" / "meta_v2" / "part5_particles.toml"


def test_part5_draws_particles_tasks_with_every_teacher_family_and_a_replicated_pair():
    suite = Suite.load(PART5)
    pairs = suite.pairs()
    assert {tags["source"] for _, _, tags in pairs} == {"particles"}
    assert len({spec for spec, _, _ in pairs}) == len(pairs) == 10  # one teacher per task
    assert {":size=12:" in spec for spec, _, _ in pairs} == {True, False}
    families = {teacher.split("-")[0] for _, teacher, _ in pairs}
    assert families == {name.split("-")[0] for name in zoo_names()} - {"vit"}  # the CNN teachers; part 4 has the ViTs
    assert len(_replicate_pairs(suite)) >= 1  # the noise ceiling needs one


PART6 = PART5.with_name("part6_particles_32px.toml")


def test_part6_draws_particles_tasks_at_32px_with_wide_students_and_a_replicated_pair():
    suite = Suite.load(PART6)
    pairs = suite.pairs()
    assert {tags["source"] for _, _, tags in pairs} == {"particles"}
    assert all(":size=32:" in spec for spec, _, _ in pairs)
    assert len({spec for spec, _, _ in pairs}) == len(pairs) == 6  # one teacher per task
    assert suite.space == "wide"  # students sized for 32x32 inputs, as in part 2
    assert {teacher.split("-")[0] for _, teacher, _ in pairs} == {"cnn", "resnet", "vgg", "mobilenet"}
    assert len(_replicate_pairs(suite)) >= 1
