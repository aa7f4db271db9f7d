"""Task sources, one module each; importing this package imports every module in it, which registers them.

A new source is one module here that registers itself with ``@task_source(...)``: nothing else lists it.
The sources that existed first are imported in a fixed order, because registration order is the order
``dass tasks`` lists them in; any other module follows in alphabetical order.
"""

import importlib
import pkgutil

from distill.tasks.sources.base import (
    TASK_SOURCES,
    RawData,
    SourceOption,
    TaskSource,
    check_raw_data,
    path_sources,
    task_source,
)
from distill.tasks.sources.files import DATA_ENV, resolve_data_dir

_LISTED_FIRST = ("digits", "mnist", "npz", "folder", "torchvision_datasets")
for _module in dict.fromkeys([*_LISTED_FIRST, *sorted(m.name for m in pkgutil.iter_modules(__path__))]):
    importlib.import_module(f"{__name__}.{_module}")

__all__ = [
    "DATA_ENV",
    "TASK_SOURCES",
    "RawData",
    "SourceOption",
    "TaskSource",
    "check_raw_data",
    "path_sources",
    "resolve_data_dir",
    "task_source",
]
