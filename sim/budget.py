"""What a job will cost before it starts: runs, couple-days, peak memory, disk and time.

Every command that simulates works out an :class:`Estimate` from its sizes
alone (nothing is built or run), prints it, and refuses (exit 2) a job that
cannot fit this machine's memory or free disk, or that would run longer than
``--max-hours``. The limits on sizes that specs and the command line share are
declared here once (:data:`LIMITS`).

The cost figures are measured, not guessed (this machine kind: 2 cores,
2026-11-22; ``docs/performance.md`` has the engine's rates):

- the batch engine steps about 6.5 million couple-days per second per core
  (13 M agent-steps/s), the Mesa model about 13,000; a sweep's worker, which
  also reduces and packs its chunk's tables, about 2.1 million (4.2 M
  couple-days/s on 2 cores for the main job);
- a process with numpy, pandas and numba loaded holds about 300 MB;
- ``cycles run`` keeps its daily table: about 350 bytes of memory and 95 bytes
  of Parquet per row (2,000 couples x 365 days: 770 MB peak, 132 MB on disk),
  and writing it costs about 1.8 microseconds per row;
- a sweep's run table takes about 280 bytes per couple-run in memory (held
  three times over while merged and written) and its per-day statistics about
  40 bytes per row; each task's histograms take ``BINS`` int32 counts per
  day, cell, role and variable.

Estimates err on the generous side: they decide refusals, and a refusal of a
job that would have fitted is cheaper than a MemoryError after hours.
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from sim.schema import HISTOGRAM_BINS, SERIES_VARIABLES, STATISTICS

BASE_PROCESS_BYTES = 300e6
BATCH_COUPLE_DAYS_PER_SECOND = 7.5e6         # per core (15 M agent-steps/s, docs/performance.md)
SWEEP_COUPLE_DAYS_PER_SECOND = 2.4e6         # per worker, tables included (main job: 2.27e6 per worker, 2026-12-01)
MESA_COUPLE_DAYS_PER_SECOND = 13e3
DAILY_ROW_BYTES_MEMORY = 350.0
DAILY_ROW_BYTES_DISK = 95.0
DAILY_ROW_WRITE_SECONDS = 1.8e-6
RUN_ROW_BYTES_MEMORY = 280.0
RUN_ROW_BYTES_DISK = 120.0
SERIES_ROW_BYTES_MEMORY = 40.0
SERIES_ROW_BYTES_DISK = 16.0
CELL_BYTES = 1_000.0                          # one design cell: its dict, its row of cells.parquet
COHORT_FIT_SECONDS = 0.5                      # one mixed model of a few hundred couples, with margin
VECTORISED_FIT_SECONDS = 0.01                 # the power loop's clustered OLS of one cohort (sim.study.analysis)
COHORT_SECONDS = 0.02                         # building, measuring and tabling one cohort, beside the engine
COUPLE_SETUP_SECONDS = 25e-6                  # one couple's SeedSequence key and population row
POOL_START_SECONDS = 2.0                      # worker processes importing sim and loading compiled code, in parallel
CHUNK_SECONDS = 0.03                          # a chunk's hand-over and its tables, beside the engine (small chunks)
DISCOVERY_IMPORT_SECONDS = 4.0                # importing EMA Workbench (4.2 s measured, 2026-12-01)
DISCOVERY_RUN_SECONDS = 5e-4                  # PRIM's peeling, per run and box (3.8 s for 2 boxes of 4,000 runs)
MEMORY_SHARE = 0.8                            # of what the machine has free: leave room for everything else


@dataclass(frozen=True)
class Limits:
    """Sizes that specs and the command line share (the upper ends of their declared ranges)."""

    days: int = 100_000
    couples: int = 1_000_000          # couples in one run, per design cell, or in one virtual cohort
    cells: int = 1_000_000            # design cells of one sweep
    levels: int = 10_000              # levels of one factor
    points: int = 1_000_000           # sampled points (Latin hypercube, Sobol)
    samples: int = 1_000_000          # virtual cohorts for power
    demo_days: int = 3_650            # the demo page holds one frame per day: ten years is a long lesson
    formula_characters: int = 2_000
    formula_terms: int = 50
    # Default time budget. A job of more than an hour on a workstation is deliberate, and a typo in days or
    # replicates is far more common than a deliberate one; --max-hours says so and raises it.
    max_hours: float = 1.0


LIMITS = Limits()


class BudgetError(ValueError):
    """A job that does not fit: one line naming the size, the estimate and what is allowed."""


@dataclass(frozen=True)
class Estimate:
    """The cost of a job, worked out from its sizes."""

    what: str                 # e.g. "176,400 runs of 730 days"
    couple_days: float
    memory_bytes: float       # peak, all processes together
    disk_bytes: float
    seconds: float
    cause: str                # the sizes that drive the cost, for refusals: e.g. "replicates x days"

    def line(self) -> str:
        """The estimate as the one line a command prints before it starts."""
        return (f"estimate: {self.what}, {_count(self.couple_days)} couple-days, peak memory "
                f"{_bytes(self.memory_bytes)}, disk {_bytes(self.disk_bytes)}, about {_duration(self.seconds)}")


def _count(x: float) -> str:
    return f"{x:,.0f}" if x < 1e9 else f"{x:.2g}"


def _bytes(x: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if x >= size:
            return f"{x / size:,.1f} {unit}"
    return f"{x / 1e3:,.0f} kB"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{max(seconds, 1):.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400 * 3:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:,.0f} days"


def available_memory() -> float:
    """Bytes this process may still use: the smaller of MemAvailable and the cgroup's limit."""
    free = math.inf
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                free = float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = float(Path("/sys/fs/cgroup/memory.current").read_text())
        if limit != "max":
            free = min(free, float(limit) - used)
    except (OSError, ValueError):
        pass
    if not math.isfinite(free):
        free = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return free


def free_disk(path: str | os.PathLike) -> float:
    """Free bytes on the disk that holds ``path`` (or its nearest existing parent)."""
    folder = Path(path).absolute()
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    try:
        return float(shutil.disk_usage(folder).free)
    except OSError:
        return math.inf


def cores() -> int:
    """CPU cores this process may use (its CPU affinity where the platform reports one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def run_estimate(couples: int, days: int, engine: str = "batch") -> Estimate:
    """``cycles run``: every couple's daily table is kept and written."""
    couple_days = float(couples) * days
    rows = 2.0 * couples * (days + 1)
    rate = BATCH_COUPLE_DAYS_PER_SECOND if engine == "batch" else MESA_COUPLE_DAYS_PER_SECOND
    # The Mesa model's DataCollector holds each agent-day as a Python dict: about ten times the table.
    row_memory = DAILY_ROW_BYTES_MEMORY * (10 if engine == "mesa" else 1)
    return Estimate(f"{couples:,} couple(s) x {days:,} days ({engine} engine)", couple_days,
                    BASE_PROCESS_BYTES + rows * row_memory, rows * DAILY_ROW_BYTES_DISK,
                    couple_days / rate + rows * DAILY_ROW_WRITE_SECONDS, "--couples x --days")


def demo_estimate(days: int) -> Estimate:
    """``cycles demo``: one couple through the Mesa model, one frame per day."""
    return Estimate(f"one couple x {days:,} days", float(days), BASE_PROCESS_BYTES + days * 50e3, days * 6e3,
                    days / MESA_COUPLE_DAYS_PER_SECOND + days * 5e-3, "--days")


def sweep_estimate(cells: int, replicates: int, days: int, chunk_cells: int, series_every: int,
                   sampled_couples: int, workers: int, discovery_boxes: int = 0) -> Estimate:
    """``cycles sweep``: chunks of cells run on ``workers`` processes; the main process merges the tables.

    ``discovery_boxes``: PRIM boxes to find over the runs afterwards (a spec's [discovery]), 0 for none.
    """
    runs = float(cells) * replicates
    couple_days = runs * days
    kept_days = days // series_every + 2
    series_rows_per_cell = kept_days * 2 * (len(STATISTICS) + min(sampled_couples, replicates))
    chunk_couples = min(cells, chunk_cells) * replicates
    histograms = (days + 1) * min(cells, chunk_cells) * 2 * len(SERIES_VARIABLES) * (HISTOGRAM_BINS * 4 + 8)
    task = (BASE_PROCESS_BYTES + histograms + chunk_couples * (RUN_ROW_BYTES_MEMORY + 400)
            + min(cells, chunk_cells) * series_rows_per_cell * SERIES_ROW_BYTES_MEMORY * 3)
    merge = BASE_PROCESS_BYTES + cells * CELL_BYTES + 3 * runs * RUN_ROW_BYTES_MEMORY
    in_process = workers <= 1
    memory = max(merge, task) if in_process else merge + workers * task
    disk = runs * RUN_ROW_BYTES_DISK + cells * series_rows_per_cell * SERIES_ROW_BYTES_DISK + cells * CELL_BYTES
    chunks = math.ceil(cells / max(1, chunk_cells))
    seconds = (couple_days / (SWEEP_COUPLE_DAYS_PER_SECOND * max(1, workers)) + runs * 5e-6
               + chunks * CHUNK_SECONDS / max(1, workers) + (POOL_START_SECONDS if workers > 1 else 0.0))
    if discovery_boxes:
        seconds += DISCOVERY_IMPORT_SECONDS + runs * discovery_boxes * DISCOVERY_RUN_SECONDS
    return Estimate(f"{cells:,} cells x {replicates:,} couples = {runs:,.0f} runs of {days:,} days on "
                    f"{max(1, workers)} worker(s)", couple_days, memory, disk, seconds,
                    "cells x replicates x days")


def study_estimate(couples: int, days: int, samples: int, sizes: list[int], workers: int,
                   power_analysis: str = "vectorised") -> Estimate:
    """``cycles study``: one cohort written and analysed, plus ``samples`` cohorts per size for power.

    The first cohort gets the mixed model; the power cohorts the vectorised estimator unless
    ``power_analysis`` is "same".
    """
    cohorts = [couples] + ([n for n in sizes for _ in range(samples)] if samples > 1 or len(sizes) > 1 else [])
    couple_days = float(sum(cohorts)) * days
    biggest = max(cohorts)
    memory = BASE_PROCESS_BYTES * (1 + max(1, workers)) + biggest * 2 * 3_000.0 + len(cohorts) * 2_000.0
    power_fit = COHORT_FIT_SECONDS if power_analysis == "same" else VECTORISED_FIT_SECONDS
    fits = [COHORT_FIT_SECONDS] + [power_fit] * (len(cohorts) - 1)
    seconds = (couple_days / BATCH_COUPLE_DAYS_PER_SECOND + sum(cohorts) * COUPLE_SETUP_SECONDS
               + sum(COHORT_SECONDS + fit * max(1.0, n / 326) for n, fit in zip(cohorts, fits, strict=True))
               ) / max(1, workers)
    return Estimate(f"{len(cohorts):,} cohort(s) of up to {biggest:,} couples over {days:,} days", couple_days,
                    memory, couples * 2 * 400.0 + len(cohorts) * 2_000.0, seconds, "--samples x --n")


def sensitivity_estimate(points: int, replicates: int, days: int, workers: int) -> Estimate:
    """``cycles sensitivity``: ``points`` sample points, ``replicates`` couples each."""
    runs = float(points) * replicates
    couple_days = runs * days
    memory = BASE_PROCESS_BYTES * (1 + max(1, workers)) + points * 50 * 8.0 * 3 + 50 * replicates * 400.0
    return Estimate(f"{points:,} sample points x {replicates:,} couples = {runs:,.0f} runs of {days:,} days",
                    couple_days, memory, points * 50 * 8.0,
                    couple_days / (SWEEP_COUPLE_DAYS_PER_SECOND * max(1, workers)), "points x replicates x days")


def check(estimate: Estimate, out: str | os.PathLike | None, max_hours: float | None = None) -> None:
    """Refuse a job that cannot fit this machine's memory or free disk, or would outlast ``max_hours``."""
    memory = available_memory() * MEMORY_SHARE
    if estimate.memory_bytes > memory:
        raise BudgetError(f"{estimate.cause}: {estimate.what} needs about {_bytes(estimate.memory_bytes)} of "
                          f"memory; expected a job within the {_bytes(memory)} this machine has free "
                          "(make it smaller, or split it)")
    if out is not None:
        disk = free_disk(out)
        if estimate.disk_bytes > disk:
            raise BudgetError(f"{estimate.cause}: {estimate.what} writes about {_bytes(estimate.disk_bytes)}; "
                              f"expected at most the {_bytes(disk)} free where it writes ({out})")
    hours = LIMITS.max_hours if max_hours is None else max_hours
    if estimate.seconds > hours * 3600:
        raise BudgetError(f"{estimate.cause}: {estimate.what} would take about {_duration(estimate.seconds)}; "
                          f"expected at most {hours:g} h (--max-hours raises the limit)")
