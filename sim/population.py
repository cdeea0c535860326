"""Couples to simulate: named pairings (presets) or drawn populations.

A :class:`Population` holds every declared parameter resolved to arrays:
partner-scope parameters as ``(couples, 2)`` (column 0 is partner ``a``,
column 1 partner ``b``), couple-scope parameters as ``(couples,)``. Both the
Mesa model and the batch engine are built from one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product
from typing import Any

import numpy as np

from sim import interventions
from sim import params as P
from sim.randomness import couple_keys, setup_draws
from sim.selectors import STYLES, ParameterKey, selector_mask, style_index

# Centre of each style on the ECR-R scale (anxiety, avoidance): the four
# quadrants of Fraley, Waller & Brennan's two dimensions, split at the
# midpoint 4 (theory.md s.1). Values are assumptions placed well inside each
# quadrant.
STYLE_TRAITS = {
    "secure": (2.0, 2.0),
    "anxious": (5.0, 2.5),
    "avoidant": (2.5, 5.0),
    "fearful": (5.0, 5.0),
}

# Support each style typically gives (responsiveness, goal support). Avoidance
# predicts less responsive caregiving; anxiety predicts intrusive, less
# sensitive caregiving and less encouragement of the partner's independence
# (Collins & Feeney 2000; Feeney & Collins 2001). Levels are assumptions.
STYLE_SUPPORT = {
    "secure": (0.70, 0.65),
    "anxious": (0.50, 0.40),
    "avoidant": (0.30, 0.60),
    "fearful": (0.30, 0.40),
}

# P(style of partner b | style of partner a) under assortative pairing, in the
# order of STYLES. Kirkpatrick & Davis (1994) found no anxious-anxious and no
# avoidant-avoidant pairs among 354 couples and anxious-avoidant pairs more
# often than chance; partners' security is correlated (Hudson et al. 2014).
# The exact shares are assumptions shaped by those findings.
PAIRING_MATRIX = np.array([
    [0.70, 0.12, 0.15, 0.03],
    [0.45, 0.00, 0.50, 0.05],
    [0.50, 0.45, 0.00, 0.05],
    [0.50, 0.25, 0.25, 0.00],
])

TRAITS = ("anxiety", "avoidance")    # the two ECR-R dimensions a style is the quadrant of
PAIRINGS = tuple(f"{x}-{y}" for x, y in product(STYLES, STYLES))
# Names of places in STYLES (sim.selectors.style_index), and of pairings, pairing (i, j) at i * len(STYLES) + j.
_STYLE_NAMES, _PAIRING_NAMES = np.array(STYLES, dtype=object), np.array(PAIRINGS, dtype=object)
# The pairings the documentation and the app offer first.
PRESETS = ("secure-secure", "anxious-avoidant", "anxious-secure", "avoidant-secure",
           "anxious-anxious", "avoidant-avoidant", "fearful-secure")


class PopulationError(ValueError):
    """An unknown pairing or a malformed override."""


@dataclass(frozen=True)
class Override:
    """``--set [selector.]name=value``: a selector is a role (a, b) or a style."""

    name: str
    value: Any
    selector: str | None = None

    @classmethod
    def parse(cls, text: str) -> Override:
        """Parse ``name=value`` or ``selector.name=value``."""
        match = re.fullmatch(r"\s*(?:([A-Za-z]+)\.)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.+?)\s*", text)
        if not match:
            raise P.ParameterError(text, text, "NAME=VALUE or SELECTOR.NAME=VALUE (selector: a, b or a style)")
        selector, name, value = match.groups()
        return cls(name, value, selector)

    @classmethod
    def at(cls, key: str | ParameterKey, value: Any) -> Override:
        """The override of a ``[WHO.]NAME`` key (a spec's [fixed] table, a factor) with ``value``."""
        key = ParameterKey.parse(key) if isinstance(key, str) else key
        return cls(key.name, value, key.selector)

    @property
    def key(self) -> ParameterKey:
        """The ``[WHO.]NAME`` parameter key this override sets."""
        return ParameterKey(self.name, self.selector)

    def checked(self) -> Override:
        """Validate against the declarations; returns the override with a typed value."""
        self.key.declaration(self.value)
        return Override(self.name, P.coerce(self.name, self.value), self.selector)


@dataclass
class Population:
    """Every parameter of every couple, resolved to arrays."""

    pairing: np.ndarray                 # (n,) e.g. "anxious-avoidant"
    style: np.ndarray                   # (n, 2) style at the start
    partner: dict[str, np.ndarray]      # (n, 2) per partner-scope parameter
    couple: dict[str, np.ndarray]       # (n,) per couple-scope parameter
    classification: dict[str, Any]      # run-wide thresholds
    keys: np.ndarray                    # (n,) uint64 random-stream keys
    spawn_keys: list[tuple[int, ...]] | np.ndarray = field(default_factory=list)   # or one row per couple
    intervention: np.ndarray | None = None   # (n,) name of each couple's intervention plan ("none")
    schedule: np.ndarray | None = None       # (n, changes, RULE_COLUMNS) its resolved changes (sim.interventions)

    def __post_init__(self):
        if self.intervention is None:
            self.intervention = np.full(len(self.keys), "none", dtype=object)
        if self.schedule is None:
            self.schedule = np.zeros((len(self.keys), 0, interventions.RULE_COLUMNS))

    @property
    def n(self) -> int:
        """Number of couples."""
        return len(self.keys)

    def with_intervention(self, given, custom=None, couples=None) -> Population:
        """The same couples with an intervention plan (sim.interventions.plan) scheduled for them.

        ``couples`` (a slice or index array) limits it to some couples; the
        others keep theirs. Days the plan leaves open start on each couple's
        ``intervention_day``.
        """
        chosen = interventions.plan(given, custom)
        index = np.arange(self.n)[slice(None) if couples is None else couples]
        rows = interventions.schedule(chosen.changes, self.couple["intervention_day"][index], self.style[index],
                                      self.partner["anxiety"][index], self.partner["avoidance"][index])
        width = max(self.schedule.shape[1], rows.shape[1])
        schedule = _pad_schedule(self.schedule, width)
        schedule[index] = _pad_schedule(rows, width)
        names = self.intervention.copy()
        names[index] = chosen.name
        return Population(self.pairing, self.style, self.partner, self.couple, self.classification, self.keys,
                          self.spawn_keys, names, schedule)

    def with_values(self, values: Mapping[str, Any]) -> Population:
        """The same couples with declared parameters set from ``values``, as :func:`make_population` sets them.

        Keys are ``[WHO.]NAME`` with a scalar or an array over couples (or
        couples and partners); selectors read the couples' styles. Set values
        before scheduling an intervention, which reads them.
        """
        partner = {k: v.copy() for k, v in self.partner.items()}
        couple = {k: v.copy() for k, v in self.couple.items()}
        classification = dict(self.classification)
        for key, value in values.items():
            _set_values(key, value, self.n, self.style, partner, couple, classification)
        return Population(self.pairing, self.style, partner, couple, classification, self.keys, self.spawn_keys,
                          self.intervention, self.schedule)

    def subset(self, index) -> Population:
        """The couples at ``index`` (a slice or integer array)."""
        if isinstance(self.spawn_keys, np.ndarray):
            spawn = self.spawn_keys[index]
        else:
            spawn = [self.spawn_keys[i] for i in np.arange(self.n)[index]] if self.spawn_keys else []
        return Population(self.pairing[index], self.style[index],
                          {k: v[index] for k, v in self.partner.items()},
                          {k: v[index] for k, v in self.couple.items()},
                          dict(self.classification), self.keys[index], spawn, self.intervention[index],
                          self.schedule[index])

    @staticmethod
    def concat(parts: Sequence[Population]) -> Population:
        """Couples of several populations side by side (e.g. several sweep cells)."""
        first = parts[0]
        return Population(
            np.concatenate([p.pairing for p in parts]), np.concatenate([p.style for p in parts]),
            {k: np.concatenate([p.partner[k] for p in parts]) for k in first.partner},
            {k: np.concatenate([p.couple[k] for p in parts]) for k in first.couple},
            dict(first.classification), np.concatenate([p.keys for p in parts]),
            _joined_spawn_keys([p.spawn_keys for p in parts]), np.concatenate([p.intervention for p in parts]),
            np.concatenate([_pad_schedule(p.schedule, max(q.schedule.shape[1] for q in parts)) for p in parts]))


def _joined_spawn_keys(keys: list) -> list[tuple[int, ...]] | np.ndarray:
    """Several populations' spawn keys one after another: an array if all are arrays of one width, else tuples."""
    if all(isinstance(k, np.ndarray) for k in keys) and len({(k.shape[1], k.dtype) for k in keys}) == 1:
        return np.concatenate(keys)
    return [tuple(map(int, k)) for part in keys for k in part]


def _pad_schedule(rows: np.ndarray, width: int) -> np.ndarray:
    """Schedule rows widened to ``width`` changes per couple; the padding applies to nobody."""
    padded = np.zeros((rows.shape[0], width, rows.shape[2]))
    padded[:, :rows.shape[1]] = rows
    return padded


def _check_pairing(pairing: str) -> tuple[str, str]:
    if pairing not in PAIRINGS:
        raise P.ParameterError("preset", pairing, "one of " + ", ".join(PRESETS)
                               + " (or any STYLE-STYLE of " + ", ".join(STYLES) + ")")
    first, second = pairing.split("-")
    return first, second


def _preset_values(pairing: str, keys: np.ndarray, settings: dict[str, Any]
                   ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Both partners' styles from the pairing; traits and support drawn around the styles' centres.

    ``preset_spread`` scales the spread: at 0 every couple of the pairing is the same pair of people.
    """
    n = len(keys)
    pair = _check_pairing(pairing)
    styles = np.array([pair] * n, dtype=object).reshape(n, 2)
    index = np.array([[STYLES.index(s) for s in pair]] * n, dtype=np.int64).reshape(n, 2)
    _, normal = setup_draws(keys)
    return styles, _around_centres(index, normal, settings, settings["preset_spread"])


def _around_centres(index: np.ndarray, normal: np.ndarray, settings: dict[str, Any], spread: float
                    ) -> dict[str, np.ndarray]:
    """Traits and support of partners of the styles ``index`` (couples, 2), spread around the styles' centres.

    ``normal`` (couples, 2, 4) are the couple's setup draws (anxiety, avoidance, responsiveness, goal support).
    Partner b's trait draws are correlated with partner a's, dimension by dimension, by
    ``partner_similarity``.
    """
    traits = np.array([STYLE_TRAITS[s] for s in STYLES])[index]          # (n, 2, 2)
    support = np.array([STYLE_SUPPORT[s] for s in STYLES])[index]        # (n, 2, 2)
    rho = settings["partner_similarity"]
    z = normal.copy()
    z[:, 1, :2] = rho * normal[:, 0, :2] + np.sqrt(1.0 - rho * rho) * normal[:, 1, :2]
    sd_t, sd_s = spread * settings["trait_sd"], spread * settings["support_sd"]
    return {
        "anxiety": np.clip(traits[..., 0] + sd_t * z[..., 0], 1.0, 7.0),
        "avoidance": np.clip(traits[..., 1] + sd_t * z[..., 1], 1.0, 7.0),
        "responsiveness": np.clip(support[..., 0] + sd_s * z[..., 2], 0.0, 1.0),
        "goal_support": np.clip(support[..., 1] + sd_s * z[..., 3], 0.0, 1.0),
    }


def _drawn_values(keys: np.ndarray, settings: dict[str, Any]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Draw styles (prevalence, assortative pairing), then traits and support around each style.

    Returns the styles as places in STYLES (couples, 2) and the traits and support.
    """
    P.check_population_shares(settings)
    shares = np.array([0.0, settings["share_anxious"], settings["share_avoidant"], settings["share_fearful"]])
    shares[0] = max(0.0, 1.0 - shares[1:].sum())
    uniform, normal = setup_draws(keys)
    first = np.minimum(np.searchsorted(np.cumsum(shares), uniform[:, 0], side="right"), 3)
    mixing = settings["assortative_pairing"]
    conditional = (1.0 - mixing) * shares[None, :] + mixing * PAIRING_MATRIX[first]
    conditional /= conditional.sum(axis=1, keepdims=True)
    second = np.minimum((np.cumsum(conditional, axis=1) <= uniform[:, 1:2]).sum(axis=1), 3)
    index = np.stack([first, second], axis=1)
    return index, _around_centres(index, normal, settings, 1.0)


def _named(index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Partners' styles (couples, 2) and couples' pairings (couples,) named, from places in STYLES."""
    return _STYLE_NAMES[index], _PAIRING_NAMES[index[:, 0] * len(STYLES) + index[:, 1]]


def make_population(pairing: str | None = "anxious-avoidant", n_couples: int = 1, seed: int | None = 0,
                    drawn: bool = False, overrides: Iterable[Override | str] = (),
                    spawn_keys: Sequence[tuple[int, ...]] | np.ndarray | None = None,
                    values: Mapping[str, Any] | None = None, intervention: Any = None,
                    custom_interventions: Mapping[str, Sequence[str]] | None = None) -> Population:
    """Build a population of couples.

    Args:
        pairing: a preset such as ``"anxious-avoidant"`` (partner a anxious,
            partner b avoidant); ``None`` gives both partners the declared defaults.
        n_couples: how many couples.
        seed: root seed of the couples' random streams.
        drawn: draw styles, traits and support from realistic distributions
            (theory.md s.1) instead of repeating the pairing. Where
            ``overrides`` or ``values`` set anxiety or avoidance, each
            partner's style is then the quadrant of the traits they end with.
        overrides: ``Override`` objects or ``"[selector.]name=value"`` strings,
            applied after the pairing or the draw.
        spawn_keys: one tuple per couple naming its random stream, or an integer array with one row per
            couple; default ``(c,)``.
        values: declared parameters given as arrays, applied last, keyed
            ``[WHO.]NAME`` like overrides: a scalar, an array over couples
            ``(n,)``, or, for partner-scope parameters, an array over couples
            and partners ``(n, 2)``. This is how one engine call runs a block
            of sweep cells side by side.
        intervention: an intervention plan for every couple: ``"none"``, a
            recipe name, change texts or a Plan (see sim.interventions).
        custom_interventions: named lists of change texts that
            ``intervention`` may name (a spec's ``[interventions]``).
    """
    if not isinstance(n_couples, (int, np.integer)) or n_couples < 1:
        raise P.ParameterError("couples", n_couples, "a whole number of at least 1")
    checked = [(o if isinstance(o, Override) else Override.parse(o)).checked() for o in overrides]
    if isinstance(spawn_keys, np.ndarray):       # rows of an integer array: no tuple per couple to build
        if not np.issubdtype(spawn_keys.dtype, np.integer):
            raise ValueError(f"spawn_keys: an array of {spawn_keys.dtype}; expected integers")
        spawn = spawn_keys.reshape(len(spawn_keys), -1)
    else:
        spawn = [tuple(map(int, k)) for k in (spawn_keys or [(c,) for c in range(n_couples)])]
    if len(spawn) != n_couples:
        raise ValueError("spawn_keys must give one key per couple")
    keys = couple_keys(seed, spawn)

    settings = P.defaults()
    settings.update({o.name: o.value for o in checked if P.PARAMETERS[o.name].scope == "population"})
    if drawn:
        index, traits = _drawn_values(keys, settings)
        styles, pairing_names = _named(index)
    elif pairing is None:
        styles = np.full((n_couples, 2), "", dtype=object)
        traits = {}
        pairing_names = np.full(n_couples, "custom", dtype=object)
    else:
        styles, traits = _preset_values(pairing, keys, settings)
        pairing_names = np.full(n_couples, pairing, dtype=object)

    partner = {name: np.full((n_couples, 2), float(P.PARAMETERS[name].default)) for name in P.names("partner")}
    partner.update(traits)
    if pairing is None and not drawn:
        styles = _STYLE_NAMES[style_index(partner["anxiety"], partner["avoidance"])]
    couple = {name: np.full(n_couples, P.PARAMETERS[name].default, dtype=P.PARAMETERS[name].kind)
              for name in P.names("couple")}
    classification = P.defaults("classification")

    for o in checked:
        scope = P.PARAMETERS[o.name].scope
        if scope == "partner":
            partner[o.name] = np.where(selector_mask(o.selector, styles), float(o.value), partner[o.name])
        elif scope == "couple":
            couple[o.name][:] = o.value
        elif scope == "classification":
            classification[o.name] = o.value
    for key, value in (values or {}).items():
        _set_values(key, value, n_couples, styles, partner, couple, classification)
    if drawn and any(ParameterKey.parse(key).name in TRAITS for key in [*(o.name for o in checked), *(values or {})]):
        # A drawn style is the distribution a partner's traits came from; once the spec sets the traits (a factor,
        # a sampled point, [fixed]) that origin is gone, and the style is the quadrant of the traits the couple has
        # (the rule of couples built without a pairing). Style-selected settings above picked by the drawn style.
        styles, pairing_names = _named(style_index(partner["anxiety"], partner["avoidance"]))
    population = Population(pairing_names, styles, partner, couple, classification, keys, spawn)
    if intervention is None:
        return population
    return population.with_intervention(intervention, custom_interventions)


def _set_values(key: str, value: Any, n: int, styles: np.ndarray, partner: dict, couple: dict,
                classification: dict) -> None:
    """Set ``[WHO.]NAME`` from a scalar or an array, checking every element against the declaration."""
    parsed = ParameterKey.parse(key)
    selector, name = parsed.selector, parsed.name
    decl = parsed.declaration(value if np.ndim(value) == 0 else "array")
    array = np.asarray(value)
    shapes = [(), (n,)] + ([(n, 2)] if decl.scope == "partner" else [])
    if array.shape not in shapes:
        raise P.ParameterError(name, f"array of shape {array.shape}",
                               "a scalar or an array of shape " + " or ".join(str(s) for s in shapes[1:]))
    if decl.scope == "population":
        raise P.ParameterError(name, "array", "a population parameter is set with overrides, not per couple")
    flat = array.ravel()
    bad = ~np.isfinite(flat.astype(float)) | (flat < decl.low) | (flat > decl.high)
    if decl.kind is int:
        bad |= flat != np.round(flat)
    if bad.any():
        raise P.ParameterError(name, flat[bad][0].item(), decl.allowed())
    if decl.scope == "partner":
        given = np.broadcast_to(array.reshape(array.shape + (1,) if array.ndim == 1 else array.shape), (n, 2))
        partner[name] = np.where(selector_mask(selector, styles), given.astype(float), partner[name])
    elif decl.scope == "couple":
        couple[name] = np.broadcast_to(array, (n,)).astype(decl.kind).copy()
    else:
        classification[name] = np.broadcast_to(array, (n,)).astype(float).copy() if array.ndim else array.item()
