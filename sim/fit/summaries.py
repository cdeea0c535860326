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


# The statistics' sums may be added in any order (a difference of 1e-15), so the compiler can use SIMD;
# entries not made are weight 0 and value 0 by then, so there is no NaN for "nnan" to mistake.
SUMS_IN_ANY_ORDER = {"reassoc", "nsz", "contract", "nnan", "ninf"}


@numba.njit(cache=True, fastmath=SUMS_IN_ANY_ORDER)
def _weighted_pearson(x, wx, y, wy):
    """Pearson correlation over positions where both weights are 1 (0 marks an entry not made); 0 if undefined."""
    count = sx = sy = 0.0
    for t in range(x.shape[0]):
        both = wx[t] * wy[t]
        count += both
        sx += both * x[t]
        sy += both * y[t]
    if count < 3.0:
        return 0.0
    mx, my = sx / count, sy / count
    sxy = sxx = syy = 0.0
    for t in range(x.shape[0]):
        both = wx[t] * wy[t]
        dx, dy = (x[t] - mx) * both, (y[t] - my) * both
        sxy += dx * dy
        sxx += dx * dx
        syy += dy * dy
    if sxx <= CONSTANT_SUM_OF_SQUARES or syy <= CONSTANT_SUM_OF_SQUARES:
        return 0.0
    return sxy / np.sqrt(sxx * syy)


@numba.njit(cache=True, fastmath=SUMS_IN_ANY_ORDER)
def _weighted_mean_and_sd(x, w):
    """Mean and (population) SD over the positions with weight 1; 0 and 0 when there are none."""
    count = total = 0.0
    for t in range(x.shape[0]):
        count += w[t]
        total += w[t] * x[t]
    if count == 0.0:
        return 0.0, 0.0
    mean = total / count
    squares = 0.0
    for t in range(x.shape[0]):
        squares += w[t] * (x[t] - mean) ** 2
    return mean, np.sqrt(squares / count)


@numba.njit(cache=True)
def _pearson_rows(x, wx, y, wy, out):
    for i in range(x.shape[0]):
        out[i] = _weighted_pearson(x[i], wx[i], y[i], wy[i])


def correlation(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation along the last axis over positions where both are entered; 0 where undefined."""
    x, y = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    shape = x.shape[:-1]
    x, y = x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1])
    wx, wy = np.isfinite(x).astype(float), np.isfinite(y).astype(float)
    out = np.empty(x.shape[0])
    _pearson_rows(np.where(wx > 0, x, 0.0), wx, np.where(wy > 0, y, 0.0), wy, out)
    return out.reshape(shape)


@numba.njit(cache=True, inline="always")
def couple_statistics(daily, scales, pursuit, withdrawal, high, unit, weight, out):
    """Every daily-item statistic of one couple, in :func:`summary_names`' order, into ``out``.

    ``daily`` is the couple's (2, days, items) in the items' scales with NaN
    for entries not made; ``scales`` (items, 2) holds each scale's ends, so the
    statistics read every item on 0-1 as :func:`sim.diary.to_unit` does.
    ``pursuit`` and ``withdrawal`` are the items measuring them (-1 if none);
    ``unit`` and ``weight`` are (items, 2, days) scratch arrays. Returns the
    number of columns written.
    """
    _, days, items = daily.shape
    for k in range(items):
        for r in range(2):
            for t in range(days):
                value = (daily[r, t, k] - scales[k, 0]) / (scales[k, 1] - scales[k, 0])
                entered = np.isfinite(value)
                unit[k, r, t] = value if entered else 0.0       # each partner's item a contiguous run of days
                weight[k, r, t] = 1.0 if entered else 0.0       # 1 where an entry was made, 0 where not
    column = 0
    for k in range(items):
        a, b, wa, wb = unit[k, 0], unit[k, 1], weight[k, 0], weight[k, 1]
        for x, w in ((a, wa), (b, wb)):
            mean, sd = _weighted_mean_and_sd(x, w)
            out[column] = mean
            out[column + 1] = sd
            out[column + 2] = _weighted_pearson(x[:-1], w[:-1], x[1:], w[1:])
            column += 3
        out[column] = _weighted_pearson(a, wa, b, wb)
        out[column + 1] = _weighted_pearson(a[:-1], wa[:-1], b[1:], wb[1:])
        out[column + 2] = _weighted_pearson(b[:-1], wb[:-1], a[1:], wa[1:])
        column += 3
    if pursuit >= 0 and withdrawal >= 0:
        pa, pb, wpa, wpb = unit[pursuit, 0], unit[pursuit, 1], weight[pursuit, 0], weight[pursuit, 1]
        wa, wb, wwa, wwb = unit[withdrawal, 0], unit[withdrawal, 1], weight[withdrawal, 0], weight[withdrawal, 1]
        out[column] = _weighted_pearson(pa[:-1], wpa[:-1], wb[1:], wwb[1:])
        out[column + 1] = _weighted_pearson(pb[:-1], wpb[:-1], wa[1:], wwa[1:])
        out[column + 2] = _weighted_pearson(wa[:-1], wwa[:-1], pb[1:], wpb[1:])
        out[column + 3] = _weighted_pearson(wb[:-1], wwb[:-1], pa[1:], wpa[1:])
        entered = flaring = 0.0
        for t in range(days):
            both = wpa[t] * wwb[t] * wpb[t] * wwa[t]
            entered += both
            flaring += both * (max(pa[t] * wb[t], pb[t] * wa[t]) >= high)
        out[column + 4] = flaring / entered if entered > 0.0 else 0.0
        column += 5
    return column


@numba.njit(cache=True)
def _daily_statistics(daily, scales, pursuit, withdrawal, high, out):
    """:func:`couple_statistics` of every couple of ``daily`` (couples, 2, days, items); returns the columns written."""
    n, _, days, items = daily.shape
    unit = np.empty((items, 2, days))
    weight = np.empty((items, 2, days))
    column = 0
    for c in range(n):
        column = couple_statistics(daily[c], scales, pursuit, withdrawal, high, unit, weight, out[c])
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


def _daily_arguments(diary: DiarySpec, items: list[str]) -> tuple:
    """What the statistics need to know of the daily items: their scales and which measure pursuit and withdrawal."""
    p, w = _measures(diary, "pursuit"), _measures(diary, "withdrawal")
    scales = np.array([diary.items[name].scale for name in items], dtype=float).reshape(-1, 2)
    both = p is not None and w is not None
    return scales, p if both else -1, w if both else -1, P.PARAMETERS["high_intensity"].default


def _intake_and_design(out: np.ndarray, column: int, diary: DiarySpec, intake: np.ndarray, intake_items: list[str],
                       lengths: np.ndarray, kept: np.ndarray) -> None:
    """The statistics after the daily items': each intake item of each partner, the diary's length and share kept."""
    for j, name in enumerate(intake_items):
        value = to_unit(diary, name, intake[..., j])
        out[:, column], out[:, column + 1] = value[:, 0], value[:, 1]
        column += 2
    out[:, column], out[:, column + 1] = lengths, kept


def summaries(diaries: Diaries, diary: DiarySpec) -> np.ndarray:
    """The statistics of :func:`summary_names` for every couple: ``(couples, statistics)``."""
    names = summary_names(diary)
    out = np.empty((diaries.n, len(names)))
    column = _daily_statistics(np.ascontiguousarray(diaries.daily, dtype=float),
                               *_daily_arguments(diary, diaries.daily_items), out)
    if diaries.n == 0:
        column = len(names) - 2 - 2 * len(diaries.intake_items)
    _intake_and_design(out, column, diary, diaries.intake, diaries.intake_items, diaries.lengths, diaries.kept)
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
