"""Random numbers without shared state: a counter-based generator keyed per couple.

Every random number of a couple is a pure function of (couple key, stream
position). Couple keys come from ``numpy.random.SeedSequence`` (root seed plus
a spawn key naming the couple). So a couple's random numbers do not depend on
how many couples run beside it, in which order, or on how many workers; the
Mesa model and the batch engine call the same compiled functions below and
draw bit-identical numbers; and the same replicate is the same couple (common
random numbers) wherever it runs.

- Bits: position m of a couple's stream is SplitMix64's output function
  applied to ``key + golden * (m + 1)`` (Steele, Lea & Flood 2014): exactly
  the m-th output of a SplitMix64 generator seeded with the key. Couples'
  keys are independent 64-bit numbers, so their streams (a few thousand
  positions each) do not overlap in practice.
- Uniforms: each 64-bit output gives two, from its high and low 32 bits:
  ``u = (b + 0.5) / 2^32``, strictly inside (0, 1).
- Normals: ``z = Phi^-1(u)`` by Acklam's rational approximation of the normal
  quantile function (relative error below 1.2e-9), which needs a logarithm
  only in the outer 5% of draws: about three times cheaper than Box-Muller.

Day t uses positions 3t, 3t+1, 3t+2: the high half of output k gives partner
a's k-th normal, the low half partner b's (k = 0 stressor, 1 perceived
responsiveness, 2 perceived goal support). The couple's conflict draws of day t
(sim.dynamics.conflict_event): the high half of position 3 * 2^42 + t says
whether a conflict breaks out (one conflict, for both partners), the high and
low halves of position 3 * 2^44 + t how hard it hits partner a and partner b
(drawn only on days with a conflict); far from the daily normals, so
switching conflicts on leaves every other draw as it was. The
couple's shared stress normal of day t (sim.dynamics.shared_strain) is the high
half of position 3 * 2^43 + t. A diary's measurement errors use the
measurement block (3 * 2^41 + k) and whether an entry is missed the halves
of position 3 * 2^45 + k (sim.diary).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numba
import numpy as np

from sim import jit  # noqa: F401  (sets the compiled-code cache before any njit)

NORMALS_PER_DAY = 3  # per partner: stressor, perceived responsiveness, perceived goal support
SETUP_BLOCK = 1 << 40  # once-per-couple draws live far beyond any simulated day
MEASUREMENT_BLOCK = 1 << 41  # a virtual study's measurement errors, likewise
CONFLICT_BLOCK = 1 << 42  # the couple's daily conflict draws, one position a day
SHARED_BLOCK = 1 << 43  # the couple's shared stress normal, one position a day
CONFLICT_SIZE_BLOCK = 1 << 44  # how hard the day's conflict hits each partner, one position a day
MISSING_BLOCK = 1 << 45  # a diary's missed entries (sim.diary), one uniform per partner and diary day

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_LOW32 = np.uint64(0xFFFFFFFF)

# Acklam (2003), "An algorithm for computing the inverse normal cumulative
# distribution function": coefficients of the central and tail rational functions.
_A = (-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
      1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00)
_B = (-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
      6.680131188771972e+01, -1.328068155288572e+01)
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
      -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00)
_P_LOW = 0.02425


def couple_keys(seed: int | None, spawn_keys: Iterable[Sequence[int]] | np.ndarray) -> np.ndarray:
    """One uint64 key per couple: ``SeedSequence(seed, spawn_key=k).generate_state(1, uint64)``.

    The keys are numpy's own, bit for bit; when every part of every spawn key
    fits in 32 bits (always, for couples, cells and replicates) they are
    computed by :func:`_seed_sequence_keys`, numpy's SeedSequence hash compiled,
    some 100 times faster than building one SeedSequence per couple.

    Args:
        seed: the run's root seed (an int; ``None`` draws fresh entropy).
        spawn_keys: one tuple of non-negative ints per couple, e.g. ``(couple,)``
            or ``(cell, replicate)``, or an integer array (couples, parts); it
            names the couple independently of execution order.
    """
    entropy = np.random.SeedSequence(seed).entropy
    words = _spawn_words(spawn_keys)
    if words is None:
        return np.array([np.random.SeedSequence(entropy, spawn_key=tuple(k)).generate_state(1, np.uint64)[0]
                         for k in spawn_keys], dtype=np.uint64)
    run = _entropy_words(int(entropy))
    if words.shape[1] > 0:
        # numpy pads the run's entropy to the pool size when there is a spawn key, so the two cannot collide.
        run = run + [0] * max(0, _POOL_SIZE - len(run))
    return _seed_sequence_keys(np.array(run, dtype=np.uint64), words)


_POOL_SIZE = 4
_MASK32 = np.uint64(0xFFFFFFFF)
# numpy/random/bit_generator.pyx: the constants of SeedSequence's hash (after Melissa O'Neill's seed_seq_fe).
_INIT_A, _MULT_A = np.uint64(0x43B0D7E5), np.uint64(0x931E8875)
_INIT_B, _MULT_B = np.uint64(0x8B51F9DD), np.uint64(0x58F38DED)
_MIX_MULT_L, _MIX_MULT_R = np.uint64(0xCA01F9DD), np.uint64(0x4973F715)
_XSHIFT = np.uint64(16)


def _entropy_words(value: int) -> list[int]:
    """An int as numpy's SeedSequence reads it: 32-bit words, least significant first; 0 is one word."""
    words = [value & 0xFFFFFFFF]
    value >>= 32
    while value:
        words.append(value & 0xFFFFFFFF)
        value >>= 32
    return words


def _spawn_words(spawn_keys: Iterable[Sequence[int]] | np.ndarray) -> np.ndarray | None:
    """Spawn keys as a (couples, parts) uint64 array of 32-bit words, or None when some part needs more words."""
    if isinstance(spawn_keys, np.ndarray):
        keys = spawn_keys.reshape(len(spawn_keys), -1)
    else:
        spawn_keys = list(spawn_keys)
        if not spawn_keys or len({len(k) for k in spawn_keys}) != 1:
            return None
        try:        # as 64-bit integers when every part fits (an object array of Python ints is 3x slower)
            keys = np.array(spawn_keys, dtype=np.int64).reshape(len(spawn_keys), -1)
        except OverflowError:
            keys = np.array(spawn_keys, dtype=object).reshape(len(spawn_keys), -1)
    if keys.size and (keys.min() < 0 or keys.max() > 0xFFFFFFFF):
        return None
    return np.ascontiguousarray(keys.astype(np.uint64))


@numba.njit(cache=True, inline="always")
def _hashmix(value, hash_const):
    value = (value ^ hash_const) & _MASK32
    hash_const = (hash_const * _MULT_A) & _MASK32
    value = (value * hash_const) & _MASK32
    return value ^ (value >> _XSHIFT), hash_const


@numba.njit(cache=True, inline="always")
def _mix(x, y):
    result = (_MIX_MULT_L * x - _MIX_MULT_R * y) & _MASK32
    return result ^ (result >> _XSHIFT)


@numba.njit(cache=True)
def _seed_sequence_keys(run, spawn):
    """The key ``SeedSequence(entropy, spawn_key).generate_state(1, uint64)`` of numpy, for each row of ``spawn``.

    ``run`` holds the run entropy's 32-bit words (padded as numpy pads them),
    ``spawn`` one row of spawn-key words per couple. The steps are numpy's
    ``mix_entropy`` (a pool of four words) and ``generate_state`` (two words,
    low first).
    """
    n, parts = spawn.shape
    length = run.shape[0] + parts
    keys = np.empty(n, dtype=np.uint64)
    entropy = np.empty(length, dtype=np.uint64)
    entropy[:run.shape[0]] = run
    pool = np.empty(_POOL_SIZE, dtype=np.uint64)
    for c in range(n):
        entropy[run.shape[0]:] = spawn[c]
        hash_const = _INIT_A
        for i in range(_POOL_SIZE):
            pool[i], hash_const = _hashmix(entropy[i] if i < length else np.uint64(0), hash_const)
        for i_src in range(_POOL_SIZE):
            for i_dst in range(_POOL_SIZE):
                if i_src != i_dst:
                    mixed, hash_const = _hashmix(pool[i_src], hash_const)
                    pool[i_dst] = _mix(pool[i_dst], mixed)
        for i_src in range(_POOL_SIZE, length):
            for i_dst in range(_POOL_SIZE):
                mixed, hash_const = _hashmix(entropy[i_src], hash_const)
                pool[i_dst] = _mix(pool[i_dst], mixed)
        hash_const = _INIT_B
        state = np.uint64(0)
        for i_dst in range(2):
            value = (pool[i_dst] ^ hash_const) & _MASK32
            hash_const = (hash_const * _MULT_B) & _MASK32
            value = (value * hash_const) & _MASK32
            state |= (value ^ (value >> _XSHIFT)) << np.uint64(32 * i_dst)
        keys[c] = state
    return keys


@numba.njit(cache=True, inline="always")
def stream_bits(key, position):
    """The 64 random bits at ``position`` of the stream keyed by ``key`` (SplitMix64)."""
    z = key + _GOLDEN * (position + np.uint64(1))
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@numba.njit(cache=True, inline="always")
def high_uniform(bits):
    """Uniform in (0, 1) from the high 32 bits."""
    return (float(bits >> np.uint64(32)) + 0.5) * 2.0 ** -32


@numba.njit(cache=True, inline="always")
def low_uniform(bits):
    """Uniform in (0, 1) from the low 32 bits."""
    return (float(bits & _LOW32) + 0.5) * 2.0 ** -32


@numba.njit(cache=True, inline="always")
def in_normal_tails(p):
    """Whether ``p`` lies in the outer 2 x 2.425% where Acklam's tail formula (with its logarithm) applies."""
    return p < _P_LOW or p > 1.0 - _P_LOW


@numba.njit(cache=True, inline="always")
def central_normal(p):
    """Acklam's central rational function: the normal quantile of ``p`` outside :func:`in_normal_tails`.

    No branch and no logarithm, so the batch engine computes it for a block
    of couples at once in SIMD registers and then redoes the few draws in
    the tails with :func:`tail_normal`.
    """
    q = p - 0.5
    r = q * q
    return (((((_A[0] * r + _A[1]) * r + _A[2]) * r + _A[3]) * r + _A[4]) * r + _A[5]) * q \
        / (((((_B[0] * r + _B[1]) * r + _B[2]) * r + _B[3]) * r + _B[4]) * r + 1.0)


@numba.njit(cache=True, inline="always")
def tail_normal(p):
    """Acklam's tail rational function: the normal quantile of ``p`` in :func:`in_normal_tails`."""
    q = np.sqrt(-2.0 * np.log(min(p, 1.0 - p)))
    tail = (((((_C[0] * q + _C[1]) * q + _C[2]) * q + _C[3]) * q + _C[4]) * q + _C[5]) \
        / ((((_D[0] * q + _D[1]) * q + _D[2]) * q + _D[3]) * q + 1.0)
    return tail if p < 0.5 else -tail


@numba.njit(cache=True, inline="always")
def inverse_normal(p):
    """The standard normal quantile of ``p`` in (0, 1) (Acklam's approximation)."""
    return tail_normal(p) if in_normal_tails(p) else central_normal(p)


@numba.njit(cache=True, inline="always")
def couple_normals(key, first, out):
    """Fill ``out`` (2, k) from stream positions ``first .. first + k - 1``: partner a high halves, b low halves."""
    for k in range(out.shape[1]):
        bits = stream_bits(key, np.uint64(first) + np.uint64(k))
        out[0, k] = inverse_normal(high_uniform(bits))
        out[1, k] = inverse_normal(low_uniform(bits))


@numba.njit(cache=True, inline="always")
def couple_day_normals(key, day, out):
    """Fill ``out`` (2, NORMALS_PER_DAY) with one couple's normals for ``day``."""
    couple_normals(key, np.uint64(day) * np.uint64(NORMALS_PER_DAY), out)


@numba.njit(cache=True, inline="always")
def couple_day_conflict_occurs(key, day):
    """The couple's uniform of ``day`` that says whether a conflict breaks out: high half of ``3 * 2^42 + day``."""
    return high_uniform(stream_bits(key, np.uint64(CONFLICT_BLOCK * NORMALS_PER_DAY) + np.uint64(day)))


@numba.njit(cache=True, inline="always")
def couple_day_conflict_sizes(key, day, out):
    """Fill ``out`` (2,) with how hard ``day``'s conflict hits a and b: the halves of ``3 * 2^44 + day``."""
    sizes = stream_bits(key, np.uint64(CONFLICT_SIZE_BLOCK * NORMALS_PER_DAY) + np.uint64(day))
    out[0] = high_uniform(sizes)
    out[1] = low_uniform(sizes)


@numba.njit(cache=True, inline="always")
def couple_day_conflict(key, day, out):
    """Fill ``out`` (3,) with the couple's conflict uniforms of ``day``: occurs?, size for a, size for b."""
    out[0] = couple_day_conflict_occurs(key, day)
    couple_day_conflict_sizes(key, day, out[1:])


@numba.njit(cache=True, inline="always")
def couple_day_shared_normal(key, day):
    """The couple's shared stress normal of ``day``: high half of position ``3 * 2^43 + day``."""
    return inverse_normal(high_uniform(stream_bits(key, np.uint64(SHARED_BLOCK * NORMALS_PER_DAY) + np.uint64(day))))


@numba.njit(cache=True)
def _fill_daily_shared(keys, day, out):
    for c in range(keys.shape[0]):
        out[c] = couple_day_shared_normal(keys[c], day)


def _per_couple(fill, keys: np.ndarray, day: int, shape: tuple[int, ...]) -> np.ndarray:
    """One day's draws of every couple: ``fill`` (compiled) writes each couple's ``shape`` of them."""
    keys = np.ascontiguousarray(keys, dtype=np.uint64)
    out = np.empty((keys.shape[0], *shape))
    fill(keys, day, out)
    return out


def daily_shared_normals(keys: np.ndarray, day: int) -> np.ndarray:
    """The day's shared stress normal of every couple: ``(couples,)``."""
    return _per_couple(_fill_daily_shared, keys, day, ())


@numba.njit(cache=True)
def _fill_daily_conflict(keys, day, out):
    for c in range(keys.shape[0]):
        couple_day_conflict(keys[c], day, out[c])


def daily_conflict_uniforms(keys: np.ndarray, day: int) -> np.ndarray:
    """The day's conflict uniforms of every couple, ``(couples, 3)``: does a conflict occur, how hard it hits a, b."""
    return _per_couple(_fill_daily_conflict, keys, day, (3,))


@numba.njit(cache=True)
def _fill_daily_normals(keys, day, out):
    for c in range(keys.shape[0]):
        couple_day_normals(keys[c], day, out[c])


def daily_normals(keys: np.ndarray, day: int) -> np.ndarray:
    """The day's normals for every partner: ``(couples, 2, NORMALS_PER_DAY)``."""
    return _per_couple(_fill_daily_normals, keys, day, (2, NORMALS_PER_DAY))


@numba.njit(cache=True)
def _fill_normals(keys, first, normal):
    for c in range(keys.shape[0]):
        couple_normals(keys[c], first, normal[c])


@numba.njit(cache=True)
def _fill_uniform_pair(keys, position, uniform):
    for c in range(keys.shape[0]):
        bits = stream_bits(keys[c], np.uint64(position))
        uniform[c, 0] = high_uniform(bits)
        uniform[c, 1] = low_uniform(bits)


def setup_draws(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Once-per-couple draws for drawn populations.

    Returns ``(uniform, normal)``: uniforms (couples, 2) from the high and low
    halves of stream position ``3 * 2^40 + 4``, and normals (couples, 2, 4)
    from positions ``3 * 2^40 + k``, k = 0..3 (partner a high half, b low half).
    """
    keys = np.ascontiguousarray(keys, dtype=np.uint64)
    base = SETUP_BLOCK * NORMALS_PER_DAY
    uniform = np.empty((keys.shape[0], 2))
    normal = np.empty((keys.shape[0], 2, 4))
    _fill_normals(keys, base, normal)
    _fill_uniform_pair(keys, base + 4, uniform)
    return uniform, normal


def measurement_draws(keys: np.ndarray, count: int, first: int = 0) -> np.ndarray:
    """Normals for a virtual study's measurement errors: (couples, 2, count), positions ``3 * 2^41 + first + k``."""
    keys = np.ascontiguousarray(keys, dtype=np.uint64)
    normal = np.empty((keys.shape[0], 2, count))
    _fill_normals(keys, MEASUREMENT_BLOCK * NORMALS_PER_DAY + first, normal)
    return normal


@numba.njit(cache=True)
def _fill_uniforms(keys, first, uniform):
    for c in range(keys.shape[0]):
        for k in range(uniform.shape[2]):
            bits = stream_bits(keys[c], np.uint64(first) + np.uint64(k))
            uniform[c, 0, k] = high_uniform(bits)
            uniform[c, 1, k] = low_uniform(bits)


def missing_draws(keys: np.ndarray, count: int) -> np.ndarray:
    """Uniforms saying which diary entries are missed: (couples, 2, count), positions ``3 * 2^45 + k``."""
    keys = np.ascontiguousarray(keys, dtype=np.uint64)
    uniform = np.empty((keys.shape[0], 2, count))
    _fill_uniforms(keys, MISSING_BLOCK * NORMALS_PER_DAY, uniform)
    return uniform
