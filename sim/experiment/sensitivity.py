"""Sensitivity analysis (SALib): which parameters an outcome hangs on.

Morris screening costs r(p+1) sample points, Sobol with Saltelli sampling
N(p+2) for first-order and total indices (theory.md s.6 gives N(2p+2), which
adds second-order indices). Every sample point is run with the spec's
``replicates`` couples, the same at every point (spawn keys (replicate,): common random
numbers, so the indices measure the parameters, not the differences between groups of people), whose outcomes are
averaged before analysis; points run in chunks through sim.experiment.execution.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from SALib.analyze import morris as morris_analyze
from SALib.analyze import sobol as sobol_analyze
from SALib.sample import morris as morris_sample
from SALib.sample import sobol as sobol_sample

from sim import params as P
from sim.engine import simulate
from sim.experiment.execution import Execution
from sim.experiment.populations import points_population
from sim.experiment.spec import Design, check_outcomes
from sim.manifest import now
from sim.manifest import of_design as manifest_of_design
from sim.report.page import render_page, run_table
from sim.report.panel import Panel
from sim.selectors import ParameterKey
from sim.storage import atomic_output, write_json, write_parquet

POINTS_PER_TASK = 50
# Parameters that define the couple or the run rather than how it behaves: not uncertain by default.
_NOT_UNCERTAIN = {"anxiety", "avoidance", "shock_day", "dissolution", "dissolution_distress", "dissolution_days",
                  "intervention_day"}


class SensitivityError(ValueError):
    """A sensitivity analysis that cannot run as asked."""


def uncertain_parameters(design: Design) -> list[str]:
    """The spec's uncertain parameters ("all": every partner-scope parameter but the traits, plus the shock size)."""
    chosen = design.spec.sensitivity.uncertain
    if chosen == "all":
        return [n for n in P.names("partner") + P.names("couple") if n not in _NOT_UNCERTAIN]
    return list(chosen)


def problem(design: Design) -> dict[str, Any]:
    """The SALib problem: the uncertain parameters and their bounds (as the spec gives them, else declared)."""
    names = uncertain_parameters(design)
    given = design.spec.sensitivity.bounds
    bounds = []
    for key in names:
        decl = ParameterKey.parse(key).declaration()
        bounds.append(list(given.get(key, (float(decl.low), float(decl.high)))))
    return {"num_vars": len(names), "names": names, "bounds": bounds}


def point_count(design: Design, method: str) -> int:
    """Sample points SALib will draw, from the sizes alone: Morris r(p + 1), Sobol (first order) N(p + 2)."""
    spec = design.spec.sensitivity
    p = len(uncertain_parameters(design))
    return spec.trajectories * (p + 1) if method == "morris" else spec.base_samples * (p + 2)


def sample(design: Design, method: str) -> np.ndarray:
    """The SALib sample points for ``method``: Morris trajectories or Saltelli points for first-order Sobol."""
    spec = design.spec.sensitivity
    prob = problem(design)
    if method == "morris":
        return morris_sample.sample(prob, N=spec.trajectories, num_levels=4, seed=design.spec.seed)
    return sobol_sample.sample(prob, N=spec.base_samples, calc_second_order=False, seed=design.spec.seed)


def evaluate_points(design: Design, names: list[str], points: np.ndarray, first: int) -> pd.DataFrame:
    """Run ``replicates`` couples at each sample point; one row per point with the averaged outcomes."""
    spec = design.spec
    reps = spec.replicates
    n_points = len(points)
    pop = points_population(spec, names, points)
    out = simulate(pop, spec.days).outcomes
    out["share_escalating"] = (out["classification"] == "escalating").astype(float)
    out["share_escalating_or_cycling"] = out["classification"].isin(["escalating", "cycling"]).astype(float)
    out["point"] = np.repeat(np.arange(first, first + n_points), reps)
    numeric = out.select_dtypes("number").columns.drop("point")
    return out.groupby("point")[list(numeric)].mean().reset_index()


def _index(values, i: int) -> float:
    """One parameter's index as a float, NaN where SALib masked it.

    SALib masks an index it cannot compute (e.g. a parameter whose trajectories
    never moved it), and that is a missing value, not an error.
    """
    return float(np.ma.filled(np.ma.asarray(values, dtype=float), np.nan)[i])


def check_design(design: Design) -> None:
    """Raise SensitivityError unless ``design`` is a sensitivity analysis: a [sensitivity] section, no factors."""
    if design.spec.sensitivity is None:
        raise SensitivityError(f"{design.path}: no [sensitivity] section; `cycles sensitivity` needs one "
                               "(see experiments/sensitivity.toml)")
    if design.factor_names or design.spec.population.pairings:
        raise SensitivityError(f"{design.path}: a sensitivity analysis varies the uncertain parameters itself; "
                               "remove [factors], [sampling] and population.pairings")


def run(design: Design, out: str | Path, method: str, outcomes: list[str] | None = None,
        workers: int | None = None, dask: str | None = None, progress_stream=None) -> dict[str, Any]:
    """Sample, run, analyse; writes indices, samples, a report and the manifest into ``out``."""
    spec = design.spec
    check_design(design)
    outcomes = outcomes or list(spec.sensitivity.outcomes)
    check_outcomes(outcomes)
    prob = problem(design)
    points = sample(design, method)
    started_at, started = now(), time.perf_counter()
    tasks = ((design, prob["names"], points[i:i + POINTS_PER_TASK], i)
             for i in range(0, len(points), POINTS_PER_TASK))
    with Execution(workers, dask, total=len(points), unit="point", progress_stream=progress_stream) as execution:
        parts = [part for _, part in execution.results(evaluate_points, tasks, size=len)]
    results = pd.concat(parts).sort_values("point").reset_index(drop=True)
    rows = []
    for outcome in outcomes:
        y = results[outcome].to_numpy()
        if method == "morris":
            indices = morris_analyze.analyze(prob, points, y, num_levels=4, seed=spec.seed)
            for i, name in enumerate(prob["names"]):
                rows.append({"outcome": outcome, "parameter": name,
                             **{k: _index(indices[k], i) for k in ("mu_star", "mu_star_conf", "sigma", "mu")}})
        else:
            indices = sobol_analyze.analyze(prob, y, calc_second_order=False, seed=spec.seed)
            for i, name in enumerate(prob["names"]):
                rows.append({"outcome": outcome, "parameter": name,
                             **{k: _index(indices[k], i) for k in ("S1", "S1_conf", "ST", "ST_conf")}})
    table = pd.DataFrame(rows)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_parquet(table, out / "sensitivity.parquet")
    samples = pd.DataFrame(points, columns=prob["names"]).assign(point=np.arange(len(points)))
    write_parquet(samples.merge(results, on="point"), out / "samples.parquet")
    seconds = time.perf_counter() - started
    manifest = manifest_of_design(design, "sensitivity", started_at, seconds, method=method, problem=prob,
                                  seed_rule="SeedSequence(root_seed, spawn_key=(replicate,)): the same couples at "
                                            "every sample point (common random numbers)",
                                  sample_points=len(points), couples_per_point=spec.replicates,
                                  runs=len(points) * spec.replicates, outcomes=outcomes)
    write_json(manifest, out / "manifest.json")
    report = write_report(out, table, method, manifest)
    return {"table": table, "points": len(points), "seconds": seconds, "report": report, "out": out}


def write_report(out: Path, table: pd.DataFrame, method: str, manifest: dict[str, Any]) -> Path:
    """A bar chart per outcome: mu* with its confidence interval and sigma (Morris), or S1 and ST (Sobol)."""
    panels = []
    for outcome, part in table.groupby("outcome", sort=False):
        if method == "morris":
            part = part.sort_values("mu_star", ascending=False)
            fig = go.Figure([go.Bar(x=part["parameter"], y=part["mu_star"], name="mu* (overall influence)",
                                    error_y=dict(type="data", array=part["mu_star_conf"])),
                             go.Bar(x=part["parameter"], y=part["sigma"], name="sigma (interactions, nonlinearity)")])
            caption = (f"Morris screening of {outcome}: mu* is how much, on average, moving one parameter "
                       "across its range changes the outcome (with its 95% confidence interval); sigma is how much "
                       "that effect depends on the other parameters. Parameters on the left matter most.")
        else:
            part = part.sort_values("ST", ascending=False)
            fig = go.Figure([go.Bar(x=part["parameter"], y=part["S1"], name="S1 (alone)",
                                    error_y=dict(type="data", array=part["S1_conf"])),
                             go.Bar(x=part["parameter"], y=part["ST"], name="ST (with interactions)",
                                    error_y=dict(type="data", array=part["ST_conf"]))])
            caption = (f"Sobol indices of {outcome}: S1 is the share of its variance a parameter explains alone, "
                       "ST the share it explains including its interactions with the others.")
        fig.update_layout(barmode="group", height=420, xaxis_tickangle=-45, margin=dict(b=140),
                          legend=dict(orientation="h", y=1.12))
        panels.append(Panel(f"sensitivity-{outcome}", f"What {outcome.replace('_', ' ')} depends on", caption, fig))
    intro = run_table([
        ("method", method),
        ("design", f"{manifest['sample_points']:,} sample points x {manifest['couples_per_point']} couples = "
                   f"{manifest['runs']:,} couple-runs"),
        ("uncertain", ", ".join(manifest["problem"]["names"])),
        ("run", f"{manifest['seconds']:.1f} s"),
    ])
    path = out / "report.html"
    with atomic_output(path) as tmp:
        tmp.write_text(render_page(manifest["name"], manifest["purpose"], intro, panels), encoding="utf-8")
    return path
