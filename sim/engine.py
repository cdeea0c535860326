"""The batch engine: every couple of a population run with compiled code.

A second driver for the same equations: it runs the compiled ``partner_day``
of sim.dynamics (sim.kernel) for every couple and day, where the Mesa model
calls it once per agent per day. It never imports Mesa. Outcomes stream into
a CycleTracker, so memory grows with the number of couples and not with the
number of days; full daily series are kept only for the couples asked for,
and per-day aggregates (mean and quartiles of pursuit, withdrawal, distress
and anxiety for each role and group of couples) for everyone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pandas as pd

from sim import interventions, kernel
from sim.dynamics import STATE_FIELDS, cycle_intensity, initial_state
from sim.outcomes import CycleTracker, DailyAggregates
from sim.population import Population
from sim.selectors import ROLES
from sim.tables import DAILY_COLUMNS, agent_id

BLOCK = 4096   # couples per compiled call: progress is reported between blocks
assert BLOCK % kernel.LANES == 0, "a diary's readings are stored in whole blocks of the kernel's lanes"


@dataclass
class BatchResult:
    """What a batch run returns."""

    outcomes: pd.DataFrame | None   # one row per couple (None when run with summarise=False)
    series: pd.DataFrame | None     # daily table of the couples asked for (or None)
    aggregator: DailyAggregates     # per day, group and role: mean and quartiles (see .table(), .statistics())
    # The state of every couple on the days asked for: (couples, recorded days, 2, STATE_FIELDS), and those days.
    recorded: np.ndarray | None = None
    recorded_days: np.ndarray | None = None
    # The kept couples' daily states as one array (days + 1, kept, 2, STATE_FIELDS), kept couples in index order.
    kept_series: np.ndarray | None = None
    kept_couples: np.ndarray | None = None

    @property
    def snapshots(self) -> dict[int, dict[str, np.ndarray]] | None:
        """The recorded days as day -> field -> (couples, 2) views of ``recorded``, if any were asked for."""
        if self.recorded is None:
            return None
        return {int(d): state_view(self.recorded[:, i]) for i, d in enumerate(self.recorded_days)}

    @property
    def aggregates(self) -> pd.DataFrame:
        """The per-day aggregates as a tidy table (one row per day, group, role and variable)."""
        return self.aggregator.table()


def initial_array(pop: Population) -> np.ndarray:
    """Day-0 state of every partner, shape (couples, 2, len(STATE_FIELDS))."""
    p = SimpleNamespace(**pop.partner)
    start = initial_state(p, pop.partner["responsiveness"][:, ::-1], pop.partner["goal_support"][:, ::-1])
    return np.ascontiguousarray(
        np.stack([np.broadcast_to(np.asarray(x, dtype=float), (pop.n, 2)) for x in start], axis=-1))


def state_view(state: np.ndarray) -> dict[str, np.ndarray]:
    """Each field of a (couples, 2, fields) state array as a (couples, 2) view."""
    return {name: state[:, :, i] for i, name in enumerate(STATE_FIELDS)}


def simulate(pop: Population, days: int, series_couples: Sequence[int] | None = None,
             groups: np.ndarray | None = None, progress: Callable[[int], None] | None = None,
             snapshot_days: Sequence[int] | None = None, summarise: bool = True,
             series_table: bool = True, diary: kernel.DiaryItems | None = None) -> BatchResult:
    """Run every couple of ``pop`` for ``days`` days.

    Args:
        pop: the population (sim.population.make_population); every partner
            parameter may differ between couples and partners.
        days: days to step (day 0 is the start).
        series_couples: indices of couples whose full daily series to keep.
        groups: (couples,) group of each couple (e.g. its sweep cell) for the
            per-day aggregates; default one group.
        progress: called with the number of couples finished, after each block.
        snapshot_days: days on which to record the state of every couple (e.g. a
            study's waves and the diary days before them).
        summarise: compute each couple's outcomes and the per-day aggregates. False
            skips both (``outcomes`` is None and the aggregates are empty): a diary's
            simulation reads only the snapshots.
        series_table: build ``series``, the kept couples' tidy daily table; False leaves it None
            for callers that read the array ``kept_series`` (a sweep's chunk).
        diary: a diary's daily items (sim.kernel.DiaryItems, arrays over every couple), read on its days
            while the couples live them, into its ``daily`` array (sim.diary.read_diaries).
    """
    n = pop.n
    state = initial_array(pop)
    columns = kernel.parameter_columns(pop.partner)
    tracker = CycleTracker(n, days, pop.couple["shock_day"], state_view(state), pop.classification)
    aggregates = DailyAggregates(np.zeros(n, dtype=np.int64) if groups is None else groups, days)
    together = np.ones(n, dtype=np.bool_)
    keep = np.unique(np.asarray([] if series_couples is None else series_couples, dtype=np.int64))
    keep_slot = np.full(n, -1, dtype=np.int64)
    keep_slot[keep] = np.arange(len(keep))
    series = np.zeros((days + 1, len(keep), 2, len(STATE_FIELDS)))
    series_together = np.zeros((days + 1, len(keep)), dtype=np.bool_)
    recorded = np.unique(np.asarray([] if snapshot_days is None else snapshot_days, dtype=np.int64))
    if len(recorded) and (recorded.min() < 0 or recorded.max() > days):
        raise ValueError(f"snapshot days must lie in 0..{days}")
    day_slot = np.full(days + 1, -1, dtype=np.int64)
    day_slot[recorded] = np.arange(len(recorded))
    snapshots = np.zeros((n, len(recorded), 2, len(STATE_FIELDS)))
    keys = np.ascontiguousarray(pop.keys)
    if diary is not None and (diary.lengths.shape[0] != n or diary.first_day + diary.days - 1 > days):
        raise ValueError(f"the diary reads {diary.lengths.shape[0]} couples on days {diary.first_day}.."
                         f"{diary.first_day + diary.days - 1}; the run has {n} couples and {days} days")
    if diary is not None and diary.daily.shape != (kernel.blocks_of(n), len(diary.fields), 2, diary.days,
                                                   kernel.LANES):
        # The kernel writes without bounds checks: a wrong shape would write outside the array.
        raise ValueError(f"the diary's readings have shape {diary.daily.shape}; the kernel writes "
                         f"{(kernel.blocks_of(n), len(diary.fields), 2, diary.days, kernel.LANES)}")
    for start in range(0, n, BLOCK):
        block = slice(start, min(start + BLOCK, n))
        kernel.run(state, columns, keys, days, pop.couple, tracker, aggregates, together, keep_slot, series,
                   series_together, day_slot, snapshots, pop.schedule, block, summarise, diary)
        if progress is not None:
            progress(block.stop)
    table = (_daily_table(pop, keep, series, series_together) if series_couples is not None and series_table
             else None)
    recording = snapshot_days is not None
    keeping = series_couples is not None
    return BatchResult(tracker.summary(state_view(state)) if summarise else None, table, aggregates,
                       snapshots if recording else None, recorded if recording else None,
                       series if keeping else None, keep if keeping else None)


def _daily_table(pop: Population, keep: np.ndarray, series: np.ndarray, together: np.ndarray) -> pd.DataFrame:
    k = len(keep)
    days = series.shape[0]
    columns: dict[str, np.ndarray] = {
        "couple_id": np.tile(np.repeat(keep, 2), days),
        "agent_id": np.tile(agent_id(np.repeat(keep, 2), np.tile([0, 1], k)), days),
        "role": np.tile(np.array(ROLES * k, dtype=object), days),
        "style": np.tile(pop.style[keep].reshape(-1), days),
        "pairing": np.tile(np.repeat(pop.pairing[keep], 2), days),
        "day": np.repeat(np.arange(days), 2 * k),
        "together": np.repeat(together, 2, axis=1).reshape(-1),
    }
    for i, name in enumerate(STATE_FIELDS):
        columns[name] = series[..., i].reshape(-1)
    p, w = STATE_FIELDS.index("pursuit"), STATE_FIELDS.index("withdrawal")
    couple = cycle_intensity(series[:, :, 0, p], series[:, :, 0, w], series[:, :, 1, p], series[:, :, 1, w])
    columns["cycle_intensity"] = np.repeat(couple, 2, axis=1).reshape(-1)
    for name in ("responsiveness", "goal_support"):
        columns[name] = np.tile(pop.partner[name][keep].reshape(-1), days)
    kept = pop.subset(keep)
    if interventions.planned_couples(kept.schedule).any():
        # The support each partner gave that day, interventions included.
        base = interventions.partner_rows(kept.partner)
        given = [interventions.PARTNER_PARAMETERS.index(name) for name in ("responsiveness", "goal_support")]
        daily = np.stack([interventions.parameters_on(base, kept.schedule, day)[0][..., given]
                          for day in range(days)])                       # (days, kept, 2, 2)
        columns["responsiveness"] = daily[..., 0].reshape(-1)
        columns["goal_support"] = daily[..., 1].reshape(-1)
    return pd.DataFrame(columns)[list(DAILY_COLUMNS)]
