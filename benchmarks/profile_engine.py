"""Where the time goes: the batch engine's stages and compiled parts, and the Mesa path.

    python benchmarks/profile_engine.py      # prints a JSON document

1. Stages of ``simulate`` for 100,000 couples x 365 days (cProfile).
2. The compiled parts of one couple-day, each timed alone in a compiled loop
   over 100,000 couple-days with realistic, varying inputs: the random
   normals, the two partner_day calls, the outcome tracker, the aggregates.
3. The Mesa path: the functions that take most of its time (cProfile, 20 couples x 365 days).
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import time

import numba
import numpy as np


def _stages() -> dict:
    from sim.engine import simulate
    from sim.population import make_population
    simulate(make_population("anxious-avoidant", 2, 1), 3)
    started = time.perf_counter()
    pop = make_population("anxious-avoidant", 100_000, 1, overrides=["shock_day=100"])
    population_seconds = time.perf_counter() - started
    profile = cProfile.Profile()
    profile.enable()
    simulate(pop, 365)
    profile.disable()
    stats = pstats.Stats(profile).stats
    wanted = {"run": "kernel.run (compiled loop)", "pack": "kernel.pack (parameter profiles)",
              "summary": "CycleTracker.summary", "table": "DailyAggregates.table",
              "initial_array": "initial state", "simulate": "simulate (total)"}
    out = {"make_population (not part of simulate)": round(population_seconds, 3)}
    for (path, _, name), row in stats.items():
        if name in wanted and ("sim/" in path or "sim\\" in path):
            out[wanted[name]] = round(row[3], 3)
    return out


def _compiled_parts() -> dict:
    from sim.compiled import EQUATIONS, PartnerParams
    from sim.dynamics import PartnerState
    from sim.engine import initial_array, simulate
    from sim.kernel import pack
    from sim.outcomes import CycleTracker, DailyAggregates, accumulate_couple, aggregate_couple
    from sim.population import make_population
    from sim.randomness import NORMALS_PER_DAY, couple_day_normals

    n = 100_000
    pop = make_population(n_couples=n, seed=3, drawn=True)
    result = simulate(pop, 60, series_couples=range(0, n, 10))      # realistic mid-run states
    state = initial_array(pop)
    fields = len(PartnerState._fields)
    state[::10] = result.series[result.series.day == 60].sort_values(["couple_id", "role"]) \
        [list(PartnerState._fields)].to_numpy().reshape(-1, 2, fields)
    params = pack(pop.partner)
    tracker = CycleTracker(n, 365, pop.couple["shock_day"], {k: state[:, :, i] for i, k in
                                                             enumerate(PartnerState._fields)}, pop.classification)
    aggregates = DailyAggregates(np.zeros(n, dtype=np.int64), 1)
    partner_day = EQUATIONS["partner_day"]

    @numba.njit
    def normals_only(keys):
        z = np.empty((2, NORMALS_PER_DAY))
        total = 0.0
        for c in range(keys.shape[0]):
            couple_day_normals(keys[c], 7, z)
            total += z[0, 0]
        return total

    @numba.njit
    def partner_days_only(state, profiles, index, normals):
        total = 0.0
        for c in range(state.shape[0]):
            s, t = state[c, 0], state[c, 1]
            k, m = profiles[index[c], 0], profiles[index[c], 1]
            a = PartnerState(*_state(s))
            b = PartnerState(*_state(t))
            pa = PartnerParams(*_params(k))
            pb = PartnerParams(*_params(m))
            total += partner_day(a, b, pa, normals[c, 0], 0.0)[2]
            total += partner_day(b, a, pb, normals[c, 1], 0.0)[2]
        return total

    @numba.njit
    def tracker_only(acc, state, margin, tolerance, shock_day):
        for c in range(state.shape[0]):
            accumulate_couple(acc[c], 300, 90, 276, shock_day[c], margin[c], tolerance[c], state[c])

    @numba.njit
    def aggregates_only(hist, sums, groups, state):
        for c in range(state.shape[0]):
            aggregate_couple(hist[0], sums[0], groups[c], state[c])

    normals = np.random.default_rng(0).standard_normal((n, 2, NORMALS_PER_DAY))
    parts = {
        "random normals (6 per couple)": lambda: normals_only(pop.keys),
        "two partner_day calls": lambda: partner_days_only(state, params.profiles, params.index, normals),
        "outcome tracker": lambda: tracker_only(tracker.acc, state, tracker.levels, tracker.settle_tolerance,
                                                tracker.shock_day),
        "per-day aggregates": lambda: aggregates_only(aggregates.hist, aggregates.sums, aggregates.groups, state),
    }
    out = {}
    for name, call in parts.items():
        call()
        started = time.perf_counter()
        for _ in range(5):
            call()
        out[name] = round((time.perf_counter() - started) / 5 / (2 * n) * 1e9, 1)
    return {"nanoseconds per agent-step": out}


def _unpacker(width: int):
    """A compiled ``k -> tuple(k[0], ..., k[width-1])`` (like sim.kernel's generated loop)."""
    source = "def unpack(k):\n    return (" + ", ".join(f"k[{i}]" for i in range(width)) + ",)\n"
    namespace: dict = {}
    exec(source, namespace)
    return numba.njit(inline="always")(namespace["unpack"])


def _widths() -> tuple[int, int]:
    from sim.dynamics import STATE_FIELDS
    from sim.kernel import PARTNER_PARAMETERS
    return len(PARTNER_PARAMETERS), len(STATE_FIELDS)


_params = _unpacker(_widths()[0])     # the declared partner parameters
_state = _unpacker(_widths()[1])      # the state fields


def _mesa() -> dict:
    from sim.model import CoupleModel
    model = CoupleModel("anxious-avoidant", n_couples=20, seed=1, days=365)
    profile = cProfile.Profile()
    profile.enable()
    model.run()
    profile.disable()
    stats = pstats.Stats(profile)
    total = stats.total_tt
    rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:8]
    return {"total_seconds": round(total, 3), "agent_steps_per_second": round(2 * 20 * 365 / total),
            "top_functions_by_own_time": [{"function": f"{os.path.basename(p)}:{name}", "own_seconds": round(r[2], 3),
                                           "share": round(r[2] / total, 3)} for (p, _, name), r in rows]}


if __name__ == "__main__":
    print(json.dumps({"engine_stages_seconds_100k_couples_365_days": _stages(), "compiled_parts": _compiled_parts(),
                      "mesa_path": _mesa()}, indent=2))
