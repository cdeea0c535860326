"""The quick sweep's cells table against a stored baseline: the one place for its code.

Used by tests/test_baselines.py (compare) and scripts/update_baselines.py
(regenerate on purpose). The baseline, tests/baselines/quick_cells.json, holds
every value of ``cells.parquet`` from ``experiments/quick.toml`` as JSON, so a
change shows in git as a readable diff.

JSON form: ``{"note", "spec", "columns", "kinds", "rows"}``; ``kinds`` maps each
column to "int", "float", "str" or "bool"; ``rows`` is one object per cell,
sorted by the ``cell`` column. Floats are written with Python's shortest
round-tripping repr; NaN is written as ``null`` and +/-infinity as the strings
"inf" / "-inf", so the file is strict JSON and reads back to the same values.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
SPEC = "experiments/quick.toml"  # relative to the repository root
BASELINE = ROOT / "tests" / "baselines" / "quick_cells.json"
UPDATE_COMMAND = ".venv/bin/python scripts/update_baselines.py"
ID_COLUMN = "cell"
RTOL = 1e-9   # floats: |new - stored| <= ATOL + RTOL * |stored|; the sweep is deterministic, this only
ATOL = 1e-12  # absorbs last-bit differences from summation order or a different BLAS / CPU
SHOWN = 12    # how many differing values a failure message lists

NOTE = ("Baseline of cells.parquet from experiments/quick.toml (tests/test_baselines.py). "
        "Regenerate on purpose with `" + UPDATE_COMMAND + "` and say why in the commit. "
        "NaN is stored as null; +/-infinity as the strings \"inf\" / \"-inf\". "
        "rows are sorted by the cell column; kinds gives each column's type (int, float, str, bool).")


class Difference(NamedTuple):
    """One value that differs: which cell (or "*" for the whole column), which column, stored, new."""

    cell: Any
    column: str
    stored: Any
    new: Any


def run_quick(out_dir: Path) -> Path:
    """Run the quick sweep into ``out_dir`` (which must not exist yet); return its cells.parquet."""
    from sim.cli import main

    status = main(["sweep", str(ROOT / SPEC), "--out", str(out_dir), "--workers", "1"])
    if status not in (0, None):
        raise RuntimeError(f"cycles sweep {SPEC} exited with status {status}")
    return Path(out_dir) / "cells.parquet"


def _kind(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_integer_dtype(series):
        return "int"
    if pd.api.types.is_float_dtype(series):
        return "float"
    if pd.api.types.is_string_dtype(series) or series.dtype == object:
        return "str"
    raise TypeError(f"column {series.name!r} has dtype {series.dtype}, which the baseline cannot store")


def _plain(value: Any, kind: str) -> Any:
    """A table value as a plain Python value (NaN -> None)."""
    if kind == "float":
        value = float(value)
        return None if math.isnan(value) else value
    if kind == "int":
        return int(value)
    if kind == "bool":
        return bool(value)
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def table_form(cells: pd.DataFrame) -> dict:
    """The baseline's JSON form of a cells table (plain values, NaN as None, rows sorted by cell)."""
    if ID_COLUMN not in cells.columns:
        raise KeyError(f"the cells table has no {ID_COLUMN!r} column")
    if cells[ID_COLUMN].duplicated().any():
        raise ValueError(f"the cells table repeats values of {ID_COLUMN!r}")
    cells = cells.sort_values(ID_COLUMN, kind="stable")
    kinds = {c: _kind(cells[c]) for c in cells.columns}
    rows = [{c: _plain(v, kinds[c]) for c, v in zip(cells.columns, record, strict=True)}
            for record in cells.itertuples(index=False, name=None)]
    return {"note": NOTE, "spec": SPEC, "columns": list(cells.columns), "kinds": kinds, "rows": rows}


def read_cells(path: Path) -> dict:
    """cells.parquet in the baseline's JSON form."""
    return table_form(pd.read_parquet(path))


def current() -> dict:
    """Run the quick sweep now (in a temporary folder) and return its cells in JSON form."""
    with tempfile.TemporaryDirectory(prefix="quick-baseline-") as tmp:
        return read_cells(run_quick(Path(tmp) / "quick"))


def _encode(value: Any) -> Any:
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _decode(value: Any, kind: str) -> Any:
    if kind == "float" and isinstance(value, str):
        return float(value)  # "inf" / "-inf"
    if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def dumps(form: dict) -> str:
    """Strict JSON text of a form (NaN already None; infinities as strings), one value per line for git diffs."""
    encoded = {**form, "rows": [{c: _encode(v) for c, v in row.items()} for row in form["rows"]]}
    return json.dumps(encoded, indent=1, allow_nan=False) + "\n"


def loads(text: str) -> dict:
    """A form from its JSON text (the inverse of :func:`dumps`)."""
    form = json.loads(text)
    kinds = form["kinds"]
    form["rows"] = [{c: _decode(v, kinds.get(c, "")) for c, v in row.items()} for row in form["rows"]]
    return form


def load_baseline(path: Path = BASELINE) -> dict:
    return loads(Path(path).read_text())


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; give it the usual permissions
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _same(stored: Any, new: Any, kind: str) -> bool:
    if stored is None or new is None:
        return stored is None and new is None  # NaN equals NaN, and only NaN
    if kind == "float":
        stored, new = float(stored), float(new)
        if math.isinf(stored) or math.isinf(new):
            return stored == new
        return abs(new - stored) <= ATOL + RTOL * abs(stored)
    return type(stored) is type(new) and stored == new  # ints, strings and bools exactly


def compare(stored: dict, new: dict) -> list[Difference]:
    """Every difference between two forms: columns, kinds, cells (rows), then values cell by cell.

    Structural differences come first: a column or cell present on one side
    only is one entry with ``"<missing>"`` on the other side; a changed kind is
    an entry for cell ``"*"``.
    """
    out: list[Difference] = []
    missing = "<missing>"
    stored_cols, new_cols = list(stored["columns"]), list(new["columns"])
    out += [Difference("*", c, "<column>", missing) for c in stored_cols if c not in new_cols]
    out += [Difference("*", c, missing, "<column>") for c in new_cols if c not in stored_cols]
    shared = [c for c in stored_cols if c in new_cols]
    out += [Difference("*", c, f"kind {stored['kinds'][c]}", f"kind {new['kinds'][c]}")
            for c in shared if stored["kinds"][c] != new["kinds"][c]]
    stored_rows = {r[ID_COLUMN]: r for r in stored["rows"]}
    new_rows = {r[ID_COLUMN]: r for r in new["rows"]}
    out += [Difference(k, "<row>", "<row>", missing) for k in stored_rows if k not in new_rows]
    out += [Difference(k, "<row>", missing, "<row>") for k in new_rows if k not in stored_rows]
    for key, row in stored_rows.items():
        if key not in new_rows:
            continue
        for column in shared:
            kind = stored["kinds"][column]
            if not _same(row[column], new_rows[key][column], kind):
                out.append(Difference(key, column, row[column], new_rows[key][column]))
    return out


def by_column(differences: list[Difference]) -> Counter:
    """How many values differ in each column."""
    return Counter(d.column for d in differences)


def _show(value: Any) -> str:
    return "NaN" if value is None else repr(value)


def describe(differences: list[Difference], shown: int = SHOWN) -> str:
    """A failure message: the counts per column, the first ``shown`` differences, and how to update."""
    counts = by_column(differences)
    named = ", ".join(f"{c} ({n})" for c, n in counts.most_common(10))
    more = f" and {len(counts) - 10} more" if len(counts) > 10 else ""
    lines = [f"{len(differences)} difference(s) between {SPEC}'s cells now and {BASELINE.relative_to(ROOT)} "
             f"(rtol {RTOL:g}, atol {ATOL:g}) in {len(counts)} column(s): {named}{more}"]
    lines.append("first differences (cell, column, stored, new):")
    lines += [f"  {d.cell!r}, {d.column}, {_show(d.stored)}, {_show(d.new)}" for d in differences[:shown]]
    if len(differences) > shown:
        lines.append(f"  ... and {len(differences) - shown} more")
    lines.append(f"If the change is intended, regenerate the baseline with `{UPDATE_COMMAND}` "
                 "and say why in the commit.")
    return "\n".join(lines)


__all__ = ["BASELINE", "Difference", "ROOT", "SPEC", "UPDATE_COMMAND", "by_column", "compare", "current",
           "describe", "dumps", "load_baseline", "loads", "read_cells", "run_quick", "table_form",
           "write_atomic"]
