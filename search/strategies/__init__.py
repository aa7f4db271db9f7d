"""Search strategies, one module each, every one registered in :data:`STRATEGIES`; all stop at the same
training budget.

A strategy is an object with ``setup(run)`` / ``step()`` / ``candidates()`` and ``state_dict()`` /
``load_state_dict()`` (:class:`~search.strategies.base.SearchStrategy`), driven by
:func:`~search.strategies.base.run_strategy`, like a pymoo algorithm driven by ask/tell. It trains what
it decides to train through the run's verbs (:class:`search.context.SearchRun`), so every training is
stored and counted in full-budget-equivalents, and returns its final Pareto candidates, which the runner
verifies at the full budget while the training budget lasts.

Adding a strategy is one module in this package that registers itself with
:func:`~search.strategies.base.register` (plus its tests): every module here is imported below.
"""

from __future__ import annotations

import importlib
import pkgutil

from search.strategies.base import STRATEGIES, SearchStrategy, Strategy, register, run_strategy
from search.strategies.nsga import make_nsga2

__all__ = ["STRATEGIES", "SearchStrategy", "Strategy", "make_nsga2", "register", "run_strategy"]

# The first five in the order the tool has always listed them (--help, benchmarks' default order); a new
# module needs no entry here: the loop registers every other module of the package after them.
for _name in ("ours", "uniads", "random_search", "diswot", "autokd"):
    importlib.import_module(f"{__name__}.{_name}")
for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
