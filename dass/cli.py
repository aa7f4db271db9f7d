"""The ``dass`` command line. It sits on top of every layer and holds no logic of its own.

A user's mistake is one line on stderr and exit code 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import signal
import sqlite3
import sys
import threading
from pathlib import Path

import numpy as np

from dass import __version__
from search.config import RESUMABLE, SearchConfig
from search.flags import add_flags, flag_name, given_settings
from search.strategies import STRATEGIES

EXIT_USAGE = 2


class UsageError(ValueError):
    """A mistake in the command line that argparse cannot see."""


def _add_task_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", required=True, help="task spec, e.g. digits, mnist:classes=0-4:size=16:n_train=3000")
    p.add_argument("--data-dir", help="where mnist.npz / IDX / torchvision files live (default: $DASS_DATA)")


def _add_teacher_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--teacher", required=True, help="zoo name (see `dass teachers`), TorchScript file, or module:callable"
    )
    p.add_argument("--teacher-weights", help="state_dict file for a zoo teacher or a module:callable teacher")
    p.add_argument("--teacher-epochs", type=_positive_int, help="epochs of a zoo teacher trained on demand (15)")
    p.add_argument("--cache-dir", help="teacher and teacher-output cache (default: $DASS_CACHE or ~/.cache/dass)")


def _teacher(args: argparse.Namespace, task):
    """The teacher of ``train`` and ``predict``: built, trained on demand or read from the cache, exactly as
    ``search`` and ``collect`` get it for the same ``--teacher-epochs`` (so the teacher id matches)."""
    from distill.teachers import get_teacher, teacher_config

    config = teacher_config(args.teacher_epochs)
    return get_teacher(args.teacher, task, weights=args.teacher_weights, config=config, cache=args.cache_dir)


# ---------------------------------------------------------------- commands
def cmd_tasks(args: argparse.Namespace) -> int:
    from distill.tasks import DOMAIN_TRANSFORMS, TASK_SOURCES, load_task

    if args.show:
        task = load_task(args.show, args.data_dir)
        print(json.dumps({"id": task.id, "name": task.name, **task.describe()}, indent=2, default=str))
        return 0
    print("sources:    " + ", ".join(TASK_SOURCES.names()))
    print("transforms: " + ", ".join(DOMAIN_TRANSFORMS.names()))
    print("spec:       SOURCE[:classes=0-4|0,2,7][:transform=NAME[VALUE]][:size=N]")
    print("            [:n_train=N][:n_val=N|:val_fraction=F][:n_test=N][:seed=N]")
    print("            [:norm=train|none|MEAN/STD]  (what the networks see; default: standardised)")
    print("            [:path=FILE] for npz and folder sources")
    print("examples:   digits")
    print("            mnist:classes=0-4:transform=rotate30:size=16:n_train=3000")
    print("            npz:path=my_data.npz")
    return 0


def cmd_teachers(args: argparse.Namespace) -> int:
    from distill.cost import count_flops, count_params
    from distill.nets import build_net
    from distill.teachers import TEACHER_FAMILIES

    shape = (1, 28, 28)
    print(f"{'name':<14}{'params':>10}{'MFLOPs':>9}  description   (params/FLOPs for 28x28 inputs, 10 classes)")
    for fam in TEACHER_FAMILIES:
        family = TEACHER_FAMILIES.get(fam)
        for size, (stem, stages) in family.sizes.items():
            net = build_net(stem, stages, shape, 10)
            mflops = count_flops(net, shape) / 1e6
            print(f"{fam + '-' + size:<14}{count_params(net):>10,}{mflops:>9.2f}  {family.description}")
    print("\nor your own: a TorchScript file, or module:callable with --teacher-weights FILE")
    return 0


def cmd_genome(args: argparse.Namespace) -> int:
    from distill.genome import get_space

    space = get_space(args.space)
    rng = np.random.default_rng(args.seed)
    genome = space.sample(rng, distill=False if args.no_distill else True)
    text = genome.to_json()
    if args.out:
        from distill.io import write_atomic

        write_atomic(args.out, text + "\n")
        print(f"wrote {args.out} (hash {genome.hash})")
    else:
        print(text)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from distill.genome import load_genome
    from distill.job import train_student
    from distill.tasks import load_task
    from distill.teachers import teacher_outputs
    from distill.trainer import TrainConfig

    genome = load_genome(args.genome)
    task = load_task(args.task, args.data_dir)
    config = TrainConfig(epochs=args.epochs, device=args.device)  # a bad device fails before a teacher trains
    outputs = None
    teacher = None
    if genome.recipe.distills:
        teacher = _teacher(args, task)
        outputs = teacher_outputs(teacher, task, cache=args.cache_dir)
    trained = train_student(genome, task, outputs, config, seed=args.seed)
    result = trained.result
    if args.out:
        trained.save(args.out, trained.metrics(args.teacher, teacher.id if teacher else None))
    teacher_note = f"; teacher {args.teacher} test acc {outputs.test_acc:.4f}" if outputs else "; no teacher (plain CE)"
    print(f"task {task.name} ({task.num_classes} classes, {len(task.x_train)} train images){teacher_note}")
    print(
        f"student {genome.hash}: {trained.params:,} params, {trained.flops / 1e6:.2f} MFLOPs, "
        f"recipe {_recipe_str(genome.recipe)}"
    )
    if result.status == "ok":
        curve = " ".join(f"{a:.3f}" for a in result.curve)
        print(f"val acc per epoch: {curve}")
        print(f"distilled: val acc {result.val_acc:.4f}, test acc {result.test_acc:.4f} in {result.train_time_s:.1f} s")
    else:
        print(f"training ended as {result.status}: {result.reason}")
    if args.out:
        print(f"saved to {args.out}/ (student.pt, genome.json, recipe.json, metrics.json)")
    return 0 if result.status == "ok" else 1


def _recipe_str(r) -> str:
    parts = [f"ce {r.ce_weight:g}"]
    if r.logit_loss != "none":
        t = f" T={r.temperature:g}" if r.logit_loss in ("kl", "dist") else ""
        parts.append(f"{r.logit_loss}{t} x{r.kd_weight:g}")
    if r.has_hint:
        parts.append(f"hint {r.hint_position}/{r.hint_transform}/{r.hint_distance} x{r.hint_weight:g}")
    return " + ".join(parts)


def cmd_collect(args: argparse.Namespace) -> int:
    from datasets_meta.store import SQLiteStore

    given = {"--status": args.status, "--export": args.export, "--import": args.import_file, "--suite": args.suite}
    actions = [flag for flag, value in given.items() if value]
    if len(actions) > 1:
        raise UsageError(
            f"dass collect does one of --status, --export, --import, --suite at a time; got {' and '.join(actions)}: "
            "run one command for each"
        )
    if args.status:
        with SQLiteStore(args.db, writer=False) as store:
            _print_status(store)
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
    from datasets_meta.collector import collect, expand_cached, progress_bar
    from datasets_meta.suite import Suite
    from distill.executors import PoolExecutor, RayExecutor

    suite = Suite.load(args.suite)
    data_dir = args.data_dir or suite.data_dir or None
    jobs = expand_cached(suite, data_dir)
    with SQLiteStore(args.db) as store:
        new = store.add_jobs(jobs)
        counts = store.counts()
        print(
            f"suite {suite.name}: {len(jobs)} jobs ({new} new); done {counts['done']}, failed {counts['failed']}, "
            f"pending {counts['pending'] + counts['running']}"
        )
        # a pool even with one worker: a training that crashes its process fails only its job
        executor = RayExecutor(args.ray_address, data_dir) if args.ray_address else PoolExecutor(args.workers, data_dir)
        bar = progress_bar(len(jobs), counts["done"] + counts["failed"])

        def on_result(job, outcome):
            if bar is not None:
                bar.update(1)
            elif args.verbose:
                print(
                    f"{outcome.get('status')}: {job.task_spec} {job.teacher} {job.genome_hash} "
                    f"{outcome.get('test_acc') or outcome.get('reason')}",
                    flush=True,
                )

        try:
            with executor:  # stops the workers when the collection ends, also on Ctrl-C
                progress = collect(store, executor, max_jobs=args.max_jobs, on_result=on_result)
        finally:
            if bar is not None:
                bar.close()
        print(f"this run: {progress.done} done, {progress.failed} failed")
        _print_status(store)
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """`kill PID` stops a command as cleanly as Ctrl-C (a search or a collection keeps what it finished and says
    how to go on); the previous handler comes back afterwards. Only the main thread may set handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _print_status(store) -> None:
    s = store.stats()
    rate = f"{s['per_hour']:.0f} records/hour" if s.get("per_hour") else "no recent throughput"
    eta = ""
    if s.get("eta_s"):
        eta = f", ETA {s['eta_s'] / 60:.0f} min" if s["eta_s"] < 3600 else f", ETA {s['eta_s'] / 3600:.1f} h"
    print(f"done {s['done']}, running {s['running']}, failed {s['failed']}, pending {s['pending']}; {rate}{eta}")


DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[1] / "checkpoints" / "predictor_v1.pt"


def _checkpoint(path: str | None) -> Path:
    p = Path(path or os.environ.get("DASS_CHECKPOINT") or DEFAULT_CHECKPOINT)
    if p.is_dir():
        raise FileNotFoundError(f"predictor checkpoint {str(p)!r} is a directory; pass the checkpoint file")
    if not p.is_file():
        raise FileNotFoundError(
            f"predictor checkpoint {str(p)!r} does not exist; pass --checkpoint or run dass pretrain"
        )
    return p


def cmd_pretrain(args: argparse.Namespace) -> int:
    from predictor.evaluate import format_table
    from predictor.pretrain import pretrain, wandb_logger

    base = {
        "n_models": args.models,
        "hidden": args.hidden,
        "random_state": args.seed,
        "recipe_readout": args.recipe_readout,
        "sum_readout": args.sum_readout,
        "task_noise": args.task_noise,
    }
    grid = [{**base, "epochs": e, "rank_weight": r} for e in args.epochs for r in args.rank_weight]
    logger = wandb_logger(config={**base, "grid": grid}) if args.wandb else None
    card = pretrain(
        args.data, args.out, grid=grid, evaluate_test=not args.no_test, logger=logger, label_seeds=args.label_seeds
    )
    if len(grid) > 1:
        for t in card["model_selection"]:
            print(
                f"epochs {t['params']['epochs']:>3}, rank weight {t['params']['rank_weight']:g}: "
                f"meta-validation Spearman {t['val_spearman']:.3f}"
            )
    for name, d in card["splits"].items():
        print(
            f"{name:<5} {d['records']:>6} records {d['tasks']:>4} tasks {d['groups']:>4} groups  "
            f"teachers {','.join(d['teacher_families'])}  domains {','.join(d['domains'])}"
        )
    print(f"fit in {card['fit_seconds']:.1f} s; saved {args.out} and {Path(args.out).with_suffix('.json')}")
    for why in card.get("unscored", {}).values():
        print(f"not scored there: {args.data}: {why}")
    if "meta_test" in card:
        mt = card["meta_test"]
        print("\nmeta-test (tasks never seen in training):")
        print(
            format_table(
                {
                    "mean": mt["mean"],
                    "mean_by_source": mt.get("mean_by_source", {}),
                    "noise_ceiling_by_source": mt.get("noise_ceiling_by_source", {}),
                    "noise_ceiling": {
                        **mt["noise_ceiling"],
                        "n": mt["noise_ceiling"]["groups"],
                        "single_seed": {
                            "mean": mt["noise_ceiling"]["single_seed"],
                            "groups": range(mt["noise_ceiling"]["single_seed_groups"]),
                        },
                    },
                    "labels": mt["labels"],
                    "recipe_awareness": mt["recipe_awareness"],
                    "groups": range(mt["groups"]),
                }
            )
        )
    if logger is not None:
        logger.finish()
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from distill.genome import load_genome
    from distill.probe import probe_features
    from distill.tasks import load_task
    from predictor.estimator import AccuracyPredictor

    model = AccuracyPredictor.load(_checkpoint(args.checkpoint))
    genomes = [load_genome(g) for g in args.genome]
    task = load_task(args.task, args.data_dir)
    teacher = _teacher(args, task)
    hinted = [path for path, g in zip(args.genome, genomes) if g.recipe.has_hint]
    # as `dass train` would refuse to distil such a student, and `dass search` never proposes one
    if hinted and not teacher.has_feature_maps(task.x_val[:2]):
        raise UsageError(
            f"{hinted[0]} has a feature hint, but teacher {args.teacher} exposes no feature maps "
            "(a TorchScript module); such a student can be distilled from the teacher's logits only"
        )
    note = model.budget_note(args.budget)
    if note:
        print(f"dass predict: warning: {note}", file=sys.stderr)
    mean, std = model.predict(genomes, probe_features(teacher, task), args.budget)
    print(f"task {task.name}, teacher {args.teacher}, budget {args.budget} epochs")
    for path, g, m, s in zip(args.genome, genomes, mean, std):
        print(f"{path}: predicted test accuracy {m:.4f} ± {s:.4f}  (student {g.hash})")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from predictor.data import load_records, mean_labels, split_by_task
    from predictor.estimator import AccuracyPredictor
    from predictor.evaluate import evaluate, format_table, plot_predictions, unscorable
    from predictor.pretrain import control_baseline

    model = AccuracyPredictor.load(_checkpoint(args.checkpoint))
    split = split_by_task(load_records(args.data))
    scored = {"test": "meta-test (held-out)", "val": "meta-validation"}[args.split]
    why = unscorable(split[args.split], scored, args.label_seeds)
    if why:
        raise UsageError(f"nothing to score in {args.data}: {why}")
    train = mean_labels(split["train"], args.label_seeds)
    control = None if args.no_control_baseline else control_baseline(model, train)  # as on the card
    report = evaluate(
        model,
        split[args.split],
        train,
        adapt_records=args.adapt,
        control_predictor=control,
        label_seeds=args.label_seeds,
    )
    print(f"{scored} tasks of {args.data}:")
    print(format_table(report))
    if args.out:
        from distill.io import write_json

        out = Path(args.out)
        write_json(out / "evaluation.json", report)
        plot_predictions(report, out / "predicted_vs_measured.png")
        print(f"wrote {out}/evaluation.json and {out}/predicted_vs_measured.png")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from search import format_front, resume_search, run_search

    if args.cache_dir:  # the training workers find the teacher cache through the environment
        os.environ["DASS_CACHE"] = os.path.abspath(args.cache_dir)
    settings = given_settings(args, SearchConfig)  # None where a flag was not given: the config's default
    where = {name: settings.pop(name) for name in RESUMABLE}  # where the trainings run: a resume may change it
    where["executor"] = where["executor"] or ("ray" if where["ray_address"] else None)
    try:
        if args.resume:
            given = sorted(k for k, v in settings.items() if v is not None)
            if given:
                raise UsageError(
                    f"--resume takes the run's settings from {args.resume}/config.json; "
                    f"leave out {flag_name(SearchConfig, given[0])}"
                )
            result = resume_search(args.resume, **where)
        else:
            missing = [f"--{k}" for k in ("task", "teacher", "out") if settings[k] is None]
            if missing:
                raise UsageError(f"dass search needs {', '.join(missing)} (or --resume DIR)")
            if STRATEGIES.get(args.strategy or "ours").needs_predictor:
                settings["checkpoint"] = str(_checkpoint(args.checkpoint))
            config = SearchConfig(**{k: v for k, v in {**settings, **where}.items() if v is not None})
            result = run_search(config)
    except KeyboardInterrupt:
        run_dir = args.resume or args.out
        print(
            f"dass search: interrupted; finished trainings are kept: continue with dass search --resume {run_dir}",
            file=sys.stderr,
        )
        return 130
    config = SearchConfig.load(result.out)
    print(
        f"verified Pareto front of {config.strategy} on {config.task} / {config.teacher}: {len(result.front)} "
        f"student(s), {result.trainings:.2f} full-budget-equivalent trainings ({config.full_budget} epoch(s) each)"
    )
    print(format_front(result.front, config.objective))
    if result.best:
        best_dir = os.path.relpath(result.out / "best") if Path.cwd() in result.out.parents else result.out / "best"
        print(f"best student {result.best['genome_hash']} saved to {best_dir}/ (report: report.md)")
    if result.empty_reason:
        print(f"dass search: {result.empty_reason}", file=sys.stderr)
    return 0 if result.front else 1


# ---------------------------------------------------------------- parser
def _add_label_seeds(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--label-seeds",
        type=_positive_int,
        default=2,
        help="a student's label is its mean accuracy over training seeds 0..N-1 (default 2)",
    )


def _int_at_least(minimum: int, what: str):
    """An argparse type: an integer >= ``minimum``, else an error that says ``what`` it must be."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be {what}; got {text!r}")
        return value

    return parse


_seed = _int_at_least(0, "an integer >= 0")
_positive_int = _int_at_least(1, "a positive integer")


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer; got {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value >= 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"must be a non-negative number; got {text!r}")
    return value


def _int_list(text: str) -> list[int]:
    values = [_positive_int(t) for t in text.split(",")]
    return values


def _float_list(text: str) -> list[float]:
    try:
        values = [float(t) for t in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated numbers; got {text!r}") from None
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"must be non-negative; got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dass",
        description="Distillation-aware student search: find a small student and a distillation recipe "
        "for your teacher and dataset.",
    )
    # --debug and --verbose work before or after the command name
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log progress")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    parser.add_argument("--version", action="version", version=f"dass {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    sub_add = sub.add_parser

    def add_parser(name: str, **kw) -> argparse.ArgumentParser:
        return sub_add(name, parents=[common], **kw)

    sub.add_parser = add_parser  # type: ignore[method-assign]

    p = sub.add_parser("tasks", help="list task sources and transforms, or describe one task")
    p.add_argument("--show", metavar="SPEC", help="load this task and print its descriptors")
    p.add_argument("--data-dir", help="data directory (default: $DASS_DATA)")
    p.set_defaults(func=cmd_tasks)

    p = sub.add_parser("teachers", help="list the teacher zoo")
    p.set_defaults(func=cmd_teachers)

    p = sub.add_parser("genome", help="sample a random genome (student + recipe) as JSON")
    p.add_argument("--space", default="default", help="search space: default, resnet, mobilenet")
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--no-distill", action="store_true", help="a no-distillation control (plain cross-entropy)")
    p.add_argument("--out", help="write to this file instead of stdout")
    p.set_defaults(func=cmd_genome)

    p = sub.add_parser("train", help="distil one student from a teacher on a task and save it")
    _add_task_args(p)
    _add_teacher_args(p)
    p.add_argument("--genome", required=True, help="genome JSON file (see `dass genome`)")
    p.add_argument("--epochs", type=_positive_int, default=5)
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda")
    p.add_argument("--out", help="directory for student.pt, genome.json, recipe.json, metrics.json")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("collect", help="build the meta-dataset: train a suite's jobs and store every result")
    p.add_argument("--db", required=True, help="SQLite record store (created if missing)")
    p.add_argument("--suite", help="suite TOML file (see datasets_meta/suites/)")
    p.add_argument("--workers", type=_positive_int, default=1, help="local worker processes (one core each)")
    p.add_argument("--ray-address", help="run on a Ray cluster (an address, or 'local' to start one here)")
    p.add_argument("--data-dir", help="data directory (default: the suite's, else $DASS_DATA)")
    p.add_argument("--max-jobs", type=_positive_int, help="stop after this many jobs")
    p.add_argument("--status", action="store_true", help="print done / running / failed / pending, rate and ETA")
    p.add_argument("--export", metavar="FILE", help="write every finished record to FILE (.csv.gz or .parquet)")
    p.add_argument("--import", dest="import_file", metavar="FILE", help="load records from an export into --db")
    p.set_defaults(func=cmd_collect)

    p = sub.add_parser("pretrain", help="meta-train the accuracy predictor on a meta-dataset export")
    p.add_argument("--data", required=True, help="meta-dataset export (.csv.gz), e.g. datasets_meta/meta_v1.csv.gz")
    p.add_argument("--out", required=True, help="checkpoint file; its card is written beside it (.json)")
    p.add_argument("--epochs", type=_int_list, default=[5, 10, 20], help="epochs to try, e.g. 5,10,20")
    p.add_argument("--rank-weight", type=_float_list, default=[1.0, 4.0], help="ranking-loss weights to try")
    p.add_argument(
        "--models", type=_positive_int, default=5, help="deep-ensemble members (the shipped checkpoint has 8)"
    )
    p.add_argument(
        "--hidden", type=_positive_int, default=64, help="channels of each member (the shipped checkpoint: 48)"
    )
    p.add_argument(
        "--recipe-readout",
        action="store_true",
        help="the graph embedding also takes the recipe nodes' final states (not only mean and max pooling)",
    )
    p.add_argument(
        "--sum-readout",
        action="store_true",
        help="the graph embedding also takes the sum of the node states, which sees the size of the graph",
    )
    p.add_argument(
        "--task-noise",
        type=_non_negative_float,
        default=0.0,
        help="std of the noise on the standardised task features during training (default 0: none)",
    )
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--no-test", action="store_true", help="skip the meta-test evaluation on the card")
    _add_label_seeds(p)
    p.add_argument("--wandb", action="store_true", help="log to Weights & Biases (offline without an API key)")
    p.set_defaults(func=cmd_pretrain)

    p = sub.add_parser("predict", help="predict the distilled accuracy of students without training them")
    _add_task_args(p)
    _add_teacher_args(p)
    p.add_argument("--genome", required=True, nargs="+", help="one or more genome JSON files")
    p.add_argument("--budget", type=_positive_int, default=6, help="training epochs")
    p.add_argument("--checkpoint", help="predictor checkpoint (default: the shipped one)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("evaluate", help="score the predictor and the baselines on the held-out tasks")
    p.add_argument("--data", required=True, help="meta-dataset export (.csv.gz)")
    p.add_argument("--checkpoint", help="predictor checkpoint (default: the shipped one)")
    p.add_argument(
        "--adapt", type=_non_negative_int, default=10, help="records of each task to adapt on (0: zero-shot only)"
    )
    p.add_argument("--no-control-baseline", action="store_true", help="skip the GNN trained on no-KD records")
    p.add_argument(
        "--split",
        choices=["test", "val"],
        default="test",
        help="score the meta-test tasks (default) or the meta-validation tasks that model selection uses",
    )
    _add_label_seeds(p)
    p.add_argument("--out", help="directory for evaluation.json and predicted_vs_measured.png")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("search", help="search a student and a distillation recipe for a teacher and a task")
    # every setting of the run is a field of SearchConfig, which declares its flag, help and default
    add_flags(p, SearchConfig, choices={"strategy": STRATEGIES.names()})
    p.add_argument("--cache-dir", help="teacher and teacher-output cache (default: $DASS_CACHE or ~/.cache/dass)")
    p.add_argument("--resume", metavar="DIR", help="continue an interrupted search from its run directory")
    p.set_defaults(func=cmd_search)
    return parser


# Paths that must be a file, or a directory, where they already exist (a new one is created).
_FILE_OPTIONS = {"genome": ("out",), "pretrain": ("out",), "collect": ("db",)}
_DIR_OPTIONS = {
    "train": ("out", "cache_dir"),
    "predict": ("cache_dir",),
    "evaluate": ("out",),
    "search": ("out", "cache_dir"),
}


def _check_paths(args: argparse.Namespace) -> None:
    """An output path of the wrong kind is a one-line error before any work, not a traceback after it."""
    for name in _FILE_OPTIONS.get(args.command, ()):
        value = getattr(args, name, None)
        if value and os.path.isdir(value):
            raise UsageError(f"--{name.replace('_', '-')} {value} is a directory; give a file path")
    for name in _DIR_OPTIONS.get(args.command, ()):
        value = getattr(args, name, None)
        if value and os.path.exists(value) and not os.path.isdir(value):
            raise UsageError(f"--{name.replace('_', '-')} {value} is a file; give a directory")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        _check_paths(args)
        with _sigterm_as_interrupt():
            return args.func(args)
    except BrokenPipeError:  # the reader went away (`dass genome | head`): stop quietly, like cat
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ValueError, OSError, sqlite3.Error, UsageError) as e:  # bad input, or a path that cannot be used
        if args.debug:
            raise
        print(f"dass {args.command}: error: {' '.join(str(e).split())}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"dass {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
