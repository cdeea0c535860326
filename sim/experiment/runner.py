"""Running a sweep: a design's chunks of cells as tasks, stored as they finish, merged at the end.

- Work: each chunk of cells is one task (:func:`run_chunk`), a pure function
  of the design and the chunk's cell range; its couples come from
  sim.experiment.populations, seeded by ``SeedSequence(root, spawn_key=(cell,
  replicate))``, so results do not depend on chunking, order or the number
  of workers. The tasks run through sim.experiment.execution (in-process, a
  process pool or Dask); workers return tables and only this process writes
  files, so a remote cluster needs no shared disk.
- Storage: each finished chunk is written atomically to ``chunks/`` under the
  output folder, stamped with the design's fingerprint, so memory stays flat
  and an interrupted sweep (Ctrl-C or kill -9) resumes where it stopped,
  trusting only chunks that read back whole and carry its fingerprint. The
  worker encodes its chunk's tables (runs, the cells' statistics, series) in
  Arrow's IPC format; this process writes those bytes as they are and
  appends the series to ``series.parquet`` as chunks come in. When every
  chunk is there, the final runs and cells tables are written atomically and
  ``chunks/`` is removed.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim import jit  # noqa: F401  (sets the compiled-code cache before any njit)
from sim.dynamics import STATE_FIELDS, cycle_intensity
from sim.engine import simulate
from sim.experiment import discovery
from sim.experiment.execution import Execution
from sim.experiment.populations import cells_population
from sim.experiment.spec import Design
from sim.manifest import now
from sim.manifest import of_design as manifest_of_design
from sim.schema import (
    CLASSES,
    DISCOVERY_FILES,
    FORMAT_VERSION,
    MIXED,
    OUTCOME_COLUMNS,
    SERIES_DECIMALS,
    SERIES_VARIABLES,
    STATISTICS,
)
from sim.storage import atomic_output, write_json, write_parquet


class SweepError(RuntimeError):
    """A sweep that cannot go on as asked (e.g. a changed spec over a partial run)."""


# --- the work of one chunk ------------------------------------------------------

def run_chunk(design: Design, index: int, fingerprint: str = "") -> dict[str, bytes | int]:
    """Simulate one chunk of cells; returns its runs, cells and series tables as Arrow IPC bytes, and its runs.

    Nothing is written here. The tables carry ``fingerprint`` (the design's) in
    their metadata, so that the files this process writes from them can be
    trusted on resume. A chunk holds whole cells, so its cells' statistics are
    those of the whole sweep.
    """
    spec = design.spec
    cells = design.chunks()[index]
    reps = spec.replicates
    pop = cells_population(design, cells)
    couple_cell = np.repeat(np.asarray(cells), reps)
    replicate = np.tile(np.arange(reps), len(cells))
    sampled = np.flatnonzero(replicate < spec.record.sampled_couples)
    result = simulate(pop, spec.days, series_couples=sampled if len(sampled) else None,
                      groups=couple_cell - cells.start, series_table=False)
    per_cell = np.repeat(np.arange(len(cells)), reps)
    describe = pd.DataFrame({"cell": couple_cell, "replicate": replicate, "pairing": pop.pairing,
                             **{name: np.array([design.cells[c][name] for c in cells])[per_cell]
                                for name in design.factor_names if name != "pairing"},
                             "seed_cell": np.array([design.seed_cell(c) for c in cells])[per_cell],
                             "seed_key": pop.keys.astype(np.uint64)})
    runs = pd.concat([describe, result.outcomes], axis=1)
    series = _series_table(design, cells, result, couple_cell, replicate)
    return {"runs": _encoded(runs, fingerprint), "series": _encoded(series, fingerprint),
            "cells": _encoded(cell_summary(runs, design.factor_names), fingerprint), "count": len(runs)}


FINGERPRINT_KEY = b"cycles.fingerprint"
CHUNK_TABLES = ("series", "cells", "runs")      # written in this order: the runs file marks a chunk done


def _encoded(frame: pd.DataFrame | pa.Table, fingerprint: str) -> bytes:
    """A table in Arrow's IPC file format (lz4), stamped with the design's fingerprint.

    A tenth of the cost of an uncompressed Parquet file, about the same size; a chunk's files live only
    until the sweep's end, and this process can write them without encoding anything.
    """
    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), FINGERPRINT_KEY: fingerprint.encode()})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression="lz4")) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _decoded(source: bytes | Path) -> pa.Table:
    """A chunk table from its IPC bytes or file."""
    if isinstance(source, Path):
        with pa.memory_map(str(source)) as mapped:
            return pa.ipc.open_file(mapped).read_all()
    return pa.ipc.open_file(pa.py_buffer(source)).read_all()


def _series_table(design: Design, cells: range, result, couple_cell, replicate) -> pa.Table:
    """Per cell, day and role: statistics over the cell's couples, and the sampled couples' own series.

    Rows are ordered cell, statistic, replicate, role, day, so that each series (cell, statistic, replicate,
    role) runs over consecutive days and its values, smooth from day to day, sit together where the Parquet
    encodings find their repeats. The cell statistics come first in a cell (replicate -1), then its sampled
    couples (statistic "couple"). Every cell has the same number of sampled couples (the first replicates),
    so each column is one (cells, rows of a cell, roles, days) array written in that order.
    """
    spec = design.spec
    days = np.unique(np.r_[np.arange(0, spec.days + 1, spec.record.series_every), spec.days])
    count, values = result.aggregator.statistics(days)              # (D, G, 2), (D, G, 2, V, S)
    n_days, n_groups = count.shape[:2]
    n_stats = len(STATISTICS)
    kept = result.kept_couples if result.kept_series is not None else np.zeros(0, dtype=np.int64)
    per_cell = len(kept) // n_groups
    shape = (n_groups, n_stats + per_cell, 2, n_days)
    statistic = np.empty(shape[:2], dtype=np.int8)
    statistic[:, :n_stats], statistic[:, n_stats:] = np.arange(n_stats), n_stats
    replicates = np.full(shape[:2], -1, dtype=np.int32)
    replicates[:, n_stats:] = replicate[kept].reshape(n_groups, per_cell)
    couples = np.ones(shape, dtype=np.int32)
    couples[:, :n_stats] = count.transpose(1, 2, 0)[:, None]
    columns = {"cell": np.broadcast_to((np.arange(n_groups, dtype=np.int32) + cells.start)[:, None, None, None],
                                       shape).ravel(),
               "day": np.broadcast_to(days.astype(np.int32), shape).ravel(),
               "role": _labels(np.broadcast_to(np.arange(2, dtype=np.int8)[:, None], shape).ravel(), ["a", "b"]),
               "statistic": _labels(np.broadcast_to(statistic[:, :, None, None], shape).ravel(),
                                    [*STATISTICS, "couple"]),
               "replicate": np.broadcast_to(replicates[:, :, None, None], shape).ravel(),
               "couples": couples.ravel()}
    statistics = values.transpose(3, 1, 4, 2, 0)                     # (V, G, S, 2, D)
    if per_cell:
        series = result.kept_series[days].transpose(1, 2, 0, 3)       # (kept, 2, D, fields), kept in cell order
        series = series.reshape(n_groups, per_cell, 2, n_days, -1)
        p, w = STATE_FIELDS.index("pursuit"), STATE_FIELDS.index("withdrawal")
        intensity = cycle_intensity(series[:, :, 0, :, p], series[:, :, 0, :, w], series[:, :, 1, :, p],
                                    series[:, :, 1, :, w])
    for i, v in enumerate(SERIES_VARIABLES):
        column = np.empty(shape, dtype=np.float32)
        _rounded(statistics[i], column[:, :n_stats], SERIES_SCALE)
        if per_cell:
            own = intensity[:, :, None, :] if v == "cycle_intensity" else series[..., STATE_FIELDS.index(v)]
            _rounded(np.broadcast_to(own, column[:, n_stats:].shape), column[:, n_stats:], SERIES_SCALE)
        columns[v] = column.ravel()
    return pa.table(columns)       # straight from the arrays: a DataFrame first cost a conversion a chunk


# numpy's round(x, decimals) is rint(x * 10**decimals) / 10**decimals (PyArray_Round); the same operations
# compiled, and cast to float32 on the way, cost a tenth as much (9 ms a chunk of the main job).
SERIES_SCALE = 10.0 ** SERIES_DECIMALS


@numba.njit(cache=True)
def _rounded(values, out, scale):
    """``out[...] = values.round(decimals)``, ``scale`` being ``10.0 ** decimals``: both 4-dimensional, any strides."""
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            for k in range(values.shape[2]):
                for t in range(values.shape[3]):
                    out[i, j, k, t] = np.rint(values[i, j, k, t] * scale) / scale


def _labels(codes: np.ndarray, labels: list[str]) -> pa.DictionaryArray:
    """A categorical column as Arrow holds one (the types pandas' categoricals had: int8 codes, large strings)."""
    return pa.DictionaryArray.from_arrays(pa.array(codes, type=pa.int8()), pa.array(labels, type=pa.large_string()))


# --- the sweep ------------------------------------------------------------------

@dataclass
class SweepResult:
    """What a finished sweep reports back to the command that ran it.

    Its output folder, the runs in it, the seconds taken, the executor's
    description, the chunks resumed from an earlier run, and whether the folder
    already held the complete sweep (nothing was run).
    """

    out: Path
    runs: int
    seconds: float
    executor: str
    resumed_chunks: int
    already_complete: bool = False


def _chunk_paths(folder: Path, index: int) -> dict[str, Path]:
    return {name: folder / f"chunk-{index:06d}.{name}.arrow" for name in CHUNK_TABLES}


FINISHED_CHUNKS = "chunk-*.runs.arrow"      # the files in chunks/ that mark a chunk done (a glob pattern)


def _write_chunk(tables: dict[str, bytes | int], paths: dict[str, Path]) -> None:
    """A chunk's files, each atomically, the runs file last: its presence marks the chunk done."""
    for name in CHUNK_TABLES:
        with atomic_output(paths[name]) as tmp:
            tmp.write_bytes(tables[name])


class _SeriesMerge:
    """series.parquet written while the sweep runs: chunk i's series goes in as soon as chunks 0..i are done.

    Chunks finish roughly in order, so by the last one nearly everything is written, and the merge is not a
    serial step after the run (it used to be one core's work for seconds while the others idled). A chunk
    finished out of order waits on disk until those before it are in.
    """

    def __init__(self, path: Path, chunks_dir: Path, n_chunks: int):
        self.path, self.chunks_dir, self.n_chunks = path, chunks_dir, n_chunks
        self.merged = 0
        self.writer: pq.ParquetWriter | None = None

    def advance(self, done: set[int], fresh: dict[int, pa.Table] | None = None) -> None:
        """Append every chunk that is done and has all chunks before it in (``fresh``: tables still in memory)."""
        while self.merged < self.n_chunks and self.merged in done:
            table = (fresh or {}).get(self.merged)
            if table is None:
                table = _decoded(_chunk_paths(self.chunks_dir, self.merged)["series"])
            if self.writer is None:
                # Values rounded to SERIES_DECIMALS are dictionary-encoded (byte-stream split where a dictionary
                # overflows), the day counts up by one (delta encoding), and zstd takes the rest (level 3: 2% larger
                # than level 6 and 40% faster).
                self.writer = pq.ParquetWriter(self.path, table.schema.remove_metadata(), compression="zstd",
                                               compression_level=3,
                                               use_byte_stream_split=list(SERIES_VARIABLES),
                                               use_dictionary=[c for c in table.column_names if c != "day"],
                                               column_encoding={"day": "DELTA_BINARY_PACKED"})
            self.writer.write_table(table.replace_schema_metadata(None))
            self.merged += 1

    def close(self) -> None:
        """Finish the file; every chunk must be in."""
        if self.merged != self.n_chunks:
            raise SweepError(f"series merge stopped at chunk {self.merged} of {self.n_chunks}")
        if self.writer is not None:
            self.writer.close()


def _chunk_is_sound(paths: dict[str, Path], fingerprint: str, runs: int) -> bool:
    """Every file of the chunk readable and stamped with this design's fingerprint, and the runs table whole."""
    try:
        readers = {}
        for name, path in paths.items():
            with pa.memory_map(str(path)) as mapped:
                reader = pa.ipc.open_file(mapped)
                readers[name] = ((reader.schema.metadata or {}).get(FINGERPRINT_KEY), reader.count_rows())
    except (OSError, ValueError, Exception):  # noqa: BLE001 - pyarrow reports junk files in several ways
        return False
    return (all(stamp == fingerprint.encode() for stamp, _ in readers.values())
            and readers["runs"][1] == runs)


def read_json_object(path: Path) -> dict | None:
    """A JSON file holding an object, or None when it is unreadable, not JSON or not an object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


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
        for name in ("runs.parquet", "cells.parquet", "series.parquet", "manifest.json", "report.html",
                     *DISCOVERY_FILES):
            (out / name).unlink(missing_ok=True)
    chunks_dir.mkdir(parents=True, exist_ok=True)
    if not state_path.exists():
        write_json({"fingerprint": fingerprint, "created": now()}, state_path)

    chunk_list = design.chunks()
    # A chunk is trusted only if both its files read back, carry this design's fingerprint and hold every run.
    done = {i for i in range(len(chunk_list))
            if all(p.exists() for p in _chunk_paths(chunks_dir, i).values())
            and _chunk_is_sound(_chunk_paths(chunks_dir, i), fingerprint, len(chunk_list[i]) * design.spec.replicates)}
    todo = [i for i in range(len(chunk_list)) if i not in done]
    resumed = len(done)
    runs_done = sum(len(chunk_list[i]) for i in done) * design.spec.replicates
    started_at, started = now(), time.perf_counter()
    with atomic_output(out / "series.parquet") as series_tmp:
        merge = _SeriesMerge(series_tmp, chunks_dir, len(chunk_list))
        merge.advance(done)
        with Execution(workers, dask, total=design.n_runs, done=runs_done, needed=bool(todo),
                       progress_stream=progress_stream) as execution:
            for (_, index, _), tables in execution.results(run_chunk, ((design, i, fingerprint) for i in todo),
                                                           size=lambda tables: tables["count"]):
                _write_chunk(tables, _chunk_paths(chunks_dir, index))
                done.add(index)
                merge.advance(done, {index: _decoded(tables["series"])})
                del tables
        merge.close()
    _finish(design, out, chunks_dir, len(chunk_list))
    discovered = discovery.write(design, out)     # PRIM boxes over the runs, when the spec has [discovery]
    seconds = time.perf_counter() - started
    write_json(manifest_of_design(
        design, "sweep", started_at, seconds, format_version=FORMAT_VERSION, factor_names=design.factor_names,
        seed_rule="numpy.random.SeedSequence(root_seed, spawn_key=(seed_cell, replicate)); seed_cell is the cell, "
                  "or for cells that differ only in intervention and intervention_day the first such cell",
        runs=design.n_runs, cells=design.n_cells, chunks=len(chunk_list), resumed_chunks=resumed,
        executor=execution.description, complete=True, **({"discovery": discovered} if discovered else {})),
        manifest_path)
    # Only now are the chunks dropped: a kill before this line leaves a run that resumes (and merges again).
    shutil.rmtree(chunks_dir)
    return SweepResult(out, design.n_runs, seconds, execution.description, resumed)


def _finish(design: Design, out: Path, chunks_dir: Path, n_chunks: int) -> None:
    """Merge the chunk files into the runs and cells tables (the chunks stay until the manifest is written)."""
    def merged(name: str) -> pd.DataFrame:
        tables = [_decoded(_chunk_paths(chunks_dir, i)[name]).replace_schema_metadata(None) for i in range(n_chunks)]
        return pa.concat_tables(tables).to_pandas()
    write_parquet(merged("cells"), out / "cells.parquet")
    _write_runs(merged("runs"), out / "runs.parquet")


def _write_runs(runs: pd.DataFrame, path: Path) -> None:
    """runs.parquet: each couple's outcomes in float32 and int32, zstd-compressed.

    The outcomes are averages and counts over a run of simulated days; seven significant digits hold far
    more than the model's own precision, and the cell summaries are worked out (in float64) before this.
    What names a run (cell, replicate, factor levels, seeds) keeps its type, so levels match the spec exactly.
    """
    outcomes = [c for c in OUTCOME_COLUMNS if c in runs.columns]
    narrow = {c: np.float32 for c in outcomes if runs[c].dtype == np.float64}
    narrow.update({c: np.int32 for c in outcomes if runs[c].dtype == np.int64})
    table = pa.Table.from_pandas(runs.astype(narrow), preserve_index=False)
    with atomic_output(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", compression_level=6,
                       use_byte_stream_split=[c for c, kind in narrow.items() if kind is np.float32])


def cell_summary(runs: pd.DataFrame, factor_names: Iterable[str]) -> pd.DataFrame:
    """Per cell: share of each classification and mean, SD and 95% CI of each metric."""
    # scipy.special's quantile, which stats.t.ppf calls: scipy.stats would add 58 MB to every worker.
    from scipy.special import stdtrit
    levels = [n for n in factor_names if n != "pairing"]   # one level of each per cell
    grouped = runs.groupby("cell", sort=True)
    pairings = grouped["pairing"]
    columns = {"pairing": pairings.first().where(pairings.nunique() == 1, MIXED), "couples": grouped.size()}
    columns.update(grouped[levels].first().to_dict("series"))
    # Each class's share of the cell's couples: one groupby over indicator columns, not one per class.
    shares = pd.DataFrame({f"share_{label}": runs["classification"] == label for label in CLASSES})
    columns.update(shares.groupby(runs["cell"]).mean().to_dict("series"))
    excluded = {"cell", "replicate", "seed_key", "seed_cell", *factor_names}
    metrics = [c for c in runs.columns if c not in excluded and pd.api.types.is_numeric_dtype(runs[c])
               and not pd.api.types.is_bool_dtype(runs[c])]
    mean = grouped[metrics].mean()
    sd = grouped[metrics].std(ddof=1)
    n = grouped[metrics].count()
    half = stdtrit(np.maximum(n - 1, 1), 0.975) * sd / np.sqrt(n)
    # Per metric its mean, SD and interval, side by side: one array, not four Series a metric.
    statistics = np.stack([mean.to_numpy(), sd.to_numpy(), (mean - half).to_numpy(), (mean + half).to_numpy()],
                          axis=2).reshape(len(mean), -1)
    names = [f"{m}_{kind}" for m in metrics for kind in ("mean", "sd", "ci_low", "ci_high")]
    # One constructor call consolidates the columns into a block per dtype.
    described = pd.DataFrame(columns)
    return pd.concat([described, pd.DataFrame(statistics, index=mean.index, columns=names)],
                     axis=1).rename_axis("cell").reset_index()
