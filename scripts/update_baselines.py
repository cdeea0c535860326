"""Regenerate the stored test baselines on purpose, and say what changed.

    .venv/bin/python scripts/update_baselines.py            # both baselines
    .venv/bin/python scripts/update_baselines.py cells      # tests/baselines/quick_cells.json only
    .venv/bin/python scripts/update_baselines.py streams    # tests/baselines/random_streams.json only
    .venv/bin/python scripts/update_baselines.py --check    # report differences, write nothing (exit 1 if any)

cells: runs experiments/quick.toml and stores its cells.parquet (code in
tests/baseline_cells.py, checked by tests/test_baselines.py). streams: the
reference vector of sim.randomness (code in tests/test_random_streams.py).
Each file is written atomically (temporary file + rename), and only if its
content changed. Say why in the commit.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root, for `tests` and `sim`

from tests import baseline_cells as B  # noqa: E402


def update_cells(check: bool) -> bool:
    """Regenerate quick_cells.json; print what changed. Returns whether anything differs."""
    new = B.current()
    text = B.dumps(new)
    where = B.BASELINE.relative_to(B.ROOT)
    if B.BASELINE.exists():
        differences = B.compare(B.load_baseline(), new)
        if not differences and B.BASELINE.read_text() == text:
            print(f"{where}: unchanged ({len(new['rows'])} cells x {len(new['columns'])} columns)")
            return False
        if differences:
            print(B.describe(differences, shown=20).rsplit("\n", 1)[0])  # without the "regenerate" hint
            print("changed values per column:")
            for column, count in B.by_column(differences).most_common():
                print(f"  {column}: {count} value(s)")
        else:
            print(f"{where}: values equal within tolerance; rewriting (file format, or float differences below rtol)")
    else:
        print(f"{where}: new file")
    return _write_unless_checking(B.BASELINE, text, check, f"{where} ({len(new['rows'])} cells x "
                                  f"{len(new['columns'])} columns)")


def update_streams(check: bool) -> bool:
    """Regenerate random_streams.json; print which entries changed. Returns whether anything differs."""
    from tests import test_random_streams as S

    new = S.reference_streams()
    text = S.dumps_reference(new)
    where = S.REFERENCE.relative_to(B.ROOT)
    if S.REFERENCE.exists():
        old = json.loads(S.REFERENCE.read_text())
        changed = S.changed_entries(old, new)
        if not changed and S.REFERENCE.read_text() == text:
            print(f"{where}: unchanged")
            return False
        print(f"{where}: {len(changed)} entr{'y' if len(changed) == 1 else 'ies'} changed"
              + "".join(f"\n  {name}" for name in changed[:30]))
    else:
        print(f"{where}: new file")
    return _write_unless_checking(S.REFERENCE, text, check, str(where))


def _write_unless_checking(path: Path, text: str, check: bool, what: str) -> bool:
    """Write a baseline that differs (atomically), unless only checking; it differs, so True either way."""
    if not check:
        B.write_atomic(path, text)
        print(f"wrote {what}")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("which", nargs="*", metavar="cells|streams", help="which baselines (default: both)")
    parser.add_argument("--check", action="store_true", help="only report differences; write nothing")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.which) - {"cells", "streams"})
    if unknown:
        parser.error(f"unknown baseline {unknown[0]!r}; expected cells or streams")
    which = args.which or ["cells", "streams"]
    differs = False
    if "cells" in which:
        differs |= update_cells(args.check)
    if "streams" in which:
        differs |= update_streams(args.check)
    return 1 if (args.check and differs) else 0


if __name__ == "__main__":
    sys.exit(main())
