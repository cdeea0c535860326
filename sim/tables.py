"""The tidy tables the drivers write, and writing them safely."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

from sim.dynamics import STATE_FIELDS

# One row per agent per day.
DAILY_COLUMNS: tuple[str, ...] = (
    "couple_id", "agent_id", "role", "style", "pairing", "day", "together",
    *STATE_FIELDS, "responsiveness", "goal_support",
)


def agent_id(couple_id, role_index):
    """Agent ids as Mesa assigns them: partners a and b of couple c are 2c+1 and 2c+2."""
    return 2 * couple_id + role_index + 1


def write_parquet_atomic(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``frame`` to ``path`` via a temporary file in the same folder and a rename.

    A reader never sees a half-written file, and an interrupted write leaves
    whatever was at ``path`` before.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
