"""What produced an output: the manifest written beside every result."""

from __future__ import annotations

import datetime as dt
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("cycles", "mesa", "numpy", "pandas", "pyarrow", "plotly", "networkx", "numba", "scipy",
            "pydantic", "dask", "distributed")


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages results depend on."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state() -> dict[str, Any]:
    """Commit and dirtiness of the source tree the package runs from (None outside git)."""
    source = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"],
                                    capture_output=True, text=True, timeout=10, check=True).stdout.strip())
        return {"git_commit": commit, "git_dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None, "git_dirty": None}


def now() -> str:
    """Current UTC time, ISO 8601."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def build(**fields: Any) -> dict[str, Any]:
    """A manifest: the given fields plus versions, Python, platform and git state."""
    return {**fields, "versions": package_versions(), "python": sys.version.split()[0],
            "platform": platform.platform(), **git_state()}


def of_design(design: Any, command: str, started: str, seconds: float, **fields: Any) -> dict[str, Any]:
    """The manifest of a command run on a spec (sim.experiment.spec.Design).

    What every such command records of its spec (as given and as resolved, root
    seed, fingerprint) and of its run, plus ``fields``.
    """
    spec = design.spec
    return build(command=command, name=spec.name, purpose=spec.purpose, spec_file=design.path,
                 spec_as_given=design.source, spec_resolved=design.resolved(), root_seed=spec.seed,
                 fingerprint=design.fingerprint(), **fields, started=started, finished=now(),
                 seconds=round(seconds, 3))
