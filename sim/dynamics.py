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

from typing import Any, NamedTuple

import numpy as np

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
    """Distress drive of today's conflict, shared by both partners.

    ``c(t) = [u1(t) < lambda] * (-kappa log u2(t))``: a conflict breaks out with
    chance ``lambda`` a day, and its size is exponential with mean ``kappa``,
    with ``u1`` and ``u2`` the couple's two conflict uniforms of the day.
    """
    return (u_occurs < rate) * (-severity * np.log(u_size))


def appraised_threat(a, v, partner_withdrawal, partner_pursuit, perceived_goal_support,
                     perceived_responsiveness, distance_sensitivity, pressure_sensitivity,
                     goal_support_as_distance):
    """Distress drive from appraising the partner's behaviour yesterday.

    ``threat_i = k_dist a_i W_j + k_press v_i P_j + k_go a_i G^_i (1 - R^_i)``:
    the anxious read the partner's withdrawal as distance, the avoidant read
    the partner's pursuit as pressure, and the anxious read goal support that
    comes without a safe haven as "go away" (Jakubiak et al. 2023).
    """
    distance = distance_sensitivity * a * partner_withdrawal
    pressure = pressure_sensitivity * v * partner_pursuit
    go_away = goal_support_as_distance * a * perceived_goal_support * (1.0 - perceived_responsiveness)
    return distance + pressure + go_away


def bid_for_support(a, v, distress, pursuit):
    """How much an agent asks of its partner on a day.

    ``bid_i = min(1, P_i + (1 - a_i)(1 - v_i) D_i)``: anxious agents bid by
    pursuing; secure agents make calm bids in proportion to their distress;
    avoidant agents suppress their needs and bid little.
    """
    return np.minimum(pursuit + (1.0 - a) * (1.0 - v) * distress, 1.0)


def partner_response(responsiveness, withdrawal, bid):
    """The response a bid gets: ``resp_j = r_j (1 - W_j) bid_i``.

    It depends on the responder's responsiveness and on how withdrawn the
    responder was on the day of the bid.
    """
    return responsiveness * (1.0 - withdrawal) * bid


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
    decay = np.exp(-total)
    return distress * decay + (drive_up / total) * (1.0 - decay)


def distress_drives(a, stressor, threat, coregulation_drive, baseline_distress, anxious_distress,
                    recovery_rate, rumination):
    """The up and down drives of distress.

    ``alpha_i = b0 + b_a a_i + s_i + threat_i`` and
    ``beta_i = rho (1 - m a_i) + c_i``: anxious agents carry more baseline
    insecurity and recover more slowly on their own (rumination).
    """
    up = baseline_distress + anxious_distress * a + stressor + threat
    down = recovery_rate * (1.0 - rumination * a) + coregulation_drive
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


def hyperactivation(a, distress, threshold, gain):
    """Target pursuit: ``P*_i = sigma(h_P a_i max(0, D_i - theta))``."""
    return switch(gain * a * activation(distress, threshold))


def deactivation(v, distress, threshold, gain):
    """Target withdrawal: ``W*_i = sigma(h_W v_i max(0, D_i - theta))``."""
    return switch(gain * v * activation(distress, threshold))


def with_inertia(previous, target, inertia):
    """Habit: ``x(t) = eta x(t-1) + (1 - eta) x*``."""
    return inertia * previous + (1.0 - inertia) * target


def perceive(previous, received, a, bias, noise_sd, z, rate):
    """Perceived support follows received support, discounted by anxiety.

    ``obs = clip(received (1 - b a_i) + sigma_p z)`` and
    ``X^(t) = X^(t-1) + tau_p (obs - X^(t-1))`` (Collins & Feeney 2004).
    """
    observed = clip01(received * (1.0 - bias * a) + noise_sd * z)
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


def felt_security_from_support(perceived_responsiveness, perceived_goal_support, a, haven, secure_base_effect,
                               goal_support_as_distance):
    """What a day's support says about one's worth (the anxiety-relevant experience).

    ``sec_i = R^_i + w_b G^_i h_i - k_go a_i G^_i (1 - R^_i)``, with ``h_i`` from
    :func:`secure_base`: goal support adds to security only through a safe
    haven; without one, it reads as distance to the anxious (Jakubiak et al.
    2023; Arriaga et al. 2018). Not clipped: a ceiling here would flatten the
    effect of goal support exactly where responsiveness is high (the trait
    itself is kept in range instead).
    """
    return (perceived_responsiveness + secure_base_effect * perceived_goal_support * haven
            - goal_support_as_distance * a * perceived_goal_support * (1.0 - perceived_responsiveness))


def trust_from_support(perceived_responsiveness, perceived_goal_support, partner_pursuit, haven,
                       secure_base_effect):
    """What a day says about depending on the partner (the avoidance-relevant experience).

    ``trust_i = (R^_i + w_b G^_i h_i) (1 - P_j)``: responsiveness that comes
    without pressure and respects autonomy (Arriaga et al. 2018, ASEM).
    """
    return (perceived_responsiveness + secure_base_effect * perceived_goal_support * haven) * (1.0 - partner_pursuit)


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


def partner_day(own: PartnerState, partner: PartnerState, p: Any, partner_responsiveness,
                partner_goal_support, z, shock) -> PartnerState:
    """One day for one partner (or for every partner at once), from yesterday's couple state.

    Args:
        own: this partner's state on day t-1.
        partner: the other partner's state on day t-1.
        p: this partner's parameters (attribute access; floats or arrays).
        partner_responsiveness: the support for dependence the partner gives
            (safe haven).
        partner_goal_support: the support for independence the partner gives
            (secure base).
        z: the day's standard normals (sim.randomness.daily_normals), last axis
            stressor, perceived responsiveness, perceived goal support.
        shock: conflict-shock drive today (0 on other days).

    Returns:
        This partner's state on day t.
    """
    a = unit_trait(own.anxiety)
    v = unit_trait(own.avoidance)

    # The partner answered yesterday's bid, as withdrawn as the partner was then.
    response = partner_response(partner_responsiveness, partner.withdrawal,
                                bid_for_support(a, v, own.distress, own.pursuit))

    stressor = daily_stressor(p.stress_mean, p.stress_sd, z[..., 0], shock)
    threat = appraised_threat(a, v, partner.withdrawal, partner.pursuit, own.perceived_goal_support,
                              own.perceived_responsiveness, p.distance_sensitivity,
                              p.pressure_sensitivity, p.goal_support_as_distance)
    soothing = coregulation(response, own.satisfaction, p.coregulation, p.coregulation_floor)
    up, down = distress_drives(a, stressor, threat, soothing, p.baseline_distress,
                               p.anxious_distress, p.recovery_rate, p.rumination)
    distress = relax_distress(own.distress, up, down)

    pursuit = with_inertia(own.pursuit, hyperactivation(a, distress, p.activation_threshold, p.hyperactivation),
                           p.behaviour_inertia)
    withdrawal = with_inertia(own.withdrawal, deactivation(v, distress, p.activation_threshold, p.deactivation),
                              p.behaviour_inertia)

    available = partner_responsiveness * (1.0 - partner.withdrawal)
    perceived_r = perceive(own.perceived_responsiveness, available, a, p.perception_bias,
                           p.perception_noise, z[..., 1], p.perception_rate)
    perceived_g = perceive(own.perceived_goal_support, partner_goal_support, a, p.perception_bias,
                           p.perception_noise, z[..., 2], p.perception_rate)

    satisfaction = follow(own.satisfaction, 1.0 - distress, p.satisfaction_rate)
    goal = follow(own.goal_pursuit,
                  goal_pursuit_target(perceived_g, perceived_r, distress, p.goal_base,
                                      p.goal_support_effect, p.safe_haven_effect, p.distress_goal_cost),
                  p.goal_rate)

    haven = secure_base(perceived_r, p.haven_threshold)
    security = felt_security_from_support(perceived_r, perceived_g, a, haven, p.secure_base_effect,
                                          p.goal_support_as_distance)
    trust = trust_from_support(perceived_r, perceived_g, partner.pursuit, haven, p.secure_base_effect)
    anxiety = ecr_score(learn_trait(a, unit_trait(p.anxiety), security, p.learning_rate, p.core_weight))
    avoidance = ecr_score(learn_trait(v, unit_trait(p.avoidance), trust, p.learning_rate, p.core_weight))

    return PartnerState(anxiety, avoidance, distress, pursuit, withdrawal, goal, perceived_r,
                        perceived_g, satisfaction, response)


def initial_state(p: Any, partner_responsiveness, partner_goal_support) -> PartnerState:
    """Day-0 state: calm, perceiving the partner's support through one's own anxiety.

    Distress starts at its no-partner set point ``D* = alpha / (alpha + beta)``
    with mean stress and no threat; behaviour at its targets for that distress;
    perceptions at the anxiety-discounted support; satisfaction at 1 - D.
    """
    a = unit_trait(p.anxiety)
    v = unit_trait(p.avoidance)
    up, down = distress_drives(a, p.stress_mean, 0.0, 0.0, p.baseline_distress, p.anxious_distress,
                               p.recovery_rate, p.rumination)
    distress = up / np.maximum(up + down, 1e-12)
    perceived_r = partner_responsiveness * (1.0 - p.perception_bias * a)
    perceived_g = partner_goal_support * (1.0 - p.perception_bias * a)
    goal = goal_pursuit_target(perceived_g, perceived_r, distress, p.goal_base, p.goal_support_effect,
                               p.safe_haven_effect, p.distress_goal_cost)
    zero = 0.0 * distress
    return PartnerState(p.anxiety + zero, p.avoidance + zero, distress,
                        hyperactivation(a, distress, p.activation_threshold, p.hyperactivation),
                        deactivation(v, distress, p.activation_threshold, p.deactivation), goal, perceived_r + zero,
                        perceived_g + zero, 1.0 - distress, zero)


def cycle_intensity(pursuit_a, withdrawal_a, pursuit_b, withdrawal_b):
    """Strength of the pursue-withdraw cycle on a day.

    ``I(t) = max(P_a W_b, P_b W_a)``: one partner's pursuit times the other's
    withdrawal, in whichever direction the cycle runs.
    """
    return np.maximum(pursuit_a * withdrawal_b, pursuit_b * withdrawal_a)


def dissolution_count(count, distress_a, distress_b, threshold):
    """Consecutive days on which either partner's distress exceeded the threshold."""
    return (count + 1) * (np.maximum(distress_a, distress_b) > threshold)
