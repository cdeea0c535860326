"""The measurement model of a diary item and the streams of its draws, compiled.

One place for what a diary's reading of a model variable is, so that the
engine's day (sim.kernel, which reads the items of a block of couples side by
side while they live the diary's days) and sim.diary (which measures
snapshots and real diaries' designs) read alike. docs/ODD.md section 7.10
writes the model out.
"""

from __future__ import annotations

import numba
import numpy as np

from sim import jit  # noqa: F401  (sets the compiled-code cache before any njit)
from sim.randomness import MEASUREMENT_BLOCK, MISSING_BLOCK, NORMALS_PER_DAY

# A couple's stream positions: item k's error on diary day t (0-based) at MEASUREMENT + k * days + t (partner a
# the high half, b the low), whether day t's entry is missed at MISSING + t.
MEASUREMENT_POSITION = np.uint64(MEASUREMENT_BLOCK * NORMALS_PER_DAY)
MISSING_POSITION = np.uint64(MISSING_BLOCK * NORMALS_PER_DAY)


@numba.njit(cache=True, inline="always")
def item_reading(true, low, high, lo, hi, error_sd, z, whole):
    """The measurement model: ``true`` mapped from [low, high] onto [lo, hi], plus error, clipped, maybe rounded."""
    value = min(max(lo + (hi - lo) * (true - low) / (high - low) + error_sd * z, lo), hi)
    return np.rint(value) if whole else value
