"""The classroom app: watch a couple's cycle unfold in Mesa's SolaraViz, and change it live.

Run with ``cycles app`` (or ``solara run sim.app``). The sliders' ranges come
from the parameter declarations; the model (ClassroomModel) and the views are
built by :mod:`sim.classroom`, which ``cycles demo`` also uses for its
standalone animated page. This module is only the SolaraViz page.
"""

from __future__ import annotations

import solara
from mesa.visualization import SolaraViz
from mesa.visualization.utils import update_counter

from sim import params as P
from sim.classroom import (
    DEFAULT_PAIRING,
    PARTNER_SLIDERS,
    ClassroomModel,
    behaviour_figure,
    couple_space_figure,
    distress_figure,
    live_regime,
    narrative,
)
from sim.interventions import RECIPES
from sim.population import PRESETS, STYLE_SUPPORT, STYLE_TRAITS


def _preset_value(pairing: str, role: str, name: str) -> float:
    style = pairing.split("-")["ab".index(role)]
    if name in ("anxiety", "avoidance"):
        return STYLE_TRAITS[style][("anxiety", "avoidance").index(name)]
    return STYLE_SUPPORT[style][("responsiveness", "goal_support").index(name)]


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
    """Both partners' pursuit and withdrawal so far, titled with the cycle's current state."""
    update_counter.get()
    solara.FigurePlotly(behaviour_figure(model.daily_table(), live_regime(model)))


@solara.component
def DistressAndAnxiety(model: ClassroomModel):
    """Both partners' daily distress and their slowly moving attachment anxiety so far."""
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
