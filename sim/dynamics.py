"""The model's equations: the one place where the dynamics live.

Every function here is pure and works unchanged on Python floats, numpy
scalars and numpy arrays of any shape, so the Mesa agents (one partner at a
time) and the batch engine (all couples at once, shape ``(couples, 2)``) call
the very same code. Each mechanism is a small named function; its equation is
written out in its docstring and in docs/ODD.md section 7.

Notation: ``a`` and ``v`` are anxiety and avoidance rescaled from the ECR-R
1-7 scale to 0-1; index ``i`` is the agent, ``j`` its partner; ``t`` the day.
Everything on the right-hand side of a day-``t`` update is from day ``t-1``
(plus the day's random draws), so the two partners update simultaneously.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
from numba import literal_unroll  # identity in Python; numba unrolls the loop, so it vectorises

# --- state -------------------------------------------------------------------

class PartnerState(NamedTuple):
    """One partner's state on one day (floats for one agent, arrays for many)."""

    anxiety: Any                   # ECR-R 1-7, drifts slowly
    avoidance: Any                 # ECR-R 1-7, drifts slowly
    distress: Any                  # 0-1; felt security is 1 - distress
    pursuit: Any                   # 0-1; hyperactivating bids (protest, demands)
    withdrawal: Any                # 0-1; deactivating distance (going quiet)
    goal_pursuit: Any              # 0-1; independent goal pursuit (exploration)
    perceived_responsiveness: Any  # 0-1; what the agent perceives of the partner's safe haven
    perceived_goal_support: Any    # 0-1; what the agent perceives of the partner's secure base
    satisfaction: Any              # 0-1; relationship satisfaction (slow felt security)
    received_response: Any         # 0-1; the partner's response to the agent's last bid
    despair: Any                   # 0-1; protest given way to despair after pursuit went unanswered
    responsiveness_given: Any      # 0-1; the safe haven this agent offers today (capacity times state)
    goal_support_given: Any        # 0-1; the secure base this agent offers today (capacity times state)


STATE_FIELDS: tuple[str, ...] = PartnerState._fields


_PER_POINT = 1.0 / 6.0


def unit_trait(score):
    """Rescale an ECR-R score (1-7) to 0-1: ``a = (A - 1) / 6``."""
    return (score - 1.0) * _PER_POINT


def ecr_score(unit):
    """Rescale a 0-1 trait back to the ECR-R 1-7 scale: ``A = 1 + 6 a``."""
    return 1.0 + 6.0 * unit


def clip01(x):
    """Clamp to [0, 1]."""
    return np.minimum(np.maximum(x, 0.0), 1.0)

_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01   # ln 2 split in two (fdlibm), so k ln 2 is exact in the high part
_LN2_LO = 1.90821492927058770002e-10
_EXP_TAYLOR = tuple(1.0 / math.factorial(n) for n in range(13, -1, -1))   # e^-r, highest order first


def power_of_half(k):
    """``2^-k`` for a whole number ``k`` (as a float) in 0-1022, exactly.

    In Python, ``ldexp``; compiled (sim.compiled), the double's bits are set
    directly, its exponent field to ``1023 - k``: a few integer operations that
    a compiler can vectorise, where ``ldexp`` is a call into the math library.
    """
    return np.ldexp(1.0, -np.asarray(k).astype(np.int64))


def exp_neg(x):
    """``exp(-x)`` for ``0 <= x <= 700``, in arithmetic a compiler can vectorise (no call to a math library).

    ``x = k ln 2 + r`` with ``k = round(x / ln 2)`` and ``|r| <= ln 2 / 2``;
    ``exp(-r)`` by its Taylor polynomial to order 13 (truncation below
    5e-18), times ``2^-k`` (:func:`power_of_half`; exact, as the result stays
    a normal double). Within two units in the last place of the C library's
    ``exp``. Larger ``x`` is taken as 700 (``exp(-700)`` is about 1e-304).
    """
    x = np.minimum(x, 700.0)
    k = np.floor(x * _LOG2E + 0.5)
    r = (x - k * _LN2_HI) - k * _LN2_LO
    value = 0.0 * r
    for coefficient in literal_unroll(_EXP_TAYLOR):
        value = value * (-r) + coefficient
    return value * power_of_half(k)


# --- mechanisms ----------------------------------------------------------------

def daily_stressor(stress_mean, stress_sd, z, shock):
    """Distress drive from the day's stressors.

    ``s_i(t) = max(0, mu_s + sigma_s z_i(t)) + shock(t)``, with ``z`` standard
    normal and ``shock`` the conflict shock's size on its day, else 0.
    """
    return np.maximum(stress_mean + stress_sd * z, 0.0) + shock


def shared_strain_weights(share):
    """The weights of the own and the shared normal in a partner's stressor: ``(sqrt(1 - w), sqrt(w))``."""
    return np.sqrt(1.0 - share), np.sqrt(share)


def shared_strain(z_own, z_shared, own_weight, shared_weight):
    """The normal behind a partner's daily stressor, part of it shared with the partner.

    ``z~_i(t) = sqrt(1 - w) z_i0(t) + sqrt(w) z_c(t)`` with the weights from
    :func:`shared_strain_weights`: still standard normal, and the two partners'
    stressor normals correlate by ``w`` (``z_c`` is the couple's shared normal
    of the day).
    """
    return own_weight * z_own + shared_weight * z_shared


def conflict_event(u_occurs, u_size, rate, severity):
    """Distress drive of today's conflict for one partner.

    ``c_i(t) = [u1(t) < lambda] * (-kappa log u2_i(t))``: a conflict breaks out,
    for both partners at once, with chance ``lambda`` a day (``u1`` is the
    couple's uniform), and how hard it hits partner i is exponential with
    mean ``kappa`` (``u2_i`` is the partner's own uniform).
    """
    return (u_occurs < rate) * (-severity * np.log(u_size))


def appraised_threat(a, v, partner_withdrawal, partner_pursuit, perceived_goal_support,
                     perceived_responsiveness, distance_sensitivity, pressure_sensitivity,
                     goal_support_as_distance, buffering, autonomy_relief):
    """Distress drive from appraising the partner's behaviour yesterday.

    ``threat_i = (1 - b_R R^_i) (k_dist a_i W_j + k_press v_i (1 - b_G G^_i) P_j) + k_go a_i G^_i (1 - R^_i)``:
    the anxious read the partner's withdrawal as distance, the avoidant read
    the partner's pursuit as pressure, and the anxious read goal support that
    comes without a safe haven as "go away" (Jakubiak et al. 2023). A partner
    perceived as responsive buffers the first two: the same withdrawal or
    pressure from a partner one can count on is less of a threat (Simpson &
    Overall 2014, partner buffering of attachment insecurity). A partner who
    supports one's independence makes the same pursuit less of a threat to
    one's autonomy (Overall, Simpson & Struthers 2013; Feeney & Thrush 2010).
    """
    distance = distance_sensitivity * a * partner_withdrawal
    pressure = pressure_sensitivity * v * (1.0 - autonomy_relief * perceived_goal_support) * partner_pursuit
    go_away = goal_support_as_distance * a * perceived_goal_support * (1.0 - perceived_responsiveness)
    return (1.0 - buffering * perceived_responsiveness) * (distance + pressure) + go_away


def bid_for_support(a, v, distress, pursuit):
    """How much an agent asks of its partner on a day.

    ``bid_i = min(1, P_i + (1 - a_i)(1 - v_i) D_i)``: anxious agents bid by
    pursuing; secure agents make calm bids in proportion to their distress;
    avoidant agents suppress their needs and bid little.
    """
    return np.minimum(pursuit + (1.0 - a) * (1.0 - v) * distress, 1.0)


def coregulation(response, satisfaction, strength, floor):
    """Recovery drive from the partner's response (Coan, Schaefer & Davidson 2006).

    ``c_i = kappa resp_i (f + (1 - f) S_i)``: a response soothes, and soothes
    more when the relationship is going well.
    """
    return strength * response * (floor + (1.0 - floor) * satisfaction)


def relax_distress(distress, drive_up, drive_down):
    """One day of ``dD/dt = alpha (1 - D) - beta D``, integrated exactly.

    ``D(t) = D* + (D(t-1) - D*) exp(-(alpha + beta))`` with
    ``D* = alpha / (alpha + beta)``. Distress stays in [0, 1] by construction.
    """
    total = np.maximum(drive_up + drive_down, 1e-12)
    decay = exp_neg(total)
    return distress * decay + (drive_up / total) * (1.0 - decay)


def distress_drives(a, stressor, threat, coregulation_drive, withdrawal, baseline_distress, anxious_distress,
                    recovery_rate, rumination, withdrawal_soothing):
    """The up and down drives of distress.

    ``alpha_i = b0 + b_a a_i + s_i + threat_i`` and
    ``beta_i = rho (1 - m a_i) + c_i + k_W W_i``: anxious agents carry more
    baseline insecurity and recover more slowly on their own (rumination);
    yesterday's withdrawal soothes the withdrawer (time out from a flooding
    conflict, Gottman & Levenson 1988; Gottman 1993).
    """
    up = baseline_distress + anxious_distress * a + stressor + threat
    down = recovery_rate * (1.0 - rumination * a) + coregulation_drive + withdrawal_soothing * withdrawal
    return up, down


def activation(distress, threshold):
    """Distress beyond the threshold at which the attachment system switches on: ``max(0, D - theta)``."""
    return np.maximum(distress - threshold, 0.0)


def switch(drive):
    """The S-shaped response of attachment behaviour to its drive: ``sigma(x) = x^2 / (1 + x^2)``.

    Flat near zero and steep in the middle, so a couple can rest in a calm
    state that a large enough push tips into an escalated one (bistability).
    """
    squared = drive * drive
    return squared / (1.0 + squared)


def hyperactivating_share(a, v):
    """Share of an activated attachment system that goes into hyperactivation: ``s_i = a_i / (a_i + v_i)``.

    Hyperactivation and deactivation are alternative secondary strategies
    (Mikulincer & Shaver 2003): the anxious rely on protest, the avoidant on
    distance, and a fearful person, high on both, splits between them. The
    rest, ``1 - s_i``, goes into deactivation; with both traits at zero the
    share is one half.
    """
    return (a + 1e-9) / (a + v + 2e-9)


def hyperactivation(a, share, distress, threshold, gain, despair):
    """Target pursuit: ``P*_i = sigma(h_P a_i s_i (1 - E_i) max(0, D_i - theta))``.

    ``s_i`` from :func:`hyperactivating_share`; despair ``E_i`` quiets protest.
    """
    return switch(gain * a * share * (1.0 - despair) * activation(distress, threshold))


def deactivation(v, share, distress, threshold, gain):
    """Target withdrawal: ``W*_i = sigma(h_W v_i (1 - s_i) max(0, D_i - theta))``."""
    return switch(gain * v * (1.0 - share) * activation(distress, threshold))


def unanswered_pursuit(pursuit, response):
    """How much of yesterday's protest went unanswered: ``u_i = P_i (1 - resp_i)``."""
    return pursuit * (1.0 - response)


def despair_update(despair, unanswered, gain, rate):
    """Protest gives way to despair when pursuit goes unanswered (Bowlby 1973; Sbarra & Hazan 2008).

    ``E_i(t) = E_i(t-1) + tau_E (min(1, k_E u_i) - E_i(t-1))``: despair builds
    over days of unanswered pursuit and fades as slowly once pursuit stops or
    is answered. It is the slow negative feedback that ends an episode:
    despair quiets pursuit (:func:`hyperactivation`), the partner's distance
    is no longer provoked, both calm, and despair fades, so the couple can
    flare again at a later conflict.
    """
    return despair + rate * (np.minimum(gain * unanswered, 1.0) - despair)


def enacted_support(capacity, distress, blocked, satisfaction, distress_cost, satisfaction_floor):
    """Support an agent gives today: capacity, as far as its state allows.

    ``given = c_i (1 - x_i) (1 - k_D D_i) (f_S + (1 - f_S) S_i)``, with ``c_i``
    the declared capacity (responsiveness or goal support) and ``x_i`` what
    blocks that kind of support: one's own withdrawal for responsiveness (a
    withdrawn partner is not there to respond), one's own pursuit for goal
    support (a protesting partner does not encourage the other to go). A
    distressed giver has less to give (Iida, Seidman, Shrout, Fujita & Bolger
    2008), a satisfied one more (Collins & Feeney 2000).
    """
    return (capacity * (1.0 - blocked) * (1.0 - distress_cost * distress)
            * (satisfaction_floor + (1.0 - satisfaction_floor) * satisfaction))


def support_given(p: Any, distress, withdrawal, pursuit, satisfaction):
    """Both kinds of support an agent gives in a state: ``(responsiveness given, goal support given)``.

    :func:`enacted_support` of the agent's capacities ``p.responsiveness``
    (blocked by its withdrawal) and ``p.goal_support`` (blocked by its pursuit).
    """
    return (enacted_support(p.responsiveness, distress, withdrawal, satisfaction, p.giver_distress_cost,
                            p.giver_satisfaction_floor),
            enacted_support(p.goal_support, distress, pursuit, satisfaction, p.giver_distress_cost,
                            p.giver_satisfaction_floor))


def with_inertia(previous, target, inertia):
    """Habit: ``x(t) = eta x(t-1) + (1 - eta) x*``."""
    return inertia * previous + (1.0 - inertia) * target


def discount(received, a, bias):
    """Support as an anxious agent reads it: ``received (1 - b a_i (1 - received))``.

    Anxiety discounts middling support (at ``b a = 1`` a half reads as a
    quarter) but not full support: 1 still reads as 1, and 0 as 0, so there
    is no ceiling below what a perfectly responsive partner gives (Collins &
    Feeney 2004: the anxious read ambiguous support less favourably). With
    ``b a <= 1`` the reading stays within 0-1.
    """
    return received * (1.0 - bias * a * (1.0 - received))


def perceive(previous, received, a, bias, noise_sd, z, rate):
    """Perceived support follows received support, discounted by anxiety.

    ``obs = clip(received (1 - b a_i (1 - received)) + sigma_p z)`` (:func:`discount`) and
    ``X^(t) = X^(t-1) + tau_p (obs - X^(t-1))`` (Collins & Feeney 2004).
    """
    observed = clip01(discount(received, a, bias) + noise_sd * z)
    return previous + rate * (observed - previous)


def goal_pursuit_target(perceived_goal_support, perceived_responsiveness, distress, base,
                        goal_support_effect, safe_haven_effect, distress_cost):
    """Where independent goal pursuit is heading.

    ``G*_i = clip(g0 + g_G G^_i + g_R R^_i - g_D D_i)``: goal support feeds goal
    pursuit directly, and a safe haven frees the agent to explore
    (the dependency paradox, Feeney 2007).
    """
    return clip01(base + goal_support_effect * perceived_goal_support
                  + safe_haven_effect * perceived_responsiveness - distress_cost * distress)


def follow(previous, target, rate):
    """First-order approach: ``x(t) = x(t-1) + tau (x* - x(t-1))``."""
    return previous + rate * (target - previous)


def secure_base(perceived_responsiveness, threshold):
    """How much of a safe haven there is to explore from: ``h = max(0, R^ - r0) / (1 - r0)``.

    Goal support works as a secure base only on top of a safe haven
    (Feeney 2007; Jakubiak et al. 2023): below the threshold there is none.
    """
    return np.maximum(perceived_responsiveness - threshold, 0.0) / np.maximum(1.0 - threshold, 1e-9)


def secure_base_support(perceived_goal_support, haven, effect):
    """What goal support adds to security on a safe haven, with diminishing returns.

    ``b_i = w_b x / (1 + x)`` with ``x = G^_i h_i``: a little goal support on a
    safe haven counts for much, more of it for less (support has diminishing
    and even reversing returns when it is overprovided: Brock & Lawrence 2009;
    Girme, Overall, Simpson & Fletcher 2015).
    """
    x = perceived_goal_support * haven
    return effect * x / (1.0 + x)


def felt_security_from_support(perceived_responsiveness, perceived_goal_support, a, base, goal_support_as_distance):
    """What a day's support says about one's worth (the anxiety-relevant experience).

    ``sec_i = R^_i + b_i - k_go a_i G^_i (1 - R^_i)``, with ``b_i`` the secure
    base from :func:`secure_base_support`: goal support adds to security only
    through a safe haven; without one, it reads as distance to the anxious
    (Jakubiak et al. 2023; Arriaga et al. 2018). Not clipped: a ceiling here
    would flatten the effect of goal support exactly where responsiveness is
    high (the trait itself is kept in range instead).
    """
    return (perceived_responsiveness + base
            - goal_support_as_distance * a * perceived_goal_support * (1.0 - perceived_responsiveness))


def trust_from_support(perceived_responsiveness, base, partner_pursuit):
    """What a day says about depending on the partner (the avoidance-relevant experience).

    ``trust_i = (R^_i + b_i) (1 - P_j)``: responsiveness that comes without
    pressure and respects autonomy (Arriaga et al. 2018, ASEM).
    """
    return (perceived_responsiveness + base) * (1.0 - partner_pursuit)


def learn_trait(x, core, experienced, learning_rate, core_weight):
    """Slow revision of a working model, in 0-1 units.

    ``x(t) = clip(x(t-1) + lambda [(1 - w) (x_exp - x(t-1)) + w (x_core - x(t-1))])``
    with ``x_exp = 1 - experience`` (security for anxiety, trust for
    avoidance) and ``x_core`` the person's stable core (the starting score;
    Fraley et al. 2011). The trait stays within the scale; the experience
    may fall outside 0-1.
    """
    target = (1.0 - core_weight) * (1.0 - experienced) + core_weight * core
    return clip01(x + learning_rate * (target - x))


def partner_day(own: PartnerState, partner: PartnerState, p: Any, z, shock) -> PartnerState:
    """One day for one partner (or for every partner at once), from yesterday's couple state.

    Args:
        own: this partner's state on day t-1.
        partner: the other partner's state on day t-1, including the support
            the partner gave that day (``responsiveness_given``,
            ``goal_support_given``).
        p: this partner's parameters (attribute access; floats or arrays),
            including its own capacities ``responsiveness`` and ``goal_support``.
        z: the day's three standard normals (sim.randomness.daily_normals), in
            order stressor, perceived responsiveness, perceived goal support:
            a sequence of three (floats or arrays), or an array whose first
            axis holds them.
        shock: conflict drive today (scheduled shock plus random conflict; 0 on other days).

    Returns:
        This partner's state on day t.
    """
    a = unit_trait(own.anxiety)
    v = unit_trait(own.avoidance)

    # The partner answered yesterday's bid with the safe haven the partner offered then.
    response = partner.responsiveness_given * bid_for_support(a, v, own.distress, own.pursuit)

    stressor = daily_stressor(p.stress_mean, p.stress_sd, z[0], shock)
    threat = appraised_threat(a, v, partner.withdrawal, partner.pursuit, own.perceived_goal_support,
                              own.perceived_responsiveness, p.distance_sensitivity,
                              p.pressure_sensitivity, p.goal_support_as_distance, p.responsive_buffering,
                              p.autonomy_relief)
    soothing = coregulation(response, own.satisfaction, p.coregulation, p.coregulation_floor)
    up, down = distress_drives(a, stressor, threat, soothing, own.withdrawal, p.baseline_distress,
                               p.anxious_distress, p.recovery_rate, p.rumination, p.withdrawal_soothing)
    distress = relax_distress(own.distress, up, down)

    despair = despair_update(own.despair, unanswered_pursuit(own.pursuit, response), p.despair_gain,
                             p.despair_rate)
    share = hyperactivating_share(a, v)
    pursuit = with_inertia(own.pursuit, hyperactivation(a, share, distress, p.activation_threshold,
                                                        p.hyperactivation, despair), p.behaviour_inertia)
    withdrawal = with_inertia(own.withdrawal, deactivation(v, share, distress, p.activation_threshold,
                                                           p.deactivation), p.behaviour_inertia)

    perceived_r = perceive(own.perceived_responsiveness, partner.responsiveness_given, a, p.perception_bias,
                           p.perception_noise, z[1], p.perception_rate)
    perceived_g = perceive(own.perceived_goal_support, partner.goal_support_given, a, p.perception_bias,
                           p.perception_noise, z[2], p.perception_rate)

    satisfaction = follow(own.satisfaction, 1.0 - distress, p.satisfaction_rate)
    goal = follow(own.goal_pursuit,
                  goal_pursuit_target(perceived_g, perceived_r, distress, p.goal_base,
                                      p.goal_support_effect, p.safe_haven_effect, p.distress_goal_cost),
                  p.goal_rate)

    base = secure_base_support(perceived_g, secure_base(perceived_r, p.haven_threshold), p.secure_base_effect)
    security = felt_security_from_support(perceived_r, perceived_g, a, base, p.goal_support_as_distance)
    trust = trust_from_support(perceived_r, base, partner.pursuit)
    anxiety = ecr_score(learn_trait(a, unit_trait(p.anxiety), security, p.learning_rate, p.core_weight))
    avoidance = ecr_score(learn_trait(v, unit_trait(p.avoidance), trust, p.learning_rate, p.core_weight))

    # Today's support comes from the state one entered the day in (yesterday's), like every other update.
    responsiveness_given, goal_support_given = support_given(p, own.distress, own.withdrawal, own.pursuit,
                                                             own.satisfaction)
    return PartnerState(anxiety, avoidance, distress, pursuit, withdrawal, goal, perceived_r,
                        perceived_g, satisfaction, response, despair, responsiveness_given, goal_support_given)


def initial_state(p: Any, partner_responsiveness, partner_goal_support) -> PartnerState:
    """Day-0 state: calm, perceiving the partner's support through one's own anxiety.

    Distress starts at its no-partner set point ``D* = alpha / (alpha + beta)``
    with mean stress and no threat; behaviour at its targets for that distress
    (no despair); satisfaction at 1 - D; the support given at one's capacity
    in that state; perceptions at the partner's capacities as one's anxiety
    reads them (:func:`discount`).
    """
    a = unit_trait(p.anxiety)
    v = unit_trait(p.avoidance)
    up, down = distress_drives(a, p.stress_mean, 0.0, 0.0, 0.0, p.baseline_distress, p.anxious_distress,
                               p.recovery_rate, p.rumination, p.withdrawal_soothing)
    distress = up / np.maximum(up + down, 1e-12)
    perceived_r = discount(partner_responsiveness, a, p.perception_bias)
    perceived_g = discount(partner_goal_support, a, p.perception_bias)
    goal = goal_pursuit_target(perceived_g, perceived_r, distress, p.goal_base, p.goal_support_effect,
                               p.safe_haven_effect, p.distress_goal_cost)
    zero = 0.0 * distress
    share = hyperactivating_share(a, v)
    pursuit = hyperactivation(a, share, distress, p.activation_threshold, p.hyperactivation, zero)
    withdrawal = deactivation(v, share, distress, p.activation_threshold, p.deactivation)
    satisfaction = 1.0 - distress
    responsiveness_given, goal_support_given = support_given(p, distress, withdrawal, pursuit, satisfaction)
    return PartnerState(p.anxiety + zero, p.avoidance + zero, distress, pursuit, withdrawal, goal,
                        perceived_r + zero, perceived_g + zero, satisfaction, zero, zero, responsiveness_given,
                        goal_support_given)


def cycle_intensity(pursuit_a, withdrawal_a, pursuit_b, withdrawal_b):
    """Strength of the pursue-withdraw cycle on a day.

    ``I(t) = max(P_a W_b, P_b W_a)``: one partner's pursuit times the other's
    withdrawal, in whichever direction the cycle runs.
    """
    return np.maximum(pursuit_a * withdrawal_b, pursuit_b * withdrawal_a)


def dissolution_count(count, distress_a, distress_b, threshold):
    """Consecutive days on which either partner's distress exceeded the threshold."""
    return (count + 1) * (np.maximum(distress_a, distress_b) > threshold)
