"""Running a design: chunks of cells on any ``concurrent.futures.Executor``, written as they finish.

- Work: each chunk of cells is one task (:func:`run_chunk`), a pure function
  of the design and the chunk's cell range. Couples are seeded by
  ``SeedSequence(root, spawn_key=(cell, replicate))``, so results do not
  depend on chunking, order or the number of workers.
- Executors: in-process for one worker, a process pool for several, or a Dask
  cluster (``client.get_executor(pure=False)``). Workers return tables; only
  this process writes files, so a remote cluster needs no shared disk.
- Storage: each finished chunk is written atomically to ``chunks/`` under the
  output folder, so memory stays flat and an interrupted sweep (Ctrl-C or
  kill -9) resumes where it stopped. When every chunk is there, the final
  tables are written (atomically) and ``chunks/`` is removed.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import time
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from sim.experiment.spec import Design
from sim.schema import CLASSES, FORMAT_VERSION, MIXED, SERIES_VARIABLES, STATISTICS
from sim.manifest import build as build_manifest
from sim.manifest import now
from sim.storage import atomic_output, write_json, write_parquet



CATEGORICAL_FACTORS = ("pairing", "intervention")   # factors whose levels are names, not parameter values


class SweepError(RuntimeError):
    """A sweep that cannot go on as asked (e.g. a changed spec over a partial run)."""


# --- the work of one chunk ------------------------------------------------------

def population_for(design: Design, cells: range):
    """The couples of a range of cells: replicate r of cell c has spawn key (seed cell of c, r).

    The seed cell is the cell itself, except that cells differing only in the
    intervention share seeds (Design.seed_cell).
    """
    from sim.population import Population, make_population
    spec = design.spec
    reps = spec.replicates
    spawn = [(design.seed_cell(c), r) for c in cells for r in range(reps)]
    fixed = [f"{key}={value}" for key, value in spec.fixed.items()]
    couple_cells = np.repeat(np.arange(len(cells)), reps)
    values = {name: np.array([design.cells[c][name] for c in cells], dtype=float)[couple_cells]
              for name in design.factor_names if name not in CATEGORICAL_FACTORS}
    if "pairing" not in design.factor_names:
        pop = make_population(spec.population.pairing, len(spawn), spec.seed, drawn=spec.population.drawn,
                              overrides=fixed, spawn_keys=spawn, values=values)
    else:
        pop = Population.concat([make_population(design.cells[c]["pairing"], reps, spec.seed, overrides=fixed,
                                                 spawn_keys=spawn[i * reps:(i + 1) * reps],
                                                 values={k: v[i * reps:(i + 1) * reps] for k, v in values.items()})
                                 for i, c in enumerate(cells)])
    if "intervention" in design.factor_names:
        for i, c in enumerate(cells):
            pop = pop.with_intervention(design.cells[c]["intervention"], spec.interventions,
                                        couples=slice(i * reps, (i + 1) * reps))
    return pop


def run_chunk(design: Design, index: int) -> dict[str, pd.DataFrame]:
    """Simulate one chunk of cells; returns its runs and series tables (nothing is written here)."""
    from sim.engine import simulate
    spec = design.spec
    cells = design.chunks()[index]
    reps = spec.replicates
    pop = population_for(design, cells)
    couple_cell = np.repeat(np.asarray(cells), reps)
    replicate = np.tile(np.arange(reps), len(cells))
    sampled = np.flatnonzero(replicate < spec.record.sampled_couples)
    result = simulate(pop, spec.days, series_couples=sampled if len(sampled) else None,
                      groups=couple_cell - cells.start)
    describe = pd.DataFrame({"cell": couple_cell, "replicate": replicate, "pairing": pop.pairing,
                             **{name: [design.cells[c][name] for c in couple_cell]
                                for name in design.factor_names if name != "pairing"},
                             "seed_cell": [design.seed_cell(c) for c in couple_cell],
                             "seed_key": pop.keys.astype(np.uint64)})
    runs = pd.concat([describe, result.outcomes], axis=1)
    return {"runs": runs, "series": _series_table(design, cells, result, couple_cell, replicate)}


def _series_table(design: Design, cells: range, result, couple_cell, replicate) -> pd.DataFrame:
    """Per cell, day and role: statistics over the cell's couples, and the sampled couples' own series."""
    spec = design.spec
    days = np.unique(np.r_[np.arange(0, spec.days + 1, spec.record.series_every), spec.days])
    count, values = result.aggregator.statistics(days)              # (D, G, 2), (D, G, 2, V, S)
    n_days, n_groups = count.shape[:2]
    # Rows ordered cell, statistic, day, role.
    by_row = values.transpose(1, 4, 0, 2, 3).reshape(-1, len(SERIES_VARIABLES))
    shape = (n_groups, len(STATISTICS), n_days, 2)
    table = pd.DataFrame({
        "cell": np.broadcast_to((np.arange(n_groups) + cells.start)[:, None, None, None], shape).ravel(),
        "day": np.broadcast_to(days[None, None, :, None], shape).ravel(),
        "role": np.broadcast_to(np.array(["a", "b"])[None, None, None, :], shape).ravel(),
        "statistic": np.broadcast_to(np.array(STATISTICS)[None, :, None, None], shape).ravel(),
        "replicate": -1,
        "couples": np.broadcast_to(count.transpose(1, 0, 2)[:, None, :, :], shape).ravel(),
        **{v: by_row[:, i] for i, v in enumerate(SERIES_VARIABLES)},
    })
    parts = [table]
    if result.series is not None:
        s = result.series
        s = s[s["day"].isin(days)]
        parts.append(pd.DataFrame({
            "cell": couple_cell[s["couple_id"].to_numpy()], "day": s["day"].to_numpy(), "role": s["role"].to_numpy(),
            "statistic": "couple", "replicate": replicate[s["couple_id"].to_numpy()], "couples": 1,
            **{v: s[v].to_numpy() for v in SERIES_VARIABLES}}))
    table = pd.concat(parts, ignore_index=True)
    table = table.astype({"cell": np.int32, "day": np.int32, "replicate": np.int32, "couples": np.int32,
                          **{v: np.float32 for v in SERIES_VARIABLES}})
    table["statistic"] = pd.Categorical(table["statistic"], categories=[*STATISTICS, "couple"])
    table["role"] = pd.Categorical(table["role"], categories=["a", "b"])
    return table.sort_values(["cell", "statistic", "replicate", "day", "role"], kind="stable") \
        .reset_index(drop=True)


# --- executors ------------------------------------------------------------------

class InProcessExecutor(Executor):
    """Runs each task when it is submitted, in this process (one worker)."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(exc)
        return future


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@dataclass
class ExecutorChoice:
    """An executor and how to describe and close it."""

    executor: Executor
    description: str
    close: Callable[[], None]


def check_dask(address: str | None, timeout: float = 5.0) -> None:
    """A --dask address must be 'local' or tcp://HOST:PORT of a scheduler that answers; checked before any work."""
    if address is None or address == "local":
        if address == "local":
            _dask_installed()
        return
    import re
    import socket
    match = re.fullmatch(r"tcp://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})", address)
    if not match or not 1 <= int(match.group(2)) <= 65535:
        raise SweepError(f"--dask: address {address!r} is not allowed; expected tcp://HOST:PORT of a Dask "
                         "scheduler, or 'local'")
    _dask_installed()
    host, port = match.group(1).strip("[]"), int(match.group(2))
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise SweepError(f"--dask: no scheduler answers at {address} ({exc.strerror or exc}); expected the "
                         "address of a running Dask scheduler") from None


def _dask_installed() -> None:
    import importlib.util
    if importlib.util.find_spec("distributed") is None:
        raise SweepError("--dask: needs the dask extra: pip install 'cycles[dask]'")


def make_executor(workers: int | None = None, dask: str | None = None) -> ExecutorChoice:
    """In-process (1 worker), a process pool (N workers), or Dask (an address, or "local")."""
    if dask:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise SweepError("--dask needs the dask extra: pip install 'cycles[dask]'") from None
        if dask == "local":
            cluster = LocalCluster(n_workers=workers or available_cores(), threads_per_worker=1,
                                   processes=True, dashboard_address=None)
            client = Client(cluster)

            def close():
                client.close()
                cluster.close()
            description = f"dask LocalCluster ({len(cluster.workers)} workers)"
        else:
            try:
                client = Client(dask, timeout=10)
            except (OSError, TimeoutError) as exc:
                raise SweepError(f"--dask: cannot connect to {dask} ({exc})") from None
            close = client.close
            description = f"dask {dask}"
        return ExecutorChoice(client.get_executor(pure=False), description, close)
    workers = workers or available_cores()
    if workers == 1:
        return ExecutorChoice(InProcessExecutor(), "in-process (1 worker)", lambda: None)
    import multiprocessing
    from sim.processes import worker_started
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=worker_started, initargs=(os.getpid(),))
    return ExecutorChoice(pool, f"process pool ({workers} workers)", lambda: pool.shutdown(cancel_futures=True))


def bounded_map(executor: Executor, fn: Callable, tasks: Iterable[tuple], window: int):
    """Yield ``(args, fn(*args))`` as tasks finish, with at most ``window`` in flight.

    Finished results are handed over and released at once, and tasks not yet
    submitted are only a lazy iterator, so memory stays flat however many
    tasks there are.
    """
    queue = iter(tasks)
    pending: dict[Future, tuple] = {}
    while True:
        while len(pending) < window:
            args = next(queue, None)
            if args is None:
                break
            pending[executor.submit(fn, *args)] = args
        if not pending:
            return
        future = next(as_completed(pending))
        args = pending.pop(future)
        yield args, future.result()


def check_replaceable(out: Path, command: str, fingerprint: str, force: bool = False) -> None:
    """A study's or sensitivity analysis' output folder must be new, empty, or hold this same spec's results.

    Anything else (a sweep's results, another spec's, an unreadable
    manifest) is refused unless ``force``; nothing is written here.
    """
    if force or not out.exists():
        return
    if not out.is_dir():
        raise SweepError(f"--out: {out} is a file; expected a results folder")
    manifest_path = out / "manifest.json"
    if manifest_path.exists():
        manifest = read_json_object(manifest_path)
        if manifest is None:
            raise SweepError(f"{manifest_path}: unreadable (not a JSON object); use --force to replace it")
        if manifest.get("command") == command and manifest.get("fingerprint") == fingerprint:
            return
        raise SweepError(f"{out} holds results of {manifest.get('command', 'another command')} "
                         f"{manifest.get('name', '')!s}; use --force to replace them or --out to write elsewhere")
    if (out / "chunks").exists() or any(out.glob("*.parquet")):
        raise SweepError(f"{out} holds other results; use --force to replace them or --out to write elsewhere")


# --- progress -------------------------------------------------------------------

class Progress:
    """Runs done, runs per second and time left: a bar on a terminal, plain lines otherwise."""

    def __init__(self, total: int, done: int = 0, stream=None, every_seconds: float = 5.0, unit: str = "run"):
        self.total, self.done = total, done
        self.unit = unit
        self.stream = stream or sys.stderr
        self.started = time.perf_counter()
        self.start_done = done
        self.every = every_seconds
        self.last_line = 0.0
        self.bar = None
        if getattr(self.stream, "isatty", lambda: False)():
            from tqdm import tqdm
            self.bar = tqdm(total=total, initial=done, unit=unit, unit_scale=True, file=self.stream,
                            dynamic_ncols=True, smoothing=0.1)

    def advance(self, runs: int) -> None:
        self.done += runs
        if self.bar is not None:
            self.bar.update(runs)
            return
        now_ = time.perf_counter()
        if now_ - self.last_line >= self.every or self.done >= self.total:
            self.last_line = now_
            print(self.line(), file=self.stream, flush=True)

    def line(self) -> str:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        rate = (self.done - self.start_done) / elapsed
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        share = self.done / self.total if self.total else 1.0
        return (f"{self.unit}s {self.done:,}/{self.total:,} ({share:.0%}), {rate:,.1f} {self.unit}s/s, "
                f"{_duration(left)} left")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


# --- the sweep ------------------------------------------------------------------

@dataclass
class SweepResult:
    out: Path
    runs: int
    seconds: float
    executor: str
    resumed_chunks: int
    already_complete: bool = False


def _chunk_paths(folder: Path, index: int) -> tuple[Path, Path]:
    return folder / f"chunk-{index:06d}.runs.parquet", folder / f"chunk-{index:06d}.series.parquet"


FINGERPRINT_KEY = b"cycles.fingerprint"


def _write_chunk_table(frame: pd.DataFrame, path: Path, fingerprint: str) -> None:
    """A chunk's table, stamped with the design's fingerprint so a resume can tell whose it is."""
    import pyarrow as pa
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), FINGERPRINT_KEY: fingerprint.encode()})
    with atomic_output(path) as tmp:
        pq.write_table(table, tmp)


def _chunk_is_sound(paths: tuple[Path, Path], fingerprint: str, runs: int) -> bool:
    """Both files readable, stamped with this design's fingerprint, and the runs table of the right length."""
    try:
        metadata = [pq.read_metadata(path) for path in paths]
    except (OSError, ValueError, Exception):  # noqa: BLE001 - pyarrow reports junk files in several ways
        return False
    stamps = [(m.metadata or {}).get(FINGERPRINT_KEY) for m in metadata]
    return all(stamp == fingerprint.encode() for stamp in stamps) and metadata[0].num_rows == runs


def read_json_object(path: Path) -> dict | None:
    """A JSON file holding an object, or None when it is unreadable, not JSON or not an object."""
    import json
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def check_output_folder(design: Design, out: Path, force: bool = False) -> str | None:
    """Whether ``out`` may take this design's results; raises SweepError saying why not.

    Returns "complete" when it already holds this design's complete results.
    Nothing is written: this runs before any work.
    """
    if force or not out.exists():
        return None
    if not out.is_dir():
        raise SweepError(f"--out: {out} is a file; expected a results folder")
    fingerprint = design.fingerprint()
    manifest_path, state_path = out / "manifest.json", out / "chunks" / "design.json"
    if state_path.exists():
        state = read_json_object(state_path)
        if state is None:
            raise SweepError(f"{state_path}: unreadable (not a JSON object); use --force to start over")
        if state.get("fingerprint") != fingerprint:
            raise SweepError(f"{out} holds a partial run of a different spec (design {state.get('fingerprint')}, "
                             f"this spec {fingerprint}); use --force to start over")
        return None
    if manifest_path.exists():
        manifest = read_json_object(manifest_path)
        if manifest is None:
            raise SweepError(f"{manifest_path}: unreadable (not a JSON object); use --force to replace it")
        if manifest.get("fingerprint") == fingerprint and manifest.get("complete"):
            return "complete"
        raise SweepError(f"{out} holds results of a different spec or command; use --force to replace them "
                         "or --out to write elsewhere")
    if any(out.glob("*.parquet")):
        raise SweepError(f"{out} holds results without a manifest; use --force to replace them or --out to write "
                         "elsewhere")
    return None


def sweep(design: Design, out: str | Path, workers: int | None = None, dask: str | None = None,
          force: bool = False, progress_stream=None) -> SweepResult:
    """Run a design into ``out``, resuming a partial run of the same design."""
    out = Path(out)
    chunks_dir = out / "chunks"
    fingerprint = design.fingerprint()
    manifest_path = out / "manifest.json"
    state_path = chunks_dir / "design.json"
    if check_output_folder(design, out, force) == "complete":
        return SweepResult(out, design.n_runs, 0.0, "none", 0, already_complete=True)
    if force and out.exists():
        shutil.rmtree(chunks_dir, ignore_errors=True)
        for name in ("runs.parquet", "cells.parquet", "series.parquet", "manifest.json", "report.html"):
            (out / name).unlink(missing_ok=True)
    chunks_dir.mkdir(parents=True, exist_ok=True)
    if not state_path.exists():
        write_json({"fingerprint": fingerprint, "created": now()}, state_path)

    chunk_list = design.chunks()
    # A chunk is trusted only if both its files read back, carry this design's fingerprint and hold every run.
    done = {i for i in range(len(chunk_list))
            if all(p.exists() for p in _chunk_paths(chunks_dir, i))
            and _chunk_is_sound(_chunk_paths(chunks_dir, i), fingerprint, len(chunk_list[i]) * design.spec.replicates)}
    todo = [i for i in range(len(chunk_list)) if i not in done]
    runs_done = sum(len(chunk_list[i]) for i in done) * design.spec.replicates
    started_at, started = now(), time.perf_counter()
    progress = Progress(design.n_runs, runs_done, stream=progress_stream)
    choice = make_executor(workers, dask) if todo else ExecutorChoice(InProcessExecutor(), "none", lambda: None)
    try:
        for (_, index), tables in bounded_map(choice.executor, run_chunk, ((design, i) for i in todo),
                                              2 * max(1, workers or available_cores())):
            runs_path, series_path = _chunk_paths(chunks_dir, index)
            _write_chunk_table(tables["series"], series_path, fingerprint)
            _write_chunk_table(tables["runs"], runs_path, fingerprint)   # last: its presence marks the chunk done
            progress.advance(len(tables["runs"]))
            del tables
    finally:
        progress.close()
        choice.close()
    _finish(design, out, chunks_dir, len(chunk_list))
    seconds = time.perf_counter() - started
    write_json(build_manifest(
        command="sweep", format_version=FORMAT_VERSION, name=design.spec.name, purpose=design.spec.purpose,
        spec_file=design.path, spec_as_given=design.source, spec_resolved=design.resolved(),
        factor_names=design.factor_names, root_seed=design.spec.seed,
        seed_rule="numpy.random.SeedSequence(root_seed, spawn_key=(seed_cell, replicate)); seed_cell is the cell, "
                  "or for cells that differ only in intervention and intervention_day the first such cell",
        fingerprint=fingerprint, runs=design.n_runs, cells=design.n_cells, chunks=len(chunk_list),
        resumed_chunks=len(done), executor=choice.description, started=started_at, finished=now(),
        seconds=round(seconds, 3), complete=True), manifest_path)
    # Only now are the chunks dropped: a kill before this line leaves a run that resumes (and merges again).
    shutil.rmtree(chunks_dir)
    return SweepResult(out, design.n_runs, seconds, choice.description, len(done))


def _finish(design: Design, out: Path, chunks_dir: Path, n_chunks: int) -> None:
    """Merge the chunk files into runs, cells and series tables (the chunks stay until the manifest is written)."""
    runs = pd.concat([pd.read_parquet(_chunk_paths(chunks_dir, i)[0]) for i in range(n_chunks)],
                     ignore_index=True)
    write_parquet(runs, out / "runs.parquet")
    write_parquet(cell_summary(runs, design.factor_names), out / "cells.parquet")
    with atomic_output(out / "series.parquet") as tmp:
        writer = None
        for i in range(n_chunks):
            table = pq.read_table(_chunk_paths(chunks_dir, i)[1])
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
            writer.write_table(table)
        if writer is not None:
            writer.close()


def cell_summary(runs: pd.DataFrame, factor_names: Iterable[str]) -> pd.DataFrame:
    """Per cell: share of each classification and mean, SD and 95% CI of each metric."""
    from scipy import stats
    levels = [n for n in factor_names if n != "pairing"]   # one level of each per cell
    grouped = runs.groupby("cell", sort=True)
    pairings = grouped["pairing"]
    columns = {"pairing": pairings.first().where(pairings.nunique() == 1, MIXED), "couples": grouped.size()}
    columns.update(grouped[levels].first().to_dict("series"))
    for label in CLASSES:
        columns[f"share_{label}"] = (runs["classification"] == label).groupby(runs["cell"]).mean()
    excluded = {"cell", "replicate", "seed_key", "seed_cell", *factor_names}
    metrics = [c for c in runs.columns if c not in excluded and pd.api.types.is_numeric_dtype(runs[c])
               and not pd.api.types.is_bool_dtype(runs[c])]
    mean = grouped[metrics].mean()
    sd = grouped[metrics].std(ddof=1)
    n = grouped[metrics].count()
    half = stats.t.ppf(0.975, np.maximum(n - 1, 1)) * sd / np.sqrt(n)
    for m in metrics:
        columns[f"{m}_mean"] = mean[m]
        columns[f"{m}_sd"] = sd[m]
        columns[f"{m}_ci_low"] = mean[m] - half[m]
        columns[f"{m}_ci_high"] = mean[m] + half[m]
    # One constructor call consolidates the columns into a block per dtype.
    return pd.DataFrame(columns).rename_axis("cell").reset_index()
