"""Every parameter of the model, declared once.

Validation, the ODD parameter table, the command line (and later the app and
the experiment specs) all read :data:`PARAMETERS`. A parameter's *scope* says
how finely it may vary:

- ``partner``: may differ between the two partners of a couple (and between
  couples); the batch engine holds it as an array of shape (couples, 2).
- ``couple``: one value per couple (e.g. the day of a conflict shock).
- ``population``: shapes how a drawn population is sampled.
- ``classification``: thresholds of the outcome classification.
- ``measurement``: how a virtual study measures people (sim.study).

Trait scores are on the ECR-R scale (1-7, Fraley, Waller & Brennan 2000);
the equations use them rescaled to 0-1 (see :func:`sim.dynamics.unit_trait`).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Scope = Literal["partner", "couple", "population", "classification", "measurement"]


@dataclass(frozen=True)
class Parameter:
    """One declared model parameter."""

    name: str
    default: float | int | bool
    low: float
    high: float
    unit: str
    meaning: str
    source: str
    scope: Scope
    group: str
    kind: type = float

    def allowed(self) -> str:
        """Describe the allowed values in words, for error messages and docs."""
        if self.kind is bool:
            return "true or false"
        if self.kind is int:
            return f"an integer from {int(self.low)} to {int(self.high)}"
        return f"a number from {self.low:g} to {self.high:g}"


class ParameterError(ValueError):
    """A parameter name or value that the declarations do not allow."""

    def __init__(self, name: str, value: Any, allowed: str, unknown: bool = False):
        self.name, self.value, self.allowed = name, value, allowed
        if unknown:
            message = f"unknown parameter {name!r} (value {value!r}); expected {allowed}"
        else:
            message = f"parameter {name!r}: value {value!r} is not allowed; expected {allowed}"
        super().__init__(message)


ECR = "ECR-R score, 1-7"
PER_DAY = "per day"
UNIT = "0-1"

_DECLARATIONS: list[Parameter] = [
    # --- traits and the support each partner gives ------------------------
    Parameter("anxiety", 3.5, 1, 7, ECR,
              "Attachment anxiety at the start (fear of abandonment; hyperactivating strategy). "
              "Presets and drawn populations set it per partner.",
              "Fraley, Waller & Brennan 2000 (scale); default near typical sample means (assumption)",
              "partner", "traits"),
    Parameter("avoidance", 3.0, 1, 7, ECR,
              "Attachment avoidance at the start (discomfort with closeness; deactivating strategy). "
              "Presets and drawn populations set it per partner.",
              "Fraley, Waller & Brennan 2000 (scale); default near typical sample means (assumption)",
              "partner", "traits"),
    Parameter("responsiveness", 0.5, 0, 1, UNIT,
              "Capacity for support for dependence (safe haven, reassurance): the share of the other's bids "
              "this partner meets when calm, open and satisfied; what it gives on a day is this capacity as far "
              "as its withdrawal, distress and satisfaction allow (support as behaviour).",
              "Feeney 2007; Jakubiak et al. 2023 (construct); level assumption",
              "partner", "support"),
    Parameter("goal_support", 0.5, 0, 1, UNIT,
              "Capacity for support for independence (secure base): encouragement of the other's personal "
              "goals when calm and satisfied; what it gives on a day is this capacity as far as its own pursuit, "
              "distress and satisfaction allow.",
              "Feeney 2007; Jakubiak et al. 2023 (construct); level assumption",
              "partner", "support"),
    # --- daily stress and conflict -------------------------------------------
    Parameter("stress_mean", 0.05, 0, 1, "distress drive per day",
              "Mean of the daily stressor (work, health, money) that pushes distress up.",
              "assumption", "partner", "stress"),
    Parameter("stress_sd", 0.20, 0, 1, "distress drive per day",
              "Day-to-day standard deviation of the daily stressor (normal, truncated at 0).",
              "assumption", "partner", "stress"),
    Parameter("shared_stress", 0.1, 0, 1, UNIT,
              "Share of the variance of the daily stressor that the partners share (money, children, illness, a "
              "bad day at home): stress spills over into the relationship and crosses over to the partner.",
              "Bolger, DeLongis, Kessler & Wethington 1989; Westman 2001; Neff & Karney 2009 (spillover and "
              "crossover of daily stress in couples); share assumption", "couple", "stress"),
    Parameter("shock_day", 0, 0, 100_000, "day",
              "Day on which a conflict shock hits both partners; 0 means no shock.",
              "assumption (seed 003: conflict switches the latent cycle on)", "couple", "stress", int),
    Parameter("shock_size", 1.5, 0, 5, "distress drive",
              "Extra distress drive of the conflict shock on its day.",
              "assumption", "couple", "stress"),
    Parameter("conflict_rate", 0.09, 0, 1, "per day",
              "Chance that a conflict breaks out on a day, for both partners at once (beside any scheduled "
              "shock); 0 keeps conflicts to the scheduled shock. Conflicts are discrete, recurring episodes in "
              "couples' diaries. The default, about one conflict every eleven days, is calibrated with the "
              "activation threshold so that the cycle stays latent until a conflict switches it on (P9) and "
              "flares several times a year at middling support (P8).",
              "Papp, Cummings & Goeke-Morey 2009 (marital conflict in diaries: recurring episodes); rate "
              "calibrated to P8 and P9", "couple", "stress"),
    Parameter("conflict_severity", 1.0, 0, 5, "distress drive",
              "Mean extra distress drive of a conflict on its day; how hard it hits is exponentially distributed "
              "(many small disagreements, few big fights), each partner's own draw.",
              "assumption", "couple", "stress"),
    # --- distress ------------------------------------------------------------
    Parameter("baseline_distress", 0.02, 0, 1, "distress drive per day",
              "Drive towards distress that everyone has, whatever the partner does.",
              "assumption", "partner", "distress"),
    Parameter("anxious_distress", 0.05, 0, 1, "distress drive per day",
              "Extra baseline drive per unit of (rescaled) anxiety: anxious people carry more felt insecurity.",
              "Mikulincer & Shaver 2016 (hyperactivation keeps distress salient); size assumption",
              "partner", "distress"),
    Parameter("recovery_rate", 0.5, 0, 2, PER_DAY,
              "Rate at which distress fades on its own (self-regulation).",
              "assumption", "partner", "distress"),
    Parameter("rumination", 0.5, 0, 1, UNIT,
              "Share of self-regulated recovery lost at maximal anxiety (anxious rumination).",
              "Mikulincer & Shaver 2016; size assumption", "partner", "distress"),
    # --- appraisal -----------------------------------------------------------
    Parameter("distance_sensitivity", 1.3, 0, 5, "distress drive per unit",
              "How strongly the partner's withdrawal raises distress, per unit of own anxiety "
              "(anxious vigilance for distance).",
              "theory.md s.2 (seeds 003, 004); size assumption", "partner", "appraisal"),
    Parameter("pressure_sensitivity", 1.5, 0, 5, "distress drive per unit",
              "How strongly the partner's pursuit raises distress, per unit of own avoidance "
              "(avoidant discomfort with pressure).",
              "theory.md s.2 (seeds 003, 004); size assumption", "partner", "appraisal"),
    Parameter("goal_support_as_distance", 0.4, 0, 3, "per unit",
              "How strongly goal support without a safe haven reads as 'go away' to an anxious agent "
              "(in the moment and in slow learning).",
              "Jakubiak et al. 2023; Feeney 2007; size assumption", "partner", "appraisal"),
    Parameter("responsive_buffering", 0.8, 0, 1, UNIT,
              "Share of the threat in a partner's withdrawal or pressure that is buffered away when the partner "
              "is perceived as fully responsive.",
              "Simpson & Overall 2014 (partner buffering of attachment insecurity); Overall, Simpson & Struthers "
              "2013; size assumption", "partner", "appraisal"),
    Parameter("autonomy_relief", 1.0, 0, 1, UNIT,
              "Share of the pressure in a partner's pursuit that is relieved when the partner is perceived as "
              "fully supporting one's independence (goal support respects the avoidant's autonomy).",
              "Overall, Simpson & Struthers 2013 (softening avoidant defences); Feeney & Thrush 2010 (secure "
              "base support); size assumption", "partner", "appraisal"),
    # --- behaviour -----------------------------------------------------------
    Parameter("activation_threshold", 0.41, 0, 1, "distress",
              "Distress above which the attachment system switches on: below it nobody pursues or withdraws.",
              "Mikulincer & Shaver 2003 (activation under threat); thresholded influence functions "
              "(Gottman, Swanson & Murray 1999); level assumption", "partner", "behaviour"),
    Parameter("hyperactivation", 24.0, 0, 30, "per unit distress",
              "Gain turning distress into pursuit, per unit of anxiety (protest, demands for reassurance).",
              "Mikulincer & Shaver 2016 (hyperactivating strategies); size assumption", "partner", "behaviour"),
    Parameter("deactivation", 14.0, 0, 30, "per unit distress",
              "Gain turning distress into withdrawal, per unit of avoidance (going quiet, shutting down).",
              "Mikulincer & Shaver 2016 (deactivating strategies); size assumption", "partner", "behaviour"),
    Parameter("behaviour_inertia", 0.3, 0, 0.99, UNIT,
              "Share of yesterday's pursuit and withdrawal carried into today (habit).",
              "assumption", "partner", "behaviour"),
    # --- episodes: what ends a flare-up ---------------------------------------
    Parameter("despair_rate", 0.05, 0, 1, PER_DAY,
              "Rate at which despair follows unanswered pursuit, building up and fading away (days to weeks).",
              "Bowlby 1973 (protest, despair, detachment); Sbarra & Hazan 2008 (protest and despair in adult "
              "separation); rate assumption", "partner", "episodes"),
    Parameter("despair_gain", 2.0, 0, 10, "per unit",
              "Despair that a day of fully unanswered pursuit leads to (capped at 1); despair quiets protest "
              "in proportion.", "Bowlby 1973; Sbarra & Hazan 2008; size assumption", "partner", "episodes"),
    Parameter("withdrawal_soothing", 0.3, 0, 5, "recovery per unit withdrawal",
              "How much one's own withdrawal speeds recovery from distress: distance soothes the withdrawer "
              "(time out from a flooding conflict).",
              "Gottman & Levenson 1988; Gottman 1993 (flooding, stonewalling as self-soothing); size assumption",
              "partner", "episodes"),
    # --- support as behaviour -------------------------------------------------
    Parameter("giver_distress_cost", 0.5, 0, 1, UNIT,
              "Share of the support one gives that is lost at maximal own distress: a distressed partner has "
              "less to give.", "Iida, Seidman, Shrout, Fujita & Bolger 2008 (own distress and support provision "
              "in daily diaries); size assumption", "partner", "support"),
    Parameter("giver_satisfaction_floor", 0.6, 0, 1, UNIT,
              "Share of one's support capacity given at zero relationship satisfaction (1 = satisfaction "
              "does not matter).", "Collins & Feeney 2000 (caregiving depends on relationship quality); size "
              "assumption", "partner", "support"),
    # --- co-regulation -------------------------------------------------------
    Parameter("coregulation", 1.0, 0, 5, "recovery per unit response",
              "How much a partner's response to a bid speeds recovery from distress.",
              "Coan, Schaefer & Davidson 2006; size assumption", "partner", "coregulation"),
    Parameter("coregulation_floor", 0.3, 0, 1, UNIT,
              "Effectiveness of a response when relationship satisfaction is zero (1 = quality does not matter).",
              "Coan, Schaefer & Davidson 2006 (hand-holding soothed more in better marriages); size assumption",
              "partner", "coregulation"),
    Parameter("satisfaction_rate", 0.05, 0.001, 1, PER_DAY,
              "Rate at which relationship satisfaction follows felt security.",
              "assumption", "partner", "coregulation"),
    # --- perception ----------------------------------------------------------
    Parameter("perception_rate", 0.1, 0.001, 1, PER_DAY,
              "Rate at which perceived support follows the support received.",
              "assumption", "partner", "perception"),
    Parameter("perception_bias", 0.4, 0, 1, UNIT,
              "Share of received support that goes unnoticed at maximal anxiety.",
              "Collins & Feeney 2004 (anxious partners read support less favourably); size assumption",
              "partner", "perception"),
    Parameter("perception_noise", 0.1, 0, 1, UNIT,
              "Day-to-day noise in what an agent perceives of the support it gets.",
              "assumption", "partner", "perception"),
    # --- independent goal pursuit ----------------------------------------------
    Parameter("goal_rate", 0.02, 0.001, 1, PER_DAY,
              "Rate at which independent goal pursuit follows its drivers (weeks to months).",
              "Feeney 2007 (effects seen at 6 months); size assumption", "partner", "goals"),
    Parameter("goal_base", 0.2, 0, 1, UNIT,
              "Goal pursuit with no support and no distress.", "assumption", "partner", "goals"),
    Parameter("goal_support_effect", 0.4, 0, 1, "per unit",
              "Increase in goal pursuit per unit of perceived goal support.",
              "Feeney 2007; Jakubiak et al. 2023; size assumption", "partner", "goals"),
    Parameter("safe_haven_effect", 0.3, 0, 1, "per unit",
              "Increase in goal pursuit per unit of perceived responsiveness (the dependency paradox).",
              "Feeney 2007; size assumption", "partner", "goals"),
    Parameter("distress_goal_cost", 0.3, 0, 1, "per unit",
              "Decrease in goal pursuit per unit of distress.", "assumption", "partner", "goals"),
    # --- slow learning of the working models -----------------------------------
    Parameter("learning_rate", 1 / 2100, 0, 0.05, PER_DAY,
              "Rate at which anxiety and avoidance move towards what experience says (ASEM's long time scale).",
              "Arriaga et al. 2018; calibrated so one-year test-retest stays realistic "
              "(Fraley et al. 2011; Sibley & Liu 2004)", "partner", "learning"),
    Parameter("core_weight", 0.5, 0, 1, UNIT,
              "Weight of the stable core in the learning target (the rest is experience).",
              "Fraley et al. 2011 (stable core plus fluctuation); size assumption", "partner", "learning"),
    Parameter("secure_base_effect", 2.05, 0, 5, "per unit",
              "How much goal support adds to felt security when there is a safe haven.",
              "Jakubiak et al. 2023; Arriaga et al. 2018; size assumption", "partner", "learning"),
    Parameter("haven_threshold", 0.4, 0, 0.99, UNIT,
              "Perceived responsiveness below which goal support gives no secure base (no safe haven to "
              "explore from).", "Jakubiak et al. 2023 (only with high reassurance); Feeney 2007; level assumption",
              "partner", "learning"),
    # --- dissolution ---------------------------------------------------------
    Parameter("dissolution", False, 0, 1, "switch",
              "Whether couples may dissolve. Off by default: escalating pairs often stay together "
              "(Kirkpatrick & Davis 1994).", "Kirkpatrick & Davis 1994", "couple", "dissolution", bool),
    Parameter("dissolution_distress", 0.8, 0, 1, UNIT,
              "Distress (of either partner) above which a day counts towards dissolution.",
              "assumption", "couple", "dissolution"),
    Parameter("dissolution_days", 90, 1, 100_000, "days",
              "Consecutive days above the threshold after which the couple dissolves.",
              "assumption", "couple", "dissolution", int),
    # --- interventions -------------------------------------------------------
    Parameter("intervention_day", 180, 1, 100_000, "day",
              "Day on which an intervention recipe (sim.interventions) begins, unless it names its own day.",
              "assumption (theory.md P7: begun mid-run)", "couple", "interventions", int),
    # --- drawn populations ---------------------------------------------------
    Parameter("share_anxious", 0.19, 0, 1, "proportion",
              "Share of people with an anxious (preoccupied) style.", "Hazan & Shaver 1987 (N = 620)",
              "population", "population"),
    Parameter("share_avoidant", 0.25, 0, 1, "proportion",
              "Share of people with an avoidant (dismissing) style.", "Hazan & Shaver 1987 (N = 620)",
              "population", "population"),
    Parameter("share_fearful", 0.0, 0, 1, "proportion",
              "Share of people with a fearful style (high on both); the rest are secure. Hazan & Shaver's "
              "three categories have none; raise it to split fearful people off the avoidant share.",
              "Hazan & Shaver 1987; Bartholomew & Horowitz 1991", "population", "population"),
    Parameter("assortative_pairing", 1.0, 0, 1, UNIT,
              "0 pairs people at random; 1 pairs them like Kirkpatrick & Davis's couples "
              "(no anxious-anxious or avoidant-avoidant pairs, anxious with avoidant over-represented).",
              "Kirkpatrick & Davis 1994 (354 couples); Hudson et al. 2014", "population", "population"),
    Parameter("trait_sd", 0.6, 0, 3, ECR,
              "Spread of anxiety and avoidance around the centre of a person's style.",
              "assumption (ECR-R sample SDs are about 1.1 over all styles)", "population", "population"),
    Parameter("support_sd", 0.15, 0, 0.5, UNIT,
              "Spread of responsiveness and goal support around the style's typical level.",
              "assumption", "population", "population"),
    Parameter("preset_spread", 1.0, 0, 1, UNIT,
              "How much of trait_sd and support_sd a preset's couples are drawn with: 1 makes every couple of a "
              "pairing a different pair of people around the styles' centres; 0 makes them identical (clones, "
              "for teaching one couple's mechanics).",
              "Fraley, Hudson, Heffernan & Segal 2015 (attachment dimensions are continuous: a style is a region, "
              "not a point); spread assumption", "population", "population"),
    Parameter("partner_similarity", 0.6, 0, 0.9, UNIT,
              "Correlation of the two partners' places within their styles, dimension by dimension: a relatively "
              "secure person tends to be with a relatively secure partner.",
              "Collins & Read 1990; Strauss, Morry & Kito 2012 (partners' attachment is correlated, as reviewed "
              "by Hudson, Fraley, Brumbaugh & Vicary 2014); size assumption", "population", "population"),
    # --- measurement in virtual studies -----------------------------------------
    Parameter("ecr_error_sd", 0.3, 0, 3, ECR,
              "SD of the measurement error of an ECR-R scale score (anxiety or avoidance) at a study wave.",
              "ECR-R reliability about .90-.95 with a sample SD about 1.1 (Fraley, Waller & Brennan 2000; "
              "Sibley & Liu 2004): error SD = SD x sqrt(1 - reliability), 0.25-0.35", "measurement",
              "measurement"),
    Parameter("support_error_sd", 0.08, 0, 1, UNIT,
              "SD of the measurement error of a perceived-support scale score (0-1 scale) at a study wave.",
              "assumption: reliability about .85 with an SD about 0.2 gives 0.08", "measurement", "measurement"),
    # --- outcome classification ----------------------------------------------
    Parameter("quiet_intensity", 0.05, 0, 1, "intensity",
              "A couple whose smoothed cycle intensity never exceeds this is secure-stable.",
              "assumption", "classification", "classification"),
    Parameter("high_intensity", 0.20, 0, 1, "intensity",
              "Mean cycle intensity over the last window at or above which the cycle counts as active.",
              "assumption", "classification", "classification"),
    Parameter("rising_trend", 0.10, 0, 10, "intensity per year",
              "Trend in cycle intensity at or above which a couple counts as escalating even below "
              "high_intensity.", "assumption", "classification", "classification"),
    Parameter("cycling_flare_ups", 2, 0, 1_000, "flare-ups",
              "Flare-ups, each ended in calm, from which a couple counts as cycling (it flares and calms "
              "again and again) rather than settling. A flare-up begins when the weekly cycle intensity reaches "
              "high_intensity and ends when it is back below quiet_intensity.",
              "assumption (seeds 001, 003: the loop flares with conflict and calms with repair)",
              "classification", "classification", int),
    Parameter("swing_margin", 0.05, 0, 1, "intensity",
              "How far below its eight-week average the weekly intensity of an active couple must be for the "
              "app to call it cycling (falling back) rather than escalating, on the day shown.",
              "assumption", "classification", "classification"),
    Parameter("settle_tolerance", 0.05, 0, 1, "distress",
              "A couple has settled after a shock when its weekly distress is back within this of its "
              "pre-shock level.", "assumption", "classification", "classification"),
]

PARAMETERS: dict[str, Parameter] = {p.name: p for p in _DECLARATIONS}

GROUP_ORDER = ["traits", "support", "stress", "distress", "appraisal", "behaviour", "episodes", "coregulation",
               "perception", "goals", "learning", "dissolution", "interventions",
               "population", "measurement", "classification"]


def names(scope: Scope | None = None) -> list[str]:
    """Names of the declared parameters, optionally of one scope."""
    return [p.name for p in _DECLARATIONS if scope is None or p.scope == scope]


def defaults(scope: Scope | None = None) -> dict[str, Any]:
    """Default value of every declared parameter (of one scope, if given)."""
    return {p.name: p.default for p in _DECLARATIONS if scope is None or p.scope == scope}


def declaration(name: str, value: Any = None) -> Parameter:
    """The declaration of ``name``; a clear error suggesting close names otherwise."""
    try:
        return PARAMETERS[name]
    except KeyError:
        close = difflib.get_close_matches(name, PARAMETERS, n=3)
        hint = f" such as {', '.join(close)}" if close else ""
        raise ParameterError(name, value, f"a declared parameter{hint} (`cycles params` lists them)",
                             unknown=True) from None


def coerce(name: str, value: Any) -> float | int | bool:
    """Validate one value against its declaration and return it in the declared type.

    Accepts strings as given on a command line ("0.3", "true"). Raises
    :class:`ParameterError` naming the parameter, the value and what is allowed.
    """
    p = declaration(name, value)
    raw = value
    if p.kind is bool:
        if isinstance(value, str):
            low = value.strip().lower()
            if low in {"true", "yes", "on", "1"}:
                return True
            if low in {"false", "no", "off", "0"}:
                return False
            raise ParameterError(name, raw, p.allowed())
        if isinstance(value, (bool, int)) and value in (0, 1):
            return bool(value)
        raise ParameterError(name, raw, p.allowed())
    if isinstance(value, bool):
        # true is not 1: a boolean given for a number is a mistake, not a value.
        raise ParameterError(name, raw, p.allowed())
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ParameterError(name, raw, p.allowed()) from None
    if number != number or not (p.low <= number <= p.high):  # NaN fails too
        raise ParameterError(name, raw, p.allowed())
    if p.kind is int:
        if number != int(number):
            raise ParameterError(name, raw, p.allowed())
        return int(number)
    return number


def validate(values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a mapping of parameter values; returns them coerced."""
    return {name: coerce(name, value) for name, value in values.items()}


def check_population_shares(values: Mapping[str, Any]) -> None:
    """The style shares of a drawn population must leave a non-negative secure share."""
    total = sum(float(values[n]) for n in ("share_anxious", "share_avoidant", "share_fearful"))
    if total > 1 + 1e-12:
        raise ParameterError("share_anxious+share_avoidant+share_fearful", round(total, 6),
                             "a sum of at most 1 (the rest of the population is secure)")


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def table_rows() -> list[dict[str, str]]:
    """One row of strings per parameter, in documentation order."""
    ordered = sorted(_DECLARATIONS, key=lambda p: GROUP_ORDER.index(p.group))
    return [{"name": p.name, "group": p.group, "scope": p.scope, "default": _format_value(p.default),
             "range": "true/false" if p.kind is bool else f"{_format_value(p.low)}-{_format_value(p.high)}",
             "unit": p.unit, "meaning": p.meaning, "source": p.source} for p in ordered]


def markdown_table() -> str:
    """The parameter table of docs/ODD.md, generated from the declarations."""
    head = "| name | group | scope | default | range | unit | meaning | source |\n|---|---|---|---|---|---|---|---|\n"
    return head + "".join(
        "| `{name}` | {group} | {scope} | {default} | {range} | {unit} | {meaning} | {source} |\n".format(**row)
        for row in table_rows())
