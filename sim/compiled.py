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
from llvmlite import ir
from numba import types as numba_types
from numba.extending import intrinsic

from sim import (
    dynamics,
    interventions,
    jit,  # noqa: F401  (sets the compiled-code cache before any njit)
)
from sim.interventions import PARTNER_PARAMETERS

PartnerParams = namedtuple("PartnerParams", PARTNER_PARAMETERS)


@intrinsic
def _half_power_bits(typingctx, k):
    """The double ``2^-k`` built from its bits: exponent field ``1023 - k``, mantissa zero."""
    def codegen(context, builder, signature, args):
        whole = builder.fptosi(args[0], ir.IntType(64))
        exponent = builder.sub(ir.Constant(ir.IntType(64), 1023), whole)
        return builder.bitcast(builder.shl(exponent, ir.Constant(ir.IntType(64), 52)), ir.DoubleType())

    return numba_types.float64(numba_types.float64), codegen


@numba.njit(cache=True, inline="always")
def _power_of_half(k):
    return _half_power_bits(k)


# Functions whose compiled form is not their Python body (same numbers: see each one's docstring).
_COMPILED_AS = {"power_of_half": _power_of_half}


def _compiled_equations() -> dict:
    """Every public function of sim.dynamics, compiled, calling each other compiled."""
    namespace = dict(vars(dynamics))
    compiled = dict(_COMPILED_AS)
    for name, fn in inspect.getmembers(dynamics, inspect.isfunction):
        if fn.__module__ != dynamics.__name__ or name in compiled:
            continue
        clone = types.FunctionType(fn.__code__, namespace, name, fn.__defaults__, fn.__closure__)
        compiled[name] = numba.njit(cache=True, error_model="numpy", inline="always")(clone)
    namespace.update(compiled)   # calls inside the clones now resolve to compiled functions
    return compiled


EQUATIONS = _compiled_equations()   # each compiled lazily, on its first call
# sim.interventions.scheduled_parameters, compiled: a day's parameters under a schedule.
SCHEDULED_PARAMETERS = numba.njit(cache=True, error_model="numpy")(interventions.scheduled_parameters)
