"""The collector: expand a suite into jobs, train them for real, store every result.

One process -- the driver -- owns the record store and alone writes to it. Training happens in
an executor of :mod:`distill.executors` that the caller owns: a local process pool (``--workers N``)
or a Ray cluster (``--ray-address``); every job is :func:`distill.job.run_job`. The
driver claims jobs, hands them out, heartbeats them while they run and records each result or
failure in one transaction. Killing it at any moment loses at most the runs in flight: finished
jobs are never trained again, and a restart (``dass collect`` on the same ``--db``) goes on.

On a GPU a worker trains a *group* of jobs at once (``group`` > 1, :func:`distill.executors.train_group`):
the driver hands out jobs of one task, teacher, budget and precision together, the worker trains them in one
loop (:func:`distill.group_job.run_jobs`), and the driver records each job's result on its own, exactly the
record the job would have had alone. A group killed mid-way is retrained on resume; its members that were
recorded are not. With ``group`` 1 (the CPU's default) every job is :func:`distill.job.run_job`, as always.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from datasets_meta.store import RecordStore
from datasets_meta.suite import Suite, stable_seed
from distill import job as train
from distill.executors import Executor, check_group, train_group
from distill.genome import get_space
from distill.group_job import run_jobs
from distill.io import code_commit, write_json
from distill.progress import Progress as ProgressDisplay
from distill.records import DONE_OUTCOMES, Job, Result
from distill.tasks import load_task
from distill.teachers import cache_dir, parse_zoo_name, teacher_config, teacher_id

log = logging.getLogger(__name__)

__all__ = [
    "Progress",
    "collect",
    "expand",
    "expand_cached",
    "progress_bar",
    "run_group",
    "run_job",
]


# ----------------------------------------------------------------------------- jobs of a suite
def expand(suite: Suite, data_dir: str | None = None, group: int = 1) -> list[Job]:
    """Every job of ``suite``: per (task, teacher), architectures spread across the size range,
    each with ``recipes_per_student`` distilling recipes and a no-distillation control, each
    trained with seeds ``0 .. label_seeds-1`` (the label is their mean).

    The noise ceiling needs a second, independent label of the same students. With one label
    seed, a ``replicate_fraction`` of architectures also gets seed 1. With more, every student of
    a ``replicate_fraction`` of the (task, teacher) pairs -- at least one per task family -- also
    gets seeds ``label_seeds .. 2 label_seeds-1``: the ceiling is then measured over all the
    students of a pair, spread across the size range, not over the few recipes of one architecture.
    A group marked ``replicate`` gets the further seeds for every student; a group with ``seeds = n``
    gets at least seeds ``0 .. n-1`` for every student.

    ``group``: how many jobs a worker trains together (a GPU collection); above 1 the jobs come in an order
    that gives full groups (:func:`_grouped_order`). The jobs themselves are the same.
    """
    space = get_space(suite.space)
    zoo_config = teacher_config(suite.teacher_epochs)
    k = suite.label_seeds
    replicate_pairs = _replicate_pairs(suite) if k > 1 else set()
    jobs: list[Job] = []
    tasks: dict[str, Any] = {}
    archs: dict[str, list] = {}
    for spec, teacher, tags in suite.pairs():
        task = tasks.get(spec) or tasks.setdefault(spec, load_task(spec, data_dir or suite.data_dir or None))
        tid = teacher_id(teacher, task, config=zoo_config)
        if spec not in archs:  # architectures depend on the task only: teachers of a task share students
            rng = np.random.default_rng(stable_seed(suite.seed, spec, "archs"))
            pool = [space.sample(rng, distill=False) for _ in range(8 * suite.students_per_pair)]
            sizes = np.log([g.count_params(task.in_shape, task.num_classes) for g in pool])
            order = np.argsort(sizes, kind="stable")
            archs[spec] = [
                pool[i] for i in order[np.linspace(0, len(order) - 1, suite.students_per_pair).round().astype(int)]
            ]
        rng = np.random.default_rng(stable_seed(suite.seed, spec, teacher, "recipes"))
        family = parse_zoo_name(teacher)[0]
        for arch in archs[spec]:
            genomes = [arch] if suite.controls else []
            genomes += [arch.with_recipe(space.sample_recipe(rng)) for _ in range(suite.recipes_per_student)]
            replicate = rng.random() < suite.replicate_fraction  # drawn whatever k is: the recipes stay the same
            if k > 1:
                replicate = (spec, teacher) in replicate_pairs
            replicate = replicate or suite.groups[tags["group"]].replicate
            n_seeds = max(2 * k if replicate else k, suite.groups[tags["group"]].seeds)
            for g in genomes:
                for seed in range(n_seeds):
                    jobs.append(
                        Job(
                            task_id=task.id,
                            teacher_id=tid,
                            genome_hash=g.hash,
                            budget=suite.budget,
                            seed=seed,
                            task_spec=spec,
                            teacher=teacher,
                            genome=g.to_json(indent=None),
                            suite=suite.name,
                            tags={
                                **tags,
                                "teacher_family": family,
                                "arch": arch.hash,
                                "control": not g.recipe.distills,
                                "replicate": replicate,
                                "teacher_epochs": suite.teacher_epochs,
                            },
                        )
                    )
    order = _collection_order(jobs, k) if group <= 1 else _grouped_order(jobs, k, group)
    return [jobs[i] for i in order]


def _replicate_pairs(suite: Suite) -> set[tuple[str, str]]:
    """The (task spec, teacher) pairs whose students all get the extra seeds: ``replicate_fraction`` of the
    pairs of every task family (source and domain), at least one, picked by a stable hash."""
    by_family: dict[tuple, list[tuple[str, str]]] = {}
    for spec, teacher, tags in suite.pairs():
        if suite.groups[tags["group"]].replicate_candidates:
            by_family.setdefault((tags["source"], tags["domain"]), []).append((spec, teacher))
    out = set()
    for pairs in by_family.values():
        n = max(1, round(suite.replicate_fraction * len(pairs))) if suite.replicate_fraction > 0 else 0
        out.update(sorted(pairs, key=lambda p: stable_seed(suite.seed, *p, "replicate"))[:n])
    return out


def _collection_order(jobs: list[Job], label_seeds: int) -> list[int]:
    """The order in which a collection runs ``jobs`` (indices), so that an interrupted one is useful.

    1. Every student's first seed, round-robin over (task, teacher) pairs: every pair partly filled,
       not some full and others empty. With one label seed, a replicate's seed 1 follows its round,
       so the noise ceiling can be measured early.
    2. The other label seeds of held-out pairs (the meta-test's labels are what evaluation rests on)
       and of replicated pairs, round-robin again;
    3. the further seeds (of replicated pairs: the noise ceiling of multi-seed labels; of groups with
       ``seeds``), one seed at a time: every such student has seed ``s`` before any has ``s + 1``;
    4. the other label seeds of the remaining pairs.
    """
    rank: dict[tuple, int] = {}
    keys = []
    for i, job in enumerate(jobs):
        pair = (job.task_id, job.teacher_id)
        if job.seed == 0:
            rank[pair] = rank.get(pair, -1) + 1
        if job.seed == 0 or (label_seeds == 1 and job.seed == 1 and job.tags["replicate"]):
            phase = 0
        elif job.seed >= label_seeds:
            phase = 2
        else:
            phase = 1 if job.tags.get("heldout") or job.tags["replicate"] else 3
        keys.append((phase, job.seed, rank[pair], i) if phase == 2 else (phase, rank[pair], job.seed, i))
    return [i for *_, i in sorted(keys)]


def _grouped_order(jobs: list[Job], label_seeds: int, group: int) -> list[int]:
    """The order of a collection whose workers train ``group`` jobs together (indices into ``jobs``).

    A group is jobs of one (task, teacher) pair, so the pairs take turns in blocks: each block is a student's
    label seeds (seeds ``0 .. label_seeds-1``) for ``group // label_seeds`` students of one pair (at least
    one), every pair's first block before any pair's second. Then the further seeds (replicates, groups with
    ``seeds``), one seed at a time as in :func:`_collection_order`, in blocks of ``group`` students of a pair.
    An interrupted collection thus holds complete labels of fewer students, rather than first seeds of all.
    """
    per_block = max(1, group // label_seeds)
    rank: dict[tuple, int] = {}
    first: dict[tuple, int] = {}
    keys = []
    for i, job in enumerate(jobs):
        pair = (job.task_id, job.teacher_id)
        first.setdefault(pair, i)
        if job.seed == 0:  # a student's seed 0 comes first among its jobs (see expand)
            rank[pair] = rank.get(pair, -1) + 1
        r = rank[pair]
        if job.seed < label_seeds:
            keys.append((0, 0, r // per_block, first[pair], r % per_block, job.seed, i))
        else:
            keys.append((1, job.seed, r // group, first[pair], r % group, 0, i))
    return [i for *_, i in sorted(keys)]


def expand_cached(suite: Suite, data_dir: str | None = None, cache: str | None = None, group: int = 1) -> list[Job]:
    """:func:`expand`, remembered on disk: a restarted collector is back at work in seconds."""
    what = {"suite": dataclasses.asdict(suite), "data_dir": data_dir, "commit": code_commit()}
    if group > 1:  # another order of the same jobs; the one-at-a-time order keeps its cache file
        what["group"] = group
    key = json.dumps(what, sort_keys=True)
    path = cache_dir(cache) / "suites" / f"{suite.name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"
    if path.exists():
        try:
            return [Job(**d) for d in json.loads(path.read_text())]
        except (ValueError, TypeError) as e:
            log.warning("re-expanding the suite: %s is unreadable (%s)", path, e)
    jobs = expand(suite, data_dir, group)
    write_json(path, [dataclasses.asdict(j) for j in jobs])
    return jobs


# ----------------------------------------------------------------------------- one job (in a worker)
def run_job(job: dict[str, Any], data_dir: str | None = None, device: str = "cpu") -> dict[str, Any]:
    """Train one job (the store's job as a dict, plus its ``code_commit``) and return its :class:`Result` as a
    dict; a failed run is a result with its reason. Never raises.

    This is the job function :func:`collect` hands to its executor: plain data in and out, so it crosses a
    process pool or a Ray cluster as it is. The training is :func:`distill.job.run_job`.
    """
    fields = dict(job)
    commit = fields.pop("code_commit", None)
    try:
        typed = Job(**fields)
    except (TypeError, ValueError) as e:  # the worker boundary: a malformed job fails with its reason
        return {"status": "error", "reason": train.error_reason(e)}
    return dict(vars(train.run_job(typed, data_dir, device, code_commit=commit)))


def run_group(jobs: list[dict[str, Any]], data_dir: str | None = None, device: str = "cpu") -> list[dict[str, Any]]:
    """Train a group of jobs together (each the store's job as a dict, plus its ``code_commit``); each one's
    :class:`Result` as a dict, in order, the same as :func:`run_job` gives it. Never raises.

    The job function of :func:`collect` when its workers train groups (``group`` > 1); the training is
    :func:`distill.group_job.run_jobs`.
    """
    out: list[dict[str, Any] | None] = [None] * len(jobs)
    commit = jobs[0].get("code_commit") if jobs else None  # the driver's: the same for every job
    typed, where = [], []
    for i, job in enumerate(jobs):
        fields = dict(job)
        fields.pop("code_commit", None)
        try:
            typed.append(Job(**fields))
            where.append(i)
        except (TypeError, ValueError) as e:  # the worker boundary: a malformed job fails with its reason
            out[i] = {"status": "error", "reason": train.error_reason(e)}
    for i, result in zip(where, run_jobs(typed, data_dir, device, code_commit=commit)):
        out[i] = dict(vars(result))
    return out  # type: ignore[return-value] -- every entry is set


def group_of(job: Job) -> tuple:
    """What jobs trained together must share: the task, the teacher (and how it was made), the budget and the
    precision (see :func:`distill.group_job.run_jobs`)."""
    tags = job.tags
    return (
        job.task_spec,
        job.teacher,
        job.teacher_id,
        tags.get("teacher_epochs"),
        tags.get("teacher_weights"),
        job.budget,
        tags.get("precision"),
    )


def in_groups(jobs: list[Job], group: int) -> list[list[Job]]:
    """``jobs`` cut into groups of at most ``group`` jobs that can train together, in the order of their first
    job (with ``group`` 1: each job alone, in order)."""
    by_key: dict[tuple, list[list[Job]]] = {}
    out: list[list[Job]] = []
    for job in jobs:
        chunks = by_key.setdefault(group_of(job), [])
        if not chunks or len(chunks[-1]) >= group:
            chunks.append([])
            out.append(chunks[-1])
        chunks[-1].append(job)
    return out


@dataclass
class Progress:
    done: int = 0
    failed: int = 0


# ----------------------------------------------------------------------------- the driver
def collect(
    store: RecordStore,
    executor: Executor,
    worker_name: str = "collector",
    heartbeat_s: float = 30.0,
    max_jobs: int | None = None,
    on_result: Callable[[Job, dict[str, Any]], None] | None = None,
    group: int | None = None,
) -> Progress:
    """Claim pending jobs, run them on ``executor``, record each outcome; returns when none are left.

    The executor is the caller's: it stays open, so that one set of workers serves many calls (a search calls
    this once per rung); the caller closes it (``with make_executor(...) as executor:``). Ctrl-C stops
    cleanly: the jobs in flight go back to pending, finished ones stay; closing the executor stops their runs.
    With ``group`` 1 every job runs :func:`run_job` on a worker; with more, a worker runs up to ``group`` jobs
    of one task, teacher and budget together (:func:`run_group`), and each is recorded as it would have been
    alone. ``None``: :func:`distill.executors.train_group` of the executor's device (1 on the CPU).
    """
    group = train_group(executor.device) if group is None else check_group(group)
    progress = Progress()
    commit = code_commit()
    in_flight: dict[Any, list[Job]] = {}
    last_beat = time.monotonic()
    submitted = 0
    # We hold the store's writer lock, so jobs still marked as ours were orphaned by a killed run.
    store.release(worker_name)
    try:
        while True:
            room = (executor.workers - len(in_flight)) * group  # jobs: a worker runs a group at a time
            if max_jobs is not None:
                room = min(room, max_jobs - submitted)
            if room > 0:
                for jobs in in_groups(store.claim(worker_name, n=room), group):
                    payloads = [{**job.__dict__, "code_commit": commit} for job in jobs]
                    if group == 1:  # one job at a time: the path every CPU record was made by
                        in_flight[executor.submit(run_job, payloads[0])] = jobs
                    else:
                        in_flight[executor.submit(run_group, payloads)] = jobs
                    submitted += len(jobs)
            if not in_flight:
                break
            done, _ = executor.wait(set(in_flight), timeout=heartbeat_s)
            for fut in done:
                jobs = in_flight.pop(fut)
                outcome = executor.result(fut)
                # a group's outcomes, one per job; a worker that died fails every job it held with its reason
                outcomes = outcome if isinstance(outcome, list) else [outcome] * len(jobs)
                for job, one in zip(jobs, outcomes):  # every job of the group recorded before anyone is told
                    if one.get("status") in DONE_OUTCOMES:
                        store.finish(job.key, Result(**one), worker=worker_name)
                        progress.done += 1
                    else:
                        store.fail(job.key, one.get("reason") or "unknown error", worker=worker_name)
                        progress.failed += 1
                if on_result:
                    for job, one in zip(jobs, outcomes):
                        on_result(job, one)
            if time.monotonic() - last_beat > heartbeat_s / 2:
                store.heartbeat(worker_name, [j.key for jobs in in_flight.values() for j in jobs])
                last_beat = time.monotonic()
    finally:
        store.release(worker_name)
    return progress


def progress_bar(total: int, initial: int) -> ProgressDisplay:
    """The collection's progress (:class:`distill.progress.Progress`): a bar with an ETA on a terminal, a status
    line every so often otherwise. ``initial``: jobs already finished by earlier runs."""
    return ProgressDisplay("dass collect", total=total, unit="job", initial=initial)
