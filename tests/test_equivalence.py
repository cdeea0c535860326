"""The batch engine and the Mesa model are two drivers of one model: same numbers, every day."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.dynamics import STATE_FIELDS
from sim.engine import simulate
from sim.model import CoupleModel
from sim.population import make_population

DAYS = 365
COUPLES = 50


# Every feature of a schedule, spread over the couples: recipes (with ramps and stages), a rhythm
# (every), an end (until, for), set/scale/add, one-off and recurring conflicts, roles, styles and the
# relative selectors, per-couple start days.
CUSTOM_PLAN = ["b.responsiveness=0.95 from=40 every=3 until=300", "more-anxious.hyperactivation*=0.7 from=60 for=90",
               "avoidant.goal_support+=-0.2 from=30 ramp=20", "a.conflict=1.2 from=150",
               "conflict=0.4 from=200 every=7 for=60"]
PLANS = ["checkin-ritual", "self-soothing", "damage-control-then-engagement", CUSTOM_PLAN,
         "reassurance-ritual from=20 until=90", "goal-support-boost"]


RANDOM_CONFLICTS = ["conflict_rate=0.2", "conflict_severity=1.5"]   # more and bigger than the defaults


def _with_interventions(pop):
    """The population with a plan per group of couples; recipes start on staggered intervention days."""
    pop.couple["intervention_day"] = 100 + 3 * np.arange(pop.n)
    for k, plan in enumerate(PLANS):
        pop = pop.with_intervention(plan, couples=np.arange(k, pop.n, len(PLANS) + 1))
    return pop


@pytest.mark.parametrize("events", [[], ["shock_day=120", "dissolution=true", "dissolution_distress=0.6",
                                         "dissolution_days=20"], "interventions",
                                    "conflicts"],
                         ids=["plain", "shock+dissolution", "interventions", "random conflicts"])
def test_mesa_and_batch_give_the_same_trajectories(events):
    """A drawn (mixed) population of 50 couples, every state variable every day, within 1e-12."""
    if events == "interventions":
        pop = _with_interventions(make_population(n_couples=COUPLES, seed=31, drawn=True, overrides=["shock_day=80"]))
        assert set(pop.intervention) == {"none", *[p if isinstance(p, str) else "; ".join(p) for p in PLANS]}
    elif events == "conflicts":
        pop = make_population(n_couples=COUPLES, seed=31, drawn=True, overrides=RANDOM_CONFLICTS)
    else:
        pop = make_population(n_couples=COUPLES, seed=31, drawn=True, overrides=events)
    assert len(set(pop.pairing)) >= 4                                   # really mixed
    mesa_model = CoupleModel(population=pop, days=DAYS, seed=31).run()
    batch = simulate(pop, DAYS, series_couples=range(COUPLES))
    mesa_table, batch_table = mesa_model.daily_table(), batch.series
    assert len(mesa_table) == len(batch_table) == COUPLES * 2 * (DAYS + 1)
    for col in ("couple_id", "agent_id", "role", "style", "day", "together"):
        assert (mesa_table[col].to_numpy() == batch_table[col].to_numpy()).all(), col
    for name in STATE_FIELDS + ("responsiveness", "goal_support"):
        np.testing.assert_allclose(batch_table[name].to_numpy(), mesa_table[name].to_numpy(), rtol=0, atol=1e-12,
                                   err_msg=name)
    mesa_out, batch_out = mesa_model.outcomes(), batch.outcomes
    assert (mesa_out["classification"] == batch_out["classification"]).all()
    numeric = mesa_out.select_dtypes("number").columns
    np.testing.assert_allclose(batch_out[numeric].to_numpy(float), mesa_out[numeric].to_numpy(float),
                               rtol=0, atol=1e-12)
    if events == "interventions":
        plain = simulate(make_population(n_couples=COUPLES, seed=31, drawn=True, overrides=["shock_day=80"]), DAYS,
                         series_couples=range(COUPLES)).series
        changed = (plain["distress"] != batch_table["distress"]).groupby(batch_table["couple_id"]).any()
        untouched = np.arange(COUPLES) % (len(PLANS) + 1) == len(PLANS)
        assert changed[~untouched].all() and not changed[untouched].any()   # each plan acts; only on its couples
    elif events == "conflicts":
        plain = simulate(make_population(n_couples=COUPLES, seed=31, drawn=True, overrides=["conflict_rate=0"]),
                         DAYS).outcomes
        assert (plain["intensity_mean"] != batch_out["intensity_mean"]).mean() > 0.9     # conflicts happened
    elif events:
        assert batch_out["dissolved"].any() and not batch_out["dissolved"].all()
        assert batch_out["settle_days"].notna().any()


def test_a_couple_is_the_same_couple_whatever_runs_beside_it():
    """Running cells side by side in one call gives each couple exactly what it gets alone."""
    low = make_population("anxious-avoidant", 20, 5, overrides=["responsiveness=0.2"])
    high = make_population("anxious-avoidant", 20, 5, overrides=["responsiveness=0.8"])
    together = make_population("anxious-avoidant", 40, 5,
                               values={"responsiveness": np.repeat([0.2, 0.8], 20)},
                               spawn_keys=[(c,) for c in range(20)] * 2)
    alone = pd.concat([simulate(low, 200).outcomes, simulate(high, 200).outcomes], ignore_index=True)
    side_by_side = simulate(together, 200).outcomes
    pd.testing.assert_frame_equal(alone, side_by_side)


def test_parameters_can_be_arrays_over_couples_and_partners():
    n = 6
    # Random conflicts off: the biggest jump in distress must be each couple's own scheduled shock.
    pop = make_population("anxious-avoidant", n, 1, overrides=["conflict_rate=0"], values={
        "responsiveness": np.linspace(0.1, 0.9, n),                         # over couples
        "goal_support": np.tile([[0.2, 0.7]], (n, 1)),                      # per partner
        "shock_day": np.arange(n) * 10 + 5,                                 # couple scope
        "high_intensity": np.full(n, 0.3),                                  # classification threshold
    })
    assert pop.partner["responsiveness"][:, 1].tolist() == pytest.approx(np.linspace(0.1, 0.9, n).tolist())
    assert pop.partner["goal_support"][0].tolist() == [0.2, 0.7]
    series = simulate(pop, 120, series_couples=range(n)).series
    jump = series.groupby(["couple_id", "day"])["distress"].mean().groupby("couple_id").diff()
    assert (jump.groupby("couple_id").idxmax().map(lambda key: key[1]).to_numpy() == np.arange(n) * 10 + 5).all()
    with pytest.raises(ValueError, match="responsiveness"):
        make_population("anxious-avoidant", n, 1, values={"responsiveness": np.linspace(0, 2, n)})
    with pytest.raises(ValueError, match="shape"):
        make_population("anxious-avoidant", n, 1, values={"responsiveness": np.zeros(n + 1)})


def test_daily_aggregates_match_exact_quantiles_within_one_bin():
    pop = make_population(n_couples=300, seed=2, drawn=True)
    result = simulate(pop, 120, series_couples=range(300), groups=np.arange(300) % 3)
    series = result.series
    series = series.assign(group=series["couple_id"] % 3)
    for day in (0, 60, 120):
        for variable, bin_width in (("pursuit", 0.01), ("withdrawal", 0.01), ("anxiety", 0.06)):
            for (group, role), values in series[series.day == day].groupby(["group", "role"])[variable]:  # noqa: B007 - used as @group/@role in query()
                row = result.aggregates.query("day == @day and group == @group and role == @role "
                                              "and variable == @variable").iloc[0]
                assert row["couples"] == len(values)
                assert row["mean"] == pytest.approx(values.mean(), abs=1e-12)
                # The histogram locates the inverted-CDF quartile (smallest value with at least q below).
                exact = np.quantile(values, [0.25, 0.5, 0.75], method="inverted_cdf")
                assert np.abs(row[["q25", "q50", "q75"]].to_numpy(float) - exact).max() <= bin_width + 1e-9


def test_outcome_memory_does_not_grow_with_days():
    """Without series, nothing the engine returns per couple grows with the run's length."""
    pop = make_population("anxious-avoidant", 50, 1)
    short, long = simulate(pop, 100), simulate(pop, 1000)
    assert short.outcomes.shape == long.outcomes.shape
    assert short.series is None and long.series is None
