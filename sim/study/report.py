"""The virtual study's report: same conventions as the sweep report (one offline HTML file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from sim.report.page import render_page, run_table
from sim.report.panel import Panel
from sim.storage import atomic_output
from sim.study.analysis import GOAL, INTERACTION, MAIN_FORMULA, RESPONSIVENESS, with_centred


def interaction_plot(data: pd.DataFrame, main: dict[str, Any]) -> Panel:
    """Predicted later anxiety against perceived goal support at low, mean and high responsiveness."""
    terms = {k: v["estimate"] for k, v in main["terms"].items()}
    centred = with_centred(data)
    sd_g = centred[GOAL].std()
    mean_g = data["perceived_goal_support_t1"].mean()
    g = np.linspace(-sd_g, sd_g, 21)
    fig = go.Figure()
    colours = {"-1 SD": "#c0392b", "mean": "#b7950b", "+1 SD": "#1e8449"}
    for slope in main["simple_slopes"]:
        r = slope["moderator_value"]
        y = terms["Intercept"] + terms[GOAL] * g + terms[RESPONSIVENESS] * r + terms[INTERACTION] * g * r
        label = (f"responsiveness {slope['moderator_level']}: slope {slope['slope']:+.2f} "
                 f"(95% CI {slope['ci_low']:+.2f} to {slope['ci_high']:+.2f}, p {slope['p']:.3f})")
        fig.add_trace(go.Scatter(x=g + mean_g, y=y, name=label, mode="lines",
                                 line=dict(color=colours[slope["moderator_level"]], width=3)))
    fig.update_layout(height=450, xaxis_title="perceived goal support at T1 (-1 SD to +1 SD)",
                      yaxis_title="predicted anxiety at T2 (ECR-R)",
                      legend=dict(orientation="h", y=-0.25), margin=dict(t=30, b=120))
    return Panel("interaction", "Goal support and later anxiety, by responsiveness", (
        "Predicted attachment anxiety a year later as perceived goal support rises, for people who perceive low "
        "(-1 SD), average and high (+1 SD) responsiveness from their partner, holding their earlier anxiety "
        "constant (the fitted mixed model). Falling lines mean goal support lowers later anxiety; the question "
        "of Jakubiak et al. (2023) is whether that happens only when responsiveness is high."), fig)


def coefficient_table(fits: list[dict[str, Any]]) -> Panel:
    """Every fitted model's coefficients with standard errors, 95% confidence intervals and p-values."""
    rows = []
    for fitted in fits:
        for i, (term, t) in enumerate(fitted["terms"].items()):
            rows.append([fitted["formula"] if i == 0 else "", term,
                         f"{t['estimate']:+.3f}", f"{t['se']:.3f}", f"[{t['ci_low']:+.3f}, {t['ci_high']:+.3f}]",
                         f"{t['p']:.4f}"])
    columns = list(zip(*rows, strict=True)) if rows else [[]] * 6
    fig = go.Figure(go.Table(
        header=dict(values=["formula", "term", "estimate", "SE", "95% CI", "p"], align="left",
                    fill_color="#d6eaf8"),
        cells=dict(values=[list(c) for c in columns], align="left"), columnwidth=[3.2, 3, 1, 0.8, 1.6, 0.8]))
    fig.update_layout(height=110 + 28 * len(rows), margin=dict(t=10, b=10, l=10, r=10))
    method = fits[0]["method"]
    return Panel("coefficients", "Coefficients", (
        f"Every fitted model ({method}; persons nested in couples, predictors ending in _c centred on their "
        "mean). The goal support x responsiveness term is the one the study is about: negative means goal "
        "support lowers later anxiety more when responsiveness is high."), fig)


def power_curve(summary: pd.DataFrame) -> Panel:
    """Power of each term of the main model against the number of couples studied, by simulation."""
    main = summary[summary.formula == MAIN_FORMULA]
    fig = go.Figure()
    for term, part in main.groupby("term", sort=False):
        part = part.sort_values("n")
        fig.add_trace(go.Scatter(x=part["n"], y=part["power"], name=term, mode="lines+markers"))
    fig.add_hline(y=0.8, line=dict(dash="dot", color="grey"), annotation_text="80% power")
    fig.update_layout(height=450, xaxis_title="couples in the study", yaxis=dict(title="power (p < .05)",
                      range=[0, 1.02]), legend=dict(orientation="h", y=-0.3), margin=dict(t=30, b=150))
    samples = int(main["samples"].max())
    methods = "; ".join(sorted(set(main["method"])))
    return Panel("power", "Power by simulation", (
        f"The share of {samples} independent virtual cohorts in which each term reached p < .05 ({methods}), by "
        "the number of couples studied. Where a line crosses the dotted line, a study of that size would detect the "
        "effect four times in five."), fig)


def perception_scatter(data: pd.DataFrame) -> Panel:
    """Each person's perceived responsiveness and goal support at T1 against what their partner gives."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=["responsiveness", "goal support"], shared_yaxes=True)
    for col, (given, perceived) in enumerate((("responsiveness_received", "perceived_responsiveness_t1"),
                                              ("goal_support_received", "perceived_goal_support_t1")), start=1):
        fig.add_trace(go.Scatter(x=data[given], y=data[perceived], mode="markers", showlegend=False,
                                 marker=dict(size=5, color=data["anxiety_t1"], colorscale="Plasma",
                                             showscale=col == 2, colorbar=dict(title="anxiety T1")),
                                 hovertemplate="given %{x:.2f}<br>perceived %{y:.2f}<extra></extra>"), row=1, col=col)
        fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color="grey"),
                                 showlegend=False, hoverinfo="skip"), row=1, col=col)
        fig.update_xaxes(title_text="support the partner actually gives", range=[0, 1], row=1, col=col)
    fig.update_yaxes(title_text="support perceived at T1 (measured)", range=[0, 1], row=1, col=1)
    fig.update_layout(height=430, margin=dict(t=40))
    return Panel("perception", "Perceived against actual support", (
        "Each dot is a person: across, the support their partner actually gives in the model; up, what they "
        "report perceiving at T1 (with measurement error). Perceived responsiveness falls short of what is "
        "given (below the dotted line), because a withdrawn partner is less available than their "
        "responsiveness alone would promise; and the more anxious (brighter dots) notice less of both kinds "
        "of support."), fig)


def _intro(manifest: dict[str, Any], data: pd.DataFrame, fits: list[dict[str, Any]], summary) -> str:
    study = manifest["spec_resolved"]["spec"]["study"]
    main = fits[0]
    interaction = main["terms"][INTERACTION]
    rows = [
        ("cohort", f"{study['couples']} couples ({len(data)} persons), drawn population"
                   if manifest["spec_resolved"]["spec"]["population"].get("drawn") else f"{study['couples']} couples"),
        ("waves", f"T1 after {study['acclimation_days']} days together, T2 {study['wave_gap_days']} days later; "
                  f"perceived support averaged over the {study['window_days']} days before each wave"),
        ("analysis", f"{main['formula']} ({main['method']})"),
        ("the interaction", f"{interaction['estimate']:+.3f} (SE {interaction['se']:.3f}, "
                            f"p {interaction['p']:.4f}) in this cohort"),
        ("seed", f"{manifest['root_seed']} ({manifest['seed_rule']})"),
        ("run", f"{manifest['started']}, {manifest['seconds']:.1f} s; commit {manifest.get('git_commit')}"),
    ]
    if summary is not None:
        main_rows = summary[(summary.formula == MAIN_FORMULA) & (summary.term == INTERACTION)]
        rows.append(("power", "; ".join(f"N = {r.n}: {r.power:.2f} (mean estimate {r.estimate_mean:+.3f})"
                                        for r in main_rows.itertuples())))
    return run_table(rows)


def write_report(out: Path, data: pd.DataFrame, fits: list[dict[str, Any]], summary, manifest) -> Path:
    """Write report.html for a study into ``out``."""
    panels = [interaction_plot(data, fits[0]), coefficient_table(fits)]
    if summary is not None:
        panels.append(power_curve(summary))
    panels.append(perception_scatter(data))
    path = out / "report.html"
    with atomic_output(path) as tmp:
        tmp.write_text(render_page(manifest["name"], manifest["purpose"], _intro(manifest, data, fits, summary),
                                   panels, intro_heading="The study"), encoding="utf-8")
    return path
