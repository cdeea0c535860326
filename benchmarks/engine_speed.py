"""Speed and memory of the two drivers: the Mesa model and the batch engine.

Each case runs in its own process, pinned to one core, so peak memory is the
case's own and numbers do not leak between cases. Prints one JSON document:

    python benchmarks/engine_speed.py                 # the full table (a few minutes)
    python benchmarks/engine_speed.py --quick         # small sizes only
    python benchmarks/engine_speed.py --case batch 10000 365   # one case (used internally)
    python benchmarks/engine_speed.py --case batch 10000 365 checkin-ritual   # ... with an intervention

Measured per case: wall time of the run alone (after a warm-up that loads
numba's compiled-code cache), agent-steps per second (2 partners x couples x
days / time), peak resident memory of the process, and the resident memory
before the run (Python, numpy, Mesa, numba loaded), so the run's own share
shows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

MESA_LIMIT_SECONDS = 60
SIZES = (10, 1_000, 10_000, 100_000)
DAYS = 365
MEMORY_CASE = (100_000, 730)
# Interventions make the engine work out a couple's parameters every day from its schedule:
# the five-change recipe is the costliest of the recipes.
INTERVENTION = "damage-control-then-engagement"
INTERVENTION_CASES = (("mesa", 1_000), ("batch", 10_000))


def _rss_mb() -> float:
    """Current resident memory of this process (Linux), in MB."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def run_case(driver: str, couples: int, days: int, intervention: str | None = None) -> dict:
    """One measurement, in this process."""
    try:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    except (AttributeError, OSError):
        pass
    started = time.perf_counter()
    from sim.engine import simulate
    from sim.model import CoupleModel
    from sim.population import make_population
    simulate(make_population("anxious-avoidant", couples, 1), 1)    # the compiled loop of this size's count type
    CoupleModel("anxious-avoidant", n_couples=1, seed=1, days=3).run()
    warm_up = time.perf_counter() - started
    pop = make_population("anxious-avoidant", couples, 1, overrides=["shock_day=100"], intervention=intervention)
    before = _rss_mb()
    started = time.perf_counter()
    if driver == "batch":
        result = simulate(pop, days)
        escalating = float((result.outcomes["classification"] == "escalating").mean())
    else:
        model = CoupleModel(population=pop, days=days, seed=1).run()
        escalating = float((model.outcomes()["classification"] == "escalating").mean())
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6   # KiB on Linux -> MB
    return {"driver": driver, "couples": couples, "days": days, "intervention": intervention or "none",
            "seconds": round(seconds, 4),
            "agent_steps_per_second": round(2 * couples * days / seconds),
            "peak_rss_mb": round(peak, 1), "rss_before_run_mb": round(before, 1),
            "warm_up_seconds": round(warm_up, 2), "share_escalating": escalating}


def _in_subprocess(driver: str, couples: int, days: int, intervention: str | None = None) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([sys.executable, __file__, "--case", driver, str(couples), str(days),
                          *([intervention] if intervention else [])],
                         capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", nargs="+", metavar="DRIVER COUPLES DAYS [INTERVENTION]")
    parser.add_argument("--quick", action="store_true", help="only 10 and 1,000 couples")
    args = parser.parse_args()
    if args.case:
        driver, couples, days, *intervention = args.case
        print(json.dumps(run_case(driver, int(couples), int(days), *intervention)))
        return

    sizes = SIZES[:2] if args.quick else SIZES
    cases = []
    mesa_rate = None
    for couples in sizes:
        predicted = None if mesa_rate is None else 2 * couples * DAYS / mesa_rate
        if predicted is None or predicted < MESA_LIMIT_SECONDS:
            mesa = _in_subprocess("mesa", couples, DAYS)
            mesa_rate = mesa["agent_steps_per_second"]
            cases.append(mesa)
        else:
            cases.append({"driver": "mesa", "couples": couples, "days": DAYS, "skipped":
                          f"predicted {predicted:.0f} s > {MESA_LIMIT_SECONDS} s at {mesa_rate:,} agent-steps/s"})
        print(f"mesa  {couples:>7} couples: {cases[-1].get('agent_steps_per_second', 'skipped')}", file=sys.stderr)
        cases.append(_in_subprocess("batch", couples, DAYS))
        print(f"batch {couples:>7} couples: {cases[-1]['agent_steps_per_second']:,}", file=sys.stderr)
    if not args.quick:
        cases.append(_in_subprocess("batch", *MEMORY_CASE))
        for driver, couples in INTERVENTION_CASES:
            cases.append(_in_subprocess(driver, couples, DAYS, INTERVENTION))
            print(f"{driver} {couples:>7} couples, {INTERVENTION}: {cases[-1]['agent_steps_per_second']:,}",
                  file=sys.stderr)

    measured_mesa = [c for c in cases if c["driver"] == "mesa" and "skipped" not in c
                     and c.get("intervention", "none") == "none"]
    best_mesa = max(c["agent_steps_per_second"] for c in measured_mesa)
    ratios = []
    for c in cases:
        if c["driver"] != "batch" or c["days"] != DAYS or c.get("intervention", "none") != "none":
            continue
        same = next((m for m in measured_mesa if m["couples"] == c["couples"]), None)
        ratios.append({"couples": c["couples"],
                       "batch_over_mesa_same_size": None if same is None
                       else round(c["agent_steps_per_second"] / same["agent_steps_per_second"], 1),
                       "batch_over_fastest_mesa": round(c["agent_steps_per_second"] / best_mesa, 1)})
    import numba
    import numpy
    print(json.dumps({
        "machine": {"platform": platform.platform(), "processor": _cpu_name(), "cores_used": 1,
                    "python": sys.version.split()[0], "numpy": numpy.__version__, "numba": numba.__version__},
        "cases": cases, "speed_up": ratios,
    }, indent=2))


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
