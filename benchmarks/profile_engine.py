"""Where the time goes: the batch engine's stages and compiled parts, and the Mesa path.

    python benchmarks/profile_engine.py      # prints a JSON document

1. Stages of ``simulate`` for 100,000 couples x 365 days (cProfile).
2. The stages of the kernel's day (random normals, equations, outcome tracker,
   aggregates): the kernel with one stage left out at a time, against the
   whole (timed alone, a stage vectorises differently from inside the kernel).
3. The Mesa path: the functions that take most of its time (cProfile, 20 couples x 365 days).
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import sys
import time


def _stages() -> dict:
    from sim.engine import simulate
    from sim.population import make_population
    simulate(make_population("anxious-avoidant", 100_000, 1), 1)     # the compiled loop of this size's count type
    started = time.perf_counter()
    pop = make_population("anxious-avoidant", 100_000, 1, overrides=["shock_day=100"])
    population_seconds = time.perf_counter() - started
    profile = cProfile.Profile()
    profile.enable()
    simulate(pop, 365)
    profile.disable()
    stats = pstats.Stats(profile).stats
    wanted = {"run": "kernel.run (compiled loop)", "parameter_columns": "kernel.parameter_columns",
              "summary": "CycleTracker.summary", "table": "DailyAggregates.table",
              "initial_array": "initial state", "simulate": "simulate (total)"}
    out = {"make_population (not part of simulate)": round(population_seconds, 3)}
    for (path, _, name), row in stats.items():
        if name in wanted and ("sim/" in path or "sim\\" in path):
            out[wanted[name]] = round(row[3], 3)
    return out


# Each stage of the kernel's day, as it appears in sim/kernel.py, and what it becomes with the stage left out.
_STAGES = {
    # (zeros in their place: left out, the equations would read whatever the block's array held)
    "random normals (6 per couple)": ("        _draw_normals(keys, width, day, z, uniform, found)\n",
                                      "        z[:] = 0.0\n"),
    "equations (two partner_day calls)": ("        for c in range(width):\n            a = read_state(old, 0, c)",
                                          "        for c in range(0):\n            a = read_state(old, 0, c)"),
    "outcome tracker": ("            for c in range(width):\n                if together[c]:\n"
                        "                    accumulate_day(",
                        "            for c in range(0):\n                if together[c]:\n"
                        "                    accumulate_day("),
    "per-day aggregates": ("            aggregate_block(hist[day], sums[day], groups, width, new, together, "
                           "values, bins)\n", "            pass\n"),
}


def _compiled_parts(couples: int = 20_000, days: int = 365, rounds: int = 4) -> dict:
    """What each stage of the kernel's day costs: the kernel with that stage left out, against the whole.

    Each variant is sim/kernel.py with one stage's loop removed, compiled as a module of its own and put in
    the engine's place; the anxious-avoidant preset. The whole and the variants take turns, ``rounds``
    times, and each keeps its best (the machine's speed wanders). A stage's cost is the difference in
    nanoseconds per agent-step. (Leaving a stage out can change the others' work a little: without the
    equations the state stands still, and the aggregates' counts pile into the same bins.)
    """
    import importlib.util
    import tempfile
    from pathlib import Path

    import sim.engine
    from sim import kernel
    from sim.population import make_population

    pop = make_population("anxious-avoidant", couples, 1, overrides=["shock_day=100"])
    source = Path(kernel.__file__).read_text()
    whole = "whole day (the kernel as it is)"
    with tempfile.TemporaryDirectory() as folder:
        engines = {whole: kernel}
        for k, (stage, (present, absent)) in enumerate(_STAGES.items()):
            assert present in source, f"sim/kernel.py no longer has the stage {stage!r} as benchmarks expect"
            path = Path(folder) / f"kernel_without_{k}.py"
            path.write_text(source.replace(present, absent))
            spec = importlib.util.spec_from_file_location(f"sim.kernel_without_{k}", path)
            variant = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = variant         # numba's cache finds a function's module by name
            spec.loader.exec_module(variant)
            engines[stage] = variant
        best = dict.fromkeys(engines, float("inf"))
        try:
            for engine in engines.values():
                sim.engine.kernel = engine
                sim.engine.simulate(make_population("anxious-avoidant", 2, 1), 3)      # compiles or loads
            for _ in range(rounds):
                for name, engine in engines.items():
                    sim.engine.kernel = engine
                    started = time.perf_counter()
                    sim.engine.simulate(pop, days)
                    best[name] = min(best[name], time.perf_counter() - started)
        finally:
            sim.engine.kernel = kernel
    ns = {name: seconds / (2 * couples * days) * 1e9 for name, seconds in best.items()}
    out = {whole: round(ns[whole], 1), **{stage: round(ns[whole] - ns[stage], 1) for stage in _STAGES}}
    out["the rest (shocks, recording, loop and block set-up)"] = round(
        ns[whole] - sum(ns[whole] - ns[stage] for stage in _STAGES), 1)
    return {"nanoseconds per agent-step": out, "couples": couples, "days": days, "rounds": rounds}


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
