"""Writing results so that they are never half-written."""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pandas as pd


@contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    A reader never sees a half-written file, and a failed or interrupted write
    leaves whatever was at ``path`` before.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    # mkstemp makes the file private (0600); results should get the usual permissions.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_parquet(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a table to Parquet atomically."""
    with atomic_output(path) as tmp:
        frame.to_parquet(tmp, index=False)
    return Path(path)


def write_json(data: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write JSON atomically."""
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return Path(path)


def check_writable(path: str | os.PathLike) -> Path:
    """Raise OSError unless ``path`` could be created: its nearest existing folder must be writable.

    Checked before any work, so a bad path fails fast and nothing is written.
    """
    path = Path(path)
    if path.exists() and path.is_dir():
        raise IsADirectoryError(f"{path} is a folder")
    folder = path.parent
    while not folder.exists():
        if folder.parent == folder:
            break
        folder = folder.parent
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder")
    # Permission bits do not tell (root passes os.access on /proc): try it.
    try:
        fd, probe = tempfile.mkstemp(prefix=".cycles-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise PermissionError(f"cannot write in {folder}: {exc.strerror}") from None
    if path.exists() and not os.access(path, os.W_OK):
        raise PermissionError(f"{path} is not writable")
    return path
