"""The simulate-and-summarise path of ``cycles fit`` against the bare engine, on one core.

    python benchmarks/fit_speed.py            # prints a JSON document

``sim.fit.estimator.simulate_set`` draws couples from the prior, runs them
through acclimation and the diary (the engine, recording every diary day),
measures the diaries and computes their summary statistics. Its rate is the
engine's agent-steps (2 x couples x simulated days) over the whole path's
time; the bare engine's rate is ``simulate`` of the same population with
nothing recorded. The two take turns, ROUNDS times, and each keeps its best, after a warm-up.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "experiments" / "diary_fit.toml"
COUPLES = 20_000
ROUNDS = 7


def main() -> None:
    try:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    except (AttributeError, OSError):
        pass
    from sim.diary import diary_model_days
    from sim.engine import simulate
    from sim.experiment.spec import load
    from sim.fit.estimator import DesignRange, Prior, population_of, simulate_set
    spec = load(SPEC).spec
    prior = Prior.of(spec)
    design = DesignRange.of(spec.diary)
    days = int(diary_model_days(spec.diary)[-1])
    simulate_set(spec, prior, 200, 9, design)                          # warm-up: compiled code loaded
    theta = prior.draw(COUPLES, __import__("numpy").random.default_rng(9))
    pop = population_of(spec, theta, prior.keys, [(9, i) for i in range(COUPLES)])
    # The path and the engine take turns, so that a noisy neighbour slows a round of either, not the ratio.
    best_path = best_engine = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        simulate_set(spec, prior, COUPLES, 9, design)
        best_path = min(best_path, time.perf_counter() - started)
        started = time.perf_counter()
        simulate(pop, days)
        best_engine = min(best_engine, time.perf_counter() - started)
    steps = 2 * COUPLES * days
    path_rate, engine_rate = steps / best_path, steps / best_engine
    print(json.dumps({"couples": COUPLES, "simulated_days": days, "path_seconds": round(best_path, 3),
                      "engine_seconds": round(best_engine, 3), "path_agent_steps_per_second": round(path_rate),
                      "engine_agent_steps_per_second": round(engine_rate),
                      "path_share_of_engine_rate": round(path_rate / engine_rate, 3)}, indent=2))


if __name__ == "__main__":
    main()
