# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Fitting a diary
#
# In a daily-diary study each partner answers a few questions every evening
# for a month: how tense or sad they felt, whether they pressed their partner
# for closeness, whether they withdrew, how responsive the partner was, how
# satisfied they are; and once, at intake, the ECR-R questionnaire of
# attachment anxiety and avoidance. **Fitting** the model to such a diary
# asks: which attachment traits and which levels of support, for each
# partner, would make the model produce this couple's month? The answer is a
# *posterior*: for every parameter, the values compatible with the diary and
# how sure we can be of them.
#
# The fit is simulation-based: the model simulates many diaries from
# parameters drawn from the prior, a neural network (BayesFlow, on JAX,
# CPU only) learns to map a diary's statistics back to the parameters, and
# that trained estimator then gives any couple's posterior in moments. Before
# it is trusted, it is checked on held-out simulated diaries whose truth is
# known (*calibration*: do the 90% intervals contain the truth 90% of the
# time?), and each couple's own diary is checked against what the model can
# produce.
#
# Here we first **simulate** a diary study, so that we know every couple's
# true parameters, and then fit it as if it were real. The spec is
# `experiments/diary_fit.toml`, made small so that the training takes
# seconds: fewer couples, a smaller training set, fewer epochs. **A real fit
# uses the full settings** (printed below): `sim.fit_diary("experiments/diary_fit.toml")`,
# or `cycles diary` then `cycles fit` with that file. To fit your own diary,
# point `[fit] data` at it (columns couple, person, day and the items).
#
# Needs the fit extra: `pip install -e ".[fit]"`.

# %%
import copy
import os
import tomllib
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

import sim

# The repository's root, whether this runs from there or from docs/examples/ in Jupyter.
ROOT = next(p for p in (Path.cwd(), *Path.cwd().parents) if (p / "experiments").is_dir())
OUT = Path(os.environ.get("CYCLES_EXAMPLES_OUT", ROOT / "results" / "examples")) / "04_fitting_a_diary"
OUT.mkdir(parents=True, exist_ok=True)


def save(fig: go.Figure, name: str) -> Path:
    """Write a figure as a self-contained HTML page (plotly.js inlined) and as its JSON beside it."""
    fig.write_html(OUT / f"{name}.html", include_plotlyjs=True)
    fig.write_json(OUT / f"{name}.json")
    return OUT / f"{name}.html"


# %% [markdown]
# ## The spec, full and small
#
# The items of the diary, their scales and measurement errors, and the free
# parameters (both partners' anxiety, avoidance, responsiveness and goal
# support) stay as the file has them. Only the sizes shrink.

# %%
full = tomllib.loads((ROOT / "experiments" / "diary_fit.toml").read_text())
spec = copy.deepcopy(full)
spec["name"] = "examples_diary_fit"
spec["diary"]["couples"] = 20
spec["fit"].update(simulations=10_000, epochs=10, held_out=64, posterior_draws=200,
                   what_if=["checkin-ritual"], what_if_days=60, what_if_draws=20)
for key in ("simulations", "epochs", "held_out", "posterior_draws", "what_if_days", "what_if_draws"):
    given = full["fit"].get(key)
    print(f"{key}: {spec['fit'][key]:,} here, {'the default' if given is None else f'{given:,}'} in the full spec")
print(f"couples: {spec['diary']['couples']} here, {full['diary']['couples']} in the full spec")
print("free parameters:", spec["fit"]["free"])
print("diary items:", list(spec["diary"]["items"]))

# %% [markdown]
# ## A simulated diary study
#
# `sim.simulate_diary` draws the couples (styles, traits and support from
# realistic distributions), lets them settle into their relationship, then
# records the diary: one row per person and day, with the missed entries a
# real study has. The true parameters are kept beside it.

# %%
diary = sim.simulate_diary(spec, OUT / f"{spec['name']}_diary")
print(f"{diary.couples} couples, {diary.rows:,} rows, {diary.entries_kept:.0%} of entries kept")
print(diary.diary.head(4).round(2).to_string(index=False))
print(diary.truth.head(4).round(2).to_string(index=False))

# %% [markdown]
# ## The fit
#
# `[fit] data` names the diary to fit; here the one just written. The call
# trains the estimator, computes every couple's posterior, calibrates on
# held-out simulations, checks each diary against the model and asks, per
# couple, what the check-in ritual would do over the coming weeks.

# %%
spec["fit"]["data"] = str(diary.folder / "diary.parquet")
fitted = sim.fit_diary(spec, OUT / spec["name"])
print(f"{fitted.couples} couples fitted in {fitted.seconds:.0f} s:",
      {stage: round(seconds, 1) for stage, seconds in fitted.timings.items()})
print("warnings:", fitted.warnings or "none")
print("identifiable:", fitted.identifiable)

# %% [markdown]
# ## Is the estimator honest?
#
# On the held-out simulated diaries: how often each parameter's 90% interval
# holds the truth (`coverage`, ideally near 0.9), and how much narrower the
# posterior is than the prior (`posterior_sd_share`: 1 means the diary says
# nothing about it). A parameter is called identifiable when both are good.

# %%
calibration = fitted.calibration
print(calibration[calibration["level"] == 0.9][["parameter", "coverage", "posterior_sd_share", "rmse",
                                                 "identifiable"]].round(2).to_string(index=False))

# %% [markdown]
# ## Posterior intervals against the truth
#
# Each point is one couple: its true value across, its posterior mean up,
# the bar its 90% interval. Points on the diagonal are recovered exactly;
# bars crossing the diagonal contain the truth.

# %%
summary = fitted.summary.copy()
summary["covered"] = summary["true"].between(summary["low_90"], summary["high_90"])
covered = summary["covered"].mean()
parameters = list(spec["fit"]["free"])
columns = 4
fig = make_subplots(rows=int(np.ceil(len(parameters) / columns)), cols=columns, subplot_titles=[
    f"{name} ({summary.loc[summary.parameter == name, 'covered'].mean():.0%} covered)" for name in parameters],
    horizontal_spacing=0.06, vertical_spacing=0.14)
for i, name in enumerate(parameters):
    rows = summary[summary["parameter"] == name]
    row, col = i // columns + 1, i % columns + 1
    low, high = rows["prior_low"].iloc[0], rows["prior_high"].iloc[0]
    fig.add_trace(go.Scatter(x=[low, high], y=[low, high], mode="lines", line={"color": "grey", "dash": "dot"},
                             showlegend=False, hoverinfo="skip"), row=row, col=col)
    fig.add_trace(go.Scatter(x=rows["true"], y=rows["mean"], mode="markers", name=name, showlegend=False,
                             marker={"color": np.where(rows["covered"], "#1f77b4", "#d62728")},
                             error_y={"type": "data", "symmetric": False, "array": rows["high_90"] - rows["mean"],
                                      "arrayminus": rows["mean"] - rows["low_90"], "thickness": 1},
                             customdata=rows["couple"], hovertemplate="couple %{customdata}<br>true %{x:.2f}"
                             "<br>posterior mean %{y:.2f}<extra></extra>"), row=row, col=col)
    fig.update_xaxes(range=[low, high], row=row, col=col, title_text="true" if row == 2 else None)
    fig.update_yaxes(range=[low, high], row=row, col=col, title_text="posterior" if col == 1 else None)
fig.update_layout(template="plotly_white", height=650,
                  title=f"{spec['name']}: {fitted.couples} couples, {spec['diary']['days']}-day diaries; 90% posterior "
                        f"intervals hold the truth for {covered:.0%} (red: missed)")
print("figure:", save(fig, "posterior_against_truth"))
fig

# %% [markdown]
# Anxiety and avoidance are pinned down best: the ECR-R at intake measures
# them directly, and the diary adds how the person behaves. Support levels are
# read only from the partner's day-to-day perceptions, so their intervals are
# wider. The full spec's larger training set narrows every interval further
# (its calibration is in `docs/performance.md`). The checks below hold this
# paragraph to the numbers: the intervals hold the truth about as often as
# they should, and every parameter is learned (its posterior narrower than
# its prior), the traits most.

# %%
share = calibration[calibration["level"] == 0.9].set_index("parameter")["posterior_sd_share"]
traits = [name for name in parameters if name.split(".")[1] in ("anxiety", "avoidance")]
support = [name for name in parameters if name not in traits]
print(f"posterior SD / prior SD: traits {share[traits].mean():.2f}, support {share[support].mean():.2f} on average")
# Of n intervals at 90%, the share holding the truth has a binomial SD of sqrt(0.9 * 0.1 / n): six SDs below
# 0.9 is a broken estimator, not chance. (Too wide is the safe failure of a small training set.)
intervals = len(summary)
assert covered >= 0.9 - 6 * np.sqrt(0.9 * 0.1 / intervals), (covered, intervals)
assert share[traits].mean() < share[support].mean() < 1.0, share
assert set(traits) <= set(fitted.identifiable), fitted.identifiable

# %% [markdown]
# ## What would help this couple?
#
# For each couple, the check-in ritual simulated from the day after the diary
# over the posterior draws: the predicted fall in cycle intensity, its 90%
# interval and the chance that it helps at all. Drawn couples are mostly
# calm (compare the median with the top of the ranking), so the fall matters
# most for the few whose cycle runs high.

# %%
what_if = fitted.what_if.sort_values("rank")
print(f"cycle intensity without the ritual: median {what_if['intensity_without'].median():.3f}, "
      f"highest {what_if['intensity_without'].max():.3f}")
print(what_if[["couple", "intervention", "intensity_without", "fall_mean", "fall_low_90", "fall_high_90",
               "probability_helps", "rank"]].head(5).round(3).to_string(index=False))
print("report:", fitted.report)

# %% [markdown]
# The trained estimator is saved in the results folder (`estimator/`):
# `sim.fit_diary(spec, estimator=folder)` fits further diaries of the same
# design in seconds, without training again.
#
# **Next**: `05_what_if_for_teaching.py`, a what-if for a class.
