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
# # A sweep and what its report shows
#
# One couple tells a story; a design tells you what the model says. A
# **sweep** runs every combination of some factors (here: how responsive both
# partners are, and how much they support each other's personal goals) for
# several pairings, each combination (a *cell*) with many couples, and
# summarises each cell: the share of couples that ended escalating, cycling,
# settling or secure-stable, and the mean, SD and 95% CI of every outcome.
#
# The two kinds of support answer two needs. **Responsiveness** is the safe
# haven: comfort when the partner reaches out. **Goal support** is the secure
# base: encouragement of one's own goals. The theory says goal support calms
# an anxious partner only on top of a safe haven; without one it can read as
# "go away". A sweep lets us look at both at once.
#
# The spec is a dict here with exactly the keys of an `experiments/*.toml`
# file, and it is validated the same way (`sim.sweep("experiments/quick.toml")`
# runs a file; `cycles sweep` does the same from the command line). This one is
# small so that it runs in seconds; a real sweep has hundreds of couples per
# cell (see `experiments/support_balance.toml`).

# %%
import os
from pathlib import Path

import plotly.express as px
import plotly.graph_objects as go
from statsmodels.stats.proportion import proportion_confint

import sim

# The repository's root, whether this runs from there or from docs/examples/ in Jupyter.
ROOT = next(p for p in (Path.cwd(), *Path.cwd().parents) if (p / "experiments").is_dir())
OUT = Path(os.environ.get("CYCLES_EXAMPLES_OUT", ROOT / "results" / "examples")) / "02_sweep_and_report"
OUT.mkdir(parents=True, exist_ok=True)


def save(fig: go.Figure, name: str) -> Path:
    """Write a figure as a self-contained HTML page (plotly.js inlined) and as its JSON beside it."""
    fig.write_html(OUT / f"{name}.html", include_plotlyjs=True)
    fig.write_json(OUT / f"{name}.json")
    return OUT / f"{name}.html"


# %% [markdown]
# ## The design
#
# Three pairings (partner a first), three levels of responsiveness (both
# partners), two of goal support; every combination is a cell (the log line
# says how many, and how long it should take). Each couple lives `days` days
# with everyday conflicts. `record` keeps weekly statistics per cell and the
# full daily series of one couple per cell, which is what the report draws.

# %%
spec = {
    "name": "examples_support_sweep",
    "purpose": "Do responsiveness and goal support calm the pursue-withdraw cycle, and in which pairings?",
    "days": 365,
    "replicates": 20,
    "seed": 11,
    "population": {"pairings": ["anxious-avoidant", "anxious-secure", "secure-avoidant"]},
    "factors": {"responsiveness": [0.2, 0.5, 0.8], "goal_support": [0.2, 0.8]},
    "record": {"sampled_couples": 1, "series_every": 7},
}
results = sim.sweep(spec, OUT / spec["name"], workers=1, log=print)
print(f"{len(results.runs)} couple-runs in {results.seconds:.1f} s ({results.executor}); factors "
      f"{results.factor_names}; results in {results.folder}")

# %% [markdown]
# A sweep is resumable and remembers what it ran: called again with the same
# spec and folder it finds the complete results and runs nothing, and
# `sim.load_sweep` opens the folder later (or from another notebook). A
# folder holding another spec's results is refused in one line: to try a
# changed spec, give it another `name` (the folder is named after it) or pass
# `force=True`.

# %%
again = sim.sweep(spec, OUT / spec["name"], workers=1)
print("already complete:", again.already_complete, "| seconds spent:", again.seconds)
print("manifest keys:", sorted(sim.load_sweep(results.folder).manifest)[:8], "...")

# %% [markdown]
# ## Reading the cells
#
# `results.runs` has one row per couple-run; `results.cells` one row per
# cell. The share columns of a cell are its runs' classifications counted:

# %%
runs, cells = results.runs, results.cells
factors = results.factor_names
counted = runs.groupby(factors)["classification"].value_counts(normalize=True).unstack(fill_value=0.0)
check = cells.set_index(factors)["share_cycling"]
assert (counted["cycling"].reindex(check.index) - check).abs().max() < 1e-12
print(cells[[*factors, "couples", "share_escalating", "share_cycling", "share_settling", "share_secure-stable",
             "intensity_mean_mean"]].round(3).to_string(index=False))

# %% [markdown]
# ## Where the cycle stays active
#
# In this model a couple whose cycle is still going at the end of the run is
# classified *escalating* (stuck high, or rising) or, far more often, *cycling*
# (flaring and calming again and again); the figure adds them up as "cycle
# still active", with a 95% interval for each share (Wilson's, for
# the cell's couples). One line per pairing; solid and dashed lines are the two
# levels of goal support.

# %%
escalating_runs, cycling_runs = ((runs["classification"] == kind).sum() for kind in ("escalating", "cycling"))
print(f"of {len(runs)} couple-runs: {escalating_runs} escalating, {cycling_runs} cycling")
assert cycling_runs > 2 * escalating_runs
active = cells[[*factors, "couples"]].copy()
active["share_active"] = cells["share_escalating"] + cells["share_cycling"]
low, high = proportion_confint((active["share_active"] * active["couples"]).round(), active["couples"],
                               method="wilson")
active["error_minus"], active["error_plus"] = active["share_active"] - low, high - active["share_active"]
active["goal_support"] = active["goal_support"].map(lambda level: f"goal support {level}")
fig = px.line(active, x="responsiveness", y="share_active", color="pairing", line_dash="goal_support",
              markers=True, error_y="error_plus", error_y_minus="error_minus",
              labels={"share_active": "cycle still active (share of couples)",
                      "responsiveness": "responsiveness (both partners)", "goal_support": ""},
              title=f"{spec['name']}: {int(cells['couples'].iloc[0])} couples per cell, {spec['days']} days, "
                    f"seed {spec['seed']}")
fig.update_layout(template="plotly_white", yaxis_tickformat=".0%", height=550,
                  legend_title_text="pairing, goal support (both partners)")
print("figure:", save(fig, "share_active"))
fig

# %% [markdown]
# What the numbers say, pairing by pairing (each sentence is computed from
# the cells, so it cannot disagree with the figure):

# %%
shares = active.set_index(["pairing", "goal_support", "responsiveness"])["share_active"]
least, most = min(spec["factors"]["responsiveness"]), max(spec["factors"]["responsiveness"])
for pairing in spec["population"]["pairings"]:
    for goal in active["goal_support"].unique():
        at_least, at_most = shares[(pairing, goal, least)], shares[(pairing, goal, most)]
        print(f"{pairing}, {goal}: cycle active in {at_least:.0%} of couples at responsiveness {least}, "
              f"{at_most:.0%} at {most}")
by_goal = shares["anxious-avoidant"].unstack("goal_support")
gap = (by_goal.iloc[:, 1] - by_goal.iloc[:, 0]).abs().max()
print(f"anxious-avoidant: the two levels of goal support differ by at most {gap:.0%} in any responsiveness level "
      f"({int(cells['couples'].iloc[0])} couples per cell)")
escalating = cells.groupby("pairing")["share_escalating"].max()
print("highest share escalating in any cell, per pairing:", escalating.round(3).to_dict())

# %% [markdown]
# Responsiveness is what calms the anxious-avoidant couples: the share with an
# active cycle falls steeply from the least to the most responsive cells.
# Goal support, at this cell size, moves it much less: whether it helps or
# hurts, and at which responsiveness, is a question for a bigger sweep (or for
# the virtual study of the next example). Pairings with one secure partner
# rarely keep a cycle going at all. The check below holds this paragraph to
# the numbers.

# %%
for goal in active["goal_support"].unique():
    fall = shares[("anxious-avoidant", goal, least)] - shares[("anxious-avoidant", goal, most)]
    assert fall > gap, (goal, fall, gap)
for pairing in ("anxious-secure", "secure-avoidant"):
    assert shares[pairing].max() < shares["anxious-avoidant"].min(), pairing

# %% [markdown]
# ## The report
#
# `sim.write_report` (or `cycles report FOLDER`) writes one self-contained
# HTML page into the results folder: the design, the classification shares
# per cell, the outcomes with their intervals, the weekly series and the
# sampled couples, each figure with its caption drawn from the data. It opens
# in any browser with no network. `png=True` also writes each figure as a PNG
# (that needs Chromium).

# %%
report = sim.write_report(results.folder)
print(f"report: {report.path} ({report.figures} figures, {report.bytes / 1e6:.1f} MB, {report.seconds:.1f} s)")

# %% [markdown]
# A sweep varies a few factors over levels you choose. To ask instead which
# of many parameters an outcome hangs on, `sim.sensitivity` (or `cycles
# sensitivity`) screens them with SALib's Morris or Sobol methods over their
# declared ranges; `experiments/sensitivity.toml` is such a spec.
#
# **Next**: `03_virtual_study_power.py` measures a simulated cohort the way a
# real study would, and asks how many couples such a study needs.
