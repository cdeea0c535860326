"""The main job's speed and memory, beside the same work through mesa.batch_run.

    python benchmarks/sweep_speed.py [--workers 2]     # prints a JSON document

1. ``cycles sweep experiments/support_balance.toml`` (176,400 couple-runs of 730
   days) in a subprocess, with the resident memory of the whole process tree
   (the command and its workers) sampled every 0.1 s: wall time and peak total.
2. ``mesa.batch_run`` over the same model on a slice of the same design
   (2 cells x 5 couples of 730 days, one process), timed and extrapolated to
   the whole design on the same number of workers.
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
SPEC = ROOT / "experiments" / "support_balance.toml"


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, from /proc."""
    total, stack, seen = 0, [pid], set()
    page = os.sysconf("SC_PAGE_SIZE")
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            with open(f"/proc/{current}/statm") as handle:
                total += int(handle.read().split()[1]) * page
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    stack.extend(int(x) for x in handle.read().split())
        except (OSError, ValueError):
            continue
    return total / 1e6


def run_sweep(workers: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "support_balance"
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "sim.cli", "sweep", str(SPEC), "--workers", str(workers),
                                    "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   cwd=ROOT)
        peak = 0.0
        while process.poll() is None:
            peak = max(peak, _tree_rss_mb(process.pid))
            time.sleep(0.1)
        seconds = time.perf_counter() - started
        stdout, stderr = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(stderr)
        sizes = {p.name: round(p.stat().st_size / 1e6, 1) for p in out.iterdir()}
        manifest = json.loads((out / "manifest.json").read_text())
    return {"workers": workers, "wall_seconds": round(seconds, 1), "sweep_seconds": manifest["seconds"],
            "runs": manifest["runs"], "peak_rss_tree_mb": round(peak), "file_sizes_mb": sizes,
            "couple_days_per_second": round(manifest["runs"] * 730 / manifest["seconds"])}


def run_mesa_slice(workers: int, total_runs: int) -> dict:
    import mesa

    from sim.model import CoupleModel
    cells = [["responsiveness=0.2", "goal_support=0.5"], ["responsiveness=0.8", "goal_support=0.5"]]
    couples = 5
    started = time.perf_counter()
    results = mesa.batch_run(CoupleModel, parameters={"pairing": "anxious-avoidant", "overrides": cells,
                                                      "days": 730}, max_steps=730,
                             number_processes=1, data_collection_period=-1, display_progress=False,
                             rng=list(range(couples)))
    seconds = time.perf_counter() - started
    runs = len(cells) * couples
    per_run = seconds / runs
    return {"slice_runs": runs, "batch_run_result_rows": len(results), "slice_seconds": round(seconds, 2),
            "seconds_per_couple_run": round(per_run, 3),
            "extrapolated_seconds_for_main_job": round(per_run * total_runs / workers),
            "extrapolated_hours_for_main_job": round(per_run * total_runs / workers / 3600, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    sweep = run_sweep(args.workers)
    mesa = run_mesa_slice(args.workers, sweep["runs"])
    print(json.dumps({"cycles_sweep": sweep, "mesa_batch_run": mesa,
                      "speed_up": round(mesa["extrapolated_seconds_for_main_job"] / sweep["sweep_seconds"])},
                     indent=2))


if __name__ == "__main__":
    main()
