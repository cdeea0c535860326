"""Running a virtual study: one cohort analysed, and power by simulation over many cohorts.

Cohort ``s`` of size ``n`` is the couples with spawn keys ``(s, 0..n-1)``
under the spec's root seed, so samples are independent of each other and of
the order and place they run in; sample 0 at the spec's size is the cohort
whose dataset is written.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd

from sim.experiment.execution import Execution
from sim.experiment.spec import Design
from sim.manifest import now
from sim.manifest import of_design as manifest_of_design
from sim.storage import atomic_output, write_json, write_parquet
from sim.study.analysis import (
    INTERACTION,
    MAIN_FORMULA,
    FormulaError,
    analyse,
    check_formula,
    public,
    table,
    with_centred,
)
from sim.study.cohort import cohort
from sim.study.report import write_report


class StudyError(ValueError):
    """A study that cannot run as asked: one line saying why."""


def _formulas(design: Design, extra: list[str]) -> list[str]:
    return list(dict.fromkeys([*design.spec.study.formulas, *extra]))


def check_formulas(design: Design, formulas: list[str], field: str | None = None) -> None:
    """Every formula must parse and name dataset columns (or their centred ``_c`` copies)."""
    columns = with_centred(cohort(design.spec, 0, couples=2)).columns
    for formula in [MAIN_FORMULA, *formulas]:
        try:
            check_formula(formula, columns)
        except FormulaError as exc:
            raise StudyError(f"{field}: {exc}" if field else str(exc)) from None


def sample_terms(design: Design, sample: int, n: int, formulas: list[str]) -> list[dict[str, Any]]:
    """One cohort of ``n`` couples, analysed: a row per formula and term (a task for any executor)."""
    study = design.spec.study
    data = cohort(design.spec, sample, couples=n)
    rows = []
    for fitted in analyse(data, formulas, study.analysis if study.power_analysis == "same" else "vectorised"):
        for term, t in fitted["terms"].items():
            rows.append({"n": n, "sample": sample, "formula": fitted["formula"], "method": fitted["method"],
                         "term": term, **t})
        for s in fitted["simple_slopes"]:
            rows.append({"n": n, "sample": sample, "formula": fitted["formula"], "method": fitted["method"],
                         "term": f"simple slope of goal support at {s['moderator_level']} responsiveness",
                         "estimate": s["slope"], "se": s["se"], "ci_low": s["ci_low"], "ci_high": s["ci_high"],
                         "p": s["p"]})
    return rows


def power_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per size, formula and term: share of samples with p < .05, mean and SD of the estimate."""
    grouped = rows.groupby(["n", "formula", "term"], sort=False)
    return pd.DataFrame({
        "samples": grouped.size(),
        "method": grouped["method"].agg(lambda m: "; ".join(sorted(set(m)))),
        "power": grouped["p"].apply(lambda p: float((p < 0.05).mean())),
        "estimate_mean": grouped["estimate"].mean(),
        "estimate_sd": grouped["estimate"].std(ddof=1),
        "estimate_q05": grouped["estimate"].quantile(0.05),
        "estimate_q95": grouped["estimate"].quantile(0.95),
    }).reset_index()


def n_for_power(summary: pd.DataFrame, term: str, formula: str = MAIN_FORMULA, target: float = 0.8) -> float | None:
    """Smallest cohort size reaching ``target`` power for a term, interpolating the power curve linearly."""
    curve = summary[(summary.term == term) & (summary.formula == formula)].sort_values("n")
    ns, power = curve["n"].to_numpy(float), curve["power"].to_numpy(float)
    for i, (n, p) in enumerate(zip(ns, power, strict=True)):
        if p >= target:
            if i == 0:
                return float(n)
            return float(ns[i - 1] + (target - power[i - 1]) * (n - ns[i - 1]) / (p - power[i - 1]))
    return None


def run(design: Design, out: str | Path, samples: int = 1, sizes: list[int] | None = None,
        formulas: list[str] | None = None, workers: int | None = None, dask: str | None = None,
        progress_stream=None) -> dict[str, Any]:
    """Run the study; writes dataset, analysis, power (if samples > 1), report and manifest into ``out``."""
    spec = design.spec
    if spec.study is None:
        raise StudyError(f"{design.path}: no [study] section; `cycles study` needs one (see "
                         "experiments/support_balance_study.toml)")
    if design.factor_names:
        raise StudyError(f"{design.path}: a study runs one population; remove [factors], [sampling] and "
                         "population.pairings (or sweep them with `cycles sweep`)")
    formulas = _formulas(design, formulas or [])
    check_formulas(design, formulas)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started_at, started = now(), time.perf_counter()

    data = cohort(spec, 0)
    fits = analyse(data, formulas, spec.study.analysis)
    write_parquet(data, out / "dataset.parquet")
    with atomic_output(out / "dataset.csv") as tmp:
        data.to_csv(tmp, index=False)
    analysis: dict[str, Any] = {"cohort": {"couples": spec.study.couples, "persons": len(data), "sample": 0},
                                "fits": [public(f) for f in fits]}
    text = table(fits)

    sizes = sizes or [spec.study.couples]
    summary = None
    if samples > 1 or len(sizes) > 1:
        tasks = ((design, s, n, formulas) for n in sizes for s in range(samples))
        with Execution(workers, dask, total=samples * len(sizes), unit="cohort", per_worker=4,
                       progress_stream=progress_stream) as execution:
            rows: list[dict[str, Any]] = [row for _, terms in execution.results(sample_terms, tasks) for row in terms]
        power_rows = pd.DataFrame(rows).sort_values(["n", "sample", "formula", "term"], kind="stable") \
            .reset_index(drop=True)
        write_parquet(power_rows, out / "power_samples.parquet")
        summary = power_summary(power_rows)
        write_parquet(summary, out / "power.parquet")
        needed = n_for_power(summary, INTERACTION)
        analysis["power"] = {
            "samples": samples, "sizes": sizes, "executor": execution.description,
            "terms": summary.to_dict("records"),
            "n_for_80_percent_power_interaction": needed,
        }
        text += _power_text(summary, needed)
    write_json(analysis, out / "analysis.json")
    with atomic_output(out / "analysis.txt") as tmp:
        tmp.write_text(text)
    seconds = time.perf_counter() - started
    manifest = manifest_of_design(design, "study", started_at, seconds,
                                  seed_rule="SeedSequence(root_seed, spawn_key=(sample, couple))", samples=samples,
                                  sizes=sizes, formulas=[MAIN_FORMULA, *formulas])
    write_json(manifest, out / "manifest.json")
    report = write_report(out, data, fits, summary, manifest)
    return {"out": out, "fits": fits, "summary": summary, "seconds": seconds, "report": report}


def _power_text(summary: pd.DataFrame, needed: float | None) -> str:
    methods = "; ".join(sorted(set(summary["method"])))
    lines = [f"Power by simulation (share of cohorts with p < .05; estimate mean and SD over cohorts; each cohort "
             f"fitted by {methods})"]
    main = summary[summary.formula == MAIN_FORMULA]
    for n, part in main.groupby("n", sort=True):
        lines.append(f"  N = {n} couples")
        for r in part.itertuples():
            lines.append(f"    {r.term:<64} power {r.power:5.2f}   estimate {r.estimate_mean:+.3f} "
                         f"(SD {r.estimate_sd:.3f})")
    needed_text = f"{needed:.0f}" if needed is not None else "more than the largest N tried"
    lines.append(f"  couples needed for 80% power on the interaction: {needed_text}")
    return "\n".join(lines) + "\n"
