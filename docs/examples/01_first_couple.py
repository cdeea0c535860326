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
# # A first couple and its cycle
#
# Two people who love each other each carry a way of handling closeness. The
# **anxious** partner fears being left: when the relationship feels distant,
# their distress rises and they *pursue* (more talk, protest, blame, asking
# again and again for reassurance). The **avoidant** partner is uneasy
# depending on anyone: when they feel pressed, their distress rises and they
# *withdraw* (they go quiet, leave the room, shut down).
#
# Each move is the other's trigger. Pursuit reads as pressure, so the avoidant
# partner withdraws further; withdrawal reads as "I'm not there for you", so
# the anxious partner pursues harder. That positive feedback loop is the
# **pursue-withdraw cycle**. On a good day it lies latent; a conflict switches
# it on. What can stop it is support: a partner who answers a bid for comfort
# (*responsiveness*) brings the other's distress down.
#
# This notebook simulates one anxious-avoidant couple day by day, looks at
# the cycle, reads how the model classifies the couple, and compares it with
# a secure couple and with a more responsive anxious-avoidant couple. It uses
# only the public API (`import sim`); every call has a `cycles` command that
# does the same.
#
# It runs top to bottom as a notebook (Jupytext opens this file as one) or as
# `python docs/examples/01_first_couple.py` from the repository's root. Its
# figures go to `results/examples/01_first_couple/` (or to the folder in the
# environment variable `CYCLES_EXAMPLES_OUT`).

# %%
import os
from pathlib import Path

import plotly.graph_objects as go
from plotly.subplots import make_subplots

import sim

# The repository's root, whether this runs from there or from docs/examples/ in Jupyter.
ROOT = next(p for p in (Path.cwd(), *Path.cwd().parents) if (p / "experiments").is_dir())
OUT = Path(os.environ.get("CYCLES_EXAMPLES_OUT", ROOT / "results" / "examples")) / "01_first_couple"
OUT.mkdir(parents=True, exist_ok=True)


def save(fig: go.Figure, name: str) -> Path:
    """Write a figure as a self-contained HTML page (plotly.js inlined) and as its JSON beside it."""
    fig.write_html(OUT / f"{name}.html", include_plotlyjs=True)
    fig.write_json(OUT / f"{name}.json")
    return OUT / f"{name}.html"


# %% [markdown]
# ## One couple, one year
#
# `sim.simulate` runs couples day by day. A pairing names partner `a` first:
# in `"anxious-avoidant"` partner a is anxious and partner b avoidant. We
# schedule one conflict (a *shock* to both partners' distress) on a chosen
# day and, to see what that one conflict does, first switch off the other
# conflicts that break out at random (`conflict_rate = 0`). Then the same
# couple again, with those everyday conflicts left on.

# %%
PAIRING = "anxious-avoidant"
DAYS = 365
SEED = 2
CONFLICT_DAY = 60

one_conflict = sim.simulate(PAIRING, days=DAYS, seed=SEED, overrides={"shock_day": CONFLICT_DAY, "conflict_rate": 0})
everyday = sim.simulate(PAIRING, days=DAYS, seed=SEED, overrides={"shock_day": CONFLICT_DAY})
print(one_conflict)
print(everyday)

declared = sim.parameters().set_index("name")
conflict_rate = declared.loc["conflict_rate", "default"]
print(f"Everyday conflicts: one breaks out on any day with chance {conflict_rate}, about one every "
      f"{1 / conflict_rate:.0f} days.")

# %% [markdown]
# `run.daily` is a tidy table, one row per partner per day, with every state
# variable: pursuit, withdrawal and distress among them (all on a 0-1 scale),
# and the couple's `cycle_intensity`, one partner's pursuit times the other's
# withdrawal.

# %%
daily = one_conflict.daily
print(daily[["day", "role", "style", "pursuit", "withdrawal", "distress", "cycle_intensity"]]
      .query(f"{CONFLICT_DAY - 2} <= day <= {CONFLICT_DAY + 2}").round(3).to_string(index=False))
before = daily.query(f"day < {CONFLICT_DAY}")["cycle_intensity"].max()
on_the_day = daily.query(f"day == {CONFLICT_DAY}")["cycle_intensity"].iloc[0]
print(f"cycle intensity: at most {before:.3f} before the conflict, {on_the_day:.2f} on its day")

# %% [markdown]
# ## The cycle, drawn
#
# Pursuit, withdrawal and distress of both partners over the year, the
# scheduled conflict marked by the dashed line. On the left the latent loop
# is switched on by the one conflict: the anxious partner's pursuit and the
# avoidant partner's withdrawal rise together, and then the flare-up burns
# out. On the right the everyday conflicts switch it on again and again.

# %%
runs = {"one conflict": one_conflict, "everyday conflicts as well": everyday}
style = daily.drop_duplicates("role").set_index("role")["style"]
colour = {"a": "#d62728", "b": "#1f77b4"}
variables = ("pursuit", "withdrawal", "distress")
fig = make_subplots(rows=len(variables), cols=len(runs), shared_xaxes=True, shared_yaxes=True,
                    vertical_spacing=0.04, horizontal_spacing=0.03,
                    column_titles=[f"{name}: {run.outcomes['classification'].iloc[0]}" for name, run in runs.items()])
for col, run in enumerate(runs.values(), start=1):
    for row, variable in enumerate(variables, start=1):
        for role, partner in run.daily.groupby("role"):
            fig.add_trace(go.Scatter(x=partner["day"], y=partner[variable], mode="lines",
                                     name=f"partner {role} ({style[role]})", legendgroup=role,
                                     showlegend=row == 1 and col == 1,
                                     line={"color": colour[role], "width": 1.2}), row=row, col=col)
        fig.update_yaxes(range=[0, 1], row=row, col=col)
        if col == 1:
            fig.update_yaxes(title_text=variable, row=row, col=col)
    fig.update_xaxes(title_text="day", row=len(variables), col=col)
fig.add_vline(x=CONFLICT_DAY, line_dash="dash", line_color="grey", row="all", col="all")
fig.update_layout(title=f"One {PAIRING} couple over {DAYS} days (seed {SEED}), a conflict on day {CONFLICT_DAY} "
                        "(dashed)", height=700, template="plotly_white")
print("figure:", save(fig, "cycle_one_couple"))
fig

# %% [markdown]
# ## Each move feeds the other's
#
# If pursuit provokes withdrawal and withdrawal provokes pursuit, then the
# anxious partner's pursuit today goes with the avoidant partner's withdrawal
# *tomorrow*, and the avoidant partner's withdrawal today with the anxious
# partner's pursuit tomorrow: both correlations positive. (The model's own
# test of this pattern, P3 in `tests/test_patterns.py`, uses lagged
# regressions over many couples; the correlations here are a first look.)

# %%
by_day = everyday.daily.pivot(index="day", columns="role", values=["pursuit", "withdrawal"])
pursuit_then_withdrawal = by_day[("pursuit", "a")].corr(by_day[("withdrawal", "b")].shift(-1))
withdrawal_then_pursuit = by_day[("withdrawal", "b")].corr(by_day[("pursuit", "a")].shift(-1))
print(f"a's pursuit today and b's withdrawal tomorrow: r = {pursuit_then_withdrawal:.2f}")
print(f"b's withdrawal today and a's pursuit tomorrow: r = {withdrawal_then_pursuit:.2f}")

# %% [markdown]
# ## How the model classifies the couple
#
# `run.outcomes` has one row per couple: the outcome metrics and a
# classification, read from the couple's cycle intensity over the run:
#
# - **escalating**: stuck high at the end without a calm day, or rising over
#   the run;
# - **cycling**: it flares and calms again and again, and still does in the
#   second half of the run;
# - **settling**: it got going at times but does not keep flaring;
# - **secure-stable**: it never reached even a low intensity;
# - **dissolved**: the couple split up (only if `dissolution` is switched on).
#
# The thresholds are declared parameters (`sim.parameters()`, group
# classification), so they can be changed like any other.

# %%
for name, run in runs.items():
    print(name)
    print(run.outcomes[["couple_id", "pairing", "classification", "intensity_mean", "intensity_peak", "flare_ups",
                        "calmed_flare_ups"]].round(3).to_string(index=False))

# %% [markdown]
# ## Not every anxious-avoidant couple is the same
#
# A pairing's couples are different people around the styles' centres: each
# couple draws its own traits and support. A few dozen of them (`COUPLES`),
# same seed, show how often the cycle takes which course; then the same
# couples with both partners more responsive, and as many secure couples,
# each with the same conflict on the same day.

# %%
COUPLES = 30
RESPONSIVE = 0.8
variants = {
    PAIRING: sim.simulate(PAIRING, n_couples=COUPLES, days=DAYS, seed=SEED,
                          overrides={"shock_day": CONFLICT_DAY}),
    f"{PAIRING}, responsiveness {RESPONSIVE}": sim.simulate(
        PAIRING, n_couples=COUPLES, days=DAYS, seed=SEED,
        overrides={"shock_day": CONFLICT_DAY, "responsiveness": RESPONSIVE}),
    "secure-secure": sim.simulate("secure-secure", n_couples=COUPLES, days=DAYS, seed=SEED,
                                  overrides={"shock_day": CONFLICT_DAY}),
}
given = variants[PAIRING].parameters
print(f"Without the change, responsiveness averages {given['a.responsiveness'].mean():.2f} for the anxious partners "
      f"and {given['b.responsiveness'].mean():.2f} for the avoidant ones; with it, {RESPONSIVE} for everyone.")
shares = {name: result.outcomes["classification"].value_counts(normalize=True) for name, result in variants.items()}
intensity = {name: result.outcomes["intensity_mean"].mean() for name, result in variants.items()}
for name in variants:
    print(f"{name}: mean cycle intensity {intensity[name]:.3f}; "
          + ", ".join(f"{kind} {share:.0%}" for kind, share in shares[name].items()))

# %% [markdown]
# The secure couples' cycle barely starts: secure partners neither pursue
# nor withdraw much, and they answer each other's bids. Raising both
# anxious-avoidant partners' responsiveness gives the anxious partner a safe
# haven and calms the loop, though the traits are unchanged. The check below
# makes sure the numbers say what this paragraph says.

# %%
names = list(variants)
assert intensity[names[0]] > intensity[names[1]] > intensity[names[2]], intensity
assert pursuit_then_withdrawal > 0 and withdrawal_then_pursuit > 0

kinds = ["escalating", "cycling", "settling", "secure-stable", "dissolved"]
fig = go.Figure([go.Bar(name=kind, x=names, y=[shares[name].get(kind, 0.0) for name in names]) for kind in kinds
                 if any(kind in shares[name] for name in names)])
fig.update_layout(barmode="stack", template="plotly_white", yaxis_title="share of couples", yaxis_tickformat=".0%",
                  title=f"How {COUPLES} couples of each kind fare over {DAYS} days (seed {SEED}, a conflict on day "
                        f"{CONFLICT_DAY})", legend_title="classification")
print("figure:", save(fig, "classifications"))
fig

# %% [markdown]
# **Next**: `02_sweep_and_report.py` runs such comparisons as a designed
# experiment over many couples, with a report.
