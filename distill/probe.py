"""What a teacher's function says about a task: the raw inputs of the predictor's task embedding.

DaSS embeds a task with a fixed pretrained backbone; none can be downloaded here, and teachers
differ in width, so we describe the task through the *teacher's own function* on a small probe
set in a form that does not depend on the teacher's feature dimension:

* per class (a set, encoded by the predictor's set encoder): the teacher's accuracy, confidence
  and entropy on the class, and where the class prototype sits among the others (cosine
  similarities of class-mean features of the last stage);
* global: soft-label statistics, teacher accuracy and size, and dataset descriptors.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from distill.cost import count_flops
from distill.tasks import Task
from distill.teachers import Teacher

CLASS_FEATURES = (
    "teacher_acc",
    "mean_max_prob",
    "mean_entropy",  # normalised by log(K)
    "proto_norm",  # relative to the mean prototype norm
    "max_sim",  # highest cosine similarity to another class prototype
    "mean_sim",
    "min_sim",
    "dispersion",  # mean distance of samples to their prototype, relative to prototype norm
)
GLOBAL_FEATURES = (
    "num_classes_10",  # num_classes / 10
    "log10_n_train",
    "channels",
    "side_32",  # input side / 32
    "pixel_std",
    "teacher_val_acc",
    "log10_teacher_params",
    "log10_teacher_flops",
    "mean_entropy",
    "mean_margin",  # top-1 minus top-2 probability
    "proto_sim_mean",
    "proto_sim_std",
    "feature_side_8",  # spatial side of the teacher's last stage / 8
)
# The global features that are the task's and the teacher's metadata, exact by construction, rather than
# statistics estimated on the probe set: the predictor's task noise may leave them alone (``task_noise_on``).
METADATA_FEATURES = (
    "num_classes_10",
    "log10_n_train",
    "channels",
    "side_32",
    "log10_teacher_params",
    "log10_teacher_flops",
    "feature_side_8",
)


@torch.no_grad()
def probe_features(teacher: Teacher, task: Task, n_per_class: int = 32, seed: int = 0) -> dict:
    """Dimension-free description of ``task`` through ``teacher`` on a probe set of the validation split.

    Returns:
        ``{"classes": [[...] * len(CLASS_FEATURES)] * K, "global": [...] * len(GLOBAL_FEATURES)}``,
        plain floats, ready to be stored as JSON beside every record.
    """
    gen = torch.Generator().manual_seed(seed)
    x_pool, y_pool = task.x_val, task.y_val
    idx = []
    for c in range(task.num_classes):
        members = torch.nonzero(y_pool == c).flatten()
        idx.append(members[torch.randperm(len(members), generator=gen)[:n_per_class]])
    idx = torch.cat(idx)
    x, y = x_pool[idx], y_pool[idx]
    logits, feats = teacher.features(x)
    probs = F.softmax(logits.float(), 1)  # (N, K)
    k = task.num_classes
    entropy = -(probs * probs.clamp_min(1e-12).log()).sum(1) / math.log(max(k, 2))
    top2 = probs.topk(min(2, k), 1).values
    margin = top2[:, 0] - (top2[:, 1] if k > 1 else 0)
    correct = (probs.argmax(1) == y).float()
    # the last stage's pooled features, or the logits for a teacher that hides its stages
    emb = feats[-1].float().mean((2, 3)) if feats else logits.float()  # (N, D)
    protos = torch.stack([emb[y == c].mean(0) if (y == c).any() else emb.new_zeros(emb.shape[1]) for c in range(k)])
    norms = protos.norm(dim=1)
    unit = F.normalize(protos, dim=1)
    sim = unit @ unit.T  # (K, K)
    off = sim.masked_fill(torch.eye(k, dtype=torch.bool), float("nan"))
    classes = []
    for c in range(k):
        m = y == c
        others = off[c][~torch.isnan(off[c])]
        spread = (emb[m] - protos[c]).norm(dim=1).mean() / norms[c].clamp_min(1e-8) if m.any() else torch.tensor(0.0)
        classes.append(
            [
                correct[m].mean().item() if m.any() else 0.0,
                probs[m].max(1).values.mean().item() if m.any() else 0.0,
                entropy[m].mean().item() if m.any() else 0.0,
                (norms[c] / norms.mean().clamp_min(1e-8)).item(),
                others.max().item() if len(others) else 0.0,
                others.mean().item() if len(others) else 0.0,
                others.min().item() if len(others) else 0.0,
                spread.item(),
            ]
        )
    offdiag = off[~torch.isnan(off)]
    params = teacher.count_params()
    try:
        flops = count_flops(teacher.model, task.in_shape)
    except (RuntimeError, TypeError):  # a TorchScript teacher hides its layers from hooks
        flops = 0
    pixel_std = task.describe().get("pixel_std", [0.0])
    glob = [
        k / 10,
        math.log10(max(1, len(task.x_train))),
        float(task.in_shape[0]),
        task.in_shape[1] / 32,
        float(sum(pixel_std) / len(pixel_std)) if isinstance(pixel_std, (list, tuple)) else float(pixel_std),
        correct.mean().item(),
        math.log10(max(1, params)),
        math.log10(max(1, flops)),
        entropy.mean().item(),
        margin.mean().item(),
        offdiag.mean().item() if len(offdiag) else 0.0,
        offdiag.std().item() if len(offdiag) > 1 else 0.0,
        (feats[-1].shape[-1] / 8) if feats else 0.0,
    ]
    return {"classes": classes, "global": glob}
