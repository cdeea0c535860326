"""The classroom app: watch a couple's cycle unfold in Mesa's SolaraViz, and change it live.

Run with ``cycles app`` (or ``solara run sim.app``). The sliders' ranges come
from the parameter declarations; the views are built by :mod:`sim.classroom`,
which ``cycles demo`` also uses for its standalone animated page.
"""

from __future__ import annotations

import solara
from mesa.visualization import SolaraViz
from mesa.visualization.utils import update_counter

from sim import params as P
from sim.interventions import RECIPES
from sim.classroom import behaviour_figure, couple_space_figure, distress_figure, live_regime, narrative
from sim.model import CoupleModel
from sim.population import PRESETS, STYLE_SUPPORT, STYLE_TRAITS

PARTNER_SLIDERS = ("anxiety", "avoidance", "responsiveness", "goal_support")
DEFAULT_PAIRING = "anxious-avoidant"


def _preset_value(pairing: str, role: str, name: str) -> float:
    style = pairing.split("-")["ab".index(role)]
    if name in ("anxiety", "avoidance"):
        return STYLE_TRAITS[style][("anxiety", "avoidance").index(name)]
    return STYLE_SUPPORT[style][("responsiveness", "goal_support").index(name)]


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
                     for name, value in zip(PARTNER_SLIDERS, row)] + [f"intervention_day={int(intervention_day)}"]
        super().__init__(pairing, n_couples=1, seed=int(seed), overrides=overrides, days=365,
                         intervention=intervention)

    def inject_conflict(self) -> None:
        """A conflict shock tomorrow (the next step), as if the couple had a fight."""
        self.population.couple["shock_day"][:] = self.day + 1
        self.tracker.shock_day[:] = self.day + 1


def _slider(role: str, name: str) -> dict:
    decl = P.PARAMETERS[name]
    return {"type": "SliderFloat", "value": _preset_value(DEFAULT_PAIRING, role, name),
            "label": f"partner {role}: {name.replace('_', ' ')}", "min": float(decl.low), "max": float(decl.high),
            "step": 0.1 if decl.high > 1 else 0.05}


model_params = {
    "pairing": {"type": "Select", "value": DEFAULT_PAIRING, "values": list(PRESETS),
                "label": "pairing (styles named on the views)"},
    "seed": {"type": "InputText", "value": 0, "label": "seed"},
    **{f"{role}_{name}": _slider(role, name) for role in "ab" for name in PARTNER_SLIDERS},
    "intervention": {"type": "Select", "value": "none", "values": ["none", *RECIPES],
                     "label": "intervention (see cycles interventions)"},
    # A classroom run is one year: the start day goes from the declared minimum to day 365.
    "intervention_day": {"type": "SliderInt", "value": 120, "min": int(P.PARAMETERS["intervention_day"].low),
                         "max": 365, "step": 1, "label": "intervention begins on day"},
}


@solara.component
def CoupleSpace(model: ClassroomModel):
    """The two partners in a shared space: close when they pursue, apart when they withdraw."""
    update_counter.get()
    solara.FigurePlotly(couple_space_figure(model))


@solara.component
def Behaviour(model: ClassroomModel):
    update_counter.get()
    solara.FigurePlotly(behaviour_figure(model.daily_table(), live_regime(model)))


@solara.component
def DistressAndAnxiety(model: ClassroomModel):
    update_counter.get()
    solara.FigurePlotly(distress_figure(model.daily_table()))


@solara.component
def WhatIsHappening(model: ClassroomModel):
    """A plain-language account of the cycle right now, and the conflict button."""
    update_counter.get()

    def fight():
        model.inject_conflict()

    with solara.Card("What is happening"):
        solara.Markdown(narrative(model))
        solara.Button("Conflict tomorrow", on_click=fight, color="error")


model = ClassroomModel()
page = SolaraViz(model, components=[(CoupleSpace, 0), (WhatIsHappening, 0), (Behaviour, 0),
                                    (DistressAndAnxiety, 0)],
                 model_params=model_params, name="The pursue-withdraw cycle", play_interval=150)
