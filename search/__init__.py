"""Distillation-aware student search: NSGA-II over student + recipe, successive-halving rungs, verification.

See :mod:`search.loop` for the entry points and the run directory, :mod:`search.strategies` for the
registered strategies.
"""

from search.config import SearchConfig
from search.loop import SearchResult, resume_search, run_search
from search.problem import COST_KINDS, CostModel, StudentProblem
from search.report import format_front
from search.strategies import STRATEGIES

__all__ = [
    "COST_KINDS",
    "STRATEGIES",
    "CostModel",
    "SearchConfig",
    "SearchResult",
    "StudentProblem",
    "format_front",
    "resume_search",
    "run_search",
]
