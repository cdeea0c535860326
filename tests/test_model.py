"""The Mesa model: construction, Mesa 3 idioms, simultaneity, dissolution, drawn populations."""

from __future__ import annotations

import mesa
import numpy as np
import pytest

from sim.agents import PartnerAgent
from sim.model import CoupleModel
from sim.population import PAIRING_MATRIX, PRESETS, STYLES, make_population
from sim.tables import DAILY_COLUMNS


def test_model_builds_with_no_arguments_and_steps():
    model = CoupleModel()
    for _ in range(10):
        model.step()
    assert model.day == 10
    assert isinstance(model.agents, mesa.agentset.AbstractAgentSet) and len(model.agents) == 2
    assert all(isinstance(a, PartnerAgent) for a in model.agents)
    assert model.datacollector.get_model_vars_dataframe().shape[0] == 11


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_runs(preset):
    model = CoupleModel(preset, n_couples=2, seed=1, days=30).run()
    assert len(model.outcomes()) == 2
    a, b = model.couples[0]
    assert (a.style, b.style) == tuple(preset.split("-"))


def test_update_is_simultaneous_so_order_cannot_decide_who_pursues():
    """Without noise, the avoidant-anxious couple is the anxious-avoidant couple mirrored."""
    # Identical partners to their presets' centres (preset_spread=0), so the mirror image is exact.
    quiet = ["stress_sd=0", "perception_noise=0", "shock_day=20", "preset_spread=0", "conflict_rate=0"]
    ab = CoupleModel("anxious-avoidant", seed=3, overrides=quiet, days=60).run().daily_table()
    ba = CoupleModel("avoidant-anxious", seed=3, overrides=quiet, days=60).run().daily_table()
    for col in ("distress", "pursuit", "withdrawal", "anxiety"):
        np.testing.assert_allclose(ab[ab.role == "a"][col].to_numpy(), ba[ba.role == "b"][col].to_numpy(),
                                   rtol=0, atol=1e-12)
    assert ab[ab.role == "a"]["pursuit"].max() > 0.3   # the anxious partner really pursued


def test_activation_order_does_not_matter():
    """Activating the agents in a random order each phase leaves every number unchanged."""
    reference = CoupleModel("anxious-avoidant", n_couples=4, seed=2, days=40).run().daily_table()
    model = CoupleModel("anxious-avoidant", n_couples=4, seed=2, days=40)
    model.agents.do = model.agents.shuffle_do   # same AgentSet, random activation order
    shuffled = model.run().daily_table()
    np.testing.assert_array_equal(shuffled["distress"].to_numpy(), reference["distress"].to_numpy())
    np.testing.assert_array_equal(shuffled["pursuit"].to_numpy(), reference["pursuit"].to_numpy())


def test_daily_table_is_tidy():
    table = CoupleModel("anxious-avoidant", n_couples=3, seed=1, days=20).run().daily_table()
    assert list(table.columns) == list(DAILY_COLUMNS)
    assert len(table) == 3 * 2 * 21
    assert not table.duplicated(["agent_id", "day"]).any()


def test_dissolution_when_distress_stays_high_and_only_when_enabled():
    harsh = ["responsiveness=0", "dissolution_distress=0.4", "dissolution_days=30"]
    on = CoupleModel("anxious-avoidant", n_couples=5, seed=4, overrides=harsh + ["dissolution=true"], days=365).run()
    off = CoupleModel("anxious-avoidant", n_couples=5, seed=4, overrides=harsh, days=365).run()
    out = on.outcomes()
    assert (out["classification"] == "dissolved").all()
    assert (out["dissolution_day"] >= 30).all()
    assert not off.outcomes()["dissolved"].any()
    # After dissolution the partners no longer interact: their state is frozen.
    table = on.daily_table()
    after = table[(table.couple_id == 0) & (~table.together)]
    assert len(after) > 0 and after.groupby("role")["distress"].nunique().eq(1).all()


def test_drawn_population_matches_prevalence_and_pairing():
    pop = make_population(n_couples=4000, seed=1, drawn=True)
    first = pop.style[:, 0]
    shares = {s: float(np.mean(first == s)) for s in STYLES}
    assert abs(shares["secure"] - 0.56) < 0.03 and abs(shares["avoidant"] - 0.25) < 0.03
    assert abs(shares["anxious"] - 0.19) < 0.03
    pairs = set(map(tuple, pop.style.tolist()))
    assert ("anxious", "anxious") not in pairs and ("avoidant", "avoidant") not in pairs
    anxious_first = pop.style[first == "anxious", 1]
    assert abs(np.mean(anxious_first == "avoidant") - PAIRING_MATRIX[1, 2]) < 0.06
    assert pop.partner["anxiety"].min() >= 1 and pop.partner["anxiety"].max() <= 7
    random_pairs = make_population(n_couples=4000, seed=1, drawn=True, overrides=["assortative_pairing=0"])
    assert ("anxious", "anxious") in set(map(tuple, random_pairs.style.tolist()))


def test_overrides_reach_the_right_partner():
    pop = make_population("anxious-avoidant", 2, 0, overrides=["avoidant.responsiveness=0.9", "a.goal_support=0.1",
                                                              "preset_spread=0"])   # clones: the levels show
    assert pop.partner["responsiveness"][:, 1].tolist() == [0.9, 0.9]
    assert pop.partner["responsiveness"][:, 0].tolist() == [0.5, 0.5]
    assert pop.partner["goal_support"][:, 0].tolist() == [0.1, 0.1]
    model = CoupleModel(population=pop)
    assert model.couples[0][1].responsiveness == 0.9


def test_preset_couples_are_different_people_around_their_styles():
    """Within a preset, traits and support spread around the style's centre by trait_sd and support_sd.

    With 4,000 couples the SD of a sample SD is about sd / sqrt(2 n) (under 2% of it), and clipping at the
    scale ends removes little this far inside the scale; so 10% is a margin of several standard errors.
    """
    pop = make_population("anxious-avoidant", 4000, 3)
    anxiety, responsiveness = pop.partner["anxiety"], pop.partner["responsiveness"]
    assert abs(anxiety[:, 0].mean() - 5.0) < 0.05 and abs(anxiety[:, 1].mean() - 2.5) < 0.05
    assert abs(anxiety[:, 0].std() - 0.6) < 0.06
    assert abs(responsiveness[:, 1].std() - 0.15) < 0.015
    assert (pop.style == np.array(["anxious", "avoidant"], dtype=object)).all()   # the pairing names the styles
    clones = make_population("anxious-avoidant", 50, 3, overrides=["preset_spread=0"])
    assert (clones.partner["anxiety"] == [5.0, 2.5]).all() and (clones.partner["goal_support"] == [0.4, 0.6]).all()


def test_partners_are_similar_within_their_styles():
    """Partner b's trait deviations correlate with partner a's by partner_similarity (se about 1/sqrt(n))."""
    for rho in (0.0, 0.6):
        pop = make_population("secure-secure", 6000, 5, overrides=[f"partner_similarity={rho}", "trait_sd=0.4"])
        for trait in ("anxiety", "avoidance"):
            r = np.corrcoef(pop.partner[trait][:, 0], pop.partner[trait][:, 1])[0, 1]
            assert abs(r - rho) < 0.06, (trait, rho, r)       # 0.06 is about 4.6 standard errors at n = 6,000
