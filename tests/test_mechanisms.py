"""One unit test per mechanism of sim.dynamics: each checks the direction the theory gives it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim import dynamics as d
from sim.randomness import couple_keys, daily_normals


def test_trait_rescaling_round_trips():
    assert d.unit_trait(1.0) == 0.0 and d.unit_trait(7.0) == 1.0
    assert d.ecr_score(d.unit_trait(4.3)) == pytest.approx(4.3)


def test_daily_stressor_is_non_negative_and_carries_the_shock():
    assert d.daily_stressor(0.05, 0.1, -5.0, 0.0) == 0.0
    assert d.daily_stressor(0.05, 0.1, 1.0, 0.0) == pytest.approx(0.15)
    assert d.daily_stressor(0.05, 0.1, 0.0, 1.5) == pytest.approx(1.55)


def test_appraisal_anxious_read_distance_avoidant_read_pressure():
    kw = dict(perceived_goal_support=0.0, perceived_responsiveness=1.0, distance_sensitivity=0.6,
              pressure_sensitivity=0.6, goal_support_as_distance=0.6, buffering=0.5, autonomy_relief=0.5)
    anxious = dict(a=0.8, v=0.1)
    avoidant = dict(a=0.1, v=0.8)
    # The anxious agent is hurt by withdrawal far more than by pursuit; the avoidant the reverse.
    assert d.appraised_threat(**anxious, partner_withdrawal=1, partner_pursuit=0, **kw) > \
        4 * d.appraised_threat(**anxious, partner_withdrawal=0, partner_pursuit=1, **kw)
    assert d.appraised_threat(**avoidant, partner_withdrawal=0, partner_pursuit=1, **kw) > \
        4 * d.appraised_threat(**avoidant, partner_withdrawal=1, partner_pursuit=0, **kw)


def test_goal_support_without_safe_haven_reads_as_distance_to_the_anxious():
    kw = dict(v=0.1, partner_withdrawal=0.0, partner_pursuit=0.0, distance_sensitivity=0.6,
              pressure_sensitivity=0.6, goal_support_as_distance=0.6, buffering=0.5, autonomy_relief=0.5)
    no_haven = d.appraised_threat(a=0.8, perceived_goal_support=0.9, perceived_responsiveness=0.0, **kw)
    haven = d.appraised_threat(a=0.8, perceived_goal_support=0.9, perceived_responsiveness=1.0, **kw)
    secure = d.appraised_threat(a=0.0, perceived_goal_support=0.9, perceived_responsiveness=0.0, **kw)
    assert no_haven > 0.3 and haven == 0.0 and secure == 0.0


def test_bids_anxious_pursue_secure_bid_calmly_avoidant_suppress():
    assert d.bid_for_support(a=0.1, v=0.1, distress=0.6, pursuit=0.0) == pytest.approx(0.81 * 0.6)
    assert d.bid_for_support(a=0.1, v=0.9, distress=0.6, pursuit=0.0) < 0.1
    assert d.bid_for_support(a=0.9, v=0.1, distress=0.6, pursuit=0.9) == pytest.approx(0.9 + 0.1 * 0.9 * 0.6)
    assert d.bid_for_support(a=0.9, v=0.1, distress=1.0, pursuit=1.0) == 1.0


def test_a_responsive_partner_buffers_threat_and_goal_support_relieves_pressure():
    kw = dict(partner_withdrawal=0.8, partner_pursuit=0.8, distance_sensitivity=0.6, pressure_sensitivity=0.6,
              goal_support_as_distance=0.0, buffering=0.8, autonomy_relief=0.6)
    anxious, avoidant = dict(a=0.8, v=0.1), dict(a=0.1, v=0.8)
    unbuffered = d.appraised_threat(**anxious, perceived_goal_support=0.0, perceived_responsiveness=0.0, **kw)
    buffered = d.appraised_threat(**anxious, perceived_goal_support=0.0, perceived_responsiveness=1.0, **kw)
    assert buffered == pytest.approx(0.2 * unbuffered)          # Simpson & Overall 2014: buffering
    pressed = d.appraised_threat(**avoidant, perceived_goal_support=0.0, perceived_responsiveness=0.0, **kw)
    respected = d.appraised_threat(**avoidant, perceived_goal_support=1.0, perceived_responsiveness=0.0, **kw)
    assert respected < pressed                                  # autonomy support relieves pressure


def test_support_given_depends_on_capacity_and_the_givers_state():
    kw = dict(distress_cost=0.5, satisfaction_floor=0.6)
    calm = d.enacted_support(0.8, distress=0.0, blocked=0.0, satisfaction=1.0, **kw)
    assert calm == pytest.approx(0.8)                           # full capacity when calm, open and satisfied
    assert d.enacted_support(0.8, 1.0, 0.0, 1.0, **kw) == pytest.approx(0.4)     # distressed: half
    assert d.enacted_support(0.8, 0.0, 1.0, 1.0, **kw) == 0.0    # fully withdrawn (or pursuing): nothing
    assert d.enacted_support(0.8, 0.0, 0.0, 0.0, **kw) == pytest.approx(0.48)    # dissatisfied: the floor
    assert d.enacted_support(0.0, 0.0, 0.0, 1.0, **kw) == 0.0    # no capacity, nothing to give


def test_unanswered_pursuit_gives_way_to_despair_that_quiets_protest_and_fades():
    assert d.unanswered_pursuit(0.8, 0.0) == pytest.approx(0.8)
    assert d.unanswered_pursuit(0.8, 1.0) == 0.0
    despair = 0.0
    for _ in range(30):                                         # a month of unanswered pursuit
        despair = d.despair_update(despair, d.unanswered_pursuit(0.8, 0.1), gain=2.0, rate=0.05)
    assert 0.7 < despair < 1.0                                  # builds over weeks (1 - 0.95^30 of the way)
    protest = d.hyperactivation(0.8, 0.9, distress=0.8, threshold=0.4, gain=4, despair=0.0)
    quiet = d.hyperactivation(0.8, 0.9, distress=0.8, threshold=0.4, gain=4, despair=despair)
    assert quiet < 0.5 * protest
    for _ in range(30):                                         # a calm month: it fades
        despair = d.despair_update(despair, 0.0, gain=2.0, rate=0.05)
    assert despair < 0.2


def test_coregulation_soothes_more_in_a_good_relationship():
    good = d.coregulation(0.5, satisfaction=0.9, strength=1.0, floor=0.3)
    poor = d.coregulation(0.5, satisfaction=0.1, strength=1.0, floor=0.3)
    assert good > 2 * poor > 0
    assert d.coregulation(0.0, 0.9, 1.0, 0.3) == 0.0


def test_distress_relaxes_exactly_towards_its_set_point_and_stays_in_range():
    # One day of dD/dt = alpha(1-D) - beta D from D=0 with alpha=beta=1: D = 0.5(1 - e^-2).
    assert d.relax_distress(0.0, 1.0, 1.0) == pytest.approx(0.5 * (1 - math.exp(-2)))
    assert d.relax_distress(0.3, 0.0, 0.0) == pytest.approx(0.3)
    assert 0.0 <= d.relax_distress(1.0, 50.0, 0.0) <= 1.0
    kw = dict(stressor=0.1, threat=0.2, coregulation_drive=0.0, baseline_distress=0.02, anxious_distress=0.1,
              recovery_rate=0.5, rumination=0.5, withdrawal_soothing=0.3)
    up, down = d.distress_drives(a=0.8, withdrawal=0.0, **kw)
    up0, down0 = d.distress_drives(a=0.0, withdrawal=0.0, **kw)
    assert up > up0 and down < down0  # anxiety: more baseline insecurity, slower recovery (rumination)
    assert d.distress_drives(a=0.0, withdrawal=1.0, **kw)[1] == pytest.approx(down0 + 0.3)  # distance soothes


def test_hyperactivation_and_deactivation_switch_on_above_threshold():
    anxious, avoidant, secure = d.hyperactivating_share(0.9, 0.1), d.hyperactivating_share(0.1, 0.9), 0.5
    assert anxious == pytest.approx(0.9) and avoidant == pytest.approx(0.1)
    assert d.hyperactivating_share(0.0, 0.0) == pytest.approx(0.5)
    assert d.hyperactivation(0.9, anxious, distress=0.15, threshold=0.2, gain=8, despair=0.0) == 0.0
    assert d.hyperactivation(0.9, anxious, distress=0.7, threshold=0.2, gain=8, despair=0.0) > 0.8
    assert d.hyperactivation(0.1, secure, distress=0.7, threshold=0.2, gain=8, despair=0.0) < 0.1  # no protest
    assert d.deactivation(0.9, avoidant, distress=0.7, threshold=0.2, gain=8) > 0.8
    assert d.deactivation(0.1, secure, distress=0.7, threshold=0.2, gain=8) < 0.1
    # Alternative strategies (Mikulincer & Shaver 2003): the anxious hardly withdraw, the avoidant hardly pursue.
    assert d.deactivation(0.1, anxious, distress=0.7, threshold=0.2, gain=8) < 0.01
    assert d.hyperactivation(0.1, avoidant, distress=0.7, threshold=0.2, gain=8, despair=0.0) < 0.01
    # S-shaped: steeper in the middle than at the onset.
    x = np.linspace(0, 3, 301)
    slope = np.diff(d.switch(x))
    assert slope[:10].mean() < slope[50:60].mean()


def test_inertia_and_follow_are_convex_steps():
    assert d.with_inertia(0.2, 1.0, 0.5) == pytest.approx(0.6)
    assert d.follow(0.2, 1.0, 0.1) == pytest.approx(0.28)


def test_perception_is_discounted_by_anxiety_without_a_ceiling():
    secure = d.perceive(0.5, received=0.8, a=0.0, bias=0.4, noise_sd=0.0, z=0.0, rate=1.0)
    anxious = d.perceive(0.5, received=0.8, a=1.0, bias=0.4, noise_sd=0.0, z=0.0, rate=1.0)
    assert secure == pytest.approx(0.8) and anxious == pytest.approx(0.8 * (1 - 0.4 * 0.2))
    # Full support reads as full support even to the most anxious: no ceiling below 1.
    assert d.perceive(0.5, received=1.0, a=1.0, bias=1.0, noise_sd=0.0, z=0.0, rate=1.0) == pytest.approx(1.0)
    assert d.discount(0.5, 1.0, 1.0) == pytest.approx(0.25)
    assert 0.0 <= d.perceive(0.5, 1.0, 0.0, 0.4, 1.0, 10.0, 1.0) <= 1.0


def test_goal_pursuit_grows_with_support_and_safe_haven_falls_with_distress():
    kw = dict(base=0.2, goal_support_effect=0.4, safe_haven_effect=0.3, distress_cost=0.3)
    base = d.goal_pursuit_target(0.5, 0.5, 0.2, **kw)
    assert d.goal_pursuit_target(0.9, 0.5, 0.2, **kw) > base
    assert d.goal_pursuit_target(0.5, 0.9, 0.2, **kw) > base   # dependency paradox
    assert d.goal_pursuit_target(0.5, 0.5, 0.8, **kw) < base


def test_goal_support_adds_security_only_on_a_safe_haven():
    def gain(r, a):
        haven = d.secure_base(r, 0.4)
        return (d.felt_security_from_support(r, 0.8, a, d.secure_base_support(0.8, haven, 1.5), 1.2)
                - d.felt_security_from_support(r, 0.2, a, d.secure_base_support(0.2, haven, 1.5), 1.2))
    assert d.secure_base(0.3, 0.4) == 0.0 and d.secure_base(1.0, 0.4) == 1.0
    assert gain(0.9, 0.7) > 0.3       # with a safe haven goal support raises security
    assert gain(0.3, 0.0) == 0.0      # below the haven threshold it gives a secure person nothing
    assert gain(0.3, 0.7) < -0.2      # and reads as distance to an anxious one
    # No ceiling: the gain keeps growing with responsiveness (a ceiling would flatten it at the top).
    assert gain(1.0, 0.0) > gain(0.8, 0.0) > gain(0.6, 0.0) > 0
    base = d.secure_base_support(0.5, d.secure_base(0.8, 0.4), 1.5)
    assert d.trust_from_support(0.8, base, partner_pursuit=0.0) > d.trust_from_support(0.8, base, partner_pursuit=0.9)
    # Diminishing returns: the second half of goal support adds less than the first.
    assert d.secure_base_support(0.5, 1.0, 1.5) - d.secure_base_support(0.0, 1.0, 1.5) > \
        d.secure_base_support(1.0, 1.0, 1.5) - d.secure_base_support(0.5, 1.0, 1.5) > 0


def test_learning_moves_traits_slowly_towards_experience_and_core():
    # Full security experience with no core weight lowers anxiety by learning_rate of the gap.
    after = d.learn_trait(0.75, 0.75, experienced=1.0, learning_rate=0.01, core_weight=0.0)
    assert after == pytest.approx(0.75 - 0.01 * 0.75)
    # The core pulls back: a trait away from its core drifts home when experience is neutral.
    assert d.learn_trait(0.5, 0.3, experienced=0.5, learning_rate=0.01, core_weight=0.5) < 0.5
    assert d.learn_trait(0.5, 0.5, 0.2, learning_rate=0.0, core_weight=0.5) == 0.5


def test_cycle_intensity_takes_the_stronger_direction():
    assert d.cycle_intensity(0.8, 0.0, 0.1, 0.0) == 0.0
    assert d.cycle_intensity(0.8, 0.1, 0.1, 0.5) == pytest.approx(0.4)
    assert d.cycle_intensity(0.1, 0.5, 0.8, 0.1) == pytest.approx(0.4)


def test_dissolution_counts_consecutive_days_above_threshold():
    count = np.array([0, 3, 5])
    out = d.dissolution_count(count, np.array([0.9, 0.9, 0.1]), np.array([0.1, 0.1, 0.1]), 0.8)
    assert out.tolist() == [1, 4, 0]


def test_partner_day_is_pure():
    """The same inputs give the same day: no hidden state in the equations."""
    from types import SimpleNamespace

    from sim.params import defaults
    p = SimpleNamespace(**defaults("partner"))
    s1 = d.initial_state(SimpleNamespace(**{**vars(p), "anxiety": 5.0}), 0.5, 0.5)._replace(distress=0.6)
    s2 = d.initial_state(SimpleNamespace(**{**vars(p), "avoidance": 5.0}), 0.5, 0.5)._replace(pursuit=0.3)
    z = np.zeros(4)
    first = d.partner_day(s1, s2, SimpleNamespace(**{**vars(p), "anxiety": 5.0}), z, 0.0)
    again = d.partner_day(s1, s2, SimpleNamespace(**{**vars(p), "anxiety": 5.0}), z, 0.0)
    assert first == again   # pure: no hidden state


def test_random_streams_are_per_couple_and_order_free():
    keys = couple_keys(7, [(c,) for c in range(5)])
    assert len(set(keys.tolist())) == 5
    all_days = daily_normals(keys, 3)
    one = daily_normals(keys[2:3], 3)
    assert np.array_equal(all_days[2:3], one)         # a couple's numbers ignore its neighbours
    assert not np.array_equal(daily_normals(keys, 4), all_days)
    big = daily_normals(couple_keys(1, [(c,) for c in range(20000)]), 1).ravel()
    assert abs(big.mean()) < 0.02 and abs(big.std() - 1) < 0.02
    assert abs(np.corrcoef(big[:-1], big[1:])[0, 1]) < 0.02


def test_conflicts_break_out_at_their_rate_with_exponential_sizes():
    """Over 2,000 couples x 365 days: the share of conflict days is the rate, sizes have mean and SD kappa.

    Thresholds are 5 standard errors: binomial for the share (n = 730,000 couple-days), and kappa / sqrt(k)
    for the mean and SD of k exponential sizes. A conflict breaks out for both partners at once; how hard it
    hits each is the partner's own draw, so the two sizes are independent (correlation within 5 SE of 0).
    """
    from sim.dynamics import conflict_event
    from sim.randomness import couple_keys, daily_conflict_uniforms
    keys = couple_keys(4, [(c,) for c in range(2000)])
    rate, kappa = 0.1, 0.8
    def day_drives(day, rate):
        u = daily_conflict_uniforms(keys, day)
        return np.stack([conflict_event(u[:, 0], u[:, 1 + r], rate, kappa) for r in range(2)], axis=1)
    both = np.concatenate([day_drives(day, rate) for day in range(1, 366)])
    assert np.array_equal(both[:, 0] > 0, both[:, 1] > 0)      # one conflict, for both partners
    hit = both[both[:, 0] > 0]
    assert abs(np.corrcoef(hit[:, 0], hit[:, 1])[0, 1]) < 5 / np.sqrt(len(hit))
    drives = both[:, 0]
    share = np.mean(drives > 0)
    assert abs(share - rate) < 5 * np.sqrt(rate * (1 - rate) / drives.size)
    sizes = drives[drives > 0]
    assert abs(sizes.mean() - kappa) < 5 * kappa / np.sqrt(sizes.size)
    assert abs(sizes.std() - kappa) < 5 * kappa / np.sqrt(sizes.size) * 1.5     # SD of an SD, with margin
    assert np.all(day_drives(7, 0.0) == 0.0)     # rate 0: none


def test_random_conflicts_raise_distress_and_leave_the_other_draws_alone():
    """Same couples, same seed: conflicts add distress on their days; on the days before the first, nothing moves."""
    from sim.engine import simulate
    from sim.population import make_population
    calm = make_population("secure-secure", 200, 9, overrides=["conflict_rate=0"])
    stormy = make_population("secure-secure", 200, 9, overrides=["conflict_rate=0.1", "conflict_severity=1.0"])
    quiet = simulate(calm, 120, series_couples=range(200)).series
    rough = simulate(stormy, 120, series_couples=range(200)).series
    assert rough["distress"].mean() > quiet["distress"].mean() + 0.02
    assert np.array_equal(rough[rough.day == 0]["distress"].to_numpy(), quiet[quiet.day == 0]["distress"].to_numpy())


def test_partners_share_part_of_their_daily_stress():
    """The stressor normals of the two partners correlate by shared_stress and stay standard normal.

    Over 2,000 couples x 200 days (400,000 pairs) the SE of a correlation is about 0.0016 and of an SD about
    0.0011, so 0.01 is more than 6 of either.
    """
    from sim.dynamics import shared_strain, shared_strain_weights
    from sim.randomness import couple_keys, daily_normals, daily_shared_normals
    keys = couple_keys(8, [(c,) for c in range(2000)])
    for share in (0.0, 0.3, 0.7):
        mixed = np.concatenate([shared_strain(daily_normals(keys, day)[:, :, 0],
                                              daily_shared_normals(keys, day)[:, None], *shared_strain_weights(share))
                                for day in range(1, 201)])
        assert abs(np.corrcoef(mixed[:, 0], mixed[:, 1])[0, 1] - share) < 0.01
        assert abs(mixed.std() - 1.0) < 0.01
