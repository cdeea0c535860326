"""The classroom views of one couple, shared by the live app (sim.app) and ``cycles demo``.

Plain Plotly figures and text built from a CoupleModel's daily table, and the app's model
(:class:`ClassroomModel`, one couple set from the sliders); no Solara here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from sim.model import CoupleModel
from sim.schema import ROLE_COLOURS

ACTIVE = 0.3          # pursuit or withdrawal above this is described as pursuing or withdrawing
DESPAIRING = 0.3      # despair above this is described: the slow brake that ends a flare-up


def partner_names(styles) -> dict[str, str]:
    """Display names of partners a and b, with each one's attachment style when it has one."""
    return {role: f"{role.upper()} ({style})" if style else role.upper()
            for role, style in zip("ab", styles, strict=True)}


def distance(pursuit_a, withdrawal_a, pursuit_b, withdrawal_b):
    """How far apart the partners are drawn: withdrawal opens the gap, pursuit closes it."""
    return np.clip(1.2 + 1.6 * (withdrawal_a + withdrawal_b) - 0.9 * (pursuit_a + pursuit_b), 0.25, 4.0)


def live_regime(model) -> str:
    """The cycle's state right now, as the outcome tracker sees it (sim.outcomes.CycleTracker.regime_now)."""
    return str(model.tracker.regime_now(model.together)[0])


def couple_space_figure(model) -> go.Figure:
    """The couple today as two markers: their gap follows pursuit and withdrawal, their colour distress."""
    a, b = model.couples[0]
    names = partner_names((a.style, b.style))
    gap = float(distance(a.pursuit, a.withdrawal, b.pursuit, b.withdrawal))
    fig = go.Figure(go.Scatter(
        x=[-gap / 2, gap / 2], y=[0, 0], mode="markers+text", text=[names["a"], names["b"]],
        textposition="top center", hovertemplate="%{text}<extra></extra>",
        marker=dict(size=70, color=[a.distress, b.distress], cmin=0, cmax=1, colorscale="RdYlGn_r",
                    showscale=True, colorbar=dict(title="distress"), line=dict(width=2, color="#444"))))
    fig.add_annotation(x=0, y=-0.6, showarrow=False,
                       text=f"day {model.day}: pursuit A {a.pursuit:.2f}, B {b.pursuit:.2f}; "
                            f"withdrawal A {a.withdrawal:.2f}, B {b.withdrawal:.2f}")
    fig.update_layout(height=280, width=520, xaxis=dict(range=[-2.3, 2.3], visible=False),
                      yaxis=dict(range=[-1, 1], visible=False), margin=dict(t=30, b=10, l=10, r=10),
                      title=dict(text="Close when they pursue, apart when they withdraw", x=0.5))
    return fig


def behaviour_figure(table: pd.DataFrame, regime: str) -> go.Figure:
    """Both partners' daily pursuit and withdrawal, titled with the cycle's current state (``regime``)."""
    fig = go.Figure()
    for role in "ab":
        rows = table[table.role == role]
        for variable, dash in (("pursuit", "solid"), ("withdrawal", "dot")):
            fig.add_trace(go.Scatter(x=rows["day"], y=rows[variable], name=f"{role.upper()} {variable}",
                                     line=dict(color=ROLE_COLOURS[role], dash=dash)))
    day = int(table["day"].max()) if len(table) else 0
    fig.update_layout(height=340, width=520,
                      title=dict(text=f"Pursuit and withdrawal: day {day}<br>the cycle is {regime}", x=0.5),
                      xaxis_title="day", yaxis=dict(range=[0, 1]), margin=dict(t=50, b=40),
                      legend=dict(orientation="h", y=-0.25))
    return fig


def distress_figure(table: pd.DataFrame) -> go.Figure:
    """Both partners' daily distress (left axis) and attachment anxiety on the ECR-R scale (right axis)."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for role in "ab":
        rows = table[table.role == role]
        fig.add_trace(go.Scatter(x=rows["day"], y=rows["distress"], name=f"{role.upper()} distress",
                                 line=dict(color=ROLE_COLOURS[role])), secondary_y=False)
        fig.add_trace(go.Scatter(x=rows["day"], y=rows["anxiety"], name=f"{role.upper()} anxiety (ECR-R)",
                                 line=dict(color=ROLE_COLOURS[role], dash="dash")), secondary_y=True)
    fig.update_yaxes(title_text="distress", range=[0, 1], secondary_y=False)
    fig.update_yaxes(title_text="anxiety (1-7)", range=[1, 7], secondary_y=True)
    fig.update_layout(height=340, width=520, title=dict(text="Distress and attachment anxiety", x=0.5),
                      xaxis_title="day",
                      margin=dict(t=50, b=40), legend=dict(orientation="h", y=-0.25))
    return fig


def narrative(model) -> str:
    """What is happening in the cycle right now, in plain language (Markdown)."""
    a, b = model.couples[0]
    names = partner_names((a.style, b.style))
    lines = [f"**Day {model.day}.** The cycle is **{live_regime(model)}**."]
    for me, other in ((a, b), (b, a)):
        me_name, other_name = names[me.role], names[other.role]
        if me.pursuit >= ACTIVE and me.pursuit >= me.withdrawal:
            why = (f"{other_name} is withdrawing ({other.withdrawal:.2f}), and distance reads as rejection"
                   if other.withdrawal >= ACTIVE else f"their distress is {me.distress:.2f}")
            lines.append(f"{me_name} is **pursuing** ({me.pursuit:.2f}) because {why}.")
        elif me.withdrawal >= ACTIVE:
            why = (f"{other_name}'s pursuit ({other.pursuit:.2f}) feels like pressure"
                   if other.pursuit >= ACTIVE else f"their distress is {me.distress:.2f}")
            lines.append(f"{me_name} is **withdrawing** ({me.withdrawal:.2f}) because {why}.")
        else:
            lines.append(f"{me_name} is calm (distress {me.distress:.2f}).")
        if me.despair >= DESPAIRING and me.pursuit >= ACTIVE:
            lines.append(f"{me_name}'s protest is going unanswered and gives way to despair ({me.despair:.2f}): "
                         "the pursuit quiets, which is how a flare-up ends.")
        elif me.despair >= DESPAIRING:
            lines.append(f"{me_name} still feels the despair of protest that went unanswered ({me.despair:.2f}); "
                         "it fades slowly, and until it does, protest stays quiet.")
    lines.append(f"Support given today (of what each could give): {names['a']} responsiveness "
                 f"{a.responsiveness_given:.2f} of {a.responsiveness:.2f}, goal support {a.goal_support_given:.2f} "
                 f"of {a.goal_support:.2f}; {names['b']} responsiveness {b.responsiveness_given:.2f} of "
                 f"{b.responsiveness:.2f}, goal support {b.goal_support_given:.2f} of {b.goal_support:.2f}.")
    return "  \n".join(lines)


def demo_figure(model, days: int, step: int = 3) -> go.Figure:
    """An animated page of the same views, for classrooms without Python: run ``days`` days, one frame per ``step``."""
    shown_states = []
    for day in range(days + 1):
        if day % step == 0 or day == days:
            a, b = model.couples[0]
            shown_states.append((model.day, [(p.pursuit, p.withdrawal, p.distress) for p in (a, b)],
                                 narrative(model).replace("**", "").replace("  \n", "<br>")))
        if day < days:
            model.step()
    table = model.daily_table()
    names = partner_names((model.couples[0][0].style, model.couples[0][1].style))
    fig = make_subplots(rows=2, cols=2, specs=[[{}, {}], [{"colspan": 2}, None]], row_heights=[0.45, 0.55],
                        subplot_titles=["together and apart", "pursuit and withdrawal", ""],
                        vertical_spacing=0.12)

    def traces(k: int) -> list[go.Scatter]:
        day, partners, _ = shown_states[k]
        gap = float(distance(partners[0][0], partners[0][1], partners[1][0], partners[1][1]))
        upto = table[table.day <= day]
        out = [go.Scatter(x=[-gap / 2, gap / 2], y=[0, 0], mode="markers+text", text=[names["a"], names["b"]],
                          textposition="top center", showlegend=False,
                          marker=dict(size=46, color=[partners[0][2], partners[1][2]], cmin=0, cmax=1,
                                      colorscale="RdYlGn_r", line=dict(width=2, color="#444")))]
        for role in "ab":
            rows = upto[upto.role == role]
            for variable, dash in (("pursuit", "solid"), ("withdrawal", "dot")):
                out.append(go.Scatter(x=rows["day"], y=rows[variable], name=f"{role.upper()} {variable}",
                                      line=dict(color=ROLE_COLOURS[role], dash=dash)))
        for role in "ab":
            rows = upto[upto.role == role]
            out.append(go.Scatter(x=rows["day"], y=rows["distress"], name=f"{role.upper()} distress",
                                  line=dict(color=ROLE_COLOURS[role], width=1)))
        return out

    rows_cols = [(1, 1)] + [(1, 2)] * 4 + [(2, 1)] * 2
    for trace, (row, col) in zip(traces(0), rows_cols, strict=True):
        fig.add_trace(trace, row=row, col=col)
    fig.frames = [go.Frame(data=traces(k), name=str(shown_states[k][0]), traces=list(range(7)),
                           layout=dict(annotations=[dict(text=shown_states[k][2], x=0.5, y=-0.3, xref="paper",
                                                         yref="paper", showarrow=False, align="left")]))
                  for k in range(len(shown_states))]
    fig.update_xaxes(range=[-2.3, 2.3], visible=False, row=1, col=1)
    fig.update_yaxes(range=[-1, 1], visible=False, row=1, col=1)
    fig.update_xaxes(range=[0, days], row=1, col=2)
    fig.update_yaxes(range=[0, 1], row=1, col=2)
    fig.update_xaxes(range=[0, days], title_text="day", row=2, col=1)
    fig.update_yaxes(range=[0, 1], title_text="distress", row=2, col=1)
    fig.update_layout(
        height=760, margin=dict(t=60, b=230), title=dict(text="The pursue-withdraw cycle, day by day", x=0.5),
        annotations=list(fig.layout.annotations) + [dict(text=shown_states[0][2], x=0.5, y=-0.3, xref="paper",
                                                         yref="paper", showarrow=False, align="left")],
        updatemenus=[dict(type="buttons", x=0, y=1.1, xanchor="left", buttons=[
            dict(label="Play", method="animate",
                 args=[None, dict(frame=dict(duration=80, redraw=True), fromcurrent=True)]),
            dict(label="Pause", method="animate", args=[[None], dict(mode="immediate", frame=dict(duration=0))])])],
        sliders=[dict(currentvalue=dict(prefix="day "), y=-0.02, steps=[
            dict(label=str(s[0]), method="animate", args=[[str(s[0])], dict(mode="immediate",
                                                                          frame=dict(duration=0, redraw=True))])
            for s in shown_states])])
    return fig


def write_demo(model, days: int, out: Path) -> Path:
    """Write the standalone animated HTML (plotly.js inlined, works offline)."""
    from sim.storage import atomic_output
    fig = demo_figure(model, days)
    with atomic_output(out) as tmp:
        fig.write_html(str(tmp), include_plotlyjs=True, full_html=True, auto_play=False)
    return out


PARTNER_SLIDERS = ("anxiety", "avoidance", "responsiveness", "goal_support")
DEFAULT_PAIRING = "anxious-avoidant"


class ClassroomModel(CoupleModel):
    """One couple whose partners' traits and support come straight from the app's sliders.

    Args:
        pairing: the preset that names the partners' styles.
        seed: root seed.
        a_anxiety, a_avoidance, a_responsiveness, a_goal_support,
        b_anxiety, b_avoidance, b_responsiveness, b_goal_support: the two
            partners' values (defaults: the anxious-avoidant preset).
        intervention: "none" or a recipe (sim.interventions.RECIPES), begun on
            ``intervention_day``.
    """

    def __init__(self, pairing: str = DEFAULT_PAIRING, seed: int = 0,
                 a_anxiety: float = 5.0, a_avoidance: float = 2.5, a_responsiveness: float = 0.5,
                 a_goal_support: float = 0.4, b_anxiety: float = 2.5, b_avoidance: float = 5.0,
                 b_responsiveness: float = 0.3, b_goal_support: float = 0.6, intervention: str = "none",
                 intervention_day: int = 120):
        values = {"a": (a_anxiety, a_avoidance, a_responsiveness, a_goal_support),
                  "b": (b_anxiety, b_avoidance, b_responsiveness, b_goal_support)}
        overrides = [f"{role}.{name}={value}" for role, row in values.items()
                     for name, value in zip(PARTNER_SLIDERS, row, strict=True)]
        overrides += [f"intervention_day={int(intervention_day)}"]
        super().__init__(pairing, n_couples=1, seed=int(seed), overrides=overrides, days=365,
                         intervention=intervention)

    def inject_conflict(self) -> None:
        """A conflict shock tomorrow (the next step), as if the couple had a fight."""
        self.population.couple["shock_day"][:] = self.day + 1
        self.tracker.shock_day[:] = self.day + 1
