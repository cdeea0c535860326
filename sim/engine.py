"""The batch engine: every couple of a population advanced at once with numpy.

A second driver for the same equations: it calls sim.dynamics.partner_day on
arrays of shape (couples, 2), where the Mesa model calls it once per agent.
It never imports Mesa.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Sequence

import numpy as np
import pandas as pd

from sim.dynamics import STATE_FIELDS, PartnerState, dissolution_count, initial_state, partner_day
from sim.outcomes import CycleTracker
from sim.population import ROLES, Population
from sim.randomness import daily_normals
from sim.tables import DAILY_COLUMNS, agent_id


@dataclass
class BatchResult:
    """What a batch run returns."""

    outcomes: pd.DataFrame          # one row per couple
    series: pd.DataFrame | None     # daily table of the couples asked for (or None)


def _partner_view(state: PartnerState) -> PartnerState:
    """The same arrays seen from the other partner: column 0 and 1 swapped (a view, no copy)."""
    return PartnerState(*(x[:, ::-1] for x in state))


def simulate(pop: Population, days: int, series_couples: Sequence[int] | None = None) -> BatchResult:
    """Run every couple of ``pop`` for ``days`` days.

    Args:
        pop: the population (sim.population.make_population).
        days: days to step (day 0 is the start).
        series_couples: indices of couples whose full daily series to keep;
            None keeps none.
    """
    n = pop.n
    p = SimpleNamespace(**pop.partner)
    partner_r = pop.partner["responsiveness"][:, ::-1]
    partner_g = pop.partner["goal_support"][:, ::-1]
    state = PartnerState(*(np.array(np.broadcast_to(x, (n, 2)), dtype=float)
                           for x in initial_state(p, partner_r, partner_g)))
    tracker = CycleTracker(n, days, pop.couple["shock_day"], state._asdict(), pop.classification)
    together = np.ones(n, dtype=bool)
    streak = np.zeros(n, dtype=np.int64)
    keep = None if series_couples is None else np.asarray(series_couples, dtype=np.int64)
    recorded = [] if keep is not None else None
    if recorded is not None:
        recorded.append((0, together[keep].copy(), [x[keep].copy() for x in state]))

    for day in range(1, days + 1):
        shock = np.where(pop.couple["shock_day"] == day, pop.couple["shock_size"], 0.0)[:, None]
        new = partner_day(state, _partner_view(state), p, partner_r, partner_g, daily_normals(pop.keys, day), shock)
        lived = together.copy()
        if not lived.all():
            new = PartnerState(*(np.where(lived[:, None], x, old) for x, old in zip(new, state)))
        state = new
        tracker.update(day, state._asdict(), lived)
        streak = dissolution_count(streak, state.distress[:, 0], state.distress[:, 1],
                                   pop.couple["dissolution_distress"])
        ending = lived & pop.couple["dissolution"] & (streak >= pop.couple["dissolution_days"])
        together &= ~ending
        tracker.dissolve(day, ending)
        if recorded is not None:
            recorded.append((day, together[keep].copy(), [x[keep].copy() for x in state]))

    series = None if recorded is None else _daily_table(pop, keep, recorded)
    return BatchResult(tracker.summary(), series)


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
    for i, name in enumerate(STATE_FIELDS):
        columns[name] = np.concatenate([s[i].reshape(-1) for _, _, s in recorded])
    columns["responsiveness"] = np.tile(pop.partner["responsiveness"][keep].reshape(-1), days)
    columns["goal_support"] = np.tile(pop.partner["goal_support"][keep].reshape(-1), days)
    return pd.DataFrame(columns)[list(DAILY_COLUMNS)]
