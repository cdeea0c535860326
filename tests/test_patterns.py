"""The patterns of theory.md section 7 (P1-P7) and of model 2 (P8-P13), each a test with a stated threshold.

P1-P7 run at least 30 replicate couples with fixed seeds through the Mesa
model (CoupleModel); the model-2 patterns that need hundreds of couples or a
whole support sweep run the batch engine, and check a subset on the Mesa
driver where the pattern is per couple. Every test compares against a
contrast (another pairing, another support level, the same couple before and
after a shock, conflicts on and off), so a model with no dynamics, where
nothing changes, fails all of them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.model import CoupleModel
from sim.population import make_population

N = 30
YEAR = 365


def run(pairing: str, overrides=(), n: int = N, days: int = YEAR, seed: int = 11) -> CoupleModel:
    return CoupleModel(pairing, n_couples=n, seed=seed, overrides=list(overrides), days=days).run()


def test_p1_anxious_avoidant_low_responsiveness_escalates():
    """P1: anxious + avoidant with low responsiveness on both sides falls into a cycle that escalates or recurs.

    Threshold: at least 90% of couples classified escalating or cycling (the
    pattern is a regularity of the pairing, not a coin flip). 100 couples
    (model 1 used 30 clones; model 2's couples differ, so the share has an SE
    of at most 0.03). And their mean share of days in a flare-up at least 0.1
    above that of secure-secure couples under the same low responsiveness.

    Model 1 asked for a late-window mean intensity 0.25 above secure-secure:
    a cycle stuck at its high state. In model 2 episodes end (despair, the
    withdrawer's self-soothing), so a couple that flares and calms every few
    weeks has a late mean near 0.1 while living a tenth or more of its days in
    a flare-up; the contrast is now in days in a flare-up, and 0.1 is a tenth
    of the year (five weeks), far above secure-secure's zero.
    """
    insecure = run("anxious-avoidant", ["responsiveness=0.2"], n=100).outcomes()
    secure = run("secure-secure", ["responsiveness=0.2"], n=100).outcomes()
    active = insecure["classification"].isin(["escalating", "cycling"]).mean()
    gap = insecure["flare_days_share"].mean() - secure["flare_days_share"].mean()
    print(f"P1 share escalating/cycling {active:.2f}; days in a flare-up {insecure['flare_days_share'].mean():.3f} "
          f"vs secure-secure {secure['flare_days_share'].mean():.3f}; late intensity "
          f"{insecure['intensity_late'].mean():.3f} vs {secure['intensity_late'].mean():.3f}")
    assert active >= 0.9
    assert gap >= 0.1


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
    table = run("anxious-avoidant", ["responsiveness=0.2"], n=60, seed=5).daily_table()
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
    goal support): at high responsiveness at most -0.05 (a move from low to
    high goal support lowers anxiety by at least 0.03 points more in a year);
    at low responsiveness not negative (>= 0). Their difference, the
    interaction, at most -0.1.

    Model 1 asked for -0.1 and -0.2. Model 2 learns at 0.6 times model 1's
    rate (learning_rate 1/1825 against 1/1095), calibrated so that no cell
    of the support sweep changes anxiety by more than 0.5 points a year (P13;
    Davila, Karney & Bradbury 1999 found gains in security of about 0.15 SD
    over two years of marriage), and its secure-base effect is about half;
    the thresholds are model 1's, halved, so the test asks for the same
    direction and interaction at the magnitudes the literature reports.
    """
    slopes = {}
    for r in (0.2, 0.8):
        low, high = _anxiety_change(r, 0.2), _anxiety_change(r, 0.8)
        slopes[r] = (high.mean() - low.mean()) / 0.6
    print(f"P4 simple slopes of goal support: low responsiveness {slopes[0.2]:+.3f}, high {slopes[0.8]:+.3f}")
    assert slopes[0.8] <= -0.05
    assert slopes[0.2] >= 0.0
    assert slopes[0.8] - slopes[0.2] <= -0.1


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

    Threshold: with a secure partner the mean one-year change is at most
    -0.075 ECR-R points (half of the average gain in security of about 0.15
    SD that newlyweds showed over two years, Davila, Karney & Bradbury 1999:
    one year is half of two) and at least 80% of anxious partners improve;
    with an avoidant partner the mean change is not negative (>= 0). Model 1
    asked for the whole two-year gain in one year (-0.15); model 2's learning
    is calibrated to the literature's magnitudes (P13).
    """
    with_secure = run("anxious-secure", seed=17).outcomes()["anxiety_change_1y_a"]
    with_avoidant = run("anxious-avoidant", seed=17).outcomes()["anxiety_change_1y_a"]
    print(f"P6 one-year anxiety change: with secure partner {with_secure.mean():+.3f} "
          f"({(with_secure < 0).mean():.0%} improve), with avoidant partner {with_avoidant.mean():+.3f}")
    assert with_secure.mean() <= -0.075
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

    Traits and support vary around the styles; a conflict comes on day 60, and random conflicts follow. 1,000
    drawn couples give about 80 anxious-avoidant ones, of which about three quarters flare up between the
    conflict and the intervention.
    """
    drawn = make_population(n_couples=1000, seed=17, drawn=True, overrides=["shock_day=60", "intervention_day=180"])
    cohort = drawn.subset(np.flatnonzero(drawn.pairing == "anxious-avoidant"))
    without = CoupleModel(population=cohort, days=YEAR, seed=17).run()
    return cohort, _daily_intensity(without)


def _daily_intensity(model: CoupleModel):
    table = model.daily_table()
    return table[table.role == "a"].pivot(index="day", columns="couple_id", values="cycle_intensity")


def _weekly(daily: pd.DataFrame) -> pd.DataFrame:
    """The weekly cycle intensity as the outcome tracker keeps it (rows: days from 0; columns: couples)."""
    from sim.outcomes import weekly_intensity
    return pd.DataFrame(weekly_intensity(daily.to_numpy()), index=daily.index, columns=daily.columns)


@pytest.mark.parametrize("recipe", ["checkin-ritual", "self-soothing"])
def test_p7_interventions_de_escalate(escalating_anxious_avoidant, recipe):
    """P7: a check-in ritual or self-soothing begun at day 180 lowers the cycle's intensity afterwards.

    Couples: the anxious-avoidant pairs of a drawn population that are in the
    cycle before the intervention (a flare-up, weekly intensity at least
    high_intensity 0.2, between the day-60 conflict and day 179). Each couple
    runs twice with the same seed, with and without the recipe from day 180;
    the outcomes are mean cycle intensity and the share of days in a flare-up
    over days 270-365. Thresholds, all four:

    - days in a flare-up fall to at most half (the recipe at least halves the
      time a couple spends in the cycle);
    - as a standardised effect, the fall in intensity is at least 0.8 SD of
      the couples' intensity without the intervention (Glass's delta; 0.8 is
      Cohen's "large", and below the d = 1.3 that Johnson et al. 1999 report
      for emotionally focused couple therapy, so a recipe must do what a real
      couple intervention does, not more);
    - at least 90% of couples are lower with it than without (it helps
      nearly everyone, not a few a lot); none is higher.

    Model 1 selected couples stuck high over days 150-179 and asked for a
    fall of 0.1 in mean intensity. In model 2 episodes end on their own, so
    a couple in the cycle alternates flare-ups and calm, its mean intensity is
    near 0.1, and few are high for 30 days running; the selection is by
    flare-up and the absolute threshold is on days in a flare-up.
    """
    from sim.params import PARAMETERS
    high = PARAMETERS["high_intensity"].default
    cohort, without = escalating_anxious_avoidant
    in_cycle = (_weekly(without).loc[60:179] >= high).any()
    assert in_cycle.sum() >= 30                                 # enough couples to judge
    treated = CoupleModel(population=cohort.with_intervention(recipe), days=YEAR, seed=17).run()
    with_it = _daily_intensity(treated)
    assert np.array_equal(with_it.loc[:179].to_numpy(), without.loc[:179].to_numpy())   # same couples until day 180
    late_without = without.loc[270:365, in_cycle].mean()
    late_with = with_it.loc[270:365, in_cycle].mean()
    flare_without = (_weekly(without).loc[270:365, in_cycle] >= high).mean()
    flare_with = (_weekly(with_it).loc[270:365, in_cycle] >= high).mean()
    fall = late_without - late_with
    delta = fall.mean() / late_without.std(ddof=1)
    print(f"P7 {recipe}: {in_cycle.sum()} couples; days 270-365 intensity {late_without.mean():.3f} -> "
          f"{late_with.mean():.3f}, Glass's delta {delta:.2f}, lower in {np.mean(fall > 0):.0%}; days in a "
          f"flare-up {flare_without.mean():.3f} -> {flare_with.mean():.3f}")
    assert flare_with.mean() <= 0.5 * flare_without.mean()
    assert delta >= 0.8
    assert np.mean(fall > 0) >= 0.9
    assert np.all(fall >= -1e-12)


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


# --- model 2 ------------------------------------------------------------------------------------------------------

MIDDLING = ["responsiveness=0.5", "goal_support=0.5"]   # both partners at the scale's midpoint


def test_p8_episodes_flare_and_calm_again_and_again():
    """P8: at middling support, half or more of anxious-avoidant couples have 3+ flare-ups a year, each ended in calm.

    Middling support: both partners give responsiveness 0.5 and goal support 0.5, the midpoints of the scales.
    A flare-up begins when the weekly cycle intensity reaches high_intensity and ends in calm when it is back
    below quiet_intensity (sim.outcomes). Two years of 300 couples (threshold and count from issue 14; the SE
    of the share is at most 0.03); the Mesa driver counts the same flare-ups for the first 20. Also asked:
    the slow negative feedback does the work. With despair switched off (despair_gain 0) the share falls
    below half, and flare-ups are longer: fewer of them end.
    """
    from sim.engine import simulate
    pop = make_population("anxious-avoidant", 300, 3, overrides=MIDDLING)
    out = simulate(pop, 2 * YEAR).outcomes
    per_year = out["calmed_flare_ups"] / 2
    share = np.mean(per_year >= 3)
    no_despair = simulate(make_population("anxious-avoidant", 300, 3, overrides=[*MIDDLING, "despair_gain=0"]),
                          2 * YEAR).outcomes
    share_without = np.mean(no_despair["calmed_flare_ups"] / 2 >= 3)
    mesa = CoupleModel(population=pop.subset(slice(0, 20)), days=2 * YEAR, seed=3).run().outcomes()
    print(f"P8 share with >= 3 calmed flare-ups a year {share:.2f} (median {per_year.median():.1f} a year, days in "
          f"a flare-up {out['flare_days_share'].mean():.2f}); without despair {share_without:.2f} (days in a "
          f"flare-up {no_despair['flare_days_share'].mean():.2f})")
    assert np.array_equal(mesa["calmed_flare_ups"].to_numpy(), out["calmed_flare_ups"].to_numpy()[:20])
    assert share >= 0.5
    assert share_without < 0.5


def test_p10_roles_the_anxious_pursue_and_the_avoidant_withdraw():
    """P10: in escalated anxious-avoidant couples, the anxious partner pursues and the avoidant partner withdraws.

    Over every day on which a couple is in a flare-up (weekly cycle intensity at least high_intensity), of 200
    default anxious-avoidant couples over a year: the anxious partner's mean withdrawal at most half the
    avoidant partner's, and the avoidant partner's mean pursuit at most half the anxious partner's (issue 14).
    Contrast: avoidant-avoidant couples, with no one to pursue, spend under a fifth as many days in a
    flare-up.
    """
    from sim.engine import simulate
    from sim.params import PARAMETERS
    high = PARAMETERS["high_intensity"].default
    result = simulate(make_population("anxious-avoidant", 200, 4), YEAR, series_couples=range(200))
    series = result.series.sort_values(["day", "couple_id", "role"])
    shape = (YEAR + 1, 200, 2)
    pursuit, withdrawal = (series[name].to_numpy().reshape(shape) for name in ("pursuit", "withdrawal"))
    intensity = np.maximum(pursuit[..., 0] * withdrawal[..., 1], pursuit[..., 1] * withdrawal[..., 0])
    hot = _weekly(pd.DataFrame(intensity)).to_numpy() >= high
    assert hot.sum() >= 1000                                    # enough flare-up days to judge
    withdrawal_ratio = withdrawal[..., 0][hot].mean() / withdrawal[..., 1][hot].mean()
    pursuit_ratio = pursuit[..., 1][hot].mean() / pursuit[..., 0][hot].mean()
    avoidant = simulate(make_population("avoidant-avoidant", 200, 4), YEAR).outcomes["flare_days_share"].mean()
    print(f"P10 on {hot.sum()} flare-up days: anxious/avoidant withdrawal {withdrawal_ratio:.2f}, avoidant/anxious "
          f"pursuit {pursuit_ratio:.2f}; days in a flare-up {hot.mean():.3f}, avoidant-avoidant {avoidant:.3f}")
    assert withdrawal_ratio <= 0.5
    assert pursuit_ratio <= 0.5
    assert avoidant <= 0.2 * hot.mean()


def test_p11_support_responds_to_the_givers_state():
    """P11: support is behaviour. The giver's distress today lowers the responsiveness given tomorrow.

    Within-couple regression, as a diary study would run it, of the responsiveness a partner gives on day t+1
    on that partner's distress on day t, with the giver's responsiveness given on day t as control and
    couple-and-role fixed effects, over 100 default anxious-avoidant couples and a year: the coefficient
    negative by at least 3 SE over the 200 givers (t <= -3), on both drivers (the Mesa run of the first 30
    couples gives the same series).
    """
    from sim.engine import simulate
    pop = make_population("anxious-avoidant", 100, 8)
    series = simulate(pop, YEAR, series_couples=range(100)).series
    mesa = CoupleModel(population=pop.subset(slice(0, 30)), days=YEAR, seed=8).run().daily_table()
    first = series[series.couple_id < 30].sort_values(["couple_id", "role", "day"])
    np.testing.assert_allclose(mesa.sort_values(["couple_id", "role", "day"])["responsiveness_given"].to_numpy(),
                               first["responsiveness_given"].to_numpy(), rtol=0, atol=1e-12)
    per_giver = []
    for _, giver in series.sort_values("day").groupby(["couple_id", "role"]):
        given = giver["responsiveness_given"].to_numpy()
        distress = giver["distress"].to_numpy()
        zero = np.zeros(len(given) - 1, dtype=int)
        per_giver.append(_lagged_effect(given[1:], given[:-1], distress[:-1], zero))
    effects = np.array(per_giver)
    t = effects.mean() / (effects.std(ddof=1) / np.sqrt(len(effects)))
    print(f"P11 giver's distress -> responsiveness given next day {effects.mean():+.3f} (t = {t:.1f}), negative in "
          f"{np.mean(effects < 0):.0%} of givers")
    assert t <= -3


def _support_sweep(pairing: str, days: int = 2 * YEAR, replicates: int = 100):
    """The main job's responsiveness x goal support sweep (0-1 in steps of 0.1, conflict on day 100) for one pairing."""
    from sim.engine import simulate
    levels = np.round(np.linspace(0, 1, 11), 1)
    rows = []
    for r in levels:
        for g in levels:
            # The same couples and seeds in every cell (common random numbers), so cells differ by support only.
            pop = make_population(pairing, replicates, 2023,
                                  overrides=[f"responsiveness={r}", f"goal_support={g}", "shock_day=100"])
            out = simulate(pop, days).outcomes
            rows.append({"responsiveness": r, "goal_support": g,
                         "active": out["classification"].isin(["escalating", "cycling"]).mean(),
                         "anxiety_change_1y": max(abs(out["anxiety_change_1y_a"].mean()),
                                                  abs(out["anxiety_change_1y_b"].mean()))})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def anxious_avoidant_sweep():
    return _support_sweep("anxious-avoidant")


def test_p11_goal_support_never_raises_escalation_with_a_safe_haven(anxious_avoidant_sweep):
    """P11: at responsiveness 0.8 or more, anxious-avoidant couples' share in the cycle never rises with goal support.

    Each row of the sweep (100 couples a cell, the same couples in every cell): from one goal support level to
    the next, the share escalating or cycling may rise by at most 0.03 (three couples: the cells share their
    couples, so a rise beyond that is the model, not sampling noise), and from goal support 0 to 1 it does
    not rise at all. Model 1 jumped from 0% to 100% between goal support 0.4 and 0.6 at responsiveness 0.9.
    """
    sweep = anxious_avoidant_sweep
    for r in (0.8, 0.9, 1.0):
        row = sweep[sweep.responsiveness == r].sort_values("goal_support")["active"].to_numpy()
        print(f"P11 responsiveness {r}: share in the cycle from goal support 0 to 1: "
              + " ".join(f"{x:.2f}" for x in row))
        assert np.max(np.diff(row)) <= 0.03
        assert row[-1] <= row[0]


def test_p12_support_maps_are_graded(anxious_avoidant_sweep):
    """P12: in the default responsiveness x goal support sweep, at most 30% of cells are all-or-none.

    The anxious-avoidant pairing's 121 cells of 100 couples each, two years (the main job's design): the share of
    cells whose share escalating or cycling (what the report's maps show) is exactly 0 or exactly 1 is at most
    0.3 (issue 14; model 1 had 0.975). Secure-secure couples are left out: they never escalate at any support
    (P2), so their cells are 0 by design, not a step function of clones.
    """
    active = anxious_avoidant_sweep["active"]
    extreme = np.mean((active == 0) | (active == 1))
    print(f"P12 anxious-avoidant cells all-or-none: {extreme:.2f}; shares {active.min():.2f} to {active.max():.2f}")
    assert extreme <= 0.3
    assert active.max() - active.min() >= 0.5        # and the map still spans the range: support matters


@pytest.mark.parametrize("pairing", ["anxious-avoidant", "anxious-secure", "avoidant-secure", "secure-secure"])
def test_p13_one_year_changes_in_anxiety_stay_in_the_literature_range(pairing, anxious_avoidant_sweep):
    """P13: no cell of the support sweep changes either partner's mean anxiety by more than 0.5 ECR-R points in a year.

    Adult attachment is stable: test-retest correlations of about .7-.9 over a year (Fraley et al. 2011;
    Sibley & Liu 2004), mean-level change across the first two years of marriage of about 0.15 SD (Davila,
    Karney & Bradbury 1999), and about half an SD across decades of adulthood (Chopik, Edelstein & Grimm
    2019). 0.5 points (about 0.45 SD of the ECR-R) in a year is the largest change any condition may
    produce (issue 14; model 1 reached 1.08). Each pairing's whole sweep, 50 couples a cell (one year is all
    the test needs). The virtual study's side of P13 (Jakubiak's null slope at low responsiveness, the
    negative interaction) is in tests/test_study.py.
    """
    sweep = anxious_avoidant_sweep if pairing == "anxious-avoidant" else _support_sweep(pairing, YEAR, 50)
    worst = sweep.loc[sweep["anxiety_change_1y"].idxmax()]
    print(f"P13 {pairing}: largest mean one-year change in anxiety {worst['anxiety_change_1y']:.2f} at "
          f"responsiveness {worst['responsiveness']}, goal support {worst['goal_support']}")
    assert sweep["anxiety_change_1y"].max() <= 0.5


def test_a_thirty_day_diary_of_simulated_couples_varies_like_a_real_one():
    """Issue 14 item 4: daily distress in a 30-day diary of drawn couples has a real diary's variance structure.

    600 drawn couples, days 31-60 (after a month together), distress as a daily negative-affect item would
    measure it. Ranges from daily-diary research on affect: the intraclass correlation (share of variance
    between persons) between 0.3 and 0.7 (about half the variance of daily affect is within persons, Bolger &
    Laurenceau 2013); the day-to-day autocorrelation within persons between 0.1 and 0.5 (daily affect carries
    over, but far from fully); the within-person SD between 0.05 and 0.2 of the scale (0.2-0.8 on a 1-5 item).
    Partners' same-day correlation is reported, not tested: at about 0.5 it is above what couples' diaries show
    (Sels et al. 2020), a known gap (docs/ODD.md section 7.1).
    """
    from sim.engine import simulate
    n, days = 600, 60
    series = simulate(make_population(None, n, 5, drawn=True), days, series_couples=range(n)).series
    diary = series[series.day > days - 30].sort_values(["day", "couple_id", "role"])
    distress = diary["distress"].to_numpy().reshape(30, n, 2)
    within = distress.var(axis=0, ddof=1).mean()
    between = distress.mean(axis=0).var(ddof=1)
    icc = between / (between + within)
    centred = distress - distress.mean(axis=0)
    lag1 = np.sum(centred[1:] * centred[:-1]) / np.sum(centred * centred)
    partners = np.corrcoef(centred[..., 0].ravel(), centred[..., 1].ravel())[0, 1]
    sd = np.sqrt(within)
    print(f"diary: within-person SD {sd:.3f}, ICC {icc:.2f}, lag-1 r {lag1:.2f}, partners same-day r {partners:.2f}")
    assert 0.3 <= icc <= 0.7
    assert 0.1 <= lag1 <= 0.5
    assert 0.05 <= sd <= 0.2
