"""numba set-up shared by the compiled modules: a machine-code cache that cannot go stale.

numba invalidates a cached function only when its own source file changes,
not when a function it inlines from another file does; a stale kernel would
then read or write its arrays with old layouts. So the cache lives in a
folder named after a fingerprint of every source file of the package (no
list to keep up to date: compiled code reads the equations, the parameter
declarations, the schedule's columns and more): any change to any of them
starts a fresh cache. Import this module before decorating anything with
``numba.njit(cache=True)``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import llvmlite.binding as llvm


def _wide_vectors() -> str | None:
    """The host's CPU features with 512-bit vectors preferred, if it has AVX-512 and the user set none.

    LLVM prefers 256-bit vectors on Intel server cores (their 512-bit units
    once lowered the clock); the engine's loops over a block of couples are
    long and arithmetic-bound, and run about 25% faster with 512-bit vectors
    on this project's machines (docs/performance.md).
    """
    if os.environ.get("NUMBA_CPU_FEATURES") or os.environ.get("NUMBA_CPU_NAME"):
        return None
    features = llvm.get_host_cpu_features().flatten()
    return features + ",-prefer-256-bit" if "+avx512f" in features.split(",") else None


_FEATURES = _wide_vectors()
if _FEATURES is not None:
    os.environ["NUMBA_CPU_NAME"] = llvm.get_host_cpu_name()
    os.environ["NUMBA_CPU_FEATURES"] = _FEATURES

import numba  # noqa: E402  (after the CPU features are chosen)

if _FEATURES is not None:        # numba may have been imported before this module
    numba.config.CPU_NAME = os.environ["NUMBA_CPU_NAME"]
    numba.config.CPU_FEATURES = _FEATURES

# numba's arrays carry no aliasing information, so before vectorising a loop LLVM checks at run time that
# the arrays it writes do not overlap those it reads. The engine's loop over a block of couples writes 26
# state columns and reads some 120; LLVM's default limit (8 such checks) would leave it scalar. The checks
# run once per loop over the block, not per couple. Set before anything is compiled.
for _option in ("-runtime-memory-check-threshold=100000", "-vectorize-memory-check-threshold=100000",
                "-memory-check-merge-threshold=100000"):
    llvm.set_option("", _option)

_PACKAGE = Path(__file__).resolve().parent


def fingerprint() -> str:
    """Hash of the numba version and every source file of the package (numba's index keys entries by CPU)."""
    digest = hashlib.sha256(numba.__version__.encode())
    for path in sorted(_PACKAGE.rglob("*.py")):
        digest.update(str(path.relative_to(_PACKAGE)).encode())
        digest.update(path.read_bytes())
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
