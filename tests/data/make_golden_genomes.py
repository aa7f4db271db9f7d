"""Writes ``golden_genomes.npz``: what the genome code computes on a fixed sample, pinned.

Run once, at the commit before a refactoring of the genome, the networks or the graph encoder; the
test ``tests/distill/families/test_golden_genomes.py`` then requires the code of any later commit to
give the same: the same genomes from the same random draws (sampling, mutation, vector decoding), the
same JSON, hashes, search vectors and parameter counts, and the same predictor graphs bit for bit::

    python tests/data/make_golden_genomes.py

The shipped file was written at commit d723608, before the student-family registry (issue 21), whose
``search.strategies.one_hot(genomes, space)`` is now ``space.one_hot(genomes)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from distill.genome import SPACES, Genome, get_space
from distill.nets import count_net_params
from predictor.graph import _encode_arrays

# (in_shape, num_classes) of the pinned parameter counts: no stem stride, stem stride 2, RGB
PARAM_SHAPES = (((1, 8, 8), 10), ((1, 28, 28), 10), ((3, 32, 32), 100))


def sample_genomes(space: str) -> list[Genome]:
    """500 genomes of ``space``: 300 free, 100 controls, 100 forced to distil (three seeded streams)."""
    sp = get_space(space)
    out = []
    for seed, n, distill in ((0, 300, None), (1, 100, False), (2, 100, True)):
        rng = np.random.default_rng(seed)
        out += [sp.sample(rng, distill=distill) for _ in range(n)]
    return out


def mutated_genomes(space: str, parents: list[Genome]) -> list[Genome]:
    """Two mutations (1 and 3 genes) of each of the first 50 parents, from one seeded stream."""
    rng = np.random.default_rng(3)
    return [p.mutate(rng, n_genes=n) for p in parents[:50] for n in (1, 3)]


def decoded_genomes(space: str) -> list[Genome]:
    """100 random integer vectors within the bounds, decoded and repaired."""
    sp = get_space(space)
    lower, upper = sp.bounds()
    rng = np.random.default_rng(4)
    return [Genome.from_vector(rng.integers(lower, upper + 1), sp) for _ in range(100)]


def main() -> None:
    arrays: dict[str, np.ndarray] = {}
    for space in SPACES.names():
        genomes = sample_genomes(space)
        arrays[f"{space}/sampled"] = np.array([g.to_json(indent=None) for g in genomes])
        arrays[f"{space}/hash"] = np.array([g.hash for g in genomes])
        arrays[f"{space}/vector"] = np.stack([g.to_vector() for g in genomes])
        arrays[f"{space}/upper"] = get_space(space).bounds()[1]
        arrays[f"{space}/vector_genes"] = np.array([name for name, _ in get_space(space).vector_choices()])
        arrays[f"{space}/one_hot"] = get_space(space).one_hot(genomes)
        arrays[f"{space}/params"] = np.array(
            [[count_net_params(g.stem_width, g.stages, s, k) for s, k in PARAM_SHAPES] for g in genomes],
            dtype=np.int64,
        )
        arrays[f"{space}/mutated"] = np.array([g.to_json(indent=None) for g in mutated_genomes(space, genomes)])
        arrays[f"{space}/decoded"] = np.array([g.to_json(indent=None) for g in decoded_genomes(space)])
        for key, value in _encode_arrays(genomes).items():
            arrays[f"{space}/graph/{key}"] = value
    # Pins are append-only: a space registered later gets its arrays, the spaces pinned before keep theirs, and a
    # change in what the code computes for them is refused here (it is what the test exists to catch).
    path = Path(__file__).with_name("golden_genomes.npz")
    if path.exists():
        with np.load(path, allow_pickle=False) as old:
            changed = [k for k in old.files if k in arrays and not np.array_equal(old[k], arrays[k])]
            if changed:
                raise SystemExit(f"the code computes other values for pinned arrays: {', '.join(changed[:5])}")
            arrays = {**{k: old[k] for k in old.files}, **arrays}
    np.savez_compressed(path, **arrays)
    print(f"{len(arrays)} arrays written")


if __name__ == "__main__":
    main()
