"""sim.randomness against a stored reference vector, and its normals' tails and distribution.

(a) tests/baselines/random_streams.json holds, for a few fixed keys and stream
    positions (the first days, the setup block at 3 * 2^40, the measurement
    block at 3 * 2^41), the raw 64-bit outputs, both uniforms and both normals;
    the outputs of daily_normals, daily_conflict_uniforms, daily_shared_normals,
    setup_draws and measurement_draws for three real couple keys; and the keys
    couple_keys(root, spawn_keys) gives for a few
    roots and spawn keys. They are compared bit for bit (integers exactly,
    floats as their uint64 bit patterns). :func:`reference_streams` below is the
    only code that makes the file; regenerate it on purpose with
    ``.venv/bin/python scripts/update_baselines.py streams`` and say why in the
    commit: a change means every stored result of the model changes too.
(b) About 4 million normals and uniforms from 1,000 couples' day streams:
    tail shares, a Kolmogorov-Smirnov test against N(0, 1), skewness, excess
    kurtosis, extremes, uniforms strictly inside (0, 1) and on their 2^-32 grid,
    a chi-square test of equal-frequency bins, and Acklam's stated accuracy.
    Mean, SD and lag-1 correlation are in tests/test_mechanisms.py.

The streams are deterministic (fixed seeds), so these tests never flake: the
alphas below are the chance that a correct generator, under another seed,
would fail.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numba
import numpy as np
import pytest
from scipy import special, stats

from sim import randomness as R

REFERENCE = Path(__file__).parent / "baselines" / "random_streams.json"
NOTE = ("Reference vector of sim.randomness (tests/test_random_streams.py), compared bit for bit. "
        "Made only by tests/test_random_streams.py::reference_streams; regenerate on purpose with "
        "`.venv/bin/python scripts/update_baselines.py streams`. Integers are uint64 values; floats are "
        "shortest round-trip reprs (compared as their uint64 bit patterns). 'first' is a stream position; "
        "normal_a/high_uniform come from the high 32 bits, normal_b/low_uniform from the low 32 bits.")

# Fixed keys: 0, the published SplitMix64 seed 1234567, the largest uint64 (the sum wraps), and a real couple key.
STREAM_KEYS = (0, 1234567, (1 << 64) - 1, int(R.couple_keys(7, [(0,)])[0]))
STREAM_BLOCKS = (("day", 0, 32), ("setup", R.SETUP_BLOCK * R.NORMALS_PER_DAY, 8),
                 ("measurement", R.MEASUREMENT_BLOCK * R.NORMALS_PER_DAY, 8))
ROOTS = (0, 7, 20240601, (1 << 63) + 12345)
SPAWN_KEYS = ((0,), (1,), (2,), (41,), (9999,), (0, 0), (3, 1), (2, 7, 1))
API_ROOT, API_COUPLES, API_DAYS, MEASUREMENTS = 7, 3, (0, 1, 364), 5

# Rosetta Code "Pseudo-random numbers/Splitmix64": the first five outputs of SplitMix64 seeded with 1234567.
PUBLISHED_SPLITMIX64_1234567 = (6457827717110365317, 3203168211198807973, 9817491932198370423,
                                4593380528125082431, 16408922859458223821)
MASK64 = (1 << 64) - 1


def _stream(key: int, first: int, count: int) -> dict:
    key64 = np.uint64(key)
    bits = [np.uint64(R.stream_bits(key64, np.uint64(first + k))) for k in range(count)]
    high = [float(R.high_uniform(b)) for b in bits]
    low = [float(R.low_uniform(b)) for b in bits]
    return {"key": key, "first": first, "bits": [int(b) for b in bits], "high_uniform": high,
            "low_uniform": low, "normal_a": [float(R.inverse_normal(u)) for u in high],
            "normal_b": [float(R.inverse_normal(u)) for u in low]}


def reference_streams() -> dict:
    """The reference vector, computed now (the one place that defines random_streams.json)."""
    entries: dict[str, dict] = {}
    for key in STREAM_KEYS:
        for block, first, count in STREAM_BLOCKS:
            entries[f"stream key={key:#018x} {block}"] = _stream(key, first, count)
    for root in ROOTS:
        entries[f"couple_keys root={root}"] = {
            "root": root, "spawn_keys": [list(k) for k in SPAWN_KEYS],
            "keys": [int(k) for k in R.couple_keys(root, SPAWN_KEYS)]}
    keys = R.couple_keys(API_ROOT, [(c,) for c in range(API_COUPLES)])
    api = f"root={API_ROOT} couples=0..{API_COUPLES - 1}"
    for day in API_DAYS:
        entries[f"daily_normals {api} day={day}"] = {"day": day, "normal": R.daily_normals(keys, day).tolist()}
    for day in API_DAYS:
        entries[f"daily_conflict_uniforms {api} day={day}"] = {
            "day": day, "uniform": R.daily_conflict_uniforms(keys, day).tolist()}
        entries[f"daily_shared_normals {api} day={day}"] = {
            "day": day, "normal": R.daily_shared_normals(keys, day).tolist()}
    uniform, normal = R.setup_draws(keys)
    entries[f"setup_draws {api}"] = {"uniform": uniform.tolist(), "normal": normal.tolist()}
    entries[f"measurement_draws {api}"] = {"count": MEASUREMENTS,
                                           "normal": R.measurement_draws(keys, MEASUREMENTS).tolist()}
    return {"note": NOTE, "entries": entries}


def dumps_reference(reference: dict) -> str:
    """JSON text: one entry per block, each list on one line (readable diffs)."""
    lines = ["{", f" \"note\": {json.dumps(reference['note'])},", " \"entries\": {"]
    names = list(reference["entries"])
    for i, name in enumerate(names):
        fields = reference["entries"][name]
        body = ",\n".join(f"   {json.dumps(k)}: {json.dumps(v, allow_nan=False)}" for k, v in fields.items())
        lines.append(f"  {json.dumps(name)}: {{\n{body}\n  }}" + ("," if i < len(names) - 1 else ""))
    lines += [" }", "}"]
    return "\n".join(lines) + "\n"


def _exact(value):
    """Floats as ("f", uint64 bit pattern), recursively, so == means bit for bit."""
    if isinstance(value, float):
        return ("f", int(np.float64(value).view(np.uint64)))
    if isinstance(value, (list, tuple)):
        return [_exact(v) for v in value]
    if isinstance(value, dict):
        return {k: _exact(v) for k, v in value.items()}
    return value


def changed_entries(old: dict, new: dict) -> list[str]:
    """Names of entries (and fields) that differ bit for bit, or exist on one side only."""
    old_e, new_e = old.get("entries", {}), new.get("entries", {})
    out = [f"{n} (removed)" for n in old_e if n not in new_e] + [f"{n} (new)" for n in new_e if n not in old_e]
    for name in (n for n in old_e if n in new_e):
        fields = set(old_e[name]) | set(new_e[name])
        out += [f"{name}: {f}" for f in sorted(fields)
                if _exact(old_e[name].get(f)) != _exact(new_e[name].get(f))]
    return out


# ---------------------------------------------------------------- (a) the stored reference, bit for bit

def test_streams_match_the_stored_reference_bit_for_bit():
    stored = json.loads(REFERENCE.read_text())
    changed = changed_entries(stored, reference_streams())
    assert not changed, (f"{len(changed)} entries of {REFERENCE.name} differ bit for bit: "
                         + "; ".join(changed[:10]) + ". If intended, regenerate with "
                         "`.venv/bin/python scripts/update_baselines.py streams` and say why in the commit.")


def _splitmix64(key: int, m: int) -> int:
    """The m-th output of SplitMix64 seeded with key, in plain Python integers (Steele, Lea & Flood 2014)."""
    z = (key + 0x9E3779B97F4A7C15 * (m + 1)) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def test_the_stored_bits_are_splitmix64_and_the_uniforms_and_normals_follow_the_documented_layout():
    stored = json.loads(REFERENCE.read_text())["entries"]
    assert tuple(stored["stream key=0x000000000012d687 day"]["bits"][:5]) == PUBLISHED_SPLITMIX64_1234567
    for name, e in stored.items():
        if not name.startswith("stream "):
            continue
        assert e["bits"] == [_splitmix64(e["key"], e["first"] + m) for m in range(len(e["bits"]))], name
        assert e["high_uniform"] == [((b >> 32) + 0.5) / 2**32 for b in e["bits"]], name
        assert e["low_uniform"] == [((b & 0xFFFFFFFF) + 0.5) / 2**32 for b in e["bits"]], name
        # Acklam's approximation: relative error below 1.2e-9 (the module's docstring; Acklam states 1.15e-9).
        for u, z in zip(e["high_uniform"] + e["low_uniform"], e["normal_a"] + e["normal_b"], strict=True):
            assert abs(z - special.ndtri(u)) <= 1.2e-9 * abs(special.ndtri(u)), (name, u, z)
    # The public functions read the positions the module docstring gives: day t = 3t + k, a high, b low;
    # setup normals at 3 * 2^40 + k (k < 4) and uniforms at 3 * 2^40 + 4; measurements at 3 * 2^41 + k.
    keys = R.couple_keys(API_ROOT, [(c,) for c in range(API_COUPLES)])
    api = f"root={API_ROOT} couples=0..{API_COUPLES - 1}"
    setup, measurement = R.SETUP_BLOCK * R.NORMALS_PER_DAY, R.MEASUREMENT_BLOCK * R.NORMALS_PER_DAY
    for c, key in enumerate(int(k) for k in keys):
        for day in API_DAYS:
            s = _stream(key, day * R.NORMALS_PER_DAY, R.NORMALS_PER_DAY)
            assert stored[f"daily_normals {api} day={day}"]["normal"][c] == [s["normal_a"], s["normal_b"]]
        s = _stream(key, setup, 5)
        assert stored[f"setup_draws {api}"]["normal"][c] == [s["normal_a"][:4], s["normal_b"][:4]]
        assert stored[f"setup_draws {api}"]["uniform"][c] == [s["high_uniform"][4], s["low_uniform"][4]]
        s = _stream(key, measurement, MEASUREMENTS)
        assert stored[f"measurement_draws {api}"]["normal"][c] == [s["normal_a"], s["normal_b"]]
    # couple_keys is SeedSequence(entropy of root, spawn_key).generate_state(1, uint64).
    for root in ROOTS:
        e = stored[f"couple_keys root={root}"]
        assert e["keys"] == [int(np.random.SeedSequence(root, spawn_key=tuple(k)).generate_state(1, np.uint64)[0])
                             for k in e["spawn_keys"]]



def test_compiled_couple_keys_are_numpys_seed_sequence_bit_for_bit():
    """The compiled SeedSequence hash gives numpy's keys for roots of any size and spawn keys of any length."""
    rng = np.random.default_rng(11)
    roots = [0, 1, 2**32 - 1, 2**32, 2**64 + 5, 2**127 + 3, int(rng.integers(0, 2**62))]
    for root in roots:
        for parts in (1, 2, 3, 5):
            spawn = [tuple(int(x) for x in rng.integers(0, 2**32, parts)) for _ in range(40)]
            spawn += [(0,) * parts, (2**32 - 1,) * parts]
            expected = [np.random.SeedSequence(root, spawn_key=k).generate_state(1, np.uint64)[0] for k in spawn]
            assert R.couple_keys(root, spawn).tolist() == expected
            assert R.couple_keys(root, np.array(spawn, dtype=np.int64)).tolist() == expected
    # Parts beyond 32 bits, and keys of different lengths, take numpy's own path, with the same result.
    for spawn in ([(3, 2**33)], [(1,), (2, 3)]):
        expected = [np.random.SeedSequence(5, spawn_key=k).generate_state(1, np.uint64)[0] for k in spawn]
        assert R.couple_keys(5, spawn).tolist() == expected


# ---------------------------------------------------------------- (b) tails and distribution of the normals

SAMPLE_COUPLES, SAMPLE_DAYS = 1000, 700  # 1000 x 700 days x 2 partners x 3 = 4.2 million normals and uniforms
ALPHA = 1e-3  # KS and chi-square: a correct generator would fail under one seed in a thousand
SD_BOUND = 5  # tails and moments within 5 standard errors: two-sided, a correct generator fails ~6e-7 of seeds


@numba.njit
def _uniforms(keys, positions, out):
    """out[c, m, 0 / 1]: the high / low uniform at position m of couple c's stream (as sim.randomness draws)."""
    for c in range(keys.shape[0]):
        for m in range(positions):
            bits = R.stream_bits(keys[c], np.uint64(m))
            out[c, m, 0] = R.high_uniform(bits)
            out[c, m, 1] = R.low_uniform(bits)


@pytest.fixture(scope="module")
def sample():
    """(u, z): aligned flat arrays, z = the day normals of daily_normals, u = the uniforms at the same positions."""
    keys = R.couple_keys(2024, [(c,) for c in range(SAMPLE_COUPLES)])
    days = np.stack([R.daily_normals(keys, d) for d in range(SAMPLE_DAYS)])      # (day, couple, partner, k)
    z = days.transpose(1, 0, 3, 2).reshape(-1)                                    # (couple, 3 day + k, partner)
    u = np.empty((SAMPLE_COUPLES, SAMPLE_DAYS * R.NORMALS_PER_DAY, 2))
    _uniforms(keys, SAMPLE_DAYS * R.NORMALS_PER_DAY, u)
    return u.reshape(-1), z


def check_tails(z):
    n = z.size
    for c in (2.0, 3.0, 4.0):
        p = 2 * special.ndtr(-c)                                  # exact P(|Z| > c) of N(0, 1)
        se = math.sqrt(p * (1 - p) / n)                           # binomial SD of the observed share
        share = np.count_nonzero(np.abs(z) > c) / n
        assert abs(share - p) <= SD_BOUND * se, \
            f"P(|z| > {c:g}) = {share:.3e}, expected {p:.3e} +- {SD_BOUND} x {se:.1e}"
        # one-sided shares too (each tail half as likely), so a skewed tail cannot hide behind the other
        half_se = math.sqrt(p / 2 * (1 - p / 2) / n)
        for side, count in (("z < -", np.count_nonzero(z < -c)), ("z > ", np.count_nonzero(z > c))):
            assert abs(count / n - p / 2) <= SD_BOUND * half_se, \
                f"P({side}{c:g}) = {count / n:.3e}, expected {p / 2:.3e} +- {SD_BOUND} x {half_se:.1e}"


def check_ks(z):
    d = stats.kstest(z, "norm").statistic
    critical = stats.kstwobign.ppf(1 - ALPHA) / math.sqrt(z.size)  # asymptotic Kolmogorov, exact enough at n = 4e6
    assert d < critical, f"KS distance from N(0, 1) {d:.2e} >= critical value {critical:.2e} at alpha {ALPHA:g}"


def check_moments(z):
    n = z.size
    d = z - z.mean()
    d2 = d * d
    m2 = d2.mean()
    skew, kurt = np.dot(d2, d) / n / m2 ** 1.5, np.dot(d2, d2) / n / m2 ** 2 - 3  # sample skewness, excess kurtosis
    assert abs(skew) <= SD_BOUND * math.sqrt(6 / n), f"skewness {skew:.2e}"        # SE of skewness: sqrt(6/n)
    assert abs(kurt) <= SD_BOUND * math.sqrt(24 / n), f"excess kurtosis {kurt:.2e}"  # SE of kurtosis: sqrt(24/n)


def check_extremes(z):
    assert np.isfinite(z).all(), f"{np.count_nonzero(~np.isfinite(z))} normals are not finite"
    # Hard bound: uniforms lie on (b + 0.5) / 2^32, so |z| <= Phi^-1(1 - 2^-33) = 6.338 (+ Acklam's 1.2e-9).
    bound = -special.ndtri(2.0 ** -33) * (1 + 1.2e-9)
    assert -bound <= z.min() and z.max() <= bound, f"extremes {z.min():.3f}, {z.max():.3f} beyond +-{bound:.4f}"
    # Plausible: both tails must reach beyond 4; P(no z < -4 among n) = (1 - 3.2e-5)^n = e^-133 at n = 4.2e6.
    assert z.min() < -4 and z.max() > 4, f"extremes {z.min():.3f}, {z.max():.3f} do not reach +-4"


def check_uniforms(u):
    # Strictly inside (0, 1), and exactly on the grid (b + 0.5) / 2^32, b a 32-bit integer.
    assert u.min() > 0 and u.max() < 1, f"uniforms reach {u.min()!r} .. {u.max()!r}"
    assert u.min() >= 2.0 ** -33 and u.max() <= 1 - 2.0 ** -33, "uniforms beyond the grid's end points"
    b = u * 2.0 ** 32 - 0.5
    assert np.array_equal(b, np.floor(b)), "uniforms off the (b + 0.5) / 2^32 grid"
    # Equal-frequency bins: 1000 bins of width 1/1000, n/1000 = 4,200 expected in each (far above the 5 needed).
    counts = np.bincount((u * 1000).astype(np.int64), minlength=1000)
    chi2 = stats.chisquare(counts).statistic
    critical = stats.chi2.ppf(1 - ALPHA, df=counts.size - 1)
    assert counts.size == 1000 and chi2 < critical, f"chi-square {chi2:.1f} >= {critical:.1f} (999 df, alpha {ALPHA:g})"


def check_accuracy(u, z):
    # The normals are Phi^-1 of the uniforms at the same positions, within Acklam's 1.2e-9 relative error.
    exact = special.ndtri(u)
    assert np.all(np.abs(z - exact) <= 1.2e-9 * np.abs(exact)), "normals are not Phi^-1(u) within 1.2e-9"


def test_normal_tail_shares_match_the_exact_normal_tails(sample):
    check_tails(sample[1])


def test_normals_pass_kolmogorov_smirnov_against_the_standard_normal(sample):
    check_ks(sample[1])


def test_normals_have_no_skewness_or_excess_kurtosis(sample):
    check_moments(sample[1])


def test_normal_extremes_are_finite_and_plausible(sample):
    check_extremes(sample[1])


def test_uniforms_are_strictly_inside_the_unit_interval_and_equally_frequent(sample):
    check_uniforms(sample[0])


def test_normals_are_the_inverse_normal_of_the_uniforms(sample):
    check_accuracy(*sample)
