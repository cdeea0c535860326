"""Experiment specs (``experiments/*.toml``): schema, validation and the design they resolve to.

A spec names the experiment and says what it is for, then gives the run
length, the couples per design cell (replicates), the root seed, the
population, parameters held fixed, the factors and what to record::

    name = "support_balance"
    purpose = "Where does goal support lower anxiety, and where does the cycle escalate?"
    days = 730
    replicates = 100
    seed = 2023

    [population]                 # one of: pairing = "...", pairings = [...], drawn = true
    pairings = ["secure-secure", "anxious-avoidant"]

    [fixed]                      # declared parameters held fixed, [WHO.]NAME = value
    shock_day = 100

    [factors]                    # full factorial; [WHO.]NAME = list or {start, stop, num}
    responsiveness = {start = 0.0, stop = 1.0, num = 21}
    "b.goal_support" = [0.2, 0.8]

    [sampling]                   # optional: Latin hypercube or Sobol points, crossed with the factors
    method = "lhs"
    points = 64
    bounds = {responsiveness = [0.0, 1.0]}

    [interventions]              # optional: named plans of changes (sim.interventions), usable as levels
    evening-call = ["more-avoidant.responsiveness=0.9 every=2"]

    [factors]
    intervention = ["none", "checkin-ritual", "evening-call"]   # couples share seeds across these levels
    intervention_day = [90, 180]                                # when recipes (and plans without from=) start

    [record]
    sampled_couples = 2          # full daily series kept for this many couples per cell
    series_every = 1             # keep per-cell daily statistics every this many days

    [discovery]                  # optional: PRIM boxes over the runs (sim.experiment.discovery)
    outcome = "escalating"       # a classification (or a list), or an outcome column with threshold and direction
    inputs = ["responsiveness"]  # which design inputs a box may restrict (default: every numeric one)
    boxes = 2                    # boxes found in sequence, each among the runs outside the boxes before it

Validation uses pydantic in strict mode for the structure (``days = "30"``
or ``days = true`` is an error, not 30 or 1) and the parameter declarations
(sim.params) for names and ranges; size limits are sim.budget.LIMITS. Every
problem is reported as one line that names the file, the key, the value and
what is allowed.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from sim import interventions
from sim import params as P
from sim.budget import LIMITS
from sim.population import PAIRINGS, PRESETS, Override
from sim.schema import CLASSES, OUTCOME_COLUMNS, SENSITIVITY_OUTCOMES
from sim.selectors import ParameterKey
from sim.study.formula import FormulaError, parse

TARGET_COUPLES_PER_CHUNK = 2000
CATEGORICAL_FACTORS = ("pairing", "intervention")   # factors whose levels are names, not parameter values
# What a [discovery] threshold can apply to: every numeric per-couple outcome (dissolved is the class "dissolved").
THRESHOLD_OUTCOMES = tuple(c for c in OUTCOME_COLUMNS if c not in ("dissolved", "classification"))
MAX_SPEC_BYTES = 1_000_000


class SpecError(ValueError):
    """A spec that cannot be run: one line naming the file, the key, the value and what is allowed."""


def _check_parameter(key: str, value: Any) -> Override:
    """Validate a ``[WHO.]NAME`` key with one value against the declarations."""
    if isinstance(value, (list, dict)):
        raise ValueError(f"expected a single value for {key}")
    if not isinstance(value, (bool, int, float)):
        # A spec is typed: "30" is text, and a number written as text is a mistake to point out, not to guess.
        raise P.ParameterError(key, value, ParameterKey.parse(key).declaration(value).allowed()
                               + " (a TOML number or boolean, not text)")
    return Override.at(key, value).checked()


def _check_name(key: str) -> P.Parameter:
    """A factor or bound key must name a model parameter, optionally for one partner or style; its declaration."""
    decl = ParameterKey.parse(key).declaration(key)
    if decl.scope in ("population", "classification", "measurement"):
        raise P.ParameterError(key, key, f"a partner- or couple-level parameter ({decl.scope} settings go in "
                               "[fixed])")
    return decl


def _check_bounds(bounds: dict[str, list[float]]) -> None:
    """Each ``[WHO.]NAME = [low, high]`` must name a model parameter and lie within its declared range."""
    for key, (low, high) in bounds.items():
        decl = _check_name(key)
        if not (decl.low <= low < high <= decl.high):
            raise P.ParameterError(key, [low, high], f"low < high within {decl.low:g}..{decl.high:g}")


def check_outcomes(outcomes: list[str], field: str | None = "--outcome") -> None:
    """Every outcome must be one a sensitivity analysis can analyse (sim.schema.SENSITIVITY_OUTCOMES)."""
    unknown = [o for o in outcomes if o not in SENSITIVITY_OUTCOMES]
    if unknown:
        where = f"{field}: " if field else ""
        raise SpecError(f"{where}{unknown[0]!r} is not an outcome; expected one of {', '.join(SENSITIVITY_OUTCOMES)}")


class Strict(BaseModel):
    """Unknown keys are errors, and values are never converted from another type."""

    model_config = ConfigDict(extra="forbid", strict=True)


Bounds = Annotated[list[float], Field(min_length=2, max_length=2)]


class Range(Strict):
    """Evenly spaced values from start to stop inclusive."""

    start: float
    stop: float
    num: int = Field(ge=1, le=LIMITS.levels)

    def values(self) -> list[float]:
        """The range's ``num`` factor levels, from ``start`` to ``stop`` inclusive."""
        return [float(x) for x in np.linspace(self.start, self.stop, self.num)]


class PopulationSpec(Strict):
    """Which couples a spec simulates: one preset pairing, a list of pairings, or a drawn population."""

    pairing: str | None = None
    pairings: list[str] | None = None
    drawn: bool = False

    @field_validator("pairing")
    @classmethod
    def _known_pairing(cls, value):
        if value is not None and value not in PAIRINGS:
            raise ValueError(f"value {value!r} is not allowed; expected one of {', '.join(PRESETS)} "
                             "(or any STYLE-STYLE)")
        return value

    @field_validator("pairings")
    @classmethod
    def _known_pairings(cls, value):
        for item in value or []:
            cls._known_pairing(item)
        if value is not None and not value:
            raise ValueError("value [] is not allowed; expected at least one pairing")
        return value

    @model_validator(mode="after")
    def _one_kind(self):
        if sum([self.pairing is not None, self.pairings is not None, self.drawn]) > 1:
            raise ValueError("expected only one of pairing, pairings or drawn = true")
        return self

    @property
    def given(self) -> bool:
        """Whether the spec names its couples here (else the ``pairing`` factor must)."""
        return self.pairing is not None or self.pairings is not None or self.drawn


class Sampling(Strict):
    """Parameter points sampled within bounds (Latin hypercube or Sobol), crossed with the factors."""

    method: Literal["lhs", "sobol"]
    points: int = Field(ge=1, le=LIMITS.points)
    bounds: dict[str, Bounds]

    @field_validator("bounds")
    @classmethod
    def _declared_bounds(cls, value):
        if not value:
            raise ValueError("value {} is not allowed; expected at least one parameter with [low, high]")
        _check_bounds(value)
        return value


class StudySpec(Strict):
    """A virtual study: a cohort measured at two waves and analysed like a real one."""

    couples: int = Field(326, ge=2, le=LIMITS.couples)
    acclimation_days: int = Field(60, ge=0, le=LIMITS.days)
    wave_gap_days: int = Field(365, ge=1, le=LIMITS.days)
    window_days: int = Field(14, ge=1, le=1_000)
    analysis: Literal["mixed", "cluster"] = "mixed"
    # Power by simulation fits every cohort; "vectorised" (couple-clustered OLS in a few array operations,
    # sim.study.analysis.fit_cluster_robust) is some 100 times faster than the mixed model and gives its
    # power curve within Monte Carlo error (tests/test_study.py); "same" fits each cohort with `analysis`.
    power_analysis: Literal["vectorised", "same"] = "vectorised"
    formulas: list[str] = []

    @field_validator("formulas")
    @classmethod
    def _formula_syntax(cls, value):
        for formula in value:
            try:
                parse(formula)        # the syntax now; the column names once the dataset's columns are known
            except FormulaError as exc:
                raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _window_fits(self):
        if self.window_days > self.acclimation_days + 1:
            raise ValueError(f"window_days {self.window_days} is longer than the days before the first wave "
                             f"({self.acclimation_days + 1}); expected at most acclimation_days + 1")
        return self

    @property
    def wave_days(self) -> tuple[int, int]:
        """Days of the two measurement waves: after the acclimation days, and ``wave_gap_days`` later."""
        return self.acclimation_days, self.acclimation_days + self.wave_gap_days


class SensitivitySpec(Strict):
    """Which parameters are uncertain (and within which bounds) for ``cycles sensitivity``."""

    uncertain: list[str] | Literal["all"] = "all"
    bounds: dict[str, Bounds] = {}
    trajectories: int = Field(10, ge=2, le=10_000)       # Morris: r trajectories, r(p+1) points
    base_samples: int = Field(64, ge=2, le=LIMITS.points)    # Sobol: N, N(p+2) points (first order and total)
    outcomes: list[str] = Field(["share_escalating", "anxiety_change_1y_a"], min_length=1)

    @field_validator("uncertain")
    @classmethod
    def _declared(cls, value):
        if value != "all":
            if not value:
                raise ValueError('value [] is not allowed; expected at least one parameter name, or "all"')
            for key in value:
                _check_name(key)
            if len(set(value)) != len(value):
                raise ValueError(f"value {value!r} is not allowed; expected each parameter once")
        return value

    @field_validator("outcomes")
    @classmethod
    def _known_outcomes(cls, value):
        check_outcomes(value, None)
        return value

    @field_validator("bounds")
    @classmethod
    def _within_declared(cls, value):
        _check_bounds(value)
        return value


DIARY_VARIABLES = ("distress", "pursuit", "withdrawal", "goal_pursuit", "perceived_responsiveness",
                   "perceived_goal_support", "satisfaction", "anxiety", "avoidance")
# The range of each variable a diary item can measure: the model's own scale (ECR-R 1-7 for the traits).
VARIABLE_RANGES = {name: ((1.0, 7.0) if name in ("anxiety", "avoidance") else (0.0, 1.0)) for name in DIARY_VARIABLES}


class DiaryItem(Strict):
    """One diary item: the model variable it measures, on which scale, with how much error.

    The item's value is the variable mapped linearly from its own range (0-1,
    or 1-7 for the traits) onto ``scale``, plus normal error with SD
    ``error_sd`` in scale points, clipped to the scale and rounded to whole
    points when ``whole_points``. ``when = "intake"`` measures once, on the
    diary's first day (a questionnaire at intake); ``"daily"`` every day.
    """

    measures: Literal[DIARY_VARIABLES]
    scale: Bounds = [1.0, 7.0]
    error_sd: float = Field(0.5, ge=0.0, le=100.0)
    whole_points: bool = True
    when: Literal["daily", "intake"] = "daily"

    @field_validator("scale")
    @classmethod
    def _ordered(cls, value):
        if not value[0] < value[1]:
            raise ValueError(f"value {value!r} is not allowed; expected [low, high] with low < high")
        return value


class DiarySpec(Strict):
    """A daily-diary study of simulated couples (``cycles diary``), and the measurement model ``cycles fit`` reads.

    Couples live ``acclimation_days`` days before the diary starts, then keep
    it for ``days`` days; each partner misses a day's entry with chance
    ``missing_rate`` (the whole entry, as in diary studies).
    """

    couples: int = Field(80, ge=1, le=LIMITS.couples)
    days: int = Field(30, ge=2, le=1_000)
    acclimation_days: int = Field(60, ge=0, le=LIMITS.days)
    missing_rate: float = Field(0.1, ge=0.0, le=0.9)
    items: dict[str, DiaryItem] = Field(min_length=1)

    @field_validator("items")
    @classmethod
    def _item_names(cls, value):
        for name in value:
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name) or name in ("couple", "person", "day"):
                raise ValueError(f"item name {name!r} is not allowed; expected letters, digits and _ (not couple, "
                                 "person or day)")
        if not any(item.when == "daily" for item in value.values()):
            raise ValueError("expected at least one daily item")
        return value

    def daily_items(self) -> list[str]:
        """Names of the items measured every day, in spec order."""
        return [name for name, item in self.items.items() if item.when == "daily"]

    def intake_items(self) -> list[str]:
        """Names of the items measured once, at intake."""
        return [name for name, item in self.items.items() if item.when == "intake"]


class FitSpec(Strict):
    """What ``cycles fit`` estimates, from which data, with which budget.

    ``free`` names the ``[WHO.]NAME`` parameters estimated per couple (each
    partner's, e.g. ``a.anxiety``); every other parameter keeps its default
    or its [fixed] value. ``priors`` narrows a free parameter's uniform
    prior from its declared range to ``[low, high]``. ``simulations``
    diaries are simulated to train the amortized estimator.
    """

    data: str | None = None
    free: list[str] = Field(min_length=1, max_length=20)
    priors: dict[str, Bounds] = {}
    simulations: int = Field(40_000, ge=500, le=2_000_000)
    epochs: int = Field(30, ge=1, le=1_000)
    held_out: int = Field(500, ge=20, le=100_000)
    posterior_draws: int = Field(1000, ge=50, le=100_000)
    what_if: list[str] = ["checkin-ritual", "self-soothing"]
    what_if_days: int = Field(180, ge=7, le=LIMITS.days)
    what_if_draws: int = Field(100, ge=10, le=10_000)

    @field_validator("free")
    @classmethod
    def _free_parameters(cls, value):
        for key in value:
            parsed = ParameterKey.parse(key)
            decl = parsed.declaration(key)
            if decl.scope != "partner" or decl.kind is not float:
                raise ValueError(f"free parameter {key!r} is not allowed; expected a partner parameter with a "
                                 "numeric range, for one partner (a.NAME or b.NAME)")
            if parsed.selector not in ("a", "b"):
                raise ValueError(f"free parameter {key!r} is not allowed; expected a.{parsed.name} or "
                                 f"b.{parsed.name} (a couple's two partners are estimated separately)")
        if len(set(value)) != len(value):
            raise ValueError(f"value {value!r} is not allowed; expected each parameter once")
        return value

    @model_validator(mode="after")
    def _priors_of_free(self):
        for key, (low, high) in self.priors.items():
            if key not in self.free:
                raise ValueError(f"prior for {key!r} is not allowed; expected priors only for free parameters "
                                 f"({', '.join(self.free)})")
            decl = ParameterKey.parse(key).declaration(key)
            if not (decl.low <= low < high <= decl.high):
                raise ValueError(f"prior {key} = {[low, high]!r} is not allowed; expected low < high within "
                                 f"{decl.low:g}..{decl.high:g}")
        for text in self.what_if:
            interventions.plan(text)
        return self

    def prior_bounds(self) -> dict[str, tuple[float, float]]:
        """Each free parameter's uniform prior: the spec's bounds, else the declared range."""
        bounds = {}
        for key in self.free:
            decl = ParameterKey.parse(key).declaration(key)
            bounds[key] = tuple(self.priors.get(key, (decl.low, decl.high)))
        return bounds


class DiscoverySpec(Strict):
    """Scenario discovery over a sweep's runs: PRIM boxes of the inputs where an outcome is likely.

    ``outcome`` names the runs of interest: a classification (or a list of
    them, e.g. ``["escalating", "cycling"]``: the cycle took hold), or a
    numeric outcome column with ``threshold`` and ``direction`` (a run is of
    interest when the value is strictly above, or below, the threshold; a run
    whose value is undefined, NaN, is not). ``inputs`` are the design's inputs
    a box may restrict (default: every sampled parameter and numeric factor).

    The defaults, and why: ``peel_alpha = 0.05``, ``paste_alpha = 0.05`` and
    ``mass_min = 0.05`` are EMA Workbench's own (sim.experiment.discovery
    runs its PRIM): each step peels 5% of the runs in the box, patient enough
    that a box is not cut in a few coarse slices, and peeling stops before a
    box holds fewer than one run in twenty, where it would describe a handful
    of runs rather than a region. The box reported from each peeling
    trajectory is the one with the highest coverage whose density is at least
    ``min_density`` (0.8: four runs in five inside the box show the outcome,
    a statement to act on; the densest box when none is that dense), the rule
    R's PRIM package applies with its ``f_min``; ``step`` picks a point on the
    trajectory instead. ``boxes = 1``: a further box is found among the runs
    outside the boxes before it and covers what they left, so it is asked
    for, not given.
    """

    outcome: str | list[str] = "escalating"
    threshold: float | None = None
    direction: Literal["above", "below"] | None = None     # with a threshold; "above" when not given
    inputs: list[str] | None = None
    peel_alpha: float = Field(0.05, gt=0.0, le=0.5)
    paste_alpha: float = Field(0.05, ge=0.0, le=0.5)
    mass_min: float = Field(0.05, gt=0.0, lt=1.0)
    min_density: float | None = Field(None, gt=0.0, le=1.0)   # 0.8 unless a step is given (see the docstring)
    step: int | None = Field(None, ge=0, le=100_000)
    boxes: int = Field(1, ge=1, le=10)

    @field_validator("outcome")
    @classmethod
    def _known_outcome(cls, value):
        names = [value] if isinstance(value, str) else value
        if not names:
            raise ValueError("value [] is not allowed; expected a classification, a list of them, or an outcome "
                             "column")
        if isinstance(value, str) and value in THRESHOLD_OUTCOMES:
            return value
        unknown = [n for n in names if n not in CLASSES]
        if unknown:
            raise ValueError(f"value {unknown[0]!r} is not allowed; expected a classification "
                             f"({', '.join(CLASSES)}), a list of them, or an outcome column with a threshold "
                             f"({', '.join(THRESHOLD_OUTCOMES)})")
        if len(set(names)) != len(names):
            raise ValueError(f"value {value!r} is not allowed; expected each classification once")
        return value

    @model_validator(mode="after")
    def _threshold_with_a_column(self):
        column = isinstance(self.outcome, str) and self.outcome in THRESHOLD_OUTCOMES
        if column and self.threshold is None:
            raise ValueError(f"outcome {self.outcome!r} without a threshold is not allowed; expected a threshold "
                             '(and direction = "above" or "below") saying which runs are of interest')
        if not column and (self.threshold is not None or self.direction is not None):
            raise ValueError(f"a threshold or direction with outcome {self.outcome!r} is not allowed; expected "
                             "them only with an outcome column (a classification needs none)")
        if self.step is not None and self.min_density is not None:
            raise ValueError("min_density together with step is not allowed; expected one of them (which box of "
                             "the trajectory to report)")
        return self

    @property
    def density_floor(self) -> float | None:
        """The density the reported box must reach (None when a step is reported instead)."""
        return None if self.step is not None else (0.8 if self.min_density is None else self.min_density)

    @property
    def above(self) -> bool:
        """Whether runs of interest lie above the threshold (the default) or below it."""
        return self.direction != "below"

    @property
    def classes(self) -> list[str] | None:
        """The classifications of interest, or None when the outcome is a column with a threshold."""
        if isinstance(self.outcome, str):
            return None if self.outcome in THRESHOLD_OUTCOMES else [self.outcome]
        return list(self.outcome)

    def describe(self) -> str:
        """The outcome in words: "escalating", "escalating or cycling", "intensity_late above 0.2"."""
        if self.classes is not None:
            return " or ".join(self.classes)
        return f"{self.outcome} {'above' if self.above else 'below'} {self.threshold:g}"


class Record(Strict):
    """What a sweep keeps beyond its run table.

    Full daily series of ``sampled_couples`` couples per cell, and per-cell
    daily statistics every ``series_every`` days.
    """

    sampled_couples: int = Field(2, ge=0, le=1000)
    series_every: int = Field(1, ge=1, le=100_000)


def numeric_inputs(factors: dict[str, Any], sampling: Sampling | None) -> list[str]:
    """A design's inputs a PRIM box can restrict: numeric factors, then sampled parameters (runs.parquet columns)."""
    return [k for k in factors if k not in CATEGORICAL_FACTORS] + (list(sampling.bounds) if sampling else [])


class Spec(Strict):
    """A validated experiment spec."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)
    purpose: str = Field(min_length=1, max_length=2_000)
    days: int | None = Field(None, ge=1, le=LIMITS.days)
    replicates: int | None = Field(None, ge=1, le=LIMITS.couples)
    seed: int = Field(ge=0, lt=2**63)
    population: PopulationSpec = PopulationSpec()
    fixed: dict[str, Any] = {}
    factors: dict[str, Any] = {}
    sampling: Sampling | None = None
    record: Record = Record()
    chunk_cells: int | None = Field(None, ge=1, le=LIMITS.cells)
    study: StudySpec | None = None
    diary: DiarySpec | None = None
    fit: FitSpec | None = None
    sensitivity: SensitivitySpec | None = None
    interventions: dict[str, list[str]] = {}
    discovery: DiscoverySpec | None = None

    @field_validator("interventions")
    @classmethod
    def _intervention_plans(cls, value):
        for name, texts in value.items():
            if name in interventions.RECIPES or name == "none":
                raise ValueError(f"intervention name {name!r} is not allowed; expected a name other than none "
                                 f"and the recipes ({', '.join(interventions.RECIPES)})")
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
                raise ValueError(f"intervention name {name!r} is not allowed; expected letters, digits, - _ .")
            if not texts:
                raise ValueError(f"intervention {name}: value [] is not allowed; expected at least one change")
            for text in texts:
                try:
                    interventions.parse(text)
                except interventions.InterventionError as exc:
                    raise ValueError(f"plan {name}: {exc}") from None
        return value

    @field_validator("discovery")
    @classmethod
    def _discovery_of_a_sweep(cls, value, info: ValidationInfo):
        """[discovery] analyses a sweep's runs, and restricts only the inputs the design varies."""
        if value is None or not {"factors", "sampling", "study", "diary"} <= set(info.data):
            return value          # a field before it failed, and that is the error to report
        if info.data["study"] is not None or info.data["diary"] is not None:
            raise ValueError("[discovery] with [study] or [diary] is not allowed; expected it in a sweep's spec "
                             "(it analyses the sweep's runs)")
        allowed = numeric_inputs(info.data["factors"], info.data["sampling"])
        if not allowed:
            raise ValueError("[discovery] without inputs to restrict is not allowed; expected a sampled parameter "
                             "([sampling]) or a numeric factor")
        given = value.inputs
        if given is not None and not given:
            raise ValueError(f"inputs [] is not allowed; expected some of {', '.join(allowed)}")
        for name in given or []:
            if name not in allowed:
                raise ValueError(f"input {name!r} is not allowed; expected inputs this design varies (its sampled "
                                 f"parameters and numeric factors: {', '.join(allowed)})")
        if given is not None and len(set(given)) != len(given):
            raise ValueError(f"inputs {given!r} is not allowed; expected each input once")
        return value

    @field_validator("fixed")
    @classmethod
    def _fixed_parameters(cls, value):
        for key, item in value.items():
            _check_parameter(key, item)
        P.check_population_shares({**P.defaults("population"),
                                   **{k: v for k, v in value.items() if k in P.names("population")}})
        return value

    @field_validator("factors", mode="before")
    @classmethod
    def _factor_levels(cls, value):
        """Each factor is a list of levels or a {start, stop, num} range, said plainly when it is neither."""
        if not isinstance(value, dict):
            return value
        shaped = {}
        for key, levels in value.items():
            if isinstance(levels, dict):
                try:
                    levels = Range.model_validate(levels)
                except ValidationError as exc:
                    first = exc.errors()[0]
                    where = ".".join(str(part) for part in first["loc"]) or "(range)"
                    raise ValueError(f"factor {key}: range key {where}: {_describe(first)}") from None
            elif not isinstance(levels, list):
                raise ValueError(f"factor {key}: value {levels!r} is not allowed; expected a list of levels "
                                 "or a range {start = ..., stop = ..., num = ...}")
            elif len(levels) > LIMITS.levels:
                raise ValueError(f"factor {key}: {len(levels):,} levels are not allowed; expected at most "
                                 f"{LIMITS.levels:,}")
            shaped[key] = levels
        return shaped

    @field_validator("factors")
    @classmethod
    def _factor_values(cls, value):
        for key, levels in value.items():
            if key == "intervention":
                if not isinstance(levels, list) or not levels or not all(isinstance(x, str) for x in levels):
                    raise ValueError("factor intervention expects a list of names or change texts")
                continue
            if key == "pairing":
                if not isinstance(levels, list) or not levels:
                    raise ValueError("factor pairing expects a list of pairings")
                for item in levels:
                    try:
                        PopulationSpec._known_pairing(item)
                    except ValueError as exc:
                        raise ValueError(f"factor pairing: {exc}") from None
                continue
            _check_name(key)
            items = levels.values() if isinstance(levels, Range) else levels
            if not items:
                raise ValueError(f"factor {key}: value [] is not allowed; expected at least one level")
            for item in items:
                _check_parameter(key, item)
        return value

    @model_validator(mode="after")
    def _consistent(self):
        if self.study is None and self.diary is None:
            for key in ("days", "replicates"):
                if getattr(self, key) is None:
                    raise ValueError(f"{key} is required (a spec without a [study] or [diary] section is a sweep)")
        if "pairing" in self.factors and self.population.given:
            raise ValueError("with a pairing factor, leave out [population] (the factor gives the pairings)")
        if "pairing" not in self.factors and not self.population.given:
            raise ValueError("[population] needs one of pairing, pairings or drawn = true (or make pairing a factor)")
        for level in self.factors.get("intervention", []):
            interventions.plan(level, self.interventions)     # "none", a recipe, a plan named above or changes
        if self.sampling:
            overlap = set(self.sampling.bounds) & set(self.factors)
            if overlap:
                raise ValueError(f"{sorted(overlap)[0]} is both a factor and sampled; choose one")
        if self.fit is not None and self.diary is None:
            raise ValueError("[fit] needs a [diary] section: the measurement model that says what the data's "
                             "columns measure")
        cells = self.n_cells()
        if cells > LIMITS.cells:
            raise ValueError(f"the design has {cells:,} cells (the product of the factors' levels and the sampled "
                             f"points); expected at most {LIMITS.cells:,}")
        return self

    def discovery_inputs(self) -> list[str]:
        """The inputs [discovery] lets a PRIM box restrict: those it names, else every numeric input of the design."""
        given = self.discovery.inputs if self.discovery else None
        return list(given) if given else numeric_inputs(self.factors, self.sampling)

    def n_cells(self) -> int:
        """Design cells, counted from the sizes alone (before any cell is built)."""
        count = len(self.population.pairings or [None])
        for levels in self.factors.values():
            count *= levels.num if isinstance(levels, Range) else len(levels)
        return count * (self.sampling.points if self.sampling else 1)


@dataclass
class Design:
    """A spec resolved into design cells."""

    spec: Spec
    factor_names: list[str]                 # columns describing a cell (pairing first if it varies)
    cells: list[dict[str, Any]]             # one dict per cell: factor name -> value
    chunk_cells: int
    source: str = ""                        # the spec file as given
    path: str = ""
    extra: dict = field(default_factory=dict)
    seed_cells: list[int] | None = None     # cell whose seeds each cell's couples use (None: its own)

    def seed_cell(self, cell: int) -> int:
        """The cell whose (cell, replicate) spawn keys this cell's couples use.

        Cells that differ only in the intervention (and its start day) share
        seeds, so every intervention is compared with no intervention on the
        same couples with the same random numbers (common random numbers).
        """
        return cell if self.seed_cells is None else self.seed_cells[cell]

    @property
    def n_cells(self) -> int:
        """Number of resolved design cells."""
        return len(self.cells)

    @property
    def n_runs(self) -> int:
        """Number of couple runs in the design: every cell times the spec's replicates."""
        return self.n_cells * (self.spec.replicates or 0)

    def chunks(self) -> list[range]:
        """Cell ranges, one per unit of work; fixed by the spec, never by the number of workers."""
        return [range(start, min(start + self.chunk_cells, self.n_cells))
                for start in range(0, self.n_cells, self.chunk_cells)]

    def resolved(self) -> dict[str, Any]:
        """Everything that determines the results, as plain data (for the manifest and the spec hash)."""
        # A spec without [discovery] resolves as it did before the section existed (its fingerprint unchanged).
        spec = self.spec.model_dump(mode="json", exclude={"discovery"} if self.spec.discovery is None else None)
        return {"spec": spec, "factor_names": self.factor_names,
                "cells": self.n_cells, "runs": self.n_runs, "chunk_cells": self.chunk_cells}

    def fingerprint(self) -> str:
        """Hash of the resolved design: a changed spec gets a different one."""
        text = json.dumps({"resolved": self.resolved(), "cells": self.cells}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _sample_points(sampling: Sampling, seed: int) -> list[dict[str, float]]:
    from scipy.stats import qmc
    names = list(sampling.bounds)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2**31 - 1,)))
    if sampling.method == "lhs":
        unit = qmc.LatinHypercube(d=len(names), rng=rng).random(sampling.points)
    else:
        unit = qmc.Sobol(d=len(names), scramble=True, rng=rng).random(sampling.points)
    low = np.array([sampling.bounds[n][0] for n in names])
    high = np.array([sampling.bounds[n][1] for n in names])
    points = qmc.scale(unit, low, high)
    return [{name: float(value) for name, value in zip(names, row, strict=True)} for row in points]


def resolve(spec: Spec, source: str = "", path: str = "") -> Design:
    """The design cells of a spec: full factorial of the factors, crossed with sampled points."""
    factors: dict[str, list[Any]] = {}
    if spec.population.pairings:
        factors["pairing"] = list(spec.population.pairings)
    for key, levels in spec.factors.items():
        factors[key] = levels.values() if isinstance(levels, Range) else list(levels)
    grid = ([dict(zip(factors, combo, strict=True)) for combo in itertools.product(*factors.values())]
            if factors else [{}])
    points = _sample_points(spec.sampling, spec.seed) if spec.sampling else [{}]
    cells = [{**g, **s} for g in grid for s in points]
    names = list(factors) + (list(spec.sampling.bounds) if spec.sampling else [])
    chunk = spec.chunk_cells or max(1, min(64, TARGET_COUPLES_PER_CHUNK // (spec.replicates or 1)))
    seed_cells = None
    if "intervention" in factors:
        paired = {"intervention", "intervention_day"}
        first: dict[str, int] = {}
        seed_cells = [first.setdefault(json.dumps({k: v for k, v in cell.items() if k not in paired},
                                                  sort_keys=True, default=str), i) for i, cell in enumerate(cells)]
    return Design(spec, names, cells, chunk, source, path, seed_cells=seed_cells)


def _describe(error: dict) -> str:
    kind, message = error["type"], error["msg"]
    value = error.get("input")
    if kind == "extra_forbidden":
        return f"unknown key (value {value!r}); expected only the keys the spec format defines"
    if kind == "missing":
        return "missing; this key is required"
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    if "is not allowed" in message or "unknown parameter" in message:
        return message
    shown = value if not isinstance(value, dict) else "{...}"
    return f"value {shown!r} is not allowed; {message[0].lower() + message[1:]}"


def load(path: str | Path) -> Design:
    """Read, validate and resolve a spec file; raises SpecError with a one-line message."""
    path = Path(path)
    try:
        if path.is_dir():
            raise SpecError(f"{path}: is a folder; expected a spec file (TOML)")
        if path.exists() and path.stat().st_size > MAX_SPEC_BYTES:
            raise SpecError(f"{path}: {path.stat().st_size:,} bytes; expected a spec of at most "
                            f"{MAX_SPEC_BYTES:,} bytes")
        raw = path.read_bytes()
    except OSError as exc:
        raise SpecError(f"{path}: cannot read the spec ({exc.strerror or exc})") from None
    try:
        source = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: byte {exc.start + 1} is not UTF-8 text; expected a TOML file in UTF-8") from None
    if "\x00" in source or source.startswith("\ufeff"):
        raise SpecError(f"{path}: not plain text (NUL bytes or a byte-order mark); expected a TOML file in UTF-8")
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML ({str(exc).splitlines()[0]})") from None
    except RecursionError:
        raise SpecError(f"{path}: nested too deeply to read; expected a spec as in experiments/") from None
    return _validated(data, str(path), source, str(path))


def from_data(data: Mapping[str, Any], where: str = "spec") -> Design:
    """Validate and resolve a spec given as data (what a TOML file reads as), exactly as :func:`load` does a file.

    Tuples are taken as lists and numpy scalars as Python numbers, as a spec
    written in Python often holds them; everything else must have the type a
    TOML file would give it. Errors and the manifest name ``where`` in place of the file.
    """
    if not isinstance(data, Mapping):
        raise SpecError(f"{where}: value of type {type(data).__name__} is not allowed; expected a mapping of the "
                        "spec's keys (as in experiments/*.toml)")
    plain = _plain(data)
    # The spec as given, for the manifest: JSON, since a spec from Python has no file text.
    return _validated(plain, where, json.dumps(plain, default=repr), where)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value.item() if isinstance(value, np.generic) else value


def _validated(data: Any, where: str, source: str, path: str) -> Design:
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise SpecError(f"{where}: key {key}: {_describe(first)}") from None
    except (P.ParameterError, interventions.InterventionError) as exc:
        raise SpecError(f"{where}: {exc}") from None
    except RecursionError:
        raise SpecError(f"{where}: nested too deeply to read; expected a spec as in experiments/") from None
    return resolve(spec, source, path)
