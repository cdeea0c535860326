"""A virtual cohort: couples simulated through two waves and measured like people in a study.

Timeline: couples live ``acclimation_days`` days (settling into their
relationship) before wave 1 (T1), and ``wave_gap_days`` more before wave 2
(T2). At each wave every person fills in the ECR-R (true anxiety and
avoidance that day plus measurement error) and reports the support they
perceive (their perceived responsiveness and goal support averaged over the
``window_days`` days up to the wave, as a diary or a questionnaire about
"the last two weeks" would, plus measurement error). The support each
partner actually gives is kept too, so perception can be compared with truth.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sim import params as P
from sim.engine import simulate
from sim.experiment.populations import cohort_population
from sim.experiment.spec import Spec
from sim.randomness import measurement_draws
from sim.selectors import ROLES, style_of

# Measurement draws per person: anxiety and avoidance at T1 and T2, perceived
# responsiveness and goal support at T1 and T2.
_ERRORS = ("anxiety_t1", "avoidance_t1", "anxiety_t2", "avoidance_t2",
           "perceived_responsiveness_t1", "perceived_goal_support_t1",
           "perceived_responsiveness_t2", "perceived_goal_support_t2")


def measurement_settings(spec: Spec) -> dict[str, float]:
    """The declared measurement parameters, with the spec's [fixed] values applied."""
    settings = P.defaults("measurement")
    settings.update({k: P.coerce(k, v) for k, v in spec.fixed.items() if k in settings})
    return settings


def cohort(spec: Spec, sample: int, couples: int | None = None) -> pd.DataFrame:
    """One virtual cohort, one row per person; couples named by spawn key (sample, couple)."""
    study = spec.study
    n = couples or study.couples
    pop = cohort_population(spec, sample, n)
    t1, t2 = study.wave_days
    window = study.window_days
    days = sorted(set(range(t1 - window + 1, t1 + 1)) | set(range(t2 - window + 1, t2 + 1)))
    result = simulate(pop, t2, snapshot_days=days)
    snap = result.snapshots

    def window_mean(field: str, wave: int) -> np.ndarray:
        return np.mean([snap[d][field] for d in range(wave - window + 1, wave + 1)], axis=0)

    true: dict[str, np.ndarray] = {
        "anxiety_t1": snap[t1]["anxiety"], "avoidance_t1": snap[t1]["avoidance"],
        "anxiety_t2": snap[t2]["anxiety"], "avoidance_t2": snap[t2]["avoidance"],
        "perceived_responsiveness_t1": window_mean("perceived_responsiveness", t1),
        "perceived_goal_support_t1": window_mean("perceived_goal_support", t1),
        "perceived_responsiveness_t2": window_mean("perceived_responsiveness", t2),
        "perceived_goal_support_t2": window_mean("perceived_goal_support", t2),
    }
    settings = measurement_settings(spec)
    errors = measurement_draws(pop.keys, len(_ERRORS))
    measured: dict[str, np.ndarray] = {}
    for k, name in enumerate(_ERRORS):
        if name.startswith(("anxiety", "avoidance")):
            measured[name] = np.clip(true[name] + settings["ecr_error_sd"] * errors[..., k], 1.0, 7.0)
        else:
            measured[name] = np.clip(true[name] + settings["support_error_sd"] * errors[..., k], 0.0, 1.0)

    couple_id = np.repeat(np.arange(n), 2)
    columns: dict[str, Any] = {
        "sample": sample, "couple_id": couple_id, "person_id": np.arange(2 * n),
        "role": np.tile(np.array(ROLES), n), "pairing": np.repeat(pop.pairing, 2),
        "style_t1": style_of(measured["anxiety_t1"], measured["avoidance_t1"]).reshape(-1),
    }
    columns.update({name: measured[name].reshape(-1) for name in _ERRORS})
    columns.update({
        # What the partner actually gives: the other column of the couple.
        "responsiveness_received": pop.partner["responsiveness"][:, ::-1].reshape(-1),
        "goal_support_received": pop.partner["goal_support"][:, ::-1].reshape(-1),
        "responsiveness_given": pop.partner["responsiveness"].reshape(-1),
        "goal_support_given": pop.partner["goal_support"].reshape(-1),
    })
    columns.update({f"{name}_true": true[name].reshape(-1) for name in _ERRORS})
    columns["together_t2"] = np.repeat(~result.outcomes["dissolved"].to_numpy(), 2)
    return pd.DataFrame(columns)
