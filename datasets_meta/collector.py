"""The collector: expand a suite into jobs, train them for real, store every result.

One process -- the driver -- owns the record store and alone writes to it. Training happens in
an executor of :mod:`distill.executors` that the caller owns: a local process pool (``--workers N``)
or a Ray cluster (``--ray-address``); every job is :func:`distill.job.run_job`. The
driver claims jobs, hands them out, heartbeats them while they run and records each result or
failure in one transaction. Killing it at any moment loses at most the runs in flight: finished
jobs are never trained again, and a restart (``dass collect`` on the same ``--db``) goes on.
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
from distill.executors import Executor
from distill.genome import get_space
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
    "run_job",
]


# ----------------------------------------------------------------------------- jobs of a suite
def expand(suite: Suite, data_dir: str | None = None) -> list[Job]:
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
    return [jobs[i] for i in _collection_order(jobs, k)]


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


def expand_cached(suite: Suite, data_dir: str | None = None, cache: str | None = None) -> list[Job]:
    """:func:`expand`, remembered on disk: a restarted collector is back at work in seconds."""
    key = json.dumps(
        {"suite": dataclasses.asdict(suite), "data_dir": data_dir, "commit": code_commit()}, sort_keys=True
    )
    path = cache_dir(cache) / "suites" / f"{suite.name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"
    if path.exists():
        try:
            return [Job(**d) for d in json.loads(path.read_text())]
        except (ValueError, TypeError) as e:
            log.warning("re-expanding the suite: %s is unreadable (%s)", path, e)
    jobs = expand(suite, data_dir)
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
) -> Progress:
    """Claim pending jobs, run them on ``executor``, record each outcome; returns when none are left.

    The executor is the caller's: it stays open, so that one set of workers serves many calls (a search calls
    this once per rung); the caller closes it (``with make_executor(...) as executor:``). Ctrl-C stops
    cleanly: the jobs in flight go back to pending, finished ones stay; closing the executor stops their runs.
    Every job runs :func:`run_job` on a worker.
    """
    progress = Progress()
    commit = code_commit()
    in_flight: dict[Any, Job] = {}
    last_beat = time.monotonic()
    submitted = 0
    # We hold the store's writer lock, so jobs still marked as ours were orphaned by a killed run.
    store.release(worker_name)
    try:
        while True:
            room = executor.workers - len(in_flight)
            if max_jobs is not None:
                room = min(room, max_jobs - submitted)
            if room > 0:
                for job in store.claim(worker_name, n=room):
                    in_flight[executor.submit(run_job, {**job.__dict__, "code_commit": commit})] = job
                    submitted += 1
            if not in_flight:
                break
            done, _ = executor.wait(set(in_flight), timeout=heartbeat_s)
            for fut in done:
                job = in_flight.pop(fut)
                outcome = executor.result(fut)
                if outcome.get("status") in DONE_OUTCOMES:
                    store.finish(job.key, Result(**outcome), worker=worker_name)
                    progress.done += 1
                else:
                    store.fail(job.key, outcome.get("reason") or "unknown error", worker=worker_name)
                    progress.failed += 1
                if on_result:
                    on_result(job, outcome)
            if time.monotonic() - last_beat > heartbeat_s / 2:
                store.heartbeat(worker_name, [j.key for j in in_flight.values()])
                last_beat = time.monotonic()
    finally:
        store.release(worker_name)
    return progress


def progress_bar(total: int, initial: int) -> ProgressDisplay:
    """The collection's progress (:class:`distill.progress.Progress`): a bar with an ETA on a terminal, a status
    line every so often otherwise. ``initial``: jobs already finished by earlier runs."""
    return ProgressDisplay("dass collect", total=total, unit="job", initial=initial)
