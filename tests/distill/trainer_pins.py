"""What the CPU trainer computes on a fixed set of runs, as plain JSON data: the pins of ``trainer_pins.json``.

The meta-dataset's records were made by the trainer on the CPU, so any change to the trainer (the GPU work of
issue 23 among them) must leave every CPU result bit-identical. These runs cover the paths that matter: a zoo
teacher trained by :func:`distill.trainer.fit`, students distilled with every kind of recipe (plain, logit KD,
feature hints), sampled genomes, and two diverging runs (a NaN teacher: epoch 1; a loss that turns NaN in the
third epoch: the curve of the first two). Everything runs with one torch thread: the last bits of float32
reductions depend on the thread count.

Written by ``tests/data/make_trainer_pins.py``; checked by ``tests/distill/test_trainer_pins.py``.
"""

from __future__ import annotations

import hashlib
import math
import tempfile
from typing import Any

import numpy as np
import torch
from torch import nn

from distill.genome import Genome, Recipe, StageGene, get_space
from distill.job import torch_threads
from distill.nets import build_student
from distill.tasks import load_task
from distill.teachers import get_teacher, teacher_outputs
from distill.trainer import TeacherOutputs, TrainConfig, TrainResult, distil, fit, kd_loss_fn

CONFIG = TrainConfig(epochs=3, batch_size=64, device="cpu")
TEACHER = TrainConfig(epochs=2, batch_size=64, device="cpu")
TASK = "digits:classes=0-4"


def checksum(tensors: dict[str, torch.Tensor] | list[torch.Tensor]) -> str:
    """sha256 over the names, dtypes, shapes and bytes of ``tensors`` (a state dict or a list)."""
    items = tensors.items() if isinstance(tensors, dict) else enumerate(tensors)
    h = hashlib.sha256()
    for name, t in items:
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}:".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _genome(recipe: Recipe) -> Genome:
    return Genome(8, (StageGene("basic", 1, 8), StageGene("mbconv", 1, 16, 3, 4, True)), recipe)


def _run(result: TrainResult, model: nn.Module) -> dict[str, Any]:
    out = result.to_dict()
    out.pop("train_time_s")
    out["weights"] = checksum(model.state_dict())
    return out


def _nan_from_call(n: int, loss_fn):
    """``loss_fn`` whose ``n``-th call (from 1) and later give NaN: a divergence in a chosen epoch."""
    calls = [0]

    def bad(logits, feats, idx, y):
        calls[0] += 1
        loss = loss_fn(logits, feats, idx, y)
        return loss * math.nan if calls[0] >= n else loss

    return bad


def runs(fit_kwargs: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Every pinned run: name -> its result (without the wall time) and the checksum of its trained weights.

    Args:
        fit_kwargs: extra keywords for :func:`distill.trainer.fit` (e.g. how often divergence is checked), to
            show that a variant of the trainer computes the same.
    """
    kw = fit_kwargs or {}
    out: dict[str, dict[str, Any]] = {}
    with torch_threads(1), tempfile.TemporaryDirectory() as cache:
        task = load_task(TASK)
        teacher = get_teacher("resnet-s", task, config=TEACHER, cache=cache)
        outputs = teacher_outputs(teacher, task, cache=cache)
        out["teacher"] = {
            "weights": checksum(teacher.model.state_dict()),
            "outputs": checksum([outputs.logits_train, *(outputs.features[k] for k in sorted(outputs.features))]),
            "val_acc": outputs.val_acc,
            "test_acc": outputs.test_acc,
        }
        recipes = {
            "plain": Recipe.plain(),
            "kl": Recipe("kl", 4.0, 0.5, 1.0),
            "kl_late_connector": Recipe("kl", 4.0, 0.5, 1.0, "late", "connector", "mse", 1.0),
            "dist_mid_relation": Recipe("dist", 2.0, 1.0, 2.0, "mid", "relation", "cosine", 1.0),
            "mse_early_attention": Recipe("mse", 1.0, 0.0, 1.0, "early", "attention", "l1", 1.0),
        }
        genomes = {name: _genome(r) for name, r in recipes.items()}
        rng = np.random.default_rng(0)
        genomes.update({f"sampled_{i}": get_space("default").sample(rng) for i in range(3)})
        for name, g in genomes.items():
            for seed in (0, 1) if name == "kl_late_connector" else (0,):
                student, loss_fn, extra = _setup(g, task, outputs, seed)
                result = fit(student, task, loss_fn, CONFIG, seed, extra, **kw)
                out[f"{name}/seed{seed}"] = _run(result, student)
        # a NaN teacher: the first step's loss is non-finite
        nan_teacher = TeacherOutputs(torch.full_like(outputs.logits_train, math.nan), outputs.features, 0.0, 0.0)
        g = genomes["kl"]
        student, loss_fn, extra = _setup(g, task, nan_teacher, 0)
        out["diverged_nan_teacher"] = _run(fit(student, task, loss_fn, CONFIG, 0, extra, **kw), student)
        # a loss that turns NaN at the third step of the third epoch: the first two epochs' curve is kept
        student, loss_fn, extra = _setup(g, task, outputs, 0)
        steps_per_epoch = math.ceil(len(task.x_train) / CONFIG.batch_size)
        result = fit(student, task, _nan_from_call(2 * steps_per_epoch + 3, loss_fn), CONFIG, 0, extra, **kw)
        out["diverged_epoch3"] = _run(result, student)
        # distil(), the entry point of every job, end to end
        result, student = distil(genomes["dist_mid_relation"], task, outputs, CONFIG, seed=2)
        out["distil/dist_mid_relation/seed2"] = _run(result, student)
    return out


def _setup(g: Genome, task, outputs: TeacherOutputs | None, seed: int):
    """The student, its loss and its extra modules exactly as :func:`distill.trainer.distil` makes them."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        student = build_student(g, task.in_shape, task.num_classes)
        loss_fn, extra = kd_loss_fn(g, outputs if g.recipe.distills else None, student.stage_channels)
    return student, loss_fn, extra


def environment() -> dict[str, str]:
    """What the pins' bits depend on besides the code: the torch build, the CPU's vector instructions, and how this
    CPU's float kernels round (:func:`kernel_fingerprint`: two AVX-512 machines with one torch build trained these
    runs to other bits)."""
    return {
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "kernels": kernel_fingerprint(),
    }


def kernel_fingerprint() -> str:
    """16 hex digits of sha256 over what the float kernels the trainer and the tasks use give on fixed inputs, on
    one thread: a convolution forward and backward, a matrix product, a log-softmax, an Adam step, a bilinear
    grid sample and an antialiased resize. Two machines with one fingerprint round these runs alike."""
    g = torch.Generator().manual_seed(0)
    with torch_threads(1), torch.random.fork_rng(devices=[]):  # the layers' default init must not move the global RNG
        x = torch.randn(8, 3, 12, 12, generator=g)
        conv = nn.Conv2d(3, 16, 3, padding=1)
        linear = nn.Linear(16 * 12 * 12, 10)
        with torch.no_grad():
            for p in (*conv.parameters(), *linear.parameters()):
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
        logits = linear(torch.relu(conv(x)).flatten(1))
        loss = -logits.log_softmax(1)[:, 0].mean()
        loss.backward()
        optimizer = torch.optim.Adam([*conv.parameters(), *linear.parameters()], lr=1e-3)
        optimizer.step()
        grid = torch.rand(8, 12, 12, 2, generator=g) * 2 - 1
        sampled = nn.functional.grid_sample(x, grid, mode="bilinear", align_corners=False)
        resized = nn.functional.interpolate(x, size=(5, 5), mode="bilinear", antialias=True)
        tensors = [logits, loss, *(p.grad for p in conv.parameters()), *conv.parameters(), sampled, resized]
    return checksum(tensors)[:16]
