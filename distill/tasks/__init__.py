"""Tasks: a dataset (plus class subset, domain transform and input size) as in-memory tensors.

A task is named by a spec string such as ``mnist:classes=0-4:transform=noise0.3:size=16``, parsed by
:class:`TaskSpec` (``spec.py``: the grammar) and built by :func:`load_task` (``pipeline.py``: source ->
class subset -> splits -> size -> transform -> normalisation). Sources live in ``sources/`` (one module
each, plus the contract in ``sources/base.py``); domain transforms in ``transforms.py``.

To add a source: write one module in ``distill/tasks/sources/`` with a loader
``fn(spec, data_dir) -> RawData`` decorated ``@task_source("name")`` (``takes_path=True`` if it reads the
spec's ``path``; ``options=(SourceOption(...), ...)`` for spec keys of its own, read with
``spec.option(name)``); importing ``sources`` picks the module up, and the spec grammar, ``dass tasks`` and
the tests parametrised over ``TASK_SOURCES`` follow. Read files from ``require_data_dir`` (never download),
seed any randomness from the spec, and add ``tests/distill/tasks/sources/test_NAME.py``. A generated source
(``glyphs``, ``shapes``, ``textures``, ``fractals``, ``particles``) is a loader that calls
``sources.generated.generate`` with a renderer that draws one class's images from per-image generators.
To add a transform: one function ``fn(x, param, generator) -> x`` on ``(N, C, H, W)`` images in [0, 1] in
``transforms.py``, decorated ``@domain_transform("name", default=..., allowed=..., minimum=...)``.

A task is held in memory whole: ``limits.py`` says how large it may be (checked before images are made).

Importing this package reads no file; sources import their optional dependencies (scikit-learn,
PIL, torchvision) only when used.
"""

from distill.tasks.color import COLORS
from distill.tasks.limits import MAX_TASK_BYTES
from distill.tasks.pipeline import Task, load_task
from distill.tasks.sources import TASK_SOURCES, RawData, TaskSource, check_raw_data, task_source
from distill.tasks.sources.base import NPZ_KEYS, SourceOption
from distill.tasks.sources.files import DATA_ENV, resolve_data_dir
from distill.tasks.sources.mnist import MNIST_IDX_FILES
from distill.tasks.sources.torchvision_datasets import TORCHVISION_SOURCES
from distill.tasks.spec import MAX_SIZE, NORM_HELP, TaskSpec, norm_constants
from distill.tasks.splits import TEST_SEED, stratified_split
from distill.tasks.transforms import DOMAIN_TRANSFORMS, DomainTransform, domain_transform

__all__ = [
    "COLORS",
    "DATA_ENV",
    "DOMAIN_TRANSFORMS",
    "MAX_SIZE",
    "MAX_TASK_BYTES",
    "MNIST_IDX_FILES",
    "NORM_HELP",
    "NPZ_KEYS",
    "TASK_SOURCES",
    "TEST_SEED",
    "TORCHVISION_SOURCES",
    "DomainTransform",
    "RawData",
    "SourceOption",
    "Task",
    "TaskSource",
    "TaskSpec",
    "check_raw_data",
    "domain_transform",
    "load_task",
    "norm_constants",
    "resolve_data_dir",
    "stratified_split",
    "task_source",
]
