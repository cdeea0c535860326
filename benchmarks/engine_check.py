"""A quick check that the batch engine has not become slower, for the test suite (tests/test_benchmark.py).

    python benchmarks/engine_check.py            # measure and print
    python benchmarks/engine_check.py --write    # ... and store as the reference in engine_check.json

Two measurements, each the best of a few short repeats:

- the machine's speed: a fixed pure-Python workload that owes nothing to the
  project (so it does not get faster or slower with the engine), in seconds;
- the engine's rate: 20,000 anxious-avoidant couples for 365 days, in
  agent-steps per second.

Their product (agent-steps per calibration workload) is the machine-free
figure; the suite fails when it falls more than 30% below the stored one.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

REFERENCE = Path(__file__).with_name("engine_check.json")
COUPLES, DAYS = 20_000, 365
TOLERANCE = 0.30          # the suite fails below 70% of the stored, machine-scaled rate


def machine_seconds(repeats: int = 5) -> float:
    """Best time of a fixed pure-Python loop (integer and float arithmetic, a list, a dict), in seconds."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        total, table, values = 0.0, {}, []
        for i in range(300_000):
            total += (i * 7 % 13) * 0.5
            table[i & 1023] = total
            values.append(total)
        best = min(best, time.perf_counter() - started)
    return best


def engine_rate(repeats: int = 3) -> float:
    """Best rate of the batch engine on COUPLES x DAYS, in agent-steps per second (compiled code loaded first)."""
    from sim.engine import simulate
    from sim.population import make_population
    simulate(make_population("anxious-avoidant", 2, 1), 3)
    pop = make_population("anxious-avoidant", COUPLES, 1, overrides=["shock_day=100"])
    best = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        simulate(pop, DAYS)
        best = max(best, 2 * COUPLES * DAYS / (time.perf_counter() - started))
    return best


def measure() -> dict:
    seconds = machine_seconds()
    rate = engine_rate()
    return {"machine_seconds": round(seconds, 5), "agent_steps_per_second": round(rate),
            "agent_steps_per_machine_second": round(rate * seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"store the measurement in {REFERENCE.name}")
    args = parser.parse_args()
    result = measure()
    print(json.dumps(result, indent=2))
    if args.write:
        REFERENCE.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
