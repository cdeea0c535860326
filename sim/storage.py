"""Writing results so that they are never half-written, mixed up, or left behind.

- Every file is written to a temporary name beside it, flushed to disk, then
  renamed into place (:func:`atomic_output`): a reader sees the old file or
  the new one, never half of one, even after a crash or a kill -9.
- An output belongs to one command at a time (:func:`claim`): an exclusive
  lock (filelock) is held on it for the whole command, and a second command
  is refused in one line instead of writing beside the first.
- Temporary files a killed command left behind are removed by the next
  command that claims the output (:func:`remove_stale_parts`).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

PART_SUFFIX = ".part"
# mkstemp's temporary name: "." + name + "." + 8 random characters + ".part"
_TEMPORARY_EXTRA = 1 + 1 + 8 + len(PART_SUFFIX)
LOCK_NAME = ".cycles.lock"


class OutputBusy(OSError):
    """Another command holds the output."""


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    A reader never sees a half-written file, and a failed or interrupted write
    leaves whatever was at ``path`` before.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=PART_SUFFIX, dir=path.parent)
    os.close(fd)
    # mkstemp makes the file private (0600); results should get the usual permissions.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield Path(tmp)
        # Flushed before the rename, so a crash cannot leave the new name on empty or partial content.
        with open(tmp, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
        _fsync_folder(path.parent)
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
    check_name_length(path)
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


def check_name_length(path: str | os.PathLike) -> None:
    """Raise OSError unless ``path`` and its temporary twin fit the file system's name and path limits."""
    path = Path(path)
    folder = path.parent
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    try:
        name_max = os.pathconf(folder, "PC_NAME_MAX")
        path_max = os.pathconf(folder, "PC_PATH_MAX")
    except (OSError, ValueError):
        name_max, path_max = 255, 4096
    for part in path.parts[:-1]:
        if len(os.fsencode(part)) > name_max:
            raise OSError(f"the folder name {part[:40]!r}... has {len(part)} characters, over the limit of {name_max}")
    longest = len(os.fsencode(path.name)) + _TEMPORARY_EXTRA
    if longest > name_max:
        raise OSError(f"the file name has {len(path.name)} characters; with its temporary suffix that is over "
                      f"the limit of {name_max} (at most {name_max - _TEMPORARY_EXTRA})")
    if len(os.fsencode(str(path.absolute()))) + _TEMPORARY_EXTRA > path_max:
        raise OSError(f"the path is over the limit of {path_max} characters")


def remove_stale_parts(folder: str | os.PathLike, names: tuple[str, ...] | None = None) -> list[Path]:
    """Delete temporary files (``.NAME.XXXXXXXX.part``) a killed command left in ``folder`` and its chunks/.

    ``names`` limits it to the temporaries of those files. Only called while
    holding the output's lock, so no live writer owns them.
    """
    folder = Path(folder)
    patterns = [f".{name}.*{PART_SUFFIX}" for name in names] if names else [f".*{PART_SUFFIX}"]
    removed = []
    for place in (folder, folder / "chunks") if names is None else (folder,):
        for pattern in patterns:
            for path in place.glob(pattern):
                if path.is_file():
                    path.unlink(missing_ok=True)
                    removed.append(path)
    return removed


@contextmanager
def claim(folder: str | os.PathLike, files: tuple[str, ...] | None = None) -> Iterator[Path]:
    """Hold an exclusive lock on an output for the whole block; OutputBusy if another command holds it.

    The output is a folder (a sweep's, a study's), or, with ``files``, those
    files in ``folder`` (``cycles run``: the lock is named after the first, so
    commands writing other files into the same folder do not wait). The folder
    is created if needed, and temporaries a killed command left are removed.
    """
    from filelock import FileLock, Timeout
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock_path = folder / (LOCK_NAME if files is None else f".{files[0]}.lock")
    lock = FileLock(str(lock_path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise OutputBusy(f"{folder / files[0] if files else folder} is in use by another cycles command") from None
    try:
        remove_stale_parts(folder, files)
        yield folder
    finally:
        lock.release()
