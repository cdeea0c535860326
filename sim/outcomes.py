"""Outcomes of a couple's run, computed on the fly, and its classification.

:class:`CycleTracker` is fed one day at a time with the state of every couple
(arrays of shape ``(couples, 2)``) and keeps only running sums, so memory grows
with the number of couples and not with the number of days. Both drivers (the
Mesa model and the batch engine) feed the same tracker.

Windows: with ``T`` days, the *early* window is days 1..w and the *late*
window days T-w+1..T, with ``w = min(90, ceil(T / 4))``.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import pandas as pd

from sim.dynamics import cycle_intensity

CLASSES = ("escalating", "cycling", "settling", "secure-stable", "dissolved")
WEEKLY = 2.0 / (7 + 1)      # EMA rate with the centre of mass of a 7-day mean
SLOW = 2.0 / (56 + 1)       # EMA rate with the centre of mass of an 8-week mean
PRE_SHOCK_DAYS = 28         # days before a shock that set the baseline distress
ONE_YEAR = 365


def window_length(days: int) -> int:
    """Length of the early and late windows for a run of ``days`` days."""
    return max(1, min(90, math.ceil(days / 4)))


class CycleTracker:
    """Running outcome metrics for ``n`` couples over a run of ``days`` days.

    Args:
        n: number of couples.
        days: length of the run (days 1..days are stepped; day 0 is the start).
        shock_day: (n,) day of each couple's conflict shock, 0 for none.
        initial: the day-0 state, a mapping of field name to (n, 2) arrays.
        thresholds: the classification parameters (see sim.params).
    """

    def __init__(self, n: int, days: int, shock_day, initial: Mapping[str, np.ndarray],
                 thresholds: Mapping[str, Any]):
        self.n, self.days = n, days
        self.window = window_length(days)
        self.late_start = days - self.window + 1
        self.thresholds = dict(thresholds)
        self.shock_day = np.broadcast_to(np.asarray(shock_day, dtype=np.int64), (n,)).copy()
        zeros = np.zeros(n)
        self.start_anxiety = np.array(initial["anxiety"], dtype=float)
        self.start_avoidance = np.array(initial["avoidance"], dtype=float)
        self.anxiety = self.start_anxiety.copy()
        self.avoidance = self.start_avoidance.copy()
        self.anxiety_1y = np.full((n, 2), np.nan)
        self.avoidance_1y = np.full((n, 2), np.nan)
        # Sums for the mean and the least-squares trend of intensity over days together.
        self.count, self.sum_i, self.sum_t, self.sum_ti, self.sum_tt = (zeros.copy() for _ in range(5))
        self.sum_early, self.sum_late, self.count_late = zeros.copy(), zeros.copy(), zeros.copy()
        self.late_sums = {k: np.zeros((n, 2)) for k in ("pursuit", "withdrawal", "distress", "goal_pursuit")}
        self.weekly = zeros.copy()
        self.slow = zeros.copy()
        self.peak = zeros.copy()
        self.late_peak = zeros.copy()
        self.swing_side = np.zeros(n, dtype=np.int8)
        self.swings = np.zeros(n, dtype=np.int64)
        distress = np.asarray(initial["distress"]).mean(axis=1)
        self.weekly_distress = distress.copy()
        self.pre_shock_sum, self.pre_shock_count = zeros.copy(), zeros.copy()
        self.settle_days = np.full(n, np.nan)
        self.dissolution_day = np.full(n, np.nan)

    def update(self, day: int, state: Mapping[str, np.ndarray], together: np.ndarray) -> None:
        """Add day ``day``'s state; ``together`` (n,) is False once a couple has dissolved.

        ``together`` means the couple was together at the start of the day,
        i.e. the day was lived as a couple.
        """
        pursuit, withdrawal = state["pursuit"], state["withdrawal"]
        intensity = cycle_intensity(pursuit[:, 0], withdrawal[:, 0], pursuit[:, 1], withdrawal[:, 1])
        live = np.asarray(together, dtype=bool)
        w = live.astype(float)
        self.count += w
        self.sum_i += w * intensity
        self.sum_t += w * day
        self.sum_ti += w * day * intensity
        self.sum_tt += w * day * day
        if day <= self.window:
            self.sum_early += w * intensity
        self.weekly = np.where(live, self.weekly + WEEKLY * (intensity - self.weekly), self.weekly)
        self.slow = np.where(live, self.slow + SLOW * (intensity - self.slow), self.slow)
        self.peak = np.maximum(self.peak, self.weekly)
        if day >= self.late_start:
            self.sum_late += w * intensity
            self.count_late += w
            for key, total in self.late_sums.items():
                total += w[:, None] * state[key]
            self.late_peak = np.maximum(self.late_peak, np.where(live, self.weekly, 0.0))
            margin = self.thresholds["swing_margin"]
            side = np.where(self.weekly > self.slow + margin, 1,
                            np.where(self.weekly < self.slow - margin, -1, 0)).astype(np.int8)
            crossed = live & (side != 0) & (self.swing_side != 0) & (side != self.swing_side)
            self.swings += crossed
            self.swing_side = np.where(live & (side != 0), side, self.swing_side)
        self.anxiety = np.where(live[:, None], state["anxiety"], self.anxiety)
        self.avoidance = np.where(live[:, None], state["avoidance"], self.avoidance)
        if day == ONE_YEAR:
            self.anxiety_1y, self.avoidance_1y = self.anxiety.copy(), self.avoidance.copy()

        distress = state["distress"].mean(axis=1)
        self.weekly_distress = np.where(live, self.weekly_distress
                                        + WEEKLY * (distress - self.weekly_distress), self.weekly_distress)
        shocked = self.shock_day > 0
        before = shocked & live & (day < self.shock_day) & (day >= self.shock_day - PRE_SHOCK_DAYS)
        self.pre_shock_sum += np.where(before, distress, 0.0)
        self.pre_shock_count += before
        baseline = self.pre_shock_sum / np.maximum(self.pre_shock_count, 1)
        calm = self.weekly_distress <= baseline + self.thresholds["settle_tolerance"]
        first = shocked & live & (day > self.shock_day) & np.isnan(self.settle_days) & calm
        self.settle_days = np.where(first, day - self.shock_day, self.settle_days)

    def dissolve(self, day: int, dissolving: np.ndarray) -> None:
        """Record that the couples in the mask ``dissolving`` split up on ``day``."""
        self.dissolution_day = np.where(dissolving & np.isnan(self.dissolution_day), day, self.dissolution_day)

    def summary(self) -> pd.DataFrame:
        """One row per couple: every outcome metric and the classification."""
        count = np.maximum(self.count, 1)
        mean_t = self.sum_t / count
        var_t = self.sum_tt / count - mean_t ** 2
        cov = self.sum_ti / count - mean_t * (self.sum_i / count)
        trend = np.where(var_t > 0, cov / np.where(var_t > 0, var_t, 1.0), 0.0) * ONE_YEAR
        late_count = np.maximum(self.count_late, 1)
        out: dict[str, Any] = {
            "intensity_mean": self.sum_i / count,
            "intensity_early": self.sum_early / np.minimum(count, self.window),
            "intensity_late": np.where(self.count_late > 0, self.sum_late / late_count, np.nan),
            "intensity_peak": self.peak,
            "intensity_trend": trend,
            "swings": self.swings,
            "settle_days": self.settle_days,
            "dissolved": ~np.isnan(self.dissolution_day),
            "dissolution_day": self.dissolution_day,
        }
        for col, role in enumerate("ab"):
            for key, total in self.late_sums.items():
                out[f"{key}_late_{role}"] = np.where(self.count_late > 0, total[:, col] / late_count, np.nan)
            out[f"anxiety_change_{role}"] = self.anxiety[:, col] - self.start_anxiety[:, col]
            out[f"avoidance_change_{role}"] = self.avoidance[:, col] - self.start_avoidance[:, col]
            out[f"anxiety_change_1y_{role}"] = self.anxiety_1y[:, col] - self.start_anxiety[:, col]
            out[f"avoidance_change_1y_{role}"] = self.avoidance_1y[:, col] - self.start_avoidance[:, col]
        frame = pd.DataFrame(out)
        frame["classification"] = classify(frame, self.late_peak, self.thresholds)
        return frame


def classify(metrics: pd.DataFrame, late_peak: np.ndarray, thresholds: Mapping[str, Any]) -> np.ndarray:
    """Label each couple's run.

    In order: ``dissolved`` if the couple split up; ``secure-stable`` if the
    weekly intensity never reached ``quiet_intensity``; ``cycling`` if, in the
    late window, the weekly intensity swung across its slow average at least
    ``oscillation_swings`` times and peaked at ``high_intensity`` or more;
    ``escalating`` if the late-window mean is at least ``high_intensity``, or
    the trend is at least ``rising_trend`` per year and the late mean exceeds
    the early mean; otherwise ``settling``.
    """
    late = metrics["intensity_late"].to_numpy()
    early = metrics["intensity_early"].to_numpy()
    high = thresholds["high_intensity"]
    escalating = (late >= high) | ((metrics["intensity_trend"].to_numpy() >= thresholds["rising_trend"])
                                   & (late > early))
    cycling = (metrics["swings"].to_numpy() >= thresholds["oscillation_swings"]) & (late_peak >= high)
    label = np.where(cycling, "cycling", np.where(escalating, "escalating", "settling"))
    label = np.where(metrics["intensity_peak"].to_numpy() < thresholds["quiet_intensity"], "secure-stable", label)
    return np.where(metrics["dissolved"].to_numpy(), "dissolved", label).astype(object)
