"""Outcomes of a couple's run, computed on the fly, and its classification.

:class:`CycleTracker` is fed one day at a time with the state of every couple
(arrays of shape ``(couples, 2)``) and keeps only running sums, so memory grows
with the number of couples and not with the number of days. Both drivers (the
Mesa model and the batch engine) feed the same tracker; its daily update is a
compiled loop over couples.

Windows: with ``T`` days, the *early* window is days 1..w and the *late*
window days T-w+1..T, with ``w = min(90, ceil(T / 4))``.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from typing import Any

import numba
import numpy as np
import pandas as pd
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from sim import jit  # noqa: F401  (sets the compiled-code cache before any njit)
from sim.compiled import EQUATIONS
from sim.dynamics import STATE_FIELDS
from sim.schema import (
    CLASSES,
    HISTOGRAM_BINS,
    SERIES_VARIABLES,
    window_length,
)

_cycle_intensity = EQUATIONS["cycle_intensity"]   # sim.dynamics.cycle_intensity, compiled

WEEKLY = 2.0 / (7 + 1)      # EMA rate with the centre of mass of a 7-day mean
SLOW = 2.0 / (56 + 1)       # EMA rate with the centre of mass of an 8-week mean
PRE_SHOCK_DAYS = 28         # days before a shock that set the baseline distress
ONE_YEAR = 365
LATE_MEANS = ("pursuit", "withdrawal", "distress", "goal_pursuit")


class Acc(IntEnum):
    """Columns of the per-couple accumulator array; those updated every day come first."""

    COUNT = 0               # days lived together: always days 1..COUNT
    SUM_I = 1
    SUM_TI = 2
    WEEKLY = 3
    SLOW = 4
    PEAK = 5
    WEEKLY_DISTRESS = 6
    SUM_EARLY = 7
    SUM_LATE = 8
    FLARE_UPS = 9           # onsets: the weekly intensity reached high_intensity from calm
    IN_FLARE = 10           # 1 from an onset until the weekly intensity is back below quiet_intensity
    PRE_SHOCK_SUM = 11
    PRE_SHOCK_COUNT = 12
    SETTLE_DAYS = 13
    DISSOLUTION_DAY = 14
    PURSUIT_A = 15          # late-window sums of LATE_MEANS, partner a then b
    PURSUIT_B = 16
    WITHDRAWAL_A = 17
    WITHDRAWAL_B = 18
    DISTRESS_A = 19
    DISTRESS_B = 20
    GOAL_A = 21
    GOAL_B = 22
    ANXIETY_1Y_A = 23
    ANXIETY_1Y_B = 24
    AVOIDANCE_1Y_A = 25
    AVOIDANCE_1Y_B = 26
    CALMED_FLARE_UPS = 27   # flare-ups that ended in calm
    FLARE_DAYS = 28         # days in a flare-up
    CALM_DAYS_LATE = 29     # days of the late window on which the weekly intensity was below quiet_intensity
    LAST_FLARE_DAY = 30     # the day the latest flare-up began (0: none yet)


_P = STATE_FIELDS.index("pursuit")
_W = STATE_FIELDS.index("withdrawal")
_D = STATE_FIELDS.index("distress")
_G = STATE_FIELDS.index("goal_pursuit")
_ANX = STATE_FIELDS.index("anxiety")
_AVO = STATE_FIELDS.index("avoidance")


@numba.njit(cache=True, inline="always")
def flare_step(in_flare, weekly, high, quiet):
    """One day of the flare-up rule: ``(in_flare, began, ended)`` after a day with this weekly intensity.

    A flare-up begins on a day the weekly intensity reaches ``high`` while the
    couple is calm, and ends in calm on the first day it is back below
    ``quiet`` (hysteresis, so daily noise around one level does not count as
    many episodes). The tracker applies it day by day; :func:`flare_episodes`
    to a whole series. Written without branches, so that the engine runs it
    for a block of couples at once.
    """
    began = (not in_flare) and weekly >= high
    ended = in_flare and weekly < quiet
    return (in_flare and not ended) or began, began, ended


def weekly_intensity(daily: np.ndarray) -> np.ndarray:
    """The weekly intensity the tracker keeps, for a daily series (axis 0: days 0, 1, ...; any columns after).

    Day 0 is the start and is not counted: the average is 0 there and then
    follows ``w(t) = w(t-1) + WEEKLY (I(t) - w(t-1))``, as in :func:`accumulate_couple`.
    """
    daily = np.asarray(daily, dtype=float)
    weekly = np.zeros_like(daily)
    for t in range(1, len(daily)):
        weekly[t] = weekly[t - 1] + WEEKLY * (daily[t] - weekly[t - 1])
    return weekly


def flare_episodes(weekly: np.ndarray, high: float, quiet: float) -> list[tuple[int, int | None]]:
    """The flare-ups of one weekly series: (onset, calm) index pairs, calm None for one still going."""
    found, onset, in_flare = [], None, False
    for k, value in enumerate(weekly):
        in_flare, began, ended = flare_step(in_flare, float(value), high, quiet)
        if began:
            onset = k
        if ended:
            found.append((onset, k))
    return found + ([(onset, None)] if in_flare else [])


@numba.njit(cache=True, inline="always")
def accumulate_couple(acc, i, day, window, late_start, shock, high, quiet, settle_tolerance, x, c):
    """Add one day of one couple to its accumulator column ``acc[:, i]`` (rows: :class:`Acc`).

    ``x[:, :, c]`` is the couple's state that day, shape (len(STATE_FIELDS), 2)
    (fields first, so that a block of couples lies side by side in memory);
    ``high`` and ``quiet`` the couple's high_intensity and quiet_intensity, for
    the flare-up rule (:func:`flare_step`). Each per-couple condition is a
    selection rather than a branch, so the batch engine runs this for a block
    of couples in SIMD registers; the Mesa model calls it through
    :meth:`CycleTracker.update`. The three parts touch different
    accumulators: the engine runs the late window's and the first year's
    only on their days, for the whole block (sim.kernel).
    """
    accumulate_day(acc, i, day, window, shock, high, quiet, settle_tolerance, x, c)
    if day >= late_start:
        accumulate_late(acc, i, quiet, x, c)
    if day == ONE_YEAR:
        accumulate_one_year(acc, i, x, c)


@numba.njit(cache=True, inline="always")
def accumulate_day(acc, i, day, window, shock, high, quiet, settle_tolerance, x, c):
    """The part of :func:`accumulate_couple` done every day: intensity, flare-ups, distress and settling."""
    pursuit_a, pursuit_b = x[_P, 0, c], x[_P, 1, c]
    intensity = _cycle_intensity(pursuit_a, x[_W, 0, c], pursuit_b, x[_W, 1, c])
    acc[Acc.COUNT, i] += 1.0
    acc[Acc.SUM_I, i] += intensity
    acc[Acc.SUM_TI, i] += day * intensity
    if day <= window:
        acc[Acc.SUM_EARLY, i] += intensity
    weekly = acc[Acc.WEEKLY, i] + WEEKLY * (intensity - acc[Acc.WEEKLY, i])
    acc[Acc.WEEKLY, i] = weekly
    acc[Acc.SLOW, i] += SLOW * (intensity - acc[Acc.SLOW, i])
    acc[Acc.PEAK, i] = max(acc[Acc.PEAK, i], weekly)
    in_flare, began, ended = flare_step(acc[Acc.IN_FLARE, i] != 0.0, weekly, high, quiet)
    acc[Acc.IN_FLARE, i] = 1.0 if in_flare else 0.0
    acc[Acc.FLARE_UPS, i] += 1.0 if began else 0.0
    acc[Acc.LAST_FLARE_DAY, i] = day if began else acc[Acc.LAST_FLARE_DAY, i]
    acc[Acc.CALMED_FLARE_UPS, i] += 1.0 if ended else 0.0
    acc[Acc.FLARE_DAYS, i] += 1.0 if weekly >= high else 0.0
    couple_distress = 0.5 * (x[_D, 0, c] + x[_D, 1, c])
    weekly_distress = acc[Acc.WEEKLY_DISTRESS, i] + WEEKLY * (couple_distress - acc[Acc.WEEKLY_DISTRESS, i])
    acc[Acc.WEEKLY_DISTRESS, i] = weekly_distress
    # The settling time of a scheduled shock: the 28 days before it set the baseline, and the first day
    # after it on which the weekly distress is back within the tolerance of that baseline is counted.
    before = shock > 0 and shock - PRE_SHOCK_DAYS <= day < shock
    acc[Acc.PRE_SHOCK_SUM, i] += couple_distress if before else 0.0
    acc[Acc.PRE_SHOCK_COUNT, i] += 1.0 if before else 0.0
    baseline = acc[Acc.PRE_SHOCK_SUM, i] / max(acc[Acc.PRE_SHOCK_COUNT, i], 1.0)
    settled = (shock > 0 and day > shock and np.isnan(acc[Acc.SETTLE_DAYS, i])
               and weekly_distress <= baseline + settle_tolerance)
    acc[Acc.SETTLE_DAYS, i] = day - shock if settled else acc[Acc.SETTLE_DAYS, i]


@numba.njit(cache=True, inline="always")
def accumulate_late(acc, i, quiet, x, c):
    """The late window's part of :func:`accumulate_couple`, after :func:`accumulate_day` of the same day."""
    acc[Acc.SUM_LATE, i] += _cycle_intensity(x[_P, 0, c], x[_W, 0, c], x[_P, 1, c], x[_W, 1, c])
    for r in range(2):
        acc[Acc.PURSUIT_A + r, i] += x[_P, r, c]
        acc[Acc.WITHDRAWAL_A + r, i] += x[_W, r, c]
        acc[Acc.DISTRESS_A + r, i] += x[_D, r, c]
        acc[Acc.GOAL_A + r, i] += x[_G, r, c]
    acc[Acc.CALM_DAYS_LATE, i] += 1.0 if acc[Acc.WEEKLY, i] < quiet else 0.0


@numba.njit(cache=True, inline="always")
def accumulate_one_year(acc, i, x, c):
    """The traits at one year, the part of :func:`accumulate_couple` done on day ONE_YEAR."""
    for r in range(2):
        acc[Acc.ANXIETY_1Y_A + r, i] = x[_ANX, r, c]
        acc[Acc.AVOIDANCE_1Y_A + r, i] = x[_AVO, r, c]


@numba.njit(cache=True)
def _accumulate(acc, day, window, late_start, shock_day, levels, settle_tolerance, state, live):
    for c in range(acc.shape[1]):
        if live[c]:
            accumulate_couple(acc, c, day, window, late_start, shock_day[c], levels[c, 0], levels[c, 1],
                              settle_tolerance[c], state, c)


class CycleTracker:
    """Running outcome metrics for ``n`` couples over a run of ``days`` days.

    Args:
        n: number of couples.
        days: length of the run (days 1..days are stepped; day 0 is the start).
        shock_day: (n,) day of each couple's conflict shock, 0 for none.
        initial: the day-0 state, a mapping of field name to (n, 2) arrays.
        thresholds: the classification parameters (see sim.params), each a
            scalar or an (n,) array.
    """

    def __init__(self, n: int, days: int, shock_day, initial: Mapping[str, np.ndarray],
                 thresholds: Mapping[str, Any]):
        self.n, self.days = n, days
        self.window = window_length(days)
        self.late_start = days - self.window + 1
        self.thresholds = {k: np.broadcast_to(np.asarray(v, dtype=float), (n,)) for k, v in thresholds.items()}
        self.shock_day = np.array(np.broadcast_to(np.asarray(shock_day, dtype=np.int64), (n,)))  # own, writable copy
        self.start_anxiety = np.array(initial["anxiety"], dtype=float)
        self.start_avoidance = np.array(initial["avoidance"], dtype=float)
        self.acc = np.zeros((len(Acc), n))    # one column per couple (see accumulate_couple)
        for col in (Acc.SETTLE_DAYS, Acc.DISSOLUTION_DAY, Acc.ANXIETY_1Y_A, Acc.ANXIETY_1Y_B, Acc.AVOIDANCE_1Y_A,
                    Acc.AVOIDANCE_1Y_B):
            self.acc[col] = np.nan      # not reached (yet)
        self.acc[Acc.WEEKLY_DISTRESS] = np.asarray(initial["distress"]).mean(axis=1)
        self.levels = np.ascontiguousarray(np.stack([self.thresholds["high_intensity"],
                                                     self.thresholds["quiet_intensity"]], axis=1))
        self.settle_tolerance = np.ascontiguousarray(self.thresholds["settle_tolerance"])

    def update(self, day: int, state: Mapping[str, np.ndarray], together: np.ndarray) -> None:
        """Add day ``day``'s state (field name -> (n, 2) arrays; absent fields are not needed).

        ``together`` (n,) says which couples lived the day as a couple (they
        were together at its start); the others are skipped.
        """
        stacked = np.zeros((len(STATE_FIELDS), 2, self.n))
        for i, name in enumerate(STATE_FIELDS):
            if name in state:
                stacked[i] = np.asarray(state[name]).T
        _accumulate(self.acc, day, self.window, self.late_start, self.shock_day, self.levels,
                    self.settle_tolerance, stacked, np.asarray(together, dtype=np.bool_))

    def dissolve(self, day: int, dissolving: np.ndarray) -> None:
        """Record that the couples in the mask ``dissolving`` split up on ``day``."""
        column = self.acc[Acc.DISSOLUTION_DAY]
        self.acc[Acc.DISSOLUTION_DAY] = np.where(dissolving & np.isnan(column), day, column)

    def regime_now(self, together: np.ndarray) -> np.ndarray:
        """Each couple's cycle state on the last day added, from its weekly and eight-week intensity.

        secure-stable (never active), escalating or cycling (weekly intensity at least high_intensity,
        above or below its eight-week average less swing_margin), settled (weekly below quiet_intensity),
        settling (falling), simmering (low but not falling), dissolved (``together`` is False).
        """
        a, t = self.acc, self.thresholds
        weekly, slow, peak = a[Acc.WEEKLY], a[Acc.SLOW], a[Acc.PEAK]
        label = np.where(weekly < slow, "settling", "simmering")
        label = np.where(weekly < t["quiet_intensity"], "settled", label)
        label = np.where(weekly >= t["high_intensity"],
                         np.where(weekly >= slow - t["swing_margin"], "escalating", "cycling"), label)
        label = np.where(peak < t["quiet_intensity"], "secure-stable", label)
        return np.where(np.asarray(together, dtype=bool), label, "dissolved").astype(object)

    def summary(self, final: Mapping[str, np.ndarray]) -> pd.DataFrame:
        """One row per couple: every outcome metric and the classification.

        ``final`` is the state at the end of the run (field name -> (n, 2));
        a dissolved couple's state stays as it was when it split up.
        """
        a = self.acc
        lived = a[Acc.COUNT]                 # the couple lived days 1..lived
        count = np.maximum(lived, 1)
        mean_t = (lived + 1) / 2
        var_t = (lived * lived - 1) / 12        # variance of 1..k
        cov = a[Acc.SUM_TI] / count - mean_t * (a[Acc.SUM_I] / count)
        trend = np.where(var_t > 0, cov / np.where(var_t > 0, var_t, 1.0), 0.0) * ONE_YEAR
        late = np.clip(lived - self.late_start + 1, 0, None)
        late_mean = np.where(late > 0, 1.0 / np.maximum(late, 1), np.nan)
        out: dict[str, Any] = {
            "intensity_mean": a[Acc.SUM_I] / count,
            "intensity_early": a[Acc.SUM_EARLY] / np.minimum(count, self.window),
            "intensity_late": a[Acc.SUM_LATE] * late_mean,
            "intensity_peak": a[Acc.PEAK].copy(),
            "intensity_trend": trend,
            "flare_ups": a[Acc.FLARE_UPS].astype(np.int64),
            "calmed_flare_ups": a[Acc.CALMED_FLARE_UPS].astype(np.int64),
            "flare_days_share": a[Acc.FLARE_DAYS] / count,
            "calm_days_late": a[Acc.CALM_DAYS_LATE].astype(np.int64),
            "last_flare_day": a[Acc.LAST_FLARE_DAY].astype(np.int64),
            "settle_days": a[Acc.SETTLE_DAYS].copy(),
            "dissolved": ~np.isnan(a[Acc.DISSOLUTION_DAY]),
            "dissolution_day": a[Acc.DISSOLUTION_DAY].copy(),
        }
        for col, role in enumerate("ab"):
            firsts = (Acc.PURSUIT_A, Acc.WITHDRAWAL_A, Acc.DISTRESS_A, Acc.GOAL_A)
            for name, first in zip(LATE_MEANS, firsts, strict=True):
                out[f"{name}_late_{role}"] = a[first + col] * late_mean
            out[f"anxiety_change_{role}"] = final["anxiety"][:, col] - self.start_anxiety[:, col]
            out[f"avoidance_change_{role}"] = final["avoidance"][:, col] - self.start_avoidance[:, col]
            out[f"anxiety_change_1y_{role}"] = a[Acc.ANXIETY_1Y_A + col] - self.start_anxiety[:, col]
            out[f"avoidance_change_1y_{role}"] = a[Acc.AVOIDANCE_1Y_A + col] - self.start_avoidance[:, col]
        frame = pd.DataFrame(out)
        frame["classification"] = classify(frame, self.thresholds, self.days)
        return frame


_CLASS_CODES = {name: k for k, name in enumerate(CLASSES)}
_CLASS_NAMES = np.array(CLASSES, dtype=object)


def classify(metrics: pd.DataFrame, thresholds: Mapping[str, Any], days: int) -> np.ndarray:
    """Label each couple's run.

    ``days`` is the length of the run. In order: ``dissolved`` if the couple
    split up; ``secure-stable`` if the weekly intensity never reached
    ``quiet_intensity``; ``escalating`` if the
    late-window mean is at least ``high_intensity`` and the couple was not
    calm on any day of the late window (stuck in the cycle);
    ``cycling`` if the couple had at least ``cycling_flare_ups`` flare-ups
    that each ended in calm (it flares and calms, again and again), the
    latest of them beginning in the second half of the run (it still does:
    a couple whose flare-ups stopped, say after an intervention, is not);
    ``escalating`` also if the trend is at least ``rising_trend`` per year
    and the late mean exceeds the early mean; otherwise ``settling``.
    """
    late = metrics["intensity_late"].to_numpy()
    early = metrics["intensity_early"].to_numpy()
    high = thresholds["high_intensity"]
    stuck = (late >= high) & (metrics["calm_days_late"].to_numpy() == 0)
    rising = (metrics["intensity_trend"].to_numpy() >= thresholds["rising_trend"]) & (late > early)
    cycling = ((metrics["calmed_flare_ups"].to_numpy() >= thresholds["cycling_flare_ups"])
               & (metrics["last_flare_day"].to_numpy() > days / 2))
    # Places in CLASSES, named at the end: choosing among strings couple by couple took twice as long.
    code = _CLASS_CODES
    label = np.where(stuck, code["escalating"],
                     np.where(cycling, code["cycling"], np.where(rising, code["escalating"], code["settling"])))
    label = np.where(metrics["intensity_peak"].to_numpy() < thresholds["quiet_intensity"], code["secure-stable"],
                     label)
    return _CLASS_NAMES[np.where(metrics["dissolved"].to_numpy(), code["dissolved"], label)]


# --- per-day aggregates over all couples -------------------------------------

# State variables of each partner, then the couple's cycle intensity (counted on both roles).
_AGGREGATED_INDEX = np.array([STATE_FIELDS.index(name) for name in SERIES_VARIABLES[:-1]])
_INTENSITY = len(SERIES_VARIABLES) - 1
_AGGREGATED_LOW = np.array([0.0, 0.0, 0.0, 1.0, 0.0])     # anxiety is on the ECR-R scale
_AGGREGATED_HIGH = np.array([1.0, 1.0, 1.0, 7.0, 1.0])
QUARTILES = (0.25, 0.5, 0.75)


_BINS_PER_UNIT = HISTOGRAM_BINS / (_AGGREGATED_HIGH - _AGGREGATED_LOW)


@numba.njit(cache=True, inline="always")
def histogram_bin(v, value):
    """The bin of aggregated variable ``v`` (an index into SERIES_VARIABLES) that ``value`` falls in."""
    position = int((value - _AGGREGATED_LOW[v]) * _BINS_PER_UNIT[v])
    return min(max(position, 0), HISTOGRAM_BINS - 1)


_SUMS = 2 * len(SERIES_VARIABLES)     # a group's sums: (role, variable), role-major as in DailyAggregates.sums


def _sum_places(context, builder, totals, args):
    """Pointers to a group's sums in ``totals`` (args: totals, start), in (variable, role) order."""
    view = context.make_array(totals)(context, builder, args[0])
    begin = args[1]
    places = []
    for k in range(_SUMS):
        v, r = divmod(k, 2)
        place = builder.add(begin, context.get_constant(types.intp, r * (_SUMS // 2) + v))
        places.append(cgutils.get_item_pointer(context, builder, totals, view, [place]))
    return places


@intrinsic
def _read_sums(typingctx, totals, start):
    """A group's sums, from position ``start`` of ``totals``, as a tuple in (variable, role) order."""
    def codegen(context, builder, signature, args):
        items = [builder.load(place) for place in _sum_places(context, builder, totals, args)]
        return context.make_tuple(builder, signature.return_type, items)

    return types.UniTuple(totals.dtype, _SUMS)(totals, types.intp), codegen


@intrinsic
def _write_sums(typingctx, totals, start, running):
    """Store a group's sums (a tuple from :func:`_read_sums`) back at position ``start`` of ``totals``."""
    def codegen(context, builder, signature, args):
        for k, place in enumerate(_sum_places(context, builder, totals, args)):
            builder.store(builder.extract_value(args[2], k), place)
        return context.get_dummy_value()

    return types.void(totals, types.intp, running), codegen


@intrinsic
def _add_column(typingctx, running, rows, c, live):
    """``running`` plus column ``c`` of ``rows`` (one row per sum), or plus 0.0 where ``live`` is false."""
    def codegen(context, builder, signature, args):
        view = context.make_array(rows)(context, builder, args[1])
        where = context.cast(builder, args[2], c, types.intp)
        zero = context.get_constant(types.float64, 0.0)
        out = args[0]
        for k in range(running.count):
            item = builder.load(cgutils.get_item_pointer(context, builder, rows, view,
                                                         [context.get_constant(types.intp, k), where]))
            added = builder.select(context.cast(builder, args[3], live, types.boolean), item, zero)
            out = builder.insert_value(out, builder.fadd(builder.extract_value(out, k), added), k)
        return out

    return running(running, rows, c, live), codegen


@numba.njit(cache=True, inline="always")
def aggregate_block(hist, sums, groups, width, x, live, values, bins):
    """Add a day of a block's first ``width`` couples that are ``live`` to their groups' histograms and sums.

    ``groups`` and ``live`` are the block's, one entry per couple; ``x[:, :,
    c]`` is couple ``c``'s state, (len(STATE_FIELDS), 2); ``hist`` and
    ``sums`` the day's (groups, 2, variables, bins) and (groups, 2,
    variables); ``values`` and ``bins`` scratch arrays of shape (variables,
    2, at least width). The values and their bins are worked out for the
    whole block in vectorised loops; the counts are then added couple by
    couple at flat positions worked out beforehand, and the sums in couple
    order (so they do not depend on how couples are blocked), kept in
    registers along each run of couples of one group.
    """
    for r in range(2):
        for v in range(_INTENSITY):
            field = _AGGREGATED_INDEX[v]
            for c in range(width):
                values[v, r, c] = x[field, r, c]
    for c in range(width):
        intensity = _cycle_intensity(x[_P, 0, c], x[_W, 0, c], x[_P, 1, c], x[_W, 1, c])
        values[_INTENSITY, 0, c] = intensity
        values[_INTENSITY, 1, c] = intensity
    variables = len(_AGGREGATED_LOW)
    for v in range(variables):
        for r in range(2):
            for c in range(width):
                group = groups[c]
                bins[v, r, c] = ((group * 2 + r) * variables + v) * HISTOGRAM_BINS + histogram_bin(v, values[v, r, c])
    counts = hist.reshape(hist.size)
    totals = sums.reshape(sums.size)
    # Unsigned positions (bins is uint64): numba then skips its wrap-around of negative indices.
    for c in range(width):
        if live[c]:
            for r in range(2):
                for v in range(variables):
                    counts[bins[v, r, c]] += 1
    # The sums of a run of couples in one group are kept in registers (a tuple), each added to in couple
    # order as before, and written back when the group changes: added to in memory, every couple's sum
    # waited for the previous couple's store. A couple not live adds 0.0, which leaves a sum (never -0.0,
    # as it starts at +0.0) as it was.
    by_role = values.reshape((2 * variables, values.shape[2]))    # rows v then r: (v, r) -> v * 2 + r
    group = groups[0]
    running = _read_sums(totals, group * 2 * variables)
    for c in range(width):
        if groups[c] != group:
            _write_sums(totals, group * 2 * variables, running)
            group = groups[c]
            running = _read_sums(totals, group * 2 * variables)
        running = _add_column(running, by_role, c, live[c])
    _write_sums(totals, group * 2 * variables, running)


@numba.njit(cache=True, error_model="numpy")
def _histogram_statistics(hist, sums, days, quartiles, low, width, count, values):
    """Mean and quartiles of every (day, group, role, variable) histogram, into ``count`` and ``values``.

    A quartile q is the inverted-CDF quantile, read linearly within its bin
    (``quartiles`` in rising order):
    with ``n`` couples, the first bin ``k`` whose cumulative count reaches
    ``q n``, then ``low + (k + clip((q n - before) / inside, 0, 1)) width``,
    ``before`` and ``inside`` the counts below and in that bin. NaN for a
    day without couples.
    """
    for d in range(days.shape[0]):
        day = days[d]
        for g in range(hist.shape[1]):
            for r in range(2):
                n = 0
                for b in range(hist.shape[4]):
                    n += hist[day, g, r, 0, b]
                count[d, g, r] = n
                for v in range(hist.shape[3]):
                    values[d, g, r, v, 0] = sums[day, g, r, v] / n      # NaN for none (the sum is 0 then)
                    if n == 0:
                        for s in range(1, values.shape[4]):
                            values[d, g, r, v, s] = np.nan
                        continue
                    # The quartiles rise, so each one's search goes on from where the one before stopped:
                    # one pass over the bins, with the very bins and counts of a search from the start.
                    cumulative = 0
                    k = 0
                    for s in range(quartiles.shape[0]):
                        target = quartiles[s] * n
                        while k < hist.shape[4] - 1 and cumulative + hist[day, g, r, v, k] < target:
                            cumulative += hist[day, g, r, v, k]
                            k += 1
                        inside = hist[day, g, r, v, k]
                        fraction = min(max((target - cumulative) / (inside if inside > 0 else 1), 0.0), 1.0)
                        values[d, g, r, v, 1 + s] = low[v] + (k + fraction) * width[v]


def histogram_counts(groups: np.ndarray) -> type:
    """The histograms' count type: 16 bits when no group has more couples than that counts, else 32.

    A sweep's groups are its cells (a few hundred couples each), and its
    histograms, one per day, cell, role and variable, were most of a chunk's
    memory: half the bytes made the main job about 0.5 s faster (of 13) and 50 MB smaller.
    """
    largest = int(np.bincount(groups).max()) if groups.size else 0
    return np.uint16 if largest <= np.iinfo(np.uint16).max else np.int32


class DailyAggregates:
    """Per day, group and role: mean and quartiles of pursuit, withdrawal, distress, anxiety and cycle intensity.

    Memory grows with days x groups, not with couples: one histogram of
    ``HISTOGRAM_BINS`` bins per day, group, role and variable (counts of
    :func:`histogram_counts`' type), filled by
    :func:`aggregate_block` inside the engine's loop. Quartiles are read from
    it linearly within the bin: each is the inverted-CDF quartile (the smallest
    value with at least that share of couples at or below it) to within one
    bin, 0.01 on the 0-1 scales and 0.06 ECR-R points for anxiety. Only couples together on the
    day count (day 0 counts every couple).

    Args:
        groups: (couples,) group of each couple (e.g. its sweep cell), 0..G-1.
        days: days of the run (days 0..days are kept).
    """

    def __init__(self, groups: np.ndarray, days: int):
        self.groups = np.ascontiguousarray(groups, dtype=np.int64)
        self.n_groups = int(self.groups.max()) + 1 if self.groups.size else 0
        self.days = days
        self.hist = np.zeros((days + 1, self.n_groups, 2, len(SERIES_VARIABLES), HISTOGRAM_BINS),
                             dtype=histogram_counts(self.groups))
        self.sums = np.zeros((days + 1, self.n_groups, 2, len(SERIES_VARIABLES)))

    def statistics(self, days: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Counts (D, G, 2) and statistics (D, G, 2, variable, mean/q25/q50/q75) for the given days.

        One compiled pass over each histogram (:func:`_histogram_statistics`), so
        no temporaries however many days and groups.
        """
        days = np.arange(self.days + 1) if days is None else np.asarray(days)
        count = np.empty((len(days), self.n_groups, 2), dtype=np.int64)
        values = np.empty((len(days), self.n_groups, 2, len(SERIES_VARIABLES), 1 + len(QUARTILES)))
        width = (_AGGREGATED_HIGH - _AGGREGATED_LOW) / HISTOGRAM_BINS
        _histogram_statistics(self.hist, self.sums, np.ascontiguousarray(days, dtype=np.int64),
                              np.array(QUARTILES), _AGGREGATED_LOW, width, count, values)
        return count, values

    def table(self, chunk_days: int = 64) -> pd.DataFrame:
        """Tidy table: one row per day, group, role and variable."""
        parts = []
        for first in range(0, self.days + 1, chunk_days):
            days = np.arange(first, min(first + chunk_days, self.days + 1))
            count, values = self.statistics(days)
            day, group, role, variable = np.meshgrid(days, np.arange(self.n_groups), np.arange(2),
                                                     np.arange(len(SERIES_VARIABLES)), indexing="ij")
            parts.append(pd.DataFrame({
                "day": day.ravel(), "group": group.ravel(), "role": np.array(["a", "b"])[role.ravel()],
                "variable": np.array(SERIES_VARIABLES)[variable.ravel()],
                "couples": np.broadcast_to(count[..., None], day.shape).ravel(),
                "mean": values[..., 0].ravel(),
                **{f"q{int(q * 100)}": values[..., 1 + k].ravel() for k, q in enumerate(QUARTILES)},
            }))
        return pd.concat(parts, ignore_index=True)
