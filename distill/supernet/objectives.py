"""The distillation objectives of a supernet's training: one registry entry each.

An entry is a factory ``(teacher outputs, temperature, ce_weight) -> objective``, and an objective is
``(supernet, x, idx, y) -> scalar loss`` of the active sub-network on the batch ``x`` (training-set indices
``idx``, labels ``y``). It receives the supernet, not its logits, so that an objective can ask for what it
needs (a transformer's queries, keys and values through ``forward_qkv``).

* ``kd``: logit distillation against the teacher's cached logits (Hinton et al. 2015), plus ``ce_weight`` times
  cross-entropy (0 by default: AutoDistil's supernet training is task-agnostic, it sees no labels).
* ``relation``: AutoDistil's self-attention relation objective (MiniLMv2), the ``attn_relation`` transform of
  :mod:`distill.losses`, on the deepest layer: the queries, keys and values of the last attention layer when
  the supernet and the teacher are transformers, the value relation of the last feature map otherwise (a CNN);
  plus the ``kd`` terms, because the sub-networks are scored by their accuracy with the inherited classifier,
  which relations alone do not train.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from distill.losses import HINT_TRANSFORMS, LOGIT_LOSSES, qkv_maps
from distill.registry import Registry
from distill.supernet.base import Supernet
from distill.trainer import TeacherOutputs

__all__ = ["OBJECTIVES", "Objective", "make_objective"]

Objective = Callable[[Supernet, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
OBJECTIVES: Registry[Callable[[TeacherOutputs, float, float], Objective]] = Registry("supernet objective")


def _logit_terms(teacher: TeacherOutputs, temperature: float, ce_weight: float):
    kl = LOGIT_LOSSES.get("kl")
    moved: dict[torch.device, torch.Tensor] = {}

    def terms(logits: torch.Tensor, idx: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if logits.device not in moved:  # once per run: the cached logits on the training device
            moved[logits.device] = teacher.logits_train.to(logits.device, torch.float32)
        loss = kl(logits, moved[logits.device][idx], temperature)
        return loss + ce_weight * F.cross_entropy(logits, y) if ce_weight else loss

    return terms


@OBJECTIVES.register("kd")
def kd_objective(teacher: TeacherOutputs, temperature: float = 4.0, ce_weight: float = 0.0) -> Objective:
    terms = _logit_terms(teacher, temperature, ce_weight)

    def objective(supernet: Supernet, x: torch.Tensor, idx: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return terms(supernet(x), idx, y)

    return objective


@OBJECTIVES.register("relation")
def relation_objective(teacher: TeacherOutputs, temperature: float = 4.0, ce_weight: float = 0.0) -> Objective:
    terms = _logit_terms(teacher, temperature, ce_weight)
    transform_cls = HINT_TRANSFORMS.get("attn_relation")
    teacher_qkv = getattr(teacher, "qkv", {}).get("late")
    target = teacher_qkv if teacher_qkv is not None else teacher.features.get("late")
    if target is None:
        raise ValueError(
            "the 'relation' objective needs the teacher's feature maps and the teacher exposes none; use 'kd'"
        )
    moved: dict[torch.device, torch.Tensor] = {}

    def objective(supernet: Supernet, x: torch.Tensor, idx: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if teacher_qkv is not None and hasattr(supernet, "forward_qkv"):
            logits, maps, qkv = supernet.forward_qkv(x, -1)
            student = qkv_maps(qkv, maps)  # (B, 3, C, H, W)
        else:
            logits, maps = supernet.forward_features(x)
            student = maps[-1]  # (B, C, H, W)
        if x.device not in moved:
            moved[x.device] = target.to(x.device, torch.float32)
        t = moved[x.device][idx]
        if student.dim() != t.dim():  # a CNN on one side: the value relation of the maps
            t = t[:, 2] if t.dim() == 5 else t
            student = student[:, 2] if student.dim() == 5 else student
        transform = transform_cls(student.shape[-3], t.shape[-3])
        return terms(logits, idx, y) + transform.objective(*transform(student, t))

    return objective


def make_objective(name: str, teacher: TeacherOutputs, temperature: float, ce_weight: float) -> Objective:
    """The objective ``name`` of :data:`OBJECTIVES` for ``teacher``'s cached outputs."""
    return OBJECTIVES.get(name)(teacher, temperature, ce_weight)
