"""The accuracy predictor as a scikit-learn-style estimator: a deep ensemble of :class:`AccuracyNet`.

A *record* is one distillation result::

    {"genome": "<Genome JSON>", "task_features": probe_features(...), "budget": 20,
     "group": "<task id>/<teacher id>", "target": 0.93,
     "curve": [0.41, 0.66, ...]}            # optional: validation accuracy after each epoch

``fit`` learns from records of many tasks (regression on the accuracy plus a RankNet loss between
students of the same group and budget); ``predict`` scores many genomes of one task in one vectorised
call, with the spread of the ensemble as uncertainty (Lakshminarayanan et al., NeurIPS 2017);
``adapt`` fine-tunes a copy of the ensemble on a few ground-truth records of a new task (every weight by default,
pulled towards the meta-trained ones).

Multi-fidelity: the budget (log2 epochs) is an input, and each epoch of a record's ``curve`` is an extra
label at that budget (weight ``curve_weight``), so one model predicts the accuracy at any budget.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from torch import Tensor

from distill.genome import Genome, get_space
from distill.io import load_error, require_file
from distill.landmarks import LANDMARK_FEATURES
from distill.probe import CLASS_FEATURES, GLOBAL_FEATURES, METADATA_FEATURES
from predictor import graph as graph_module
from predictor.graph import encode_batch, select_graphs
from predictor.guard import GUARD_FOLDS, GUARD_MARGIN, concordance, student_folds, task_scale
from predictor.layout import checkpoint_layout
from predictor.losses import pairwise_rank_loss, regression_loss
from predictor.model import AccuracyNet, NetConfig, adjacency_of, stem_inputs
from predictor.novelty import NOTICE_DISTANCE, TaskRange
from predictor.residual import ResidualGP

__all__ = [
    "ADAPT_METHODS",
    "FORMAT_VERSION",
    "TASK_NOISE_ON",
    "AccuracyPredictor",
    "NotFittedError",
    "fit_calibration",
    "global_vector",
    "task_range",
]

logger = logging.getLogger(__name__)

# Bump when the saved layout or the meaning of an input changes (graph features, task features, ...).
FORMAT_VERSION = 1
# Genomes per forward pass at prediction: small enough for the node states to stay in the CPU cache.
PREDICT_CHUNK = 256
_REQUIRED_KEYS = ("genome", "task_features", "budget", "group", "target")
_ADAPT_PARAMS = ("head", "context", "task", "all")
ADAPT_METHODS = ("finetune", "residual", "guarded")
TASK_NOISE_ON = ("all", "probe")  # which task features the training noise falls on (AccuracyPredictor.task_noise_on)
CALIBRATION_FLOORS = (0.0, 0.0025, 0.005, 0.01, 0.02)  # accuracy points: label noise the spread does not see
# An adaptation re-scales the uncertainty for its task when it has this many records (and two folds of students):
# its +-1 sigma interval is then made to cover TASK_COVERAGE of the records' out-of-fold errors.
MIN_TASK_CALIBRATION = 5
TASK_COVERAGE = 0.68


# ---------------------------------------------------------------------------------------------
# Records -> tensors
# ---------------------------------------------------------------------------------------------
@dataclass
class _Tasks:
    """Probe features of ``T`` tasks: ``classes (R, 8)``, ``class_batch (R,)``, ``glob (T, 13)``."""

    classes: Tensor
    class_batch: Tensor
    glob: Tensor


@dataclass
class _Examples:
    """Training examples (one per record, plus one per extra curve point)."""

    genomes: list[Genome]  # unique genomes; ``genome_index`` points into it
    tasks: _Tasks
    genome_index: Tensor  # (R,)
    task_index: Tensor  # (R,)
    log2_budget: Tensor  # (R,)
    target: Tensor  # (R,)
    weight: Tensor  # (R,)
    rank_group: Tensor  # (R,) one id per (group, budget)
    source: Tensor  # (R,) one id per task source (``tags["source"]``; records without it share one)
    rank: Tensor  # (R,) how many examples of the same (group, budget) have a higher target (0: the best)


def global_feature_names(landmarks: bool = False) -> tuple[str, ...]:
    """The names of the global task vector a predictor reads: the probe's, then the landmarks' when it uses them."""
    return GLOBAL_FEATURES + (LANDMARK_FEATURES if landmarks else ())


def _metadata_mask(landmarks: bool) -> Tensor:
    """True where a global task feature is exact metadata (the task noise of ``task_noise_on="probe"`` skips it)."""
    return torch.tensor([name in METADATA_FEATURES for name in global_feature_names(landmarks)])


def _check_task_features(tf: Any, where: str, landmarks: bool = False) -> tuple:
    """``probe_features`` output -> a hashable ``(classes, global)`` key, or a one-line ``ValueError``.

    With ``landmarks``, ``tf["landmarks"]`` (:func:`distill.landmarks.task_landmarks`) is appended to the global
    vector; without, it is ignored.
    """
    if not isinstance(tf, dict) or "classes" not in tf or "global" not in tf:
        raise ValueError(f"{where}: task_features must be a dict with 'classes' and 'global' (see probe_features)")
    classes, glob = tf["classes"], tf["global"]
    if landmarks:
        if not isinstance(tf.get("landmarks"), (list, tuple)) or len(tf["landmarks"]) != len(LANDMARK_FEATURES):
            raise ValueError(
                f"{where}: this predictor reads landmarks: task_features['landmarks'] must hold "
                f"{len(LANDMARK_FEATURES)} numbers (see distill.landmarks.task_landmarks)"
            )
        if not isinstance(glob, (list, tuple)) or len(glob) != len(GLOBAL_FEATURES):
            raise ValueError(
                f"{where}: task_features['global'] must have {len(GLOBAL_FEATURES)} numbers; got "
                f"{len(glob) if isinstance(glob, (list, tuple)) else type(glob).__name__}"
            )
        glob = list(glob) + list(tf["landmarks"])
    try:
        key = (tuple(tuple(float(v) for v in row) for row in classes), tuple(float(v) for v in glob))
    except (TypeError, ValueError):
        raise ValueError(f"{where}: task_features must hold numbers") from None
    if not key[0] or any(len(row) != len(CLASS_FEATURES) for row in key[0]):
        raise ValueError(
            f"{where}: task_features['classes'] must be a non-empty list of rows of {len(CLASS_FEATURES)} numbers"
        )
    if len(key[1]) != len(global_feature_names(landmarks)):
        raise ValueError(
            f"{where}: task_features['global'] must have {len(GLOBAL_FEATURES)} numbers; got {len(key[1])}"
        )
    if not all(math.isfinite(v) for v in key[1]) or not all(math.isfinite(v) for row in key[0] for v in row):
        raise ValueError(f"{where}: task_features hold a non-finite number")
    return key


def global_vector(task_features: dict, landmarks: bool = False) -> tuple[float, ...]:
    """The global task vector a predictor reads (``global_feature_names(landmarks)``) from a task's features; a
    one-line ``ValueError`` when they do not hold it."""
    return _check_task_features(task_features, "task_features", landmarks)[1]


def task_range(records: Sequence[dict], landmarks: bool = False) -> TaskRange:
    """The range of the global task features over the tasks of ``records`` (what :meth:`AccuracyPredictor.fit`
    keeps as ``task_range_`` when it meta-trains on them); see :mod:`predictor.novelty`."""
    keys = {_check_task_features(r["task_features"], "task_range", landmarks)[1] for r in records}
    if not keys:
        raise ValueError("task_range: no records")
    return TaskRange.of(global_feature_names(landmarks), np.array(sorted(keys)))


def _tasks_tensor(keys: Sequence[tuple]) -> _Tasks:
    classes = torch.tensor([row for k in keys for row in k[0]], dtype=torch.float32)
    sizes = torch.tensor([len(k[0]) for k in keys])
    return _Tasks(
        classes=classes,
        class_batch=torch.repeat_interleave(torch.arange(len(keys)), sizes),
        glob=torch.tensor([k[1] for k in keys], dtype=torch.float32),
    )


def _as_genome(g: Genome | str, where: str) -> Genome:
    if isinstance(g, Genome):
        return g
    if isinstance(g, str):
        try:
            return Genome.from_json(g)
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
    raise ValueError(f"{where}: a genome must be a Genome or its JSON text; got {type(g).__name__}")


def _check_budget(b: Any, where: str) -> int:
    if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 1:
        raise ValueError(f"{where}: the budget must be a positive whole number of epochs; got {b!r}")
    return int(b)


def _check_accuracy(y: Any, where: str) -> float:
    try:
        y = float(y)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: the target must be an accuracy in [0, 1]; got {y!r}") from None
    if not 0.0 <= y <= 1.0:
        raise ValueError(f"{where}: the target must be an accuracy in [0, 1]; got {y!r}")
    return y


def _ranks_in_groups(target: Tensor, group: Tensor) -> Tensor:
    """Each example's rank in its group by target: how many examples of the group have a higher one (0: the best;
    ties share a rank)."""
    t, g = target.numpy(), group.numpy()
    rank = np.zeros(len(t), dtype=np.int64)
    order = np.lexsort((-t, g))  # by group, then by target, highest first
    starts = np.flatnonzero(np.r_[True, np.diff(g[order]) != 0])
    for idx in np.split(order, starts[1:]):
        down = -t[idx]  # ascending
        rank[idx] = np.searchsorted(down, down, side="left")
    return torch.from_numpy(rank)


def _examples(records: Sequence[dict], curve_weight: float, landmarks: bool = False) -> _Examples:
    if len(records) == 0:
        raise ValueError("no records: fit and adapt need at least one record")
    genome_ids: dict[str, int] = {}
    genomes: list[Genome] = []
    task_ids: dict[tuple, int] = {}
    group_ids: dict[tuple[str, int], int] = {}
    rows: list[tuple[int, int, int, float, float, int, int]] = []  # genome, task, budget, target, weight, group, source
    source_ids: dict[str, int] = {}
    for i, rec in enumerate(records):
        where = f"record {i}"
        if not isinstance(rec, dict):
            raise ValueError(f"{where} must be a dict; got {type(rec).__name__}")
        missing = [k for k in _REQUIRED_KEYS if k not in rec]
        if missing:
            raise ValueError(f"{where} is missing the key {missing[0]!r}; a record needs {', '.join(_REQUIRED_KEYS)}")
        g = rec["genome"]
        gkey = g if isinstance(g, str) else _as_genome(g, where).to_json(indent=None)
        if gkey not in genome_ids:
            genome_ids[gkey] = len(genomes)
            genomes.append(_as_genome(g, where))
        tkey = _check_task_features(rec["task_features"], where, landmarks)
        task = task_ids.setdefault(tkey, len(task_ids))
        budget = _check_budget(rec["budget"], where)
        group = str(rec["group"])
        points = [(budget, _check_accuracy(rec["target"], where), 1.0)]
        curve = rec.get("curve") or []
        if len(curve) > budget:
            raise ValueError(f"{where}: the curve has {len(curve)} epochs but the budget is {budget}")
        if curve_weight > 0:  # the accuracy after each earlier epoch is a label at that budget
            points += [
                (e + 1, _check_accuracy(a, f"{where} curve"), curve_weight)
                for e, a in enumerate(curve)
                if e + 1 < budget
            ]
        tags = rec.get("tags")
        source = source_ids.setdefault(str(tags.get("source", "")) if isinstance(tags, dict) else "", len(source_ids))
        for b, y, w in points:
            rows.append((genome_ids[gkey], task, b, y, w, group_ids.setdefault((group, b), len(group_ids)), source))
    cols = list(zip(*rows))
    target, rank_group = torch.tensor(cols[3], dtype=torch.float32), torch.tensor(cols[5])
    return _Examples(
        genomes=genomes,
        tasks=_tasks_tensor(list(task_ids)),
        genome_index=torch.tensor(cols[0]),
        task_index=torch.tensor(cols[1]),
        log2_budget=torch.log2(torch.tensor(cols[2], dtype=torch.float32)),
        target=target,
        weight=torch.tensor(cols[4], dtype=torch.float32),
        rank_group=rank_group,
        source=torch.tensor(cols[6]),
        rank=_ranks_in_groups(target, rank_group),
    )


def _scale_for_coverage(
    err: np.ndarray, spread: np.ndarray, floor: float | np.ndarray, coverage: float
) -> float | None:
    """The smallest ``scale`` with ``err <= sqrt((scale * spread)^2 + floor^2)`` for ``coverage`` of the records
    (``floor``: one number, or one per record); ``None`` when the floor alone covers more than that (no scale of the
    spread can be fitted)."""
    if np.mean(err <= floor) >= coverage:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        needed = np.sqrt(np.maximum(err**2 - floor**2, 0.0)) / spread  # record i is covered from scale needed[i]
    needed = np.where(err <= floor, 0.0, np.where(spread > 0, needed, np.inf))
    scale = float(np.quantile(needed, coverage, method="higher"))
    return scale if math.isfinite(scale) else None


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def _shifted(p: np.ndarray, shift: float) -> np.ndarray:
    """``p`` moved by ``shift`` in logit space: the order kept, nothing pushed past 0 or 1."""
    return 1.0 / (1.0 + np.exp(-(_logit(p) + shift)))


def fit_calibration(
    err: np.ndarray,
    spread: np.ndarray,
    coverage: float = 0.68,
    floors: Sequence[float] = CALIBRATION_FLOORS,
    shape: np.ndarray | None = None,
) -> tuple[float, float]:
    """``(scale, floor)`` such that ``sqrt((scale * spread)^2 + floor^2)`` covers ``coverage`` of the absolute
    errors ``err``: for each of ``floors`` the scale that covers them, and of those the pair with the best Gaussian
    likelihood (see :meth:`AccuracyPredictor.calibrate`). ``shape``: a floor of ``floor * shape`` per record
    instead of one number (``benchmarks/predictor_sigma_forms.py`` asks whether such forms cover better).

    Raises:
        ValueError: no scale and floor cover the errors (the spreads are all zero).
    """
    err, spread = np.asarray(err, dtype=float), np.asarray(spread, dtype=float)
    best = None
    for level in floors:
        floor = level if shape is None else level * np.asarray(shape, dtype=float)
        scale = _scale_for_coverage(err, spread, floor, coverage)
        if scale is None:
            continue
        std = np.sqrt((scale * spread) ** 2 + floor**2)
        nll = float(np.mean(0.5 * (err / std) ** 2 + np.log(std)))
        if best is None or nll < best[0]:
            best = (nll, scale, level)
    if best is None:
        raise ValueError("calibrate: no scale and floor cover the records (are the spreads all zero?)")
    return round(best[1], 6), best[2]


def _feature_dims(config: NetConfig) -> dict[str, int]:
    """Sizes of the inputs, derived from the network configuration."""
    return {
        "node": config.node_features,
        "edge_types": config.num_edge_types,
        "class": config.class_features,
        "global": config.global_features,
    }


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python number it holds (``torch.load(weights_only=True)`` reads only those)."""
    return value.item() if isinstance(value, np.generic) else value


def _member_seeds(random_state: int, n: int) -> list[int]:
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(random_state).spawn(n)]


@contextlib.contextmanager
def _single_threaded_torch() -> Iterator[None]:
    """Run the block with one torch intra-op thread, then restore the setting (a process-wide setting)."""
    before = torch.get_num_threads()
    if before != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def _parallel_map(fn: Callable[[Any], Any], items: Sequence, n_workers: int) -> list:
    """``[fn(x) for x in items]`` on ``n_workers`` threads (torch releases the GIL inside its kernels)."""
    if n_workers <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="dass-predictor") as pool:
        return list(pool.map(fn, items))


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


# ---------------------------------------------------------------------------------------------
# The estimator
# ---------------------------------------------------------------------------------------------
class AccuracyPredictor(BaseEstimator):
    """Predicts the accuracy a student genome + recipe reaches when distilled on a task, with uncertainty.

    Args:
        hidden: width of the GNN, the task encoder and the head.
        layers: message-passing layers.
        recipe_readout: the graph embedding also takes the final states of the recipe nodes, not only the
            mean and max over all nodes (see :class:`~predictor.model.NetConfig`).
        sum_readout: the graph embedding also takes the sum over all nodes, which sees the size of the graph.
        n_models: members of the deep ensemble; the spread of their predictions is the uncertainty.
        epochs: passes over the training records in :meth:`fit`.
        lr: AdamW learning rate of :meth:`fit` (cosine-decayed to zero).
        rank_weight: weight of the RankNet loss against the regression loss.
        rank_top: how much the RankNet loss weighs the pairs at the top of a group more (0: all the same; 1: by
            the difference of the two students' DCG position discounts at their true ranks in the whole group;
            :func:`~predictor.losses.pairwise_rank_loss`'s ``top``).
        batch_size: records per step; a batch is filled group by group so that it holds ranking pairs.
        weight_decay: AdamW weight decay.
        curve_weight: weight of the extra labels from the per-epoch ``curve`` of a record (0 ignores curves).
        task_noise: std of the Gaussian noise added to the standardised task features of each training batch
            in :meth:`fit` (0: none); a regulariser against relying on the exact features of the meta-train tasks.
        task_noise_on: ``"all"``: the noise falls on every task feature; ``"probe"``: on the statistics
            estimated on the probe set only, while the metadata (:data:`~distill.probe.METADATA_FEATURES`: the
            number of classes, the training-set size, the channels, the input side, the teacher's size) stay
            exact, so that tasks which differ only there (8 px digits and 32 px digits) stay apart.
        balance: ``None`` (every record once an epoch) or ``"source"``: every task source (the records'
            ``tags["source"]``: MNIST, glyphs, ...) weighs the same in an epoch, whatever its number of records,
            so that one kind of data with many tasks does not shape the predictor alone. A number ``a`` between
            0 and 1 tempers it: a source with a share ``p`` of the records gets a share proportional to ``p**a``
            of an epoch (0 is ``"source"``, 1 is ``None``; 0.5 lets a large source count, less than its size).
        landmarks: the task is also described by its landmarks (:mod:`distill.landmarks`: what two reference
            students reach on it without a teacher), which every record's and every prediction's
            ``task_features["landmarks"]`` must then carry.
        n_jobs: threads that train the ensemble members and predict chunks of genomes side by side
            (``-1``: one per CPU core, ``None``: 1). Inside ``fit``/``predict``/``adapt`` torch itself runs
            single-threaded (the setting is restored afterwards): the graph batches are small, and torch's
            intra-op threads stall badly when other processes keep the cores busy, while independent
            threads degrade gracefully. Results do not depend on it.
        random_state: seed of everything random (initial weights, batch order); the global RNG is left alone.

    Attributes (after :meth:`fit`):
        models_: the ensemble, a list of :class:`~predictor.model.AccuracyNet` in eval mode.
        meta_states_: the state dicts :meth:`fit` produced; :meth:`adapt` always starts from them.
        config_: the :class:`~predictor.model.NetConfig` of the members.
        layout_: the graph layout the members read (:mod:`predictor.layout`): today's full layout after
            :meth:`fit`; after :meth:`load`, the one the file was trained in (the predictor reads today's graphs
            projected onto it by name, and refuses a genome that needs a feature it was trained without).
        feature_dims_: sizes of the inputs: ``{"node": ..., "edge_types": ..., "class": ..., "global": ...}``.
        n_features_in_: node feature size of the student graphs.
        n_records_, n_tasks_: what ``fit`` saw.
        budgets_: ``(fewest, most)`` training epochs among the labels ``fit`` saw (per-epoch curve points
            included); ``None`` for a file saved before it was recorded. See :meth:`budget_note`.
        task_range_: the range of every global task feature over the meta-training tasks
            (:class:`~predictor.novelty.TaskRange`); ``None`` for a file saved before it was recorded. See
            :meth:`task_note`.
        adapted_: whether :meth:`adapt` changed the predictions since ``fit``.
        adaptation_: what the last :meth:`adapt` did (``{"method": ..., "records": ...}``, and the out-of-fold
            concordance of each candidate for ``"guarded"``); ``None`` when not adapted.
        shift_: the offset a guarded adaptation added to the logit of every prediction (0.0 otherwise): the
            predictions move together and keep their order.
        task_scale_: the factor an adaptation put on the reported standard deviation for its task (1.0 when not
            adapted, or adapted with ``calibrate=False`` or on too few records); see :meth:`adapt`.
        calibration_: ``(scale, floor)`` of the reported uncertainty, ``sqrt((scale * spread)^2 + floor^2)``
            with ``spread`` the members' standard deviation; ``(1.0, 0.0)`` (the raw spread) until
            :meth:`calibrate` is called on held-out records.
    """

    def __init__(
        self,
        hidden: int = 64,
        layers: int = 3,
        recipe_readout: bool = False,
        sum_readout: bool = False,
        n_models: int = 5,
        epochs: int = 60,
        lr: float = 3e-3,
        rank_weight: float = 1.0,
        rank_top: float = 0.0,
        batch_size: int = 128,
        weight_decay: float = 1e-4,
        curve_weight: float = 0.5,
        task_noise: float = 0.0,
        task_noise_on: str = "all",
        balance: str | None = None,
        landmarks: bool = False,
        n_jobs: int | None = -1,
        random_state: int = 0,
    ) -> None:
        self.hidden = hidden
        self.layers = layers
        self.recipe_readout = recipe_readout
        self.sum_readout = sum_readout
        self.n_models = n_models
        self.epochs = epochs
        self.lr = lr
        self.rank_weight = rank_weight
        self.rank_top = rank_top
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.curve_weight = curve_weight
        self.task_noise = task_noise
        self.task_noise_on = task_noise_on
        self.balance = balance
        self.landmarks = landmarks
        self.n_jobs = n_jobs
        self.random_state = random_state

    # ---- fitting ----
    def _check_params(self) -> None:
        for name in ("hidden", "layers", "n_models", "epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"the {name!r} parameter must be a positive integer; got {value!r}")
        for name in ("lr", "rank_weight", "weight_decay", "curve_weight", "task_noise"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"the {name!r} parameter must be a non-negative number; got {value!r}")
        top = self.rank_top
        if isinstance(top, bool) or not isinstance(top, (int, float, np.floating, np.integer)) or not 0 <= top <= 1:
            raise ValueError(f"the 'rank_top' parameter must be a number from 0 to 1; got {top!r}")
        n_jobs = self.n_jobs
        if n_jobs is not None and (
            isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0
        ):
            raise ValueError(f"the 'n_jobs' parameter must be a non-zero integer or None; got {n_jobs!r}")
        for name in ("recipe_readout", "sum_readout", "landmarks"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"the {name!r} parameter must be True or False; got {getattr(self, name)!r}")
        if self.task_noise_on not in TASK_NOISE_ON:
            raise ValueError(
                f"the 'task_noise_on' parameter must be one of {', '.join(map(repr, TASK_NOISE_ON))}; "
                f"got {self.task_noise_on!r}"
            )
        if self.balance not in (None, "source") and not (
            isinstance(self.balance, (int, float, np.floating, np.integer))
            and not isinstance(self.balance, bool)
            and 0 <= self.balance <= 1
        ):
            raise ValueError(
                f"the 'balance' parameter must be None, 'source' or a number from 0 to 1; got {self.balance!r}"
            )
        if not isinstance(self.random_state, (int, np.integer)):
            raise ValueError(f"the 'random_state' parameter must be an integer; got {self.random_state!r}")

    def fit(self, records: Sequence[dict]) -> AccuracyPredictor:
        """Meta-train the ensemble on ``records`` (see the module docstring for their keys).

        Returns:
            ``self``.
        """
        self._check_params()
        with _single_threaded_torch():
            data = _examples(records, self.curve_weight, self.landmarks)
            layout = graph_module.LAYOUT  # a fitted predictor reads today's full layout
            config = NetConfig(
                hidden=self.hidden,
                layers=self.layers,
                recipe_readout=bool(self.recipe_readout),
                sum_readout=bool(self.sum_readout),
                node_features=layout.num_features,
                num_edge_types=layout.num_edge_types,
                global_features=len(global_feature_names(self.landmarks)),
            )
            graphs = encode_batch(data.genomes, layout)
            initial = []
            for seed in _member_seeds(self.random_state, self.n_models):
                with torch.random.fork_rng(devices=[]):  # initial weights from the member's seed only
                    torch.manual_seed(seed)
                    initial.append((AccuracyNet(config, layout), seed))
            # the members train side by side, each from its own seed and batch order
            trained = _parallel_map(
                lambda item: self._fit_member(item[0], data, graphs, item[1]), initial, self._workers(len(initial))
            )
        models = []
        for k, (model, loss) in enumerate(trained):
            logger.info("ensemble member %d/%d: final training loss %.4f", k + 1, self.n_models, loss)
            models.append(model)
        self.config_ = config
        self.layout_ = layout
        self.models_ = models
        self.meta_states_ = [copy.deepcopy(m.state_dict()) for m in models]
        self.feature_dims_, self.n_features_in_ = _feature_dims(config), config.node_features
        self.n_records_ = len(records)
        self.n_tasks_ = int(data.tasks.glob.shape[0])
        epochs = torch.exp2(data.log2_budget).round()
        self.budgets_ = (int(epochs.min()), int(epochs.max()))
        self.task_range_ = task_range(records, self.landmarks)
        self.adapted_ = False
        self.shift_, self.task_scale_, self.adaptation_ = 0.0, 1.0, None
        self.calibration_ = (1.0, 0.0)
        return self

    def budget_note(self, budget: int) -> str | None:
        """A one-line warning when ``budget`` lies outside the epochs the predictor was meta-trained on
        (its prediction there is an extrapolation along the budget axis), else ``None``."""
        self._check_fitted("budget_note")
        budget = _check_budget(budget, "budget_note")
        if self.budgets_ is None or self.budgets_[0] <= budget <= self.budgets_[1]:
            return None
        low, high = self.budgets_
        seen = f"a budget of {low} epoch{'s' * (low > 1)}" if low == high else f"budgets of {low} to {high} epochs"
        return f"the predictor was meta-trained on {seen}; its prediction at {budget} epochs is an extrapolation"

    def task_distance(self, task_features: dict) -> float | None:
        """How far outside its meta-training tasks this task lies on its furthest global feature, in those tasks'
        standard deviations (0.0 inside; :mod:`predictor.novelty`); ``None`` for a file saved before the range
        was recorded."""
        self._check_fitted("task_distance")
        if self.task_range_ is None:
            return None
        return self.task_range_.distance(global_vector(task_features, self.landmarks))

    def task_embeddings(self, task_features: Sequence[dict]) -> np.ndarray:
        """``(T, hidden)``: the members' mean embedding of each task (what FiLM conditions the students on), for
        comparing tasks as the network sees them rather than by their raw features."""
        self._check_fitted("task_embeddings")
        keys = [_check_task_features(f, f"task {i}", self.landmarks) for i, f in enumerate(task_features)]
        if not keys:
            return np.zeros((0, self.config_.hidden))
        tasks = _tasks_tensor(keys)
        with _single_threaded_torch(), torch.inference_mode():
            emb = [m.embed_tasks(tasks.classes, tasks.class_batch, tasks.glob) for m in self.models_]
        return torch.stack(emb).mean(0).double().numpy()

    def task_note(self, task_features: dict) -> str | None:
        """A one-line notice when the task lies further than ``NOTICE_DISTANCE`` outside the meta-training tasks
        (:meth:`task_distance`): the zero-shot prediction is then an extrapolation, the least trustworthy the
        predictor gives; ``None`` otherwise (and for a file saved before the range was recorded)."""
        distance = self.task_distance(task_features)
        if distance is None or distance <= NOTICE_DISTANCE:
            return None
        outside = self.task_range_.describe(global_vector(task_features, self.landmarks))
        return (
            f"this task lies outside the predictor's {self.task_range_.tasks} meta-training (task, teacher) pairs on "
            f"{outside}: its zero-shot predictions are an extrapolation (trust measured "
            "accuracies over them; a search adapts the predictor to its rung records)"
        )

    def refusal(self, genomes: Sequence[Genome]) -> str | None:
        """Why this predictor cannot score ``genomes`` (it was meta-trained without a student family of one of
        them), as the one-line message :meth:`predict` would raise; ``None`` when it can."""
        self._check_fitted("refusal")
        try:
            encode_batch(list(genomes), self.layout_)
        except ValueError as e:
            return str(e)
        return None

    def space_refusal(self, space: str, samples: int = 64) -> str | None:
        """:meth:`refusal` for the genomes of search space ``space``, checked on ``samples`` genomes drawn from
        it with a fixed seed."""
        rng = np.random.default_rng(0)
        return self.refusal([get_space(space).sample(rng) for _ in range(samples)])

    def _workers(self, n_tasks: int) -> int:
        n = 1 if self.n_jobs is None else int(self.n_jobs)
        if n < 0:  # as in scikit-learn: -1 is every core, -2 every core but one, ...
            n = max(1, (os.cpu_count() or 1) + 1 + n)
        return max(1, min(n, n_tasks))

    def _fit_member(self, model: AccuracyNet, data: _Examples, graphs, seed: int) -> tuple[AccuracyNet, float]:
        model.set_input_scaling(data.tasks.classes, data.tasks.glob, data.log2_budget)
        with torch.no_grad():  # start from the mean accuracy
            mean = float((data.weight * data.target).sum() / data.weight.sum())
            model.head[-1].bias.fill_(math.log(max(mean, 1e-3) / max(1 - mean, 1e-3)))
        loss = self._train(model, data, graphs, torch.Generator().manual_seed(seed))
        return model.eval(), loss

    def _batches(self, data: _Examples, generator: torch.Generator) -> list[Tensor]:
        """One epoch of record indices, shuffled, then grouped so that each batch holds ranking pairs.

        With ``balance="source"`` every task source weighs the same in an epoch: a group of a source with
        ``n_s`` of the ``n`` records is drawn ``n / (S n_s)`` times on average (the integer part, plus one more
        with the remainder as probability), so a family with few tasks is seen as often as one with many. With a
        number ``a``, the source's share of the epoch is ``p**a / sum(p_t**a)`` for its share ``p = n_s / n`` of
        the records instead of ``1 / S``."""
        n = len(data.target)
        perm = torch.randperm(n, generator=generator)
        n_groups = int(data.rank_group.max()) + 1
        if self.balance is None:
            group_order = torch.randperm(n_groups, generator=generator)
            perm = perm[torch.argsort(group_order[data.rank_group[perm]], stable=True)]
            return list(perm.split(self.batch_size))
        per_source = torch.bincount(data.source).double()
        exponent = 0.0 if self.balance == "source" else float(self.balance)
        weight = torch.where(per_source > 0, (per_source / n) ** exponent, torch.zeros_like(per_source))
        share = weight / weight.sum()  # each source's share of an epoch's n draws
        source_of_group = torch.zeros(n_groups, dtype=torch.long).scatter_(0, data.rank_group, data.source)
        rate = (n * share / per_source.clamp_min(1))[source_of_group]  # (n_groups,) expected draws of each group
        draws = rate.floor().long() + (torch.rand(n_groups, generator=generator, dtype=torch.float64) < rate.frac())
        times = draws[data.rank_group[perm]]
        perm, group = perm.repeat_interleave(times), data.rank_group[perm].repeat_interleave(times)
        starts = torch.cumsum(times, 0) - times  # each record's copies are numbered 0, 1, ...: copy k of a group
        copy = torch.arange(len(perm)) - starts.repeat_interleave(times)  # is a group instance of its own
        most = int(draws.max()) if n_groups else 1
        instance_order = torch.randperm(n_groups * most, generator=generator)
        perm = perm[torch.argsort(instance_order[group * most + copy], stable=True)]
        return list(perm.split(self.batch_size))

    def _loss(
        self, model: AccuracyNet, data: _Examples, graphs, idx: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """The training loss of the records ``idx``; with a ``generator``, task features get ``task_noise``."""
        genome_ids, inverse = torch.unique(data.genome_index[idx], return_inverse=True)
        sub = select_graphs(graphs, genome_ids)
        adj = adjacency_of(sub, len(model.layout.edge_kinds))
        g = model.embed_graphs(sub.x, adj, sub.batch, len(genome_ids))[inverse]  # (B, R)
        noise = self.task_noise if generator is not None else 0.0
        exact = _metadata_mask(self.landmarks) if self.task_noise_on == "probe" else None
        t = model.embed_tasks(data.tasks.classes, data.tasks.class_batch, data.tasks.glob, noise, generator, exact)
        t = t[data.task_index[idx]]
        logits = model.head_logits(g, t, data.log2_budget[idx])
        loss = regression_loss(logits, data.target[idx], data.weight[idx])
        if self.rank_weight > 0:
            loss = loss + self.rank_weight * pairwise_rank_loss(
                logits, data.target[idx], data.rank_group[idx], top=float(self.rank_top), rank=data.rank[idx]
            )
        return loss

    def _train(self, model: AccuracyNet, data: _Examples, graphs, generator: torch.Generator) -> float:
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        steps = self.epochs * math.ceil(len(data.target) / self.batch_size)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s / steps, 1))))
        last = float("nan")
        for epoch in range(self.epochs):
            total, count = 0.0, 0
            for idx in self._batches(data, generator):
                loss = self._loss(model, data, graphs, idx, generator)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
                opt.step()
                sched.step()
                total, count = total + float(loss.detach()) * len(idx), count + len(idx)
            last = total / count
            if logger.isEnabledFor(logging.DEBUG) and (epoch + 1) % 10 == 0:
                logger.debug("epoch %d/%d: loss %.4f", epoch + 1, self.epochs, last)
        return last

    # ---- adaptation ----
    def adapt(
        self,
        records: Sequence[dict],
        steps: int = 20,
        lr: float = 3e-3,
        params: str = "all",
        anchor: float = 1.0,
        method: str = "finetune",
        calibrate: bool = True,
    ) -> AccuracyPredictor:
        """Adapt to a few ground-truth records of a new task: fine-tune a copy of the meta-trained ensemble
        (``method="finetune"``), or leave it as it is and model its errors on the task (``method="residual"``:
        a Gaussian process on the residuals, :mod:`predictor.residual`; ``steps``, ``lr``, ``params`` and
        ``anchor`` are not used then), or fine-tune under a guard (``method="guarded"``, :mod:`predictor.guard`):
        where, fine-tuned on part of the records, the predictor orders the others worse than the meta-trained one
        does, it only adds one offset for the task (the mean residual), which cannot change the ranking.
        ``adaptation_`` says what was done.

        Every call starts again from the weights :meth:`fit` produced (``meta_states_``), so calling it
        with all the records gathered so far never compounds earlier adaptations. The few records are
        used full-batch for a fixed number of steps; an L2 pull towards the meta-trained weights
        (L2-SP, Li et al., ICML 2018) keeps a handful of records from dragging the model far. The defaults
        are the best of 22 settings scored on the meta-validation tasks of the checkpoint shipped then (five
        members of 64 channels; ``benchmarks/predictor_adapt_tuning.py``: 10 records of a group, 5 draws,
        Spearman on the rest):
        every weight with a strong pull (anchor 1) reached 0.879 against 0.855 zero-shot on the same
        records; the head alone at most 0.860, the task side alone at most 0.861.

        Args:
            records: records of the new task (same keys as for :meth:`fit`).
            steps: optimiser steps.
            lr: Adam learning rate.
            params: what is tuned. ``"head"``: the FiLM conditioning and the head. ``"context"``: only an offset
                of the task embedding (the bias of the task encoder's last layer; context adaptation, as in
                CAVIA, Zintgraf et al., ICML 2019): the records move the task within what meta-training
                learned, the way the students are compared stays. ``"task"``: the whole task encoder.
                ``"all"``: every weight.
            anchor: weight of the L2 pull towards the meta-trained weights.

            method: ``"finetune"``, ``"residual"`` or ``"guarded"``.
            calibrate: (``"finetune"`` and ``"guarded"``) re-scale the uncertainty for this task: the records'
                students are split into folds, the predictor is fine-tuned without each fold and predicts it,
                and the reported standard deviation is multiplied by ``task_scale_``, the factor whose +-1
                sigma interval covers ``TASK_COVERAGE`` of these out-of-fold errors (a split-conformal
                quantile, :func:`predictor.guard.task_scale`). A task unlike the meta-training ones is then
                reported as uncertain as it is. It costs one fine-tuning per fold; it needs
                ``MIN_TASK_CALIBRATION`` records of at least two students.

        Returns:
            ``self``, whose ``models_`` are now the adapted ones (``"finetune"``) or whose predictions are
            corrected by ``residual_`` (``"residual"``).
        """
        self._check_fitted("adapt")
        if method not in ADAPT_METHODS:
            allowed = ", ".join(repr(m) for m in ADAPT_METHODS)
            raise ValueError(f"the 'method' parameter must be one of {{{allowed}}}; got {method!r}")
        if method == "residual":
            return self._adapt_residual(records)
        if params not in _ADAPT_PARAMS:
            allowed = ", ".join(repr(p) for p in _ADAPT_PARAMS)
            raise ValueError(f"the 'params' parameter must be one of {{{allowed}}}; got {params!r}")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(f"the 'steps' parameter must be a non-negative integer; got {steps!r}")
        if method == "guarded":
            return self._adapt_guarded(records, steps, lr, params, anchor, calibrate)
        self.reset_adaptation()
        # one example per record, in order
        data = _examples(records, 0.0, self.landmarks) if calibrate and records else None
        oof = self._out_of_fold(records, data, steps, lr, params, anchor) if data is not None else None
        self.models_ = self._finetuned(records, steps, lr, params, anchor)
        self.adapted_ = True
        self.adaptation_ = {"method": "finetune", "records": len(records)}
        if oof is not None:
            mean, std = oof
            self._set_task_scale(np.abs(data.target.double().numpy() - mean), std)
        logger.info("adapted %d ensemble members on %d records (%s)", len(self.models_), len(records), params)
        return self

    def _out_of_fold(
        self,
        records: Sequence[dict],
        data: _Examples,
        steps: int,
        lr: float,
        params: str,
        anchor: float,
        min_records: int = MIN_TASK_CALIBRATION,
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """``(mean, std)`` of every record (``data``: ``_examples(records, 0.0)``, one example per record), predicted
        by the predictor fine-tuned on the other folds' students (:func:`~predictor.guard.student_folds`); ``None``
        when there are fewer than ``min_records`` records or they make fewer than two folds. ``models_`` is left
        as it is."""
        if len(records) < min_records:
            return None
        genomes = [data.genomes[i] for i in data.genome_index.tolist()]
        folds = student_folds([str(i) for i in data.genome_index.tolist()], GUARD_FOLDS, self.random_state)
        if len(folds) < 2:
            return None
        mean, std = np.zeros(len(records)), np.zeros(len(records))
        models, scale = self.models_, getattr(self, "task_scale_", 1.0)
        self.task_scale_ = 1.0
        try:
            for held in folds:
                fit = np.setdiff1d(np.arange(len(records)), held)
                self.models_ = self._finetuned([records[i] for i in fit], steps, lr, params, anchor)
                mean[held], std[held] = self._predict(
                    [genomes[i] for i in held], data.tasks, data.task_index[held], data.log2_budget[held]
                )
        finally:
            self.models_, self.task_scale_ = models, scale
        return mean, std

    def _set_task_scale(self, err: np.ndarray, std: np.ndarray) -> None:
        self.task_scale_ = task_scale(err, std, TASK_COVERAGE)
        self.adaptation_["task_scale"] = round(self.task_scale_, 6)

    def _finetuned(self, records: Sequence[dict], steps: int, lr: float, params: str, anchor: float) -> list:
        """The meta-trained members fine-tuned on ``records`` (``models_`` is left as it is)."""
        with _single_threaded_torch():
            data = _examples(records, self.curve_weight, self.landmarks)
            graphs = encode_batch(data.genomes, self.layout_)
            return _parallel_map(
                lambda state: self._adapt_member(state, data, graphs, steps, lr, params, anchor),
                self.meta_states_,
                self._workers(len(self.meta_states_)),
            )

    def _adapt_guarded(
        self, records: Sequence[dict], steps: int, lr: float, params: str, anchor: float, calibrate: bool
    ) -> AccuracyPredictor:
        """Fine-tune, unless fine-tuned out of fold the predictor orders the records worse than the meta-trained one
        by ``GUARD_MARGIN`` of its discordant pairs (:mod:`predictor.guard`); then only shift every prediction."""
        self.reset_adaptation()
        if not records:
            return self
        data = _examples(records, 0.0, self.landmarks)  # one example per record, in the records' order
        genomes = [data.genomes[i] for i in data.genome_index.tolist()]
        zero, zero_std = self._predict(genomes, data.tasks, data.task_index, data.log2_budget)
        target = data.target.double().numpy()
        budget = data.log2_budget.numpy()
        scores = {"shift": concordance(zero, target, budget)}
        oof = self._out_of_fold(records, data, steps, lr, params, anchor, min_records=2)
        if oof is not None:
            scores["finetune"] = concordance(oof[0], target, budget)
        base, tuned = scores["shift"], scores.get("finetune", np.nan)
        worse = np.isfinite(base) and np.isfinite(tuned) and tuned < base - GUARD_MARGIN * (1 - base)
        chosen = "shift" if worse or oof is None else "finetune"
        if chosen == "finetune":
            self.models_ = self._finetuned(records, steps, lr, params, anchor)
        else:  # one offset in logit space: every prediction moves, none crosses another or the ends of [0, 1]
            self.shift_ = float(np.mean(_logit(target) - _logit(zero)))
        self.adapted_ = True
        self.adaptation_ = {
            "method": chosen,
            "records": len(records),
            "concordance": {k: round(float(v), 6) for k, v in scores.items()},
        }
        if calibrate and len(records) >= MIN_TASK_CALIBRATION:
            if chosen == "finetune":
                self._set_task_scale(np.abs(target - oof[0]), oof[1])
            else:  # the shifted zero-shot predictions (one offset fitted on all the records: nearly out of fold)
                self._set_task_scale(np.abs(target - _shifted(zero, self.shift_)), zero_std)
        logger.info("guarded adaptation on %d records: %s (out-of-fold concordance %s)", len(records), chosen, scores)
        return self

    def _adapt_residual(self, records: Sequence[dict]) -> AccuracyPredictor:
        self.reset_adaptation()
        if not records:
            return self
        data = _examples(records, 0.0, self.landmarks)  # one example per record: final accuracies only
        genomes = [data.genomes[i] for i in data.genome_index.tolist()]
        mean, _, emb = self._predict(genomes, data.tasks, data.task_index, data.log2_budget, with_embeddings=True)
        self.residual_ = ResidualGP.fit(emb, data.target.double().numpy() - mean)
        self.adapted_ = True
        self.adaptation_ = {"method": "residual", "records": len(records)}
        logger.info("adapted to %d records by a residual Gaussian process", len(genomes))
        return self

    def _adapt_member(
        self, state: dict, data: _Examples, graphs, steps: int, lr: float, params: str, anchor: float
    ) -> AccuracyNet:
        model = self._member(state)
        model.requires_grad_(False)
        tuned = {
            "head": [model.film, model.head],
            "context": [model.task.rho[-1].bias],
            "task": [model.task],
            "all": [model],
        }[params]
        for part in tuned:
            part.requires_grad_(True)
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        start = {n: p.detach().clone() for n, p in named}
        opt = torch.optim.Adam([p for _, p in named], lr=lr)
        everything = torch.arange(len(data.target))
        model.train()
        for _ in range(steps):
            loss = self._loss(model, data, graphs, everything)
            loss = loss + anchor * sum(((p - start[n]) ** 2).sum() for n, p in named)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return model.requires_grad_(True).eval()

    def reset_adaptation(self) -> AccuracyPredictor:
        """Go back to the meta-trained weights."""
        self._check_fitted("reset_adaptation")
        self.models_ = [self._member(state) for state in self.meta_states_]
        self.residual_ = None
        self.shift_ = 0.0
        self.task_scale_ = 1.0
        self.adapted_ = False
        self.adaptation_ = None
        return self

    # ---- prediction ----
    def _check_fitted(self, what: str) -> None:
        if not hasattr(self, "models_"):
            raise NotFittedError(
                f"this AccuracyPredictor is not fitted yet: call 'fit' (or AccuracyPredictor.load) before '{what}'"
            )

    def _member(self, state: dict) -> AccuracyNet:
        model = AccuracyNet(self.config_, self.layout_)
        model.load_state_dict(state)
        return model.eval()

    def _predict(
        self,
        genomes: Sequence[Genome],
        tasks: _Tasks,
        task_index: Tensor,
        log2_budget: Tensor,
        with_embeddings: bool = False,
    ) -> tuple[np.ndarray, ...]:
        """``(mean, std)`` of the ensemble, corrected by a residual adaptation when there is one; with
        ``with_embeddings``, the uncorrected ``(mean, std, embeddings)``, the members' mean graph embedding
        of every genome as the third."""
        residual = None if with_embeddings else getattr(self, "residual_", None)
        out = torch.empty(len(self.models_), len(genomes))  # each member's predicted accuracy
        emb = None  # the members' mean graph embedding: mean and max pooling, plus the optional readouts
        if residual is not None or with_embeddings:
            c = self.config_
            emb = torch.zeros(len(genomes), c.hidden * (2 + int(c.recipe_readout) + int(c.sum_readout)))

        @torch.inference_mode()  # (a per-thread mode)
        def predict_chunk(start: int) -> None:
            stop = min(start + PREDICT_CHUNK, len(genomes))
            graph = encode_batch(genomes[start:stop], self.layout_)  # in the members' own layout
            adj = adjacency_of(graph, len(self.layout_.edge_kinds))  # shared by all members
            inputs = None if stems is None else stem_inputs(graph.x, adj)  # shared too
            for k, model in enumerate(self.models_):
                stem = None if stems is None else (inputs, stems[k])
                g = model.embed_graphs(graph.x, adj, graph.batch, stop - start, stem)  # (G, R)
                logits = model.head_logits(g, task_emb[k][task_index[start:stop]], log2_budget[start:stop])
                out[k, start:stop] = torch.sigmoid(logits)
                if emb is not None:
                    emb[start:stop] += g / len(self.models_)

        starts = range(0, len(genomes), PREDICT_CHUNK)
        with _single_threaded_torch():
            with torch.inference_mode():
                task_emb = [m.embed_tasks(tasks.classes, tasks.class_batch, tasks.glob) for m in self.models_]
                stems = [m.folded_stem() for m in self.models_]  # each member's first layer as one product
                stems = None if any(s is None for s in stems) else stems
            _parallel_map(predict_chunk, starts, self._workers(len(starts)))
        members = out.double().numpy()
        mean, std = members.mean(0), members.std(0)
        scale, floor = getattr(self, "calibration_", (1.0, 0.0))
        if (scale, floor) != (1.0, 0.0):
            std = np.sqrt((scale * std) ** 2 + floor**2)
        std = std * getattr(self, "task_scale_", 1.0)
        if with_embeddings:
            return mean, std, emb.double().numpy()
        if residual is not None:
            shift, var = residual.predict(emb.double().numpy())
            mean, std = np.clip(mean + shift, 0.0, 1.0), np.sqrt(std**2 + var)
        if getattr(self, "shift_", 0.0):
            mean = _shifted(mean, self.shift_)
        return mean, std

    def predict(
        self, genomes: Sequence[Genome | str], task_features: dict, budget: int | Sequence[int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Predicted accuracy of many genomes of one task, in one vectorised call.

        Args:
            genomes: ``Genome`` objects (fastest) or their JSON text.
            task_features: the task's :func:`~distill.probe.probe_features`.
            budget: training epochs, one for all genomes or one per genome.

        Returns:
            ``(mean, std)``: float arrays of shape ``(len(genomes),)``; the ensemble's mean predicted
            accuracy in [0, 1] and the spread of its members.
        """
        self._check_fitted("predict")
        genomes = [_as_genome(g, f"genome {i}") for i, g in enumerate(genomes)]
        if not genomes:
            return np.zeros(0), np.zeros(0)
        key = _check_task_features(task_features, "predict", self.landmarks)
        if isinstance(budget, (int, np.integer)) and not isinstance(budget, bool):
            budgets = np.full(len(genomes), _check_budget(budget, "predict"))
        else:
            budgets = np.array([_check_budget(b, f"budget {i}") for i, b in enumerate(budget)])
            if len(budgets) != len(genomes):
                raise ValueError(f"got {len(budgets)} budgets for {len(genomes)} genomes")
        log2_budget = torch.from_numpy(np.log2(budgets).astype(np.float32))
        return self._predict(genomes, _tasks_tensor([key]), torch.zeros(len(genomes), dtype=torch.long), log2_budget)

    def predict_records(self, records: Sequence[dict]) -> tuple[np.ndarray, np.ndarray]:
        """Predicted accuracy of records of mixed tasks and budgets (``target`` and ``group`` are not needed).

        Returns:
            ``(mean, std)`` arrays of shape ``(len(records),)``.
        """
        self._check_fitted("predict_records")
        genomes, budgets, task_index = [], [], []
        task_ids: dict[tuple, int] = {}
        for i, rec in enumerate(records):
            where = f"record {i}"
            if not isinstance(rec, dict) or any(k not in rec for k in ("genome", "task_features", "budget")):
                raise ValueError(f"{where} must be a dict with the keys 'genome', 'task_features' and 'budget'")
            genomes.append(_as_genome(rec["genome"], where))
            budgets.append(_check_budget(rec["budget"], where))
            key = _check_task_features(rec["task_features"], where, self.landmarks)
            task_index.append(task_ids.setdefault(key, len(task_ids)))
        if not genomes:
            return np.zeros(0), np.zeros(0)
        log2_budget = torch.log2(torch.tensor(budgets, dtype=torch.float32))
        return self._predict(genomes, _tasks_tensor(list(task_ids)), torch.tensor(task_index), log2_budget)

    # ---- calibration ----
    def calibrate(self, records: Sequence[dict], coverage: float = 0.68) -> AccuracyPredictor:
        """Make the reported uncertainty honest on records the predictor was not fitted on (meta-validation).

        The members' spread is too narrow (on v1's meta-validation +-1 spread covered 37 % of the measured
        accuracies): members trained on the same records agree more than the records do with them, and the
        labels carry seed noise the spread knows nothing of. The reported standard deviation becomes
        ``sqrt((scale * spread)^2 + floor^2)``: for each ``floor`` of a small grid (a noise level in accuracy
        points), ``scale`` is the one whose +-1 interval covers ``coverage`` of the records, and of those the
        pair with the best Gaussian likelihood is kept. Quantile matching rather than likelihood alone: the
        errors have heavier tails than a Gaussian, and a likelihood fit widens the interval to cover them.

        Args:
            records: held-out records with a ``target`` (e.g. :func:`predictor.data.mean_labels` of the
                meta-validation split); at least 20.
            coverage: the share of records the +-1 interval should cover (0.68: a Gaussian's).

        Returns:
            ``self``, with ``calibration_`` set.
        """
        self._check_fitted("calibrate")
        if not 0 < coverage < 1:
            raise ValueError(f"the 'coverage' parameter must be in (0, 1); got {coverage!r}")
        if len(records) < 20:
            raise ValueError(f"calibrate needs at least 20 held-out records; got {len(records)}")
        saved, self.calibration_ = getattr(self, "calibration_", (1.0, 0.0)), (1.0, 0.0)
        adapted = getattr(self, "residual_", None), getattr(self, "shift_", 0.0), getattr(self, "task_scale_", 1.0)
        self.residual_, self.shift_, self.task_scale_ = None, 0.0, 1.0
        try:
            mean, spread = self.predict_records(records)
        finally:
            self.calibration_, (self.residual_, self.shift_, self.task_scale_) = saved, adapted
        err = np.abs(np.array([_check_accuracy(r["target"], f"record {i}") for i, r in enumerate(records)]) - mean)
        self.calibration_ = fit_calibration(err, spread, coverage)
        logger.info("calibrated the uncertainty: scale %.3f, floor %.3f", *self.calibration_)
        return self

    # ---- persistence ----
    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted predictor to one file: tensors plus JSON-able parameters and metadata."""
        self._check_fitted("save")
        state = {
            "format_version": FORMAT_VERSION,
            "params": {k: _plain(v) for k, v in self.get_params().items()},
            "config": self.config_.to_dict(),
            "features": {  # the layout the members read, by name (predictor.layout): not necessarily today's
                "node": list(self.layout_.feature_names),
                "edge_kinds": list(self.layout_.edge_kinds),
                "class": list(CLASS_FEATURES),
                "global": list(global_feature_names(self.landmarks)),
            },
            "models": [m.state_dict() for m in self.models_],
            "meta_models": [] if not self.adapted_ else self.meta_states_,
            **({} if getattr(self, "residual_", None) is None else {"residual": self.residual_.state_dict()}),
            "info": {
                "n_records": self.n_records_,
                "n_tasks": self.n_tasks_,
                "adapted": self.adapted_,
                **({} if not getattr(self, "shift_", 0.0) else {"shift": float(self.shift_)}),
                **({} if getattr(self, "task_scale_", 1.0) == 1.0 else {"task_scale": float(self.task_scale_)}),
                **({} if getattr(self, "adaptation_", None) is None else {"adaptation": self.adaptation_}),
                **({} if self.calibration_ == (1.0, 0.0) else {"calibration": list(self.calibration_)}),
                **({} if self.budgets_ is None else {"budgets": list(self.budgets_)}),
                **({} if getattr(self, "task_range_", None) is None else {"task_range": self.task_range_.to_dict()}),
            },
        }
        path = os.fspath(path)
        tmp = f"{path}.tmp"
        torch.save(state, tmp)
        os.replace(tmp, path)  # never leave a half-written predictor under the real name

    @classmethod
    def load(cls, path: str | os.PathLike) -> AccuracyPredictor:
        """Read a predictor written by :meth:`save`.

        Raises:
            FileNotFoundError: no such file.
            ValueError: (one line, naming the file) the file is truncated, corrupted, not a predictor, of
                another ``format_version``, or needs a graph feature this dass no longer computes.
        """
        path = require_file(path, "predictor file")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # torch's reader raises many types (KeyError, ...) on a foreign or truncated file
            raise ValueError(f"cannot read predictor file {path!r}: {load_error(e)}") from None
        if not isinstance(state, dict) or "format_version" not in state:
            raise ValueError(f"{path!r} is not a dass predictor file (it has no 'format_version')")
        version = state["format_version"]
        if version != FORMAT_VERSION:
            raise ValueError(
                f"predictor file {path!r} has format_version {version!r}, but this dass reads format_version "
                f"{FORMAT_VERSION}: re-train it with `dass pretrain`"
            )
        try:
            features = state["features"]
            landmarks = bool(state["params"].get("landmarks", False))
            if features["class"] != list(CLASS_FEATURES) or features["global"] != list(global_feature_names(landmarks)):
                raise ValueError("its task features differ from this dass's")
            saved_layout = [features["node"], features["edge_kinds"]]
            if not all(isinstance(names, list) and all(isinstance(n, str) for n in names) for names in saved_layout):
                raise ValueError("its feature names are not lists of names")
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"predictor file {path!r} is damaged: {_first_line(e)}") from None
        # The members read graphs in the layout they were trained in, by name: today's layout may have grown
        # since (a student family, a recipe loss), as long as it still computes every one of their inputs.
        try:
            layout = checkpoint_layout(graph_module.LAYOUT, *saved_layout)
        except ValueError as e:
            raise ValueError(f"predictor file {path!r}: {e}") from None
        try:
            est = cls(**state["params"])
            est.config_ = NetConfig(**state["config"])
            est.layout_ = layout
            est.models_ = [est._member(s) for s in state["models"]]
            meta = state["meta_models"] or state["models"]
            est.meta_states_ = [copy.deepcopy(est._member(s).state_dict()) for s in meta]
            info = state["info"]
            est.n_records_, est.n_tasks_, est.adapted_ = int(info["n_records"]), int(info["n_tasks"]), info["adapted"]
            est.budgets_ = (int(info["budgets"][0]), int(info["budgets"][1])) if "budgets" in info else None
            est.task_range_ = TaskRange.from_dict(info["task_range"]) if "task_range" in info else None
            if est.task_range_ is not None and list(est.task_range_.names) != features["global"]:
                raise ValueError("its task range names other features than its global task vector")
            est.residual_ = ResidualGP.from_state_dict(state["residual"]) if "residual" in state else None
            est.shift_ = float(info.get("shift", 0.0))
            est.task_scale_ = float(info.get("task_scale", 1.0))
            est.adaptation_ = info.get("adaptation")
            est.calibration_ = tuple(float(v) for v in info.get("calibration", (1.0, 0.0)))
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise ValueError(f"predictor file {path!r} is damaged: {_first_line(e)}") from None
        est.feature_dims_, est.n_features_in_ = _feature_dims(est.config_), est.config_.node_features
        return est
