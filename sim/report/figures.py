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
from sim.report.panel import Panel
from sim.report.results import Results
from sim.schema import CLASS_COLOURS, CLASSES, ROLE_COLOURS

SUPPORT = ("responsiveness", "goal_support")


def anxious_role(pairing: str) -> str:
    """The partner whose anxiety the report follows: the anxious (or fearful) one, else partner a."""
    styles = pairing.split("-")
    # strict=False: a pairing without a dash ("custom") splits into one piece that is no style; it falls to "a".
    for role, style in zip("ab", styles, strict=False):
        if style in ("anxious", "fearful"):
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
    # Factors, not sampled parameters: sampled points scatter, and a heatmap over them would be mostly holes.
    factors = results.manifest["spec_resolved"]["spec"].get("factors", {})
    return all(name in results.factor_names and name in factors for name in SUPPORT)


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
            "secure. Compare the pairings: the red region is where that pairing needs more support than it gets."),
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
        "secure-stable or dissolved. The black line is the boundary where half the couples escalate or keep "
        "cycling: below and left of it the cycle takes hold, above and right of it couples settle."), fig)


def chosen_cells(results: Results) -> tuple[pd.Series, pd.Series] | None:
    """An escalating and a settling cell to follow, with a clear contrast between them.

    In the pairing with the widest contrast (anxious-avoidant when present), at the middle goal-support
    level: the cell in the middle of the responsiveness range where most couples escalate, and the cell
    in the middle of the range where most settle. Without a support grid: the most and least intense cells.
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
    ordered = cells.sort_values("intensity_mean_mean")
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


def _flare_words(results: Results) -> str:
    """How the settling cell's cycle is described: flaring at the spec's conflicts, or staying calm."""
    day, everyday = conflict_day(results), _everyday_conflicts(results)
    if day and everyday:
        return f"flare at the conflict on day {day} and at everyday conflicts ({everyday}) and die down"
    if day:
        return f"flare at the conflict on day {day} and die down"
    return f"flare at everyday conflicts ({everyday}) and die down" if everyday else "stay low"


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
    titles = [f"{kind}: {_cell_label(results, c)}" for kind, c in zip(("in the cycle", "settling"), chosen,
                                                                        strict=True)]
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, subplot_titles=titles, horizontal_spacing=0.04)
    for col, cell in enumerate(chosen, start=1):
        part = series[series.cell == cell["cell"]]
        for role in "ab":
            for variable, dash in (("pursuit", "solid"), ("withdrawal", "dot")):
                rows = part[part.role == role]
                wide = rows.pivot_table(index="day", columns="statistic", values=variable)
                colour = ROLE_COLOURS[role]
                name = f"partner {role} {variable}"
                fig.add_trace(go.Scatter(x=wide.index, y=wide["q75"], line=dict(width=0), showlegend=False,
                                         hoverinfo="skip", legendgroup=name), row=1, col=col)
                fig.add_trace(go.Scatter(x=wide.index, y=wide["q25"], line=dict(width=0), fill="tonexty",
                                         fillcolor=_fade(colour), showlegend=False, hoverinfo="skip",
                                         legendgroup=name), row=1, col=col)
                fig.add_trace(go.Scatter(x=wide.index, y=wide["q50"], name=name, legendgroup=name,
                                         line=dict(color=colour, dash=dash, width=2), showlegend=col == 1,
                                         hovertemplate="day %{x}<br>median %{y:.3f}<extra>" + name + "</extra>"),
                              row=1, col=col)
        fig.update_xaxes(title_text="day", row=1, col=col)
    fig.update_yaxes(title_text="pursuit / withdrawal (0-1)", range=[0, 1], row=1, col=1)
    fig.update_layout(height=420, margin=dict(t=60, b=50, l=60, r=20), legend=dict(orientation="h", y=-0.2))
    return Panel("trajectories", "The cycle over time, in the cycle and settling", (
        "Pursuit (solid) and withdrawal (dotted) of both partners, day by day: the line is the median couple of "
        f"the cell, the band the middle half of couples. Left, a cell where {_active_words(chosen[0])}. Right, a "
        f"cell where they {_flare_words(results)} (the cells are named above each panel)."), fig)


def _active_words(cell: pd.Series) -> str:
    """How the active cell's couples live their cycle, from its class shares."""
    escalating, cycling = float(cell["share_escalating"]), float(cell["share_cycling"])
    if escalating >= cycling:
        return (f"{escalating:.0%} of couples escalate: one partner's pursuit and the other's withdrawal climb "
                "together and stay high")
    return (f"{cycling:.0%} of couples cycle, flaring up and calming again, each couple at its own times, so the "
            "median rises with the first conflicts and the band stays wide (the next figure follows one flare-up)")


def _fade(colour: str, alpha: float = 0.18) -> str:
    r, g, b = int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)
    return f"rgba({r},{g},{b},{alpha})"


def phase_portrait(results: Results) -> Panel | None:
    """Anxious partner's pursuit against the other's withdrawal, day by day, in an escalating and a settling cell."""
    chosen = chosen_cells(results)
    if chosen is None:
        return None
    series = results.series([c["cell"] for c in chosen], ["q50"])
    titles = [f"{kind}: {_cell_label(results, c)}" for kind, c in zip(("in the cycle", "settling"), chosen,
                                                                        strict=True)]
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, subplot_titles=titles, horizontal_spacing=0.06)
    for col, cell in enumerate(chosen, start=1):
        pursuer = anxious_role(str(cell["pairing"])) if "-" in str(cell["pairing"]) else "a"
        other = "b" if pursuer == "a" else "a"
        part = series[series.cell == cell["cell"]]
        x = part[part.role == pursuer].set_index("day")["pursuit"]
        y = part[part.role == other].set_index("day")["withdrawal"]
        fig.add_trace(go.Scatter(x=x, y=y.reindex(x.index), mode="lines+markers", showlegend=False,
                                 marker=dict(size=4, color=x.index, colorscale="Viridis", showscale=col == 2,
                                             colorbar=dict(title="day")),
                                 line=dict(color="rgba(120,120,120,0.4)", width=1),
                                 hovertemplate="day %{marker.color}<br>pursuit %{x:.3f}<br>withdrawal %{y:.3f}"
                                               "<extra></extra>"), row=1, col=col)
        fig.update_xaxes(title_text=f"partner {pursuer} pursuit (median)", range=[0, 1], row=1, col=col)
    fig.update_yaxes(title_text="other partner's withdrawal (median)", range=[0, 1], row=1, col=1)
    fig.update_layout(height=420, margin=dict(t=60, b=50, l=60, r=20))
    return Panel("phase", "Phase portrait: pursuit against withdrawal", (
        "Each dot is a day (dark = early, yellow = late): across, how much the anxious partner pursues; up, "
        "how much the other partner withdraws (medians over the cell's couples). When the cycle flares the path "
        "runs up and to the right, pursuit and withdrawal feeding each other; in a settling cell it stays near "
        "the bottom-left, calm"
        + (f", returning there after the conflict on day {day} pushes it out." if (day := conflict_day(results))
           else ".")), fig)


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
            fig.add_trace(go.Scatter(x=line["goal_support"], y=line[f"{base}_ci_high"], line=dict(width=0),
                                     showlegend=False, hoverinfo="skip"), row=1, col=i)
            fig.add_trace(go.Scatter(x=line["goal_support"], y=line[f"{base}_ci_low"], line=dict(width=0),
                                     fill="tonexty", fillcolor=_fade(colour, 0.2), showlegend=False,
                                     hoverinfo="skip"), row=1, col=i)
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
        "mean goal support lowers anxiety; this happens only when responsiveness is high enough. With little "
        "responsiveness the line is flat or rises: encouragement of independence without a safe haven reads "
        "as distance."), fig)


def other_factors(results: Results) -> Panel | None:
    """Sensible defaults for specs without the support grid: a heatmap for two numeric factors, lines for one."""
    if _has_support_grid(results) or "intervention" in results.factor_names:
        return None     # interventions have their own figures (sim.report.interventions)
    cells = results.cells.assign(active=results.cells["share_escalating"] + results.cells["share_cycling"])
    numeric = [n for n in results.factor_names if n != "pairing"]
    pairings = _pairings(cells)
    caption_tail = ("Share of couples escalating or cycling" if numeric else "")
    if len(numeric) >= 2:
        x_name, y_name = numeric[:2]
        fig = make_subplots(rows=1, cols=len(pairings), shared_yaxes=True, subplot_titles=pairings)
        for i, pairing in enumerate(pairings, start=1):
            part = cells[cells.pairing == pairing]
            grid = part.pivot_table(index=y_name, columns=x_name, values="active", aggfunc="mean")
            if grid.size == len(part) and grid.notna().all().all():
                fig.add_trace(go.Heatmap(x=grid.columns, y=grid.index, z=grid.to_numpy(), coloraxis="coloraxis"),
                              row=1, col=i)
            else:   # sampled designs: one point per cell
                fig.add_trace(go.Scatter(x=part[x_name], y=part[y_name], mode="markers",
                                         marker=dict(color=part["active"], coloraxis="coloraxis", size=9)),
                              row=1, col=i)
            fig.update_xaxes(title_text=x_name, row=1, col=i)
        fig.update_yaxes(title_text=y_name, row=1, col=1)
        fig.update_layout(coloraxis=dict(colorscale="Reds", cmin=0, cmax=1,
                                         colorbar=dict(title="share escalating<br>or cycling")), height=400)
        return Panel("factors", f"{caption_tail} over {x_name} and {y_name}", (
            f"{caption_tail} in each design cell, over the two factors {x_name} (across) and {y_name} (up), one "
            "panel per pairing. Red: the cycle takes hold."), fig)
    if len(numeric) == 1:
        name = numeric[0]
        fig = make_subplots(rows=1, cols=2, subplot_titles=["share escalating or cycling", "mean cycle intensity"])
        for pairing in pairings:
            part = cells[cells.pairing == pairing].sort_values(name)
            fig.add_trace(go.Scatter(x=part[name], y=part["active"], name=pairing, legendgroup=pairing,
                                     mode="lines+markers"), row=1, col=1)
            fig.add_trace(go.Scatter(x=part[name], y=part["intensity_mean_mean"], name=pairing,
                                     legendgroup=pairing, showlegend=False, mode="lines+markers",
                                     error_y=dict(type="data", symmetric=False,
                                                  array=part["intensity_mean_ci_high"] - part["intensity_mean_mean"],
                                                  arrayminus=part["intensity_mean_mean"]
                                                  - part["intensity_mean_ci_low"])),
                          row=1, col=2)
        fig.update_xaxes(title_text=name)
        fig.update_layout(height=400)
        return Panel("factors", f"Escalation and intensity against {name}", (
            f"Left: share of couples whose cycle escalated or kept cycling at each level of {name}; right: mean "
            "cycle intensity with 95% confidence intervals. One line per pairing."), fig)
    fig = go.Figure(go.Bar(x=pairings, y=[cells.loc[cells.pairing == p, "active"].mean() for p in pairings]))
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
    pursuer = anxious_role(str(cell["pairing"])) if "-" in str(cell["pairing"]) else "a"
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
            go.Scatter(x=days[upto], y=pursuit[upto], name=f"partner {pursuer} pursues", line=dict(color="#c0392b")),
            go.Scatter(x=days[upto], y=withdrawal[upto], name=f"partner {other} withdraws",
                       line=dict(color="#2471a3")),
            go.Scatter(x=days[upto], y=distress[pursuer][upto], name=f"partner {pursuer} distress",
                       line=dict(color="#c0392b", dash="dot", width=1)),
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
    return Panel("animation", "One couple's cycle, day by day", (
        f"A single couple from the cell in the cycle ({_cell_label(results, cell)}). Press Play, or drag the slider. "
        f"Watch partner {pursuer}'s distress and pursuit rise {_onset_words(results, days, intensity)}, "
        f"partner {other} answer with withdrawal, and each push the other further: on the right the purple dot "
        "climbs towards the corner where pursuit meets withdrawal and the cycle feeds itself"
        f"{_return_words(results, days, intensity)}."), fig)


def _return_words(results: Results, days: np.ndarray, intensity: np.ndarray) -> str:
    """Whether this couple's flare-ups ended, from its own daily series (the tracker's flare-up rule)."""
    if not _daily(days):
        return ""
    complete = [e for e in flare_episodes(weekly_intensity(intensity), float(results.held("high_intensity")),
                                          float(results.held("quiet_intensity"))) if e[1] is not None]
    if not complete:
        return ""
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
    pursuer = anxious_role(pairing) if "-" in pairing else "a"
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


def _onset_words(results: Results, days: np.ndarray, intensity: np.ndarray) -> str:
    """When this couple's cycle took hold, from its own series: before, at or after the spec's conflict day."""
    high = float(results.held("high_intensity"))
    above = np.flatnonzero(intensity >= high)
    if not len(above):
        return "and fall back"
    onset = int(days[above[0]])
    day, everyday = conflict_day(results), _everyday_conflicts(results)
    trigger = f"at one of the couple's everyday conflicts ({everyday})" if everyday else "from the first weeks"
    if day is None:
        return f"until the cycle takes hold on day {onset}" + (f", {trigger}" if everyday else "")
    if onset < day:
        return f"{trigger}: the cycle takes hold on day {onset}, before the scheduled conflict on day {day}"
    if onset == day:
        return f"at the scheduled conflict on day {day}"
    return f"after the conflict on day {day} (the cycle takes hold on day {onset})"


BUILDERS = (escalation_heatmaps, intensity_heatmaps, anxiety_heatmaps, regime_map, trajectories, episode,
            phase_portrait, support_balance, other_factors, couple_animation)


def all_panels(results: Results) -> list[Panel]:
    """Every figure the results support, in reading order (discovery and interventions first, when there are any)."""
    return [panel for build in discovery.BUILDERS + interventions.BUILDERS + BUILDERS
            if (panel := build(results)) is not None]
