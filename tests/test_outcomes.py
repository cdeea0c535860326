"""The outcome tracker and classification, on constructed series with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from sim.outcomes import CycleTracker, DailyAggregates, histogram_counts, window_length
from sim.params import defaults


def feed(pursuit_a, withdrawal_b, distress=None, shock_day=0, dissolve_on=None):
    """Run a tracker over one couple whose partner a pursues and partner b withdraws as given."""
    days = len(pursuit_a)
    zeros = np.zeros((1, 2))
    initial = {"anxiety": zeros + 4, "avoidance": zeros + 4, "distress": zeros + 0.2}
    tracker = CycleTracker(1, days, [shock_day], initial, defaults("classification"))
    together = np.array([True])
    for day in range(1, days + 1):
        state = {
            "pursuit": np.array([[pursuit_a[day - 1], 0.0]]),
            "withdrawal": np.array([[0.0, withdrawal_b[day - 1]]]),
            "distress": np.full((1, 2), 0.2 if distress is None else distress[day - 1]),
            "goal_pursuit": zeros + 0.5, "anxiety": zeros + 4, "avoidance": zeros + 4,
        }
        tracker.update(day, state, together)
        if dissolve_on == day:
            tracker.dissolve(day, np.array([True]))
            together = np.array([False])
    return tracker.summary({"anxiety": zeros + 4, "avoidance": zeros + 4}).iloc[0]


def test_window_length():
    assert window_length(365) == 90 and window_length(100) == 25 and window_length(2) == 1


def test_constant_high_cycle_is_escalating_and_intensity_is_product():
    row = feed(np.full(365, 0.8), np.full(365, 0.7))
    assert row["intensity_mean"] == pytest.approx(0.56)
    assert abs(row["intensity_trend"]) < 1e-9
    assert row["classification"] == "escalating"


def test_rising_cycle_has_positive_trend_and_escalates():
    ramp = np.linspace(0.1, 0.4, 365)
    row = feed(ramp, ramp)
    assert row["intensity_trend"] > 0.1
    assert row["classification"] == "escalating"


def test_oscillating_cycle_is_cycling():
    """A cycle that flares for a fortnight and calms for a fortnight, all year: twelve flare-ups, each ended."""
    days = np.arange(365)
    wave = 0.5 + 0.45 * np.sign(np.sin(2 * np.pi * days / 30))
    row = feed(wave, wave)
    assert row["flare_ups"] == 13 and row["calmed_flare_ups"] == 12     # the last one still going on day 365
    assert 0.5 < row["flare_days_share"] < 0.75      # half the days, and the weekly average lags a few
    assert row["calm_days_late"] > 0
    assert row["classification"] == "cycling"


def test_one_flare_up_that_never_ends_is_escalating_not_cycling():
    steady = np.concatenate([np.full(30, 0.0), np.full(335, 0.7)])
    row = feed(steady, steady)
    assert row["flare_ups"] == 1 and row["calmed_flare_ups"] == 0 and row["calm_days_late"] == 0
    assert row["classification"] == "escalating"


def test_hysteresis_noise_around_one_level_is_one_flare_up():
    rng = np.random.default_rng(3)
    jitter = np.sqrt(np.clip(0.25 + 0.05 * rng.standard_normal(365), 0, 1))     # intensity about 0.25 +- 0.05
    row = feed(jitter, jitter)
    assert row["flare_ups"] == 1


def test_cycle_that_dies_down_is_settling_and_calm_couple_is_secure_stable():
    fading = np.concatenate([np.full(60, 0.6), np.full(305, 0.05)])
    assert feed(fading, fading)["classification"] == "settling"
    assert feed(np.full(365, 0.1), np.full(365, 0.1))["classification"] == "secure-stable"


def test_dissolved_couple():
    row = feed(np.full(365, 0.9), np.full(365, 0.9), dissolve_on=100)
    assert row["classification"] == "dissolved" and row["dissolution_day"] == 100


def test_time_to_settle_after_a_shock():
    distress = np.full(200, 0.2)
    distress[99:120] = 0.8          # days 100-120 upset
    row = feed(np.zeros(200), np.zeros(200), distress=distress, shock_day=100)
    # Weekly distress decays from 0.8 towards 0.2 after day 120 and drops within 0.05 some days later.
    assert 21 < row["settle_days"] < 21 + 14
    calm = feed(np.zeros(200), np.zeros(200), shock_day=0)
    assert np.isnan(calm["settle_days"])


def test_declared_outcome_columns_are_what_a_run_gives():
    from sim.engine import simulate
    from sim.population import make_population
    from sim.schema import OUTCOME_COLUMNS
    assert tuple(simulate(make_population("anxious-avoidant", 2, 0), 30).outcomes.columns) == OUTCOME_COLUMNS


def test_histogram_counts_are_16_bits_until_a_group_could_overflow_them_and_give_the_same_quartiles():
    assert histogram_counts(np.repeat(np.arange(3), 65_535)) == np.uint16       # a group of 65,535 fits
    assert histogram_counts(np.zeros(65_536, dtype=np.int64)) == np.int32        # one more could overflow it
    rng = np.random.default_rng(5)
    narrow = DailyAggregates(np.repeat(np.arange(4), 50), days=3)
    wide = DailyAggregates(np.repeat(np.arange(4), 50), days=3)
    wide.hist = wide.hist.astype(np.int32)
    counts = rng.integers(0, 60, size=narrow.hist.shape)
    narrow.hist[:], wide.hist[:] = counts, counts
    narrow.sums[:] = wide.sums[:] = rng.uniform(0, 50, size=narrow.sums.shape)
    assert narrow.hist.dtype == np.uint16
    for a, b in zip(narrow.statistics(), wide.statistics(), strict=True):
        assert np.array_equal(a, b, equal_nan=True)
