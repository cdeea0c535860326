"""The model's equations, compiled: sim.dynamics and the interventions' schedule, as numba functions.

numba compiles the very functions of ``sim/dynamics.py``: each is cloned with
its globals rebound to the compiled versions of its neighbours, so the
compiled ``partner_day`` calls compiled ``appraised_threat`` and so on. There
is no second copy of any equation. The batch kernel (sim.kernel), its
generated loop and the outcome tracker (sim.outcomes) all take them from
here, so none of them imports another to get at the equations.
"""

from __future__ import annotations

import inspect
import types
from collections import namedtuple

import numba

from sim import (
    dynamics,
    interventions,
    jit,  # noqa: F401  (sets the compiled-code cache before any njit)
)
from sim.interventions import PARTNER_PARAMETERS

PartnerParams = namedtuple("PartnerParams", PARTNER_PARAMETERS)


def _compiled_equations() -> dict:
    """Every public function of sim.dynamics, compiled, calling each other compiled."""
    namespace = dict(vars(dynamics))
    compiled = {}
    for name, fn in inspect.getmembers(dynamics, inspect.isfunction):
        if fn.__module__ != dynamics.__name__:
            continue
        clone = types.FunctionType(fn.__code__, namespace, name, fn.__defaults__, fn.__closure__)
        compiled[name] = numba.njit(cache=True, error_model="numpy", inline="always")(clone)
    namespace.update(compiled)   # calls inside the clones now resolve to compiled functions
    return compiled


EQUATIONS = _compiled_equations()   # each compiled lazily, on its first call
# sim.interventions.scheduled_parameters, compiled: a day's parameters under a schedule.
SCHEDULED_PARAMETERS = numba.njit(cache=True, error_model="numpy")(interventions.scheduled_parameters)
