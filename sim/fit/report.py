"""The fit's report: posteriors against priors, calibration, predictive checks and what-ifs (one offline page)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from sim.fit import CONTRACTION, COVERAGE_RANGE
from sim.report.page import render_page, run_table
from sim.report.panel import Panel
from sim.storage import atomic_output

PARAMETER_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
                     "#7f7f7f", "#bcbd22")


# Legend entries, each also its traces' legend group, so the legend names exactly what is drawn.
POSTERIOR, TRUE_VALUE = "posterior mean and 90% interval", "true value"


def _grid(count: int, columns: int = 4) -> tuple[int, int]:
    return (count + columns - 1) // columns, min(count, columns)


def posteriors(summary: pd.DataFrame) -> Panel:
    """Each couple's posterior mean and 90% interval per parameter, inside its prior (and the truth, if known)."""
    keys = list(dict.fromkeys(summary["parameter"]))
    rows, cols = _grid(len(keys))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=keys, vertical_spacing=0.12)
    known = "true" in summary and summary["true"].notna().any()
    for i, key in enumerate(keys):
        part = summary[summary.parameter == key].sort_values("mean")
        r, c = i // cols + 1, i % cols + 1
        x = np.arange(len(part))
        fig.add_trace(go.Scatter(x=x, y=part["mean"], mode="markers", marker=dict(size=4, color="#1f77b4"),
                                 error_y=dict(type="data", symmetric=False, array=part["high_90"] - part["mean"],
                                              arrayminus=part["mean"] - part["low_90"], width=0, thickness=1),
                                 name=POSTERIOR, legendgroup=POSTERIOR,
                                 showlegend=i == 0, customdata=part["couple"],
                                 hovertemplate="couple %{customdata}: %{y:.2f}<extra></extra>"), row=r, col=c)
        if known:
            fig.add_trace(go.Scatter(x=x, y=part["true"], mode="markers", name=TRUE_VALUE,
                                     marker=dict(size=5, color="#d62728", symbol="x"), legendgroup=TRUE_VALUE,
                                     showlegend=i == 0), row=r, col=c)
        low, high = part["prior_low"].iloc[0], part["prior_high"].iloc[0]
        fig.update_yaxes(range=[low, high], row=r, col=c)
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(height=260 * rows + 80, legend=dict(orientation="h", y=-0.08), margin=dict(t=40))
    couples = summary["couple"].nunique()
    truth = (" Red crosses are the true values the diary was simulated from (truth.parquet beside it): the closer "
             "they sit to the dots, and the more of them inside the bars, the better the recovery.") if known else ""
    return Panel("posteriors", "Each couple's posterior, inside its prior", (
        f"For each of {len(keys)} free parameters, the {couples} couples sorted by posterior mean, with their 90% "
        "credible intervals; each axis spans the parameter's prior, so a bar as long as the axis means the diary "
        f"says nothing about it, a short bar that it pins the parameter down.{truth}"), fig)


def coverage(checks: pd.DataFrame) -> Panel:
    """Empirical against nominal coverage of posterior intervals on held-out simulated diaries."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0.4, 1.0], y=[0.4, 1.0], mode="lines", line=dict(dash="dot", color="grey"),
                             name="perfect calibration", hoverinfo="skip"))
    for i, (key, part) in enumerate(checks.groupby("parameter", sort=False)):
        sd = part["posterior_sd_share"].iloc[0]
        fig.add_trace(go.Scatter(x=part["level"], y=part["coverage"], mode="lines+markers",
                                 line=dict(color=PARAMETER_COLOURS[i % len(PARAMETER_COLOURS)]),
                                 name=f"{key} (posterior SD {sd:.0%} of prior's"
                                      f"{'' if part['identifiable'].iloc[0] else '; not identifiable'})"))
    fig.update_layout(height=480, xaxis=dict(title="nominal coverage of the central interval", range=[0.4, 1.0]),
                      yaxis=dict(title="share of true values inside", range=[0.4, 1.0]),
                      legend=dict(orientation="v"), margin=dict(t=30))
    held = int(checks["held_out"].iloc[0])
    named = sorted(checks.loc[checks.identifiable, "parameter"].unique())
    others = sorted(set(checks["parameter"]) - set(named))
    verdict = (f"Identifiable from such a diary (90% coverage within {COVERAGE_RANGE[0]:.0%}-"
               f"{COVERAGE_RANGE[1]:.0%} and posterior SD at most {CONTRACTION:.0%} of the prior's): "
               f"{', '.join(named) or 'none'}.")
    if others:
        verdict += f" Not identifiable: {', '.join(others)}."
    return Panel("coverage", "Calibration on held-out diaries", (
        f"{held} diaries simulated from the prior and kept out of training, each fitted like the data: how often "
        "the true parameter lies inside the posterior's central interval at each nominal level. On the dotted "
        f"line the intervals mean what they say; below it they are too narrow (overconfident). {verdict}"), fig)


def predictive(cohort_checks: pd.DataFrame) -> Panel:
    """The cohort's observed statistics against what the fitted model predicts for the cohort."""
    frame = cohort_checks.reset_index(drop=True)
    fig = go.Figure()
    y = frame["statistic"]
    fig.add_trace(go.Scatter(x=frame["predicted_median"], y=y, mode="markers", name="predicted cohort mean "
                             "(median and 90% interval)", marker=dict(color="#1f77b4", size=7),
                             error_x=dict(type="data", symmetric=False,
                                          array=frame["predicted_q95"] - frame["predicted_median"],
                                          arrayminus=frame["predicted_median"] - frame["predicted_q05"])))
    fig.add_trace(go.Scatter(x=frame["observed_mean"], y=y, mode="markers", name="observed cohort mean",
                             marker=dict(color="#d62728", symbol="diamond", size=9)))
    fig.update_layout(height=max(420, 22 * len(frame) + 120), yaxis=dict(autorange="reversed", title=""),
                      xaxis_title="statistic (items on 0-1; correlations)", legend=dict(orientation="h", y=-0.06),
                      margin=dict(t=30, l=260))
    outside = frame[(frame.observed_mean < frame.predicted_q05) | (frame.observed_mean > frame.predicted_q95)]
    inside_share = frame["couples_inside_90"].mean()
    said = (f"{len(outside)} of {len(frame)} statistics fall outside the 90% interval"
            + (f" ({', '.join(outside['statistic'].head(4))}{'...' if len(outside) > 4 else ''})"
               if len(outside) else ""))
    return Panel("predictive", "Posterior predictive checks", (
        "Diaries simulated from each couple's posterior, summarised like the observed ones: the statistics diary "
        "researchers look at (means, within-person SDs, day-to-day autocorrelation, partners' same-day and "
        f"cross-lagged correlations, days in a flare-up). For the cohort's mean, {said}. Per couple, the observed "
        f"statistic lies inside its own 90% predictive interval {inside_share:.0%} of the time on average "
        "(about 90% if the model captures the couple)."), fig)


def what_if_figure(futures: pd.DataFrame) -> Panel:
    """Predicted fall in cycle intensity per couple and intervention, with 90% credible intervals."""
    recipes = list(dict.fromkeys(futures["intervention"]))
    fig = make_subplots(rows=1, cols=len(recipes), subplot_titles=recipes, shared_yaxes=True)
    for i, recipe in enumerate(recipes, start=1):
        part = futures[futures.intervention == recipe].sort_values("fall_mean", ascending=False)
        fig.add_trace(go.Scatter(x=np.arange(1, len(part) + 1), y=part["fall_mean"], mode="markers",
                                 marker=dict(color=PARAMETER_COLOURS[i - 1], size=5), name=recipe,
                                 customdata=np.stack([part["couple"], part["intensity_without"]], axis=1),
                                 hovertemplate="couple %{customdata[0]}: fall %{y:.3f} from "
                                               "%{customdata[1]:.3f}<extra></extra>",
                                 error_y=dict(type="data", symmetric=False,
                                              array=part["fall_high_90"] - part["fall_mean"],
                                              arrayminus=part["fall_mean"] - part["fall_low_90"], thickness=1,
                                              width=0)), row=1, col=i)
        fig.update_xaxes(title_text="couples, ranked", row=1, col=i)
    fig.add_hline(y=0, line=dict(color="grey", dash="dot"))
    fig.update_yaxes(title_text="predicted fall in mean cycle intensity", row=1, col=1)
    fig.update_layout(height=430, showlegend=False, margin=dict(t=40))
    first = futures.iloc[0]
    best = futures.sort_values("fall_mean", ascending=False).iloc[0]
    helped = futures.groupby("intervention")["probability_helps"].apply(lambda p: (p > 0.9).mean())
    return Panel("what-if", "What would help each couple", (
        f"Each couple run forward {int(first.horizon_days)} days from day {int(first.starts_on_day)} (the day after "
        f"the diary) with and without each intervention, for {int(first.draws)} draws of its posterior on the same "
        "random numbers: the predicted fall in mean cycle intensity, with 90% credible intervals, couples ranked. "
        f"The largest predicted fall is {best.fall_mean:.3f} (couple {best.couple}, {best.intervention}). Share of "
        "couples helped with posterior probability above 0.9: "
        + ", ".join(f"{k} {v:.0%}" for k, v in helped.items()) + ". The forecast is for a couple with these "
        "parameters, not from the state its diary ended in."), fig)


def _intro(manifest: dict[str, Any], cohort: pd.DataFrame, warnings: list[str]) -> str:
    spec = manifest["spec_resolved"]["spec"]
    meta = manifest["estimator_meta"]
    timings = manifest["timings"]
    rows = [("data", f"{manifest['data']}: {manifest['couples']} couples"),
            ("diary", f"{spec['diary']['days']} days after {spec['diary']['acclimation_days']} days together; items "
                      + ", ".join(f"{k} ({v['measures']}, {v['scale'][0]:g}-{v['scale'][1]:g}, {v['when']})"
                                  for k, v in spec["diary"]["items"].items())),
            ("free parameters", ", ".join(spec["fit"]["free"]) + "; uniform priors"),
            ("method", f"{meta['method']}; {meta['simulations']:,} simulated diaries, {meta['epochs']} epochs"),
            ("estimator", manifest["estimator"]),
            ("time", ", ".join(f"{k.replace('_seconds', '')} {v:.1f} s" for k, v in timings.items())),
            ("cohort", "; ".join(f"{r.parameter} {r.mean_of_means:.2f} (SD across couples {r.sd_of_means:.2f})"
                                 for r in cohort.itertuples())),
            ("warnings", warnings or ["none: every diary lies within what the model produces"]),
            ("run", f"{manifest['started']}, {manifest['seconds']:.1f} s; commit {manifest.get('git_commit')}")]
    return run_table(rows)


def write_report(out: Path, summary: pd.DataFrame, cohort: pd.DataFrame, checks: pd.DataFrame,
                 per_couple: pd.DataFrame, cohort_checks: pd.DataFrame, futures: pd.DataFrame | None,
                 warnings: list[str], manifest: dict[str, Any]) -> Path:
    """Write report.html for a fit into ``out``."""
    panels = [posteriors(summary), coverage(checks), predictive(cohort_checks)]
    if futures is not None:
        panels.append(what_if_figure(futures))
    path = out / "report.html"
    with atomic_output(path) as tmp:
        tmp.write_text(render_page(manifest["name"], manifest["purpose"], _intro(manifest, cohort, warnings), panels,
                                   intro_heading="The fit"), encoding="utf-8")
    return path
