"""The batch engine's loop over couples and days, compiled, around the equations of sim.dynamics.

The equations come compiled from sim.compiled (no second copy of any
equation). The loop over couples and days is generated from ``STATE_FIELDS``
and the parameter declarations (:func:`generated_source`) and written, at
first use, into the compiled-code cache folder (``sim.jit``), which is keyed
by a hash of the compiled sources; it is a real module there so that numba
can cache its machine code between processes.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

import numba
import numpy as np
import pandas as pd

from sim import interventions
from sim.dynamics import STATE_FIELDS
from sim.interventions import PARTNER_PARAMETERS, partner_rows


class PackedParameters(NamedTuple):
    """Partner parameters as the kernel reads them: a table of distinct profiles and an index.

    A sweep cell (or a preset) gives many couples the same parameters; each
    agent then reads one short, cache-resident row instead of one value per
    parameter from arrays as long as the population.
    """

    profiles: np.ndarray   # (profiles, 2, len(PARTNER_PARAMETERS)) distinct parameter rows of a couple
    index: np.ndarray      # (couples,) the profile of each couple


def _first_rows(index: np.ndarray) -> np.ndarray:
    """The first row of each profile, in profile order."""
    return np.unique(index, return_index=True)[1]


def pack(partner: dict[str, np.ndarray]) -> PackedParameters:
    """Pack a population's partner parameters (name -> (couples, 2) array) for :func:`advance`."""
    rows = partner_rows(partner)
    flat = rows.reshape(rows.shape[0], -1)
    varying = [j for j in range(flat.shape[1]) if not np.all(flat[:, j] == flat[0, j])]
    if varying:
        # One 64-bit hash per row of the varying columns, factorized: O(n) and about ten times faster than a
        # MultiIndex when every couple differs (model 2's presets), which made packing a tenth of a run.
        # Exact all the same: a row is trusted to its profile only if it equals the profile's first row.
        values = flat[:, varying]
        index, _ = pd.factorize(pd.util.hash_pandas_object(pd.DataFrame(values), index=False).to_numpy())
        if not np.array_equal(values, values[_first_rows(index)][index]):
            index, _ = pd.MultiIndex.from_arrays(list(values.T)).factorize()     # a hash collision
    else:
        index = np.zeros(flat.shape[0], dtype=np.int64)
    first = _first_rows(index)
    return PackedParameters(np.ascontiguousarray(rows[first]), np.ascontiguousarray(index.astype(np.int64)))


def run(state: np.ndarray, params: PackedParameters, keys: np.ndarray, days: int, couple: dict,
        tracker, aggregates, together: np.ndarray, keep_slot: np.ndarray, series: np.ndarray,
        series_together: np.ndarray, day_slot: np.ndarray, snapshots: np.ndarray, schedule: np.ndarray,
        block: slice = slice(None)) -> None:
    """Run the couples in ``block`` through all ``days`` days, compiled, one couple at a time.

    Couples do not interact, so each couple's whole run happens with its state
    in registers; memory traffic does not grow with the population.

    Args:
        state: (couples, 2, len(STATE_FIELDS)) day-0 state; holds the final
            state on return (a dissolved couple's as it was when it split up).
        params: partner parameters packed by :func:`pack`.
        keys: (couples,) uint64 random-stream keys.
        days: days to simulate.
        couple: couple-scope parameters (name -> (couples,) array).
        tracker: sim.outcomes.CycleTracker, fed every day lived (accumulate_couple).
        aggregates: sim.outcomes.DailyAggregates, fed every day lived (aggregate_couple).
        together: (couples,) bool, True on entry; False on return for couples
            that dissolved.
        keep_slot: (couples,) slot in ``series`` of each couple whose daily
            series is kept, -1 for the others.
        series: (days + 1, kept, 2, len(STATE_FIELDS)) receives the kept series.
        series_together: (days + 1, kept) bool, whether each kept couple was together.
        day_slot: (days + 1,) slot in ``snapshots`` of each day whose state is recorded for every
            couple (the waves of a virtual study), -1 for the other days.
        snapshots: (recorded days, couples, 2, len(STATE_FIELDS)) receives those states.
        schedule: (couples, changes, sim.interventions.RULE_COLUMNS) each couple's
            interventions; couples with none that apply keep their parameters all run.
        block: the couples to run (a slice), so callers can report progress.
    """
    b = block
    planned = interventions.planned_couples(schedule[b])
    low, high = interventions.declared_bounds()
    _loop().run_couples(state[b], params.profiles, params.index[b], keys[b], days,
                couple["shock_day"][b].astype(np.int64), couple["shock_size"][b].astype(float),
                couple["conflict_rate"][b].astype(float), couple["conflict_severity"][b].astype(float),
                couple["shared_stress"][b].astype(float),
                couple["dissolution"][b].astype(np.bool_), couple["dissolution_distress"][b].astype(float),
                couple["dissolution_days"][b].astype(np.int64), tracker.acc[b], tracker.window,
                tracker.late_start, tracker.levels[b], tracker.settle_tolerance[b], aggregates.hist,
                aggregates.sums, aggregates.groups[b], together[b], keep_slot[b], series, series_together,
                day_slot, snapshots[:, b], np.ascontiguousarray(schedule[b]), planned, low, high)


def generated_source() -> str:
    """Source of the generated loop module for the current fields and declarations."""
    def unpack(array: str, names) -> str:
        return ",\n            ".join(f"{array}[{i}]" for i in range(len(names)))

    def store(array: str, new: str) -> str:
        return "\n".join(f"            {array}[{i}] = {new}[{i}]" for i in range(len(STATE_FIELDS)))

    distress = STATE_FIELDS.index("distress")
    return f'''"""The loop over couples and days of the batch engine, generated by sim.kernel.generated_source.

For each couple, for each day: draw the couple's normals, unpack both partners'
state and parameters into PartnerState and PartnerParams tuples (for a couple
with interventions, the day's parameters and conflict drive from the compiled
sim.interventions.scheduled_parameters), compute both
partners' new day from the old couple state with the compiled
sim.dynamics.partner_day (a simultaneous update), write both back, add the day
to the outcome tracker (sim.outcomes.accumulate_couple) and the per-day
aggregates (sim.outcomes.aggregate_couple), keep the series if asked, and
count towards dissolution (sim.dynamics.dissolution_count).
"""

import numba
import numpy as np

from sim import jit  # noqa: F401  (sets the compiled-code cache before any njit)
from sim.dynamics import PartnerState
from sim.compiled import EQUATIONS, SCHEDULED_PARAMETERS, PartnerParams
from sim.outcomes import Acc, accumulate_couple, aggregate_couple
from sim.randomness import (
    NORMALS_PER_DAY,
    couple_day_conflict_occurs,
    couple_day_conflict_sizes,
    couple_day_normals,
    couple_day_shared_normal,
)

partner_day = EQUATIONS["partner_day"]
dissolution_count = EQUATIONS["dissolution_count"]
conflict_event = EQUATIONS["conflict_event"]
shared_strain = EQUATIONS["shared_strain"]
shared_strain_weights = EQUATIONS["shared_strain_weights"]


@numba.njit(cache=True, error_model="numpy")
def run_couples(state, profiles, index, keys, days, shock_day, shock_size, conflict_rate, conflict_severity,
                shared_stress, can_dissolve, dissolution_distress,
                dissolution_days, acc, window, late_start, flare_levels, settle_tolerance, hist, sums, groups,
                together, keep_slot, series, series_together, day_slot, snapshots, schedule, planned, low, high):
    normals = np.empty((2, NORMALS_PER_DAY))
    conflict = np.empty(2)
    ka = np.empty(profiles.shape[2])
    kb = np.empty(profiles.shape[2])
    for c in range(state.shape[0]):
        a = state[c, 0]
        b = state[c, 1]
        ka[:] = profiles[index[c], 0]
        kb[:] = profiles[index[c], 1]
        pa = PartnerParams(
            {unpack("ka", PARTNER_PARAMETERS)})
        pb = PartnerParams(
            {unpack("kb", PARTNER_PARAMETERS)})
        conflict_a = 0.0
        conflict_b = 0.0
        sharing = shared_stress[c] > 0.0
        conflicts = conflict_rate[c] > 0.0
        own_weight, shared_weight = shared_strain_weights(shared_stress[c])
        slot = keep_slot[c]
        streak = 0
        aggregate_couple(hist[0], sums[0], groups[c], state[c])
        if slot >= 0:
            series[0, slot] = state[c]
            series_together[0, slot] = True
        if day_slot[0] >= 0:
            snapshots[day_slot[0], c] = state[c]
        for day in range(1, days + 1):
            if not together[c]:
                if slot >= 0:
                    series[day, slot] = state[c]
                if day_slot[day] >= 0:
                    snapshots[day_slot[day], c] = state[c]
                continue
            couple_day_normals(keys[c], day, normals)
            if sharing:
                z_shared = couple_day_shared_normal(keys[c], day)
                normals[0, 0] = shared_strain(normals[0, 0], z_shared, own_weight, shared_weight)
                normals[1, 0] = shared_strain(normals[1, 0], z_shared, own_weight, shared_weight)
            shock = shock_size[c] if day == shock_day[c] else 0.0
            shock_a = shock
            shock_b = shock
            if conflicts:
                # One conflict for both partners; how hard it hits is each partner's own draw.
                occurs = couple_day_conflict_occurs(keys[c], day)
                if occurs < conflict_rate[c]:     # conflict_event is 0 otherwise: skip its draws and logarithms
                    couple_day_conflict_sizes(keys[c], day, conflict)
                    shock_a += conflict_event(occurs, conflict[0], conflict_rate[c], conflict_severity[c])
                    shock_b += conflict_event(occurs, conflict[1], conflict_rate[c], conflict_severity[c])
            if planned[c]:
                conflict_a = SCHEDULED_PARAMETERS(profiles[index[c], 0], ka, schedule[c], 0, day, low, high)
                conflict_b = SCHEDULED_PARAMETERS(profiles[index[c], 1], kb, schedule[c], 1, day, low, high)
                pa = PartnerParams(
            {unpack("ka", PARTNER_PARAMETERS)})
                pb = PartnerParams(
            {unpack("kb", PARTNER_PARAMETERS)})
            old_a = PartnerState(
            {unpack("a", STATE_FIELDS)})
            old_b = PartnerState(
            {unpack("b", STATE_FIELDS)})
            new_a = partner_day(old_a, old_b, pa, normals[0], shock_a + conflict_a)
            new_b = partner_day(old_b, old_a, pb, normals[1], shock_b + conflict_b)
{store("a", "new_a")}
{store("b", "new_b")}
            accumulate_couple(acc[c], day, window, late_start, shock_day[c], flare_levels[c],
                              settle_tolerance[c], state[c])
            aggregate_couple(hist[day], sums[day], groups[c], state[c])
            if can_dissolve[c]:
                streak = dissolution_count(streak, a[{distress}], b[{distress}], dissolution_distress[c])
                if streak >= dissolution_days[c]:
                    together[c] = False
                    acc[c, Acc.DISSOLUTION_DAY] = day
            if slot >= 0:
                series[day, slot] = state[c]
                series_together[day, slot] = together[c]
            if day_slot[day] >= 0:
                snapshots[day_slot[day], c] = state[c]
'''


_LOOP = None


def _loop():
    """The generated loop module, written into the compiled-code cache folder and imported from there."""
    global _LOOP
    if _LOOP is None:
        path = Path(numba.config.CACHE_DIR) / "kernel_loop.py"
        source = generated_source()
        if not path.exists() or path.read_text() != source:
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".py")
            with os.fdopen(fd, "w") as handle:
                handle.write(source)
            os.replace(tmp, path)
        name = "sim._generated_kernel_loop"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        # numba's cache re-imports a function's module by name when it loads machine code.
        sys.modules[name] = module
        spec.loader.exec_module(module)
        _LOOP = module
    return _LOOP
