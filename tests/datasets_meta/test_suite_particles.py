"""Part 5 of meta-dataset v2: the `particles` family, its tasks at 12 and 16 px with teachers of every zoo family and
a replicated pair for its noise ceiling."""

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
