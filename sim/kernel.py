"""The batch engine's loop over days and couples, compiled, around the equations of sim.dynamics.

Couples are independent, so the engine runs them side by side: a block of
:data:`LANES` couples at a time, days outer and couples inner, with the
block's state, parameters and random numbers in structure-of-arrays layout
(``(field, partner, couple)``: one couple per column). The inner loops have no
branches and no calls into a math library (sim.dynamics.exp_neg, the central
part of the normal quantile), so the compiler turns each of them into SIMD
instructions that work on several couples at once. What is rare and costly
(the normal's tails, a conflict's size, interventions, dissolution, kept
series) is done after each vectorised loop, for the few couples it concerns.

The equations come compiled from sim.compiled (no second copy of any
equation); the outcome tracker and the per-day aggregates are those of
sim.outcomes; a diary's readings on its days (:class:`DiaryItems`) are
sim.measurement's. Every per-couple array is indexed through the block's own
view of it (see :func:`run_lanes`). Everything here is ordinary
numba-compiled Python.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from sim import interventions
from sim.compiled import EQUATIONS, SCHEDULED_PARAMETERS, PartnerParams
from sim.dynamics import STATE_FIELDS, PartnerState
from sim.interventions import PARTNER_PARAMETERS
from sim.measurement import MEASUREMENT_POSITION, MISSING_POSITION, item_reading
from sim.outcomes import ONE_YEAR, Acc, accumulate_day, accumulate_late, accumulate_one_year, aggregate_block
from sim.randomness import (
    CONFLICT_BLOCK,
    CONFLICT_SIZE_BLOCK,
    NORMALS_PER_DAY,
    SHARED_BLOCK,
    central_normal,
    high_uniform,
    in_normal_tails,
    low_uniform,
    stream_bits,
    tail_normal,
)
from sim.schema import SERIES_VARIABLES

# Couples run side by side. 128 keeps a block's state, parameters and draws (about 200 KB) in the core's
# L2 cache while leaving each vectorised loop long enough to amortise its set-up (measured: 64 and 256 are
# within a few per cent, 32 is slower; docs/performance.md).
LANES = 128
assert LANES % 8 == 0, "_listed reads a block's rows eight couples at a time"


def blocks_of(couples: int) -> int:
    """How many blocks of LANES couples hold ``couples`` couples (the last one maybe in part)."""
    return -(-couples // LANES)

partner_day = EQUATIONS["partner_day"]
dissolution_count = EQUATIONS["dissolution_count"]
conflict_event = EQUATIONS["conflict_event"]
shared_strain = EQUATIONS["shared_strain"]
shared_strain_weights = EQUATIONS["shared_strain_weights"]

_DISTRESS = STATE_FIELDS.index("distress")
_FIELDS = len(STATE_FIELDS)
_PARAMETERS = len(PartnerParams._fields)
_TALLIES = len(Acc)


class CoupleScope(NamedTuple):
    """Couple-scope parameters of the couples being run, one entry per couple."""

    shock_day: np.ndarray
    shock_size: np.ndarray
    conflict_rate: np.ndarray
    conflict_severity: np.ndarray
    shared_stress: np.ndarray
    can_dissolve: np.ndarray
    dissolution_distress: np.ndarray
    dissolution_days: np.ndarray


class Tracking(NamedTuple):
    """Where the days go: the outcome tracker's accumulators and the per-day aggregates."""

    acc: np.ndarray                # (_TALLIES, all couples) sim.outcomes.CycleTracker.acc
    first: int                     # the column in acc of the first couple being run
    window: int
    late_start: int
    high: np.ndarray               # (couples,) high_intensity
    quiet: np.ndarray              # (couples,) quiet_intensity
    settle_tolerance: np.ndarray   # (couples,)
    hist: np.ndarray               # sim.outcomes.DailyAggregates.hist
    sums: np.ndarray               # sim.outcomes.DailyAggregates.sums
    groups: np.ndarray             # (couples,) aggregate group of each couple
    summarising: bool              # feed the tracker and the aggregates (False: only state and recordings wanted)


class Recording(NamedTuple):
    """What is kept beyond the outcomes: who is together, kept daily series, recorded days."""

    together: np.ndarray           # (couples,) bool
    keep_slot: np.ndarray          # (couples,) slot in series, -1 if not kept
    series: np.ndarray             # (days + 1, kept, 2, len(STATE_FIELDS))
    series_together: np.ndarray    # (days + 1, kept) bool
    day_slot: np.ndarray           # (days + 1,) slot in snapshots, -1 if not recorded
    snapshots: np.ndarray          # (couples, recorded days, 2, len(STATE_FIELDS))


class DiaryItems(NamedTuple):
    """A diary's daily items, read while the couples live its days (sim.measurement; sim.diary.DiaryReading).

    Every array over couples is the run's; ``daily`` receives the readings,
    in each item's scale, NaN where an entry was missed or lies beyond the
    couple's diary: the numbers sim.diary.measure_couple reads from the same
    days' snapshots. ``daily`` is laid out in the kernel's blocks (block,
    item, partner, day, lane: couple ``c`` is lane ``c % LANES`` of block
    ``c // LANES``), so that a day's readings of a block are stored side by
    side and the diary statistics read them as they are (sim.diary.lanes_of
    and from_lanes convert). The last block's lanes past the last couple are
    not written.
    """

    first_day: int                 # the model day of diary day 1
    days: int                      # diary days (0: no diary read)
    fields: np.ndarray             # (items,) the state field each item reads
    scales: np.ndarray             # (items, 5) the variable's range, the item's scale and its error SD
    whole: np.ndarray              # (items,) bool, read in whole points
    lengths: np.ndarray            # (couples,) diary days kept per couple
    rate: np.ndarray               # (couples,) chance of a missed entry
    daily: np.ndarray              # (blocks of LANES couples, items, 2, days, LANES)


def no_diary() -> DiaryItems:
    """The diary of a run that reads none (the same compiled loop as one that does)."""
    return DiaryItems(0, 0, np.zeros(0, dtype=np.int64), np.zeros((0, 5)), np.zeros(0, dtype=np.bool_),
                      np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros((0, 0, 2, 0, LANES)))


def parameter_columns(partner: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """A population's partner parameters (name -> (couples, 2)) as the kernel reads them, in kernel order.

    Each column is the population's own array when it is already float64,
    C-contiguous and writable (no copy): building a (couples, 2, parameters)
    table first, or packing repeated rows into profiles, cost a tenth of a
    run for 100,000 couples (most of it touching 62 MB of fresh memory).
    """
    return tuple(np.require(partner[name], dtype=np.float64, requirements=["C", "W"])
                 for name in PARTNER_PARAMETERS)


# --- one partner's column of a structure-of-arrays block, as a tuple -------------
# numba's to_fixed_tuple of a strided column measured about 800 ns a couple; these load and store the
# fields directly (under 1 ns) and keep the loop over couples free of calls, so that it vectorises.

def _column_reader(kind):
    """A compiled ``read(array, partner, couple)`` giving ``kind(*array[:, partner, couple])``."""
    count = len(kind._fields)

    @intrinsic
    def read(typingctx, array, partner, couple):
        result = types.NamedUniTuple(array.dtype, count, kind)

        def codegen(context, builder, signature, args):
            view = context.make_array(array)(context, builder, args[0])
            where = [context.cast(builder, args[1], partner, types.intp),
                     context.cast(builder, args[2], couple, types.intp)]
            items = [builder.load(cgutils.get_item_pointer(context, builder, array, view,
                                                           [context.get_constant(types.intp, f), *where]))
                     for f in range(count)]
            return context.make_tuple(builder, result, items)

        return result(array, partner, couple), codegen

    return read


read_state = _column_reader(PartnerState)
read_params = _column_reader(PartnerParams)


@intrinsic
def write_column(typingctx, array, partner, couple, values):
    """``array[:, partner, couple] = values`` for a tuple of floats (one partner's state)."""
    def codegen(context, builder, signature, args):
        view = context.make_array(array)(context, builder, args[0])
        where = [context.cast(builder, args[1], partner, types.intp),
                 context.cast(builder, args[2], couple, types.intp)]
        for f in range(values.count):
            item = context.cast(builder, builder.extract_value(args[3], f), values.dtype, array.dtype)
            builder.store(item, cgutils.get_item_pointer(context, builder, array, view,
                                                         [context.get_constant(types.intp, f), *where]))
        return context.get_dummy_value()

    return types.void(array, partner, couple, values), codegen


# --- the stages of one day of a block ------------------------------------------------

@intrinsic
def _listed(typingctx, flags, width, found):
    """List in ``found`` the places ``c < width`` where ``flags[c]`` is not 0, in order; return how many.

    The rare and costly work (a normal's tail, a conflict's size) is then done
    for the listed places only: with a plain ``if`` in a vectorised loop the
    compiler, removing the branch, would compute the costly case, logarithm
    and all, for every couple, and a count carried from couple to couple
    keeps the loop scalar (some 6% of the engine's time). Here eight places
    at a time: a vector comparison and LLVM's compress-store (AVX-512's
    ``vpcompressq``; spelled out in scalar code on machines without it), a
    population count for how many. ``flags`` (int64) must hold a multiple
    of 8 values (a row of LANES), of which the first ``width`` are read.
    """
    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        places, chosen_lanes = ir.VectorType(i64, 8), ir.VectorType(ir.IntType(1), 8)
        values = context.make_array(flags)(context, builder, args[0]).data
        listed = context.make_array(found)(context, builder, args[2]).data
        width_value = context.cast(builder, args[1], signature.args[1], types.int64)
        compress = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [places, listed.type, chosen_lanes]),
            "llvm.masked.compressstore.v8i64")
        population = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(8), [ir.IntType(8)]),
                                                     "llvm.ctpop.i8")
        lanes = ir.Constant(places, list(range(8)))
        ends = cgutils.alloca_once_value(builder, ir.Constant(i64, 0))

        def broadcast(value):
            vector = ir.Constant(places, ir.Undefined)
            for lane in range(8):
                vector = builder.insert_element(vector, value, ir.Constant(ir.IntType(32), lane))
            return vector

        with cgutils.for_range_slice(builder, ir.Constant(i64, 0), width_value, ir.Constant(i64, 8)) as (start, _):
            vector = builder.load(builder.bitcast(builder.gep(values, [start]), places.as_pointer()), align=8)
            where = builder.add(broadcast(start), lanes)
            inside = builder.icmp_signed("<", where, broadcast(width_value))
            chosen = builder.and_(builder.icmp_signed("!=", vector, ir.Constant(places, [0] * 8)), inside)
            count = builder.load(ends)
            builder.call(compress, [where, builder.gep(listed, [count]), chosen])
            added = builder.zext(builder.call(population, [builder.bitcast(chosen, ir.IntType(8))]), i64)
            builder.store(builder.add(count, added), ends)
        return builder.load(ends)

    return types.int64(flags, width, found), codegen


@numba.njit(cache=True, inline="always")
def _in_tails(uniform, width, flags, found):
    """:func:`_listed` of the places ``c < width`` where ``uniform[c]`` lies in the normal's tails."""
    for c in range(width):
        flags[c] = 1 if in_normal_tails(uniform[c]) else 0
    return _listed(flags, width, found)


@numba.njit(cache=True, inline="always")
def _draw_normals(keys, width, day, z, uniform, flags, found):
    """The day's normals of the block's couples into ``z`` (2, NORMALS_PER_DAY, LANES).

    Same numbers as sim.randomness.couple_day_normals: every draw through the
    central formula in SIMD registers, then the draws in the tails (about 5%)
    again through the tail formula.
    """
    position = np.uint64(day) * np.uint64(NORMALS_PER_DAY)
    for k in range(NORMALS_PER_DAY):
        for c in range(width):
            bits = stream_bits(keys[c], position + np.uint64(k))
            u_a = high_uniform(bits)
            u_b = low_uniform(bits)
            uniform[0, k, c] = u_a
            uniform[1, k, c] = u_b
            z[0, k, c] = central_normal(u_a)
            z[1, k, c] = central_normal(u_b)
    for r in range(2):
        for k in range(NORMALS_PER_DAY):
            for n in range(_in_tails(uniform[r, k], width, flags, found)):
                z[r, k, found[n]] = tail_normal(uniform[r, k, found[n]])


@numba.njit(cache=True, inline="always")
def _share_strain(keys, width, day, z, shared, shared_uniform, own_weight, shared_weight, flags, found):
    """Mix the couple's shared stress normal of the day into both partners' stressor normals."""
    position = np.uint64(SHARED_BLOCK * NORMALS_PER_DAY) + np.uint64(day)
    for c in range(width):
        u = high_uniform(stream_bits(keys[c], position))
        shared_uniform[c] = u
        shared[c] = central_normal(u)
    for n in range(_in_tails(shared_uniform, width, flags, found)):
        shared[found[n]] = tail_normal(shared_uniform[found[n]])
    for c in range(width):
        for r in range(2):
            z[r, 0, c] = shared_strain(z[r, 0, c], shared[c], own_weight[c], shared_weight[c])


@numba.njit(cache=True, inline="always")
def _add_conflicts(keys, width, day, conflict_rate, conflict_severity, drive, occurs, flags, found):
    """Add the day's random conflicts to ``drive`` (2, LANES): one uniform a couple, a size only on conflict days."""
    position = np.uint64(CONFLICT_BLOCK * NORMALS_PER_DAY) + np.uint64(day)
    for c in range(width):
        occurs[c] = high_uniform(stream_bits(keys[c], position))
    for c in range(width):
        flags[c] = 1 if occurs[c] < conflict_rate[c] else 0     # conflict_event is 0 otherwise
    count = _listed(flags, width, found)
    sizes = np.uint64(CONFLICT_SIZE_BLOCK * NORMALS_PER_DAY) + np.uint64(day)
    for n in range(count):
        c = found[n]
        bits = stream_bits(keys[c], sizes)
        rate, severity = conflict_rate[c], conflict_severity[c]
        drive[0, c] += conflict_event(occurs[c], high_uniform(bits), rate, severity)
        drive[1, c] += conflict_event(occurs[c], low_uniform(bits), rate, severity)


@numba.njit(cache=True, inline="always")
def _record(day, width, x, kept, keep_slot, series, series_together, together, day_slot, snapshots):
    """Keep the day's state of the block's kept couples and, on recorded days, of all of them.

    ``keep_slot``, ``together`` and ``snapshots`` are the block's views.
    """
    if kept:
        for c in range(width):
            slot = keep_slot[c]
            if slot >= 0:
                for r in range(2):
                    for f in range(_FIELDS):
                        series[day, slot, r, f] = x[f, r, c]
                series_together[day, slot] = together[c]
    taken = day_slot[day]
    if taken >= 0:
        for c in range(width):
            for r in range(2):
                for f in range(_FIELDS):
                    snapshots[c, taken, r, f] = x[f, r, c]


@numba.njit(cache=True, inline="always")
def _read_items(keys, width, t, days, x, fields, scales, whole, lengths, rate, daily, gone, uniform, z, flags,
                found):
    """Diary day ``t``'s readings of the block's couples (state ``x``) into ``daily``, the block's (1, ...) view.

    The numbers of sim.diary.measure_couple, worked out for the block side by
    side: the day's missed entries, then each item's errors (through the
    central formula, the few in the tails again through theirs) and readings.
    A reading not made is drawn and set aside (its draws are the couple's
    own, at fixed positions, so no other number changes).
    """
    missing = MISSING_POSITION + np.uint64(t)
    for c in range(width):
        bits = stream_bits(keys[c], missing)
        beyond = t >= lengths[c]
        gone[0, c] = 1.0 if beyond | (high_uniform(bits) < rate[c]) else 0.0
        gone[1, c] = 1.0 if beyond | (low_uniform(bits) < rate[c]) else 0.0
    for k in range(fields.shape[0]):
        position = MEASUREMENT_POSITION + np.uint64(k * days + t)
        for c in range(width):
            bits = stream_bits(keys[c], position)
            u_a = high_uniform(bits)
            u_b = low_uniform(bits)
            uniform[0, 0, c] = u_a
            uniform[1, 0, c] = u_b
            z[0, 0, c] = central_normal(u_a)
            z[1, 0, c] = central_normal(u_b)
        field, in_whole = fields[k], whole[k]
        low, high, lo, hi, error_sd = scales[k, 0], scales[k, 1], scales[k, 2], scales[k, 3], scales[k, 4]
        for r in range(2):
            for n in range(_in_tails(uniform[r, 0], width, flags, found)):
                z[r, 0, found[n]] = tail_normal(uniform[r, 0, found[n]])
            for c in range(width):
                value = item_reading(x[field, r, c], low, high, lo, hi, error_sd, z[r, 0, c], in_whole)
                daily[0, k, r, t, c] = np.nan if gone[r, c] != 0.0 else value


@numba.njit(cache=True, error_model="numpy")
def run_lanes(state, columns, keys, days, scope, tracking, recording, diary, schedule, planned, low, high,
              first, width):
    """Run couples ``first .. first + width - 1`` (at most LANES) through all days, side by side."""
    # Arrays taken out of the tuples once (an array read from a tuple inside a loop costs a reference count),
    # and each per-couple array as the block's own view, indexed by the couple's place in the block: indexed
    # by ``first + c``, which the compiler cannot prove non-negative, numba's wrap-around of negative indices
    # turned every vectorised load into a gather.
    last = first + width
    keys, planned = keys[first:last], planned[first:last]
    shock_day, shock_size = scope.shock_day[first:last], scope.shock_size[first:last]
    conflict_rate, conflict_severity = scope.conflict_rate[first:last], scope.conflict_severity[first:last]
    shared_stress, can_dissolve = scope.shared_stress[first:last], scope.can_dissolve[first:last]
    dissolution_distress = scope.dissolution_distress[first:last]
    dissolution_days = scope.dissolution_days[first:last]
    acc, hist, sums, groups = tracking.acc, tracking.hist, tracking.sums, tracking.groups[first:last]
    window, late_start = tracking.window, tracking.late_start
    summarising = tracking.summarising
    flare_high, flare_quiet = tracking.high[first:last], tracking.quiet[first:last]
    settle_tolerance = tracking.settle_tolerance[first:last]
    together, keep_slot = recording.together[first:last], recording.keep_slot[first:last]
    series, series_together = recording.series, recording.series_together
    day_slot, snapshots = recording.day_slot, recording.snapshots[first:last]
    reading, diary_first, diary_days = diary.days > 0, diary.first_day, diary.days
    item_fields, item_scales, item_whole = diary.fields, diary.scales, diary.whole
    diary_lengths, diary_rate = diary.lengths[first:last], diary.rate[first:last]
    daily = diary.daily[first // LANES:first // LANES + 1]     # the block's readings (none without a diary)
    # The block's arrays, LANES columns whatever the width, allocated once for all its days.
    old = np.empty((_FIELDS, 2, LANES))
    new = np.empty((_FIELDS, 2, LANES))
    parameters = np.empty((_PARAMETERS, 2, LANES))
    base = np.empty((LANES, 2, _PARAMETERS))      # each partner's parameters before interventions, as a row
    z = np.empty((2, NORMALS_PER_DAY, LANES))
    uniform = np.empty((2, NORMALS_PER_DAY, LANES))
    drive = np.zeros((2, LANES))
    scheduled = np.zeros((2, LANES))
    tally = np.empty((_TALLIES, LANES))       # the tracker's accumulators of the block's couples
    shared = np.empty(LANES)
    shared_uniform = np.empty(LANES)
    occurs = np.empty(LANES)
    own_weight = np.empty(LANES)
    shared_weight = np.empty(LANES)
    streak = np.zeros(LANES)
    today = np.empty(_PARAMETERS)
    flags = np.empty(LANES, dtype=np.int64)          # a rare case's couples: flagged 1, then listed (_listed)
    found = np.empty(LANES, dtype=np.int64)
    gone = np.empty((2, LANES))                      # a diary day's entries not made (1.0)
    values = np.empty((len(SERIES_VARIABLES), 2, LANES))             # the aggregated variables and their bins
    bins = np.empty((len(SERIES_VARIABLES), 2, LANES), dtype=np.uint64)   # flat positions in hist
    sharing = conflicts = intervening = dissolving = False
    for c in range(width):
        for r in range(2):
            for f in range(_FIELDS):
                old[f, r, c] = state[first + c, r, f]
    # Parameter by parameter: an array taken out of the tuple once a block, not once a couple and partner
    # (76 times a couple, which had cost 0.7 us a couple, 3% of a year's run).
    for k in range(_PARAMETERS):
        column = columns[k][first:last]
        for c in range(width):
            for r in range(2):
                base[c, r, k] = column[c, r]
                parameters[k, r, c] = column[c, r]
    for c in range(width):
        own_weight[c], shared_weight[c] = shared_strain_weights(shared_stress[c])
        sharing |= shared_stress[c] > 0.0
        conflicts |= conflict_rate[c] > 0.0
        intervening |= planned[c]
        dissolving |= can_dissolve[c]
    column = tracking.first + first
    for k in range(_TALLIES):
        for c in range(width):
            tally[k, c] = acc[k, column + c]
    if summarising:
        aggregate_block(hist[0], sums[0], groups, width, old, together, values, bins)
    kept = False
    for c in range(width):
        kept |= keep_slot[c] >= 0
    _record(0, width, old, kept, keep_slot, series, series_together, together, day_slot, snapshots)
    apart = 0                                  # couples of the block that have split up
    for day in range(1, days + 1):
        _draw_normals(keys, width, day, z, uniform, flags, found)
        if sharing:
            _share_strain(keys, width, day, z, shared, shared_uniform, own_weight, shared_weight, flags, found)
        for c in range(width):
            shock = shock_size[c] if day == shock_day[c] else 0.0
            drive[0, c] = shock
            drive[1, c] = shock
        if conflicts:
            _add_conflicts(keys, width, day, conflict_rate, conflict_severity, drive, occurs, flags, found)
        if intervening:
            for c in range(width):
                if planned[c]:
                    for r in range(2):
                        scheduled[r, c] = SCHEDULED_PARAMETERS(base[c, r], today,
                                                               schedule[first + c], r, day, low, high)
                        for k in range(_PARAMETERS):
                            parameters[k, r, c] = today[k]
        # The equations: both partners' new day from the old couple state (a simultaneous update).
        for c in range(width):
            a = read_state(old, 0, c)
            b = read_state(old, 1, c)
            write_column(new, 0, c, partner_day(a, b, read_params(parameters, 0, c),
                                                (z[0, 0, c], z[0, 1, c], z[0, 2, c]), drive[0, c] + scheduled[0, c]))
            write_column(new, 1, c, partner_day(b, a, read_params(parameters, 1, c),
                                                (z[1, 0, c], z[1, 1, c], z[1, 2, c]), drive[1, c] + scheduled[1, c]))
        if apart:
            for c in range(width):
                if not together[c]:      # a dissolved couple's state stays as it was
                    for r in range(2):
                        for f in range(_FIELDS):
                            new[f, r, c] = old[f, r, c]
        if summarising:       # accumulate_couple, its parts for the whole block (the late ones on their days)
            for c in range(width):
                if together[c]:
                    accumulate_day(tally, c, day, window, shock_day[c], flare_high[c], flare_quiet[c],
                                   settle_tolerance[c], new, c)
            if day >= late_start:
                for c in range(width):
                    if together[c]:
                        accumulate_late(tally, c, flare_quiet[c], new, c)
            if day == ONE_YEAR:
                for c in range(width):
                    if together[c]:
                        accumulate_one_year(tally, c, new, c)
        if summarising:
            aggregate_block(hist[day], sums[day], groups, width, new, together, values, bins)
        if dissolving:
            for c in range(width):
                if can_dissolve[c] and together[c]:
                    streak[c] = dissolution_count(streak[c], new[_DISTRESS, 0, c], new[_DISTRESS, 1, c],
                                                  dissolution_distress[c])
                    if streak[c] >= dissolution_days[c]:
                        together[c] = False
                        tally[Acc.DISSOLUTION_DAY, c] = day
                        apart += 1
        _record(day, width, new, kept, keep_slot, series, series_together, together, day_slot, snapshots)
        if reading and diary_first <= day < diary_first + diary_days:
            _read_items(keys, width, day - diary_first, diary_days, new, item_fields, item_scales, item_whole,
                        diary_lengths, diary_rate, daily, gone, uniform, z, flags, found)
        old, new = new, old
    for c in range(width):
        for r in range(2):
            for f in range(_FIELDS):
                state[first + c, r, f] = old[f, r, c]
    for k in range(_TALLIES):
        for c in range(width):
            acc[k, column + c] = tally[k, c]


@numba.njit(cache=True)
def run_couples(state, columns, keys, days, scope, tracking, recording, diary, schedule, planned, low, high):
    """Every couple of the arrays, a block of LANES at a time."""
    for first in range(0, state.shape[0], LANES):
        run_lanes(state, columns, keys, days, scope, tracking, recording, diary, schedule, planned, low, high,
                  first, min(LANES, state.shape[0] - first))


def run(state: np.ndarray, columns: tuple[np.ndarray, ...], keys: np.ndarray, days: int, couple: dict,
        tracker, aggregates, together: np.ndarray, keep_slot: np.ndarray, series: np.ndarray,
        series_together: np.ndarray, day_slot: np.ndarray, snapshots: np.ndarray, schedule: np.ndarray,
        block: slice = slice(None), summarise: bool = True, diary: DiaryItems | None = None) -> None:
    """Run the couples in ``block`` through all ``days`` days, compiled, LANES couples side by side.

    Args:
        state: (couples, 2, len(STATE_FIELDS)) day-0 state; holds the final
            state on return (a dissolved couple's as it was when it split up).
        columns: partner parameters as :func:`parameter_columns` gives them.
        keys: (couples,) uint64 random-stream keys.
        days: days to simulate.
        couple: couple-scope parameters (name -> (couples,) array).
        tracker: sim.outcomes.CycleTracker, fed every day lived (accumulate_couple).
        aggregates: sim.outcomes.DailyAggregates, fed every day lived (aggregate_block).
        together: (couples,) bool, True on entry; False on return for couples
            that dissolved.
        keep_slot: (couples,) slot in ``series`` of each couple whose daily
            series is kept, -1 for the others.
        series: (days + 1, kept, 2, len(STATE_FIELDS)) receives the kept series.
        series_together: (days + 1, kept) bool, whether each kept couple was together.
        day_slot: (days + 1,) slot in ``snapshots`` of each day whose state is recorded for every
            couple (the waves of a virtual study), -1 for the other days.
        snapshots: (couples, recorded days, 2, len(STATE_FIELDS)) receives those states (couples first, so
            that a block of couples is one contiguous slice, and the compiled loop one type).
        schedule: (couples, changes, sim.interventions.RULE_COLUMNS) each couple's
            interventions; couples with none that apply keep their parameters all run.
        block: the couples to run (a slice with step 1), so callers can report progress.
        summarise: feed ``tracker`` and ``aggregates``; False leaves them untouched (a caller that reads only
            the state, series and snapshots, such as a diary's simulation, does not pay for them).
        diary: a diary's daily items to read on its days (:class:`DiaryItems`, arrays over all couples),
            into its ``daily``; default none.
    """
    b = slice(*block.indices(state.shape[0]))
    # Fresh, writable, contiguous copies of the block's inputs (np.array copies), so the compiled loop always
    # sees one type: a read-only or strided input would compile a second one (45 s).
    scope = CoupleScope(
        *(np.array(couple[name][b], dtype=kind) for name, kind in (
            ("shock_day", np.int64), ("shock_size", float), ("conflict_rate", float),
            ("conflict_severity", float), ("shared_stress", float), ("dissolution", np.bool_),
            ("dissolution_distress", float), ("dissolution_days", np.int64))))
    tracking = Tracking(tracker.acc, b.start, tracker.window, tracker.late_start,
                        np.array(tracker.levels[b, 0]), np.array(tracker.levels[b, 1]),
                        np.array(tracker.settle_tolerance[b], dtype=float), aggregates.hist, aggregates.sums,
                        np.array(aggregates.groups[b]), summarise)
    block_together = np.array(together[b])
    recording = Recording(block_together, np.array(keep_slot[b]), series, series_together, day_slot,
                          snapshots[b])
    block_state = np.array(state[b])
    low, high = interventions.declared_bounds()
    rules = np.array(schedule[b])
    if diary is None or diary.days == 0:
        items = no_diary()
    else:         # the block's rows (a view of daily: the readings land in the caller's array)
        if b.start % LANES:
            raise ValueError(f"a diary's block of couples starts at {b.start}; it must start at a multiple of {LANES}")
        items = diary._replace(lengths=np.array(diary.lengths[b], dtype=np.int64),
                               rate=np.array(diary.rate[b], dtype=float),
                               daily=diary.daily[b.start // LANES:blocks_of(b.stop)])
    # A block of rows of a C-contiguous column is itself C-contiguous and writable: a view, not a copy.
    run_couples(block_state, tuple(column[b] for column in columns), np.array(keys[b]),
                days, scope, tracking, recording, items, rules, interventions.planned_couples(rules), low, high)
    state[b] = block_state
    together[b] = block_together
