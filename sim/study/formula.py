"""Model formulas a user types, read by a parser of our own before any formula engine sees them.

A formula names dataset columns and combines them the way Wilkinson-Rogers
formulas do (patsy's syntax): ``outcome ~ a + b * c - 1``. Formula engines
evaluate the names and calls in a formula as Python, so a formula is never
handed to one as typed. It is tokenised against an allow-list and parsed with
the grammar below; anything else is refused with a message naming the
formula, the place and what is allowed. What reaches statsmodels is the
formula rebuilt from the parsed tokens, evaluated in an environment that
holds only the allowed transforms.

Grammar::

    formula  = terms "~" terms
    terms    = ["-"] term { ("+" | "-") term }
    term     = power { ("*" | "/" | ":") power }
    power    = atom [ "**" INTEGER ]
    atom     = COLUMN | "0" | "1" | "(" terms ")"
             | TRANSFORM "(" COLUMN ")" | "I" "(" arith ")"
    arith    = product { ("+" | "-") product }
    product  = signed { ("*" | "/") signed }
    signed   = ["-"] base [ "**" base ]
    base     = COLUMN | NUMBER | "(" arith ")"

TRANSFORM is one of :data:`TRANSFORMS`; COLUMN must be a column of the
dataset being fitted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from sim.budget import LIMITS

# Transforms of one column. C, center and standardize are patsy's own; the rest map to numpy here.
TRANSFORMS = ("C", "center", "standardize", "log", "exp", "sqrt", "abs")
NUMPY_TRANSFORMS = {"log": np.log, "exp": np.exp, "sqrt": np.sqrt, "abs": np.abs}
MAX_DEPTH = 20
_TOKEN = re.compile(r"\s*(?:(?P<number>\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>\*\*|[~+\-*/:()]))")
ALLOWED = ("column names, numbers, ~ + - * / : ** ( ), I(...) for arithmetic and the transforms "
           + ", ".join(TRANSFORMS))


class FormulaError(ValueError):
    """A formula that is not allowed: one line naming it, the place and what is allowed."""


@dataclass(frozen=True)
class Formula:
    """A parsed formula: the text rebuilt from its tokens, and the columns it names."""

    text: str
    columns: tuple[str, ...]
    outcome: tuple[str, ...]


def _shown(formula: str) -> str:
    return repr(formula if len(formula) <= 120 else formula[:100] + "...")


def tokenize(formula: str) -> list[tuple[str, str, int]]:
    """(kind, text, position) of each token; a character outside the allow-list is an error."""
    tokens, position = [], 0
    stripped = formula.rstrip()
    while position < len(stripped):
        match = _TOKEN.match(stripped, position)
        if not match:
            char = stripped[position:].lstrip()[:1]
            at = len(stripped) - len(stripped[position:].lstrip())
            raise FormulaError(f"formula {_shown(formula)}: character {char!r} at position {at + 1} is not allowed; "
                               f"expected {ALLOWED}")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind), match.start(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, formula: str, columns: Iterable[str] | None):
        self.formula = formula
        self.tokens = tokenize(formula)
        self.columns = None if columns is None else set(columns)
        self.index = 0
        self.depth = 0
        self.used: list[str] = []
        self.terms = 0

    # --- helpers
    def fail(self, what: str, expected: str) -> FormulaError:
        if self.index >= len(self.tokens):
            return FormulaError(f"formula {_shown(self.formula)} ends too early; expected {expected}")
        where = f"at position {self.tokens[self.index][2] + 1}"
        return FormulaError(f"formula {_shown(self.formula)}: {what} {where} is not allowed; expected {expected}")

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def accept(self, text: str) -> bool:
        token = self.peek()
        if token is not None and token[0] == "op" and token[1] == text:
            self.index += 1
            return True
        return False

    def expect(self, text: str) -> None:
        if not self.accept(text):
            token = self.peek()
            raise self.fail(f"{token[1]!r}" if token else "the end of the formula", f"{text!r}")

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail("nesting", f"at most {MAX_DEPTH} levels of parentheses")

    def column(self) -> None:
        token = self.peek()
        if token is None or token[0] != "name":
            raise self.fail(repr(token[1]) if token else "the end of the formula", "a column name")
        name = token[1]
        if name in TRANSFORMS or name == "I":
            raise self.fail(f"{name!r} without parentheses", f"{name}(column)")
        if self.columns is not None and name not in self.columns:
            listed = ", ".join(sorted(self.columns))
            raise FormulaError(f"formula {_shown(self.formula)}: unknown column {name!r}; the dataset has: {listed}")
        self.used.append(name)
        self.terms += 1
        if self.terms > LIMITS.formula_terms:
            raise FormulaError(f"formula {_shown(self.formula)}: more than {LIMITS.formula_terms} column names; "
                               f"expected at most {LIMITS.formula_terms}")
        self.index += 1

    # --- the grammar
    def parse(self) -> None:
        if len(self.formula) > LIMITS.formula_characters:
            raise FormulaError(f"formula of {len(self.formula):,} characters is not allowed; expected at most "
                               f"{LIMITS.formula_characters:,}")
        if not self.tokens:
            raise FormulaError("formula '' is empty; expected 'outcome ~ predictors'")
        if sum(1 for t in self.tokens if t[1] == "~") != 1:
            raise FormulaError(f"formula {_shown(self.formula)} needs exactly one '~'; expected 'outcome ~ predictors'")
        self.terms_()
        self.expect("~")
        self.outcome_end = len(self.used)
        self.terms_()
        if self.peek() is not None:
            raise self.fail(repr(self.peek()[1]), "an operator (+ - * / : **) or the end of the formula")

    def terms_(self) -> None:
        self.accept("-")
        self.term()
        while self.accept("+") or self.accept("-"):
            self.term()

    def term(self) -> None:
        self.power()
        while self.accept("*") or self.accept("/") or self.accept(":"):
            self.power()

    def power(self) -> None:
        self.atom()
        if self.accept("**"):
            token = self.peek()
            if token is None or token[0] != "number" or not token[1].isdigit() or not 1 <= int(token[1]) <= 5:
                raise self.fail(repr(token[1]) if token else "the end of the formula", "a whole number 1-5 after **")
            self.index += 1

    def atom(self) -> None:
        token = self.peek()
        if token is None:
            raise self.fail("the end of the formula", "a column, 0, 1, '(' or a transform")
        kind, text, _ = token
        if kind == "op" and text == "(":
            self.index += 1
            self.enter()
            self.terms_()
            self.expect(")")
            self.depth -= 1
        elif kind == "number":
            if text not in ("0", "1"):
                raise self.fail(f"number {text}", "0 or 1 (no intercept, intercept) outside I(...)")
            self.index += 1
        elif kind == "name" and text == "I":
            self.index += 1
            self.expect("(")
            self.enter()
            self.arith()
            self.expect(")")
            self.depth -= 1
        elif kind == "name" and text in TRANSFORMS:
            self.index += 1
            self.expect("(")
            self.column()
            self.expect(")")
        elif kind == "name":
            self.column()
        else:
            raise self.fail(repr(text), "a column, 0, 1, '(' or a transform")

    def arith(self) -> None:
        self.product()
        while self.accept("+") or self.accept("-"):
            self.product()

    def product(self) -> None:
        self.signed()
        while self.accept("*") or self.accept("/"):
            self.signed()

    def signed(self) -> None:
        self.accept("-")
        self.base()
        if self.accept("**"):
            self.base()

    def base(self) -> None:
        token = self.peek()
        if token is not None and token[0] == "number":
            self.index += 1
        elif token is not None and token[0] == "op" and token[1] == "(":
            self.index += 1
            self.enter()
            self.arith()
            self.expect(")")
            self.depth -= 1
        else:
            self.column()


def parse(formula: str, columns: Iterable[str] | None = None) -> Formula:
    """Parse a formula; with ``columns``, every name must be one of them. Raises FormulaError."""
    if not isinstance(formula, str):
        raise FormulaError(f"formula {formula!r} is not allowed; expected text such as 'outcome ~ predictors'")
    if columns is not None:
        parse(formula)              # the syntax first: a broken formula is reported as that, not as a column
    opened, closed = formula.count("("), formula.count(")")
    if opened != closed:
        raise FormulaError(f"formula {_shown(formula)}: unbalanced parentheses ({opened} '(' and {closed} ')'); "
                           "expected each '(' closed by one ')'")
    parser = _Parser(formula, columns)
    parser.parse()
    text = re.sub(r"\( | \)", lambda m: m.group(0).strip(), " ".join(token[1] for token in parser.tokens))
    text = re.sub(r"\b(I|" + "|".join(TRANSFORMS) + r") \(", r"\1(", text)
    return Formula(text, tuple(dict.fromkeys(parser.used)), tuple(dict.fromkeys(parser.used[:parser.outcome_end])))


def eval_environment():
    """The only namespace a parsed formula is evaluated in: the numpy transforms (patsy adds its own)."""
    from patsy import EvalEnvironment
    return EvalEnvironment([dict(NUMPY_TRANSFORMS)])
