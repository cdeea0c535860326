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
# # A virtual study, and its power by simulation
#
# Jakubiak, Fuentes, Sun and Feeney (2023) asked 326 newlywed couples how
# much their partner supported their personal goals and how responsive the
# partner was, and measured each person's attachment anxiety again a year
# later. Goal support predicted *less* anxiety a year on, but only for people
# who also felt their partner was responsive: support is a balancing act.
#
# A **virtual study** runs that design on simulated couples: it draws a
# cohort, lets the couples live their year, *measures* them the way the real
# study did (questionnaire scores with measurement error, perceived support
# averaged over the two weeks before each wave), and fits the same model,
# here a mixed model with a random intercept per couple:
#
# `anxiety_t2 ~ anxiety_t1_c + perceived_goal_support_t1_c * perceived_responsiveness_t1_c`
#
# **Power by simulation** repeats the whole study many times at each cohort
# size: a fresh cohort, measured and analysed, each time. The power for a
# term is the share of those virtual studies in which its estimate is
# significant (p < .05). Unlike a power formula, it carries everything the
# model knows: partners nested in couples, measurement error, how skewed the
# support really is, couples whose lives go differently. It answers "if the
# world worked like this model, how often would a study of this size find the
# effect?".
#
# The spec is `experiments/support_balance_study.toml`, read here and made
# small (few virtual studies per size) so that it runs in seconds;
# `sim.virtual_study(path, samples=200, sizes=[...])` or
# `cycles study experiments/support_balance_study.toml --samples 200` runs it
# at full size.

# %%
import os
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

import sim

# The repository's root, whether this runs from there or from docs/examples/ in Jupyter.
ROOT = next(p for p in (Path.cwd(), *Path.cwd().parents) if (p / "experiments").is_dir())
OUT = Path(os.environ.get("CYCLES_EXAMPLES_OUT", ROOT / "results" / "examples")) / "03_virtual_study_power"
OUT.mkdir(parents=True, exist_ok=True)


def save(fig: go.Figure, name: str) -> Path:
    """Write a figure as a self-contained HTML page (plotly.js inlined) and as its JSON beside it."""
    fig.write_html(OUT / f"{name}.html", include_plotlyjs=True)
    fig.write_json(OUT / f"{name}.json")
    return OUT / f"{name}.html"


# %% [markdown]
# ## The spec
#
# A spec given as a dict is validated exactly as the file is. We keep the
# published design (its cohort size, waves a year apart, two-week windows)
# and rename it, so that its results folder is its own.

# %%
spec = tomllib.loads((ROOT / "experiments" / "support_balance_study.toml").read_text())
spec["name"] = "examples_support_balance_study"
print({key: spec[key] for key in ("name", "seed", "population")})
print("study:", spec["study"])

SAMPLES = 30                # virtual studies per cohort size (a real power analysis uses hundreds)
SIZES = [100, spec["study"]["couples"], 800]
study = sim.virtual_study(spec, OUT / spec["name"], samples=SAMPLES, sizes=SIZES, workers=1, log=print)
print(f"done in {study.seconds:.1f} s; results and report in {study.folder}")

# %% [markdown]
# ## One cohort, measured like a real one
#
# `study.dataset` has one row per person: what the questionnaires said
# (`anxiety_t1`, `perceived_goal_support_t1`, ...) beside the true values
# the measurements were taken from (`..._true`). The correlations show how
# much the measurement error blurs them.

# %%
data = study.dataset
persons, couples = len(data), data["couple_id"].nunique()
print(f"{persons} persons in {couples} couples")
for name in ("anxiety_t1", "anxiety_t2", "perceived_responsiveness_t1", "perceived_goal_support_t1"):
    print(f"{name}: measured against true r = {data[name].corr(data[f'{name}_true']):.2f}")

# %% [markdown]
# ## The fitted model
#
# `study.fits[0]` is the study's main formula fitted to this cohort: every
# term's estimate, standard error, 95% CI and p-value, and the simple slopes
# of goal support at low, mean and high responsiveness (the test of "only
# when responsiveness is high"). One cohort is one draw: its p-values are what
# one real study of this size might have seen.

# %%
main = study.fits[0]
print(main["formula"], f"({main['method']}, {main['n_persons']} persons, {main['n_couples']} couples)")
terms = pd.DataFrame(main["terms"]).T[["estimate", "se", "ci_low", "ci_high", "p"]]
print(terms.round(4).to_string())
slopes = pd.DataFrame(main["simple_slopes"]).set_index("moderator_level")[["slope", "se", "ci_low", "ci_high", "p"]]
print("simple slopes of perceived goal support, by perceived responsiveness:")
print(slopes.round(4).to_string())

# %% [markdown]
# ## The power curve
#
# `study.power` has one row per cohort size and term: the power, and the mean
# and spread of the estimates over the virtual studies. A power estimated
# from S studies has a Monte Carlo standard error of sqrt(p(1 - p) / S); the
# error bars are twice that. The dotted line is the conventional target.
# (The intercept and the stability of anxiety, `anxiety_t1_c`, are left out:
# both are found by any study.)

# %%
TARGET = 0.8
power = study.power
# Predictors are centred, so the slope at mean responsiveness is goal support's own term: shown once.
at_mean = power[power["term"] == "simple slope of goal support at mean responsiveness"]
own = power[power["term"] == "perceived_goal_support_t1_c"]
assert np.allclose(at_mean["power"], own["power"]) and np.allclose(at_mean["estimate_mean"], own["estimate_mean"])
always = power["term"].isin(["Intercept", "anxiety_t1_c"])
assert (power.loc[always, "power"] >= TARGET).all(), power[always]
shown = power[~always & ~power["term"].isin(at_mean["term"])].copy()
shown["mc_error"] = 2 * np.sqrt(shown["power"] * (1 - shown["power"]) / shown["samples"])
fig = px.line(shown, x="n", y="power", color="term", markers=True, error_y="mc_error",
              labels={"n": "couples in the study", "power": f"power (share of {SAMPLES} virtual studies with p < .05)"},
              title=f"{spec['name']}: power by simulation, {SAMPLES} virtual studies per size "
                    f"({power['method'].iloc[0]})")
fig.add_hline(y=TARGET, line_dash="dot", line_color="grey")
fig.add_vline(x=spec["study"]["couples"], line_dash="dash", line_color="grey",
              annotation_text=f"the published study: {spec['study']['couples']} couples")
fig.update_layout(template="plotly_white", yaxis_range=[0, 1.05], yaxis_tickformat=".0%", height=550,
                  legend={"orientation": "h", "y": -0.25})
print("figure:", save(fig, "power_curve"))
fig

# %%
at = shown.pivot(index="term", columns="n", values="power")
print(at.round(2).to_string())
for term, row in at.iterrows():
    enough = [n for n, share in row.items() if share >= TARGET]
    print(f"{term}: " + (f"{TARGET:.0%} power from {enough[0]} couples" if enough
                         else f"below {TARGET:.0%} power up to {max(SIZES)} couples ({row.iloc[-1]:.0%})"))

# %% [markdown]
# Read the curve as a statement about the model, not about the world: if
# couples lived by these equations, this is how often a study of each size
# would find each effect. Responsiveness's main effect is found at any size.
# The balance of support shows in the two simple slopes: goal support's slope
# at high responsiveness gains power as the cohort grows, while at low
# responsiveness it stays near 5%, the rate at which a test finds an effect
# that is not there. The interaction term, the usual test of "only when",
# needs far more couples than a main effect. The checks below hold this
# paragraph to the numbers (with a margin of two Monte Carlo errors).

# %%
largest, smallest = max(SIZES), min(SIZES)
margin = 2 * np.sqrt(0.25 / SAMPLES)          # two Monte Carlo SEs at the widest (power 0.5)
high, low = (f"simple slope of goal support at {level} SD responsiveness" for level in ("+1", "-1"))
interaction = "perceived_goal_support_t1_c:perceived_responsiveness_t1_c"
assert (at.loc["perceived_responsiveness_t1_c"] >= TARGET).all(), at
assert at.loc[high, largest] > max(at.loc[low, largest], at.loc[high, smallest]) + margin, at
assert at.loc[low].max() < 0.05 + margin, at.loc[low]
assert at.loc[interaction, largest] < TARGET, at.loc[interaction]

# %% [markdown]
# `study.report` is an HTML page with the cohort, the fitted models and the
# power curve; `formulas=[...]` fits further models beside the main one.

# %%
print("report:", study.report)

# %% [markdown]
# **Next**: `04_fitting_a_diary.py` goes the other way: from a couple's daily
# diary back to its parameters.
