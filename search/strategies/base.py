"""What a search strategy is, the registry of them, and the loop that drives one.

A strategy is an object, like a pymoo algorithm with ask/tell: :meth:`~SearchStrategy.setup` binds it to
a :class:`~search.context.SearchRun`, every :meth:`~SearchStrategy.step` does one unit of work (a
generation, a batch of trainings) and says whether there is more, :meth:`~SearchStrategy.candidates`
returns the final Pareto candidates to verify, and :meth:`~SearchStrategy.state_dict` /
:meth:`~SearchStrategy.load_state_dict` carry what it needs to resume (``None``: it replays from the seed,
reading every finished training back from the store).

A strategy acts only through the run's verbs and never changes the run's settings: a cap of its own
(e.g. a baseline's number of trainings) is kept by the strategy.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from distill.genome import Genome
from distill.registry import Registry
from search.config import SearchConfig
from search.context import SearchRun

__all__ = ["STRATEGIES", "SearchStrategy", "Strategy", "register", "run_strategy"]


class SearchStrategy(ABC):
    """A search strategy: set up on a run, stepped until it is done, then asked for its candidates."""

    run: SearchRun

    def setup(self, run: SearchRun) -> None:
        """Bind to ``run`` and build what the search needs (no training yet)."""
        self.run = run

    @abstractmethod
    def step(self) -> bool:
        """Do one unit of work; ``False`` when the search is over (nothing was done)."""

    def candidates(self) -> list[Genome]:
        """The final candidates to verify at the full budget, most wanted first (none by default)."""
        return []

    def state_dict(self) -> dict[str, Any] | None:
        """What resuming needs after a step: ``generation``, JSON values, and numpy ``arrays``; ``None``
        when the strategy replays from its seed instead."""
        return None

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a saved :meth:`state_dict` (after :meth:`setup`); a replaying strategy has none."""
        del state

    @classmethod
    def min_trainings(cls, config: SearchConfig) -> tuple[float, str]:
        """The fewest full-budget-equivalent trainings with which this strategy, run with ``config``, can verify
        one student, and what they pay for: a smaller ``--max-trainings`` is refused before anything runs
        (it would spend its trainings and end with an empty front). By default: one full-budget training."""
        return 1.0, f"one training at the full budget of {config.full_budget} epoch(s)"

    # Whether the strategy reads --supernet (a directory of trained supernets); the others refuse it.
    reads_supernet = False

    # Whether the strategy trains --scouts (random students that adapt the predictor first); the others refuse it.
    trains_scouts = False

    @classmethod
    def check_config(cls, config: SearchConfig) -> None:
        """Refuse settings this strategy cannot run with, before the task, the teacher and any training (a
        one-line ``ValueError``). By default: a ``--supernet`` the strategy would not read, ``--scouts`` it would not
        train."""
        if config.supernet is not None and not cls.reads_supernet:
            raise ValueError(f"--supernet is read by --strategy ours only; got --strategy {config.strategy}")
        if config.scouts and not cls.trains_scouts:
            raise ValueError(
                f"--scouts {config.scouts} is read by --strategy ours only; got --strategy {config.strategy}"
            )

    def training_cap(self) -> float | None:
        """The full-budget-equivalent trainings this strategy may spend: the run's ``--max-trainings``
        unless the strategy keeps a cap of its own (``None``: no limit)."""
        return self.run.max_trainings


@dataclass(frozen=True)
class Strategy:
    """A registry entry: how to make a strategy and what it needs."""

    name: str
    description: str
    factory: Callable[[], SearchStrategy]
    needs_predictor: bool = False


STRATEGIES: Registry[Strategy] = Registry("search strategy")


def register(name: str, description: str, needs_predictor: bool = False) -> Callable:
    """Class decorator: register a :class:`SearchStrategy` under ``name``."""

    def decorator(cls: type[SearchStrategy]) -> type[SearchStrategy]:
        STRATEGIES.add(name, Strategy(name, description, cls, needs_predictor))
        return cls

    return decorator


def run_strategy(strategy: SearchStrategy, run: SearchRun) -> list[Genome]:
    """Set ``strategy`` up on ``run``, resume it from the run's saved state, step it to the end (saving the
    state after every step), and return its final candidates."""
    strategy.setup(run)
    state = run.load_state()
    if state is not None:
        strategy.load_state_dict(state)
    while strategy.step():
        state = strategy.state_dict()
        if state is not None:
            run.save_state(state)
    return strategy.candidates()
