"""A report's unit: one figure with its title and caption, shared by every report (sweep, study, sensitivity)."""

from __future__ import annotations

from dataclasses import dataclass

import plotly.graph_objects as go


@dataclass
class Panel:
    """One figure of a report: ``slug`` names its anchor and PNG file; the caption says what to look for."""

    slug: str
    title: str
    caption: str
    figure: go.Figure
