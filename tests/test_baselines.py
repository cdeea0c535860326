"""Baseline of the quick sweep's cells table (in the manner of Covasim's test_baselines).

Runs experiments/quick.toml and compares every value of cells.parquet, cell by
cell and column by column, with tests/baselines/quick_cells.json (floats within
rtol 1e-9 / atol 1e-12, NaN equal to NaN, ints and strings exactly; the same
columns and the same cells). A failure lists the first differing
(cell, column, stored, new) values. If the change is intended, regenerate the
baseline with ``.venv/bin/python scripts/update_baselines.py`` (it prints what
changed) and say why in the commit. The code lives in tests/baseline_cells.py.
"""

from __future__ import annotations

from tests import baseline_cells as B


def test_quick_sweep_cells_match_the_stored_baseline(tmp_path):
    assert B.BASELINE.exists(), f"no baseline at {B.BASELINE}; create it with `{B.UPDATE_COMMAND}`"
    stored = B.load_baseline()
    assert stored["spec"] == B.SPEC
    new = B.read_cells(B.run_quick(tmp_path / "quick"))
    differences = B.compare(stored, new)
    assert not differences, B.describe(differences)
    assert stored["columns"] == new["columns"], "the same columns, but in a different order"


def test_the_baseline_round_trips_and_the_comparison_reports_changes():
    stored = B.load_baseline()
    again = B.loads(B.dumps(stored))
    assert again == stored and not B.compare(stored, again)
    first = stored["rows"][0]
    column = next(c for c in stored["columns"] if stored["kinds"][c] == "float" and first[c] not in (None, 0.0))
    nan_column = next(c for c in stored["columns"] if first[c] is None)
    changed = B.loads(B.dumps(stored))
    changed["rows"][0][column] *= 1 + 1e-6        # far beyond rtol 1e-9: reported
    changed["rows"][1]["pairing"] += "x"           # strings compare exactly
    changed["rows"][2][column] = None              # a number that became NaN
    changed["rows"][2][nan_column] = 1.0           # a NaN that became a number
    del changed["rows"][3]                         # a cell that disappeared
    found = {(d.cell, d.column) for d in B.compare(stored, changed)}
    cell = [r["cell"] for r in stored["rows"]]
    assert {(cell[0], column), (cell[1], "pairing"), (cell[2], column), (cell[2], nan_column),
            (cell[3], "<row>")} == found
    message = B.describe(B.compare(stored, changed))
    assert "scripts/update_baselines.py" in message and column in message
    close = B.loads(B.dumps(stored))
    close["rows"][0][column] *= 1 + 1e-12          # within rtol 1e-9: not a difference
    assert not B.compare(stored, close)
