"""Reading a results folder written by ``cycles sweep``, with clear errors when it is not one."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from sim.params import PARAMETERS
from sim.schema import CLASSES, FORMAT_VERSION, RESULT_FILES

REQUIRED_CELL_COLUMNS = ("cell", "pairing", "couples", *(f"share_{c}" for c in CLASSES), "intensity_mean_mean")


class ResultsError(ValueError):
    """A folder that is missing, partial or of another format: says what is wrong, in one line."""


@dataclass
class Results:
    """A complete results folder: manifest and per-cell table; series are read on demand."""

    folder: Path
    manifest: dict[str, Any]
    cells: pd.DataFrame

    @property
    def factor_names(self) -> list[str]:
        """The design's factor names, as the manifest records them."""
        return list(self.manifest.get("factor_names", []))

    @property
    def days(self) -> int:
        """Days each couple was simulated, from the resolved spec."""
        return int(self.manifest["spec_resolved"]["spec"]["days"])

    def held(self, name: str) -> Any:
        """The value every couple had of a declared parameter: the spec's [fixed] value, else its default."""
        return self.manifest["spec_resolved"]["spec"].get("fixed", {}).get(name, PARAMETERS[name].default)

    def runs(self, columns: Sequence[str]) -> pd.DataFrame:
        """Some columns of runs.parquet (one row per couple-run)."""
        return pd.read_parquet(self.folder / "runs.parquet", columns=list(columns))

    def series(self, cells: Sequence[int], statistics: Sequence[str], replicate: int | None = None) -> pd.DataFrame:
        """Rows of series.parquet for some cells and statistics (read with filters, not whole)."""
        filters = [("cell", "in", [int(c) for c in cells]), ("statistic", "in", list(statistics))]
        if replicate is not None:
            filters.append(("replicate", "=", int(replicate)))
        table = pq.read_table(self.folder / "series.parquet", filters=filters)
        frame = table.to_pandas()
        for column in ("statistic", "role"):
            frame[column] = frame[column].astype(str)
        return frame


def load(folder: str | Path) -> Results:
    """Open a results folder; raises ResultsError naming what is missing or wrong."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ResultsError(f"{folder}: no such results folder (run `cycles sweep SPEC` to make one)")
    if (folder / "chunks").exists():
        raise ResultsError(f"{folder}: a partial sweep (chunks/ is still there); run the same `cycles sweep` "
                           "command again to finish it")
    command = _written_by(folder)
    if command not in (None, "sweep"):
        raise ResultsError(f"{folder}: results of `cycles {command}`, which writes its own report; "
                           "expected a folder written by `cycles sweep`")
    missing = [name for name in RESULT_FILES if not (folder / name).exists()]
    if missing:
        raise ResultsError(f"{folder}: not a complete results folder; missing {', '.join(missing)} "
                           f"(a sweep writes {', '.join(RESULT_FILES)})")
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ResultsError(f"{folder}/manifest.json: unreadable ({_one_line(exc)}); run the sweep again") from None
    if not isinstance(manifest, dict):
        raise ResultsError(f"{folder}/manifest.json: holds a {type(manifest).__name__}, not a sweep's manifest; "
                           "run the sweep again")
    if manifest.get("command", "sweep") != "sweep":
        raise ResultsError(f"{folder}: results of `cycles {manifest.get('command')}`, which writes its own report; "
                           "expected a folder written by `cycles sweep`")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ResultsError(f"{folder}: results of format {version!r}, this version reads format {FORMAT_VERSION}; "
                           "run the sweep again to regenerate them")
    problem = _manifest_problem(manifest)
    if problem:
        raise ResultsError(f"{folder}/manifest.json: {problem}; run the sweep again")
    for name in ("runs.parquet", "series.parquet"):
        try:
            pq.read_metadata(folder / name)
        except Exception as exc:  # noqa: BLE001 - pyarrow reports junk files in several ways
            raise ResultsError(f"{folder}/{name}: not a readable Parquet file ({_one_line(exc)[:120]}); "
                               "run the sweep again") from None
    try:
        cells = pd.read_parquet(folder / "cells.parquet")
    except Exception as exc:  # noqa: BLE001 - as above
        raise ResultsError(f"{folder}/cells.parquet: not a readable Parquet file ({_one_line(exc)[:120]}); "
                           "run the sweep again") from None
    absent = [c for c in REQUIRED_CELL_COLUMNS if c not in cells.columns]
    if absent:
        raise ResultsError(f"{folder}/cells.parquet: columns missing: {', '.join(absent)}; run the sweep again")
    return Results(folder, manifest, cells)


def _written_by(folder: Path) -> str | None:
    """The command a readable manifest names (None when there is none, or it cannot be read: load says why)."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    command = manifest.get("command") if isinstance(manifest, dict) else None
    return command if isinstance(command, str) else None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


# What the report reads from a manifest: key path -> type.
_MANIFEST_SHAPE = {
    ("spec_resolved", "spec", "name"): str, ("spec_resolved", "spec", "purpose"): str,
    ("spec_resolved", "spec", "days"): int, ("spec_resolved", "spec", "replicates"): int,
    ("factor_names",): list, ("cells",): int, ("runs",): int, ("root_seed",): int,
}


def _manifest_problem(manifest: dict) -> str | None:
    for path, kind in _MANIFEST_SHAPE.items():
        value: Any = manifest
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if not isinstance(value, kind) or isinstance(value, bool):
            return f"key {'.'.join(path)} is {value!r}; expected a {kind.__name__}"
    return None
