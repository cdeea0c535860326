"""The batch engine against the engine of an earlier commit, timed in one run on one core.

    python benchmarks/engine_against.py                   # against START (the engine issue 16 began from)
    python benchmarks/engine_against.py --base 6374dfa    # against any commit
    python benchmarks/engine_against.py --case PATH       # one timing of the sim package at PATH (internal)

The earlier commit is checked out beside this one with ``git worktree`` (in
a temporary folder, removed afterwards). Each timing runs in its own process
pinned to one core: 100,000 anxious-avoidant couples for 365 days (the
default preset, conflict shock on day 100), after a warm-up that loads the
compiled-code cache. The two engines take turns, ``--rounds`` times, and each
keeps its best round, so that a noisy neighbour on a shared machine slows a
round of either, not the comparison. Prints one JSON document; with
``--write`` also stores it in benchmarks/engine_against.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START = "b9be25b"          # main when issue 16 began: the per-couple scalar kernel of model 2
COUPLES, DAYS = 100_000, 365


def run_case(path: str) -> dict:
    """Time one engine (the sim package under ``path``) in this process."""
    try:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    except (AttributeError, OSError):
        pass
    sys.path.insert(0, path)
    from sim.engine import simulate
    from sim.population import make_population
    # Loads (or fills) the compiled-code cache; as many couples as timed, so that the histograms' count type
    # (sim.outcomes.histogram_counts) and so the compiled loop are those of the timed run.
    simulate(make_population("anxious-avoidant", COUPLES, 1), 1)
    pop = make_population("anxious-avoidant", COUPLES, 1, overrides=["shock_day=100"])
    started = time.perf_counter()
    result = simulate(pop, DAYS)
    seconds = time.perf_counter() - started
    outcomes = result.outcomes
    return {"seconds": seconds, "agent_steps_per_second": 2 * COUPLES * DAYS / seconds,
            "share_escalating": float((outcomes["classification"] == "escalating").mean()),
            "intensity_mean": float(outcomes["intensity_mean"].mean())}


def _timed(path: Path) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([sys.executable, __file__, "--case", str(path)], capture_output=True, text=True,
                         check=True, env=env, cwd=path)
    return json.loads(out.stdout)


def compare(base: str, rounds: int) -> dict:
    commit = subprocess.run(["git", "rev-parse", "--short", base], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.strip()
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.strip()
    head += " (with uncommitted changes)" if dirty else ""
    with tempfile.TemporaryDirectory(prefix="cycles-base-") as folder:
        worktree = Path(folder) / "base"
        subprocess.run(["git", "worktree", "add", "--detach", str(worktree), commit], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            timings = {"base": [], "current": []}
            for _ in range(rounds):
                timings["base"].append(_timed(worktree))
                timings["current"].append(_timed(ROOT))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, check=False,
                           capture_output=True)
    best = {k: max(v, key=lambda t: t["agent_steps_per_second"]) for k, v in timings.items()}
    return {
        "case": f"{COUPLES:,} anxious-avoidant couples x {DAYS} days, one core, best of {rounds} alternating rounds",
        "base_commit": commit, "current_commit": head,
        "base_agent_steps_per_second": round(best["base"]["agent_steps_per_second"]),
        "current_agent_steps_per_second": round(best["current"]["agent_steps_per_second"]),
        "speed_up": round(best["current"]["agent_steps_per_second"] / best["base"]["agent_steps_per_second"], 2),
        "same_outcomes": (best["base"]["share_escalating"] == best["current"]["share_escalating"]
                          and abs(best["base"]["intensity_mean"] - best["current"]["intensity_mean"]) < 1e-12),
        "rounds": {k: [round(t["agent_steps_per_second"]) for t in v] for k, v in timings.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default=START, help=f"the earlier commit (default {START})")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--case", metavar="PATH", help=argparse.SUPPRESS)
    parser.add_argument("--write", action="store_true", help="store the result in benchmarks/engine_against.json")
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case)))
        return
    result = compare(args.base, args.rounds)
    text = json.dumps(result, indent=2)
    print(text)
    if args.write:
        (ROOT / "benchmarks" / "engine_against.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
