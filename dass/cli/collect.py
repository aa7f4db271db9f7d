"""``dass collect``: build the meta-dataset (train a suite's jobs, store every result), or show, export and
import the record store."""

from __future__ import annotations

import argparse
import shlex
import sys

from dass.cli.common import Command, UsageError, positive_int
from datasets_meta.collector import collect, expand_cached, progress_bar
from datasets_meta.store import DONE_OUTCOMES, SQLiteStore
from datasets_meta.suite import Suite
from distill.devices import PRECISIONS, check_precision, parse_devices
from distill.executors import GPU_GROUP, GROUP_ENV, PoolExecutor, RayExecutor, train_group
from distill.records import Job, job_precision, with_precision


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", required=True, help="SQLite record store (created if missing)")
    p.add_argument("--suite", help="suite TOML file (see datasets_meta/suites/)")
    p.add_argument("--workers", type=positive_int, default=1, help="local worker processes (one core each)")
    p.add_argument("--ray-address", help="run on a Ray cluster (an address, or 'local' to start one here)")
    p.add_argument("--data-dir", help="data directory (default: the suite's, else $DASS_DATA)")
    p.add_argument(
        "--devices",
        metavar="LIST",
        help="GPUs the workers train on, e.g. 0,1 (worker i on the i-th, round-robin; default: every visible GPU)",
    )
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="fp32 (default), or bf16 autocast on CUDA; a store holds records of one precision",
    )
    p.add_argument(
        "--group",
        type=positive_int,
        metavar="N",
        help=f"jobs a worker trains together in one loop (default: ${GROUP_ENV}, else {GPU_GROUP} on CUDA, 1 on the "
        "CPU); the records do not depend on it",
    )
    p.add_argument("--max-jobs", type=positive_int, help="stop after this many jobs")
    p.add_argument("--status", action="store_true", help="print done / running / failed / pending, rate and ETA")
    p.add_argument("--export", metavar="FILE", help="write every finished record to FILE (.csv.gz or .parquet)")
    p.add_argument("--import", dest="import_file", metavar="FILE", help="load records from an export into --db")


def run(args: argparse.Namespace) -> int:
    given = {"--status": args.status, "--export": args.export, "--import": args.import_file, "--suite": args.suite}
    actions = [flag for flag, value in given.items() if value]
    if len(actions) > 1:
        raise UsageError(
            f"dass collect does one of --status, --export, --import, --suite at a time; got {' and '.join(actions)}: "
            "run one command for each"
        )
    if args.status:
        with SQLiteStore(args.db, writer=False) as store:
            print_status(store)
        return 0
    if args.export:
        with SQLiteStore(args.db, writer=False) as store:
            n = store.export(args.export)
        print(f"exported {n} finished records to {args.export}")
        return 0
    if args.import_file:
        with SQLiteStore(args.db) as store:
            n = store.import_records(args.import_file)
        print(f"imported {n} new records into {args.db}")
        return 0
    if not args.suite:
        raise UsageError("dass collect needs --suite FILE (or --status / --export FILE / --import FILE)")

    devices = parse_devices(args.devices)
    check_precision(args.precision, devices[0])
    group = args.group if args.group is not None else train_group(devices[0])
    suite = Suite.load(args.suite)
    data_dir = args.data_dir or suite.data_dir or None
    # a store keeps the order its jobs were first added in: one made with groups of 1 stays so
    jobs = [with_precision(job, args.precision) for job in expand_cached(suite, data_dir, group=group)]
    with SQLiteStore(args.db) as store:
        check_store_precision(store, jobs, args.db)
        new = store.add_jobs(jobs)
        counts = store.counts()
        print(
            f"suite {suite.name}: {len(jobs)} jobs ({new} new); done {counts['done']}, failed {counts['failed']}, "
            f"pending {counts['pending'] + counts['running']}"
        )
        # a pool even with one worker: a training that crashes its process fails only its job
        if args.ray_address:
            executor = RayExecutor(args.ray_address, data_dir, "cuda" if devices[0].startswith("cuda") else "cpu")
        else:  # on a machine without a GPU (and no --devices) every job trains on the CPU, as it always did
            if args.devices is None and devices == ["cpu"]:
                executor = PoolExecutor(args.workers, data_dir)
            else:
                executor = PoolExecutor(args.workers, data_dir, devices=devices)
        bar = progress_bar(len(jobs), counts["done"] + counts["failed"])
        this_run = {"done": 0}

        def on_result(job, outcome):
            this_run["done"] += outcome.get("status") in DONE_OUTCOMES
            bar.update(1)
            if bar.mode != "bar" and args.verbose:
                print(
                    f"{outcome.get('status')}: {job.task_spec} {job.teacher} {job.genome_hash} "
                    f"{outcome.get('test_acc') or outcome.get('reason')}",
                    flush=True,
                )

        try:
            with bar, executor:  # stops the workers when the collection ends, also on Ctrl-C
                given = {"group": args.group} if args.group is not None else {}  # else the executor's device decides
                progress = collect(store, executor, max_jobs=args.max_jobs, on_result=on_result, **given)
        except KeyboardInterrupt:
            print(resume_hint(args, store, this_run), file=sys.stderr, flush=True)
            return 130
        print(f"this run: {progress.done} done, {progress.failed} failed")
        print_status(store)
    return 0


def resume_hint(args: argparse.Namespace, store: SQLiteStore, this_run: dict[str, int]) -> str:
    """The one line an interrupted collection ends with: what is kept, and the command that goes on."""
    counts = store.counts()
    command = ["dass", "collect", "--suite", args.suite, "--db", args.db]
    for flag, value, default in (
        ("--workers", args.workers, 1),
        ("--ray-address", args.ray_address, None),
        ("--data-dir", args.data_dir, None),
        ("--devices", args.devices, None),
        ("--precision", args.precision, "fp32"),
        ("--group", args.group, None),
        ("--max-jobs", args.max_jobs, None),
    ):
        if value != default:
            command += [flag, str(value)]
    return (
        f"dass collect: interrupted; kept in {args.db}: {counts['done']} jobs done, {counts['failed']} failed "
        f"({this_run['done']} done in this run), {counts['pending'] + counts['running']} to go; "
        f"resume with the same command: {shlex.join(command)}"
    )


def check_store_precision(store: SQLiteStore, jobs: list[Job], db: str) -> None:
    """Refuse to collect ``jobs`` into a store that holds any of them in another precision: a job's key does not
    name its precision, so the store would keep the old one's record and count it as this collection's."""
    for job in jobs:
        stored = store.get_record(job.key)
        if stored is not None and job_precision(stored.job) != job_precision(job):
            held = job_precision(stored.job)
            raise UsageError(
                f"--precision {job_precision(job)}: {db} already holds this suite's jobs in {held}; "
                f"collect into another --db, or use --precision {held}"
            )


def print_status(store: SQLiteStore) -> None:
    """One line: how many jobs are done / running / failed / pending, the recent rate and the ETA."""
    s = store.stats()
    rate = f"{s['per_hour']:.0f} records/hour" if s.get("per_hour") else "no recent throughput"
    eta = ""
    if s.get("eta_s"):
        eta = f", ETA {s['eta_s'] / 60:.0f} min" if s["eta_s"] < 3600 else f", ETA {s['eta_s'] / 3600:.1f} h"
    print(f"done {s['done']}, running {s['running']}, failed {s['failed']}, pending {s['pending']}; {rate}{eta}")


COMMANDS = [
    Command(
        "collect",
        "build the meta-dataset: train a suite's jobs and store every result",
        add_arguments,
        run,
        file_options=("db",),
    ),
]
