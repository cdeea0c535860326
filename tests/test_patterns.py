"""The patterns of theory.md section 7 (P1-P7), each a test with a stated threshold.

Each runs at least 30 replicate couples with fixed seeds through the Mesa
model (CoupleModel). Every test compares against a contrast (another pairing,
another support level, the same couple before and after a shock), so a model
with no dynamics, where nothing changes, fails all of them.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.model import CoupleModel
from sim.population import make_population

N = 30
YEAR = 365


def run(pairing: str, overrides=(), n: int = N, days: int = YEAR, seed: int = 11) -> CoupleModel:
    return CoupleModel(pairing, n_couples=n, seed=seed, overrides=list(overrides), days=days).run()


def test_p1_anxious_avoidant_low_responsiveness_escalates():
    """P1: anxious + avoidant with low responsiveness on both sides falls into a cycle that escalates or stays high.

    Threshold: at least 90% of couples classified escalating or cycling (the
    pattern is a regularity of the pairing, not a coin flip), and their mean
    late-window cycle intensity at least 0.25 above that of secure-secure
    couples under the same low responsiveness (0.25 is a quarter of the scale:
    one partner pursuing at 0.5 while the other withdraws at 0.5).
    """
    insecure = run("anxious-avoidant", ["responsiveness=0.2"]).outcomes()
    secure = run("secure-secure", ["responsiveness=0.2"]).outcomes()
    active = insecure["classification"].isin(["escalating", "cycling"]).mean()
    gap = insecure["intensity_late"].mean() - secure["intensity_late"].mean()
    print(f"P1 share escalating/cycling {active:.2f}; late intensity {insecure['intensity_late'].mean():.3f} "
          f"vs secure-secure {secure['intensity_late'].mean():.3f}")
    assert active >= 0.9
    assert gap >= 0.25


def test_p2_secure_couple_settles_after_conflict():
    """P2: a secure + secure couple returns to calm after a conflict shock, within a bounded time.

    The shock must first matter: couple distress on the shock day at least 0.2
    above its pre-shock level (a fifth of the scale). Then every couple's
    weekly distress must be back within settle_tolerance of its pre-shock
    level within 30 days (a month: the bound a couple therapist would call
    "recovered from a fight"), and on average within 14 days.
    """
    shock_day = 100
    # One conflict and the return from it: random conflicts (conflict_rate) would add others inside the window.
    model = CoupleModel("secure-secure", n_couples=N, seed=5, overrides=[f"shock_day={shock_day}", "conflict_rate=0"],
                        days=YEAR)
    model.run(shock_day - 1)
    before = model.state_arrays()["distress"].mean(axis=1)
    model.step()
    jump = model.state_arrays()["distress"].mean(axis=1) - before
    model.run(YEAR - shock_day)
    settle = model.outcomes()["settle_days"]
    print(f"P2 distress jump {jump.mean():.3f}; settle days mean {settle.mean():.1f}, max {settle.max():.0f}")
    assert jump.min() >= 0.2
    assert settle.notna().all()
    assert settle.max() <= 30
    assert settle.mean() <= 14


def _lagged_effect(y, y_lag, x_lag, couple):
    """Within-couple (fixed-effects) regression ``y_t ~ y_{t-1} + x_{t-1}``; returns the x coefficient."""
    def centred(v):
        means = np.bincount(couple, weights=v) / np.bincount(couple)
        return v - means[couple]
    design = np.column_stack([centred(y_lag), centred(x_lag)])
    coefficients, *_ = np.linalg.lstsq(design, centred(y), rcond=None)
    return coefficients[1]


def test_p3_pursuit_and_withdrawal_reinforce_each_other():
    """P3: in P1 couples, pursuit today raises the partner's withdrawal tomorrow, and withdrawal raises pursuit.

    Cross-lagged regressions with couple fixed effects and each outcome's own
    lag as control (the standard diary-study analysis), over days 31-365 of
    30 couples (the first month is the cycle switching on). Threshold: both
    pooled cross-lagged coefficients positive and, with couples as the units
    (as a multilevel diary analysis treats them), the mean of the 30
    per-couple coefficients at least 3 standard errors above zero (t >= 3 on
    29 df, p < .006 two-sided); and both positive in at least 70% of couples
    taken one at a time.

    Model 1 used a fixed floor of 0.03 on the pooled coefficients. Model 2's
    shared daily stress (shared_stress) makes partners' days co-vary, which
    shrinks the withdrawal-to-pursuit coefficient to about 0.02 while it stays
    positive in every couple; the pattern (theory.md P3: both lagged effects
    positive) is what the test now asks, judged against its own noise.
    """
    table = run("anxious-avoidant", ["responsiveness=0.2"], seed=5).daily_table()
    wide = table.pivot_table(index=["couple_id", "day"], columns="role", values=["pursuit", "withdrawal"])
    wide.columns = [f"{v}_{r}" for v, r in wide.columns]
    wide = wide.reset_index()
    for col in ("pursuit_a", "withdrawal_b"):
        wide[f"{col}_lag"] = wide.groupby("couple_id")[col].shift(1)
    wide = wide[wide["day"] > 30].dropna()
    couple = wide["couple_id"].to_numpy()
    cols = {c: wide[c].to_numpy() for c in wide.columns}
    pursuit_to_withdrawal = _lagged_effect(cols["withdrawal_b"], cols["withdrawal_b_lag"], cols["pursuit_a_lag"],
                                           couple)
    withdrawal_to_pursuit = _lagged_effect(cols["pursuit_a"], cols["pursuit_a_lag"], cols["withdrawal_b_lag"], couple)
    per_couple = []
    for c in np.unique(couple):
        m = couple == c
        zero = np.zeros(m.sum(), dtype=int)
        per_couple.append((_lagged_effect(cols["withdrawal_b"][m], cols["withdrawal_b_lag"][m],
                                          cols["pursuit_a_lag"][m], zero),
                           _lagged_effect(cols["pursuit_a"][m], cols["pursuit_a_lag"][m],
                                          cols["withdrawal_b_lag"][m], zero)))
    effects = np.array(per_couple)
    share = np.mean((effects > 0).all(axis=1))
    t = effects.mean(axis=0) / (effects.std(axis=0, ddof=1) / np.sqrt(len(effects)))
    print(f"P3 pursuit->withdrawal {pursuit_to_withdrawal:.3f} (t = {t[0]:.1f}), withdrawal->pursuit "
          f"{withdrawal_to_pursuit:.3f} (t = {t[1]:.1f}), both positive in {share:.2f} of couples")
    assert pursuit_to_withdrawal > 0 and withdrawal_to_pursuit > 0
    assert (t >= 3).all()
    assert share >= 0.7


def _anxiety_change(responsiveness: float, goal_support: float) -> np.ndarray:
    """One-year change in the anxious partner's anxiety when the secure partner gives this support."""
    model = run("anxious-secure", [f"b.responsiveness={responsiveness}", f"b.goal_support={goal_support}"], seed=9)
    return model.outcomes()["anxiety_change_1y_a"].to_numpy()


def test_p4_goal_support_lowers_anxiety_only_with_responsiveness():
    """P4: over a year, goal support lowers anxiety when responsiveness is high, and not when it is low.

    Anxious partners of secure partners whose responsiveness (0.2 or 0.8) and
    goal support (0.2 or 0.8) are set, 30 couples per cell. Simple slopes of
    the one-year anxiety change on goal support (ECR-R points per unit of
    goal support): at high responsiveness at most -0.1 (a move from low to
    high goal support lowers anxiety by at least 0.06 points more, about the
    size of Jakubiak et al.'s effect relative to the ECR-R SD of ~1.1); at low
    responsiveness not negative (>= 0). Their difference, the interaction, at
    most -0.2.
    """
    slopes = {}
    for r in (0.2, 0.8):
        low, high = _anxiety_change(r, 0.2), _anxiety_change(r, 0.8)
        slopes[r] = (high.mean() - low.mean()) / 0.6
    print(f"P4 simple slopes of goal support: low responsiveness {slopes[0.2]:+.3f}, high {slopes[0.8]:+.3f}")
    assert slopes[0.8] <= -0.1
    assert slopes[0.2] >= 0.0
    assert slopes[0.8] - slopes[0.2] <= -0.2


def test_p5_responsiveness_leads_to_more_goal_pursuit_later():
    """P5 (dependency paradox): more responsiveness from the partner, more independent goal pursuit later.

    Partner a's goal pursuit over the last window of the year when partner b's
    responsiveness is 0.8 against 0.2 (goal support held at 0.5), for anxious
    and for secure partners a. Threshold: at least 0.1 higher (a tenth of the
    scale) and a standardised difference (Cohen's d) of at least 1, in both.
    """
    for pairing in ("anxious-secure", "secure-secure"):
        goal = {}
        for r in (0.2, 0.8):
            out = run(pairing, [f"b.responsiveness={r}", "b.goal_support=0.5"], seed=13).outcomes()
            goal[r] = out["goal_pursuit_late_a"].to_numpy()
        diff = goal[0.8].mean() - goal[0.2].mean()
        pooled = np.sqrt((goal[0.8].var(ddof=1) + goal[0.2].var(ddof=1)) / 2)
        d = diff / pooled if pooled > 0 else np.inf
        print(f"P5 {pairing}: goal pursuit {goal[0.2].mean():.3f} -> {goal[0.8].mean():.3f} (d = {d:.1f})")
        assert diff >= 0.1
        assert d >= 1.0


def test_p6_secure_partner_heals_avoidant_partner_does_not():
    """P6: with a secure, responsive partner an anxious person grows less anxious over a year; not with an avoidant one.

    Threshold: with a secure partner the mean one-year change is at most -0.15
    ECR-R points (about 0.15 SD, the size of the average gain in security
    newlyweds showed over two years, Davila et al. 1999) and at least 80% of
    anxious partners improve; with an avoidant partner the mean change is not
    negative (>= 0).
    """
    with_secure = run("anxious-secure", seed=17).outcomes()["anxiety_change_1y_a"]
    with_avoidant = run("anxious-avoidant", seed=17).outcomes()["anxiety_change_1y_a"]
    print(f"P6 one-year anxiety change: with secure partner {with_secure.mean():+.3f} "
          f"({(with_secure < 0).mean():.0%} improve), with avoidant partner {with_avoidant.mean():+.3f}")
    assert with_secure.mean() <= -0.15
    assert (with_secure < 0).mean() >= 0.8
    assert with_avoidant.mean() >= 0.0


def test_one_year_stability_stays_realistic():
    """Slow learning keeps traits trait-like: a drawn population's one-year test-retest correlation.

    ECR-R scores share about 85% of their variance over weeks (Sibley & Liu
    2004) and stay highly stable over a year (Fraley et al. 2011). Threshold:
    the day-0 to day-365 correlation of anxiety and of avoidance across 300
    drawn people at least 0.8, and the mean absolute change under 1 point.
    """
    model = CoupleModel(n_couples=150, seed=21, drawn=True, days=YEAR)
    start = model.state_arrays()
    model.run()
    end = model.state_arrays()
    for trait in ("anxiety", "avoidance"):
        r = np.corrcoef(start[trait].ravel(), end[trait].ravel())[0, 1]
        change = np.abs(end[trait] - start[trait]).mean()
        print(f"{trait}: one-year r = {r:.3f}, mean |change| = {change:.3f}")
        assert r >= 0.8
        assert change < 1.0


@pytest.fixture(scope="module")
def escalating_anxious_avoidant():
    """Anxious-avoidant couples of a drawn population, and their daily cycle intensity without any intervention.

    Traits and support vary around the styles; a conflict comes on day 60. 1,000 drawn couples give about 80
    anxious-avoidant ones, of which about half have escalated by days 150-179 now that the cycle is latent
    until a conflict (model 2); 500 gave too few to judge.
    """
    drawn = make_population(n_couples=1000, seed=17, drawn=True, overrides=["shock_day=60", "intervention_day=180"])
    cohort = drawn.subset(np.flatnonzero(drawn.pairing == "anxious-avoidant"))
    without = CoupleModel(population=cohort, days=YEAR, seed=17).run()
    return cohort, _daily_intensity(without)


def _daily_intensity(model: CoupleModel):
    table = model.daily_table()
    return table[table.role == "a"].pivot(index="day", columns="couple_id", values="cycle_intensity")


@pytest.mark.parametrize("recipe", ["checkin-ritual", "self-soothing"])
def test_p7_interventions_de_escalate(escalating_anxious_avoidant, recipe):
    """P7: a check-in ritual or self-soothing begun at day 180 lowers the cycle's intensity afterwards.

    Couples: the anxious-avoidant pairs of a drawn population whose cycle is
    escalated before the intervention (mean intensity over days 150-179 at
    least high_intensity, 0.2). Each couple runs twice with the same seed,
    with and without the recipe from day 180; the outcome is mean cycle
    intensity over days 270-365. Thresholds, all three:

    - the mean paired fall is at least 0.1 on the 0-1 intensity scale, half
      the distance between calm and escalated (high_intensity 0.2);
    - as a standardised effect, the fall is at least 0.8 SD of the couples'
      intensity without the intervention (Glass's delta; 0.8 is Cohen's
      "large", and below the d = 1.3 that Johnson et al. 1999 report for
      emotionally focused couple therapy, so a recipe must do what a real
      couple intervention does, not more);
    - at least 90% of couples are lower with it than without (it helps
      nearly everyone, not a few a lot).
    """
    cohort, without = escalating_anxious_avoidant
    escalated = without.loc[150:179].mean() >= 0.2
    assert escalated.sum() >= 30                                # enough couples to judge
    treated = CoupleModel(population=cohort.with_intervention(recipe), days=YEAR, seed=17).run()
    with_it = _daily_intensity(treated)
    assert np.array_equal(with_it.loc[:179].to_numpy(), without.loc[:179].to_numpy())   # same couples until day 180
    late_without = without.loc[270:365, escalated].mean()
    late_with = with_it.loc[270:365, escalated].mean()
    fall = late_without - late_with
    delta = fall.mean() / late_without.std(ddof=1)
    print(f"P7 {recipe}: {escalated.sum()} couples; days 270-365 intensity {late_without.mean():.3f} -> "
          f"{late_with.mean():.3f}, fall {fall.mean():.3f}, Glass's delta {delta:.2f}, "
          f"lower in {np.mean(fall > 0):.0%}")
    assert fall.mean() >= 0.1
    assert delta >= 0.8
    assert np.mean(fall > 0) >= 0.9


def _escalated_by(series, day: int, high: float) -> np.ndarray:
    """Per couple: whether the 7-day mean cycle intensity reached ``high`` on some day up to ``day``."""
    wide = series[series.day <= day].pivot_table(index=["couple_id", "day"], columns="role",
                                                 values=["pursuit", "withdrawal"])
    intensity = np.maximum(wide["pursuit"]["a"] * wide["withdrawal"]["b"],
                           wide["pursuit"]["b"] * wide["withdrawal"]["a"])
    weekly = intensity.groupby(level=0).transform(lambda x: x.rolling(7, min_periods=1).mean())
    return (weekly.groupby(level=0).max() >= high).to_numpy()


def test_p9_the_cycle_is_latent_until_a_conflict_switches_it_on():
    """P9: the loop is latent early on, and conflict switches it on (theory.md s.2).

    With conflicts off, under 20% of default anxious-avoidant couples escalate by day 60; with them on, same
    couples and seeds, at least 30 percentage points more do. Escalated: the weekly (7-day mean) cycle intensity
    reached high_intensity by day 60. 400 couples make the SE of a share at most 0.025, so both thresholds (from
    issue 14) are judged well outside noise.
    """
    from sim.engine import simulate
    from sim.params import PARAMETERS
    high = PARAMETERS["high_intensity"].default
    calm = make_population("anxious-avoidant", 400, 7, overrides=["conflict_rate=0"])
    stormy = make_population("anxious-avoidant", 400, 7)
    off_each = _escalated_by(simulate(calm, 60, series_couples=range(400)).series, 60, high)
    on_each = _escalated_by(simulate(stormy, 60, series_couples=range(400)).series, 60, high)
    # The Mesa driver on the first 100 of the same couples: the same couples escalate.
    mesa_on = _escalated_by(CoupleModel(population=stormy.subset(slice(0, 100)), days=60, seed=7).run()
                            .daily_table(), 60, high)
    assert np.array_equal(mesa_on, on_each[:100])
    off, on = off_each.mean(), on_each.mean()
    print(f"P9 escalated by day 60: conflicts off {off:.2f}, on {on:.2f}")
    assert off < 0.2
    assert on - off >= 0.3
