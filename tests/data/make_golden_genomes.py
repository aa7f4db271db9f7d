"""Writes ``golden_genomes.npz``: what the genome code computes on a fixed sample, pinned.

Run once, at the commit before a refactoring of the genome, the networks or the graph encoder; the
test ``tests/distill/families/test_golden_genomes.py`` then requires the code of any later commit to
give the same: the same genomes from the same random draws (sampling, mutation, vector decoding), the
same JSON, hashes, search vectors and parameter counts, and the same predictor graphs bit for bit::

    python tests/data/make_golden_genomes.py

The shipped file was written at commit d723608, before the student-family registry (issue 21), whose
``search.strategies.one_hot(genomes, space)`` is now ``space.one_hot(genomes)``.

The predictor's graph layout grows when a family or a recipe loss is added, so graphs are pinned in a named
layout: a space pinned later stores its layout's names (``SPACE/graph/feature_names``, ``.../edge_kinds``); the
spaces pinned first, without names, are in the layout of the shipped checkpoint ``predictor_v1.pt``. Their graphs
are read back in that layout (:func:`pinned_layout`, :func:`graph_arrays`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from distill.genome import SPACES, Genome, get_space
from predictor.graph import LAYOUT, encode_batch
from predictor.layout import checkpoint_layout

SHIPPED = Path(__file__).resolve().parents[2] / "checkpoints" / "predictor_v1.pt"

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


def pinned_layout(pins, space: str):
    """The layout ``space``'s graphs are pinned in: the names stored beside them, else the shipped checkpoint's."""
    if pins is not None and f"{space}/graph/feature_names" in pins.files:
        names, kinds = pins[f"{space}/graph/feature_names"].tolist(), pins[f"{space}/graph/edge_kinds"].tolist()
    else:
        features = torch.load(SHIPPED, map_location="cpu", weights_only=True)["features"]
        names, kinds = features["node"], features["edge_kinds"]
    return checkpoint_layout(LAYOUT, names, kinds)


def graph_arrays(genomes: list[Genome], layout) -> dict[str, np.ndarray]:
    """The graphs of ``genomes`` in ``layout``: x, edge_index, edge_type, node_ptr, edge_ptr."""
    batch = encode_batch(genomes, layout)
    return {
        "x": batch.x.numpy(),
        "edge_index": batch.edge_index.numpy(),
        "edge_type": batch.edge_type.numpy(),
        "node_ptr": batch.ptr.numpy(),
        "edge_ptr": batch._slice_dict["edge_index"].numpy(),
    }


def main() -> None:
    path = Path(__file__).with_name("golden_genomes.npz")
    old = np.load(path, allow_pickle=False) if path.exists() else None
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
            [[g.count_params(s, k) for s, k in PARAM_SHAPES] for g in genomes],
            dtype=np.int64,
        )
        arrays[f"{space}/mutated"] = np.array([g.to_json(indent=None) for g in mutated_genomes(space, genomes)])
        arrays[f"{space}/decoded"] = np.array([g.to_json(indent=None) for g in decoded_genomes(space)])
        pinned = old is not None and f"{space}/graph/x" in old.files
        layout = pinned_layout(old, space) if pinned else LAYOUT
        for key, value in graph_arrays(genomes, layout).items():
            arrays[f"{space}/graph/{key}"] = value
        if not pinned or f"{space}/graph/feature_names" in old.files:
            arrays[f"{space}/graph/feature_names"] = np.array(layout.feature_names)
            arrays[f"{space}/graph/edge_kinds"] = np.array(layout.edge_kinds)
    # Pins are append-only: a space registered later gets its arrays, the spaces pinned before keep theirs, and a
    # change in what the code computes for them is refused here (it is what the test exists to catch).
    if old is not None:
        changed = [k for k in old.files if k in arrays and not np.array_equal(old[k], arrays[k])]
        if changed:
            raise SystemExit(f"the code computes other values for pinned arrays: {', '.join(changed[:5])}")
        arrays = {**{k: old[k] for k in old.files}, **arrays}
        old.close()
    np.savez_compressed(path, **arrays)
    print(f"{len(arrays)} arrays written")


if __name__ == "__main__":
    main()
