"""Random numbers without shared state: a counter-based generator keyed per couple.

The k-th normal of partner r of a couple on day t is a pure function of
(couple key, t, r, k). Couple keys come from ``numpy.random.SeedSequence``
(root seed plus a spawn key per couple). So a couple's random numbers do not
depend on how many couples run beside it, in which order, or on how many
workers: the Mesa model and the batch engine draw the same numbers, and the
same replicate is the same couple (common random numbers) wherever it runs.

The generator is SplitMix64 (Steele, Lea & Flood 2014) read at a position:
uniform number m of a couple is SplitMix64's output function applied to
``key + golden * (m + 1)``, which is exactly the m-th output of a SplitMix64
stream seeded with the key. Couples' keys are independent 64-bit numbers, so
their streams (a few thousand positions each) do not overlap in practice.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

NORMALS_PER_DAY = 4  # per partner: stressor, perceived responsiveness, perceived goal support, spare
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_BLOCK = 2 * NORMALS_PER_DAY  # uniforms per partner per block; two partners per block
# Draws made once per couple (drawn populations) live far beyond any simulated day.
SETUP_BLOCK = 1 << 40


def couple_keys(seed: int | None, spawn_keys: Iterable[Sequence[int]]) -> np.ndarray:
    """One uint64 key per couple: ``SeedSequence(seed, spawn_key=k).generate_state(1, uint64)``.

    Args:
        seed: the run's root seed (an int; ``None`` draws fresh entropy).
        spawn_keys: one tuple of non-negative ints per couple, e.g. ``(couple,)``
            or ``(cell, replicate)``; it names the couple independently of
            execution order.
    """
    entropy = np.random.SeedSequence(seed).entropy
    return np.array([np.random.SeedSequence(entropy, spawn_key=tuple(k)).generate_state(1, np.uint64)[0]
                     for k in spawn_keys], dtype=np.uint64)


def _mix(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def uniforms(keys: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Uniform numbers in [0, 1) at the given stream positions of each couple.

    ``keys`` has shape (couples,); ``positions`` (uint64) broadcasts against
    ``keys[:, None, ...]``.
    """
    keys = np.asarray(keys, dtype=np.uint64).reshape((-1,) + (1,) * np.ndim(positions))
    with np.errstate(over="ignore"):
        bits = _mix(keys + _GOLDEN * (positions + np.uint64(1)))
    return (bits >> np.uint64(11)).astype(np.float64) * (2.0 ** -53)


def block_normals(keys: np.ndarray, block: int) -> np.ndarray:
    """Standard normals of one block (one day), shape ``(couples, 2, NORMALS_PER_DAY)``.

    Pairs of uniforms become two normals by the Box-Muller transform.
    """
    pairs = NORMALS_PER_DAY // 2
    base = (np.uint64(block) * np.uint64(2) + np.arange(2, dtype=np.uint64).reshape(2, 1)) * np.uint64(_BLOCK) \
        + np.arange(pairs, dtype=np.uint64).reshape(1, pairs) * np.uint64(2)
    u1 = uniforms(keys, base)
    u2 = uniforms(keys, base + np.uint64(1))
    radius = np.sqrt(-2.0 * np.log1p(-u1))  # 1 - u1 lies in (0, 1]
    angle = (2.0 * np.pi) * u2
    return np.concatenate([radius * np.cos(angle), radius * np.sin(angle)], axis=-1)


def daily_normals(keys: np.ndarray, day: int) -> np.ndarray:
    """The day's normals for every partner: ``(couples, 2, NORMALS_PER_DAY)``."""
    return block_normals(keys, day)


def setup_draws(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Once-per-couple draws for drawn populations.

    Returns ``(uniform, normal)``: uniforms of shape (couples, 2) and normals
    of shape (couples, 2, NORMALS_PER_DAY), both from the setup block.
    """
    normal = block_normals(keys, SETUP_BLOCK)
    positions = np.uint64(SETUP_BLOCK + 1) * np.uint64(2 * _BLOCK) + np.arange(2, dtype=np.uint64)
    return uniforms(keys, positions), normal
