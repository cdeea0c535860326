"""A daily-diary study of simulated couples, and the measurement model that reads real diaries the same way.

A spec's ``[diary]`` section (sim.experiment.spec.DiarySpec) gives the
design (couples, days, missed entries) and its items: which model variable
each item measures, on which scale, with how much error, and whether it is
asked every day or once at intake. ``cycles diary`` simulates the study and
writes the long table a real diary study has (couple, person, day, items),
with the true parameters beside it; ``cycles fit`` (sim.fit) simulates
diaries the very same way (:func:`read_lanes`: the engine reads the items
with sim.measurement while the couples live the diary's days, the numbers
:func:`measure` reads from snapshots) to learn what a diary says about a
couple, and reads real data with :func:`from_table`.

Timeline: couples live ``acclimation_days`` days, then keep the diary on
days ``acclimation_days + 1 .. acclimation_days + days`` (diary days
1..days). Intake items measure the state on day ``acclimation_days`` (the
evening before the first entry). A missed entry is the whole day's entry of
one partner, missed with chance ``missing_rate`` independently of anything
else (missing completely at random).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pandas as pd

from sim import jit  # noqa: F401  (sets the compiled-code cache before any njit)
from sim.dynamics import STATE_FIELDS
from sim.engine import simulate
from sim.experiment.populations import cohort_population
from sim.experiment.spec import VARIABLE_RANGES, Design, DiarySpec
from sim.kernel import LANES, DiaryItems, blocks_of
from sim.manifest import now
from sim.manifest import of_design as manifest_of_design
from sim.measurement import MEASUREMENT_POSITION, MISSING_POSITION, item_reading
from sim.population import Population
from sim.randomness import (
    high_uniform,
    inverse_normal,
    low_uniform,
    measurement_draws,
    stream_bits,
)
from sim.selectors import ROLES
from sim.storage import atomic_output, write_json, write_parquet

ID_COLUMNS = ("couple", "person", "day")
# What `cycles diary` writes beside the data: each person's parameters at the start, for checking a fit.
TRUTH_PARAMETERS = ("anxiety", "avoidance", "responsiveness", "goal_support")
SIMULATION_BLOCK = 8192     # couples per engine call: the diary snapshots of a block stay small
assert SIMULATION_BLOCK % LANES == 0, "a block's readings are whole blocks of the kernel's lanes"


class DiaryError(ValueError):
    """A diary table or design that cannot be read as asked: one line saying why."""


@dataclass
class Diaries:
    """Diaries of many couples as arrays, in each item's own scale.

    ``daily`` is ``(couples, 2, days, daily items)`` with NaN where an entry
    was missed or lies beyond the couple's diary; ``intake`` is ``(couples,
    2, intake items)``; ``lengths`` is each couple's number of diary days.
    """

    daily: np.ndarray
    intake: np.ndarray
    lengths: np.ndarray
    daily_items: list[str]
    intake_items: list[str]

    @property
    def n(self) -> int:
        """Number of couples."""
        return self.daily.shape[0]

    @property
    def kept(self) -> np.ndarray:
        """(couples,) share of the diary's entries (partner-days up to its length) that were made."""
        return entries_kept(lanes_of(self.daily), self.lengths)


def lanes_of(daily: np.ndarray) -> np.ndarray:
    """Daily items ``(couples, 2, days, items)`` in the engine's layout ``(blocks, items, 2, days, LANES)``.

    Couple ``c`` is lane ``c % LANES`` of block ``c // LANES`` (sim.kernel.DiaryItems); the lanes after the last
    couple are NaN (no entries).
    """
    n, _, days, items = daily.shape
    blocks = blocks_of(n)
    padded = np.full((blocks * LANES, 2, days, items), np.nan)
    padded[:n] = daily
    return np.ascontiguousarray(padded.reshape(blocks, LANES, 2, days, items).transpose(0, 4, 2, 3, 1))


def from_lanes(lanes: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` couples' daily items in the engine's layout, as ``(couples, 2, days, items)``."""
    _, items, _, days, _ = lanes.shape
    return np.ascontiguousarray(lanes.transpose(0, 4, 2, 3, 1).reshape(-1, 2, days, items)[:n])


def entries_kept(lanes: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(couples,) share of each diary's entries (partner-days up to its length) made, from its items' lanes.

    An entry is made when any of its items is; ``lanes`` as :func:`lanes_of` gives them.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    out = np.empty((len(lengths), 1))
    _entries_kept(np.ascontiguousarray(lanes, dtype=float), lengths, out)
    return out[:, 0]


def diary_model_days(diary: DiarySpec) -> list[int]:
    """The model days whose state a diary reads: intake (day ``acclimation_days``) and the diary days."""
    return list(range(diary.acclimation_days, diary.acclimation_days + diary.days + 1))


@numba.njit(cache=True)
def _readings(true, z, low, high, lo, hi, error_sd, whole, out):
    for i in range(true.shape[0]):
        out[i] = item_reading(true[i], low, high, lo, hi, error_sd, z[i], whole)


def item_value(diary: DiarySpec, name: str, true: np.ndarray, z: np.ndarray) -> np.ndarray:
    """An item's reading of a model variable: mapped onto the item's scale, plus error, clipped and rounded."""
    item = diary.items[name]
    low, high = VARIABLE_RANGES[item.measures]
    lo, hi = item.scale
    true, z = np.broadcast_arrays(np.asarray(true, dtype=float), np.asarray(z, dtype=float))
    out = np.empty(true.shape)
    _readings(np.ascontiguousarray(true).reshape(-1), np.ascontiguousarray(z).reshape(-1), float(low), float(high),
              float(lo), float(hi), float(item.error_sd), bool(item.whole_points), out.reshape(-1))
    return out


def to_unit(diary: DiarySpec, name: str, value: np.ndarray) -> np.ndarray:
    """An item's values rescaled from its scale to 0-1 (how summaries read every item alike)."""
    lo, hi = diary.items[name].scale
    return (np.asarray(value, dtype=float) - lo) / (hi - lo)


def measure(snapshots: dict[int, dict[str, np.ndarray]], diary: DiarySpec, keys: np.ndarray,
            lengths: np.ndarray | None = None, missing_rate: np.ndarray | float | None = None) -> Diaries:
    """Measure simulated couples with the diary's items.

    Args:
        snapshots: the engine's snapshots (sim.engine.simulate) of
            :func:`diary_model_days`.
        diary: the design and its items.
        keys: (couples,) the couples' random-stream keys (errors and missed
            entries are the couple's own draws: the same couple gets the same
            diary wherever it runs).
        lengths: (couples,) diary days kept per couple (default all).
        missing_rate: chance of a missed entry, one number or one per couple
            (default the design's).
    """
    days = diary_model_days(diary)
    recorded = np.stack([np.stack([snapshots[d][f] for f in STATE_FIELDS], axis=-1) for d in days], axis=1)
    return measure_recorded(recorded, np.asarray(days), diary, keys, lengths, missing_rate)


def measure_recorded(recorded: np.ndarray, recorded_days: np.ndarray, diary: DiarySpec, keys: np.ndarray,
                     lengths: np.ndarray | None = None, missing_rate: np.ndarray | float | None = None) -> Diaries:
    """:func:`measure` from the engine's snapshot array (couples, recorded days, 2, STATE_FIELDS) and its days."""
    return DiaryReading.of(diary, recorded_days, len(keys), lengths, missing_rate).measure(recorded, keys)


@dataclass
class DiaryReading:
    """How a diary reads the engine's snapshot array: the items' fields and scales, lengths and missed-entry rates."""

    diary: DiarySpec
    first: int               # the slot in the snapshots of diary day 1
    intake_slot: int         # the slot of day ``acclimation_days`` (intake)
    fields: np.ndarray       # (daily items,) the state field each daily item reads
    scales: np.ndarray       # (daily items, 5) each variable's range, the item's scale and its error SD
    whole: np.ndarray        # (daily items,) whether the item is read in whole points
    lengths: np.ndarray      # (couples,) diary days kept per couple
    rate: np.ndarray         # (couples,) chance of a missed entry

    @classmethod
    def of(cls, diary: DiarySpec, recorded_days: np.ndarray, n: int, lengths: np.ndarray | None = None,
           missing_rate: np.ndarray | float | None = None) -> DiaryReading:
        """The reading of ``n`` couples' snapshots on ``recorded_days`` (which must hold every diary day, in order)."""
        slot = {int(d): i for i, d in enumerate(recorded_days)}
        first = slot[diary.acclimation_days + 1]
        if [slot.get(d) for d in diary_model_days(diary)[1:]] != list(range(first, first + diary.days)):
            raise ValueError("the snapshots must hold every diary day, in order")
        items = [diary.items[name] for name in diary.daily_items()]
        scales = np.array([[*VARIABLE_RANGES[i.measures], *i.scale, i.error_sd] for i in items]).reshape(-1, 5)
        rate = diary.missing_rate if missing_rate is None else missing_rate
        return cls(diary, first, slot[diary.acclimation_days],
                   np.array([STATE_FIELDS.index(i.measures) for i in items], dtype=np.int64), scales,
                   np.array([i.whole_points for i in items], dtype=np.bool_),
                   (np.full(n, diary.days) if lengths is None else np.asarray(lengths)).astype(np.int64),
                   np.ascontiguousarray(np.broadcast_to(np.asarray(rate, dtype=float), (n,))))

    def block(self, couples: slice) -> DiaryReading:
        """The reading of the couples in ``couples`` only."""
        return dataclasses.replace(self, lengths=self.lengths[couples], rate=self.rate[couples])

    def measure(self, recorded: np.ndarray, keys: np.ndarray) -> Diaries:
        """The diaries of the couples whose snapshots (couples, recorded days, 2, STATE_FIELDS) are ``recorded``."""
        diary = self.diary
        daily = np.empty((len(keys), 2, diary.days, len(self.fields)))
        _read_daily_items(np.ascontiguousarray(recorded), self.first, self.fields, self.scales, self.whole,
                          np.ascontiguousarray(keys, dtype=np.uint64), self.rate, self.lengths, daily)
        return Diaries(daily, self.intake(recorded[:, self.intake_slot], keys), self.lengths, diary.daily_items(),
                       diary.intake_items())

    def items(self) -> DiaryItems:
        """The daily items as the engine reads them on the diary's days, into a fresh ``daily`` array."""
        diary = self.diary
        blocks = blocks_of(len(self.lengths))
        return DiaryItems(diary.acclimation_days + 1, diary.days, self.fields, self.scales, self.whole,
                          self.lengths, self.rate, np.empty((blocks, len(self.fields), 2, diary.days, LANES)))

    def intake(self, state: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """(couples, 2, intake items): the intake items read from the intake day's ``state`` (couples, 2, STATE_FIELDS).

        Their errors come after every daily item's in the couple's stream.
        """
        diary = self.diary
        names = diary.intake_items()
        errors = measurement_draws(keys, len(names), first=diary.days * len(self.fields))
        intake = np.empty((len(keys), 2, len(names)))
        for j, name in enumerate(names):
            true = state[:, :, STATE_FIELDS.index(diary.items[name].measures)]
            intake[..., j] = item_value(diary, name, true, errors[..., j])
        return intake


@numba.njit(cache=True, inline="always")
def measure_couple(recorded, c, first, fields, scales, whole, key, rate, length, out):
    """Couple ``c``'s daily items (``item_reading``) into ``out`` (2, days, items), NaN where missed or beyond.

    ``scales`` holds per item the variable's range, the item's scale and its
    error SD. Each number is drawn from the couple's stream where it is
    needed (an entry not made draws no errors), the same numbers in any order.
    """
    _, days, items = out.shape
    for t in range(days):
        missed = stream_bits(key, MISSING_POSITION + np.uint64(t))
        gone_a = t >= length or high_uniform(missed) < rate
        gone_b = t >= length or low_uniform(missed) < rate
        for k in range(items):
            if gone_a and gone_b:
                out[0, t, k] = np.nan
                out[1, t, k] = np.nan
                continue
            bits = stream_bits(key, MEASUREMENT_POSITION + np.uint64(k * days + t))
            for r in range(2):
                if gone_b if r else gone_a:
                    out[r, t, k] = np.nan
                    continue
                z = inverse_normal(low_uniform(bits) if r else high_uniform(bits))
                out[r, t, k] = item_reading(recorded[c, first + t, r, fields[k]], scales[k, 0], scales[k, 1],
                                            scales[k, 2], scales[k, 3], scales[k, 4], z, whole[k])


@numba.njit(cache=True)
def _read_daily_items(recorded, first, fields, scales, whole, keys, rate, lengths, out):
    for c in range(out.shape[0]):
        measure_couple(recorded, c, first, fields, scales, whole, keys[c], rate[c], lengths[c], out[c])


@numba.njit(cache=True, inline="always")
def block_entries_kept(block, width, lengths, first, out, column, made, entered):
    """The share of entries made by couples ``first .. first + width - 1``, into ``out[:, column]``.

    ``block``: their lanes' block (items, 2, days, LANES, as lanes_of gives them); ``lengths``: every couple's
    diary length; ``made``, ``entered``: scratch rows of LANES. An entry (a partner's day up to the diary's
    length) is made when any of its items is.
    """
    items, _, days, _ = block.shape
    entered[:] = 0.0
    for r in range(2):
        for t in range(days):
            made[:] = 0.0
            for k in range(items):
                for c in range(width):
                    made[c] = max(made[c], 1.0 if np.isfinite(block[k, r, t, c]) else 0.0)
            for c in range(width):
                entered[c] += made[c]
    for c in range(width):
        out[first + c, column] = entered[c] / (2.0 * max(lengths[first + c], 1))


@numba.njit(cache=True, error_model="numpy")
def _entries_kept(lanes, lengths, out):
    """Each couple's share of entries made into ``out`` (couples, 1), ``lanes`` as lanes_of gives them."""
    blocks, _, _, _, width = lanes.shape
    made, entered = np.zeros(width), np.zeros(width)
    for block in range(blocks):
        first = block * width
        block_entries_kept(lanes[block], min(width, out.shape[0] - first), lengths, first, out, 0, made, entered)


def read_diaries(pop: Population, diary: DiarySpec, lengths: np.ndarray | None = None,
                 missing_rate: np.ndarray | float | None = None, progress=None):
    """Every couple of ``pop`` run through acclimation and the diary, :data:`SIMULATION_BLOCK` couples at a time.

    Yields each block's :class:`Diaries` (:func:`read_lanes`, laid out as
    :class:`Diaries` are). ``progress`` is called with couples done.
    """
    for lanes, intake, kept_days in read_lanes(pop, diary, lengths, missing_rate, progress):
        yield Diaries(from_lanes(lanes, len(kept_days)), intake, kept_days, diary.daily_items(), diary.intake_items())


def read_lanes(pop: Population, diary: DiarySpec, lengths: np.ndarray | None = None,
               missing_rate: np.ndarray | float | None = None, progress=None):
    """Every couple of ``pop`` run through acclimation and the diary, :data:`SIMULATION_BLOCK` couples at a time.

    Yields each block's daily items in the engine's layout (:func:`lanes_of`;
    the lanes past the last couple unwritten, not NaN), intake items and
    diary lengths: the engine reads the daily items on the
    diary's days inside its day (sim.kernel.DiaryItems; the numbers
    :func:`measure` reads from snapshots of those days), and records only the
    intake day's state for the intake items. ``progress`` is called with
    couples done.
    """
    intake_day = diary.acclimation_days
    reading = DiaryReading.of(diary, np.asarray(diary_model_days(diary)), pop.n, lengths, missing_rate)
    for start in range(0, pop.n, SIMULATION_BLOCK):
        block = slice(start, min(start + SIMULATION_BLOCK, pop.n))
        part, read = pop.subset(block), reading.block(block)
        items = read.items()
        result = simulate(part, intake_day + diary.days, snapshot_days=[intake_day], summarise=False, diary=items)
        yield items.daily, read.intake(result.recorded[:, 0], part.keys), read.lengths
        if progress is not None:
            progress(block.stop)


def simulate_diaries(pop: Population, diary: DiarySpec, lengths: np.ndarray | None = None,
                     missing_rate: np.ndarray | float | None = None, progress=None) -> Diaries:
    """Simulate every couple of ``pop`` through acclimation and the diary, and measure them (:func:`read_diaries`).

    :func:`sim.fit.summaries.simulated_summaries` gives these diaries' statistics a block at a time.
    """
    parts = list(read_diaries(pop, diary, lengths, missing_rate, progress))
    first = parts[0]
    return Diaries(np.concatenate([p.daily for p in parts]), np.concatenate([p.intake for p in parts]),
                   np.concatenate([p.lengths for p in parts]), first.daily_items, first.intake_items)


def to_table(diaries: Diaries, couple_ids: np.ndarray | None = None) -> pd.DataFrame:
    """The long table of a diary study: one row per person and diary day with an entry; intake items repeated."""
    n, _, days, _ = diaries.daily.shape
    ids = np.arange(n) if couple_ids is None else np.asarray(couple_ids)
    columns: dict[str, Any] = {
        "couple": np.repeat(ids, 2 * days),
        "person": np.tile(np.repeat(np.array(ROLES, dtype=object), days), n),
        "day": np.tile(np.arange(1, days + 1), 2 * n),
    }
    for k, name in enumerate(diaries.daily_items):
        columns[name] = diaries.daily[..., k].reshape(-1)
    for j, name in enumerate(diaries.intake_items):
        columns[name] = np.repeat(diaries.intake[..., j].reshape(-1), days)
    table = pd.DataFrame(columns)
    entered = ~np.isnan(diaries.daily).all(axis=-1).reshape(-1)
    return table[entered].reset_index(drop=True)


def from_table(frame: pd.DataFrame, diary: DiarySpec, source: str = "data") -> tuple[Diaries, np.ndarray]:
    """Read a long diary table (couple, person, day, the spec's items) into arrays; returns them and couple ids.

    Each couple must have two persons (the first in sorted order is partner a);
    days are diary days, 1 to ``diary.days``, and a couple's diary lasts to
    its last day in the table. Items may be
    missing (empty); a row may be absent. Raises DiaryError naming the column,
    the value and what is allowed.
    """
    needed = [*ID_COLUMNS, *diary.items]
    absent = [c for c in needed if c not in frame.columns]
    if absent:
        raise DiaryError(f"{source}: column {absent[0]!r} is missing; expected columns {', '.join(needed)} "
                         "(the [diary.items] of the spec name the item columns)")
    if frame.empty:
        raise DiaryError(f"{source}: no rows; expected one row per person and diary day")
    days = pd.to_numeric(frame["day"], errors="coerce")
    bad = ~np.isfinite(days) | (days != np.round(days))
    if bad.any():
        raise DiaryError(f"{source}: column 'day' has value {frame['day'][bad].iloc[0]!r}; expected whole numbers")
    frame = frame.assign(day=days.astype(np.int64), person=frame["person"].astype(str))
    for name, item in diary.items.items():
        values = pd.to_numeric(frame[name], errors="coerce")
        text = frame[name].notna() & values.isna()
        outside = values.notna() & ((values < item.scale[0]) | (values > item.scale[1]))
        if text.any() or outside.any():
            shown = frame[name][text | outside].iloc[0]
            raise DiaryError(f"{source}: column {name!r} has value {shown!r}; expected numbers on its scale "
                             f"{item.scale[0]:g}-{item.scale[1]:g} (or empty for a missed entry)")
        frame[name] = values.astype(float)
    duplicated = frame.duplicated(["couple", "person", "day"])
    if duplicated.any():
        row = frame[duplicated].iloc[0]
        raise DiaryError(f"{source}: couple {row['couple']!r} person {row['person']!r} day {row['day']} appears "
                         "twice; expected one row per person and day")
    persons = frame.groupby("couple", sort=True)["person"].unique()
    wrong = persons[persons.map(len) != 2]
    if len(wrong):
        raise DiaryError(f"{source}: couple {wrong.index[0]!r} has persons {sorted(wrong.iloc[0])!r}; expected "
                         "exactly two persons per couple")
    couples = persons.index.to_numpy()
    position = pd.Series(np.arange(len(couples)), index=persons.index)
    if (frame["day"] < 1).any() or (frame["day"] > diary.days).any():
        shown = frame["day"][(frame["day"] < 1) | (frame["day"] > diary.days)].iloc[0]
        raise DiaryError(f"{source}: column 'day' has value {shown}; expected diary days 1 to diary.days = "
                         f"{diary.days} (raise diary.days in the spec for longer diaries)")
    day_index = (frame["day"] - 1).to_numpy()
    span = frame.groupby("couple", sort=True)["day"].max()
    partner_b = (frame["person"] == frame.groupby("couple")["person"].transform("max")).to_numpy()
    c = position[frame["couple"]].to_numpy()
    daily_items, intake_items = diary.daily_items(), diary.intake_items()
    daily = np.full((len(couples), 2, diary.days, len(daily_items)), np.nan)
    daily[c, partner_b.astype(int), day_index] = frame[daily_items].to_numpy(float)
    intake = np.full((len(couples), 2, len(intake_items)), np.nan)
    if intake_items:
        firsts = frame.assign(c=c, b=partner_b.astype(int)).groupby(["c", "b"])[intake_items].first()
        intake[firsts.index.get_level_values(0), firsts.index.get_level_values(1)] = firsts.to_numpy(float)
        if np.isnan(intake).any():
            where = np.argwhere(np.isnan(intake))[0]
            raise DiaryError(f"{source}: couple {couples[where[0]]!r} person "
                             f"{sorted(persons.iloc[where[0]])[where[1]]!r} has no value of intake item "
                             f"{intake_items[where[2]]!r}; expected one for each person")
    return Diaries(daily, intake, span.to_numpy(np.int64), daily_items, intake_items), couples


def truth_table(pop: Population) -> pd.DataFrame:
    """Each person's true parameters at the start (what a fit should recover), beside the diary."""
    columns: dict[str, Any] = {"couple": np.repeat(np.arange(pop.n), 2),
                               "person": np.tile(np.array(ROLES, dtype=object), pop.n),
                               "pairing": np.repeat(pop.pairing, 2), "style": pop.style.reshape(-1)}
    columns.update({name: pop.partner[name].reshape(-1) for name in TRUTH_PARAMETERS})
    return pd.DataFrame(columns)


def run(design: Design, out: str | Path) -> dict[str, Any]:
    """``cycles diary``: simulate the spec's diary study; writes diary.parquet/.csv, truth.parquet and a manifest."""
    spec = design.spec
    diary = spec.diary
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started_at, started = now(), time.perf_counter()
    pop = cohort_population(spec, 0, diary.couples)
    diaries = simulate_diaries(pop, diary)
    table = to_table(diaries)
    truth = truth_table(pop)
    write_parquet(table, out / "diary.parquet")
    with atomic_output(out / "diary.csv") as tmp:
        table.to_csv(tmp, index=False)
    write_parquet(truth, out / "truth.parquet")
    seconds = time.perf_counter() - started
    observed = float(np.isfinite(diaries.daily).all(axis=-1).mean())
    manifest = manifest_of_design(design, "diary", started_at, seconds,
                                  seed_rule="SeedSequence(root_seed, spawn_key=(0, couple))",
                                  rows=len(table), entries_kept=round(observed, 4))
    write_json(manifest, out / "manifest.json")
    return {"out": out, "rows": len(table), "couples": diary.couples, "entries_kept": observed,
            "seconds": seconds}
