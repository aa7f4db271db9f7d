"""Student families: one registry entry per kind of student network.

A family (:class:`StudentFamily`) declares its genes (its part of the search space: sample, mutate,
validate, JSON, the integer vector, its named spaces), how to build the network, its parameter and MAC
counts without building it, its feature taps (for hints and proxies) and its graph for the predictor
(node types, features and edges; one genome readable, many vectorised). :class:`~distill.genome.Genome`
and :class:`~distill.genome.SearchSpace` keep their API and delegate to the space's family.

How many places to add...
  * a block type (staged CNN): 1 -- a :class:`distill.nets.Block` subclass registered in ``BLOCKS``, with
    ``params`` / ``macs`` / ``shortcut_kind`` (``uses_expansion``), plus its tests; the tests parametrised
    over ``BLOCKS`` check it for free. (Its graph one-hot column means retraining the predictor.)
  * a hint distance, hint transform or logit loss: 1 -- an entry appended to its registry in
    :mod:`distill.losses` (registration order is the gene order; ``@uses_temperature`` for a tempered loss).
  * a student family: 1 module here (space dataclass with ``family``, stage gene, a :class:`StudentFamily`
    subclass with its ``spaces``, registered in :data:`FAMILIES`), plus its tests: every module of this package
    is imported below, after the staged CNN (whose spaces come first in ``SPACES``).
"""

import importlib
import pkgutil

from distill.families.base import (
    FAMILIES,
    ArchGraph,
    ArchGraphBatch,
    GraphLayout,
    StudentFamily,
    get_family,
    ragged_arange,
)
from distill.families.staged_cnn import StagedCNN, StagedCNNSpace, StageGene

__all__ = [
    "FAMILIES",
    "ArchGraph",
    "ArchGraphBatch",
    "GraphLayout",
    "StagedCNN",
    "StagedCNNSpace",
    "StageGene",
    "StudentFamily",
    "get_family",
    "ragged_arange",
]

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
