"""Interventions: scheduled changes to a couple's run, and the named recipes built from them.

A *change* says: from day D (optionally until day E, optionally only on every
K-th day, optionally phasing in over R days), set, scale or shift a declared
partner parameter for one partner or both, or inject a conflict event. A
*plan* is a list of changes with a name; a *recipe* is a named plan taken from
the seeds (theory.md s.4), started on the couple's ``intervention_day``.

The text form of a change, used by ``cycles run --intervene`` and by
experiment specs, is :data:`CHANGE_SYNTAX` below (``cycles interventions``
prints it).

The schedule is resolved, per couple, into rows of numbers
(:class:`Rule`), and one pure function, :func:`scheduled_parameters`, turns
a partner's base parameters and those rows into the parameters and the
conflict drive of a given day. The batch engine calls it compiled inside its
loop; the Mesa model calls it from events scheduled with Mesa's
``schedule_event`` / ``schedule_recurring`` on the days the result can change.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import IntEnum

import numpy as np

from sim import params as P
from sim.selectors import INTERVENTION_SELECTORS, who_mask

# The order of partner parameters in a row: schedules index it, and the batch kernel packs rows in it.
PARTNER_PARAMETERS: tuple[str, ...] = tuple(P.names("partner"))
CONFLICT = "conflict"
OPERATIONS = {"=": "set", "*=": "scale", "+=": "add"}
OPTIONS = ("from", "until", "for", "every", "ramp", "after")
NEVER = 1e12          # the last day of a change that runs to the end


class Rule(IntEnum):
    """Columns of one resolved change of one couple (a row of a schedule array)."""

    START = 0           # first day
    END = 1             # last day (NEVER if open)
    EVERY = 2           # active on days START, START + EVERY, ...
    RAMP = 3            # phases in over this many days (0: at once)
    ON_A = 4            # 1 if it applies to partner a
    ON_B = 5            # 1 if it applies to partner b
    TARGET = 6          # index into PARTNER_PARAMETERS (-1 for a conflict)
    OP = 7              # SET, SCALE, ADD or EVENT
    VALUE = 8


RULE_COLUMNS = len(Rule)
SET, SCALE, ADD, EVENT = 0, 1, 2, 3
_OP_CODES = {"set": SET, "scale": SCALE, "add": ADD, "event": EVENT}


class InterventionError(ValueError):
    """An intervention that cannot be scheduled: one line naming the text, the field, the value and what is allowed."""


# --- the one place where a schedule acts on a partner's parameters -------------

def scheduled_parameters(base, out, rules, role, day, low, high):
    """A partner's parameters and conflict drive on ``day`` under a schedule.

    Copies ``base`` (one partner's parameters, in the order of
    ``PARTNER_PARAMETERS``) into ``out`` and applies, in order, every row of
    ``rules`` (see :class:`Rule`) that applies to partner ``role`` (0 or 1)
    and is active on ``day``: active when ``START <= day <= END`` and
    ``(day - START) mod EVERY = 0``. A change moves its parameter ``x`` to
    ``x* = VALUE`` (set), ``x VALUE`` (scale) or ``x + VALUE`` (add), clipped
    to the declared range ``[low, high]``, by the phased-in share
    ``min(1, (day - START + 1) / RAMP)`` (all of it if RAMP is 0):
    ``x <- x + share (x* - x)``. Later rows act on the result of earlier
    ones. Returns the sum of the active conflict events' sizes (extra
    distress drive today).
    """
    for i in range(base.shape[0]):
        out[i] = base[i]
    conflict = 0.0
    for k in range(rules.shape[0]):
        start = rules[k, Rule.START]
        if rules[k, Rule.ON_A + role] == 0.0 or day < start or day > rules[k, Rule.END]:
            continue
        if (day - start) % rules[k, Rule.EVERY] != 0.0:
            continue
        op = rules[k, Rule.OP]
        value = rules[k, Rule.VALUE]
        if op == EVENT:
            conflict += value
            continue
        t = int(rules[k, Rule.TARGET])
        current = out[t]
        if op == SET:
            target = value
        elif op == SCALE:
            target = current * value
        else:
            target = current + value
        target = min(max(target, low[t]), high[t])
        ramp = rules[k, Rule.RAMP]
        share = 1.0 if ramp <= 0.0 else min(1.0, (day - start + 1.0) / ramp)
        out[t] = target if share >= 1.0 else current + share * (target - current)   # a set gives exactly VALUE
    return conflict


def partner_rows(partner: Mapping[str, np.ndarray]) -> np.ndarray:
    """A population's partner parameters (name -> (couples, 2)) as rows (couples, 2, len(PARTNER_PARAMETERS))."""
    return np.stack([np.asarray(partner[name], dtype=float) for name in PARTNER_PARAMETERS], axis=-1)


def declared_bounds() -> tuple[np.ndarray, np.ndarray]:
    """Declared low and high of every partner parameter, in kernel order."""
    low = np.array([float(P.PARAMETERS[n].low) for n in PARTNER_PARAMETERS])
    high = np.array([float(P.PARAMETERS[n].high) for n in PARTNER_PARAMETERS])
    return low, high


def planned_couples(rules: np.ndarray) -> np.ndarray:
    """(couples,) whether any change of a schedule (couples, changes, RULE_COLUMNS) applies to the couple."""
    return (rules[:, :, Rule.ON_A] + rules[:, :, Rule.ON_B]).sum(axis=1) > 0


def parameters_on(base: np.ndarray, rules: np.ndarray, day: int) -> tuple[np.ndarray, np.ndarray]:
    """Every partner's parameters (couples, 2, len(PARTNER_PARAMETERS)) and conflict drive (couples, 2) on ``day``.

    ``base`` holds the parameters without interventions, ``rules`` the
    schedule; both go through :func:`scheduled_parameters`, as in the engine.
    """
    low, high = declared_bounds()
    out = np.array(base, dtype=float, copy=True)
    conflict = np.zeros(base.shape[:2])
    for c in np.flatnonzero(planned_couples(rules)):
        for role in (0, 1):
            conflict[c, role] = scheduled_parameters(base[c, role], out[c, role], rules[c], role, day, low, high)
    return out, conflict


# --- changes, plans and recipes ------------------------------------------------

@dataclass(frozen=True)
class Change:
    """One scheduled change (see the module docstring for its text form)."""

    name: str                      # a declared partner parameter, or "conflict"
    op: str                        # "set", "scale", "add" or "event"
    value: float
    who: str | None = None         # None: both partners
    start: int | None = None       # first day; None: the couple's intervention_day
    after: int = 0                 # begin this many days after the start
    until: int | None = None       # last day
    duration: int | None = None    # days from the (delayed) first day
    every: int | None = None       # only every K-th day
    ramp: int = 0                  # phase in over this many days

    def text(self) -> str:
        """The change in its text form."""
        who = f"{self.who}." if self.who else ""
        op = {"set": "=", "scale": "*=", "add": "+=", "event": "="}[self.op]
        parts = [f"{who}{self.name}{op}{self.value:g}"]
        for key, value in (("from", self.start), ("after", self.after or None), ("until", self.until),
                           ("for", self.duration), ("every", self.every), ("ramp", self.ramp or None)):
            if value is not None:
                parts.append(f"{key}={value}")
        return " ".join(parts)

    def days(self, intervention_day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """First and last day of the change for couples with these intervention days."""
        first = (np.asarray(intervention_day, dtype=float) if self.start is None
                 else np.full(np.shape(intervention_day), float(self.start))) + self.after
        last = np.full(first.shape, NEVER)
        if self.until is not None:
            last = np.minimum(last, self.until)
        if self.duration is not None:
            last = np.minimum(last, first + self.duration - 1)
        if self.op == "event" and self.until is None and self.duration is None and self.every is None:
            last = first.copy()       # a conflict happens once unless told otherwise
        return first, last


@dataclass(frozen=True)
class Recipe:
    """A named plan from the seeds, documented in docs/ODD.md (generated from here)."""

    name: str
    summary: str          # what it changes, in words
    why: str              # why, in the model's terms
    source: str           # the seed (theory.md s.4) and literature
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class Plan:
    """What a run does to its couples: a name (for tables) and the changes."""

    name: str
    changes: tuple[Change, ...] = ()


NONE = Plan("none")

_WEEKS = 7

RECIPES: dict[str, Recipe] = {r.name: r for r in (
    Recipe(
        "checkin-ritual",
        "From the start day, the more avoidant partner checks in every evening: on each day their "
        "responsiveness is 0.9 and their deactivating gain is halved (they answer instead of going quiet).",
        "Bids now meet a response even from the partner who used to withdraw, so coregulation brings the "
        "anxious partner's distress down, perceived responsiveness rises, and less distance reads as "
        "rejection; the avoidant partner's lower deactivation removes the distance that drives pursuit.",
        "Seed 003 (the avoidant partner agrees to check in regularly); seed 001 (weekly check-ins); "
        "Coan et al. 2006 (a partner's response regulates distress). Sizes are assumptions.",
        (Change("responsiveness", "set", 0.9, "more-avoidant"),
         Change("deactivation", "scale", 0.5, "more-avoidant")),
    ),
    Recipe(
        "reassurance-ritual",
        "From the start day, both partners make small daily gestures (a good-morning text): each partner's "
        "responsiveness rises by 0.1.",
        "A little more of the safe haven every day, from both sides: each bid gets a slightly larger "
        "response and each partner perceives a little more responsiveness.",
        "Seed 001 (rituals of reassurance: a good-morning text); seed 002 (taking turns being there). "
        "Sizes are assumptions.",
        (Change("responsiveness", "add", 0.1),),
    ),
    Recipe(
        "self-soothing",
        "From the start day, the more anxious partner's distress reactivity falls over eight weeks: "
        "sensitivity to the partner's withdrawal, the reading of goal support as 'go away', anxious "
        "baseline distress and rumination each fall to half, and the urge to protest (the hyperactivating "
        "gain) to 70%, phased in linearly over 56 days.",
        "The anxious partner relies less on outside validation: the partner's distance drives distress up "
        "less and distress fades faster on its own, and calming oneself takes the place of some protest, so "
        "there is less hyperactivation to feed the cycle. "
        "The partner's behaviour is unchanged.",
        "Seed 003 (the anxious partner practises self-soothing to reduce reliance on external validation); "
        "seed 001. Sizes and pace are assumptions.",
        (Change("distance_sensitivity", "scale", 0.5, "more-anxious", ramp=8 * _WEEKS),
         Change("goal_support_as_distance", "scale", 0.5, "more-anxious", ramp=8 * _WEEKS),
         Change("anxious_distress", "scale", 0.5, "more-anxious", ramp=8 * _WEEKS),
         Change("rumination", "scale", 0.5, "more-anxious", ramp=8 * _WEEKS),
         Change("hyperactivation", "scale", 0.7, "more-anxious", ramp=8 * _WEEKS)),
    ),
    Recipe(
        "goal-support-boost",
        "From the start day, both partners encourage each other's own goals more: each partner's goal "
        "support rises by 0.25, phased in over four weeks.",
        "More support for independence. With a safe haven it is a secure base (goal pursuit and felt "
        "security rise); without one the anxious partner reads it as 'go away', so in a couple whose "
        "responsiveness is low it can feed the cycle instead of calming it.",
        "Feeney 2004, 2007 (goal support and the dependency paradox); Jakubiak et al. 2023 (goal support "
        "lowers anxiety only with responsiveness). Sizes are assumptions.",
        (Change("goal_support", "add", 0.25, ramp=4 * _WEEKS),),
    ),
    Recipe(
        "damage-control-then-engagement",
        "Two stages. Damage control for eight weeks from the start day: both partners' pursuit and "
        "withdrawal gains are halved (they stop the habitual moves). Engagement from week nine on: the more "
        "avoidant partner's responsiveness rises by 0.3 and their withdrawal gain stays halved (they speak "
        "up); the more anxious partner's pursuit gain stays at 0.6 of its old value (they soften).",
        "First the escalating moves are damped so the couple drops out of the escalated state; then the "
        "avoidant partner offers a safe haven and the anxious partner protests less, so the calm state is "
        "held by responsiveness rather than by restraint alone.",
        "Seed 004 (damage control first, then engage the avoidant partner and soften the anxious one). "
        "Stage lengths and sizes are assumptions.",
        (Change("hyperactivation", "scale", 0.5, duration=8 * _WEEKS),
         Change("deactivation", "scale", 0.5, duration=8 * _WEEKS),
         Change("responsiveness", "add", 0.3, "more-avoidant", after=8 * _WEEKS),
         Change("deactivation", "scale", 0.5, "more-avoidant", after=8 * _WEEKS),
         Change("hyperactivation", "scale", 0.6, "more-anxious", after=8 * _WEEKS)),
    ),
)}


# --- parsing ---------------------------------------------------------------------

_CHANGE = re.compile(r"(?:(?P<who>[A-Za-z][A-Za-z-]*)\.)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
                     r"(?P<op>\*=|\+=|=)(?P<value>\S+)")


def _fail(text: str, field: str, value, allowed: str) -> InterventionError:
    return InterventionError(f"intervention {text!r}: {field} {value!r} is not allowed; expected {allowed}")


def _day_option(text: str, key: str, raw: str, minimum: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise _fail(text, key, raw, f"a whole number of at least {minimum}")
    return value


def _options(text: str, tokens: Sequence[str], allowed: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for token in tokens:
        key, sep, raw = token.partition("=")
        if not sep or key not in allowed:
            raise _fail(text, "option", token, "KEY=DAYS with KEY among " + ", ".join(allowed))
        if key in found:
            raise _fail(text, "option", token, f"{key} given once")
        found[key] = _day_option(text, key, raw, 0 if key in ("ramp", "after") else 1)
    if "until" in found and "from" in found and found["until"] < found["from"]:
        raise _fail(text, "until", found["until"], f"a day on or after from={found['from']}")
    return found


def parse(text: str) -> tuple[Change, ...]:
    """The changes a text stands for: one change, or a recipe's changes (see the module docstring)."""
    tokens = text.split()
    if not tokens:
        raise _fail(text, "text", text, "a change such as 'b.responsiveness=0.9 from=100' or a recipe "
                    "(" + ", ".join(RECIPES) + ")")
    head, rest = tokens[0], tokens[1:]
    if head in RECIPES:
        options = _options(text, rest, ("from", "until"))
        start, until = options.get("from"), options.get("until")
        return tuple(_bounded(c, start, until) for c in RECIPES[head].changes)
    match = _CHANGE.fullmatch(head)
    if not match:
        close = [r for r in RECIPES if r.startswith(head[:4])]
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise _fail(text, "change", head, "[WHO.]NAME=VALUE, NAME*=FACTOR, NAME+=AMOUNT, [WHO.]conflict=SIZE "
                    "or a recipe among " + ", ".join(RECIPES) + hint)
    who, name, op_text, raw = match.group("who", "name", "op", "value")
    if who is not None and who not in INTERVENTION_SELECTORS:
        raise _fail(text, "who", who, "one of " + ", ".join(INTERVENTION_SELECTORS))
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not np.isfinite(value):
        raise _fail(text, "value", raw, "a number")
    options = _options(text, rest, OPTIONS)
    if name == CONFLICT:
        if op_text != "=":
            raise _fail(text, "operation", op_text, "'=' for a conflict (conflict=SIZE)")
        size = P.PARAMETERS["shock_size"]
        if not size.low <= value <= size.high:
            raise _fail(text, "conflict size", raw, f"a distress drive from {size.low:g} to {size.high:g}")
        if options.get("ramp"):
            raise _fail(text, "option", f"ramp={options['ramp']}", "no ramp for a conflict (it is an event)")
        op = "event"
    else:
        decl = P.PARAMETERS.get(name)
        if decl is None or decl.scope != "partner":
            close = difflib.get_close_matches(name, PARTNER_PARAMETERS + (CONFLICT,), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise _fail(text, "parameter", name, "a partner-level parameter (see `cycles params`) or conflict" + hint)
        op = OPERATIONS[op_text]
        if op == "set" and not decl.low <= value <= decl.high:
            raise _fail(text, name, raw, decl.allowed())
        if op == "scale" and value < 0:
            raise _fail(text, "factor", raw, "a factor of at least 0")
    return (Change(name, op, value, who, options.get("from"), options.get("after", 0), options.get("until"),
                   options.get("for"), options.get("every"), options.get("ramp", 0)),)


def _bounded(change: Change, start: int | None, until: int | None) -> Change:
    """A recipe's change moved to its own start day and cut off at its last day."""
    bounded = change if start is None else replace(change, start=start)
    if until is not None:
        bounded = replace(bounded, until=until if change.until is None else min(change.until, until))
    return bounded


def plan(given: str | Sequence[str] | Plan | None, custom: Mapping[str, Sequence[str]] | None = None) -> Plan:
    """A plan from ``"none"``, a recipe or custom plan name, a change text, or a list of texts.

    ``custom`` maps names to lists of texts (a spec's ``[interventions]``
    section); a name found there stands for its texts.
    """
    if given is None:
        return NONE
    if isinstance(given, Plan):
        return given
    texts = [given] if isinstance(given, str) else list(given)
    if texts in (["none"], []):
        return NONE
    custom = custom or {}
    if len(texts) == 1 and texts[0] in custom:
        return Plan(texts[0], tuple(c for t in custom[texts[0]] for c in parse(t)))
    name = texts[0] if len(texts) == 1 and texts[0] in RECIPES else "; ".join(texts)
    return Plan(name, tuple(c for t in texts for c in parse(t)))


def schedule(changes: Sequence[Change], intervention_day: np.ndarray, styles: np.ndarray, anxiety: np.ndarray,
             avoidance: np.ndarray) -> np.ndarray:
    """The rows (couples, changes, RULE_COLUMNS) that :func:`scheduled_parameters` reads."""
    n = len(intervention_day)
    rows = np.zeros((n, len(changes), RULE_COLUMNS))
    for k, change in enumerate(changes):
        first, last = change.days(intervention_day)
        mask = who_mask(change.who, styles, anxiety, avoidance)
        rows[:, k, Rule.START] = first
        rows[:, k, Rule.END] = last
        rows[:, k, Rule.EVERY] = change.every or 1
        rows[:, k, Rule.RAMP] = change.ramp
        rows[:, k, Rule.ON_A] = mask[:, 0] & (last >= first)
        rows[:, k, Rule.ON_B] = mask[:, 1] & (last >= first)
        rows[:, k, Rule.TARGET] = -1 if change.name == CONFLICT else PARTNER_PARAMETERS.index(change.name)
        rows[:, k, Rule.OP] = _OP_CODES[change.op]
        rows[:, k, Rule.VALUE] = change.value
    return rows


def transitions(rule: np.ndarray, days: float = np.inf) -> list[tuple[float, float | None, float]]:
    """The days on which a rule can change what :func:`scheduled_parameters` returns.

    As ``(first, interval, last)`` runs of days within 1..days (``interval``
    None for a single day, ``last`` infinite for a run without end): its first day, every day of its ramp, the days it
    is active and the day after each when it skips days, and the day after
    it ends. Between these days its effect is constant, so the Mesa model
    recomputes parameters only then.
    """
    start, end, every, ramp = (float(rule[Rule.START]), float(rule[Rule.END]), float(rule[Rule.EVERY]),
                               float(rule[Rule.RAMP]))
    last = min(end, days)
    if last >= NEVER:
        last = np.inf
    if start > days or last < start:
        return []
    if every > 1:
        runs = [(start, every, last), (start + 1, every, min(last + 1, days))]
    else:
        runs = [(start, None, start), (start + 1, 1.0, min(last, start + ramp - 1))]
    if end < NEVER and not (every > 1 and (end - start) % every == 0):   # (else the day after is an off-day)
        runs.append((end + 1, None, end + 1))
    return [(a, k, b) for a, k, b in runs if a <= b and a <= days]


# --- documentation (cycles interventions, docs/ODD.md) ------------------------------

def markdown_recipes() -> str:
    """The recipes as a Markdown table: what each changes (in the text form), and why."""
    rows = "| recipe | changes (from the start day) | what it does | why | source |\n|---|---|---|---|---|\n"
    for r in RECIPES.values():
        changes = "<br>".join(f"`{c.text()}`" for c in r.changes)
        rows += f"| `{r.name}` | {changes} | {r.summary} | {r.why} | {r.source} |\n"
    return rows


CHANGE_SYNTAX = """\
    [WHO.]NAME=VALUE     set a declared partner parameter
    [WHO.]NAME*=FACTOR   scale it
    [WHO.]NAME+=AMOUNT   shift it (AMOUNT may be negative)
    [WHO.]conflict=SIZE  a conflict event: SIZE is added to the distress drive
    RECIPE               a named recipe (see RECIPES)

followed by any of 'from=D' (first day; default the couple's
'intervention_day'), 'until=E' (last day), 'for=N' (days from the
first), 'every=K' (only every K-th day from the first), 'ramp=R' (phase in
linearly over R days) and 'after=N' (begin N days after the start). WHO is
'a', 'b', a style (secure, anxious, avoidant, fearful), 'more-anxious'
or 'more-avoidant' (the partner with the higher starting score; both if
tied); without WHO, both partners. A conflict happens once unless 'every',
'until' or 'for' is given."""
"""The text form of one change (the one statement of it: the module docstring and syntax_help refer here)."""


def syntax_help() -> str:
    """Plain-text help: the recipes with their changes, then the syntax of a change (:data:`CHANGE_SYNTAX`)."""
    lines = ["Recipes (begin on the couple's intervention_day, default "
             f"{P.PARAMETERS['intervention_day'].default}, or at 'RECIPE from=DAY'; 'until=DAY' stops them):", ""]
    for r in RECIPES.values():
        lines.append(f"  {r.name}")
        lines.extend(f"      {c.text()}" for c in r.changes)
        lines.append(f"    {r.summary}")
        lines.append("")
    lines.extend(["", "", CHANGE_SYNTAX])
    return "\n".join(lines)
