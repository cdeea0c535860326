"""The one place where a spec becomes couples: a sweep's cells, a sensitivity analysis' points, a cohort.

Every driver of a spec builds its couples here, so the spec's population,
its [fixed] parameters (typed overrides, ``[WHO.]NAME = value``) and its
seeding rule are applied the same way everywhere. Couples are seeded by
``SeedSequence(spec.seed, spawn_key=...)`` with the spawn keys the caller
names, so a couple is the same wherever and in whatever company it runs.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sim.experiment.spec import CATEGORICAL_FACTORS, Design, Spec
from sim.population import Override, Population, make_population
from sim.selectors import ParameterKey


def fixed_overrides(spec: Spec) -> list[Override]:
    """The spec's [fixed] parameters as typed overrides; measurement settings are the study's, not the couples'."""
    return [Override.at(key, value) for key, value in spec.fixed.items()
            if ParameterKey.parse(key).declaration(value).scope != "measurement"]


def spec_population(spec: Spec, spawn_keys: Sequence[tuple[int, ...]] | np.ndarray,
                    values: Mapping[str, Any] | None = None, pairing: str | None = None) -> Population:
    """Couples of the spec's population (or of ``pairing``), one per spawn key, with ``values`` set per couple."""
    return make_population(pairing or spec.population.pairing, len(spawn_keys), spec.seed,
                           drawn=spec.population.drawn and pairing is None, overrides=fixed_overrides(spec),
                           spawn_keys=spawn_keys, values=values)


def cells_population(design: Design, cells: range) -> Population:
    """The couples of a range of sweep cells: replicate r of cell c has spawn key (seed cell of c, r).

    The seed cell is the cell itself, except that cells differing only in the
    intervention share seeds (Design.seed_cell).
    """
    spec = design.spec
    reps = spec.replicates
    spawn = np.column_stack([np.repeat([design.seed_cell(c) for c in cells], reps),
                             np.tile(np.arange(reps), len(cells))])
    couple_cells = np.repeat(np.arange(len(cells)), reps)
    values = {name: np.array([design.cells[c][name] for c in cells], dtype=float)[couple_cells]
              for name in design.factor_names if name not in CATEGORICAL_FACTORS}
    if "pairing" not in design.factor_names:
        pop = spec_population(spec, spawn, values)
    else:      # one population for each run of neighbouring cells of one pairing (a preset's couples are drawn
        # from their own streams, so building them together gives the same couples as cell by cell)
        parts = []
        for pairing, run in itertools.groupby(range(len(cells)), key=lambda i: design.cells[cells[i]]["pairing"]):
            run = list(run)
            couples = slice(run[0] * reps, (run[-1] + 1) * reps)
            parts.append(spec_population(spec, spawn[couples], {k: v[couples] for k, v in values.items()},
                                         pairing=pairing))
        pop = Population.concat(parts)
    if "intervention" in design.factor_names:
        for i, c in enumerate(cells):
            pop = pop.with_intervention(design.cells[c]["intervention"], spec.interventions,
                                        couples=slice(i * reps, (i + 1) * reps))
    return pop


def points_population(spec: Spec, names: Sequence[str], points: np.ndarray) -> Population:
    """``spec.replicates`` couples at each sample point (row of ``points`` over ``names``).

    The same couples at every point (spawn key (r,) for replicate r: common random numbers), so an elementary
    effect or a variance share compares the same people under two settings, not two different groups of
    people. Integer parameters are rounded to whole values, as their declarations require.
    """
    reps = spec.replicates
    spawn = np.tile(np.arange(reps), len(points))[:, None]
    values = {}
    for j, key in enumerate(names):
        column = np.repeat(points[:, j], reps)
        values[key] = np.round(column) if ParameterKey.parse(key).declaration().kind is int else column
    return spec_population(spec, spawn, values)


def cohort_population(spec: Spec, sample: int, couples: int) -> Population:
    """Cohort ``sample`` of a virtual study: couples with spawn keys (sample, 0..couples-1)."""
    return spec_population(spec, np.column_stack([np.full(couples, sample), np.arange(couples)]))
