"""Property tests: for any parameters in their declared ranges, every state stays finite and in range."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import params as P
from sim.engine import simulate
from sim.population import Override, make_population

DAYS = 1000
# Finite range bounds; the shock day is drawn inside the run.
_PARTNER = [p for p in P.PARAMETERS.values() if p.scope == "partner"]
_COUPLE = [p for p in P.PARAMETERS.values() if p.scope == "couple"]


def _value(p: P.Parameter):
    if p.kind is bool:
        return st.booleans()
    if p.name == "shock_day":
        return st.integers(0, DAYS)
    if p.name == "dissolution_days":
        return st.integers(1, DAYS)
    if p.kind is int:
        return st.integers(int(p.low), int(p.high))
    return st.floats(p.low, p.high, allow_nan=False)


@st.composite
def overrides(draw):
    sets = []
    for p in _PARTNER:
        for role in ("a", "b"):
            sets.append(Override(p.name, draw(_value(p)), role))
    for p in _COUPLE:
        sets.append(Override(p.name, draw(_value(p))))
    return sets


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sets=overrides(), seed=st.integers(0, 2**32 - 1))
def test_states_stay_finite_and_in_range_for_any_declared_parameters(sets, seed):
    pop = make_population(None, 2, seed, overrides=sets)
    result = simulate(pop, DAYS, series_couples=[0, 1])
    s = result.series
    numeric = s.select_dtypes("number")
    assert np.isfinite(numeric.to_numpy(dtype=float)).all()
    for col in ("distress", "pursuit", "withdrawal", "goal_pursuit", "perceived_responsiveness",
                "perceived_goal_support", "satisfaction", "received_response"):
        assert s[col].between(0.0, 1.0).all(), col
    for col in ("anxiety", "avoidance"):
        assert s[col].between(1.0, 7.0).all(), col
    out = result.outcomes
    assert out["classification"].isin(["escalating", "cycling", "settling", "secure-stable", "dissolved"]).all()
    assert out["intensity_mean"].between(0, 1).all()
