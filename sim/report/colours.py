"""One colour per pairing or factor level on a page: every figure of a report reads the same map.

A figure that left its colours to plotly would get them by trace order, so the
same pairing could be blue in one panel and green in the next; every figure
that colours lines or bars by a level asks :func:`level_colours` instead, with
the levels in the order the design lists them, and so gets the same answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# Plotly's D3 palette without its red and grey: red is escalation and partner a elsewhere in the report,
# grey is "no intervention".
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
NONE_COLOUR = "#7f8c8d"


def level_colours(levels: Iterable[Any], fixed: Mapping[Any, str] | None = None) -> dict[Any, str]:
    """Each distinct level, in first-seen order, with its colour: ``fixed`` ones first, the palette in turn."""
    fixed = dict(fixed or {})
    free = [level for level in dict.fromkeys(levels) if level not in fixed]
    return {**fixed, **{level: PALETTE[i % len(PALETTE)] for i, level in enumerate(free)}}


def fade(colour: str, alpha: float = 0.18) -> str:
    """A ``#rrggbb`` colour as a translucent ``rgba``: the band around a line in the line's own colour."""
    r, g, b = int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)
    return f"rgba({r},{g},{b},{alpha})"
