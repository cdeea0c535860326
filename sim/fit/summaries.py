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
from sim.diary import Diaries, entries_kept, lanes_of, read_lanes, to_unit
from sim.experiment.spec import DiarySpec
from sim.kernel import LANES as KERNEL_LANES
from sim.population import Population
from sim.selectors import ROLES

# Below this sum of squares an item counts as constant: its correlations are "no association".
CONSTANT_SUM_OF_SQUARES = 1e-12


# Couples summarised side by side: each statistic is worked out for a block of them at once, one couple a
# SIMD lane, its sums over the diary's days taken day by day in each lane. The engine's blocks: it stores
# its readings in them (sim.kernel.DiaryItems), so a block's diaries are read as they are.
LANES = KERNEL_LANES


# A statistic's scratch rows, each LANES long and each an array of its own: rows of one array could overlap,
# for all the compiler knows, and the loops would not vectorise. They are handed to the functions below one by
# one: an array taken out of a tuple inside a loop costs a reference count each time.

@numba.njit(cache=True, inline="always")
def _moment_rows():
    """Rows for a mean and SD: the days entered, the sum (then the mean) and the sum of squares."""
    return np.zeros(LANES), np.zeros(LANES), np.zeros(LANES)


@numba.njit(cache=True, inline="always")
def _pair_rows():
    """Rows for a correlation: the days both entered, the two sums (then means) and the three sums of products."""
    return np.zeros(LANES), np.zeros(LANES), np.zeros(LANES), np.zeros(LANES), np.zeros(LANES), np.zeros(LANES)


# Each statistic in two passes over the days, both in day order: the sums giving the means, then the sums of
# deviations from them. The functions below add one day's terms, so that every statistic of the same items
# is worked out in the same pass over their days, which are then read from memory once for all of them.

@numba.njit(cache=True, inline="always")
def _add_moment(x, w, t, width, count, total):
    for c in range(width):
        count[c] += w[t, c]
        total[c] += w[t, c] * x[t, c]


@numba.njit(cache=True, inline="always")
def _add_square(x, w, t, width, mean, squares):
    for c in range(width):
        squares[c] += w[t, c] * (x[t, c] - mean[c]) ** 2


@numba.njit(cache=True, inline="always")
def _to_mean(count, total, width):
    for c in range(width):
        total[c] = total[c] / count[c] if count[c] > 0.0 else 0.0


@numba.njit(cache=True, inline="always")
def _write_moment(count, mean, squares, width, out, row, column):
    """Mean and (population) SD of each lane over the days entered, into ``out`` (0 and 0 if none)."""
    for c in range(width):
        out[row + c, column] = mean[c]
        out[row + c, column + 1] = np.sqrt(squares[c] / count[c]) if count[c] > 0.0 else 0.0


@numba.njit(cache=True, inline="always")
def _add_pair(x, wx, tx, y, wy, ty, width, count, sx, sy):
    for c in range(width):
        both = wx[tx, c] * wy[ty, c]
        count[c] += both
        sx[c] += both * x[tx, c]
        sy[c] += both * y[ty, c]


@numba.njit(cache=True, inline="always")
def _add_products(x, wx, tx, y, wy, ty, width, mx, my, sxy, sxx, syy):
    for c in range(width):
        both = wx[tx, c] * wy[ty, c]
        dx = (x[tx, c] - mx[c]) * both
        dy = (y[ty, c] - my[c]) * both
        sxy[c] += dx * dy
        sxx[c] += dx * dx
        syy[c] += dy * dy


@numba.njit(cache=True, inline="always")
def _to_means(count, sx, sy, width):
    for c in range(width):
        sx[c] = sx[c] / count[c] if count[c] > 0.0 else 0.0
        sy[c] = sy[c] / count[c] if count[c] > 0.0 else 0.0


@numba.njit(cache=True, inline="always")
def _write_pearson(count, sxy, sxx, syy, width, out, row, column):
    """Each lane's Pearson correlation over the days both entered: 0 with fewer than 3 or a constant series."""
    for c in range(width):
        constant = sxx[c] <= CONSTANT_SUM_OF_SQUARES or syy[c] <= CONSTANT_SUM_OF_SQUARES
        defined = count[c] >= 3.0 and not constant
        out[row + c, column] = sxy[c] / np.sqrt(sxx[c] * syy[c]) if defined else 0.0


@numba.njit(cache=True, inline="always")
def _clear(rows):
    for row in rows:
        row[:] = 0.0


@numba.njit(cache=True, error_model="numpy")
def _pearson_rows(x, wx, y, wy, out):
    """Each row's Pearson correlation of ``x`` with ``y`` (rows, days) over the days both entered (weight 1).

    Into ``out`` (rows, 1); 0 with fewer than 3 such days or a constant series (no association).
    """
    n, days = x.shape
    xs, wxs, ys, wys = (np.zeros((days, LANES)), np.zeros((days, LANES)), np.zeros((days, LANES)),
                        np.zeros((days, LANES)))
    rows = _pair_rows()
    count, mx, my, sxy, sxx, syy = rows
    for first in range(0, n, LANES):
        width = min(LANES, n - first)
        for t in range(days):
            for c in range(width):
                xs[t, c], wxs[t, c] = x[first + c, t], wx[first + c, t]
                ys[t, c], wys[t, c] = y[first + c, t], wy[first + c, t]
        _clear(rows)
        for t in range(days):
            _add_pair(xs, wxs, t, ys, wys, t, width, count, mx, my)
        _to_means(count, mx, my, width)
        for t in range(days):
            _add_products(xs, wxs, t, ys, wys, t, width, mx, my, sxy, sxx, syy)
        _write_pearson(count, sxy, sxx, syy, width, out, first, 0)


def correlation(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation along the last axis over positions where both are entered; 0 where undefined."""
    x, y = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    shape = x.shape[:-1]
    x, y = x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1])
    wx, wy = np.isfinite(x).astype(float), np.isfinite(y).astype(float)
    out = np.empty((x.shape[0], 1))
    _pearson_rows(np.where(wx > 0, x, 0.0), wx, np.where(wy > 0, y, 0.0), wy, out)
    return out.reshape(shape)


@numba.njit(cache=True, inline="always")
def _item_statistics(a, wa, b, wb, days, width, out, row, column, moments, pairs):
    """One daily item's nine statistics of a block: each partner's mean, SD and lag-1 r, then the dyad's three.

    ``a``, ``wa``, ``b``, ``wb``: each partner's values and weights (days, LANES); ``moments``, ``pairs``: the
    scratch rows of the two moments and the five correlations.
    """
    (n_a, mean_a, squares_a), (n_b, mean_b, squares_b) = moments
    (n_1, x_1, y_1, xy_1, xx_1, yy_1), (n_2, x_2, y_2, xy_2, xx_2, yy_2) = pairs[0], pairs[1]
    (n_3, x_3, y_3, xy_3, xx_3, yy_3), (n_4, x_4, y_4, xy_4, xx_4, yy_4) = pairs[2], pairs[3]
    n_5, x_5, y_5, xy_5, xx_5, yy_5 = pairs[4]
    for rows in moments:
        _clear(rows)
    for rows in pairs:
        _clear(rows)
    # 1, 2: each partner's lag-1; 3: the same day; 4, 5: a's on b's next day and b's on a's.
    for t in range(days):
        _add_moment(a, wa, t, width, n_a, mean_a)
        _add_moment(b, wb, t, width, n_b, mean_b)
        _add_pair(a, wa, t, b, wb, t, width, n_3, x_3, y_3)
        if t + 1 < days:
            _add_pair(a, wa, t, a, wa, t + 1, width, n_1, x_1, y_1)
            _add_pair(b, wb, t, b, wb, t + 1, width, n_2, x_2, y_2)
            _add_pair(a, wa, t, b, wb, t + 1, width, n_4, x_4, y_4)
            _add_pair(b, wb, t, a, wa, t + 1, width, n_5, x_5, y_5)
    _to_mean(n_a, mean_a, width)
    _to_mean(n_b, mean_b, width)
    _to_means(n_1, x_1, y_1, width)
    _to_means(n_2, x_2, y_2, width)
    _to_means(n_3, x_3, y_3, width)
    _to_means(n_4, x_4, y_4, width)
    _to_means(n_5, x_5, y_5, width)
    for t in range(days):
        _add_square(a, wa, t, width, mean_a, squares_a)
        _add_square(b, wb, t, width, mean_b, squares_b)
        _add_products(a, wa, t, b, wb, t, width, x_3, y_3, xy_3, xx_3, yy_3)
        if t + 1 < days:
            _add_products(a, wa, t, a, wa, t + 1, width, x_1, y_1, xy_1, xx_1, yy_1)
            _add_products(b, wb, t, b, wb, t + 1, width, x_2, y_2, xy_2, xx_2, yy_2)
            _add_products(a, wa, t, b, wb, t + 1, width, x_4, y_4, xy_4, xx_4, yy_4)
            _add_products(b, wb, t, a, wa, t + 1, width, x_5, y_5, xy_5, xx_5, yy_5)
    _write_moment(n_a, mean_a, squares_a, width, out, row, column)
    _write_pearson(n_1, xy_1, xx_1, yy_1, width, out, row, column + 2)
    _write_moment(n_b, mean_b, squares_b, width, out, row, column + 3)
    _write_pearson(n_2, xy_2, xx_2, yy_2, width, out, row, column + 5)
    _write_pearson(n_3, xy_3, xx_3, yy_3, width, out, row, column + 6)
    _write_pearson(n_4, xy_4, xx_4, yy_4, width, out, row, column + 7)
    _write_pearson(n_5, xy_5, xx_5, yy_5, width, out, row, column + 8)


@numba.njit(cache=True, inline="always")
def _cycle_statistics(pa, wpa, pb, wpb, xa, wxa, xb, wxb, days, width, high, out, row, column, pairs, shares):
    """The cycle's five statistics of a block: pursuit's and withdrawal's four cross-lags, the share flaring.

    ``pa``, ``pb``: each partner's pursuit item, ``xa``, ``xb`` withdrawal (days, LANES), each with its
    weights; ``pairs``: the four correlations' scratch rows; ``shares``: rows for the days entered and flaring.
    """
    (n_1, x_1, y_1, xy_1, xx_1, yy_1), (n_2, x_2, y_2, xy_2, xx_2, yy_2) = pairs[0], pairs[1]
    (n_3, x_3, y_3, xy_3, xx_3, yy_3), (n_4, x_4, y_4, xy_4, xx_4, yy_4) = pairs[2], pairs[3]
    entered, flaring = shares
    for rows in pairs:
        _clear(rows)
    _clear(shares)
    # 1: a's pursuit on b's withdrawal the next day; 2: b's on a's; 3: a's withdrawal on b's pursuit; 4: b's on a's.
    for t in range(days):
        for c in range(width):
            both = wpa[t, c] * wxb[t, c] * wpb[t, c] * wxa[t, c]
            entered[c] += both
            flaring[c] += both * (max(pa[t, c] * xb[t, c], pb[t, c] * xa[t, c]) >= high)
        if t + 1 < days:
            _add_pair(pa, wpa, t, xb, wxb, t + 1, width, n_1, x_1, y_1)
            _add_pair(pb, wpb, t, xa, wxa, t + 1, width, n_2, x_2, y_2)
            _add_pair(xa, wxa, t, pb, wpb, t + 1, width, n_3, x_3, y_3)
            _add_pair(xb, wxb, t, pa, wpa, t + 1, width, n_4, x_4, y_4)
    _to_means(n_1, x_1, y_1, width)
    _to_means(n_2, x_2, y_2, width)
    _to_means(n_3, x_3, y_3, width)
    _to_means(n_4, x_4, y_4, width)
    for t in range(days - 1):
        _add_products(pa, wpa, t, xb, wxb, t + 1, width, x_1, y_1, xy_1, xx_1, yy_1)
        _add_products(pb, wpb, t, xa, wxa, t + 1, width, x_2, y_2, xy_2, xx_2, yy_2)
        _add_products(xa, wxa, t, pb, wpb, t + 1, width, x_3, y_3, xy_3, xx_3, yy_3)
        _add_products(xb, wxb, t, pa, wpa, t + 1, width, x_4, y_4, xy_4, xx_4, yy_4)
    _write_pearson(n_1, xy_1, xx_1, yy_1, width, out, row, column)
    _write_pearson(n_2, xy_2, xx_2, yy_2, width, out, row, column + 1)
    _write_pearson(n_3, xy_3, xx_3, yy_3, width, out, row, column + 2)
    _write_pearson(n_4, xy_4, xx_4, yy_4, width, out, row, column + 3)
    for c in range(width):
        out[row + c, column + 4] = flaring[c] / entered[c] if entered[c] > 0.0 else 0.0


@numba.njit(cache=True, error_model="numpy")
def _daily_statistics(lanes, n, scales, pursuit, withdrawal, high, out):
    """Every daily-item statistic of the first ``n`` couples into ``out``, in :func:`summary_names`' order.

    Returns the number of columns written. ``lanes`` holds the daily items
    in the engine's layout (sim.diary.lanes_of: blocks, items, 2, days,
    LANES), in the items' scales with NaN for entries not made; ``scales``
    (items, 2) holds each scale's ends, so the statistics read every item on
    0-1 as :func:`sim.diary.to_unit` does. ``pursuit`` and ``withdrawal``
    are the items measuring them (-1 if none). A block of LANES couples at a
    time: each item as a value and a weight (1 where an entry was made, 0
    where not) day by day with one couple a column, and each statistic
    computed for the block at once.
    """
    _, items, _, days, _ = lanes.shape
    unit = np.zeros((items, 2, days, LANES))
    weight = np.zeros((items, 2, days, LANES))
    moments = (_moment_rows(), _moment_rows())
    pairs = (_pair_rows(), _pair_rows(), _pair_rows(), _pair_rows(), _pair_rows())
    shares = (np.zeros(LANES), np.zeros(LANES))
    column = 0
    for first in range(0, n, LANES):
        width = min(LANES, n - first)
        block = lanes[first // LANES]
        for k in range(items):
            for r in range(2):
                for t in range(days):
                    for c in range(width):
                        value = (block[k, r, t, c] - scales[k, 0]) / (scales[k, 1] - scales[k, 0])
                        entered = np.isfinite(value)
                        unit[k, r, t, c] = value if entered else 0.0
                        weight[k, r, t, c] = 1.0 if entered else 0.0
        column = 0
        for k in range(items):
            _item_statistics(unit[k, 0], weight[k, 0], unit[k, 1], weight[k, 1], days, width, out, first, column,
                             moments, pairs)
            column += 9
        if pursuit >= 0 and withdrawal >= 0:
            _cycle_statistics(unit[pursuit, 0], weight[pursuit, 0], unit[pursuit, 1], weight[pursuit, 1],
                              unit[withdrawal, 0], weight[withdrawal, 0], unit[withdrawal, 1],
                              weight[withdrawal, 1], days, width, high, out, first, column, pairs[:4], shares)
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
    return _summaries(lanes_of(np.asarray(diaries.daily, dtype=float)), diaries.intake, diaries.lengths,
                      diaries.daily_items, diaries.intake_items, diary)


def _summaries(lanes: np.ndarray, intake: np.ndarray, lengths: np.ndarray, daily_items: list[str],
               intake_items: list[str], diary: DiarySpec) -> np.ndarray:
    """:func:`summaries` of diaries whose daily items are in the engine's layout (sim.diary.lanes_of)."""
    p, w = _measures(diary, "pursuit"), _measures(diary, "withdrawal")
    names = summary_names(diary)
    n = len(lengths)
    out = np.empty((n, len(names)))
    scales = np.array([diary.items[name].scale for name in daily_items], dtype=float).reshape(-1, 2)
    column = _daily_statistics(lanes, n, scales, -1 if p is None or w is None else p,
                               -1 if p is None or w is None else w, P.PARAMETERS["high_intensity"].default, out)
    if n == 0:
        column = len(names) - 2 - 2 * len(intake_items)
    for j, name in enumerate(intake_items):
        value = to_unit(diary, name, intake[..., j])
        out[:, column], out[:, column + 1] = value[:, 0], value[:, 1]
        column += 2
    out[:, column], out[:, column + 1] = lengths, entries_kept(lanes, lengths)
    return out


def simulated_summaries(pop: Population, diary: DiarySpec, lengths: np.ndarray | None = None,
                        missing_rate: np.ndarray | float | None = None, progress=None) -> np.ndarray:
    """``summaries(simulate_diaries(pop, diary, lengths, missing_rate), diary)``, a block of couples at a time.

    The diaries are read inside the engine's day (sim.diary.read_lanes) and
    summarised a block at a time as the engine lays them out, without keeping
    them: what ``cycles fit`` simulates hundreds of thousands of times.
    """
    out = np.empty((pop.n, len(summary_names(diary))))
    first = 0
    for lanes, intake, kept_days in read_lanes(pop, diary, lengths, missing_rate, progress):
        out[first:first + len(kept_days)] = _summaries(lanes, intake, kept_days, diary.daily_items(),
                                                       diary.intake_items(), diary)
        first += len(kept_days)
    return out
