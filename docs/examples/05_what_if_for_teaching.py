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
# # A what-if for teaching
#
# Real life never shows the same couple twice. A simulation can: the same two
# people, the same stressful days, the same conflicts, once as they are and
# once with one change from a chosen day on. Everything before that day is
# identical, so whatever differs afterwards is the change's doing. That makes
# the model a good classroom tool for the question students always ask:
# *what would actually help?*
#
# This notebook takes an anxious-avoidant couple whose cycle runs high and
# replays its year with each of three changes from the same day:
#
# - the **check-in ritual**: the more avoidant partner checks in every
#   evening (answers instead of going quiet);
# - **self-soothing**: the more anxious partner learns, over some weeks, to
#   calm themselves and rely less on reassurance;
# - **only more responsiveness**: the check-in ritual's first half alone: the
#   avoidant partner's capacity to respond rises as much, but their urge to go
#   quiet stays as it was.
#
# **For the teacher.** A lesson of about twenty minutes: show the
# figure's "no change" line alone (click the other arms in its legend to hide
# them) and ask the class what each change will do, and why; then show the
# others one by one. Good questions to discuss: why does the check-in
# ritual work on the *withdrawing* partner when it is the anxious partner who
# is distressed? Why can a partner's capacity to respond be high while the
# support actually given stays low? (In the model, as in the research, a
# withdrawn or distressed partner gives less than they could.) Which of these
# would you try first with a real couple, and what would you measure? Be
# clear with students that the sizes of these changes are assumptions
# (each recipe says so in its `source`), so the model shows mechanisms, not
# clinical effect sizes.

# %%
import os
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

import sim

# The repository's root, whether this runs from there or from docs/examples/ in Jupyter.
ROOT = next(p for p in (Path.cwd(), *Path.cwd().parents) if (p / "experiments").is_dir())
OUT = Path(os.environ.get("CYCLES_EXAMPLES_OUT", ROOT / "results" / "examples")) / "05_what_if_for_teaching"
OUT.mkdir(parents=True, exist_ok=True)


def save(fig: go.Figure, name: str) -> Path:
    """Write a figure as a self-contained HTML page (plotly.js inlined) and as its JSON beside it."""
    fig.write_html(OUT / f"{name}.html", include_plotlyjs=True)
    fig.write_json(OUT / f"{name}.json")
    return OUT / f"{name}.html"


# %% [markdown]
# ## The recipes
#
# `sim.recipes()` lists the intervention recipes, each with its changes in
# the change syntax, what it does, why, and its source. Any change can also
# be written directly, e.g. `"b.responsiveness=0.9 from=120"`; `more-avoidant`
# and `more-anxious` name whichever partner of each couple is so.

# %%
recipes = sim.recipes().set_index("name")
for name, recipe in recipes.iterrows():
    print(f"{name}: {recipe['changes']}\n    source: {recipe['source']}")

# %% [markdown]
# ## A class of couples, and the one to follow
#
# A class of anxious-avoidant couples (`COUPLES` of them, `DAYS` days each).
# We follow the one whose cycle runs highest over the run (the choice is made
# in code, so it stays right if the model changes).

# %%
PAIRING = "anxious-avoidant"
COUPLES = 30
DAYS = 365
SEED = 5
START = 120

baseline = sim.simulate(PAIRING, n_couples=COUPLES, days=DAYS, seed=SEED)
print(baseline)
chosen = baseline.outcomes.sort_values("intensity_mean", ascending=False).iloc[0]
couple = baseline.parameters[baseline.parameters["couple_id"] == chosen["couple_id"]]
print(f"following couple {chosen['couple_id']}: {chosen['classification']}, mean cycle intensity "
      f"{chosen['intensity_mean']:.3f}, {chosen['flare_ups']} flare-up(s)")

# %% [markdown]
# ## The same couple, four times
#
# `run.parameters` holds each couple's parameters; given back to
# `sim.simulate` with the same seed, a row runs that couple again, day for
# day. Each arm adds one change from day `START`; the last takes the check-in
# ritual's change of responsiveness and leaves out the rest of the recipe.

# %%
ritual = recipes.loc["checkin-ritual", "changes"].split("; ")
responsiveness_only = next(change for change in ritual if ".responsiveness" in change)
print(f"check-in ritual: {ritual}; only more responsiveness: {responsiveness_only!r}")
arms = {
    "no change": None,
    "check-in ritual": f"checkin-ritual from={START}",
    "self-soothing": f"self-soothing from={START}",
    "only more responsiveness": f"{responsiveness_only} from={START}",
}
one = {arm: sim.simulate(couple, days=DAYS, seed=SEED, interventions=change) for arm, change in arms.items()}
everyone = {arm: sim.simulate(baseline.parameters, days=DAYS, seed=SEED, interventions=change)
            for arm, change in arms.items()}


def intensity(run: sim.Simulation) -> pd.Series:
    """The couples' mean cycle intensity per day (one row per couple and day: partner a's rows)."""
    return run.daily[run.daily["role"] == "a"].groupby("day")["cycle_intensity"].mean()


# Before START every arm is the same couple living the same days.
for arm, run in one.items():
    assert intensity(run).loc[: START - 1].equals(intensity(one["no change"]).loc[: START - 1]), arm

# %% [markdown]
# ## The cycle calming
#
# The cycle's intensity (one partner's pursuit times the other's withdrawal),
# as a weekly mean: on top for the couple we follow, below averaged over all
# the couples. The dashed line is the day the change begins.

# %%
WEEK = 7
colours = dict(zip(arms, ("#7f7f7f", "#2ca02c", "#1f77b4", "#ff7f0e"), strict=True))
fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, subplot_titles=[
    f"couple {chosen['couple_id']} ({chosen['classification']} without a change)",
    f"all {COUPLES} {PAIRING} couples, mean"])
for row, runs in enumerate((one, everyone), start=1):
    for arm, run in runs.items():
        weekly = intensity(run).rolling(WEEK, min_periods=1).mean()
        fig.add_trace(go.Scatter(x=weekly.index, y=weekly, mode="lines", name=arm, legendgroup=arm,
                                 showlegend=row == 1, line={"color": colours[arm], "width": 1.6}), row=row, col=1)
    fig.update_yaxes(title_text=f"cycle intensity ({WEEK}-day mean)", row=row, col=1)
fig.add_vline(x=START, line_dash="dash", line_color="grey", row="all", col=1)
fig.update_xaxes(title_text="day", row=2, col=1)
fig.update_layout(template="plotly_white", height=700,
                  title=f"The same {PAIRING} couples (seed {SEED}) with and without a change from day {START}")
print("figure:", save(fig, "what_if"))
fig

# %% [markdown]
# ## In numbers
#
# Mean cycle intensity from day `START` on, for the couple we follow and for
# the class, and how the class's couples end up classified in each arm.

# %%
for arm in arms:
    mine = intensity(one[arm]).loc[START:].mean()
    class_mean = intensity(everyone[arm]).loc[START:].mean()
    counts = ", ".join(f"{kind} {n}" for kind, n in everyone[arm].classifications().items())
    print(f"{arm:>25}: couple {mine:.3f}, class {class_mean:.3f}; {counts}")

# %% [markdown]
# The check-in ritual calms the cycle most, because it works on both halves
# of the loop at once: bids meet a response, and the avoidant partner's urge
# to go quiet is damped, so there is less distance to pursue. Raising only
# the capacity to respond does less: a partner caught in withdrawal gives
# little of what they could. The checks hold this paragraph to the numbers.

# %%
after = {arm: intensity(everyone[arm]).loc[START:].mean() for arm in arms}
assert after["check-in ritual"] == min(after.values()), after
assert after["only more responsiveness"] > after["check-in ritual"], after
assert intensity(one["check-in ritual"]).loc[START:].mean() < intensity(one["no change"]).loc[START:].mean()

# %% [markdown]
# ## For a class without Python
#
# `sim.demo` writes one standalone HTML page that animates a couple's cycle
# day by day (couple 0 of a pairing and seed), for a projector or for
# students' browsers, with no installation. `sim.classroom_app()`, as a
# notebook cell's last line, shows the interactive classroom app (sliders
# for traits and support; needs the app extra), and `cycles app` serves it
# in a browser.

# %%
page = sim.demo(PAIRING, days=DAYS, seed=SEED, out=OUT / "demo.html")
print(f"demo page: {page} ({page.stat().st_size / 1e6:.1f} MB)")
