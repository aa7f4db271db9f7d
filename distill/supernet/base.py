"""The supernet contract, whatever the student family, and the registry of supernet classes.

A :class:`Supernet` holds the weights of the largest sub-network of a :class:`~distill.supernet.subspace.SubSpace`
and runs any sub-network of it: :meth:`~Supernet.set_active` picks one (a genome of the sub-space, of which only
the architecture genes are read), after which ``forward`` / ``forward_features`` follow the model contract of
:mod:`distill.nets` for that sub-network. :meth:`~Supernet.extract` hands out the stand-alone student with the
inherited weights, so that a sub-network found in the supernet is a network like any other.

A family plugs in by subclassing :class:`Supernet` (``_forward_features`` and the modules, named as the
family's stand-alone network names its parameters, so that :meth:`~Supernet.extract` copies key by key) and
registering the class in :data:`SUPERNETS` under the family's name. A family whose stand-alone parameters are
not slices of the supernet's (a fused query-key-value projection sliced by heads) overrides
:meth:`~Supernet.inherited`. A transformer supernet adds ``forward_qkv`` (the contract of ``distill.vit``) for the
attention-relation objective.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable

import numpy as np
import torch
from torch import nn

from distill.genome import Genome
from distill.registry import Registry
from distill.supernet.elastic import inherit
from distill.supernet.subspace import SubSpace

__all__ = ["SANDWICH", "SUPERNETS", "Supernet", "build_supernet"]

# The sandwich rule (Yu & Huang, "Universally Slimmable Networks", ICCV 2019): every step trains the largest and
# the smallest sub-network, which bound the others, and random ones between them (AutoDistil samples two).
SANDWICH = ("largest", "smallest", "random", "random")


class Supernet(nn.Module, ABC):
    """Weights shared by every sub-network of ``subspace``; one of them active at a time.

    Args:
        subspace: the sub-space whose sub-networks it runs.
        in_shape: ``(C, H, W)`` of the task's inputs.
        num_classes: outputs of the classifier.

    Shapes:
        input ``(B, C, H, W)`` -> logits ``(B, num_classes)`` of the active sub-network.
    """

    def __init__(self, subspace: SubSpace, in_shape: tuple[int, int, int], num_classes: int) -> None:
        super().__init__()
        self.subspace = subspace
        self.in_shape = tuple(in_shape)
        self.num_classes = num_classes
        self.active: Genome = subspace.largest()

    # ---- the active sub-network ----
    def set_active(self, genome: Genome) -> Supernet:
        """Make ``genome``'s sub-network the one that runs (its recipe is not read); ``ValueError`` outside the
        sub-space, naming the gene and its choices."""
        self.active = self.subspace.validate(genome)
        return self

    def sample_active(self, rng: np.random.Generator, kind: str = "random") -> Genome:
        """Activate and return the ``largest``, the ``smallest`` or a ``random`` sub-network (the sandwich rule)."""
        if kind == "largest":
            genome = self.subspace.largest()
        elif kind == "smallest":
            genome = self.subspace.smallest()
        elif kind == "random":
            genome = self.subspace.sample(rng)
        else:
            raise ValueError(f"the sub-network kind must be one of {{'largest', 'smallest', 'random'}}; got {kind!r}")
        self.set_active(genome)
        return genome

    def sandwich(self, rng: np.random.Generator, kinds: tuple[str, ...] = SANDWICH) -> list[Genome]:
        """The sub-networks of one sandwich step (not activated): largest, smallest and random ones."""
        pick = {"largest": self.subspace.largest, "smallest": self.subspace.smallest}
        return [pick[k]() if k in pick else self.subspace.sample(rng) for k in kinds]

    @abstractmethod
    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits and feature maps of the active sub-network, as its stand-alone network gives them."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)[0]

    # ---- BatchNorm ----
    @torch.no_grad()
    def recalibrate_bn(self, data: torch.Tensor | Iterable, batch_size: int = 1024) -> Supernet:
        """BatchNorm statistics of the active sub-network, re-estimated on ``data`` (OFA).

        The running statistics are shared by every sub-network, so after training (or after another sub-network
        ran) they belong to none: they are reset and re-estimated as the exact average over ``data`` in train
        mode, without gradients; no weight changes. ``data`` is a tensor of inputs (cut into ``batch_size``
        batches) or an iterable of batches (tensors, or tuples whose first item is the inputs: a ``DataLoader``).
        """
        norms = [m for m in self.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if not norms:  # LayerNorms only (a transformer without a conv stem): no statistics to re-estimate
            return self
        batches = (data[i : i + batch_size] for i in range(0, len(data), batch_size)) if torch.is_tensor(data) else data
        was_training, momenta = self.training, [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # the cumulative average
        self.train()
        try:
            for batch in batches:
                self(batch[0] if isinstance(batch, (tuple, list)) else batch)
        finally:
            for m, momentum in zip(norms, momenta):
                m.momentum = momentum
            self.train(was_training)
        return self

    # ---- stand-alone students ----
    def inherited(self, key: str, shape: torch.Size, genome: Genome) -> torch.Tensor:
        """The supernet's part of the stand-alone parameter or buffer ``key`` of ``shape`` (by default the same
        key, sliced by :func:`~distill.supernet.elastic.inherit`)."""
        return inherit(self.state_dict()[key], shape)

    @torch.no_grad()
    def extract(self, genome: Genome | None = None) -> nn.Module:
        """The stand-alone student of ``genome`` (default: the active one) with the inherited weights.

        Built by ``genome.build``; in eval mode it gives the supernet's outputs with that sub-network active, the
        BatchNorm statistics included (recalibrate them first: they are copied as they are).
        """
        genome = self.subspace.validate(self.active if genome is None else genome)
        student = genome.build(self.in_shape, self.num_classes)
        state = {k: self.inherited(k, v.shape, genome).clone() for k, v in student.state_dict().items()}
        student.load_state_dict(state)
        return student.train(self.training)


SUPERNETS: Registry[type[Supernet]] = Registry("supernet family")


def build_supernet(
    subspace: SubSpace, in_shape: tuple[int, int, int], num_classes: int, seed: int | None = None
) -> Supernet:
    """The supernet of ``subspace``'s family; with a ``seed`` its initial weights depend on it alone."""
    cls = SUPERNETS.get(subspace.family)
    if seed is None:
        return cls(subspace, in_shape, num_classes)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cls(subspace, in_shape, num_classes)
