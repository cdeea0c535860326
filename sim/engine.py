"""The batch engine: every couple of a population advanced at once.

A second driver for the same equations: each day it runs the compiled
``partner_day`` of sim.dynamics over all couples (sim.kernel), where the Mesa
model calls it once per agent. It never imports Mesa. Outcomes stream into a
CycleTracker; full daily series are kept only for the couples asked for, and
per-day aggregates (mean and quartiles of pursuit and withdrawal for each
role) for everyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from sim import kernel
from sim.dynamics import STATE_FIELDS, dissolution_count, initial_state
from sim.outcomes import CycleTracker
from sim.population import ROLES, Population
from sim.tables import DAILY_COLUMNS, agent_id

AGGREGATED = ("pursuit", "withdrawal")
QUARTILES = (0.25, 0.5, 0.75)


@dataclass
class BatchResult:
    """What a batch run returns."""

    outcomes: pd.DataFrame          # one row per couple
    series: pd.DataFrame | None     # daily table of the couples asked for (or None)
    aggregates: pd.DataFrame | None  # per day and role: mean and quartiles (or None)


def _initial_array(pop: Population) -> np.ndarray:
    p = SimpleNamespace(**pop.partner)
    start = initial_state(p, pop.partner["responsiveness"][:, ::-1], pop.partner["goal_support"][:, ::-1])
    return np.stack([np.broadcast_to(np.asarray(x, dtype=float), (pop.n, 2)) for x in start], axis=-1)


def simulate(pop: Population, days: int, series_couples: Sequence[int] | None = None,
             aggregates: bool = False, progress: Callable[[int], None] | None = None) -> BatchResult:
    """Run every couple of ``pop`` for ``days`` days.

    Args:
        pop: the population (sim.population.make_population); every partner
            parameter may differ between couples and partners.
        days: days to step (day 0 is the start).
        series_couples: indices of couples whose full daily series to keep.
        aggregates: also keep, per day and role, the mean and quartiles of
            pursuit and withdrawal over all couples still together.
        progress: called with the day after each day.
    """
    n = pop.n
    fields = {name: i for i, name in enumerate(STATE_FIELDS)}
    state = _initial_array(pop)
    params = kernel.pack(pop.partner)
    keys = np.ascontiguousarray(pop.keys)
    shock_day = pop.couple["shock_day"]
    shock_size = pop.couple["shock_size"].astype(float)
    no_shock = np.zeros(n)
    shock_days = set(np.unique(shock_day[shock_day > 0]).tolist())
    tracker = CycleTracker(n, days, shock_day, _view(state, fields), pop.classification)
    together = np.ones(n, dtype=bool)
    streak = np.zeros(n, dtype=np.int64)
    can_dissolve = pop.couple["dissolution"].astype(bool)
    keep = None if series_couples is None else np.asarray(series_couples, dtype=np.int64)
    recorded = None if keep is None else [(0, together[keep].copy(), state[keep].copy())]
    summary = [_aggregate(0, state, fields, together)] if aggregates else None

    for day in range(1, days + 1):
        shock = np.where(shock_day == day, shock_size, 0.0) if day in shock_days else no_shock
        lived = together.copy()
        kernel.advance(state, params, keys, day, shock, lived, tracker)
        today = _view(state, fields)
        if can_dissolve.any():
            streak = dissolution_count(streak, today["distress"][:, 0], today["distress"][:, 1],
                                       pop.couple["dissolution_distress"])
            ending = lived & can_dissolve & (streak >= pop.couple["dissolution_days"])
            together &= ~ending
            tracker.dissolve(day, ending)
        if recorded is not None:
            recorded.append((day, together[keep].copy(), state[keep].copy()))
        if summary is not None:
            summary.append(_aggregate(day, state, fields, together))
        if progress is not None:
            progress(day)

    series = None if recorded is None else _daily_table(pop, keep, recorded)
    table = None if summary is None else pd.DataFrame([row for rows in summary for row in rows])
    return BatchResult(tracker.summary(_view(state, fields)), series, table)


def _view(state: np.ndarray, fields: dict[str, int]) -> dict[str, np.ndarray]:
    return {name: state[:, :, i] for name, i in fields.items()}


def _aggregate(day: int, state: np.ndarray, fields: dict[str, int], together: np.ndarray) -> list[dict]:
    rows = []
    for r, role in enumerate(ROLES):
        row = {"day": day, "role": role, "couples": int(together.sum())}
        for name in AGGREGATED:
            values = state[together, r, fields[name]]
            row[f"{name}_mean"] = float(values.mean()) if values.size else np.nan
            for q, value in zip(QUARTILES, np.quantile(values, QUARTILES) if values.size else [np.nan] * 3):
                row[f"{name}_q{int(q * 100)}"] = float(value)
        rows.append(row)
    return rows


def _daily_table(pop: Population, keep: np.ndarray, recorded: list) -> pd.DataFrame:
    k = len(keep)
    days = len(recorded)
    columns: dict[str, np.ndarray] = {
        "couple_id": np.tile(np.repeat(keep, 2), days),
        "agent_id": np.tile(agent_id(np.repeat(keep, 2), np.tile([0, 1], k)), days),
        "role": np.tile(np.array(ROLES * k, dtype=object), days),
        "style": np.tile(pop.style[keep].reshape(-1), days),
        "pairing": np.tile(np.repeat(pop.pairing[keep], 2), days),
        "day": np.repeat([d for d, _, _ in recorded], 2 * k),
        "together": np.concatenate([np.repeat(t, 2) for _, t, _ in recorded]),
    }
    stacked = np.stack([s for _, _, s in recorded])          # (days, k, 2, fields)
    for i, name in enumerate(STATE_FIELDS):
        columns[name] = stacked[..., i].reshape(-1)
    columns["responsiveness"] = np.tile(pop.partner["responsiveness"][keep].reshape(-1), days)
    columns["goal_support"] = np.tile(pop.partner["goal_support"][keep].reshape(-1), days)
    return pd.DataFrame(columns)[list(DAILY_COLUMNS)]
