"""``dass pretrain``, ``dass predict``, ``dass evaluate``: meta-train the accuracy predictor, ask it, score it."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from dass.cli.common import (
    Command,
    UsageError,
    add_label_seeds,
    add_task_args,
    add_teacher_args,
    checkpoint,
    float_list,
    int_list,
    non_negative_float,
    non_negative_int,
    positive_int,
    seed,
    spearman_threshold,
)
from dass.cli.teacher import load_teacher
from distill.genome import load_genome
from distill.io import write_json
from distill.landmarks import task_landmarks
from distill.probe import probe_features
from distill.progress import Progress
from distill.tasks import load_task
from predictor import data as meta_data
from predictor.estimator import ADAPT_METHODS, TASK_NOISE_ON, AccuracyPredictor
from predictor.evaluate import evaluate, format_table, plot_predictions, unscorable
from predictor.pretrain import control_baseline, pretrain, wandb_logger, with_landmarks


# ---------------------------------------------------------------- pretrain
def balance_arg(text: str) -> str | float:
    """``--balance``: ``source`` or an exponent from 0 to 1."""
    if text == "source":
        return text
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:  # NaN fails too
        raise argparse.ArgumentTypeError(f"must be 'source' or a number from 0 to 1; got {text!r}")
    return value


def add_pretrain_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        required=True,
        nargs="+",
        help="meta-dataset export(s) (.csv.gz), read together, e.g. datasets_meta/meta_v1.csv.gz",
    )
    p.add_argument("--out", required=True, help="checkpoint file; its card is written beside it (.json)")
    p.add_argument("--epochs", type=int_list, default=[5, 10, 20], help="epochs to try, e.g. 5,10,20")
    p.add_argument("--rank-weight", type=float_list, default=[1.0, 4.0], help="ranking-loss weights to try")
    p.add_argument(
        "--models", type=positive_int, default=5, help="deep-ensemble members (the shipped checkpoint has 8)"
    )
    p.add_argument(
        "--hidden", type=positive_int, default=64, help="channels of each member (the shipped checkpoint: 48)"
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
        type=non_negative_float,
        default=0.0,
        help="std of the noise on the standardised task features during training (default 0: none)",
    )
    p.add_argument(
        "--task-noise-on",
        choices=TASK_NOISE_ON,
        default="all",
        help="'probe': the noise falls on the probe statistics only, the tasks' metadata (classes, training-set "
        "size, channels, input side, teacher size) stay exact; 'all': on every task feature (default)",
    )
    p.add_argument(
        "--balance",
        type=balance_arg,
        help="'source': every task source (mnist, digits, glyphs, ...) weighs the same in an epoch, whatever its "
        "number of records; a number a from 0 to 1 tempers it: a source's share of an epoch grows as its share "
        "of the records to the power a (0 is 'source'; default: every record once an epoch)",
    )
    p.add_argument(
        "--landmarks",
        metavar="TABLE",
        help="the predictor also reads each task's landmarks (what two reference students reach on it without a "
        "teacher; distill/landmarks.py), from this JSON table, e.g. datasets_meta/landmarks.json; the tasks it "
        "lacks are measured (two short trainings each) and added to it",
    )
    p.add_argument(
        "--min-reliability",
        type=spearman_threshold,
        metavar="RHO",
        help="leave out of meta-training the (task, teacher) groups whose students rank differently from one "
        "training seed to the next: those whose seed-0 and seed-1 accuracies agree with a Spearman below RHO "
        "(e.g. 0.5; the card lists them); meta-validation and meta-test keep every group (default: none left out)",
    )
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--no-test", action="store_true", help="skip the meta-test evaluation on the card")
    add_label_seeds(p)
    p.add_argument("--wandb", action="store_true", help="log to Weights & Biases (offline without an API key)")


def run_pretrain(args: argparse.Namespace) -> int:
    base = {
        "n_models": args.models,
        "hidden": args.hidden,
        "random_state": args.seed,
        "recipe_readout": args.recipe_readout,
        "sum_readout": args.sum_readout,
        "task_noise": args.task_noise,
        "task_noise_on": args.task_noise_on,
        "balance": args.balance,
    }
    grid = [{**base, "epochs": e, "rank_weight": r} for e in args.epochs for r in args.rank_weight]
    logger = wandb_logger(config={**base, "grid": grid}) if args.wandb else None
    with Progress("dass pretrain") as progress:
        card = pretrain(
            args.data,
            args.out,
            grid=grid,
            evaluate_test=not args.no_test,
            logger=logger,
            label_seeds=args.label_seeds,
            progress=progress,
            landmarks=args.landmarks,
            min_reliability=args.min_reliability,
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
    if "left_out_unreliable" in card:
        left = card["left_out_unreliable"]
        print(
            f"left out of meta-training, labels agreeing across seeds below {left['min_reliability']:g}: "
            f"{len(left['groups'])} groups"
        )
        for name, rho in left["groups"].items():
            print(f"  {rho:6.3f}  {name}")
    print(f"fit in {card['fit_seconds']:.1f} s; saved {args.out} and {Path(args.out).with_suffix('.json')}")
    for why in card.get("unscored", {}).values():
        print(f"not scored there: {' + '.join(args.data)}: {why}")
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


# ---------------------------------------------------------------- predict
def add_predict_arguments(p: argparse.ArgumentParser) -> None:
    add_task_args(p)
    add_teacher_args(p)
    p.add_argument("--genome", required=True, nargs="+", help="one or more genome JSON files")
    p.add_argument("--budget", type=positive_int, default=6, help="training epochs")
    p.add_argument(
        "--checkpoint",
        help="predictor checkpoint (default: checkpoints/predictor_v2.pt)",
    )


def run_predict(args: argparse.Namespace) -> int:
    genomes = [load_genome(g) for g in args.genome]
    model = AccuracyPredictor.load(checkpoint(args.checkpoint))
    task = load_task(args.task, args.data_dir)
    teacher = load_teacher(args, task)
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
    features = probe_features(teacher, task)
    if model.landmarks:  # two short trainings of the reference students, once per task (cached)
        features["landmarks"] = task_landmarks(task)
    note = model.task_note(features)
    if note:
        print(f"dass predict: warning: {note}", file=sys.stderr)
    mean, std = model.predict(genomes, features, args.budget)
    print(f"task {task.name}, teacher {args.teacher}, budget {args.budget} epochs")
    for path, g, m, s in zip(args.genome, genomes, mean, std):
        print(f"{path}: predicted test accuracy {m:.4f} ± {s:.4f}  (student {g.hash})")
    return 0


# ---------------------------------------------------------------- evaluate
def add_evaluate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, nargs="+", help="meta-dataset export(s) (.csv.gz), read together")
    p.add_argument("--checkpoint", help="predictor checkpoint (default: the shipped one)")
    p.add_argument(
        "--adapt", type=non_negative_int, default=10, help="records of each task to adapt on (0: zero-shot only)"
    )
    p.add_argument(
        "--adapt-method",
        choices=ADAPT_METHODS,
        default="finetune",
        help="how to adapt: fine-tune the ensemble (default), model its errors on the task with a Gaussian "
        "process on its residuals (leaves the predictor as it is; see predictor/residual.py), or fine-tune unless "
        "that orders held-out records worse, else only shift (guarded; predictor/guard.py)",
    )
    p.add_argument("--no-control-baseline", action="store_true", help="skip the GNN trained on no-KD records")
    p.add_argument(
        "--split",
        choices=["test", "val"],
        default="test",
        help="score the meta-test tasks (default) or the meta-validation tasks that model selection uses",
    )
    p.add_argument(
        "--landmarks",
        metavar="TABLE",
        help="for a checkpoint that reads landmarks: the tasks' landmarks from this table (e.g. "
        "datasets_meta/landmarks.json); the tasks it lacks are measured and added (default: measured, or read from "
        "the landmark cache)",
    )
    add_label_seeds(p)
    p.add_argument("--out", help="directory for evaluation.json and predicted_vs_measured.png")


def run_evaluate(args: argparse.Namespace) -> int:
    model = AccuracyPredictor.load(checkpoint(args.checkpoint))
    # looked up in `predictor.data` when the command runs, so a replaced split_by_task (tests) applies here too
    examples = [e for f in args.data for e in meta_data.load_records(f)]
    if model.landmarks:
        examples = with_landmarks(examples, args.landmarks)
    elif args.landmarks:
        raise UsageError(f"--landmarks {args.landmarks}: the predictor {args.checkpoint or '(shipped)'} reads none")
    split = meta_data.split_by_task(examples)
    scored = {"test": "meta-test (held-out)", "val": "meta-validation"}[args.split]
    why = unscorable(split[args.split], scored, args.label_seeds)
    if why:
        raise UsageError(f"nothing to score in {' + '.join(args.data)}: {why}")
    train = meta_data.mean_labels(split["train"], args.label_seeds)
    with Progress("dass evaluate") as progress:
        control = None if args.no_control_baseline else control_baseline(model, train, progress)  # as on the card
        report = evaluate(
            model,
            split[args.split],
            train,
            adapt_records=args.adapt,
            adapt_options={"method": args.adapt_method},
            control_predictor=control,
            label_seeds=args.label_seeds,
            progress=progress,
        )
    print(f"{scored} tasks of {' + '.join(args.data)}:")
    print(format_table(report))
    if args.out:
        out = Path(args.out)
        write_json(out / "evaluation.json", report)
        plot_predictions(report, out / "predicted_vs_measured.png")
        print(f"wrote {out}/evaluation.json and {out}/predicted_vs_measured.png")
    return 0


COMMANDS = [
    Command(
        "pretrain",
        "meta-train the accuracy predictor on a meta-dataset export",
        add_pretrain_arguments,
        run_pretrain,
        file_options=("out",),
    ),
    Command(
        "predict",
        "predict the distilled accuracy of students without training them",
        add_predict_arguments,
        run_predict,
        dir_options=("cache_dir",),
    ),
    Command(
        "evaluate",
        "score the predictor and the baselines on the held-out tasks",
        add_evaluate_arguments,
        run_evaluate,
        dir_options=("out",),
    ),
]
