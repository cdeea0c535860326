"""Where the time goes: the batch engine's stages and compiled parts, and the Mesa path.

    python benchmarks/profile_engine.py      # prints a JSON document

1. Stages of ``simulate`` for 100,000 couples x 365 days (cProfile).
2. The stages of the kernel's day, each timed alone as the kernel runs it (blocks
   of LANES couples side by side) over 100,000 couple-days with realistic,
   varying inputs: the random normals, the equations (two partner_day calls),
   the outcome tracker, the aggregates.
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
    """Each stage of the kernel's day, as the kernel runs it (a block of LANES couples at a time), alone."""
    from sim.compiled import EQUATIONS
    from sim.engine import initial_array, simulate
    from sim.kernel import (
        _FIELDS,
        _PARAMETERS,
        _TALLIES,
        LANES,
        _draw_normals,
        pack,
        read_params,
        read_state,
        write_column,
    )
    from sim.outcomes import accumulate_couple, aggregate_block
    from sim.population import make_population
    from sim.schema import SERIES_VARIABLES

    n = 100_000 // LANES * LANES
    pop = make_population(n_couples=n, seed=3, drawn=True)
    result = simulate(pop, 60, series_couples=range(0, n, 10))      # realistic mid-run states
    state = initial_array(pop)
    state[::10] = result.series[result.series.day == 60].sort_values(["couple_id", "role"]) \
        [list(_state_fields())].to_numpy().reshape(-1, 2, _FIELDS)
    packed = pack(pop.partner)
    blocks = n // LANES
    # The population as the kernel holds it: one (field, partner, couple) array per block.
    soa = np.ascontiguousarray(state.reshape(blocks, LANES, 2, _FIELDS).transpose(0, 3, 2, 1))
    rows = packed.profiles[packed.index]
    parameters = np.ascontiguousarray(rows.reshape(blocks, LANES, 2, _PARAMETERS).transpose(0, 3, 2, 1))
    normals = np.ascontiguousarray(np.random.default_rng(0).standard_normal((blocks, 2, 3, LANES)))
    partner_day = EQUATIONS["partner_day"]

    @numba.njit(error_model="numpy")
    def normals_only(keys):
        z = np.empty((2, 3, LANES))
        uniform = np.empty((2, 3, LANES))
        found = np.empty(6 * LANES, dtype=np.int64)
        total = 0.0
        for block in range(keys.shape[0] // LANES):
            _draw_normals(keys, block * LANES, LANES, 7, z, uniform, found)
            total += z[0, 0, 0]
        return total

    @numba.njit(error_model="numpy")
    def equations_only(soa, parameters, normals):
        new = np.empty((_FIELDS, 2, LANES))
        total = 0.0
        for block in range(soa.shape[0]):
            old, p, z = soa[block], parameters[block], normals[block]
            for c in range(LANES):
                a = read_state(old, 0, c)
                b = read_state(old, 1, c)
                z_a = (z[0, 0, c], z[0, 1, c], z[0, 2, c])
                z_b = (z[1, 0, c], z[1, 1, c], z[1, 2, c])
                write_column(new, 0, c, partner_day(a, b, read_params(p, 0, c), z_a, 0.0))
                write_column(new, 1, c, partner_day(b, a, read_params(p, 1, c), z_b, 0.0))
            total += new[2, 0, 0]
        return total

    @numba.njit(error_model="numpy")
    def tracker_only(soa, shock_day, high, quiet, tolerance):
        tally = np.zeros((_TALLIES, LANES))
        for block in range(soa.shape[0]):
            x = soa[block]
            for c in range(LANES):
                i = block * LANES + c
                accumulate_couple(tally, c, 300, 90, 276, shock_day[i], high[i], quiet[i], tolerance[i], x, c)
        return tally[0, 0]

    @numba.njit(error_model="numpy")
    def aggregates_only(soa, hist, sums, together):
        groups = np.zeros(LANES, dtype=np.int64)
        values = np.empty((len(SERIES_VARIABLES), 2, LANES))
        bins = np.empty((len(SERIES_VARIABLES), 2, LANES), dtype=np.int64)
        for block in range(soa.shape[0]):
            aggregate_block(hist, sums, groups, 0, LANES, soa[block], together, values, bins)

    hist = np.zeros((1, 2, len(SERIES_VARIABLES), 100), dtype=np.int32)
    sums = np.zeros((1, 2, len(SERIES_VARIABLES)))
    together = np.ones(LANES, dtype=np.bool_)
    shock_day = np.full(n, 100, dtype=np.int64)
    high, quiet, tolerance = (np.full(n, pop.classification[k]) for k in ("high_intensity", "quiet_intensity",
                                                                         "settle_tolerance"))
    parts = {
        "random normals (6 per couple)": lambda: normals_only(pop.keys),
        "equations (two partner_day calls)": lambda: equations_only(soa, parameters, normals),
        "outcome tracker": lambda: tracker_only(soa, shock_day, high, quiet, tolerance),
        "per-day aggregates": lambda: aggregates_only(soa, hist, sums, together),
    }
    out = {}
    for name, call in parts.items():
        call()
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            call()
            best = min(best, time.perf_counter() - started)
        out[name] = round(best / (2 * n) * 1e9, 1)
    return {"nanoseconds per agent-step (best of 5)": out}


def _state_fields() -> tuple[str, ...]:
    from sim.dynamics import STATE_FIELDS
    return STATE_FIELDS


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
