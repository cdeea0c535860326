"""The Python API: the handful of calls a researcher needs, each returning pandas DataFrames.

Every ``cycles`` command is a thin layer over one of these calls (sim.cli
parses the arguments, calls, and prints), so whatever the README does on the
command line can be done from a notebook, with the same checks, the same
numbers and the same files. Bad input raises before anything is written or
run: :class:`InputError` or one of the declared errors (``ParameterError``,
``SpecError``, ``InterventionError``, ``BudgetError``), all ``ValueError``,
each with a one-line message naming the field, the value and what is allowed.

Example:
    >>> import sim
    >>> run = sim.simulate("anxious-avoidant", n_couples=3, days=120, seed=7)
    >>> run.outcomes["classification"].tolist()      # doctest: +SKIP
    ['escalating', 'cycling', 'escalating']
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from sim import interventions as _interventions
from sim import params as P
from sim.budget import LIMITS
from sim.population import Override, Population, _check_pairing, make_population
from sim.selectors import ROLES, ParameterKey, style_of
from sim.storage import OutputBusy, check_writable, claim, write_json, write_parquet

if TYPE_CHECKING:
    from sim.experiment.spec import Design

Engine = Literal["batch", "mesa"]
Couples = str | int | pd.DataFrame
Overrides = Mapping[str, Any] | Sequence[str] | str | None
Interventions = str | Sequence[str] | None
SpecSource = str | Path | Mapping[str, Any]
Log = Callable[[str], None] | None
ENGINES = ("batch", "mesa")
_FRAME_LABELS = ("couple_id", "pairing")


class InputError(ValueError):
    """Bad input to an API call (or a command): one line naming the field, the value and what is allowed.

    Messages name arguments as the command line spells them (``--out``,
    ``--force``, ``--workers``); the keyword arguments have the same names.
    """


# --- checks shared by the calls ----------------------------------------------------------------------------------

def _whole(name: str, value: Any, low: int, high: int | None = None) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < low \
            or (high is not None and value > high):
        allowed = (f"a whole number from {low:,} to {high:,}" if high is not None
                   else f"a whole number of at least {low}")
        raise InputError(f"{name}: value {value!r} is not allowed; expected {allowed}")
    return int(value)


def _workers(workers: int | None) -> int | None:
    return None if workers is None else _whole("--workers", workers, 1)


def _overrides(given: Overrides) -> list[Override]:
    """Overrides as a mapping ``{"[WHO.]NAME": value}`` or ``"[WHO.]NAME=VALUE"`` texts, checked, shares too."""
    if given is None:
        items: list[Override] = []
    elif isinstance(given, Mapping):
        items = [Override.at(str(key), value) for key, value in given.items()]
    else:
        items = [Override.parse(text) for text in ([given] if isinstance(given, str) else given)]
    checked = [o.checked() for o in items]
    P.check_population_shares({**P.defaults("population"),
                               **{o.name: o.value for o in checked if P.PARAMETERS[o.name].scope == "population"}})
    return checked


def _intervention_texts(given: Interventions) -> list[str]:
    texts = [] if given is None else [given] if isinstance(given, str) else list(given)
    for text in texts:
        if not isinstance(text, str):
            raise InputError(f"interventions: value {text!r} is not allowed; expected a recipe name or a change "
                             "text such as 'b.responsiveness=0.9 from=100'")
    return texts


def _output_file(path: str | Path, suffixes: tuple[str, ...]) -> Path:
    """An output file: its name must end in one of ``suffixes`` and its folder must be writable."""
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise InputError(f"--out: path {str(path)[:200]!r} is not allowed; expected a file name ending in "
                         f"{suffixes[0]}")
    try:
        check_writable(path)
    except OSError as exc:
        raise InputError(f"--out: path {str(path)[:200]!r} is not writable ({exc}); expected a file in a writable "
                         "folder") from None
    return path


def _check_budget(estimate, out: Path | None, max_hours: float | None, log: Log) -> None:
    """Refuse a job that cannot fit (sim.budget); then say its estimate."""
    from sim.budget import check
    check(estimate, out, LIMITS.max_hours if max_hours is None else max_hours)
    if log is not None:
        log(f"cycles: {estimate.line()}")


def _claimed(folder: Path, files: tuple[str, ...] | None = None) -> ExitStack:
    """The output, held until the returned context ends; refused in one line if another command holds it."""
    held = ExitStack()
    try:
        held.enter_context(claim(folder, files))
    except OutputBusy as exc:
        raise InputError(f"--out: {exc}; wait for it to finish or choose another --out") from None
    return held


def _design(spec: SpecSource) -> Design:
    """A spec file or a spec given as a dict, through the same validation."""
    from sim.experiment.spec import from_data, load
    if isinstance(spec, Mapping):
        return from_data(spec)
    if not isinstance(spec, (str, Path)):
        raise InputError(f"spec: value of type {type(spec).__name__} is not allowed; expected a spec file's path "
                         "or a dict of its keys")
    return load(spec)


def _spec_and_folder(spec: SpecSource, out: str | Path | None, default_suffix: str = "") -> tuple[Design, Path]:
    """The validated spec and its output folder (``out`` or results/NAME), checked writable."""
    design = _design(spec)
    folder = Path(out) if out is not None else Path("results") / f"{design.spec.name}{default_suffix}"
    try:
        if folder.exists() and not folder.is_dir():
            raise NotADirectoryError(f"{folder} is a file")
        check_writable(folder / "chunks" / "chunk-000000.series.arrow")
    except OSError as exc:
        raise InputError(f"--out: path {str(folder)[:200]!r} is not writable ({exc}); expected a writable folder") \
            from None
    return design, folder


def _executor_checks(workers: int | None, dask: str | None) -> int:
    """The Dask address answers (checked before any folder is made); returns the workers the estimate uses."""
    from sim.experiment.execution import available_cores, check_dask
    check_dask(dask)
    return workers or available_cores()


def _replaceable(folder: Path, command: str, design: Design, force: bool) -> None:
    from sim.experiment.runner import SweepError, check_replaceable
    try:
        check_replaceable(folder, command, design.fingerprint(), force)
    except SweepError as exc:
        raise InputError(str(exc)) from None


def _read_json(path: Path) -> dict[str, Any]:
    from sim.experiment.runner import read_json_object
    return read_json_object(path) or {}


class _InFolder:
    """A result written into a folder with a manifest."""

    folder: Path

    @cached_property
    def manifest(self) -> dict[str, Any]:
        """The folder's manifest.json: the spec as given and as resolved, seeds, versions, git commit, times."""
        return _read_json(self.folder / "manifest.json")


# --- simulate -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False, repr=False)
class Simulation:
    """What :func:`simulate` returns: couples run day by day.

    Attributes:
        daily: the tidy daily table, one row per partner per day: couple_id,
            agent_id, role, style, pairing, day, together, every state variable
            (pursuit, withdrawal, distress, anxiety, ...), the couple's
            cycle_intensity, and the responsiveness and goal support the
            partner gave that day (see ``sim.tables.DAILY_COLUMNS``).
        outcomes: one row per couple: couple_id, pairing, every outcome metric
            and the classification (escalating, cycling, settling,
            secure-stable, dissolved).
        parameters: one row per couple: couple_id, pairing, ``a.NAME`` and
            ``b.NAME`` for every partner parameter, ``NAME`` for every couple
            parameter. Given back to :func:`simulate` with the same seed, it
            runs the same couples again (a subset of rows runs those couples).
        days: days simulated.
        seed: the root seed.
        engine: "batch" or "mesa".
        seconds: time the engine took.
        population: the couples as the engines take them (sim.population.Population).
    """

    daily: pd.DataFrame
    outcomes: pd.DataFrame
    parameters: pd.DataFrame
    days: int
    seed: int
    engine: str
    seconds: float
    population: Population = field(repr=False)

    def classifications(self) -> pd.Series:
        """How many couples ended in each classification, most common first."""
        return self.outcomes["classification"].value_counts()

    def __repr__(self) -> str:
        counts = ", ".join(f"{k} {v}" for k, v in self.classifications().items())
        return (f"Simulation({len(self.outcomes)} couple(s), {self.days} days, seed {self.seed}, {self.engine} "
                f"engine: {counts})")


def simulate(couples: Couples = "anxious-avoidant", *, n_couples: int | None = None, days: int = 365,
             seed: int = 0, overrides: Overrides = None, interventions: Interventions = None,
             engine: Engine = "batch", out: str | Path | None = None, max_hours: float | None = None,
             log: Log = None) -> Simulation:
    """Simulate couples day by day (``cycles run``).

    Args:
        couples: who to simulate: a pairing such as ``"anxious-avoidant"``
            (partner a first; any STYLE-STYLE of secure, anxious, avoidant,
            fearful); a number of couples drawn from the population (styles
            with their prevalence and assortative pairing); or a DataFrame with
            one row per couple whose columns are declared partner or couple
            parameters, ``NAME`` (both partners), ``a.NAME`` or ``b.NAME``,
            optionally with ``pairing`` (each couple starts as a couple of that
            pairing; otherwise from the declared defaults, its styles read from
            its anxiety and avoidance) and ``couple_id`` (which names each
            couple's random stream; default 0, 1, ...). ``Simulation.parameters``
            is such a frame.
        n_couples: how many couples of a pairing (default 1); only with a pairing.
        days: days to simulate.
        seed: root seed; each couple's random stream derives from it and its couple_id.
        overrides: declared parameters to set, as ``{"[WHO.]NAME": value}`` or
            ``["[WHO.]NAME=VALUE", ...]``; WHO is a role (a, b) or a style
            (e.g. ``{"avoidant.responsiveness": 0.8}``). With a DataFrame they
            apply on top of its columns.
        interventions: a recipe (``"checkin-ritual from=120"``) or change
            texts (``["b.responsiveness=0.9 from=100 every=7"]``); see :func:`recipes`.
        engine: "batch" (compiled, fast) or "mesa" (the Mesa model); the same numbers.
        out: if given, write the daily table there (Parquet, a name ending in
            .parquet) with NAME.outcomes.parquet and NAME.manifest.json beside it.
        max_hours: refuse a job estimated to take longer (default 1).
        log: called with the job's one-line estimate before it runs (e.g. ``print``).

    Returns:
        The daily table, the outcomes and the parameters of every couple.

    Raises:
        InputError: a bad couples, days, seed, engine or out.
        ParameterError: an unknown parameter or a value out of its declared range.
        InterventionError: an intervention that does not parse.
        BudgetError: a job too big for this machine or ``max_hours``.

    Example:
        >>> run = sim.simulate("anxious-avoidant", n_couples=2, days=200, seed=1,
        ...                    overrides={"shock_day": 30}, interventions="checkin-ritual from=60")
        >>> run.daily.groupby("role")["pursuit"].mean()          # doctest: +SKIP
    """
    from sim.budget import run_estimate
    paths = None
    if out is not None:
        target = _output_file(out, (".parquet",))
        paths = (target, target.with_name(target.stem + ".outcomes.parquet"),
                 target.with_name(target.stem + ".manifest.json"))
        for path in paths[1:]:
            _output_file(path, (".parquet", ".json"))
    frame = couples if isinstance(couples, pd.DataFrame) else None
    if frame is not None:
        n = len(frame)
    elif isinstance(couples, str):
        _check_pairing(couples)
        n = 1 if n_couples is None else _whole("couples", n_couples, 1, LIMITS.couples)
    elif isinstance(couples, (int, np.integer)) and not isinstance(couples, (bool, np.bool_)):
        n = _whole("couples", couples, 1, LIMITS.couples)
    else:
        raise InputError(f"couples: value {couples!r} is not allowed; expected a pairing such as anxious-avoidant, "
                         "a number of couples to draw, or a DataFrame of per-couple parameters")
    if n_couples is not None and not isinstance(couples, str):
        raise InputError(f"n_couples: value {n_couples!r} is not allowed here; expected it only with a pairing "
                         "(a number of couples or a DataFrame already says how many)")
    days = _whole("days", days, 1, LIMITS.days)
    seed = _whole("seed", seed, 0, 2**63 - 1)
    if engine not in ENGINES:
        raise InputError(f"engine: value {engine!r} is not allowed; expected batch or mesa")
    checked = _overrides(overrides)
    texts = _intervention_texts(interventions)
    changes = [change.text() for change in _interventions.plan(texts).changes]
    if frame is not None:
        population, ids = _frame_population(frame, seed, checked, texts or None)
    _check_budget(run_estimate(n, days, engine), paths[0].parent if paths else None, max_hours, log)
    held = _claimed(paths[0].parent, tuple(p.name for p in paths)) if paths else nullcontext()
    with held:
        if frame is None:
            ids = np.arange(n)
            population = make_population(couples if isinstance(couples, str) else None, n, seed,
                                         drawn=not isinstance(couples, str), overrides=checked,
                                         intervention=texts or None)
        started = time.perf_counter()
        if engine == "mesa":
            from sim.model import CoupleModel
            model = CoupleModel(population=population, days=days, seed=seed).run()
            daily, outcomes = model.daily_table(), model.outcomes()
        else:
            from sim.engine import simulate as run_engine
            result = run_engine(population, days, series_couples=range(population.n))
            daily, outcomes = result.series, result.outcomes
        seconds = time.perf_counter() - started
        if not np.array_equal(ids, np.arange(n)):
            from sim.tables import agent_id
            daily["couple_id"] = ids[daily["couple_id"].to_numpy()]
            daily["agent_id"] = agent_id(daily["couple_id"].to_numpy(), (daily["role"] == ROLES[1]).to_numpy())
        outcomes.insert(0, "couple_id", ids)
        outcomes.insert(1, "pairing", population.pairing)
        if paths:
            from sim.manifest import build, now
            write_parquet(daily, paths[0])
            write_parquet(outcomes, paths[1])
            what = "DataFrame" if frame is not None else couples if isinstance(couples, str) else "drawn population"
            arguments = {"couples": what, "n_couples": n, "days": days, "seed": seed, "engine": engine,
                         "out": str(paths[0]), "max_hours": max_hours}
            write_json(build(command="run", arguments=arguments, overrides=[o.__dict__ for o in checked],
                             interventions=changes, couples=n, days=days, seed=seed, finished=now(),
                             seconds=round(seconds, 3), outputs=[str(paths[0]), str(paths[1])]), paths[2])
    return Simulation(daily, outcomes, _parameter_table(population, ids), days, seed, engine, seconds, population)


def _frame_population(frame: pd.DataFrame, seed: int, overrides: list[Override],
                      intervention: list[str] | None) -> tuple[Population, np.ndarray]:
    """The couples of a DataFrame of per-couple parameters, and their couple ids."""
    n = len(frame)
    if not 1 <= n <= LIMITS.couples:
        raise InputError(f"couples: a DataFrame of {n:,} rows is not allowed; expected 1 to {LIMITS.couples:,} rows, "
                         "one per couple")
    ids = np.arange(n)
    if "couple_id" in frame.columns:
        given = frame["couple_id"].to_numpy()
        if not pd.api.types.is_integer_dtype(given) or (given < 0).any() or len(np.unique(given)) != n:
            raise InputError(f"couple_id: values {given[:5].tolist()!r} are not allowed; expected distinct whole "
                             "numbers of at least 0, one per couple")
        ids = given.astype(np.int64)
    values: dict[str, np.ndarray] = {}
    for column in frame.columns:
        if column in _FRAME_LABELS:
            continue
        key = ParameterKey.parse(str(column))
        decl = key.declaration("a column")
        if key.selector not in (None, *ROLES):
            raise P.ParameterError(str(key), "a column", "a column NAME, a.NAME or b.NAME (style selectors go in "
                                   "overrides)")
        if decl.scope not in ("partner", "couple"):
            raise P.ParameterError(str(key), "a column", f"a partner or couple parameter per couple; {decl.scope} "
                                   "parameters are run-wide and go in overrides")
        data = frame[column]
        if not (pd.api.types.is_numeric_dtype(data) or pd.api.types.is_bool_dtype(data)):
            raise P.ParameterError(str(key), data.iloc[0], decl.allowed())
        values[str(key)] = data.to_numpy()
    drawing = [o for o in overrides if P.PARAMETERS[o.name].scope == "population"]
    if "pairing" in frame.columns:
        pairings = frame["pairing"].astype(str).to_numpy()
        for name in dict.fromkeys(pairings):
            _check_pairing(name)
        parts, order = [], []
        for name in dict.fromkeys(pairings):
            rows = np.flatnonzero(pairings == name)
            parts.append(make_population(name, len(rows), seed, overrides=drawing,
                                         spawn_keys=[(int(i),) for i in ids[rows]],
                                         values={k: v[rows] for k, v in values.items()}))
            order.append(rows)
        population = Population.concat(parts).subset(np.argsort(np.concatenate(order), kind="stable"))
    else:
        base = make_population(None, n, seed, overrides=drawing, spawn_keys=[(int(i),) for i in ids], values=values)
        styles = style_of(base.partner["anxiety"], base.partner["avoidance"]).astype(object)
        population = Population(np.array([f"{a}-{b}" for a, b in styles], dtype=object), styles, base.partner,
                                base.couple, base.classification, base.keys, base.spawn_keys)
    for o in overrides:
        if o not in drawing:
            population = population.with_values({str(o.key): o.value})
    if intervention:
        population = population.with_intervention(intervention)
    return population, ids


def _parameter_table(pop: Population, ids: np.ndarray) -> pd.DataFrame:
    columns: dict[str, Any] = {"couple_id": ids, "pairing": pop.pairing}
    for name in P.names("partner"):
        for r, role in enumerate(ROLES):
            columns[f"{role}.{name}"] = pop.partner[name][:, r]
    columns.update({name: pop.couple[name] for name in P.names("couple")})
    return pd.DataFrame(columns)


# --- sweeps -------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class SweepResults:
    """A sweep's results folder; the tables are read when first asked for.

    Attributes:
        folder: the results folder (runs.parquet, cells.parquet, series.parquet, manifest.json).
        manifest: the manifest: the spec as given and as resolved, seeds, versions, git commit, times.
        seconds: time the sweep took in this call (0 if nothing was run).
        executor: where it ran (e.g. "2 worker processes"), "none" if nothing was run.
        resumed_chunks: chunks an interrupted earlier run had finished.
        already_complete: the folder already held this spec's complete results; nothing was run.
    """

    folder: Path
    manifest: dict[str, Any]
    seconds: float = 0.0
    executor: str = "none"
    resumed_chunks: int = 0
    already_complete: bool = False

    @cached_property
    def runs(self) -> pd.DataFrame:
        """One row per couple-run: cell, replicate, factor levels, seed key, every outcome, classification."""
        return pd.read_parquet(self.folder / "runs.parquet")

    @cached_property
    def cells(self) -> pd.DataFrame:
        """One row per design cell: share of each classification; mean, SD and 95% CI of every outcome."""
        return pd.read_parquet(self.folder / "cells.parquet")

    @cached_property
    def series(self) -> pd.DataFrame:
        """Per cell, day and role: mean and quartiles of pursuit, withdrawal, distress, anxiety; sampled couples."""
        return pd.read_parquet(self.folder / "series.parquet")

    @property
    def factor_names(self) -> list[str]:
        """The columns that describe a design cell (pairing first if it varies)."""
        return list(self.manifest.get("factor_names", []))


def sweep(spec: SpecSource, out: str | Path | None = None, *, workers: int | None = None, dask: str | None = None,
          force: bool = False, max_hours: float | None = None, log: Log = None) -> SweepResults:
    """Run an experiment spec over many couples (``cycles sweep``), resumably.

    Args:
        spec: a spec file (``experiments/*.toml``) or the same keys as a dict
            (validated exactly as the file would be).
        out: the results folder (default results/NAME).
        workers: worker processes (default: all cores; 1 runs in this process).
            Results are identical whatever the number.
        dask: run on a Dask cluster: ``"tcp://HOST:PORT"`` or ``"local"``.
        force: start over, replacing the results of another spec in ``out``.
        max_hours: refuse a job estimated to take longer (default 1).
        log: called with one-line status (the estimate, the design) before the work starts.

    Returns:
        The results folder with its runs, cells and series tables and its manifest.
        An interrupted sweep finishes when called again; a folder that
        already holds the complete results is returned without running.

    Raises:
        SpecError: a spec that cannot be run, naming the key, the value and what is allowed.
        InputError: an unusable ``out``, ``workers`` or a folder holding other results.
        BudgetError: a job too big for this machine or ``max_hours``.

    Example:
        >>> spec = {"name": "tiny", "purpose": "Responsiveness against the cycle.", "days": 120,
        ...         "replicates": 10, "seed": 1, "population": {"pairing": "anxious-avoidant"},
        ...         "factors": {"responsiveness": [0.2, 0.8]}}
        >>> results = sim.sweep(spec, "results/tiny", workers=1)
        >>> results.cells[["responsiveness", "share_escalating"]]     # doctest: +SKIP
    """
    from sim.budget import sweep_estimate
    from sim.experiment.runner import SweepError, check_output_folder
    from sim.experiment.runner import sweep as run_sweep
    workers = _workers(workers)
    design, folder = _spec_and_folder(spec, out)
    s = design.spec
    if s.days is None or s.replicates is None:
        raise InputError(f"{design.path}: a study spec (no days and replicates); run it with `cycles study`")
    counted = _executor_checks(workers, dask)
    estimate = sweep_estimate(design.n_cells, s.replicates, s.days, design.chunk_cells, s.record.series_every,
                              s.record.sampled_couples, 1 if dask and dask != "local" else counted,
                              s.discovery.boxes if s.discovery is not None else 0)
    from sim.budget import check
    check(estimate, folder, LIMITS.max_hours if max_hours is None else max_hours)
    try:
        check_output_folder(design, folder, force)
        if log is not None:
            log(f"cycles: {estimate.line()}")
            log(f"{s.name}: {design.n_cells:,} cells x {s.replicates} couples = {design.n_runs:,} runs of {s.days} "
                f"days -> {folder}")
        with _claimed(folder):
            done = run_sweep(design, folder, workers=workers, dask=dask, force=force)
    except SweepError as exc:
        raise InputError(str(exc)) from None
    return SweepResults(folder, _read_json(folder / "manifest.json"), done.seconds, done.executor,
                        done.resumed_chunks, done.already_complete)


def load_sweep(folder: str | Path) -> SweepResults:
    """Open the results folder of an earlier sweep.

    Args:
        folder: a folder written by :func:`sweep` or ``cycles sweep``.

    Returns:
        Its results; the tables are read when first asked for.

    Raises:
        InputError: the folder holds no complete sweep.

    Example:
        >>> results = sim.load_sweep("results/support_balance")     # doctest: +SKIP
    """
    folder = Path(folder)
    manifest = _read_json(folder / "manifest.json")
    if manifest.get("command") != "sweep" or not manifest.get("complete") or not (folder / "runs.parquet").is_file():
        raise InputError(f"{folder}: holds no complete sweep (manifest.json and runs.parquet of `cycles sweep`); "
                         "expected a results folder written by sim.sweep or cycles sweep")
    return SweepResults(folder, manifest)


# --- virtual studies, diaries, fits ------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class StudyResults(_InFolder):
    """What :func:`virtual_study` returns.

    Attributes:
        folder: the results folder (dataset, analysis, power, report, manifest).
        analysis: analysis.json: the cohort and each model's coefficients, SEs,
            95% CIs, p-values and simple slopes (and the power analysis, if run).
        fits: each fitted model as the analysis holds it (``fits[0]`` is the
            study's main formula; ``fits[0]["terms"]`` maps term to estimate, se, p, ...).
        power: per cohort size, formula and term: power and the estimates'
            mean and SD over the cohorts (None without ``samples`` > 1 or several sizes).
        report: the HTML report.
        seconds: time taken.
    """

    folder: Path
    analysis: dict[str, Any]
    fits: list[dict[str, Any]]
    power: pd.DataFrame | None
    report: Path
    seconds: float

    @cached_property
    def dataset(self) -> pd.DataFrame:
        """One row per person: the support the partner really gives beside what the person reports."""
        return pd.read_parquet(self.folder / "dataset.parquet")


def virtual_study(spec: SpecSource, out: str | Path | None = None, *, samples: int = 1,
                  sizes: Sequence[int] | None = None, formulas: Sequence[str] = (), workers: int | None = None,
                  dask: str | None = None, force: bool = False, max_hours: float | None = None,
                  log: Log = None) -> StudyResults:
    """Run a virtual study: a cohort measured and analysed like a real one (``cycles study``).

    Args:
        spec: a spec with a ``[study]`` section (file or dict), e.g.
            experiments/support_balance_study.toml.
        out: the results folder (default results/NAME).
        samples: independent virtual cohorts for power by simulation (1: no power analysis).
        sizes: cohort sizes for a power curve, e.g. ``[100, 200, 326, 500]`` (default: the spec's).
        formulas: more models to fit and report, e.g.
            ``["anxiety_t2 ~ anxiety_t1_c + perceived_responsiveness_t1_c"]``.
        workers: worker processes for the power cohorts (default: all cores).
        dask: run the cohorts on a Dask cluster, or "local".
        force: replace the results of another spec or command in ``out``.
        max_hours: refuse a job estimated to take longer (default 1).
        log: called with the job's one-line estimate before it runs.

    Returns:
        The analysis, the power table and the folder with the dataset and report.

    Raises:
        SpecError: a spec that cannot be run.
        InputError: no [study] section, a formula outside the grammar, an unusable ``out``.
        BudgetError: a job too big for this machine or ``max_hours``.

    Example:
        >>> study = sim.virtual_study("experiments/support_balance_study.toml", samples=100,
        ...                           sizes=[100, 326])                   # doctest: +SKIP
        >>> study.power                                                   # doctest: +SKIP
    """
    from sim.budget import study_estimate
    from sim.experiment.runner import SweepError
    from sim.study.run import StudyError, check_formulas, run
    workers = _workers(workers)
    samples = _whole("--samples", samples, 1, LIMITS.samples)
    if sizes is not None:
        sizes = sorted({_whole("--n", n, 2, LIMITS.couples) for n in sizes})
        if not sizes or len(sizes) > 100:
            raise InputError(f"--n: value {sizes!r} is not allowed; expected 1 to 100 cohort sizes")
    formulas = [formulas] if isinstance(formulas, str) else list(formulas)
    design, folder = _spec_and_folder(spec, out)
    study = design.spec.study
    if study is None:
        raise InputError(f"{design.path}: no [study] section; `cycles study` needs one "
                         "(see experiments/support_balance_study.toml)")
    if design.factor_names:
        raise InputError(f"{design.path}: a study runs one population; remove [factors], [sampling] and "
                         "population.pairings (or sweep them with `cycles sweep`)")
    try:
        check_formulas(design, list(dict.fromkeys([*study.formulas, *formulas])), field="--formula")
    except StudyError as exc:
        raise InputError(str(exc)) from None
    counted = _executor_checks(workers, dask)
    from sim.budget import check
    estimate = study_estimate(study.couples, study.wave_days[1], samples, sizes or [study.couples], counted,
                              study.power_analysis)
    check(estimate, folder, LIMITS.max_hours if max_hours is None else max_hours)
    _replaceable(folder, "study", design, force)
    if log is not None:
        log(f"cycles: {estimate.line()}")
    with _claimed(folder):
        try:
            done = run(design, folder, samples=samples, sizes=sizes, formulas=formulas, workers=workers, dask=dask)
        except (StudyError, SweepError) as exc:
            raise InputError(str(exc)) from None
    return StudyResults(folder, _read_json(folder / "analysis.json"), done["fits"], done["summary"],
                        done["report"], done["seconds"])


def _diary_design(spec: SpecSource, out: str | Path | None, command: str, default_suffix: str
                  ) -> tuple[Design, Path]:
    design, folder = _spec_and_folder(spec, out, default_suffix)
    if design.spec.diary is None:
        raise InputError(f"{design.path}: no [diary] section; `cycles {command}` needs one "
                         "(see experiments/diary_fit.toml)")
    if design.factor_names:
        raise InputError(f"{design.path}: a diary study runs one population; remove [factors], [sampling] and "
                         "population.pairings")
    return design, folder


@dataclass(frozen=True, eq=False)
class DiaryResults(_InFolder):
    """What :func:`simulate_diary` returns.

    Attributes:
        folder: the results folder (diary.parquet, diary.csv, truth.parquet, manifest.json).
        couples: couples in the diary study.
        rows: diary entries (one per person and day, missed entries included as missing).
        entries_kept: share of entries not missed.
        seconds: time taken.
    """

    folder: Path
    couples: int
    rows: int
    entries_kept: float
    seconds: float

    @cached_property
    def diary(self) -> pd.DataFrame:
        """The long table a real diary study has: couple, person, day, one column per item."""
        return pd.read_parquet(self.folder / "diary.parquet")

    @cached_property
    def truth(self) -> pd.DataFrame:
        """Each person's true parameters (anxiety, avoidance, responsiveness, goal support, ...)."""
        return pd.read_parquet(self.folder / "truth.parquet")


def simulate_diary(spec: SpecSource, out: str | Path | None = None, *, force: bool = False) -> DiaryResults:
    """Simulate a daily-diary study (``cycles diary``): the long table a real one has, the truth beside it.

    Args:
        spec: a spec with a ``[diary]`` section (file or dict), e.g. experiments/diary_fit.toml.
        out: the results folder (default results/NAME_diary).
        force: replace the results of another spec or command in ``out``.

    Returns:
        The diary and each person's true parameters.

    Raises:
        SpecError: a spec that cannot be run.
        InputError: no [diary] section, factors in the spec, an unusable ``out``.

    Example:
        >>> diary = sim.simulate_diary("experiments/diary_fit.toml")      # doctest: +SKIP
        >>> diary.diary.head()                                            # doctest: +SKIP
    """
    from sim.diary import run
    design, folder = _diary_design(spec, out, "diary", "_diary")
    _replaceable(folder, "diary", design, force)
    with _claimed(folder):
        done = run(design, folder)
    return DiaryResults(folder, done["couples"], done["rows"], done["entries_kept"], done["seconds"])


@dataclass(frozen=True, eq=False)
class FitResults(_InFolder):
    """What :func:`fit_diary` returns.

    Attributes:
        folder: the results folder (posterior draws and summary, calibration,
            predictive checks, what-ifs, the estimator, the report, the manifest).
        couples: couples fitted.
        summary: per couple and parameter: posterior mean, SD and intervals (and the truth, if known).
        calibration: coverage of the posterior intervals on held-out simulated diaries.
        what_if: per couple and intervention: predicted fall in cycle intensity
            with its credible interval and rank (None without ``[fit] what_if``).
        warnings: plain warnings where a diary lies outside what the model produces.
        identifiable: the parameters the calibration finds identifiable.
        timings: seconds taken by each stage.
        report: the HTML report.
        seconds: time taken.
    """

    folder: Path
    couples: int
    summary: pd.DataFrame
    calibration: pd.DataFrame
    what_if: pd.DataFrame | None
    warnings: list[str]
    identifiable: list[str]
    timings: dict[str, float]
    report: Path
    seconds: float

    @cached_property
    def draws(self) -> pd.DataFrame:
        """The posterior draws, one row per couple, parameter and draw."""
        return pd.read_parquet(self.folder / "posterior_draws.parquet")


def fit_diary(spec: SpecSource, out: str | Path | None = None, *, estimator: str | Path | None = None,
              force: bool = False, progress: IO[str] | None = None) -> FitResults:
    """Fit the model to diary data (``cycles fit``): posteriors per couple, checks and what-ifs.

    Needs the fit extra (BayesFlow on JAX, CPU only): ``pip install -e ".[fit]"``.

    Args:
        spec: a spec with ``[diary]`` and ``[fit]`` sections (file or dict), e.g.
            experiments/diary_fit.toml; ``[fit] data`` names the diary (by
            default what :func:`simulate_diary` wrote for the spec).
        out: the results folder (default results/NAME).
        estimator: reuse a trained estimator (the estimator folder of an earlier fit): no training.
        force: replace the results of another spec or command in ``out``.
        progress: a stream for the training's progress (e.g. ``sys.stderr``); default silent.

    Returns:
        The posterior summary, calibration, what-ifs and warnings.

    Raises:
        SpecError: a spec that cannot be run.
        InputError: no [diary] or [fit] section, the fit extra missing, data
            or an estimator that do not fit the spec, an unusable ``out``.

    Example:
        >>> fitted = sim.fit_diary("experiments/diary_fit.toml")          # doctest: +SKIP
        >>> fitted.summary.head()                                         # doctest: +SKIP
    """
    design, folder = _diary_design(spec, out, "fit", "")
    if design.spec.fit is None:
        raise InputError(f"{design.path}: no [fit] section; `cycles fit` needs one (see experiments/diary_fit.toml)")
    if importlib.util.find_spec("bayesflow") is None or importlib.util.find_spec("jax") is None:
        raise InputError("cycles fit needs the fit extra (BayesFlow on JAX, CPU only): pip install -e '.[fit]'")
    from sim.experiment.runner import SweepError, check_replaceable
    from sim.fit.estimator import Estimator, EstimatorError
    from sim.fit.run import FitError, read_diary, run
    if estimator is not None and not Path(estimator).is_dir():
        raise InputError(f"--estimator: {estimator} is not a folder; expected the estimator folder of an "
                         "earlier fit (e.g. results/diary_fit/estimator)")
    try:
        read_diary(design.spec)                 # the data and the estimator fit before any folder is made
        if estimator is not None:
            Estimator.check(estimator, design.spec)
        check_replaceable(folder, "fit", design.fingerprint(), force)
    except (FitError, SweepError, EstimatorError) as exc:
        raise InputError(str(exc)) from None
    with _claimed(folder):
        try:
            done = run(design, folder, estimator_path=estimator, progress_stream=progress)
        except FitError as exc:
            raise InputError(str(exc)) from None
    return FitResults(folder, done["couples"], done["summary"], done["calibration"], done["what_if"],
                      list(done["warnings"]), list(done["identifiable"]), dict(done["timings"]), done["report"],
                      done["seconds"])


# --- sensitivity --------------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class SensitivityResults(_InFolder):
    """What :func:`sensitivity` returns.

    Attributes:
        folder: the results folder (sensitivity.parquet, samples.parquet, report, manifest).
        method: "morris" or "sobol".
        indices: per outcome and parameter: mu_star, mu_star_conf, sigma and mu
            (Morris) or S1, S1_conf, ST and ST_conf (Sobol).
        points: sample points run.
        report: the HTML report (a bar chart per outcome).
        seconds: time taken.
    """

    folder: Path
    method: str
    indices: pd.DataFrame
    points: int
    report: Path
    seconds: float

    @cached_property
    def samples(self) -> pd.DataFrame:
        """The sample points and each point's outcomes (averaged over its couples)."""
        return pd.read_parquet(self.folder / "samples.parquet")


def sensitivity(spec: SpecSource, out: str | Path | None = None, *, method: Literal["morris", "sobol"] = "morris",
                outcomes: Sequence[str] | None = None, workers: int | None = None, dask: str | None = None,
                force: bool = False, max_hours: float | None = None, log: Log = None) -> SensitivityResults:
    """Screen which parameters an outcome depends on (``cycles sensitivity``), with SALib.

    Args:
        spec: a spec with a ``[sensitivity]`` section (file or dict), e.g.
            experiments/sensitivity.toml; its uncertain parameters' bounds
            default to the declared ranges.
        out: the results folder (default results/NAME).
        method: "morris" (screening) or "sobol" (variance-based indices).
        outcomes: outcomes to analyse, e.g. ``["share_escalating"]`` (default: the spec's).
        workers: worker processes (default: all cores).
        dask: run on a Dask cluster, or "local".
        force: replace the results of another spec or command in ``out``.
        max_hours: refuse a job estimated to take longer (default 1).
        log: called with the job's one-line estimate before it runs.

    Returns:
        The indices with their confidence intervals, and the folder with the sample and report.

    Raises:
        SpecError: a spec that cannot be run.
        InputError: no [sensitivity] section, factors in the spec, an unknown
            outcome or method, an unusable ``out``.
        BudgetError: a job too big for this machine or ``max_hours``.

    Example:
        >>> screen = sim.sensitivity("experiments/sensitivity.toml", method="morris")   # doctest: +SKIP
        >>> screen.indices.sort_values("mu_star", ascending=False).head()               # doctest: +SKIP
    """
    from sim.budget import check, sensitivity_estimate
    from sim.experiment.runner import SweepError
    from sim.experiment.sensitivity import SensitivityError, check_design, point_count, run
    from sim.experiment.spec import check_outcomes
    if method not in ("morris", "sobol"):
        raise InputError(f"--method: value {method!r} is not allowed; expected morris or sobol")
    workers = _workers(workers)
    outcomes = [outcomes] if isinstance(outcomes, str) else list(outcomes or [])
    design, folder = _spec_and_folder(spec, out)
    s = design.spec
    if s.days is None or s.replicates is None:
        raise InputError(f"{design.path}: a sensitivity analysis needs days and replicates (couples per point)")
    try:
        check_design(design)
    except SensitivityError as exc:
        raise InputError(str(exc)) from None
    check_outcomes(outcomes)
    counted = _executor_checks(workers, dask)
    estimate = sensitivity_estimate(point_count(design, method), s.replicates, s.days, counted)
    check(estimate, folder, LIMITS.max_hours if max_hours is None else max_hours)
    _replaceable(folder, "sensitivity", design, force)
    if log is not None:
        log(f"cycles: {estimate.line()}")
    with _claimed(folder):
        try:
            done = run(design, folder, method, outcomes=outcomes or None, workers=workers, dask=dask)
        except (SensitivityError, SweepError) as exc:
            raise InputError(str(exc)) from None
    return SensitivityResults(folder, method, done["table"], done["points"], done["report"], done["seconds"])


# --- reports, the demo page, the classroom app -------------------------------------------------------------------

@dataclass(frozen=True)
class Report:
    """What :func:`write_report` wrote.

    Attributes:
        path: report.html in the results folder.
        figures: figures in it.
        bytes: its size.
        pngs: the PNG of each figure (empty unless asked for).
        seconds: time taken.
    """

    path: Path
    figures: int
    bytes: int
    pngs: tuple[Path, ...]
    seconds: float


def write_report(folder: str | Path, *, png: bool = False) -> Report:
    """Write ``report.html`` for a sweep's results folder (``cycles report``).

    One self-contained file (plotly.js inlined) that opens with no network.

    Args:
        folder: a results folder written by :func:`sweep`, e.g. results/support_balance.
        png: also export every figure as a PNG into ``folder/figures`` (needs Chromium).

    Returns:
        Where the report is and what it holds.

    Raises:
        InputError: a folder without readable results, an unwritable folder, or a failed PNG export.

    Example:
        >>> sim.write_report("results/support_balance").path       # doctest: +SKIP
        PosixPath('results/support_balance/report.html')
    """
    from sim.report.page import PngExportError, build
    from sim.report.results import ResultsError, load
    folder = Path(folder)
    try:
        load(folder)                      # everything it needs is there and readable, before anything is written
    except ResultsError as exc:
        raise InputError(str(exc)) from None
    try:
        check_writable(folder / "report.html")
        if png:
            check_writable(folder / "figures" / "00-figure.png")
    except OSError as exc:
        raise InputError(f"{folder}: cannot write the report there ({exc}); expected a writable results folder") \
            from None
    with _claimed(folder):
        try:
            done = build(folder, png=png)
        except ResultsError as exc:
            raise InputError(str(exc)) from None
        except PngExportError as exc:
            raise InputError(f"--png: {exc}") from None
    return Report(Path(done["report"]), done["figures"], done["bytes"], tuple(done["pngs"]), done["seconds"])


def demo(couples: str = "anxious-avoidant", *, days: int = 365, seed: int = 0, overrides: Overrides = None,
         out: str | Path = "demo.html") -> Path:
    """Write a standalone animated HTML page of one couple's cycle (``cycles demo``), for classrooms without Python.

    Args:
        couples: the pairing, partner a first, e.g. ``"anxious-avoidant"``.
        days: days to show.
        seed: root seed.
        overrides: declared parameters to set, as for :func:`simulate`.
        out: the HTML file to write (a name ending in .html).

    Returns:
        The page written.

    Raises:
        InputError: a bad days, seed or out.
        ParameterError: an unknown pairing or parameter, or a value out of range.

    Example:
        >>> sim.demo("anxious-avoidant", days=200, out="demo.html")   # doctest: +SKIP
    """
    from sim.budget import demo_estimate
    target = _output_file(out, (".html", ".htm"))
    _check_pairing(couples)
    days = _whole("days", days, 1, LIMITS.demo_days)
    seed = _whole("seed", seed, 0, 2**63 - 1)
    checked = _overrides(overrides)
    _check_budget(demo_estimate(days), target.parent, LIMITS.max_hours, None)
    from sim.classroom import write_demo
    from sim.model import CoupleModel
    with _claimed(target.parent, (target.name,)):
        model = CoupleModel(couples, n_couples=1, seed=seed, overrides=checked, days=days)
        write_demo(model, days, target)
    return target


def classroom_app() -> Any:
    """The classroom app (Mesa's SolaraViz page), to show in a notebook: make it a cell's last line.

    Needs the app extra: ``pip install -e ".[app]"``. ``cycles app`` serves the same page in a browser.

    Returns:
        The SolaraViz page (a solara element) of sim.app.

    Raises:
        InputError: the app extra is not installed.

    Example:
        >>> sim.classroom_app()        # doctest: +SKIP
    """
    if importlib.util.find_spec("solara") is None:
        raise InputError("the classroom app needs the app extra: pip install -e '.[app]'")
    from sim.app import page
    return page


# --- declarations -------------------------------------------------------------------------------------------------

def parameters() -> pd.DataFrame:
    """Every declared parameter (``cycles params``), in documentation order.

    Returns:
        One row per parameter: name, group, scope (partner, couple,
        population, classification, measurement), default, low, high, range,
        unit, meaning and source.

    Example:
        >>> sim.parameters().set_index("name").loc["responsiveness", ["default", "low", "high"]].tolist()
        [0.5, 0.0, 1.0]
    """
    rows = P.table_rows()
    typed = [P.PARAMETERS[r["name"]] for r in rows]
    frame = pd.DataFrame(rows)
    frame["default"] = pd.Series([p.default for p in typed], dtype=object)
    frame.insert(frame.columns.get_loc("range"), "low", [float(p.low) for p in typed])
    frame.insert(frame.columns.get_loc("range"), "high", [float(p.high) for p in typed])
    return frame


def recipes() -> pd.DataFrame:
    """The intervention recipes (``cycles interventions``).

    Returns:
        One row per recipe: name, its changes in the change syntax (as
        :func:`simulate`'s ``interventions`` takes them), what it changes,
        why, and its source.

    Example:
        >>> "checkin-ritual" in sim.recipes()["name"].tolist()
        True
    """
    return pd.DataFrame([{"name": r.name, "changes": "; ".join(c.text() for c in r.changes), "summary": r.summary,
                          "why": r.why, "source": r.source} for r in _interventions.RECIPES.values()])

