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

import numpy as np

from sim import params as P
from sim.diary import Diaries, to_unit
from sim.experiment.spec import DiarySpec
from sim.selectors import ROLES


def _nanmean(x: np.ndarray, axis: int) -> np.ndarray:
    count = np.isfinite(x).sum(axis=axis)
    return np.where(count > 0, np.nansum(x, axis=axis) / np.maximum(count, 1), 0.0)


def correlation(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation along the last axis over positions where both are entered; 0 where undefined."""
    both = np.isfinite(x) & np.isfinite(y)
    count = both.sum(axis=-1)
    x0, y0 = np.where(both, x, 0.0), np.where(both, y, 0.0)
    mx = x0.sum(axis=-1) / np.maximum(count, 1)
    my = y0.sum(axis=-1) / np.maximum(count, 1)
    dx = np.where(both, x0 - mx[..., None], 0.0)
    dy = np.where(both, y0 - my[..., None], 0.0)
    sxy, sxx, syy = (dx * dy).sum(-1), (dx * dx).sum(-1), (dy * dy).sum(-1)
    ok = (count >= 3) & (sxx > 1e-12) & (syy > 1e-12)
    return np.where(ok, sxy / np.sqrt(np.where(ok, sxx * syy, 1.0)), 0.0)


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
    columns = []
    unit = np.stack([to_unit(diary, name, diaries.daily[..., k]) for k, name in enumerate(diaries.daily_items)],
                    axis=-1) if diaries.daily_items else diaries.daily      # (n, 2, days, items)
    for k in range(unit.shape[-1]):
        x = unit[..., k]                                           # (n, 2, days)
        mean = _nanmean(x, axis=-1)
        sd = np.sqrt(np.maximum(_nanmean((x - mean[..., None]) ** 2, axis=-1), 0.0))
        lag = correlation(x[..., :-1], x[..., 1:])
        for r in range(2):
            columns += [mean[:, r], sd[:, r], lag[:, r]]
        columns += [correlation(x[:, 0], x[:, 1]), correlation(x[:, 0, :-1], x[:, 1, 1:]),
                    correlation(x[:, 1, :-1], x[:, 0, 1:])]
    p, w = _measures(diary, "pursuit"), _measures(diary, "withdrawal")
    if p is not None and w is not None:
        pursuit, withdrawal = unit[..., p], unit[..., w]
        columns += [correlation(pursuit[:, 0, :-1], withdrawal[:, 1, 1:]),
                    correlation(pursuit[:, 1, :-1], withdrawal[:, 0, 1:]),
                    correlation(withdrawal[:, 0, :-1], pursuit[:, 1, 1:]),
                    correlation(withdrawal[:, 1, :-1], pursuit[:, 0, 1:])]
        intensity = np.maximum(pursuit[:, 0] * withdrawal[:, 1], pursuit[:, 1] * withdrawal[:, 0])
        flare = np.where(np.isfinite(intensity), intensity >= P.PARAMETERS["high_intensity"].default, np.nan)
        columns.append(_nanmean(flare, axis=-1))
    for j, name in enumerate(diaries.intake_items):
        value = to_unit(diary, name, diaries.intake[..., j])
        columns += [value[:, 0], value[:, 1]]
    columns += [diaries.lengths.astype(float), diaries.kept]
    return np.stack(columns, axis=1)
