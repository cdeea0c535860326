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
from sim.diary import Diaries, block_entries_kept, lanes_of, read_lanes, to_unit
from sim.experiment.spec import DiarySpec
from sim.kernel import LANES
from sim.population import Population
from sim.selectors import ROLES

# Below this sum of squares an item counts as constant: its correlations are "no association".
CONSTANT_SUM_OF_SQUARES = 1e-12


# Couples summarised side by side, LANES of them (the engine's blocks: it stores its readings in them,
# sim.kernel.DiaryItems, so a block's diaries are read as they are): each statistic is worked out for a block
# at once, one couple a SIMD lane, its sums over the diary's days taken day by day in each lane.


# A block's sums for its statistics, one row of LANES each, in one array ``sums`` and addressed by row number:
# with the rows a constant LANES apart the compiler knows that the rows it writes do not overlap, and it keeps
# one pointer for all of them instead of one per row (which did not fit in the registers). A mean and SD take
# three rows from ``row`` (days entered, the sum and then the mean, the sum of squares), a correlation six (days
# both entered, the two sums and then the means, the three sums of products).
MOMENT_ROWS, PAIR_ROWS = 3, 6
# Each statistic takes two passes over the days, both in day order: the sums giving the means, then the sums of
# deviations from them. Every statistic of the same items is worked out in the same passes, so their days are
# read from memory once for all of them, and the functions below add ``span`` days' terms to a lane's sums
# while they are in registers (``span`` a constant, DAYS_AT_ONCE or 1 for the last days, whose loop the
# compiler unrolls), in the order one day at a time would: the same sums, loaded and stored a quarter as often.
DAYS_AT_ONCE = 4


@numba.njit(cache=True, inline="always")
def _add_moment(x, w, t, span, width, sums, row):
    count, total = row * LANES, (row + 1) * LANES
    for c in range(width):
        entered, sum_x = sums[count + c], sums[total + c]
        for d in range(span):
            entered += w[t + d, c]
            sum_x += w[t + d, c] * x[t + d, c]
        sums[count + c], sums[total + c] = entered, sum_x


@numba.njit(cache=True, inline="always")
def _add_square(x, w, t, span, width, sums, row):
    mean, squares = (row + 1) * LANES, (row + 2) * LANES
    for c in range(width):
        sum_squares = sums[squares + c]
        for d in range(span):
            sum_squares += w[t + d, c] * (x[t + d, c] - sums[mean + c]) ** 2
        sums[squares + c] = sum_squares


@numba.njit(cache=True, inline="always")
def _to_mean(sums, row, width):
    count, total = row * LANES, (row + 1) * LANES
    for c in range(width):
        sums[total + c] = sums[total + c] / sums[count + c] if sums[count + c] > 0.0 else 0.0


@numba.njit(cache=True, inline="always")
def _write_moment(sums, row, width, out, first, column):
    """Mean and (population) SD of each lane over the days entered, into ``out`` (0 and 0 if none)."""
    count, mean, squares = row * LANES, (row + 1) * LANES, (row + 2) * LANES
    for c in range(width):
        out[first + c, column] = sums[mean + c]
        out[first + c, column + 1] = np.sqrt(sums[squares + c] / sums[count + c]) if sums[count + c] > 0.0 else 0.0


@numba.njit(cache=True, inline="always")
def _add_pair(x, wx, tx, y, wy, ty, span, width, sums, row):
    count, sx, sy = row * LANES, (row + 1) * LANES, (row + 2) * LANES
    for c in range(width):
        both_entered, sum_x, sum_y = sums[count + c], sums[sx + c], sums[sy + c]
        for d in range(span):
            both = wx[tx + d, c] * wy[ty + d, c]
            both_entered += both
            sum_x += both * x[tx + d, c]
            sum_y += both * y[ty + d, c]
        sums[count + c], sums[sx + c], sums[sy + c] = both_entered, sum_x, sum_y


@numba.njit(cache=True, inline="always")
def _add_products(x, wx, tx, y, wy, ty, span, width, sums, row):
    mx, my, sxy, sxx, syy = (row + 1) * LANES, (row + 2) * LANES, (row + 3) * LANES, (row + 4) * LANES, \
        (row + 5) * LANES
    for c in range(width):
        sum_xy, sum_xx, sum_yy = sums[sxy + c], sums[sxx + c], sums[syy + c]
        for d in range(span):
            both = wx[tx + d, c] * wy[ty + d, c]
            dx = (x[tx + d, c] - sums[mx + c]) * both
            dy = (y[ty + d, c] - sums[my + c]) * both
            sum_xy += dx * dy
            sum_xx += dx * dx
            sum_yy += dy * dy
        sums[sxy + c], sums[sxx + c], sums[syy + c] = sum_xy, sum_xx, sum_yy


@numba.njit(cache=True, inline="always")
def _to_means(sums, row, width):
    count, sx, sy = row * LANES, (row + 1) * LANES, (row + 2) * LANES
    for c in range(width):
        sums[sx + c] = sums[sx + c] / sums[count + c] if sums[count + c] > 0.0 else 0.0
        sums[sy + c] = sums[sy + c] / sums[count + c] if sums[count + c] > 0.0 else 0.0


@numba.njit(cache=True, inline="always")
def _write_pearson(sums, row, width, out, first, column):
    """Each lane's Pearson correlation over the days both entered: 0 with fewer than 3 or a constant series."""
    count, sxy, sxx, syy = row * LANES, (row + 3) * LANES, (row + 4) * LANES, (row + 5) * LANES
    for c in range(width):
        constant = sums[sxx + c] <= CONSTANT_SUM_OF_SQUARES or sums[syy + c] <= CONSTANT_SUM_OF_SQUARES
        defined = sums[count + c] >= 3.0 and not constant
        out[first + c, column] = sums[sxy + c] / np.sqrt(sums[sxx + c] * sums[syy + c]) if defined else 0.0


@numba.njit(cache=True, error_model="numpy")
def _pearson_rows(x, wx, y, wy, out):
    """Each row's Pearson correlation of ``x`` with ``y`` (rows, days) over the days both entered (weight 1).

    Into ``out`` (rows, 1); 0 with fewer than 3 such days or a constant series (no association).
    """
    n, days = x.shape
    xs, wxs, ys, wys = (np.zeros((days, LANES)), np.zeros((days, LANES)), np.zeros((days, LANES)),
                        np.zeros((days, LANES)))
    sums = np.zeros(PAIR_ROWS * LANES)
    for first in range(0, n, LANES):
        width = min(LANES, n - first)
        for t in range(days):
            for c in range(width):
                xs[t, c], wxs[t, c] = x[first + c, t], wx[first + c, t]
                ys[t, c], wys[t, c] = y[first + c, t], wy[first + c, t]
        sums[:] = 0.0
        for t in range(days):
            _add_pair(xs, wxs, t, ys, wys, t, 1, width, sums, 0)
        _to_means(sums, 0, width)
        for t in range(days):
            _add_products(xs, wxs, t, ys, wys, t, 1, width, sums, 0)
        _write_pearson(sums, 0, width, out, first, 0)


def correlation(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation along the last axis over positions where both are entered; 0 where undefined."""
    x, y = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    shape = x.shape[:-1]
    x, y = x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1])
    wx, wy = np.isfinite(x).astype(float), np.isfinite(y).astype(float)
    out = np.empty((x.shape[0], 1))
    _pearson_rows(np.where(wx > 0, x, 0.0), wx, np.where(wy > 0, y, 0.0), wy, out)
    return out.reshape(shape)


# The rows of an item's statistics: each partner's mean and SD, then five correlations: each partner's lag-1
# (a's day with a's next day, then b's), the same day's (a with b), and the cross-lags (a's day with b's next
# day, then b's with a's).
MOMENT_A, MOMENT_B = 0, MOMENT_ROWS
LAG_A, LAG_B, SAME_DAY, A_TO_B, B_TO_A = (2 * MOMENT_ROWS + j * PAIR_ROWS for j in range(5))
ITEM_ROWS = 2 * MOMENT_ROWS + 5 * PAIR_ROWS
# The cycle's: the four cross-lags (a's pursuit with b's withdrawal the next day, b's with a's, a's withdrawal
# with b's pursuit the next day, b's with a's), then the days all four items were entered and those flaring.
CROSS_LAGS = tuple(j * PAIR_ROWS for j in range(4))
ENTERED, FLARING = 4 * PAIR_ROWS, 4 * PAIR_ROWS + 1
assert FLARING < ITEM_ROWS, "the cycle's statistics use the item's sums"


@numba.njit(cache=True, inline="always")
def _moment_terms(x, w, t, span, width, sums, row, deviations):
    """A mean and SD's terms of days ``t .. t + span - 1``: the first pass's, or with ``deviations`` the second's."""
    if deviations:
        _add_square(x, w, t, span, width, sums, row)
    else:
        _add_moment(x, w, t, span, width, sums, row)


@numba.njit(cache=True, inline="always")
def _pair_terms(x, wx, tx, y, wy, ty, span, width, sums, row, deviations):
    """A correlation's terms of ``span`` days: the first pass's, or with ``deviations`` the second's."""
    if deviations:
        _add_products(x, wx, tx, y, wy, ty, span, width, sums, row)
    else:
        _add_pair(x, wx, tx, y, wy, ty, span, width, sums, row)


@numba.njit(cache=True, inline="always")
def _item_terms(a, wa, b, wb, t, span, width, sums, lagged, deviations):
    """One daily item's terms of days ``t .. t + span - 1`` in either pass (the lagged statistics' if ``lagged``)."""
    _moment_terms(a, wa, t, span, width, sums, MOMENT_A, deviations)
    _moment_terms(b, wb, t, span, width, sums, MOMENT_B, deviations)
    _pair_terms(a, wa, t, b, wb, t, span, width, sums, SAME_DAY, deviations)
    if lagged:
        _pair_terms(a, wa, t, a, wa, t + 1, span, width, sums, LAG_A, deviations)
        _pair_terms(b, wb, t, b, wb, t + 1, span, width, sums, LAG_B, deviations)
        _pair_terms(a, wa, t, b, wb, t + 1, span, width, sums, A_TO_B, deviations)
        _pair_terms(b, wb, t, a, wa, t + 1, span, width, sums, B_TO_A, deviations)


@numba.njit(cache=True, inline="always")
def _item_pass(a, wa, b, wb, days, width, sums, deviations):
    """One pass over an item's days.

    Days 0 .. days - 2 take part in all its statistics, the last day only in the moments and the same day's.
    """
    lagged = max(days - 1, 0)
    blocked = lagged - lagged % DAYS_AT_ONCE
    for t in range(0, blocked, DAYS_AT_ONCE):
        _item_terms(a, wa, b, wb, t, DAYS_AT_ONCE, width, sums, True, deviations)
    for t in range(blocked, days):
        _item_terms(a, wa, b, wb, t, 1, width, sums, t < lagged, deviations)


@numba.njit(cache=True, inline="always")
def _item_statistics(a, wa, b, wb, days, width, out, first, column, sums):
    """One daily item's nine statistics of a block: each partner's mean, SD and lag-1 r, then the dyad's three.

    ``a``, ``wa``, ``b``, ``wb``: each partner's values and weights (days, LANES); ``sums``: ITEM_ROWS rows.
    """
    sums[:] = 0.0
    _item_pass(a, wa, b, wb, days, width, sums, False)
    _to_mean(sums, MOMENT_A, width)
    _to_mean(sums, MOMENT_B, width)
    for row in (LAG_A, LAG_B, SAME_DAY, A_TO_B, B_TO_A):
        _to_means(sums, row, width)
    _item_pass(a, wa, b, wb, days, width, sums, True)
    _write_moment(sums, MOMENT_A, width, out, first, column)
    _write_pearson(sums, LAG_A, width, out, first, column + 2)
    _write_moment(sums, MOMENT_B, width, out, first, column + 3)
    _write_pearson(sums, LAG_B, width, out, first, column + 5)
    _write_pearson(sums, SAME_DAY, width, out, first, column + 6)
    _write_pearson(sums, A_TO_B, width, out, first, column + 7)
    _write_pearson(sums, B_TO_A, width, out, first, column + 8)


@numba.njit(cache=True, inline="always")
def _cycle_terms(pa, wpa, pb, wpb, xa, wxa, xb, wxb, t, span, width, sums, deviations):
    """The four cross-lags' terms of days ``t .. t + span - 1`` in either pass (see :func:`_cycle_statistics`)."""
    p_a_to_w_b, p_b_to_w_a, w_a_to_p_b, w_b_to_p_a = CROSS_LAGS
    _pair_terms(pa, wpa, t, xb, wxb, t + 1, span, width, sums, p_a_to_w_b, deviations)
    _pair_terms(pb, wpb, t, xa, wxa, t + 1, span, width, sums, p_b_to_w_a, deviations)
    _pair_terms(xa, wxa, t, pb, wpb, t + 1, span, width, sums, w_a_to_p_b, deviations)
    _pair_terms(xb, wxb, t, pa, wpa, t + 1, span, width, sums, w_b_to_p_a, deviations)


@numba.njit(cache=True, inline="always")
def _cycle_pass(pa, wpa, pb, wpb, xa, wxa, xb, wxb, days, width, sums, deviations):
    """One pass over the days of the four cross-lags (days 0 .. days - 2)."""
    lagged = max(days - 1, 0)
    blocked = lagged - lagged % DAYS_AT_ONCE
    for t in range(0, blocked, DAYS_AT_ONCE):
        _cycle_terms(pa, wpa, pb, wpb, xa, wxa, xb, wxb, t, DAYS_AT_ONCE, width, sums, deviations)
    for t in range(blocked, lagged):
        _cycle_terms(pa, wpa, pb, wpb, xa, wxa, xb, wxb, t, 1, width, sums, deviations)


@numba.njit(cache=True, inline="always")
def _cycle_statistics(pa, wpa, pb, wpb, xa, wxa, xb, wxb, days, width, high, out, first, column, sums):
    """The cycle's five statistics of a block: pursuit's and withdrawal's four cross-lags, the share flaring.

    ``pa``, ``pb``: each partner's pursuit item, ``xa``, ``xb`` withdrawal (days, LANES), each with its
    weights; ``sums``: at least ITEM_ROWS rows.
    """
    sums[:] = 0.0
    entered, flaring = ENTERED * LANES, FLARING * LANES
    for t in range(days):
        for c in range(width):
            both = wpa[t, c] * wxb[t, c] * wpb[t, c] * wxa[t, c]
            sums[entered + c] += both
            sums[flaring + c] += both * (max(pa[t, c] * xb[t, c], pb[t, c] * xa[t, c]) >= high)
    _cycle_pass(pa, wpa, pb, wpb, xa, wxa, xb, wxb, days, width, sums, False)
    for row in CROSS_LAGS:
        _to_means(sums, row, width)
    _cycle_pass(pa, wpa, pb, wpb, xa, wxa, xb, wxb, days, width, sums, True)
    for j, row in enumerate(CROSS_LAGS):
        _write_pearson(sums, row, width, out, first, column + j)
    for c in range(width):
        out[first + c, column + 4] = sums[flaring + c] / sums[entered + c] if sums[entered + c] > 0.0 else 0.0


@numba.njit(cache=True, error_model="numpy")
def _daily_statistics(lanes, n, scales, pursuit, withdrawal, high, lengths, out):
    """Every daily-item statistic of the first ``n`` couples into ``out``, in :func:`summary_names`' order.

    Returns the number of columns written from the first, not counting the
    share of entries kept (sim.diary.block_entries_kept, from ``lengths``),
    which goes into the last column, read from the block while it is in the
    cache. ``lanes`` holds the daily items
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
    sums = np.zeros(ITEM_ROWS * LANES)
    made, entered = np.zeros(LANES), np.zeros(LANES)
    column = 0
    for first in range(0, n, LANES):
        width = min(LANES, n - first)
        block = lanes[first // LANES]
        for k in range(items):
            for r in range(2):
                for t in range(days):
                    for c in range(width):
                        value = (block[k, r, t, c] - scales[k, 0]) / (scales[k, 1] - scales[k, 0])
                        made_entry = np.isfinite(value)
                        unit[k, r, t, c] = value if made_entry else 0.0
                        weight[k, r, t, c] = 1.0 if made_entry else 0.0
        block_entries_kept(block, width, lengths, first, out, out.shape[1] - 1, made, entered)
        column = 0
        for k in range(items):
            _item_statistics(unit[k, 0], weight[k, 0], unit[k, 1], weight[k, 1], days, width, out, first, column,
                             sums)
            column += 9
        if pursuit >= 0 and withdrawal >= 0:
            _cycle_statistics(unit[pursuit, 0], weight[pursuit, 0], unit[pursuit, 1], weight[pursuit, 1],
                              unit[withdrawal, 0], weight[withdrawal, 0], unit[withdrawal, 1],
                              weight[withdrawal, 1], days, width, high, out, first, column, sums)
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
    lengths = np.asarray(lengths, dtype=np.int64)
    column = _daily_statistics(lanes, n, scales, -1 if p is None or w is None else p,
                               -1 if p is None or w is None else w, P.PARAMETERS["high_intensity"].default,
                               lengths, out)
    if n == 0:
        column = len(names) - 2 - 2 * len(intake_items)
    for j, name in enumerate(intake_items):
        value = to_unit(diary, name, intake[..., j])
        out[:, column], out[:, column + 1] = value[:, 0], value[:, 1]
        column += 2
    assert column == out.shape[1] - 2, "the diary's length and the share of entries kept come last"
    out[:, column] = lengths        # and the share of entries kept, in the last column
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
