"""The transformer group of meta-dataset v2 (issue 24): part 4's suites draw vision-transformer students with the
attention-relation recipes, pair every task with a transformer and a CNN teacher, measure a noise ceiling in every
family, and reuse the tasks and CNN teachers parts 1-3 already trained (read from the teacher cache)."""

from pathlib import Path

import pytest

from datasets_meta.collector import _replicate_pairs
from datasets_meta.suite import Suite
from distill.genome import get_space

META_V2 = Path(__file__).resolve().parents[2] / "datasets_meta" / "suites" / "meta_v2"
VIT_PARTS = {"part4_vit.toml": "vit", "part4_vit_32px.toml": "vit-wide"}
EARLIER_PARTS = ("part1_16px.toml", "part2_32px.toml", "part3_12px.toml")
FAMILIES = {"glyphs", "shapes", "textures", "fractals", "mnist", "digits"}


@pytest.mark.parametrize(("part", "space"), VIT_PARTS.items())
def test_a_vit_part_draws_transformer_students_with_attention_relation_recipes(part, space):
    suite = Suite.load(META_V2 / part)
    assert suite.space == space and get_space(space).family.name == "vit"
    assert "attn_relation" in get_space(space).hint_transforms


def test_the_vit_parts_cover_every_family_and_pair_each_task_with_a_transformer_and_a_cnn_teacher():
    sources = set()
    for part in VIT_PARTS:
        teachers_of: dict[str, set[str]] = {}
        for spec, teacher, tags in Suite.load(META_V2 / part).pairs():
            teachers_of.setdefault(spec, set()).add(teacher)
            sources.add(tags["source"])
        for spec, teachers in teachers_of.items():
            assert any(t.startswith("vit-") for t in teachers), spec
            assert any(not t.startswith("vit-") for t in teachers), spec
    assert sources == FAMILIES


@pytest.mark.parametrize("part", VIT_PARTS)
def test_every_family_and_domain_of_a_vit_part_has_a_replicated_pair(part):
    suite = Suite.load(META_V2 / part)
    families = {(tags["source"], tags["domain"]) for _, _, tags in suite.pairs()}
    replicated = _replicate_pairs(suite)
    by_pair = {(spec, teacher): tags for spec, teacher, tags in suite.pairs()}
    assert {(by_pair[p]["source"], by_pair[p]["domain"]) for p in replicated} == families


@pytest.mark.parametrize("part", VIT_PARTS)
def test_a_vit_part_reuses_the_tasks_and_cnn_teachers_of_the_earlier_parts(part):
    earlier = {(spec, teacher) for p in EARLIER_PARTS for spec, teacher, _ in Suite.load(META_V2 / p).pairs()}
    for spec, teacher, _ in Suite.load(META_V2 / part).pairs():
        assert spec in {s for s, _ in earlier}, spec
        if not teacher.startswith("vit-"):  # its teacher is already trained and cached
            assert (spec, teacher) in earlier, (spec, teacher)
