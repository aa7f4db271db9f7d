"""The one search space: student architecture genes and distillation-recipe genes.

A :class:`SearchSpace` holds the choices (a frozen dataclass, the only place the numbers of
the space live): its student family's choices (``space.arch``, a dataclass of the family module)
and the recipe's. A :class:`Genome` is one point of it. Everything else -- sampling, mutation,
validation, JSON, the pymoo integer vector, the canonical hash, the network, its costs and the
predictor's graph encoding -- derives from these classes; what depends on the architecture is
delegated to the space's student family (:mod:`distill.families`).

The recipe is the loss ``ce_weight * CE + kd_weight * logit_loss + hint_weight *
distance(transform(student_feature), transform(teacher_feature))``; its gene choices are the names
of the registries of :mod:`distill.losses`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np

from distill import losses
from distill.families.base import FAMILIES, StudentFamily, check_choice, check_keys
from distill.families.staged_cnn import BLOCK_TYPES, StagedCNNSpace, StageGene
from distill.io import require_file
from distill.registry import Registry

# The recipe's gene values are the registries' names, in registration order (the order of the
# one-hot features and of the integer vector).
LOGIT_LOSSES: tuple[str, ...] = tuple(losses.LOGIT_LOSSES.names())
HINT_TRANSFORMS: tuple[str, ...] = tuple(losses.HINT_TRANSFORMS.names())
HINT_DISTANCES: tuple[str, ...] = tuple(losses.HINT_DISTANCES.names())
# Logit losses whose temperature gene matters; for the others it is canonicalised to 1.
TEMPERATURE_LOSSES: tuple[str, ...] = losses.temperature_losses()
# Hint transforms with their own objective: for them the hint distance gene is canonicalised to 'mse'.
OWN_OBJECTIVE_TRANSFORMS: tuple[str, ...] = losses.own_objective_transforms()
HINT_POSITIONS = ("off", "early", "mid", "late")
# Relative depth of each hint position, used to pick a feature tap of the student and of the teacher.
HINT_DEPTH = {"early": 0.0, "mid": 0.5, "late": 1.0}

__all__ = [
    "BLOCK_TYPES",
    "HINT_DEPTH",
    "HINT_DISTANCES",
    "HINT_POSITIONS",
    "HINT_TRANSFORMS",
    "LOGIT_LOSSES",
    "OWN_OBJECTIVE_TRANSFORMS",
    "SPACES",
    "TEMPERATURE_LOSSES",
    "Genome",
    "Recipe",
    "SearchSpace",
    "StageGene",
    "get_space",
    "hint_index",
    "load_genome",
    "space_of",
]


@dataclass(frozen=True)
class SearchSpace:
    """The choices of every gene: the student family's (``arch``) and the recipe's.

    Tuples, so the space is hashable and immutable. The family's choices read as attributes of the
    space too (``space.widths`` is ``space.arch.widths``).
    """

    name: str = "default"
    arch: Any = StagedCNNSpace()  # the student family's gene choices; its class names the family
    # The recipe choices of the first spaces, spelled out: an entry appended to a registry of distill.losses
    # (e.g. the transformer recipes) enters only the spaces that opt into it (losses.TRANSFORMER_RECIPE),
    # so the existing spaces sample, mutate and encode exactly as before.
    logit_losses: tuple[str, ...] = losses.V1_LOGIT_LOSSES
    temperatures: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)
    ce_weights: tuple[float, ...] = (0.0, 0.5, 1.0)
    kd_weights: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    hint_positions: tuple[str, ...] = HINT_POSITIONS
    hint_transforms: tuple[str, ...] = losses.V1_HINT_TRANSFORMS
    hint_distances: tuple[str, ...] = losses.V1_HINT_DISTANCES
    hint_weights: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)

    def __post_init__(self) -> None:
        FAMILIES.get(self.arch.family)
        for name, allowed in (
            ("logit_losses", LOGIT_LOSSES),
            ("hint_positions", HINT_POSITIONS),
            ("hint_transforms", HINT_TRANSFORMS),
            ("hint_distances", HINT_DISTANCES),
        ):
            bad = [v for v in getattr(self, name) if v not in allowed]
            if bad:
                raise ValueError(f"{name} must be drawn from {allowed}; got {bad}")

    def __getattr__(self, name: str) -> Any:
        # Only called for names the space does not have: the family's genes (space.widths, ...).
        arch = self.__dict__.get("arch")
        if arch is None or name.startswith("__"):
            raise AttributeError(name)
        try:
            return getattr(arch, name)
        except AttributeError:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}") from None

    @property
    def family(self) -> StudentFamily:
        """The student family of this space."""
        return FAMILIES.get(self.arch.family)

    # ---- the integer vector view (used by pymoo and by the flat baselines) ----
    @property
    def recipe_choices(self) -> tuple[tuple[str, tuple], ...]:
        return (
            ("logit_loss", self.logit_losses),
            ("temperature", self.temperatures),
            ("ce_weight", self.ce_weights),
            ("kd_weight", self.kd_weights),
            ("hint_position", self.hint_positions),
            ("hint_transform", self.hint_transforms),
            ("hint_distance", self.hint_distances),
            ("hint_weight", self.hint_weights),
        )

    def vector_choices(self) -> list[tuple[str, tuple]]:
        """(gene name, choices) for every position of the integer vector, in order: family, then recipe."""
        return self.family.vector_choices(self.arch) + list(self.recipe_choices)

    @property
    def n_var(self) -> int:
        return len(self.vector_choices())

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Inclusive integer bounds of the vector, for pymoo."""
        upper = np.array([len(c) - 1 for _, c in self.vector_choices()], dtype=np.int64)
        return np.zeros_like(upper), upper

    def one_hot(self, genomes: list[Genome]) -> np.ndarray:
        """Flat features of genomes: one-hot of every position of the integer vector, ``(N, sum of choices)``."""
        sizes = np.array([len(choices) for _, choices in self.vector_choices()])
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        out = np.zeros((len(genomes), int(sizes.sum())), dtype=np.float32)
        for row, g in enumerate(genomes):
            out[row, offsets + g.to_vector()] = 1.0
        return out

    # ---- sampling ----
    def sample(self, rng: np.random.Generator, distill: bool | None = None) -> Genome:
        """A random valid genome.

        Args:
            rng: the source of randomness.
            distill: ``False`` gives a no-distillation control (plain cross-entropy),
                ``True`` forces a distillation term, ``None`` samples the recipe freely.
        """
        arch, recipe = self.family.sample(self.arch, rng, lambda: self._sample_recipe(rng, distill))
        return Genome(**arch, recipe=recipe, space=self.name).repaired()

    def _sample_recipe(self, rng: np.random.Generator, distill: bool | None) -> Recipe:
        if distill is False:
            return Recipe.plain()
        recipe = Recipe(
            logit_loss=str(rng.choice(self.logit_losses)),
            temperature=float(rng.choice(self.temperatures)),
            ce_weight=float(rng.choice(self.ce_weights)),
            kd_weight=float(rng.choice(self.kd_weights)),
            hint_position=str(rng.choice(self.hint_positions)),
            hint_transform=str(rng.choice(self.hint_transforms)),
            hint_distance=str(rng.choice(self.hint_distances)),
            hint_weight=float(rng.choice(self.hint_weights)),
        )
        if distill and not recipe.distills:
            kd = [x for x in self.logit_losses if x != "none"]
            recipe = replace(recipe, logit_loss=str(rng.choice(kd)) if kd else "none")
        return recipe

    def sample_recipe(self, rng: np.random.Generator) -> Recipe:
        """A random distilling recipe of this space (used to vary the recipe of one student)."""
        return self.sample(rng, distill=True).recipe


def space_of(name: str, arch: Any) -> SearchSpace:
    """The search space ``name`` of the architecture choices ``arch``, with the default recipe choices unless
    ``arch`` carries ``recipe_space``: a mapping of recipe-choice fields of :class:`SearchSpace` to their
    choices, e.g. :data:`distill.losses.TRANSFORMER_RECIPE` (a family's spaces opt into new recipes this way)."""
    overrides = dict(getattr(arch, "recipe_space", None) or {})
    recipe_fields = {f.name for f in fields(SearchSpace)} - {"name", "arch"}
    check_keys(f"the recipe_space of space {name!r}", overrides, recipe_fields)
    return SearchSpace(name=name, arch=arch, **{k: tuple(v) for k, v in overrides.items()})


SPACES: Registry[SearchSpace] = Registry("search space")
# Every family's spaces (its architecture choices with its recipe choices), in registration order.
for _family in FAMILIES.names():
    for _name, _arch in FAMILIES.get(_family).spaces.items():
        SPACES.add(_name, space_of(_name, _arch))


def get_space(name: str) -> SearchSpace:
    return SPACES.get(name)


@dataclass(frozen=True)
class Recipe:
    """The distillation recipe. ``logit_loss='none'`` and ``hint_position='off'`` with
    ``ce_weight=1`` is plain cross-entropy training (the no-distillation control)."""

    logit_loss: str = "kl"
    temperature: float = 4.0
    ce_weight: float = 0.5
    kd_weight: float = 1.0
    hint_position: str = "off"
    hint_transform: str = "connector"
    hint_distance: str = "mse"
    hint_weight: float = 1.0

    @classmethod
    def plain(cls) -> Recipe:
        return cls(logit_loss="none", temperature=1.0, ce_weight=1.0, kd_weight=1.0, hint_position="off")

    @property
    def distills(self) -> bool:
        return self.logit_loss != "none" or self.hint_position != "off"

    @property
    def has_hint(self) -> bool:
        return self.hint_position != "off"

    def canonical(self) -> Recipe:
        """The same training with genes that have no effect set to defaults."""
        r = self
        if r.logit_loss not in TEMPERATURE_LOSSES:
            r = replace(r, temperature=1.0)
        if r.logit_loss == "none":
            r = replace(r, kd_weight=1.0)
        if not r.has_hint:
            r = replace(r, hint_transform="connector", hint_distance="mse", hint_weight=1.0)
        elif r.hint_transform in OWN_OBJECTIVE_TRANSFORMS:
            r = replace(r, hint_distance="mse")
        return r


@dataclass(frozen=True)
class Genome:
    """One student architecture plus its distillation recipe.

    The architecture fields (``stem_width``, ``stages``) are read by the student family of the
    genome's search space (:mod:`distill.families`); everything architecture-specific is delegated to it.
    """

    stem_width: int
    stages: tuple[StageGene, ...]
    recipe: Recipe = field(default_factory=Recipe)
    space: str = "default"

    @property
    def family(self) -> StudentFamily:
        return get_space(self.space).family

    # ---- validation and canonical form ----
    def validate(self) -> Genome:
        """Raise ``ValueError`` naming the first gene that breaks the space or a constraint."""
        space = get_space(self.space)
        space.family.validate(space.arch, self)
        r = self.recipe
        for gene, choices in space.recipe_choices:
            check_choice(f"'{gene}'", getattr(r, gene), choices)
        if r.ce_weight == 0 and not r.distills:
            raise ValueError("the recipe trains nothing: ce_weight is 0, logit_loss is 'none' and the hint is 'off'")
        return self

    def canonical(self) -> Genome:
        """The same student and training with genes that have no effect set to defaults."""
        return replace(self, **self.family.canonical(self), recipe=self.recipe.canonical())

    def repaired(self) -> Genome:
        """Fix what an unconstrained operator can break: sort widths, give an empty loss CE."""
        r = self.recipe
        if r.ce_weight == 0 and not r.distills:
            r = replace(r, ce_weight=1.0)
        return replace(self, **self.family.repaired(self), recipe=r).canonical()

    @property
    def hash(self) -> str:
        """A 16-hex-digit hash of the canonical genome, stable across runs and machines."""
        blob = json.dumps(self.canonical().to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def hint_stage(self) -> int | None:
        """Index of the student's feature tap (stage) the hint reads, or ``None`` without a hint."""
        if not self.recipe.has_hint:
            return None
        return hint_index(self.recipe.hint_position, len(self.family.tap_channels(self)))

    def with_recipe(self, recipe: Recipe) -> Genome:
        return replace(self, recipe=recipe).canonical()

    # ---- the network ----
    def build(self, in_shape: tuple[int, int, int], num_classes: int, seed: int | None = None):
        """The student network for inputs of ``in_shape``; with a ``seed`` its initial weights are a
        function of it alone (the global RNG is left as it was)."""
        return self.family.build(self, in_shape, num_classes, seed)

    def count_params(self, in_shape: tuple[int, int, int], num_classes: int) -> int:
        """Parameters of :meth:`build`'s network, counted without building it."""
        return self.family.count_params(self, in_shape, num_classes)

    def count_macs(self, in_shape: tuple[int, int, int], num_classes: int) -> int:
        """Multiply-adds of one input through :meth:`build`'s network, counted without building it."""
        return self.family.count_macs(self, in_shape, num_classes)

    # ---- JSON ----
    def to_dict(self) -> dict[str, Any]:
        return {"space": self.space, **self.family.to_dict(self), "recipe": asdict(self.recipe)}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Genome:
        if not isinstance(d, dict):
            raise ValueError(f"a genome must be a JSON object; got {type(d).__name__}")
        family = get_space(d.get("space", "default")).family
        check_keys("genome", d, {"space", "recipe", *family.genome_keys}, required=set(family.required_keys))
        arch = family.from_dict(d)
        recipe_d = d.get("recipe", {})
        if not isinstance(recipe_d, dict):
            raise ValueError(f"the genome's 'recipe' must be a JSON object; got {recipe_d!r}")
        check_keys("recipe", recipe_d, {f.name for f in fields(Recipe)})
        recipe = Recipe(**{k: _as_float_if_number(Recipe, k, v) for k, v in recipe_d.items()})
        return cls(**arch, recipe=recipe, space=d.get("space", "default")).validate()

    @classmethod
    def from_json(cls, text: str) -> Genome:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"the genome is not valid JSON: {e}") from None
        return cls.from_dict(d)

    # ---- pymoo vector ----
    def to_vector(self) -> np.ndarray:
        """Integer indices into :meth:`SearchSpace.vector_choices`."""
        space = get_space(self.space)
        g = self.canonical()
        v = space.family.to_vector(space.arch, g)
        v += [choices.index(getattr(g.recipe, gene)) for gene, choices in space.recipe_choices]
        return np.asarray(v, dtype=np.int64)

    @classmethod
    def from_vector(cls, v: np.ndarray, space: str | SearchSpace = "default") -> Genome:
        """Decode (and repair) an integer vector, e.g. one produced by a pymoo operator."""
        sp = space if isinstance(space, SearchSpace) else get_space(space)
        choices = sp.vector_choices()
        v = np.asarray(v).round().astype(np.int64)
        if v.shape != (len(choices),):
            raise ValueError(f"the vector must have {len(choices)} entries; got shape {v.shape}")
        vals = [c[int(np.clip(i, 0, len(c) - 1))] for i, (_, c) in zip(v, choices)]
        n_recipe = len(sp.recipe_choices)
        arch = sp.family.from_vector(sp.arch, vals[:-n_recipe])
        return cls(**arch, recipe=Recipe(*vals[-n_recipe:]), space=sp.name).repaired()

    # ---- mutation ----
    def mutate(self, rng: np.random.Generator, n_genes: int = 1) -> Genome:
        """Resample ``n_genes`` random positions of the vector (the family's structure genes included)."""
        sp = get_space(self.space)
        v = sp.family.prepare_mutation(sp.arch, self, self.to_vector(), rng)
        _, upper = sp.bounds()
        mutable = np.flatnonzero(upper > 0)
        for pos in rng.choice(mutable, size=min(n_genes, len(mutable)), replace=False):
            v[pos] = rng.integers(0, upper[pos] + 1)
        return Genome.from_vector(v, sp)


def hint_index(position: str, n_stages: int) -> int:
    """Stage index at relative depth ``HINT_DEPTH[position]`` of an ``n_stages`` network."""
    return int(round(HINT_DEPTH[position] * (n_stages - 1)))


def _as_float_if_number(cls: type, name: str, value: Any) -> Any:
    """JSON writes 4.0 as 4; read an int back as float where the field is a float."""
    if isinstance(cls.__dataclass_fields__[name].default, float) and type(value) is int:
        return float(value)
    return value


def load_genome(path: str) -> Genome:
    """Read a genome JSON file; a missing file or a bad genome is a one-line error."""
    require_file(path, "genome file")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError:
        raise ValueError(f"genome file {path!r} is not text: a genome is JSON, as `dass genome` writes it") from None
    try:
        return Genome.from_json(text)
    except ValueError as e:
        raise ValueError(f"genome file {path!r}: {e}") from None
