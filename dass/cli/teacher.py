"""The teacher of ``dass train`` and ``dass predict``, built from the shared teacher flags."""

from __future__ import annotations

import argparse

from distill.tasks import Task
from distill.teachers import Teacher, get_teacher, teacher_config


def load_teacher(args: argparse.Namespace, task: Task) -> Teacher:
    """The teacher of ``train`` and ``predict``: built, trained on demand or read from the cache, exactly as
    ``search`` and ``collect`` get it for the same ``--teacher-epochs`` (so the teacher id matches)."""
    config = teacher_config(args.teacher_epochs)
    return get_teacher(args.teacher, task, weights=args.teacher_weights, config=config, cache=args.cache_dir)
