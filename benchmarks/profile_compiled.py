"""Where the compiled kernel spends its time, instruction by instruction (Linux ``perf`` and ``objdump``).

    python benchmarks/profile_compiled.py              # prints a JSON document
    python benchmarks/profile_compiled.py --write      # also stores benchmarks/profile_compiled.json

numba's machine code has no symbols that ``perf`` could name, so the engine
runs under ``perf record`` (the software clock, which works in virtual
machines without hardware counters) and, once it is done, copies its
anonymous executable memory (where numba's code lives) to files. The samples
that fall in the region holding most of them are counted per instruction of its
disassembly and summed over straight-line stretches (from one jump, call or
return to the next): each stretch is a loop body or a part of one, and its
instruction mix says which stage of the day it is (the equations are the one
with some 670 vector instructions and a dozen ``vdivpd``; the per-couple
histogram counts use ``incw``; gathers, ``vpgatherqq`` or byte inserts
``vpinsrb``, mean a load that did not vectorise as a plain load). This is how
the gathers behind indices written ``first + c`` were found
(docs/performance.md). The software clock's samples land near, not exactly
on, the instruction that stalls, so read stretches, not single instructions.
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COUPLES, DAYS, RUNS = 50_000, 365, 3
SAMPLES_PER_SECOND = 10_000
ENDS_STRETCH = ("j", "call", "ret")


def run_case(folder: str) -> None:
    """Run the engine, then copy this process's anonymous executable memory into ``folder``."""
    sys.path.insert(0, str(ROOT))
    from sim.engine import simulate
    from sim.population import make_population
    simulate(make_population("anxious-avoidant", COUPLES, 1), 1)     # compiled code loaded before the clock
    pop = make_population("anxious-avoidant", COUPLES, 1, overrides=["shock_day=100"])
    rates = []
    for _ in range(RUNS):
        started = time.perf_counter()
        simulate(pop, DAYS)
        rates.append(2 * COUPLES * DAYS / (time.perf_counter() - started))
    for line in Path("/proc/self/maps").read_text().splitlines():
        parts = line.split()
        if "x" in parts[1] and len(parts) < 6:          # executable and not backed by a file: JIT code
            low, high = (int(x, 16) for x in parts[0].split("-"))
            (Path(folder) / f"region_{low:x}.bin").write_bytes(ctypes.string_at(low, high - low))
    (Path(folder) / "rates.json").write_text(json.dumps(rates))


def _stretches(disassembly: str, samples: collections.Counter) -> list[dict]:
    rows = []
    for line in disassembly.splitlines():
        found = re.match(r"\s*([0-9a-f]+):\s*(\S.*)", line)
        if found:
            rows.append((int(found.group(1), 16), found.group(2)))
    stretches, start = [], 0
    for k, (_, instruction) in enumerate(rows):
        if instruction.startswith(ENDS_STRETCH) or k == len(rows) - 1:
            body = rows[start:k + 1]
            count = sum(samples.get(offset, 0) for offset, _ in body)
            mix = collections.Counter(instruction.split()[0] for _, instruction in body)
            stretches.append({"offset": f"{body[0][0]:x}-{body[-1][0]:x}", "instructions": len(body),
                              "samples": count, "mix": dict(mix.most_common(6))})
            start = k + 1
    return stretches


def main() -> dict:
    for tool in ("perf", "objdump"):
        if shutil.which(tool) is None:
            raise SystemExit(f"profile_compiled: needs {tool!r} on PATH (Debian: linux-perf, binutils)")
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "perf.data"
        subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", str(SAMPLES_PER_SECOND), "-o", str(data),
                        sys.executable, __file__, "--case", folder], check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL)
        ips = subprocess.run(["perf", "script", "-i", str(data), "-F", "ip"], capture_output=True, text=True,
                             check=True).stdout.split()
        addresses = [int(ip, 16) for ip in ips]

        def inside(region: Path) -> list[int]:
            low = int(region.stem.split("_")[1], 16)
            return [a - low for a in addresses if low <= a < low + region.stat().st_size]

        # The region with the most samples holds the kernel (numba may have put other code in other regions).
        region = max(Path(folder).glob("region_*.bin"), key=lambda r: len(inside(r)))
        samples = collections.Counter(inside(region))
        disassembly = subprocess.run(["objdump", "-D", "-b", "binary", "-mi386:x86-64", "--no-show-raw-insn",
                                      str(region)], capture_output=True, text=True, check=True).stdout
        rates = json.loads((Path(folder) / "rates.json").read_text())
    inside = sum(samples.values())
    stretches = sorted(_stretches(disassembly, samples), key=lambda s: -s["samples"])[:25]
    for stretch in stretches:
        stretch["share_of_compiled"] = round(stretch.pop("samples") / max(inside, 1), 3)
    return {"case": f"{COUPLES:,} anxious-avoidant couples x {DAYS} days, {RUNS} runs under perf record "
                    f"(cpu-clock, {SAMPLES_PER_SECOND} Hz)",
            "agent_steps_per_second_under_the_profiler": round(max(rates)),
            "samples": len(ips), "samples_in_compiled_code": inside,
            "hottest_stretches": stretches}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--write", action="store_true", help="store the result in benchmarks/profile_compiled.json")
    args = parser.parse_args()
    if args.case:
        run_case(args.case)
    else:
        result = main()
        text = json.dumps(result, indent=2)
        print(text)
        if args.write:
            (ROOT / "benchmarks" / "profile_compiled.json").write_text(text + "\n")
