"""What a diary says about a couple: the statistics diary researchers compute, for diaries of any length.

Every statistic is computed from the entries a couple has, so diaries of
different lengths and with missed days give the same statistics (only less
precise); the diary's length and the share of entries kept are statistics
too, so the estimator knows how much a diary can say. Items are read on 0-1
(sim.diary.to_unit). Per couple:

- per partner and daily item: mean, within-person SD, and lag-1
  autocorrelation (over pairs of consecutive days both entered);
- per daily item: the partners' same-day correlation, and the two
  cross-lagged correlations (a's item on day t with b's on day t + 1, and
  b's with a's);
- with items measuring pursuit and withdrawal: the four cross-lagged
  correlations of one partner's pursuit with the other's withdrawal the next
  day and the reverse, and the share of days in a flare-up (the cycle
  intensity max(P_a W_b, P_b W_a) of the items at or above ``high_intensity``);
- each intake item of each partner; the diary's length (days) and the share
  of entries kept.

A statistic with nothing to compute it from (a constant item, no consecutive
days) is 0, the value of "no association".
"""

from __future__ import annotations

import numba
import numpy as np

from sim import jit  # noqa: F401  (sets the compiled-code cache before any njit)
from sim import params as P
from sim.diary import Diaries, read_diaries, to_unit
from sim.experiment.spec import DiarySpec
from sim.population import Population
from sim.selectors import ROLES

# Below this sum of squares an item counts as constant: its correlations are "no association".
CONSTANT_SUM_OF_SQUARES = 1e-12


# Couples summarised side by side: each statistic is worked out for a block of them at once, one couple a
# SIMD lane, its sums over the diary's days taken day by day in each lane.
LANES = 64


@numba.njit(cache=True, inline="always")
def _lane_sums():
    """Eight scratch rows of LANES for the lanes' sums.

    Each is an array of its own: rows of one array could overlap, for all the
    compiler knows, and the loops would not vectorise.
    """
    return (np.empty(LANES), np.empty(LANES), np.empty(LANES), np.empty(LANES), np.empty(LANES), np.empty(LANES),
            np.empty(LANES), np.empty(LANES))


@numba.njit(cache=True, inline="always")
def _lane_mean_and_sd(x, w, days, width, out, row, column, sums):
    """Mean and (population) SD of each lane's ``x`` over the days with weight 1, into ``out`` (0 and 0 if none).

    ``sums``: scratch rows from :func:`_lane_sums`.
    """
    count, total, mean, squares = sums[0], sums[1], sums[2], sums[3]
    for c in range(LANES):
        count[c] = total[c] = squares[c] = 0.0
    for t in range(days):
        for c in range(width):
            count[c] += w[t, c]
            total[c] += w[t, c] * x[t, c]
    for c in range(width):
        mean[c] = total[c] / count[c] if count[c] > 0.0 else 0.0
    for t in range(days):
        for c in range(width):
            squares[c] += w[t, c] * (x[t, c] - mean[c]) ** 2
    for c in range(width):
        out[row + c, column] = mean[c]
        out[row + c, column + 1] = np.sqrt(squares[c] / count[c]) if count[c] > 0.0 else 0.0


@numba.njit(cache=True, inline="always")
def _lane_pearson(x, wx, from_x, y, wy, from_y, length, width, out, row, column, sums):
    """Each lane's Pearson correlation of ``x[from_x + t]`` with ``y[from_y + t]``, ``t < length``.

    Over the days both entered (weight 1); 0 with fewer than 3 such days or a
    constant series (no association). ``sums``: scratch rows from :func:`_lane_sums`.
    """
    count, sx, sy, mx, my, sxy, sxx, syy = sums
    for c in range(LANES):
        count[c] = sx[c] = sy[c] = sxy[c] = sxx[c] = syy[c] = 0.0
    for t in range(length):
        for c in range(width):
            both = wx[from_x + t, c] * wy[from_y + t, c]
            count[c] += both
            sx[c] += both * x[from_x + t, c]
            sy[c] += both * y[from_y + t, c]
    for c in range(width):
        mx[c] = sx[c] / count[c] if count[c] > 0.0 else 0.0
        my[c] = sy[c] / count[c] if count[c] > 0.0 else 0.0
    for t in range(length):
        for c in range(width):
            both = wx[from_x + t, c] * wy[from_y + t, c]
            dx = (x[from_x + t, c] - mx[c]) * both
            dy = (y[from_y + t, c] - my[c]) * both
            sxy[c] += dx * dy
            sxx[c] += dx * dx
            syy[c] += dy * dy
    for c in range(width):
        constant = sxx[c] <= CONSTANT_SUM_OF_SQUARES or syy[c] <= CONSTANT_SUM_OF_SQUARES
        defined = count[c] >= 3.0 and not constant
        out[row + c, column] = sxy[c] / np.sqrt(sxx[c] * syy[c]) if defined else 0.0


@numba.njit(cache=True, error_model="numpy")
def _pearson_rows(x, wx, y, wy, out):
    """:func:`_lane_pearson` of each row of ``x`` with the same row of ``y``, into ``out`` (rows, 1)."""
    n, days = x.shape
    xs, wxs, ys, wys = (np.zeros((days, LANES)), np.zeros((days, LANES)), np.zeros((days, LANES)),
                        np.zeros((days, LANES)))
    sums = _lane_sums()
    for first in range(0, n, LANES):
        width = min(LANES, n - first)
        for t in range(days):
            for c in range(width):
                xs[t, c], wxs[t, c] = x[first + c, t], wx[first + c, t]
                ys[t, c], wys[t, c] = y[first + c, t], wy[first + c, t]
        _lane_pearson(xs, wxs, 0, ys, wys, 0, days, width, out, first, 0, sums)


def correlation(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation along the last axis over positions where both are entered; 0 where undefined."""
    x, y = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    shape = x.shape[:-1]
    x, y = x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1])
    wx, wy = np.isfinite(x).astype(float), np.isfinite(y).astype(float)
    out = np.empty((x.shape[0], 1))
    _pearson_rows(np.where(wx > 0, x, 0.0), wx, np.where(wy > 0, y, 0.0), wy, out)
    return out.reshape(shape)


@numba.njit(cache=True, error_model="numpy")
def _daily_statistics(daily, scales, pursuit, withdrawal, high, out):
    """Every daily-item statistic of every couple into ``out``, in :func:`summary_names`' order.

    Returns the number of columns written. ``daily`` is (couples, 2, days,
    items), in the items' scales with NaN for entries not made;
    ``scales`` (items, 2) holds each scale's ends, so the statistics read
    every item on 0-1 as :func:`sim.diary.to_unit` does. ``pursuit`` and
    ``withdrawal`` are the items measuring them (-1 if none). A block of
    LANES couples at a time: their items are laid out day by day with one
    couple a column (a value and a weight, 1 where an entry was made, 0
    where not), and each statistic is computed for the block at once.
    """
    n, _, days, items = daily.shape
    unit = np.zeros((items, 2, days, LANES))
    weight = np.zeros((items, 2, days, LANES))
    sums = _lane_sums()
    column = 0
    for first in range(0, n, LANES):
        width = min(LANES, n - first)
        for k in range(items):
            for r in range(2):
                for t in range(days):
                    for c in range(width):
                        value = (daily[first + c, r, t, k] - scales[k, 0]) / (scales[k, 1] - scales[k, 0])
                        entered = np.isfinite(value)
                        unit[k, r, t, c] = value if entered else 0.0
                        weight[k, r, t, c] = 1.0 if entered else 0.0
        column = 0
        for k in range(items):
            a, b, wa, wb = unit[k, 0], unit[k, 1], weight[k, 0], weight[k, 1]
            for x, w in ((a, wa), (b, wb)):
                _lane_mean_and_sd(x, w, days, width, out, first, column, sums)
                _lane_pearson(x, w, 0, x, w, 1, days - 1, width, out, first, column + 2, sums)
                column += 3
            _lane_pearson(a, wa, 0, b, wb, 0, days, width, out, first, column, sums)
            _lane_pearson(a, wa, 0, b, wb, 1, days - 1, width, out, first, column + 1, sums)
            _lane_pearson(b, wb, 0, a, wa, 1, days - 1, width, out, first, column + 2, sums)
            column += 3
        if pursuit >= 0 and withdrawal >= 0:
            pa, pb, wpa, wpb = unit[pursuit, 0], unit[pursuit, 1], weight[pursuit, 0], weight[pursuit, 1]
            wa, wb, wwa, wwb = unit[withdrawal, 0], unit[withdrawal, 1], weight[withdrawal, 0], weight[withdrawal, 1]
            _lane_pearson(pa, wpa, 0, wb, wwb, 1, days - 1, width, out, first, column, sums)
            _lane_pearson(pb, wpb, 0, wa, wwa, 1, days - 1, width, out, first, column + 1, sums)
            _lane_pearson(wa, wwa, 0, pb, wpb, 1, days - 1, width, out, first, column + 2, sums)
            _lane_pearson(wb, wwb, 0, pa, wpa, 1, days - 1, width, out, first, column + 3, sums)
            entered = np.zeros(LANES)
            flaring = np.zeros(LANES)
            for t in range(days):
                for c in range(width):
                    both = wpa[t, c] * wwb[t, c] * wpb[t, c] * wwa[t, c]
                    entered[c] += both
                    flaring[c] += both * (max(pa[t, c] * wb[t, c], pb[t, c] * wa[t, c]) >= high)
            for c in range(width):
                out[first + c, column + 4] = flaring[c] / entered[c] if entered[c] > 0.0 else 0.0
            column += 5
    return column


def _measures(diary: DiarySpec, variable: str) -> int | None:
    """Index among the daily items of the first item measuring ``variable``, if any."""
    for k, name in enumerate(diary.daily_items()):
        if diary.items[name].measures == variable:
            return k
    return None


def summary_names(diary: DiarySpec) -> list[str]:
    """Names of the statistics :func:`summaries` computes, in its column order."""
    names = []
    for item in diary.daily_items():
        for role in ROLES:
            names += [f"mean {item} {role}", f"SD {item} {role}", f"lag-1 r {item} {role}"]
        names += [f"same-day r {item}", f"cross-lag r {item} a->b", f"cross-lag r {item} b->a"]
    if _measures(diary, "pursuit") is not None and _measures(diary, "withdrawal") is not None:
        names += ["cross-lag r pursuit a->withdrawal b", "cross-lag r pursuit b->withdrawal a",
                  "cross-lag r withdrawal a->pursuit b", "cross-lag r withdrawal b->pursuit a",
                  "share of days in a flare-up"]
    for item in diary.intake_items():
        names += [f"{item} {role}" for role in ROLES]
    return [*names, "diary days", "share of entries kept"]


def summaries(diaries: Diaries, diary: DiarySpec) -> np.ndarray:
    """The statistics of :func:`summary_names` for every couple: ``(couples, statistics)``."""
    p, w = _measures(diary, "pursuit"), _measures(diary, "withdrawal")
    names = summary_names(diary)
    out = np.empty((diaries.n, len(names)))
    scales = np.array([diary.items[name].scale for name in diaries.daily_items], dtype=float).reshape(-1, 2)
    column = _daily_statistics(np.ascontiguousarray(diaries.daily, dtype=float), scales,
                               -1 if p is None or w is None else p, -1 if p is None or w is None else w,
                               P.PARAMETERS["high_intensity"].default, out)
    if diaries.n == 0:
        column = len(names) - 2 - 2 * len(diaries.intake_items)
    for j, name in enumerate(diaries.intake_items):
        value = to_unit(diary, name, diaries.intake[..., j])
        out[:, column], out[:, column + 1] = value[:, 0], value[:, 1]
        column += 2
    out[:, column], out[:, column + 1] = diaries.lengths, diaries.kept
    return out


def simulated_summaries(pop: Population, diary: DiarySpec, lengths: np.ndarray | None = None,
                        missing_rate: np.ndarray | float | None = None, progress=None) -> np.ndarray:
    """``summaries(simulate_diaries(pop, diary, lengths, missing_rate), diary)``, a block of couples at a time.

    The diaries are read inside the engine's day (sim.diary.read_diaries) and
    summarised a block at a time, without keeping them: what ``cycles fit``
    simulates hundreds of thousands of times.
    """
    out = np.empty((pop.n, len(summary_names(diary))))
    first = 0
    for part in read_diaries(pop, diary, lengths, missing_rate, progress):
        out[first:first + part.n] = summaries(part, diary)
        first += part.n
    return out
