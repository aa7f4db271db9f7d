"""What the genome code computes is pinned (see tests/data/make_golden_genomes.py): the same genomes from the
same random draws, the same JSON, hashes, search vectors, one-hot features and parameter counts."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from distill.genome import SPACES, Genome, get_space

DATA = Path(__file__).resolve().parents[2] / "data"
_spec = importlib.util.spec_from_file_location("make_golden_genomes", DATA / "make_golden_genomes.py")
golden_maker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(golden_maker)


@pytest.fixture(scope="module")
def golden():
    return np.load(DATA / "golden_genomes.npz", allow_pickle=False)


@pytest.mark.parametrize("space", SPACES.names())
def test_sampling_json_hash_and_vector_are_pinned(golden, space):
    genomes = golden_maker.sample_genomes(space)
    assert [g.to_json(indent=None) for g in genomes] == golden[f"{space}/sampled"].tolist()
    assert [Genome.from_json(j) for j in golden[f"{space}/sampled"]] == genomes
    assert [g.hash for g in genomes] == golden[f"{space}/hash"].tolist()
    np.testing.assert_array_equal(np.stack([g.to_vector() for g in genomes]), golden[f"{space}/vector"])
    sp = get_space(space)
    np.testing.assert_array_equal(sp.bounds()[1], golden[f"{space}/upper"])
    assert [name for name, _ in sp.vector_choices()] == golden[f"{space}/vector_genes"].tolist()
    np.testing.assert_array_equal(sp.one_hot(genomes), golden[f"{space}/one_hot"])


@pytest.mark.parametrize("space", SPACES.names())
def test_mutation_and_vector_decoding_are_pinned(golden, space):
    genomes = golden_maker.sample_genomes(space)
    mutated = golden_maker.mutated_genomes(space, genomes)
    assert [g.to_json(indent=None) for g in mutated] == golden[f"{space}/mutated"].tolist()
    decoded = golden_maker.decoded_genomes(space)
    assert [g.to_json(indent=None) for g in decoded] == golden[f"{space}/decoded"].tolist()


@pytest.mark.parametrize("space", SPACES.names())
def test_parameter_counts_are_pinned(golden, space):
    genomes = [Genome.from_json(j) for j in golden[f"{space}/sampled"]]
    counts = [[g.count_params(shape, k) for shape, k in golden_maker.PARAM_SHAPES] for g in genomes]
    np.testing.assert_array_equal(np.array(counts, dtype=np.int64), golden[f"{space}/params"])
