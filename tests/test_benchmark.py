"""The engine's speed is a tested property (Covasim's test_benchmark habit).

The stored reference (benchmarks/engine_check.json, written by
``python benchmarks/engine_check.py --write``) is the engine's rate times the
time of a fixed pure-Python workload on the machine that stored it; the
product travels between machines roughly as the single-core speed does. The
test fails when today's product is more than 30% below the stored one: a
slower engine, not a slower machine. A shared machine has noisy
neighbours, so a measurement below the floor is repeated, up to three in all,
and the best counts: a slower engine fails all three.
"""

import importlib.util
import json
from pathlib import Path

_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "engine_check.py"
_SPEC = importlib.util.spec_from_file_location("engine_check", _PATH)
engine_check = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(engine_check)


def test_engine_is_not_slower_than_its_stored_rate():
    stored = json.loads(engine_check.REFERENCE.read_text())
    floor = (1 - engine_check.TOLERANCE) * stored["agent_steps_per_machine_second"]
    for _ in range(3):
        now = engine_check.measure()
        if now["agent_steps_per_machine_second"] >= floor:
            break
    assert now["agent_steps_per_machine_second"] >= floor, (
        f"engine at {now['agent_steps_per_second']:,} agent-steps/s with a machine workload of "
        f"{now['machine_seconds']:.4f} s: {now['agent_steps_per_machine_second']:,} per machine-second, below 70% "
        f"of the stored {stored['agent_steps_per_machine_second']:,} ({stored['agent_steps_per_second']:,} at "
        f"{stored['machine_seconds']:.4f} s)")
