"""The generated parts of docs/ODD.md: tables that must agree with the code.

``python -m sim.odd`` rewrites the blocks between ``<!-- NAME:begin -->`` and
``<!-- NAME:end -->`` in docs/ODD.md; a test checks that they are current.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from sim import params as P
from sim.interventions import markdown_recipes
from sim.population import PAIRING_MATRIX, STYLE_SUPPORT, STYLE_TRAITS, STYLES

ODD_PATH = Path(__file__).resolve().parent.parent / "docs" / "ODD.md"


def style_table() -> str:
    """Style centres and typical support, as presets and drawn populations use them."""
    rows = "| style | anxiety | avoidance | responsiveness given | goal support given |\n|---|---|---|---|---|\n"
    for s in STYLES:
        rows += f"| {s} | {STYLE_TRAITS[s][0]:g} | {STYLE_TRAITS[s][1]:g} | {STYLE_SUPPORT[s][0]:g} | " \
                f"{STYLE_SUPPORT[s][1]:g} |\n"
    return rows


def pairing_table() -> str:
    """P(style of partner b | style of partner a) under full assortative pairing."""
    rows = "| partner a \\ partner b | " + " | ".join(STYLES) + " |\n|---|" + "---|" * len(STYLES) + "\n"
    for s, probs in zip(STYLES, PAIRING_MATRIX, strict=True):
        rows += f"| {s} | " + " | ".join(f"{x:.2f}" for x in probs) + " |\n"
    return rows


BLOCKS = {"params": P.markdown_table, "styles": style_table, "pairing": pairing_table, "recipes": markdown_recipes}


def render(text: str) -> str:
    """``text`` with every generated block replaced by its current content."""
    for name, make in BLOCKS.items():
        pattern = re.compile(rf"(<!-- {name}:begin -->\n).*?(<!-- {name}:end -->)", re.S)
        if not pattern.search(text):
            raise ValueError(f"docs/ODD.md has no block {name}")
        text = pattern.sub(lambda m, make=make: m.group(1) + make() + m.group(2), text)
    return text


if __name__ == "__main__":
    current = ODD_PATH.read_text()
    ODD_PATH.write_text(render(current))
    print(f"updated {ODD_PATH}", file=sys.stderr)
