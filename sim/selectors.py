"""Who a setting applies to: the partners' roles and styles, and ``[WHO.]NAME`` keys.

The lowest layer above the parameter declarations: the population (which
sets parameters per partner) and the interventions (which change them per
partner) both read it, and it reads neither of them.

- Roles: ``a`` and ``b``; partner-scope arrays are ``(couples, 2)`` with
  column 0 for ``a``.
- Styles: the four quadrants of anxiety x avoidance, split at the ECR-R
  midpoint 4 (theory.md s.1).
- A selector is a role, a style, or (for interventions only) one of the
  relative selectors, which compare the partners' starting scores.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from sim import params as P

ROLES = ("a", "b")
STYLES = ("secure", "anxious", "avoidant", "fearful")
RELATIVE_SELECTORS = ("more-anxious", "more-avoidant")
SELECTORS = ROLES + STYLES                      # what a parameter setting may name
INTERVENTION_SELECTORS = SELECTORS + RELATIVE_SELECTORS
STYLE_MIDPOINT = 4.0

_KEY = re.compile(r"\s*(?:([A-Za-z][A-Za-z-]*)\.)?([A-Za-z_][A-Za-z0-9_]*)\s*")


_STYLE_LABELS = np.array(STYLES)
assert STYLES == ("secure", "anxious", "avoidant", "fearful"), "style_index counts anxious 1 and avoidant 2"


def style_index(anxiety, avoidance):
    """Each ECR-R score pair's quadrant, split at the scale midpoint 4, as its place in STYLES."""
    return (np.asarray(anxiety) >= STYLE_MIDPOINT) * 1 + (np.asarray(avoidance) >= STYLE_MIDPOINT) * 2


def style_of(anxiety, avoidance):
    """Style label from ECR-R scores: the quadrant, split at the scale midpoint 4."""
    index = style_index(anxiety, avoidance)
    return _STYLE_LABELS[np.ravel(index)].reshape(np.shape(index))     # an array, 0-d for scalars, as before


def selector_mask(selector: str | None, styles: np.ndarray) -> np.ndarray:
    """Which partners (couples, 2) a selector picks: everyone, a role (a, b) or a style."""
    if selector is None:
        return np.ones(styles.shape, dtype=bool)
    if selector in ROLES:
        mask = np.zeros(styles.shape, dtype=bool)
        mask[:, ROLES.index(selector)] = True
        return mask
    return styles == selector


def who_mask(who: str | None, styles: np.ndarray, anxiety: np.ndarray, avoidance: np.ndarray) -> np.ndarray:
    """Which partners (couples, 2) a WHO picks; the relative selectors compare starting scores."""
    if who in RELATIVE_SELECTORS:
        score = anxiety if who == "more-anxious" else avoidance
        return np.stack([score[:, 0] >= score[:, 1], score[:, 1] >= score[:, 0]], axis=1)
    return selector_mask(who, styles)


@dataclass(frozen=True)
class ParameterKey:
    """A ``[WHO.]NAME`` key of a spec, a factor or a bound: a declared parameter, for one role or style or all."""

    name: str
    selector: str | None = None

    @classmethod
    def parse(cls, key: str) -> ParameterKey:
        """Split ``key``; ParameterError unless it has the form (the name is checked by :meth:`declaration`)."""
        match = _KEY.fullmatch(key) if isinstance(key, str) else None
        if not match:
            raise P.ParameterError(str(key), key, "NAME or SELECTOR.NAME (selector: a, b or a style)")
        selector, name = match.groups()
        return cls(name, selector)

    def declaration(self, value=None) -> P.Parameter:
        """The parameter's declaration; ParameterError for an unknown name or a selector it cannot take."""
        decl = P.declaration(self.name, value if value is not None else str(self))
        if self.selector is not None:
            if decl.scope != "partner":
                raise P.ParameterError(str(self), value, f"no selector: {self.name} is a {decl.scope}-level parameter")
            if self.selector not in SELECTORS:
                raise P.ParameterError(str(self), value, "a selector among " + ", ".join(SELECTORS))
        return decl

    def __str__(self) -> str:
        return f"{self.selector}.{self.name}" if self.selector else self.name
