"""The report's figures: each a Plotly figure with a title and a plain-language caption.

Every builder reads the per-cell table or a few cells' series (sim.report.results)
and returns a :class:`Panel`, or None when the results have nothing to show for it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from sim.outcomes import flare_episodes, weekly_intensity
from sim.report import discovery, interventions
from sim.report.colours import fade, level_colours
from sim.report.panel import Panel
from sim.report.results import Results
from sim.schema import CLASS_COLOURS, CLASSES, ROLE_COLOURS

SUPPORT = ("responsiveness", "goal_support")
ANXIOUS_STYLES = ("anxious", "fearful")     # the styles whose partner pursues: the one the report follows


def anxious_role(pairing: str) -> str:
    """The partner whose anxiety the report follows: the anxious (or fearful) one, else partner a."""
    styles = pairing.split("-")
    # strict=False: a pairing without a dash ("custom") splits into one piece that is no style; it falls to "a".
    for role, style in zip("ab", styles, strict=False):
        if style in ANXIOUS_STYLES:
            return role
    return "a"


def _partner_label(pairing: str, role: str) -> str:
    styles = pairing.split("-")
    return f"partner {role} ({styles['ab'.index(role)]})" if len(styles) == 2 else f"partner {role}"


def _pairings(cells: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(cells["pairing"]))


def _anxiety_change_column(results: Results, role: str) -> tuple[str, str]:
    if results.days >= 365:
        return f"anxiety_change_1y_{role}_mean", "one-year change"
    return f"anxiety_change_{role}_mean", f"change over {results.days} days"


def _has_support_grid(results: Results) -> bool:
    """Whether the design crosses responsiveness and goal support as factors: a grid, not sampled points."""
    factors = results.manifest["spec_resolved"]["spec"].get("factors", {})
    return all(name in results.factor_names and name in factors for name in SUPPORT)


def pairing_colours(results: Results) -> dict[str, str]:
    """The page's colour of each pairing, in the design's order: every figure that colours by pairing uses it."""
    return level_colours(results.cells["pairing"])


def _grid(cells: pd.DataFrame, column: str) -> pd.DataFrame:
    return cells.pivot_table(index="responsiveness", columns="goal_support", values=column, aggfunc="mean")


def _heatmap_row(results: Results, title: str, caption: str, slug: str, value, colorbar: str,
                 colorscale, zmin: float, zmax: float, zmid: float | None = None) -> Panel:
    """One heatmap per pairing over responsiveness x goal support, all on one colour scale."""
    cells = results.cells
    pairings = _pairings(cells)
    fig = make_subplots(rows=1, cols=len(pairings), shared_yaxes=True, horizontal_spacing=0.025,
                        subplot_titles=[value(p)[1] for p in pairings])
    for i, pairing in enumerate(pairings, start=1):
        column = value(pairing)[0]
        grid = _grid(cells[cells.pairing == pairing], column)
        fig.add_trace(go.Heatmap(
            x=grid.columns, y=grid.index, z=grid.to_numpy(), coloraxis="coloraxis",
            hovertemplate="responsiveness %{y:.2f}<br>goal support %{x:.2f}<br>" + colorbar
            + " %{z:.3f}<extra></extra>"),
            row=1, col=i)
        fig.update_xaxes(title_text="goal support", row=1, col=i)
    fig.update_yaxes(title_text="responsiveness", row=1, col=1)
    axis = dict(colorscale=colorscale, cmin=zmin, cmax=zmax, colorbar=dict(title=colorbar))
    if zmid is not None:
        axis["cmid"] = zmid
    fig.update_layout(coloraxis=axis, height=380, margin=dict(t=60, b=50, l=60, r=20))
    return Panel(slug, title, caption, fig)


def escalation_heatmaps(results: Results) -> Panel | None:
    """Share of couples escalating or cycling over responsiveness x goal support, one heatmap per pairing."""
    if not _has_support_grid(results):
        return None
    cells = results.cells.assign(active=results.cells["share_escalating"] + results.cells["share_cycling"])
    view = Results(results.folder, results.manifest, cells)
    return _heatmap_row(
        view, "Where the cycle takes hold: escalating or cycling", (
            "Share of couples whose pursue-withdraw cycle escalated or kept cycling, for every combination of "
            "responsiveness (support for dependence, up) and goal support (support for independence, across) "
            "that both partners gave. Red means the cycle took hold; pale means couples settled or stayed "
            "secure. " + _active_region_words(cells)),
        "escalation", lambda p: ("active", p), "share escalating<br>or cycling", "Reds", 0.0, 1.0)


def intensity_heatmaps(results: Results) -> Panel | None:
    """Mean cycle intensity over responsiveness x goal support, one heatmap per pairing on one scale."""
    if not _has_support_grid(results):
        return None
    top = float(np.nanmax(results.cells["intensity_mean_mean"])) or 1.0
    return _heatmap_row(
        results, "How intense the cycle is", (
            "Mean cycle intensity over the whole run: one partner's pursuit times the other's withdrawal, "
            "averaged over days and couples (0 = no cycle, 1 = full pursuit meeting full withdrawal every day). "
            "Same colour scale for every pairing, so the colours compare across panels."),
        "intensity", lambda p: ("intensity_mean_mean", p), "cycle intensity", "Magma_r", 0.0, top)


def anxiety_heatmaps(results: Results) -> Panel | None:
    """Change in the anxious partner's attachment anxiety over responsiveness x goal support, per pairing."""
    if not _has_support_grid(results):
        return None
    cells = results.cells
    columns = {p: _anxiety_change_column(results, anxious_role(p)) for p in _pairings(cells)}
    values = np.concatenate([cells.loc[cells.pairing == p, c].to_numpy() for p, (c, _) in columns.items()])
    extent = float(np.nanmax(np.abs(values))) or 1.0
    horizon = next(iter(columns.values()))[1]
    return _heatmap_row(
        results, "What support does to anxiety", (
            f"Mean {horizon} in attachment anxiety (ECR-R points) of the partner named above each panel (the "
            "anxious partner where there is one). Blue: anxiety fell; red: it rose. Where responsiveness is "
            "low, more goal support does not help and can hurt (it reads as distance); where responsiveness "
            "is high, goal support lowers anxiety further (Jakubiak et al. 2023)."),
        "anxiety", lambda p: (columns[p][0], f"{p}: {_partner_label(p, anxious_role(p))}"),
        "anxiety change", "RdBu_r", -extent, extent, zmid=0.0)


def regime_map(results: Results) -> Panel | None:
    """The classification most couples in each cell received, per pairing, and where half escalate or keep cycling."""
    if not _has_support_grid(results):
        return None
    cells = results.cells
    share = cells[[f"share_{c}" for c in CLASSES]].to_numpy()
    dominant = np.argmax(share, axis=1)
    cells = cells.assign(dominant=dominant, active=cells["share_escalating"] + cells["share_cycling"])
    pairings = _pairings(cells)
    fig = make_subplots(rows=1, cols=len(pairings), shared_yaxes=True, horizontal_spacing=0.025,
                        subplot_titles=pairings)
    n = len(CLASSES)
    colorscale = []
    for k, label in enumerate(CLASSES):
        colorscale += [[k / n, CLASS_COLOURS[label]], [(k + 1) / n, CLASS_COLOURS[label]]]
    for i, pairing in enumerate(pairings, start=1):
        part = cells[cells.pairing == pairing]
        grid = _grid(part, "dominant")
        labels = np.array(CLASSES, dtype=object)[grid.to_numpy().astype(int)]
        fig.add_trace(go.Heatmap(
            x=grid.columns, y=grid.index, z=grid.to_numpy(), zmin=-0.5, zmax=n - 0.5, colorscale=colorscale,
            customdata=labels, showscale=i == 1,
            colorbar=dict(tickvals=list(range(n)), ticktext=list(CLASSES), title="most couples"),
            hovertemplate="responsiveness %{y:.2f}<br>goal support %{x:.2f}<br>%{customdata}<extra></extra>"),
            row=1, col=i)
        active = _grid(part, "active")
        if np.nanmin(active.to_numpy()) < 0.5 < np.nanmax(active.to_numpy()):
            fig.add_trace(go.Contour(
                x=active.columns, y=active.index, z=active.to_numpy(), showscale=False, hoverinfo="skip",
                contours=dict(start=0.5, end=0.5, size=1, coloring="lines"), line=dict(width=3),
                colorscale=[[0, "black"], [1, "black"]], name="boundary"), row=1, col=i)
        fig.update_xaxes(title_text="goal support", row=1, col=i)
    fig.update_yaxes(title_text="responsiveness", row=1, col=1)
    fig.update_layout(height=380, margin=dict(t=60, b=50, l=60, r=20))
    return Panel("regimes", "Regime map", (
        "The classification that most couples in each cell received: escalating, cycling, settling, "
        "secure-stable or dissolved. The black line, where a pairing has one, is the boundary where half the "
        "couples escalate or keep cycling. " + _support_direction_words(cells)), fig)


def chosen_cells(results: Results) -> tuple[pd.Series, pd.Series] | None:
    """An escalating and a settling cell to follow, with a clear contrast between them.

    In the pairing with the widest contrast (anxious-avoidant when present), at the middle goal-support
    level: the cell in the middle of the responsiveness range where most couples escalate, and the cell
    in the middle of the range where most settle. Without a support grid: the most and least intense cells
    of one pairing.
    """
    cells = results.cells.assign(active=results.cells["share_escalating"] + results.cells["share_cycling"])
    if _has_support_grid(results):
        contrast = cells.groupby("pairing")["active"].agg(lambda s: s.max() - s.min())
        pairing = "anxious-avoidant" if contrast.get("anxious-avoidant", 0) > 0.5 else contrast.idxmax()
        part = cells[cells.pairing == pairing]
        levels = np.sort(part["goal_support"].unique())
        middle = levels[len(levels) // 2]
        line = part[part["goal_support"] == middle].sort_values("responsiveness")
        escalating, settling = line[line.active >= 0.5], line[line.active < 0.5]
        if len(escalating) and len(settling):
            return escalating.iloc[len(escalating) // 2], settling.iloc[len(settling) // 2]
    # The most and the least intense cell of the pairing where they differ most, so that the two differ in the
    # other factors only; across pairings when no pairing has two cells.
    spread = cells.groupby("pairing", sort=False)["intensity_mean_mean"].agg(lambda s: s.max() - s.min())
    part = cells[cells.pairing == spread.idxmax()] if len(cells) else cells
    ordered = (part if len(part) >= 2 else cells).sort_values("intensity_mean_mean", kind="stable")
    if len(ordered) < 2:
        return None
    return ordered.iloc[-1], ordered.iloc[0]


def conflict_day(results: Results) -> int | None:
    """The day of the scheduled conflict shock every couple of the spec had, or None (no shock, or it varies)."""
    if "shock_day" in results.factor_names:
        return None
    day = int(results.held("shock_day"))
    return day if 0 < day <= results.days else None


def _everyday_conflicts(results: Results) -> str | None:
    """The spec's random conflicts in words ("about one every 11 days"), or None when they are off."""
    rate = float(results.held("conflict_rate"))
    return f"about one every {1 / rate:.0f} days" if rate > 0 else None


def _conflict_sentence(results: Results) -> str:
    """The spec's conflicts in one sentence: the scheduled one and the everyday ones, or none."""
    day, everyday = conflict_day(results), _everyday_conflicts(results)
    if day and everyday:
        return f" Every couple has a scheduled conflict on day {day} and everyday conflicts, {everyday}."
    if day:
        return f" Every couple has a scheduled conflict on day {day}."
    return f" Couples have everyday conflicts, {everyday}." if everyday else ""


# Days after the scheduled conflict within which a rise is its doing: the weekly average the flare-up rule
# reads (WEEKLY, a 7-day centre of mass) follows a jump within about a week, so two weeks cover it.
CONFLICT_WINDOW = 14


def _cell_label(results: Results, cell: pd.Series) -> str:
    parts = [str(cell["pairing"])]
    for name in results.factor_names:
        if name != "pairing":
            value = cell[name]
            parts.append(f"{name.replace('_', ' ')} {value:.2f}" if isinstance(value, (float, np.floating))
                         else f"{name.replace('_', ' ')} {value}")
    return ", ".join(parts)


def trajectories(results: Results) -> Panel | None:
    """Median and middle half of both partners' daily pursuit and withdrawal, in an escalating and a settling cell."""
    chosen = chosen_cells(results)
    if chosen is None:
        return None
    series = results.series([c["cell"] for c in chosen], ["q25", "q50", "q75"])
    titles = [_panel_title(results, c) for c in chosen]
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, subplot_titles=titles, horizontal_spacing=0.04)
    for col, cell in enumerate(chosen, start=1):
        part = series[series.cell == cell["cell"]]
        for role in "ab":
            for variable, dash in (("pursuit", "solid"), ("withdrawal", "dot")):
                rows = part[part.role == role]
                wide = rows.pivot_table(index="day", columns="statistic", values=variable)
                colour = ROLE_COLOURS[role]
                name = f"partner {role} {variable}"
                fig.add_trace(go.Scatter(x=wide.index, y=wide["q75"], line=dict(width=0, color=colour),
                                         showlegend=False, hoverinfo="skip", name=name, legendgroup=name),
                              row=1, col=col)
                fig.add_trace(go.Scatter(x=wide.index, y=wide["q25"], line=dict(width=0, color=colour),
                                         fill="tonexty", fillcolor=fade(colour), showlegend=False, hoverinfo="skip",
                                         name=name, legendgroup=name), row=1, col=col)
                fig.add_trace(go.Scatter(x=wide.index, y=wide["q50"], name=name, legendgroup=name,
                                         line=dict(color=colour, dash=dash, width=2), showlegend=col == 1,
                                         hovertemplate="day %{x}<br>median %{y:.3f}<extra>" + name + "</extra>"),
                              row=1, col=col)
        fig.update_xaxes(title_text="day", row=1, col=col)
    fig.update_yaxes(title_text="pursuit / withdrawal (0-1)", range=[0, 1], row=1, col=1)
    top = _title_margin(titles)
    fig.update_layout(height=360 + top, margin=dict(t=top, b=50, l=60, r=20),
                      legend=dict(orientation="h", y=-0.2))
    return Panel("trajectories", "The cycle over time in two cells", (
        "Pursuit (solid) and withdrawal (dotted) of both partners, day by day: the line is the median couple of "
        f"the cell, the band the middle half of couples. Left, {_cell_label(results, chosen[0])}: "
        f"{_cell_words(results, chosen[0])}. Right, {_contrast_words(results, *chosen)}: "
        f"{_cell_words(results, chosen[1])}.{_conflict_sentence(results)}"), fig)


def _dominant(cell: pd.Series) -> tuple[str, float]:
    """The classification most of the cell's couples received, and their share."""
    shares = {label: float(cell[f"share_{label}"]) for label in CLASSES}
    label = max(shares, key=shares.get)
    return label, shares[label]


# A panel title holds this many of a cell's factor values to a line: two panels side by side then keep their
# titles apart (a sampled design's cell names six or more values).
TITLE_VALUES_PER_LINE = 3


def _panel_title(results: Results, cell: pd.Series) -> str:
    """A followed cell's panel title: what most of its couples did, then the cell ("90% cycling: ..."), wrapped."""
    label, share = _dominant(cell)
    parts = _cell_label(results, cell).split(", ")
    lines = [", ".join(parts[i:i + TITLE_VALUES_PER_LINE]) for i in range(0, len(parts), TITLE_VALUES_PER_LINE)]
    return f"{share:.0%} {label}: " + "<br>".join(lines)


def _title_margin(titles: list[str]) -> int:
    """Top margin that leaves room for the longest of the titles' lines."""
    return 40 + 20 * max(title.count("<br>") + 1 for title in titles)


def _contrast_words(results: Results, first: pd.Series, second: pd.Series) -> str:
    """How the second followed cell differs from the first, factor by factor ("the same pairing with more ...")."""
    head = "the same pairing" if first["pairing"] == second["pairing"] else f"{second['pairing']} couples"
    changes = []
    for name in results.factor_names:
        if name == "pairing" or first[name] == second[name]:
            continue
        words, value = name.replace("_", " "), second[name]
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
            shown = f"{value:.2f}" if isinstance(value, (float, np.floating)) else str(value)   # as _cell_label
            changes.append(f"{'more' if value > first[name] else 'less'} {words} ({shown})")
        else:
            changes.append(f"{words} {value}")
    return head + (f" with {' and '.join(changes)}" if changes else "")


# What the couples of each classification do, for captions that list a cell's shares.
CLASS_VERBS = {"escalating": "escalate", "cycling": "keep cycling", "settling": "settle",
               "secure-stable": "stay secure-stable", "dissolved": "split up"}


def _share_list(parts: list[tuple[float, str]]) -> str:
    """Shares in words, the nonzero ones only: "60% of couples settle and 40% stay secure-stable"."""
    kept = [(share, words) for share, words in parts if share > 0]
    said = [f"{share:.0%}{'' if i else ' of couples'} {words}" for i, (share, words) in enumerate(kept)]
    return said[0] if len(said) == 1 else ", ".join(said[:-1]) + " and " + said[-1]


def _cell_words(results: Results, cell: pd.Series) -> str:
    """How a followed cell's couples lived their cycle, from its class shares and its mean intensity."""
    shares = {label: float(cell[f"share_{label}"]) for label in CLASSES}
    words = _share_list([(shares[label], CLASS_VERBS[label]) for label in CLASSES])
    most = _dominant(cell)[0]
    if most == "escalating":
        words += "; in escalating couples one partner's pursuit and the other's withdrawal climb together and stay high"
    elif most == "cycling":
        words += "; cycling couples flare up and calm again, each at its own times, so the band stays wide"
    return words + _conflict_response(results, cell)


def _mean_weekly_intensity(results: Results, cell: pd.Series) -> pd.Series:
    """The cell's mean weekly cycle intensity by day (the raw daily mean when the series skips days)."""
    mean = results.series([int(cell["cell"])], ["mean"])
    daily = mean[mean.role == "a"].set_index("day")["cycle_intensity"].sort_index()
    days = daily.index.to_numpy()
    # The weekly average is linear, so the mean couple's weekly intensity is the mean of the couples' own.
    return pd.Series(weekly_intensity(daily.to_numpy()), index=days) if _daily(days) else daily


def _conflict_response(results: Results, cell: pd.Series) -> str:
    """Whether the scheduled conflict stirred the cell's cycle, from its mean weekly intensity around that day."""
    day = conflict_day(results)
    if day is None:
        return ""
    quiet = float(results.held("quiet_intensity"))
    weekly = _mean_weekly_intensity(results, cell)
    after = weekly[(weekly.index >= day) & (weekly.index <= day + CONFLICT_WINDOW)]
    if after.empty:
        return ""
    peak = float(after.max())
    if peak < quiet:
        return (f"; even the conflict on day {day} hardly stirs them (their mean weekly intensity stays below "
                f"{quiet:g}, the calm threshold)")
    later = weekly[weekly.index > after.idxmax()]
    calmed = bool(len(later)) and float(later.min()) < quiet
    return (f"; the conflict on day {day} stirs their cycle (mean weekly intensity up to {peak:.2f})"
            + (" and it calms again" if calmed else ""))


def phase_portrait(results: Results) -> Panel | None:
    """The pursuer's pursuit against the other's withdrawal, day by day, in the two followed cells."""
    chosen = chosen_cells(results)
    if chosen is None:
        return None
    series = results.series([c["cell"] for c in chosen], ["q50"])
    titles = [_panel_title(results, c) for c in chosen]
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, subplot_titles=titles, horizontal_spacing=0.06)
    quiet = float(results.held("quiet_intensity"))
    paths = []
    for col, cell in enumerate(chosen, start=1):
        pursuer = anxious_role(str(cell["pairing"]))
        other = "b" if pursuer == "a" else "a"
        part = series[series.cell == cell["cell"]]
        x = part[part.role == pursuer].set_index("day")["pursuit"].sort_index()
        y = part[part.role == other].set_index("day")["withdrawal"].reindex(x.index)
        paths.append(_path_words(results, x * y, quiet))
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", showlegend=False,
                                 marker=dict(size=4, color=x.index, colorscale="Viridis", showscale=col == 2,
                                             colorbar=dict(title="day")),
                                 line=dict(color="rgba(120,120,120,0.4)", width=1),
                                 hovertemplate="day %{marker.color}<br>pursuit %{x:.3f}<br>withdrawal %{y:.3f}"
                                               "<extra></extra>"), row=1, col=col)
        fig.update_xaxes(title_text=f"partner {pursuer} pursuit (median)", range=[0, 1], row=1, col=col)
    fig.update_yaxes(title_text="other partner's withdrawal (median)", range=[0, 1], row=1, col=1)
    top = _title_margin(titles)
    fig.update_layout(height=360 + top, margin=dict(t=top, b=50, l=60, r=20))
    who = ("the anxious partner" if all(_has_anxious(str(c["pairing"])) for c in chosen)
           else "the anxious partner (partner a where neither is anxious)")
    return Panel("phase", "Phase portrait: pursuit against withdrawal", (
        f"Each dot is a day (dark = early, yellow = late): across, how much {who} pursues; up, how much the other "
        "partner withdraws (medians over the cell's couples). When the cycle flares the path runs up and to the "
        f"right, pursuit and withdrawal feeding each other; near the bottom-left corner (the two medians' product "
        f"below {quiet:g}, the calm threshold) the couple is calm. Left, {paths[0]}. Right, {paths[1]}."), fig)


def _has_anxious(pairing: str) -> bool:
    """Whether a pairing has an anxious (or fearful) partner, the one whose pursuit the figures follow."""
    return any(style in ANXIOUS_STYLES for style in pairing.split("-"))


def _path_words(results: Results, product: pd.Series, quiet: float) -> str:
    """Where a phase-portrait path goes, from its own points: whether and when it leaves the calm corner."""
    day = conflict_day(results)
    out = product[product >= quiet]
    if out.empty:
        return "the path stays in the calm corner throughout" + (f", even after the conflict on day {day}" if day
                                                                 else "")
    left = int(out.index[0])
    if day is not None and day <= left <= day + CONFLICT_WINDOW:
        words = f"the conflict on day {day} pushes the path out of the calm corner"
    elif day is not None and left < day:
        words = f"the path leaves the calm corner on day {left}, before the conflict on day {day}"
    else:
        words = f"the path leaves the calm corner on day {left}"
    back = product[product.index > out.index[-1]]
    return words + (f"; it is back by day {int(back.index[0])}" if len(back) else
                    f"; it is still out on day {int(product.index[-1])}, the last")


# A difference smaller than this share of couples (or ECR-R points of anxiety change) is "little" in a caption:
# about the Monte Carlo error of a share over the cells of half a grid with a few dozen couples each.
NOTABLE_SHARE = 0.05
# More pairings than this that the design did not set (drawn couples' traits sampled) share one panel.
MAX_PAIRING_PANELS = 4
NOTABLE_ANXIETY_CHANGE = 0.02


def _active_region_words(cells: pd.DataFrame) -> str:
    """Which pairing's cycle takes hold in most of the grid and which in least, from the cells."""
    taken = {p: float((part["active"] >= 0.5).mean()) for p, part in cells.groupby("pairing", sort=False)}
    if len(taken) < 2:
        (pairing, share), = taken.items()
        return f"In {share:.0%} of the cells at least half the couples escalated or kept cycling."
    most, least = max(taken, key=taken.get), min(taken, key=taken.get)
    return (f"The cycle took hold (in at least half the couples) in {taken[most]:.0%} of the cells for {most}, "
            f"the most, and in {taken[least]:.0%} for {least}, the least.")


def _half_difference(cells: pd.DataFrame, factor: str) -> tuple[float, float]:
    """Mean share escalating or cycling in the cells below the middle of ``factor``'s levels, and above it."""
    middle = float(np.median(np.unique(cells[factor])))
    return float(cells.loc[cells[factor] < middle, "active"].mean()), \
        float(cells.loc[cells[factor] > middle, "active"].mean())


def _support_direction_words(cells: pd.DataFrame) -> str:
    """Where on the grid the cycle takes hold, read from the cells: low or high responsiveness and goal support."""
    parts = []
    for factor in SUPPORT:
        low, high = _half_difference(cells, factor)
        name = factor.replace("_", " ")
        if not np.isfinite(low) or not np.isfinite(high):
            continue
        if abs(low - high) < NOTABLE_SHARE:
            parts.append(f"{name} changes it little ({low:.0%} of couples in the lower half of its levels, "
                         f"{high:.0%} in the upper)")
        else:
            where = "low" if low > high else "high"
            parts.append(f"the cycle takes hold more at {where} {name} ({low:.0%} of couples in the lower half of its "
                         f"levels, {high:.0%} in the upper)")
    return ("Over all pairings, " + "; ".join(parts) + ".") if parts else ""


def _goal_support_slope_words(results: Results, cells: pd.DataFrame, pairings: list[str],
                              picks: list[tuple[float, str]]) -> str:
    """What each line does in the data: the change in anxiety from the least to the most goal support."""
    sentences = []
    for pairing in pairings:
        column, _ = _anxiety_change_column(results, anxious_role(pairing))
        part = cells[cells.pairing == pairing]
        said = []
        for value, label in picks:
            line = part[np.isclose(part["responsiveness"], value)].sort_values("goal_support")
            if len(line) < 2:
                continue
            change = float(line[column].iloc[-1] - line[column].iloc[0])
            verb = ("barely moves" if abs(change) < NOTABLE_ANXIETY_CHANGE
                    else "falls" if change < 0 else "rises")
            span = " from the least to the most goal support" if not said else ""
            said.append(f"at {label} responsiveness it {verb} ({change:+.3f}{span})")
        if said:
            sentences.append(f"{pairing}: " + ", ".join(said) + ".")
    return ("In this sweep, " + " ".join(sentences)) if sentences else ""


def support_balance(results: Results) -> Panel | None:
    """Anxiety change against goal support at low, medium and high responsiveness, with confidence bands."""
    if not _has_support_grid(results):
        return None
    cells = results.cells
    pairings = _pairings(cells)
    levels = np.sort(cells["responsiveness"].unique())
    picks = []
    for target, label in ((0.2, "low"), (0.5, "medium"), (0.8, "high")):
        value = levels[np.argmin(np.abs(levels - target))]
        if value not in [v for v, _ in picks]:
            picks.append((value, label))
    colours = {"low": "#c0392b", "medium": "#b7950b", "high": "#1e8449"}
    fig = make_subplots(rows=1, cols=len(pairings), shared_yaxes=True, horizontal_spacing=0.025,
                        subplot_titles=[f"{p}: {_partner_label(p, anxious_role(p))}" for p in pairings])
    for i, pairing in enumerate(pairings, start=1):
        column, horizon = _anxiety_change_column(results, anxious_role(pairing))
        base = column[:-len("_mean")]
        part = cells[cells.pairing == pairing]
        for value, label in picks:
            line = part[np.isclose(part["responsiveness"], value)].sort_values("goal_support")
            colour = colours[label]
            name = f"{label} responsiveness ({value:.2f})"
            fig.add_trace(go.Scatter(x=line["goal_support"], y=line[f"{base}_ci_high"],
                                     line=dict(width=0, color=colour), name=name, legendgroup=name,
                                     showlegend=False, hoverinfo="skip"), row=1, col=i)
            fig.add_trace(go.Scatter(x=line["goal_support"], y=line[f"{base}_ci_low"],
                                     line=dict(width=0, color=colour), fill="tonexty", fillcolor=fade(colour, 0.2),
                                     name=name, legendgroup=name, showlegend=False, hoverinfo="skip"), row=1, col=i)
            fig.add_trace(go.Scatter(x=line["goal_support"], y=line[column], name=name, legendgroup=name,
                                     showlegend=i == 1, line=dict(color=colour, width=2),
                                     hovertemplate="goal support %{x:.2f}<br>change %{y:+.3f}<extra>" + name +
                                                   "</extra>"), row=1, col=i)
        fig.add_hline(y=0, line=dict(color="grey", width=1, dash="dot"), row=1, col=i)
        fig.update_xaxes(title_text="goal support", row=1, col=i)
    fig.update_yaxes(title_text=f"anxiety, {horizon} (ECR-R)", row=1, col=1)
    fig.update_layout(height=400, margin=dict(t=60, b=50, l=70, r=20), legend=dict(orientation="h", y=-0.2))
    return Panel("balance", "The balance of support", (
        f"The anxious partner's {horizon} in attachment anxiety as goal support rises, at low, medium and high "
        "responsiveness (bands: 95% confidence intervals over the cell's couples). Lines that fall to the right "
        "mean goal support lowers anxiety. The theory expects that only with enough responsiveness: "
        "encouragement of independence without a safe haven reads as distance (Jakubiak et al. 2023). "
        + _goal_support_slope_words(results, cells, pairings, picks)), fig)


def other_factors(results: Results) -> Panel | None:
    """Sensible defaults for specs without the support grid: a heatmap for two numeric factors, lines for one."""
    if _has_support_grid(results) or "intervention" in results.factor_names:
        return None     # interventions have their own figures (sim.report.interventions)
    cells = results.cells.assign(active=results.cells["share_escalating"] + results.cells["share_cycling"])
    numeric = [n for n in results.factor_names if n != "pairing"]
    pairings = _pairings(cells)
    # Drawn couples whose traits are sampled get their pairing from the traits: up to 16 pairings with a few
    # points each, which say nothing a panel of all couples does not. Split by pairing only when the design
    # sets it (a factor, or the population's list) or there are few.
    by_pairing = "pairing" in results.factor_names or len(pairings) <= MAX_PAIRING_PANELS
    if not by_pairing:
        cells = cells.assign(pairing="all couples")
        pairings = ["all couples"]
    caption_tail = ("Share of couples escalating or cycling" if numeric else "")
    if len(numeric) >= 2:
        x_name, y_name = numeric[:2]
        x_words, y_words = x_name.replace("_", " "), y_name.replace("_", " ")
        fig = make_subplots(rows=1, cols=len(pairings), shared_yaxes=True, subplot_titles=pairings)
        sampled = False
        for i, pairing in enumerate(pairings, start=1):
            part = cells[cells.pairing == pairing]
            grid = part.pivot_table(index=y_name, columns=x_name, values="active", aggfunc="mean")
            if grid.size == len(part) and grid.notna().all().all():
                fig.add_trace(go.Heatmap(x=grid.columns, y=grid.index, z=grid.to_numpy(), coloraxis="coloraxis",
                                         name=pairing, showlegend=False), row=1, col=i)
            else:   # sampled designs: one point per cell
                sampled = True
                fig.add_trace(go.Scatter(x=part[x_name], y=part[y_name], mode="markers", name=pairing,
                                         showlegend=False,       # the colour is the share, on the colour bar
                                         marker=dict(color=part["active"], coloraxis="coloraxis", size=9)),
                              row=1, col=i)
            fig.update_xaxes(title_text=x_words, row=1, col=i)
        fig.update_yaxes(title_text=y_words, row=1, col=1)
        fig.update_layout(coloraxis=dict(colorscale="Reds", cmin=0, cmax=1,
                                         colorbar=dict(title="share escalating<br>or cycling")), height=400)
        panels = ("one panel per pairing" if by_pairing
                  else "all couples together (their pairings follow the sampled traits)")
        others = (f" The design's other factors ({', '.join(n.replace('_', ' ') for n in numeric[2:])}) vary too, "
                  "so neighbouring points can differ in them." if len(numeric) > 2 else "")
        return Panel("factors", f"{caption_tail} over {x_words} and {y_words}", (
            f"{caption_tail} in each design cell ({'one dot per sampled point' if sampled else 'a grid'}), over "
            f"{x_words} (across) and {y_words} (up), {panels}. Red: the cycle takes hold.{others}"),
            fig)
    if len(numeric) == 1:
        name = numeric[0]
        fig = make_subplots(rows=1, cols=2, subplot_titles=["share escalating or cycling", "mean cycle intensity"])
        colours = pairing_colours(results)
        for pairing in pairings:
            part = cells[cells.pairing == pairing].sort_values(name)
            look = dict(line=dict(color=colours[pairing]), marker=dict(color=colours[pairing]))
            fig.add_trace(go.Scatter(x=part[name], y=part["active"], name=pairing, legendgroup=pairing,
                                     mode="lines+markers", **look), row=1, col=1)
            fig.add_trace(go.Scatter(x=part[name], y=part["intensity_mean_mean"], name=pairing,
                                     legendgroup=pairing, showlegend=False, mode="lines+markers", **look,
                                     error_y=dict(type="data", symmetric=False, color=colours[pairing],
                                                  array=part["intensity_mean_ci_high"] - part["intensity_mean_mean"],
                                                  arrayminus=part["intensity_mean_mean"]
                                                  - part["intensity_mean_ci_low"])),
                          row=1, col=2)
        words = name.replace("_", " ")
        fig.update_xaxes(title_text=words)
        fig.update_layout(height=400)
        return Panel("factors", f"Escalation and intensity against {words}", (
            f"Left: share of couples whose cycle escalated or kept cycling at each level of {words}; right: mean "
            "cycle intensity with 95% confidence intervals. One line per pairing."), fig)
    colours = pairing_colours(results)
    fig = go.Figure(go.Bar(x=pairings, y=[cells.loc[cells.pairing == p, "active"].mean() for p in pairings],
                           marker_color=[colours[p] for p in pairings]))
    fig.update_layout(height=350, yaxis=dict(title="share escalating or cycling", range=[0, 1]))
    return Panel("factors", "Escalation by pairing", "Share of couples escalating or cycling in each pairing.", fig)


def couple_animation(results: Results) -> Panel | None:
    """One couple's cycle as an animation, for teaching: play, or drag the slider through the days."""
    chosen = chosen_cells(results)
    if chosen is None:
        return None
    cell = chosen[0]
    own = results.series([cell["cell"]], ["couple"], replicate=0)
    if own.empty:
        return None
    pursuer = anxious_role(str(cell["pairing"]))
    other = "b" if pursuer == "a" else "a"
    days = np.sort(own["day"].unique())
    by_role = {role: own[own.role == role].set_index("day").reindex(days) for role in "ab"}
    pursuit, withdrawal = by_role[pursuer]["pursuit"].to_numpy(), by_role[other]["withdrawal"].to_numpy()
    intensity = by_role[pursuer]["cycle_intensity"].to_numpy()      # the couple's, as the tracker measures it
    distress = {r: by_role[r]["distress"].to_numpy() for r in "ab"}
    step = max(1, len(days) // 120)
    shown = list(range(0, len(days), step)) + ([len(days) - 1] if (len(days) - 1) % step else [])

    def traces(k: int) -> list[go.Scatter]:
        upto = slice(0, k + 1)
        return [
            go.Scatter(x=days[upto], y=pursuit[upto], name=f"partner {pursuer} pursues",
                       line=dict(color=ROLE_COLOURS[pursuer])),
            go.Scatter(x=days[upto], y=withdrawal[upto], name=f"partner {other} withdraws",
                       line=dict(color=ROLE_COLOURS[other])),
            go.Scatter(x=days[upto], y=distress[pursuer][upto], name=f"partner {pursuer} distress",
                       line=dict(color=ROLE_COLOURS[pursuer], dash="dot", width=1)),
            go.Scatter(x=pursuit[upto], y=withdrawal[upto], mode="lines", line=dict(color="rgba(90,90,90,0.35)"),
                       showlegend=False, xaxis="x2", yaxis="y2"),
            go.Scatter(x=[pursuit[k]], y=[withdrawal[k]], mode="markers", marker=dict(size=16, color="#8e44ad"),
                       name="today", xaxis="x2", yaxis="y2"),
        ]

    fig = make_subplots(rows=1, cols=2, column_widths=[0.62, 0.38],
                        subplot_titles=["day by day", "pursuit against withdrawal"])
    for trace in traces(shown[0]):
        fig.add_trace(trace, row=1, col=1 if trace.xaxis in (None, "x") else 2)
    fig.frames = [go.Frame(data=traces(k), name=str(int(days[k])), traces=list(range(5))) for k in shown]
    fig.update_xaxes(range=[0, int(days[-1])], title_text="day", row=1, col=1)
    fig.update_yaxes(range=[0, 1], row=1, col=1)
    fig.update_xaxes(range=[0, 1], title_text=f"partner {pursuer} pursuit", row=1, col=2)
    fig.update_yaxes(range=[0, 1], title_text=f"partner {other} withdrawal", row=1, col=2)
    fig.update_layout(
        height=480, margin=dict(t=100, b=110, l=60, r=20), legend=dict(orientation="h", y=1.22),
        updatemenus=[dict(type="buttons", showactive=False, x=0.0, y=-0.18, xanchor="left", buttons=[
            dict(label="Play", method="animate",
                 args=[None, dict(frame=dict(duration=60, redraw=False), fromcurrent=True,
                                  transition=dict(duration=0))]),
            dict(label="Pause", method="animate",
                 args=[[None], dict(frame=dict(duration=0, redraw=False), mode="immediate")])])],
        sliders=[dict(x=0.12, y=-0.12, len=0.88, currentvalue=dict(prefix="day "), steps=[
            dict(label=str(int(days[k])), method="animate",
                 args=[[str(int(days[k]))], dict(mode="immediate", frame=dict(duration=0, redraw=False))])
            for k in shown])])
    label, share = _dominant(cell)
    return Panel("animation", "One couple's cycle, day by day", (
        f"A single couple of the cell {_cell_label(results, cell)} ({share:.0%} {label}). Press Play, or drag the "
        f"slider. {_animation_words(results, days, intensity, pursuer, other)}"), fig)


def _animation_words(results: Results, days: np.ndarray, intensity: np.ndarray, pursuer: str, other: str) -> str:
    """What to watch in the teaching couple, from its own series and the tracker's flare-up rule.

    When its cycle takes hold is the onset of its first flare-up (weekly intensity reaching high_intensity),
    as the flare-up figure and the classification count it, placed before, at or after the spec's conflict.
    """
    high, quiet = float(results.held("high_intensity")), float(results.held("quiet_intensity"))
    if _daily(days):
        episodes = flare_episodes(weekly_intensity(intensity), high, quiet)
        onset = int(days[episodes[0][0]]) if episodes else None
        rule = f"its weekly cycle intensity reaches {high:g}"
    else:                                                   # a thinned series: no weekly average to follow
        episodes, above = None, np.flatnonzero(intensity >= high)
        onset = int(days[above[0]]) if len(above) else None
        rule = f"its cycle intensity on the days kept reaches {high:g}"
    if onset is None:
        return (f"This couple never flares up ({rule.replace('reaches', 'stays below')}): partner {pursuer}'s "
                f"pursuit and partner {other}'s withdrawal never feed each other for long, and on the right the "
                "purple dot stays away from the top-right corner where the cycle feeds itself.")
    day = conflict_day(results)
    if day is None:
        timing = ""
    elif onset < day:
        timing = f", {'in the first week, ' if onset < 7 else ''}before the scheduled conflict on day {day}"
    elif onset <= day + CONFLICT_WINDOW:
        timing = f", at the scheduled conflict on day {day}"
    else:
        timing = f", {onset - day} days after the scheduled conflict on day {day}"
    return (f"Watch partner {pursuer}'s distress and pursuit rise and partner {other} answer with withdrawal, each "
            f"pushing the other further: the cycle takes hold on day {onset} ({rule}){timing}. On the right the "
            "purple dot climbs towards the corner where pursuit meets withdrawal and the cycle feeds itself"
            f"{_return_words(days, episodes)}.")


def _return_words(days: np.ndarray, episodes: list[tuple[int, int | None]] | None) -> str:
    """Whether this couple's flare-ups ended, from its own episodes (None: a thinned series, nothing to say)."""
    if not episodes:
        return ""
    complete = [e for e in episodes if e[1] is not None]
    if not complete:
        return f", and stays there: its flare-up has not ended by day {int(days[-1])}"
    return (f", then falls back as the flare-up ends; this couple flared up and calmed {len(complete)} "
            f"time{'s' if len(complete) != 1 else ''}")


def _daily(days: np.ndarray) -> bool:
    """Whether a kept series has every day (the weekly average needs them; ``series_every`` may thin them)."""
    return len(days) > 1 and bool(np.all(np.diff(days) == 1)) and int(days[0]) == 0


def episode(results: Results) -> Panel | None:
    """One flare-up of one sampled couple, from calm to calm: the episode the cycle is made of."""
    high, quiet = float(results.held("high_intensity")), float(results.held("quiet_intensity"))
    chosen = chosen_cells(results)
    cells = results.cells
    # The escalating cell of the other figures first, then the cells where couples cycle most.
    order = ([int(chosen[0]["cell"])] if chosen is not None else []) + \
        list(cells.sort_values("share_cycling", ascending=False)["cell"].astype(int))
    for cell_id in dict.fromkeys(order[:12]):
        own = results.series([cell_id], ["couple"])
        for replicate, couple in own.groupby("replicate"):
            days = np.sort(couple["day"].unique())
            if not _daily(days):
                return None
            by_role = {r: couple[couple.role == r].set_index("day").reindex(days) for r in "ab"}
            weekly = weekly_intensity(by_role["a"]["cycle_intensity"].to_numpy())
            complete = [(a, b) for a, b in flare_episodes(weekly, high, quiet) if b is not None and a > 0]
            if complete:
                return _episode_panel(results, cells.set_index("cell").loc[cell_id], int(replicate), days,
                                      by_role, weekly, complete, high, quiet)
    return None


def _episode_panel(results, cell, replicate, days, by_role, weekly, complete, high, quiet) -> Panel:
    onset, calm = complete[0]
    start, stop = max(0, onset - 30), min(len(days) - 1, calm + 30)
    window = slice(start, stop + 1)
    pairing = str(cell["pairing"])
    pursuer = anxious_role(pairing)
    other = "b" if pursuer == "a" else "a"
    fig = go.Figure()
    fig.add_vrect(x0=int(days[onset]), x1=int(days[calm]), fillcolor="rgba(192,57,43,0.08)", line_width=0)
    for role, variable, dash in ((pursuer, "pursuit", "solid"), (other, "withdrawal", "solid"),
                                 (pursuer, "distress", "dot"), (other, "distress", "dot")):
        name = f"{_partner_label(pairing, role)} {variable}"
        fig.add_trace(go.Scatter(x=days[window], y=by_role[role][variable].to_numpy()[window], name=name,
                                 line=dict(color=ROLE_COLOURS[role], dash=dash, width=2 if dash == "solid" else 1),
                                 hovertemplate="day %{x}<br>%{y:.3f}<extra>" + name + "</extra>"))
    fig.add_trace(go.Scatter(x=days[window], y=weekly[window], name="weekly cycle intensity",
                             line=dict(color="#444444", width=3),
                             hovertemplate="day %{x}<br>weekly intensity %{y:.3f}<extra></extra>"))
    for level, words in ((high, "flare-up"), (quiet, "calm")):
        fig.add_hline(y=level, line=dict(color="#888888", dash="dash", width=1),
                      annotation_text=f"{words} ({level:g})", annotation_position="top left")
    fig.update_xaxes(title_text="day")
    fig.update_yaxes(title_text="0-1", range=[0, 1])
    fig.update_layout(height=420, margin=dict(t=40, b=50, l=60, r=20), legend=dict(orientation="h", y=-0.2))
    length = int(days[calm] - days[onset])
    later = len(complete) - 1
    again = (f" It flared up {later} more time{'s' if later != 1 else ''} and calmed again before day "
             f"{int(days[complete[-1][1]])}." if later else "")
    return Panel("episode", "One flare-up, from calm to calm", (
        f"Couple {replicate + 1} of the cell {_cell_label(results, cell)}, days {int(days[start])}-"
        f"{int(days[stop])}. The weekly cycle intensity (thick line) reached {high:g} on day {int(days[onset])} "
        f"and was back below {quiet:g} on day {int(days[calm])}, {length} days later (shaded). "
        f"{_partner_label(pairing, pursuer).capitalize()} pursues and {_partner_label(pairing, other)} withdraws "
        "while both are distressed (dotted); the flare-up ends as unanswered pursuit turns to despair and the "
        f"withdrawer soothes, and the couple is calm again.{again}"), fig)


BUILDERS = (escalation_heatmaps, intensity_heatmaps, anxiety_heatmaps, regime_map, trajectories, episode,
            phase_portrait, support_balance, other_factors, couple_animation)


def all_panels(results: Results) -> list[Panel]:
    """Every figure the results support, in reading order (discovery and interventions first, when there are any)."""
    return [panel for build in discovery.BUILDERS + interventions.BUILDERS + BUILDERS
            if (panel := build(results)) is not None]
