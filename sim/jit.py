"""numba set-up shared by the compiled modules: a machine-code cache that cannot go stale.

numba invalidates a cached function only when its own source file changes,
not when a function it inlines from another file does; a stale kernel would
then read or write its arrays with old layouts. So the cache lives in a
folder named after a fingerprint of every source file that compiled code comes
from: any change to any of them starts a fresh cache. Import this module
before decorating anything with ``numba.njit(cache=True)``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numba

_PACKAGE = Path(__file__).resolve().parent
_COMPILED_SOURCES = ("dynamics.py", "randomness.py", "outcomes.py", "kernel.py", "params.py", "jit.py",
                     "interventions.py", "compiled.py", "schema.py")


def fingerprint() -> str:
    """Hash of the numba version and every source file compiled code depends on."""
    digest = hashlib.sha256(numba.__version__.encode())
    for name in _COMPILED_SOURCES:
        path = _PACKAGE / name
        digest.update(name.encode())
        digest.update(path.read_bytes() if path.exists() else b"")
    return digest.hexdigest()[:16]


def _cache_root() -> Path:
    if os.environ.get("CYCLES_CACHE_DIR"):
        return Path(os.environ["CYCLES_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cycles" / "numba"


def _configure() -> None:
    folder = _cache_root() / fingerprint()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
    except OSError:
        # No writable cache: compile in every process rather than risk a stale one.
        folder = Path(tempfile.mkdtemp(prefix="cycles-numba-"))
    numba.config.CACHE_DIR = str(folder)


_configure()
