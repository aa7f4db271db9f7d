"""Training-free proxies: score a student (against its teacher) from one batch, without training.

They are the baselines the accuracy predictor has to beat in ``dass evaluate``, and optional
input features. Every proxy is registered in :data:`PROXIES` and has the signature

    proxy(student, teacher, x, y) -> float        # higher = predicted better

with ``x`` a batch ``(B, C, H, W)`` and ``y`` its labels ``(B,)``. Models follow the project's
contract: ``forward(x) -> logits (B, K)`` and ``forward_features(x) -> (logits, [stage outputs])``;
a user's teacher without ``forward_features`` gives its stages through
:func:`distill.nets.stage_features` (forward hooks), and one that exposes none (a TorchScript module)
has no DisWOT score: those proxies raise ``ValueError`` for it.

Rules every proxy keeps:

- It runs the models in eval mode, and restores every module's train/eval flag after. Eval mode
  makes the score deterministic (no dropout), keeps samples independent of each other, and
  keeps BatchNorm's running statistics untouched (train mode would update them).
- It changes no weight, buffer or ``.grad`` of the caller's models: gradients are taken with
  ``torch.autograd.grad`` with respect to activations, and proxies that modify weights (SynFlow)
  work on a copy.
- It uses the models as the caller initialised them (trained teacher, untrained or trained
  student); nothing is re-initialised here.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from distill.cost import eval_mode, model_device
from distill.nets import stage_features
from distill.registry import Registry

__all__ = [
    "NWOT_ACTIVATIONS",
    "PROXIES",
    "Proxy",
    "compute_proxies",
    "diswot",
    "diswot_relation",
    "diswot_semantic",
    "nwot",
    "synflow",
]

Proxy = Callable[[nn.Module, "nn.Module | None", Tensor, Tensor], float]
PROXIES: Registry[Proxy] = Registry("proxy")

# Activation modules whose input sign gives NASWOT's binary codes. Their output is positive
# exactly where their input is, so the code is the usual "unit is on" pattern for each.
NWOT_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.Hardswish, nn.SiLU)


def _require_teacher(proxy: str, teacher: nn.Module | None) -> nn.Module:
    if teacher is None:
        raise ValueError(f"the {proxy!r} proxy compares the student with a teacher; got teacher=None")
    return teacher


def _last_stage(model: nn.Module, x: Tensor) -> Tensor:
    """The deepest stage's output ``(B, C, H, W)`` in eval mode, without gradients."""
    with eval_mode(model), torch.no_grad():
        _, features = stage_features(model, x.to(model_device(model)))
    return _deepest(model, features)


def _deepest(model: nn.Module, features: list[Tensor]) -> Tensor:
    if not features:
        raise ValueError(f"{type(model).__name__} exposes no stage feature maps (a TorchScript module?)")
    return features[-1]


def _grad_cam_maps(model: nn.Module, x: Tensor) -> Tensor:
    """Grad-CAM map of every class for every sample, on the deepest stage: ``(B, K, H, W)``.

    ``A[b, c] = ReLU(sum_k alpha[b, c, k] * F[b, k])`` with ``alpha[b, c, k]`` the spatial mean
    of ``d logit[b, c] / d F[b, k]`` (Selvaraju et al., ICCV 2017).
    """
    # The input carries the gradient so the maps exist even for a frozen (requires_grad=False) model.
    x = x.detach().to(model_device(model)).requires_grad_(True)
    with eval_mode(model), torch.enable_grad():
        logits, features = stage_features(model, x)  # (B, K), [..., (B, C, H, W)]
        feature = _deepest(model, features)
        maps = []
        for c in range(logits.shape[1]):
            # In eval mode sample b's logit depends on sample b only, so the gradient of the
            # summed logit is every sample's own gradient, in one backward pass.
            (grad,) = torch.autograd.grad(logits[:, c].sum(), feature, retain_graph=True)  # (B, C, H, W)
            alpha = grad.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1)
            maps.append(F.relu((alpha * feature).sum(dim=1)))  # (B, H, W)
    return torch.stack(maps, dim=1).detach()  # (B, K, H, W)


def _semantic_distance(student: nn.Module, teacher: nn.Module, x: Tensor) -> tuple[float, int]:
    """``|| G_s - G_t ||_F`` of the inter-class Grad-CAM correlations, and the number of classes."""
    maps_s = _grad_cam_maps(student, x)
    maps_t = _grad_cam_maps(teacher, x).to(maps_s.device)
    if maps_s.shape[1] != maps_t.shape[1]:
        raise ValueError(
            f"student and teacher must have the same number of classes; got {maps_s.shape[1]} and {maps_t.shape[1]}"
        )
    # Compare the maps on the coarser of the two grids: pooling the finer map to it is a no-op
    # for the coarser one.
    size = (min(maps_s.shape[2], maps_t.shape[2]), min(maps_s.shape[3], maps_t.shape[3]))
    grams = []
    for maps in (maps_s, maps_t):
        maps = F.adaptive_avg_pool2d(maps, size)  # (B, K, h, w)
        per_class = F.normalize(maps.transpose(0, 1).flatten(1), dim=1)  # (K, B*h*w), unit rows
        grams.append(per_class @ per_class.T)  # (K, K) cosine similarity of classes' maps
    return float(torch.linalg.matrix_norm(grams[0] - grams[1])), maps_s.shape[1]


def _relation_gram(feature: Tensor) -> Tensor:
    flat = feature.flatten(1)  # (B, C*H*W)
    return F.normalize(flat @ flat.T, dim=1)  # (B, B), each row scaled to unit length


def _relation_distance(student: nn.Module, teacher: nn.Module, x: Tensor) -> tuple[float, int]:
    """``|| G_s - G_t ||_F`` of the sample-relation matrices, and the batch size."""
    gram_s = _relation_gram(_last_stage(student, x))
    gram_t = _relation_gram(_last_stage(teacher, x)).to(gram_s.device)
    return float(torch.linalg.matrix_norm(gram_s - gram_t)), gram_s.shape[0]


@PROXIES.register("diswot_semantic")
def diswot_semantic(student: nn.Module, teacher: nn.Module | None, x: Tensor, y: Tensor) -> float:
    """DisWOT semantic similarity (Dong et al., "DisWOT: Student Architecture Search for
    Distillation WithOut Training", CVPR 2023).

    A student whose class activation maps relate the classes to each other the way the
    teacher's do is expected to distil well. On the deepest stage's feature ``F``::

        A_c  = GradCAM_c(F)                 # (B, H, W): class c's map for every sample
        v_c  = vec(A_c) / ||vec(A_c)||_2    # (B*H*W,)
        G_cd = v_c . v_d                    # (K, K)
        score = -|| G_s - G_t ||_F

    Exact choices: one Grad-CAM map per class ``c`` for every sample (class score gradients,
    so ``y`` is not used), ``v_c`` is class ``c``'s maps over the whole batch flattened, so
    ``G`` is the ``K x K`` cosine similarity between classes; before flattening, the finer of
    the two models' maps is adaptive-average-pooled to the coarser grid so both are compared
    at the same resolution. The paper's released code uses the classifier's weight gradient
    in place of the maps; the maps follow the paper's text and need no ``fc`` attribute.

    Returns:
        ``-|| G_s - G_t ||_F`` in ``[-2 sqrt(K), 0]``; 0 when the two agree exactly.
    """
    distance, _ = _semantic_distance(student, _require_teacher("diswot_semantic", teacher), x)
    return -distance


@PROXIES.register("diswot_relation")
def diswot_relation(student: nn.Module, teacher: nn.Module | None, x: Tensor, y: Tensor) -> float:
    """DisWOT relation similarity (Dong et al., CVPR 2023), after similarity-preserving KD
    (Tung & Mori, ICCV 2019).

    A student whose deepest features relate the samples of a batch to each other the way the
    teacher's do is expected to distil well. With ``f`` the deepest stage's output flattened
    per sample, ``(B, C*H*W)``::

        G = normalize(f f^T)                # (B, B)
        score = -|| G_s - G_t ||_F

    where ``normalize`` scales each row of the ``B x B`` matrix to unit L2 norm. The channel
    and spatial sizes of student and teacher may differ; ``y`` is not used.

    Returns:
        ``-|| G_s - G_t ||_F`` in ``[-2 sqrt(B), 0]``; 0 when the two agree exactly.
    """
    distance, _ = _relation_distance(student, _require_teacher("diswot_relation", teacher), x)
    return -distance


@PROXIES.register("diswot")
def diswot(student: nn.Module, teacher: nn.Module | None, x: Tensor, y: Tensor) -> float:
    """DisWOT's combined score (Dong et al., CVPR 2023): semantic plus relation similarity::

        score = -|| G^sem_s - G^sem_t ||_F / sqrt(K) - || G^rel_s - G^rel_t ||_F / sqrt(B)

    The paper adds the two raw distances. Here each is divided by the square root of its
    matrix's side (``K`` classes, ``B`` samples), which turns it into the root-mean-square
    distance between matching rows, in ``[0, 2]`` for both; so neither term dominates because
    the batch is larger than the number of classes, or the other way round.
    """
    teacher = _require_teacher("diswot", teacher)
    semantic, num_classes = _semantic_distance(student, teacher, x)
    relation, batch_size = _relation_distance(student, teacher, x)
    return -(semantic / math.sqrt(num_classes) + relation / math.sqrt(batch_size))


@PROXIES.register("nwot")
def nwot(student: nn.Module, teacher: nn.Module | None, x: Tensor, y: Tensor) -> float:
    """NASWOT (Mellor et al., "Neural Architecture Search without Training", ICML 2021).

    A network that maps different inputs to different activation patterns can tell them apart
    more easily. Each sample's binary code ``c_i`` holds one bit per unit of every activation
    module (``nn.ReLU``, ``nn.ReLU6``, ``nn.Hardswish``, ``nn.SiLU``): 1 where the activation's
    input is positive. With ``N_A`` bits per code and ``d_H`` the Hamming distance::

        K_ij = N_A - d_H(c_i, c_j)          # (B, B)
        score = log |det K|

    Codes are read by forward pre-hooks, so in-place activations are seen before they write.
    ``teacher`` and ``y`` are not used.

    Returns:
        ``log |det K|`` (``slogdet``); ``-inf`` when ``K`` is singular, e.g. when two samples of
        the batch share a code.
    """
    batch = x.shape[0]
    device = model_device(student)
    kernel = torch.zeros(batch, batch, dtype=torch.float64, device=device)

    def record_code(module: nn.Module, inputs: tuple[Tensor, ...]) -> None:
        nonlocal kernel
        code = (inputs[0].detach().flatten(1) > 0).to(torch.float64)  # (B, N_l)
        # Agreements = N_A - Hamming distance: units on in both plus units off in both.
        kernel = kernel + code @ code.T + (1.0 - code) @ (1.0 - code).T

    handles = [
        module.register_forward_pre_hook(record_code)
        for module in student.modules()
        if isinstance(module, NWOT_ACTIVATIONS)
    ]
    if not handles:
        names = ", ".join(cls.__name__ for cls in NWOT_ACTIVATIONS)
        raise ValueError(f"the 'nwot' proxy needs activation modules ({names}); {type(student).__name__} has none")
    try:
        with eval_mode(student), torch.no_grad():
            student(x.to(device))
    finally:
        for handle in handles:
            handle.remove()
    sign, logabsdet = torch.linalg.slogdet(kernel)
    return float(logabsdet) if sign != 0 else float("-inf")


def _without_batchnorm(model: nn.Module) -> nn.Module:
    """Replaces every BatchNorm layer of ``model`` (in place) by the identity."""
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                setattr(module, name, nn.Identity())
    return model


@PROXIES.register("synflow")
def synflow(student: nn.Module, teacher: nn.Module | None, x: Tensor, y: Tensor) -> float:
    """SynFlow (Tanaka et al., "Pruning neural networks without any data by iteratively
    conserving synaptic flow", NeurIPS 2020), as a zero-cost proxy (Abdelfattah et al., ICLR 2021).

    The synaptic flow through the network with every weight made positive: on a copy in double
    precision with ``theta <- |theta|`` and BatchNorm replaced by the identity (data-free, as in
    the paper), for an all-ones input ``1`` of one sample's shape ``(1, C, H, W)``::

        R = sum(f(1; |theta|))
        score = log sum_theta | theta * dR/dtheta |

    summed over the weights of every convolution and linear layer. The sum grows roughly
    geometrically with depth and width, so its log is returned to keep it on a usable scale
    (and ranks are unchanged). ``x`` only gives the input shape; ``teacher`` and ``y`` are
    not used.

    Returns:
        The log of the summed synaptic saliency; ``-inf`` when no flow reaches the output.
    """
    net = _without_batchnorm(copy.deepcopy(student)).to(torch.float64).eval()
    with torch.no_grad():
        for param in net.parameters():
            param.abs_()
    weights = [m.weight for m in net.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear))]
    ones = torch.ones(1, *x.shape[1:], dtype=torch.float64, device=model_device(net))
    with torch.enable_grad():
        for weight in weights:
            weight.requires_grad_(True)
        flow = net(ones).sum()
        grads = torch.autograd.grad(flow, weights)
    saliency = sum(float((weight.detach() * grad).abs().sum()) for weight, grad in zip(weights, grads))
    return math.log(saliency) if saliency > 0 else float("-inf")


def compute_proxies(
    student: nn.Module,
    teacher: nn.Module | None,
    x: Tensor,
    y: Tensor,
    names: Iterable[str] | None = None,
) -> dict[str, float]:
    """Scores of ``student`` under several proxies, by name.

    Args:
        student: the candidate network.
        teacher: the teacher; only the DisWOT proxies use it.
        x: a batch of inputs ``(B, C, H, W)``.
        y: its labels ``(B,)``.
        names: which proxies; all registered ones when ``None``. An unknown name is a
            ``ValueError`` listing the valid ones, raised before any proxy runs.

    Returns:
        ``{name: score}`` in the order of ``names``.
    """
    chosen = PROXIES.names() if names is None else list(names)
    proxies = {name: PROXIES.get(name) for name in chosen}
    return {name: proxy(student, teacher, x, y) for name, proxy in proxies.items()}
