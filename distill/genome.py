"""The one search space: student architecture genes and distillation-recipe genes.

A :class:`SearchSpace` holds the choices (a frozen dataclass, the only place the numbers of
the space live). A :class:`Genome` is one point of it. Everything else -- sampling, mutation,
validation, JSON, the pymoo integer vector, the canonical hash and the predictor's graph
encoding -- derives from these two classes.

The student is ``stem -> stage_1 -> ... -> stage_n -> pool -> classifier``. Each stage is
``depth`` blocks of one type; the first block of every stage after the first halves the
spatial size. The recipe is the loss ``ce_weight * CE + kd_weight * logit_loss +
hint_weight * distance(transform(student_feature), transform(teacher_feature))``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np

from distill.registry import Registry

BLOCK_TYPES = ("conv", "basic", "mbconv", "dwsep")
LOGIT_LOSSES = ("none", "kl", "dist", "mse")
HINT_POSITIONS = ("off", "early", "mid", "late")
HINT_TRANSFORMS = ("connector", "attention", "relation", "channel")
HINT_DISTANCES = ("mse", "l1", "cosine", "pearson")
# Relative depth of each hint position, used to pick a stage of the student and of the teacher.
HINT_DEPTH = {"early": 0.0, "mid": 0.5, "late": 1.0}
# Logit losses whose temperature gene matters; for the others it is canonicalised to 1.
TEMPERATURE_LOSSES = ("kl", "dist")


@dataclass(frozen=True)
class SearchSpace:
    """The choices of every gene. Tuples, so the space is hashable and immutable."""

    name: str = "default"
    min_stages: int = 2
    max_stages: int = 4
    stem_widths: tuple[int, ...] = (8, 16, 24)
    block_types: tuple[str, ...] = BLOCK_TYPES
    depths: tuple[int, ...] = (1, 2, 3)
    # Widths are small on purpose: students are meant to be much smaller than the teacher
    # (about 0.6k to 300k parameters; the zoo's teachers have 80k to 2M).
    widths: tuple[int, ...] = (8, 12, 16, 24, 32, 48, 64)
    kernels: tuple[int, ...] = (3, 5)
    expansions: tuple[int, ...] = (1, 2, 4)  # only meaningful for MBConv blocks
    se: tuple[bool, ...] = (False, True)
    logit_losses: tuple[str, ...] = LOGIT_LOSSES
    temperatures: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)
    ce_weights: tuple[float, ...] = (0.0, 0.5, 1.0)
    kd_weights: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    hint_positions: tuple[str, ...] = HINT_POSITIONS
    hint_transforms: tuple[str, ...] = HINT_TRANSFORMS
    hint_distances: tuple[str, ...] = HINT_DISTANCES
    hint_weights: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)

    def __post_init__(self) -> None:
        if not 1 <= self.min_stages <= self.max_stages:
            raise ValueError(f"min_stages must be in [1, max_stages]; got {self.min_stages}")
        for name in ("block_types", "logit_losses", "hint_positions", "hint_transforms", "hint_distances"):
            allowed = globals()[name.upper()]
            bad = [v for v in getattr(self, name) if v not in allowed]
            if bad:
                raise ValueError(f"{name} must be drawn from {allowed}; got {bad}")

    # ---- the integer vector view (used by pymoo and by the flat baselines) ----
    @property
    def stage_choices(self) -> tuple[tuple[str, tuple], ...]:
        return (
            ("block", self.block_types),
            ("depth", self.depths),
            ("width", self.widths),
            ("kernel", self.kernels),
            ("expansion", self.expansions),
            ("se", self.se),
        )

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
        """(gene name, choices) for every position of the integer vector, in order."""
        out: list[tuple[str, tuple]] = [
            ("n_stages", tuple(range(self.min_stages, self.max_stages + 1))),
            ("stem_width", self.stem_widths),
        ]
        for i in range(self.max_stages):
            out += [(f"stage{i}.{g}", c) for g, c in self.stage_choices]
        out += list(self.recipe_choices)
        return out

    @property
    def n_var(self) -> int:
        return len(self.vector_choices())

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Inclusive integer bounds of the vector, for pymoo."""
        upper = np.array([len(c) - 1 for _, c in self.vector_choices()], dtype=np.int64)
        return np.zeros_like(upper), upper

    # ---- sampling ----
    def sample(self, rng: np.random.Generator, distill: bool | None = None) -> Genome:
        """A random valid genome.

        Args:
            rng: the source of randomness.
            distill: ``False`` gives a no-distillation control (plain cross-entropy),
                ``True`` forces a distillation term, ``None`` samples the recipe freely.
        """
        n = int(rng.integers(self.min_stages, self.max_stages + 1))
        widths = sorted(int(rng.choice(self.widths)) for _ in range(n))
        stages = []
        for w in widths:
            block = str(rng.choice(self.block_types))
            stages.append(
                StageGene(
                    block=block,
                    depth=int(rng.choice(self.depths)),
                    width=w,
                    kernel=int(rng.choice(self.kernels)),
                    expansion=int(rng.choice(self.expansions)),
                    se=bool(rng.choice(self.se)),
                )
            )
        if distill is False:
            recipe = Recipe.plain()
        else:
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
        return Genome(
            stem_width=int(rng.choice(self.stem_widths)), stages=tuple(stages), recipe=recipe, space=self.name
        ).repaired()

    def sample_recipe(self, rng: np.random.Generator) -> Recipe:
        """A random distilling recipe of this space (used to vary the recipe of one student)."""
        return self.sample(rng, distill=True).recipe


SPACES: Registry[SearchSpace] = Registry("search space")
SPACES.add("default", SearchSpace())
# A DaSS-style ResNet space: basic residual blocks only, 4 stages, 3x3 kernels.
SPACES.add(
    "resnet",
    SearchSpace(
        name="resnet",
        min_stages=4,
        max_stages=4,
        block_types=("basic",),
        depths=(1, 2, 3),
        widths=(8, 16, 24, 32, 48, 64),
        kernels=(3,),
        expansions=(1,),
        se=(False,),
    ),
)
# A MobileNet-style space: inverted residuals with expansion, larger kernels, optional SE.
SPACES.add(
    "mobilenet",
    SearchSpace(
        name="mobilenet",
        min_stages=3,
        max_stages=4,
        block_types=("mbconv", "dwsep"),
        depths=(1, 2, 3),
        widths=(8, 12, 16, 24, 32, 48, 64),
        kernels=(3, 5, 7),
        expansions=(1, 3, 6),
        se=(False, True),
    ),
)


def get_space(name: str) -> SearchSpace:
    return SPACES.get(name)


@dataclass(frozen=True)
class StageGene:
    block: str
    depth: int
    width: int
    kernel: int = 3
    expansion: int = 1
    se: bool = False


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


@dataclass(frozen=True)
class Genome:
    """One student architecture plus its distillation recipe."""

    stem_width: int
    stages: tuple[StageGene, ...]
    recipe: Recipe = field(default_factory=Recipe)
    space: str = "default"

    # ---- validation and canonical form ----
    def validate(self) -> Genome:
        """Raise ``ValueError`` naming the first gene that breaks the space or a constraint."""
        space = get_space(self.space)
        _check_choice("'stem_width'", self.stem_width, space.stem_widths)
        if not space.min_stages <= len(self.stages) <= space.max_stages:
            raise ValueError(
                f"the number of stages must be in [{space.min_stages}, {space.max_stages}]; got {len(self.stages)}"
            )
        for i, stage in enumerate(self.stages):
            for gene, choices in space.stage_choices:
                _check_choice(f"stage {i} '{gene}'", getattr(stage, gene), choices)
            if i and stage.width < self.stages[i - 1].width:
                raise ValueError(
                    f"stage widths must not decrease; stage {i} has width {stage.width} "
                    f"after {self.stages[i - 1].width}"
                )
        r = self.recipe
        for gene, choices in space.recipe_choices:
            _check_choice(f"'{gene}'", getattr(r, gene), choices)
        if r.ce_weight == 0 and not r.distills:
            raise ValueError("the recipe trains nothing: ce_weight is 0, logit_loss is 'none' and the hint is 'off'")
        return self

    def canonical(self) -> Genome:
        """The same student and training with genes that have no effect set to defaults."""
        stages = tuple(s if s.block == "mbconv" else replace(s, expansion=1) for s in self.stages)
        r = self.recipe
        if r.logit_loss not in TEMPERATURE_LOSSES:
            r = replace(r, temperature=1.0)
        if r.logit_loss == "none":
            r = replace(r, kd_weight=1.0)
        if not r.has_hint:
            r = replace(r, hint_transform="connector", hint_distance="mse", hint_weight=1.0)
        return replace(self, stages=stages, recipe=r)

    def repaired(self) -> Genome:
        """Fix what an unconstrained operator can break: sort widths, give an empty loss CE."""
        widths = sorted(s.width for s in self.stages)
        stages = tuple(replace(s, width=w) for s, w in zip(self.stages, widths))
        r = self.recipe
        if r.ce_weight == 0 and not r.distills:
            r = replace(r, ce_weight=1.0)
        return replace(self, stages=stages, recipe=r).canonical()

    @property
    def hash(self) -> str:
        """A 16-hex-digit hash of the canonical genome, stable across runs and machines."""
        blob = json.dumps(self.canonical().to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def hint_stage(self) -> int | None:
        """Index of the student stage the hint reads, or ``None`` without a hint."""
        if not self.recipe.has_hint:
            return None
        return hint_index(self.recipe.hint_position, len(self.stages))

    def with_recipe(self, recipe: Recipe) -> Genome:
        return replace(self, recipe=recipe).canonical()

    # ---- JSON ----
    def to_dict(self) -> dict[str, Any]:
        return {
            "space": self.space,
            "stem_width": self.stem_width,
            "stages": [asdict(s) for s in self.stages],
            "recipe": asdict(self.recipe),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Genome:
        if not isinstance(d, dict):
            raise ValueError(f"a genome must be a JSON object; got {type(d).__name__}")
        _check_keys("genome", d, {"space", "stem_width", "stages", "recipe"}, required={"stem_width", "stages"})
        if not isinstance(d["stages"], list) or not d["stages"]:
            raise ValueError("the genome's 'stages' must be a non-empty list")
        stages = []
        for i, s in enumerate(d["stages"]):
            if not isinstance(s, dict):
                raise ValueError(f"stage {i} must be a JSON object; got {s!r}")
            _check_keys(f"stage {i}", s, {f.name for f in fields(StageGene)}, required={"block", "depth", "width"})
            stages.append(StageGene(**s))
        recipe_d = d.get("recipe", {})
        if not isinstance(recipe_d, dict):
            raise ValueError(f"the genome's 'recipe' must be a JSON object; got {recipe_d!r}")
        _check_keys("recipe", recipe_d, {f.name for f in fields(Recipe)})
        recipe = Recipe(**{k: _as_float_if_number(Recipe, k, v) for k, v in recipe_d.items()})
        return cls(
            stem_width=d["stem_width"], stages=tuple(stages), recipe=recipe, space=d.get("space", "default")
        ).validate()

    @classmethod
    def from_json(cls, text: str) -> Genome:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"the genome is not valid JSON: {e}") from None
        return cls.from_dict(d)

    # ---- pymoo vector ----
    def to_vector(self) -> np.ndarray:
        """Integer indices into :meth:`SearchSpace.vector_choices`; inactive stages use index 0."""
        space = get_space(self.space)
        g = self.canonical()
        v = [len(g.stages) - space.min_stages, space.stem_widths.index(g.stem_width)]
        for i in range(space.max_stages):
            for gene, choices in space.stage_choices:
                v.append(choices.index(getattr(g.stages[i], gene)) if i < len(g.stages) else 0)
        for gene, choices in space.recipe_choices:
            v.append(choices.index(getattr(g.recipe, gene)))
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
        n, stem = vals[0], vals[1]
        k = len(sp.stage_choices)
        stages = tuple(StageGene(*vals[2 + i * k : 2 + (i + 1) * k]) for i in range(n))
        recipe = Recipe(*vals[2 + sp.max_stages * k :])
        return cls(stem_width=int(stem), stages=stages, recipe=recipe, space=sp.name).repaired()

    # ---- mutation ----
    def mutate(self, rng: np.random.Generator, n_genes: int = 1) -> Genome:
        """Resample ``n_genes`` random positions of the vector (stage count included)."""
        sp = get_space(self.space)
        v = self.to_vector()
        # Fill inactive stages from random stages so that growing a stage gives a sensible one.
        k = len(sp.stage_choices)
        for i in range(len(self.stages), sp.max_stages):
            src = int(rng.integers(len(self.stages)))
            v[2 + i * k : 2 + (i + 1) * k] = v[2 + src * k : 2 + (src + 1) * k]
        _, upper = sp.bounds()
        mutable = np.flatnonzero(upper > 0)
        for pos in rng.choice(mutable, size=min(n_genes, len(mutable)), replace=False):
            v[pos] = rng.integers(0, upper[pos] + 1)
        return Genome.from_vector(v, sp)


def hint_index(position: str, n_stages: int) -> int:
    """Stage index at relative depth ``HINT_DEPTH[position]`` of an ``n_stages`` network."""
    return int(round(HINT_DEPTH[position] * (n_stages - 1)))


def _check_choice(label: str, value: Any, choices: tuple) -> None:
    # Compare types too: bool is a subclass of int, and True must not stand for 1.
    if not any(value == c and type(value) is type(c) for c in choices):
        allowed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"the {label} gene must be one of {{{allowed}}}; got {value!r}")


def _as_float_if_number(cls: type, name: str, value: Any) -> Any:
    """JSON writes 4.0 as 4; read an int back as float where the field is a float."""
    if isinstance(cls.__dataclass_fields__[name].default, float) and type(value) is int:
        return float(value)
    return value


def _check_keys(what: str, d: dict, allowed: set[str], required: set[str] = frozenset()) -> None:
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} in {what}; allowed: {', '.join(sorted(allowed))}")
    missing = sorted(required - set(d))
    if missing:
        raise ValueError(f"{what} is missing the key {missing[0]!r}")


def load_genome(path: str) -> Genome:
    """Read a genome JSON file; a missing file or a bad genome is a one-line error."""
    from distill.io import require_file

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
