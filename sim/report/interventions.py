"""Report figures for designs with an intervention factor: what each intervention did, and when.

Cells that differ only in the intervention share seeds (sim.experiment.spec,
Design.seed_cell), so every couple given an intervention is compared with
itself, same random numbers, without it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from scipy import stats

from sim.report.colours import NONE_COLOUR, level_colours
from sim.report.panel import Panel
from sim.report.results import Results
from sim.schema import window_length

NONE = "none"
ACTIVE = ("escalating", "cycling")
CALM = ("settling", "secure-stable")
WITHOUT = "no intervention"


def _applies(results: Results) -> bool:
    return "intervention" in results.factor_names and NONE in set(results.cells["intervention"])


def _start_days(results: Results, cells: pd.DataFrame) -> pd.Series:
    """Each cell's start day: the intervention_day factor, else the value held fixed, else the default."""
    if "intervention_day" in cells.columns:
        return cells["intervention_day"].astype(int)
    return pd.Series(int(results.held("intervention_day")), index=cells.index)


def _focus(results: Results) -> tuple[pd.DataFrame, str]:
    """The cells to draw: every intervention and start day, at the first level of any other factor."""
    cells = results.cells
    others = [n for n in results.factor_names if n not in ("intervention", "intervention_day")]
    held = []
    for name in others:
        levels = list(dict.fromkeys(cells[name]))
        level = "anxious-avoidant" if name == "pairing" and "anxious-avoidant" in levels else levels[0]
        cells = cells[cells[name] == level]
        if len(levels) > 1:
            held.append(f"{name.replace('_', ' ')} {level}")
    note = f" Shown at {', '.join(held)}." if held else ""
    return cells.assign(start_day=_start_days(results, cells)), note


def _begun(day: int) -> str:
    return f"begun on day {day}"


def day_colours(results: Results) -> dict[int, str]:
    """The page's colour of each start day, earliest first: both intervention figures draw a day in it."""
    cells, _ = _focus(results)
    return level_colours(sorted(int(d) for d in cells["start_day"].unique()))


def intervention_timecourse(results: Results) -> Panel | None:
    """Mean cycle intensity over time with each intervention, begun on each start day, and without any."""
    if not _applies(results):
        return None
    cells, note = _focus(results)
    recipes = [r for r in dict.fromkeys(cells["intervention"]) if r != NONE]
    days = sorted(cells["start_day"].unique())
    series = results.series(cells["cell"].tolist(), ["mean"])
    series = series[series.role == "a"].set_index("cell")       # intensity is the couple's: the same on both roles
    without = cells[cells.intervention == NONE].iloc[0]
    colours = day_colours(results)
    columns = min(3, len(recipes))
    rows = -(-len(recipes) // columns)
    fig = make_subplots(rows=rows, cols=columns, shared_xaxes=True, shared_yaxes=True, subplot_titles=recipes,
                        vertical_spacing=0.12, horizontal_spacing=0.04)
    base = series.loc[[without["cell"]]]
    shown: set[str] = set()        # each start day once in the legend, from whichever panel draws it first
    for k, recipe in enumerate(recipes):
        row, col = k // columns + 1, k % columns + 1
        fig.add_trace(go.Scatter(x=base["day"], y=base["cycle_intensity"], name=WITHOUT, legendgroup=WITHOUT,
                                 line=dict(color=NONE_COLOUR, width=3), showlegend=k == 0,
                                 hovertemplate="day %{x}<br>mean intensity %{y:.3f}<extra>none</extra>"),
                      row=row, col=col)
        for day in days:
            colour = colours[int(day)]
            cell = cells[(cells.intervention == recipe) & (cells.start_day == day)]
            if cell.empty:
                continue
            line = series.loc[[cell.iloc[0]["cell"]]]
            label = _begun(day)
            fig.add_trace(go.Scatter(x=line["day"], y=line["cycle_intensity"], name=label, legendgroup=label,
                                     line=dict(color=colour, width=2), showlegend=label not in shown,
                                     hovertemplate="day %{x}<br>mean intensity %{y:.3f}<extra>" + recipe
                                     + f", from day {day}</extra>"), row=row, col=col)
            shown.add(label)
            fig.add_vline(x=day, line=dict(color=colour, dash="dot", width=1), row=row, col=col)
    fig.update_yaxes(range=[0, 1], title_text="mean cycle intensity", col=1)
    fig.update_xaxes(title_text="day", row=rows)
    fig.update_layout(height=330 * rows + 80, margin=dict(t=60, b=50, l=60, r=20),
                      legend=dict(orientation="h", y=-0.08 if rows > 1 else -0.2))
    return Panel("intervention-timecourse", "Cycle intensity with and without each intervention", (
        "Mean cycle intensity (one partner's pursuit times the other's withdrawal) of the couples of each cell, "
        "day by day. Grey: no intervention. Colours: the intervention begun on the day marked by the dotted line "
        "of the same colour. Each coloured line is the same couples, with the same random numbers, as the grey "
        "one, so where they part is the intervention's doing." + note), fig)


def paired_effects(results: Results) -> pd.DataFrame:
    """Per intervention and start day: each couple against itself without the intervention.

    Columns: ``escalating_without`` (couples escalating or cycling without it),
    ``moved`` (of those, the share settling or secure-stable with it),
    ``reduction`` (mean fall in late-window intensity) with its 95% CI.
    """
    keys = ["seed_cell", "replicate"] + (["intervention_day"] if "intervention_day" in results.factor_names else [])
    focus, _ = _focus(results)
    runs = results.runs(["cell", *keys, "intervention", "classification", "intensity_late"])
    runs = runs[runs["cell"].isin(focus["cell"])]
    without = runs[runs.intervention == NONE].set_index(keys)[["classification", "intensity_late"]]
    rows = []
    for (recipe, cell), part in runs[runs.intervention != NONE].groupby(["intervention", "cell"], sort=False):
        joined = part.set_index(keys).join(without.add_suffix("_without"), how="inner")
        active = joined["classification_without"].isin(ACTIVE)
        fall = joined["intensity_late_without"] - joined["intensity_late"]
        half = stats.t.ppf(0.975, max(len(fall) - 1, 1)) * fall.std(ddof=1) / np.sqrt(len(fall))
        rows.append({"intervention": recipe, "start_day": int(focus.set_index("cell").loc[cell, "start_day"]),
                     "couples": len(joined), "escalating_without": int(active.sum()),
                     "moved": float(joined.loc[active, "classification"].isin(CALM).mean()) if active.any() else np.nan,
                     "reduction": float(fall.mean()), "reduction_low": float(fall.mean() - half),
                     "reduction_high": float(fall.mean() + half),
                     "late_without": float(joined["intensity_late_without"].mean()),
                     "late_with": float(joined["intensity_late"].mean())})
    return pd.DataFrame(rows)


def intervention_effects(results: Results) -> Panel | None:
    """Share of escalating couples each intervention moved to settling, and its effect on late intensity."""
    if not _applies(results):
        return None
    effects = paired_effects(results)
    if effects.empty:
        return None
    late_days = results.days - window_length(results.days) + 1
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1, subplot_titles=[
        "share of escalating couples that settle with it", f"fall in mean intensity, days {late_days}-{results.days}"])
    colours = day_colours(results)
    for day, part in effects.groupby("start_day"):
        colour = colours[int(day)]
        label = _begun(day)
        fig.add_trace(go.Bar(x=part["intervention"], y=part["moved"], name=label, legendgroup=label,
                             marker_color=colour, customdata=part[["escalating_without"]],
                             hovertemplate="%{x}<br>%{y:.0%} of %{customdata[0]} escalating couples settle"
                                           f"<extra>{label}</extra>"), row=1, col=1)
        fig.add_trace(go.Bar(x=part["intervention"], y=part["reduction"], name=label, legendgroup=label,
                             marker_color=colour, showlegend=False,
                             error_y=dict(type="data", symmetric=False,
                                          array=part["reduction_high"] - part["reduction"],
                                          arrayminus=part["reduction"] - part["reduction_low"]),
                             customdata=part[["late_without", "late_with"]],
                             hovertemplate="%{x}<br>%{customdata[0]:.3f} without, %{customdata[1]:.3f} with: "
                                           f"fall %{{y:.3f}}<extra>{label}</extra>"), row=1, col=2)
    fig.update_yaxes(range=[0, 1], tickformat=".0%", row=1, col=1)
    fig.update_yaxes(title_text="without minus with (0-1)", row=1, col=2)
    fig.update_layout(barmode="group", height=460, margin=dict(t=60, b=120, l=60, r=20),
                      legend=dict(orientation="h", y=-0.35))
    return Panel("intervention-effects", "What each intervention changed", (
        "Left: of the couples whose cycle escalates (or keeps cycling) without the intervention, the share that "
        "settle with it, the same couple with the same random numbers. Right: how much lower the mean cycle "
        f"intensity over days {late_days}-{results.days} is with the intervention than without, with 95% "
        "confidence intervals over couples; below zero, the intervention made the cycle worse."), fig)


BUILDERS = (intervention_timecourse, intervention_effects)
