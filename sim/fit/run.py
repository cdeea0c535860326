"""``cycles fit``: a diary in; posteriors, checks that say whether to believe them, and what-ifs out.

Steps, each written to the output folder:

1. Read the diary (sim.diary.from_table) and compute each couple's
   statistics (sim.fit.summaries).
2. Train the estimator on simulated diaries (or load one with
   ``--estimator``) and draw each couple's posterior
   (``posterior_draws.parquet``, ``posterior_summary.csv``, ``cohort.csv``).
3. Checks: coverage of the posterior intervals on held-out simulated
   diaries whose true parameters are known (``calibration.parquet``);
   posterior predictive checks per couple and for the cohort on the
   statistics diary researchers look at (``predictive_checks.parquet``);
   warnings where a diary lies outside what the model can produce.
4. What-if: each couple simulated forward from its posterior with and
   without each intervention (``what_if.parquet``, ranked in
   ``what_if_ranking.csv``).
5. ``report.html`` and ``manifest.json``.

Random streams: training diaries are couples (1, i) of the spec's root seed,
held-out diaries (2, i), predictive diaries (3, couple, draw), what-if runs
(4, couple, draw); the posterior sampler is seeded from the root seed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.diary import Diaries, DiaryError, from_table
from sim.engine import simulate
from sim.experiment.spec import Design, Spec
from sim.fit import CONTRACTION, COVERAGE_RANGE
from sim.fit.estimator import HELD_OUT_KEY, DesignRange, Estimator, EstimatorError, population_of, simulate_set
from sim.fit.summaries import simulated_summaries, summaries
from sim.manifest import now
from sim.manifest import of_design as manifest_of_design
from sim.storage import atomic_output, write_json, write_parquet

LEVELS = (0.5, 0.8, 0.9, 0.95)                  # nominal central intervals checked for coverage
CALIBRATION_FILE = "calibration.parquet"         # kept with a saved estimator, so a reuse reports it too
PREDICTIVE_DRAWS = 100                            # posterior draws per couple for the predictive checks
PREDICTIVE_KEY, WHAT_IF_KEY = 3, 4
# A cohort statistic more than 4 predictive SDs from the prediction is flagged: about 6e-5 by chance per
# statistic, so the 50 or so statistics of a diary flag a well-specified model in well under 1% of fits.
COHORT_Z = 4.0


class FitError(ValueError):
    """A fit that cannot run as asked: one line saying why."""


def data_path(spec: Spec) -> Path:
    """The diary a fit reads: ``fit.data``, else what ``cycles diary`` writes for the spec."""
    return Path(spec.fit.data) if spec.fit.data else Path("results") / f"{spec.name}_diary" / "diary.parquet"


def read_diary(spec: Spec) -> tuple[Diaries, np.ndarray, Path]:
    """The spec's diary data as arrays and couple ids; FitError in one line if it cannot be read."""
    path = data_path(spec)
    if not path.is_file():
        raise FitError(f"fit.data: {path} does not exist; expected a diary table (CSV or Parquet), e.g. from "
                       f"`cycles diary` on this spec")
    try:
        frame = pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - any reader failure is the file's fault, said in one line
        raise FitError(f"fit.data: {path} is not a readable table ({type(exc).__name__}); expected CSV or "
                       "Parquet with columns couple, person, day and the items") from None
    try:
        diaries, couples = from_table(frame, spec.diary, source=str(path))
    except DiaryError as exc:
        raise FitError(str(exc)) from None
    return diaries, couples, path


def interval(draws: np.ndarray, level: float, axis: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Central ``level`` interval of posterior draws along ``axis``."""
    tail = (1.0 - level) / 2.0
    return np.quantile(draws, tail, axis=axis), np.quantile(draws, 1.0 - tail, axis=axis)


def calibration(estimator: Estimator, spec: Spec, progress=None) -> pd.DataFrame:
    """Coverage on held-out simulated diaries: per parameter and nominal level, the share of truths inside.

    Also each parameter's mean posterior SD as a share of its prior SD and
    whether the parameter counts as identifiable from such a diary (90%
    coverage within COVERAGE_RANGE and posterior SD at most CONTRACTION of
    the prior's).
    """
    fit = spec.fit
    theta, stats = simulate_set(spec, estimator.prior, fit.held_out, HELD_OUT_KEY, estimator.design, progress)
    draws = estimator.sample(stats, 500, seed=spec.seed + 1)
    rows = []
    sd_ratio = draws.std(axis=1).mean(axis=0) / estimator.prior.sd
    for j, key in enumerate(estimator.prior.keys):
        covered90 = None
        for level in LEVELS:
            low, high = interval(draws[..., j], level)
            share = float(np.mean((theta[:, j] >= low) & (theta[:, j] <= high)))
            covered90 = share if level == 0.9 else covered90
            rows.append({"parameter": key, "level": level, "coverage": share})
        identifiable = COVERAGE_RANGE[0] <= covered90 <= COVERAGE_RANGE[1] and sd_ratio[j] <= CONTRACTION
        for row in rows[-len(LEVELS):]:
            row.update({"posterior_sd_share": float(sd_ratio[j]), "identifiable": bool(identifiable),
                        "held_out": fit.held_out,
                        "rmse": float(np.sqrt(np.mean((draws[..., j].mean(axis=1) - theta[:, j]) ** 2)))})
    return pd.DataFrame(rows)


def posterior_tables(draws: np.ndarray, couples: np.ndarray, estimator: Estimator) -> tuple[pd.DataFrame, ...]:
    """The draws (long), a per-couple summary (mean, SD, 90% interval) and the cohort's distribution."""
    n, k, p = draws.shape
    keys = estimator.prior.keys
    long = pd.DataFrame({"couple": np.repeat(couples, k), "draw": np.tile(np.arange(k), n),
                         **{key: draws[..., j].reshape(-1).astype(np.float32) for j, key in enumerate(keys)}})
    low, high = interval(draws, 0.9)
    rows = []
    for j, key in enumerate(keys):
        rows.append(pd.DataFrame({"couple": couples, "parameter": key, "mean": draws[..., j].mean(axis=1),
                                  "sd": draws[..., j].std(axis=1), "low_90": low[:, j], "high_90": high[:, j],
                                  "prior_low": estimator.prior.low[j], "prior_high": estimator.prior.high[j]}))
    summary = pd.concat(rows, ignore_index=True)
    means = draws.mean(axis=1)
    pooled_low, pooled_high = np.quantile(draws.reshape(-1, p), [0.05, 0.95], axis=0)
    cohort = pd.DataFrame({"parameter": keys, "mean_of_means": means.mean(axis=0),
                           "sd_of_means": means.std(axis=0, ddof=1) if n > 1 else 0.0,
                           "pooled_q05": pooled_low, "pooled_q95": pooled_high,
                           "mean_posterior_sd": draws.std(axis=1).mean(axis=0),
                           "prior_sd": estimator.prior.sd})
    return long, summary, cohort


def _draw_keys(prefix: int, n: int, take: int) -> np.ndarray:
    """Spawn keys ``(prefix, c, d)`` of draw d of couple c, one row each, couple by couple."""
    return np.column_stack([np.full(n * take, prefix), np.repeat(np.arange(n), take), np.tile(np.arange(take), n)])


def _repeat_diaries(observed: Diaries, times: int) -> tuple[np.ndarray, np.ndarray]:
    """Each couple's diary length and missed-entry share, repeated for ``times`` predictive diaries."""
    return np.repeat(observed.lengths, times), np.repeat(1.0 - observed.kept, times)


def predictive_checks(spec: Spec, estimator: Estimator, draws: np.ndarray, observed: Diaries,
                      statistics: np.ndarray, couples: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Posterior predictive checks: diaries simulated from each couple's posterior, against the observed one.

    Returns per couple and statistic the observed value, the predictive
    median and 90% interval and the observed value's predictive percentile;
    and for the cohort, per statistic, the observed cohort mean against the
    distribution of predictive cohort means.
    """
    n, k, _ = draws.shape
    take = min(PREDICTIVE_DRAWS, k)
    theta = draws[:, :take].reshape(n * take, -1)
    lengths, missing = _repeat_diaries(observed, take)
    spawn = _draw_keys(PREDICTIVE_KEY, n, take)
    pop = population_of(spec, theta, estimator.prior.keys, spawn)
    predicted = simulated_summaries(pop, spec.diary, lengths, missing).reshape(n, take, -1)
    checked = [i for i, name in enumerate(estimator.names) if name not in ("diary days", "share of entries kept")
               and not any(name == f"{item} {r}" for item in spec.diary.intake_items() for r in "ab")]
    rows = []
    for i in checked:
        low, high = np.quantile(predicted[..., i], [0.05, 0.95], axis=1)
        rank = (predicted[..., i] < statistics[:, i, None]).mean(axis=1) \
            + 0.5 * (predicted[..., i] == statistics[:, i, None]).mean(axis=1)
        rows.append(pd.DataFrame({"couple": couples, "statistic": estimator.names[i], "observed": statistics[:, i],
                                  "predicted_median": np.median(predicted[..., i], axis=1), "predicted_q05": low,
                                  "predicted_q95": high, "percentile": rank}))
    per_couple = pd.concat(rows, ignore_index=True)
    cohort_means = predicted.mean(axis=0)                    # (draws, statistics): one predictive cohort per draw
    cohort = pd.DataFrame({
        "statistic": [estimator.names[i] for i in checked],
        "observed_mean": statistics[:, checked].mean(axis=0),
        "predicted_q05": np.quantile(cohort_means[:, checked], 0.05, axis=0),
        "predicted_median": np.median(cohort_means[:, checked], axis=0),
        "predicted_q95": np.quantile(cohort_means[:, checked], 0.95, axis=0),
        "predicted_sd": cohort_means[:, checked].std(axis=0, ddof=1),
        "couples_inside_90": [float(((statistics[:, i] >= np.quantile(predicted[..., i], 0.05, axis=1))
                                     & (statistics[:, i] <= np.quantile(predicted[..., i], 0.95, axis=1))).mean())
                              for i in checked],
    })
    return per_couple, cohort


def misspecification(estimator: Estimator, statistics: np.ndarray, couples: np.ndarray,
                     cohort_checks: pd.DataFrame) -> list[str]:
    """Plain warnings where the data lie outside what the model can produce."""
    warnings = []
    distance, worst = estimator.distance(statistics)
    limit = estimator.reference["distance_q999"]
    outside = np.flatnonzero(distance > limit)
    mean, sd = np.array(estimator.reference["mean"]), np.array(estimator.reference["sd"])
    for c in outside[:10]:
        i = worst[c]
        z = (statistics[c, i] - mean[i]) / (sd[i] if sd[i] > 0 else 1.0)
        warnings.append(f"couple {couples[c]}: its diary lies outside what the model produces (distance "
                        f"{distance[c]:.1f} from the simulated diaries, beyond their 99.9th percentile "
                        f"{limit:.1f}); most unusual: {estimator.names[i]} (z = {z:+.1f}). Treat its posterior "
                        "with caution.")
    if len(outside) > 10:
        warnings.append(f"... and {len(outside) - 10} more couples outside what the model produces")
    z = (cohort_checks.observed_mean - cohort_checks.predicted_median) / cohort_checks.predicted_sd.where(
        cohort_checks.predicted_sd > 0, np.inf)
    for row, score in zip(cohort_checks.itertuples(), z, strict=True):
        if abs(score) > COHORT_Z:
            warnings.append(f"the cohort's mean {row.statistic} is {row.observed_mean:.3f}, {abs(score):.1f} "
                            f"predictive SDs {'above' if score > 0 else 'below'} what the fitted model predicts "
                            f"({row.predicted_median:.3f}): the model misses this feature of the data")
    return warnings


def what_if(spec: Spec, estimator: Estimator, draws: np.ndarray, couples: np.ndarray) -> pd.DataFrame:
    """Each couple run forward from its posterior with and without each of the spec's interventions.

    The intervention starts the day after the diary ends; the predicted fall
    is the mean cycle intensity over the next ``what_if_days`` days without
    it minus with it, for each posterior draw, on the same random numbers.
    Couples start from the beginning of their relationship with the drawn
    parameters, so the forecast is for a couple like this one, not for the
    state the diary ended in.
    """
    fit, diary = spec.fit, spec.diary
    n, k, _ = draws.shape
    take = min(fit.what_if_draws, k)
    theta = draws[:, :take].reshape(n * take, -1)
    spawn = _draw_keys(WHAT_IF_KEY, n, take)
    start = diary.acclimation_days + diary.days + 1
    before, total = start - 1, start - 1 + fit.what_if_days

    def summed(intervention: str | None, days: int) -> np.ndarray:
        pop = population_of(spec, theta, estimator.prior.keys, spawn, intervention=intervention,
                            intervention_day=start)
        return simulate(pop, days).outcomes["intensity_mean"].to_numpy() * days

    # Until the intervention starts every arm lives the same days (same parameters, same random numbers).
    baseline = (summed(None, total) - summed(None, before)) / fit.what_if_days
    rows = []
    for recipe in fit.what_if:
        fall = (baseline - (summed(recipe, total) - summed(None, before)) / fit.what_if_days).reshape(n, take)
        base = baseline.reshape(n, take)
        low, high = np.quantile(fall, [0.05, 0.95], axis=1)
        rows.append(pd.DataFrame({"couple": couples, "intervention": recipe,
                                  "intensity_without": base.mean(axis=1), "fall_mean": fall.mean(axis=1),
                                  "fall_low_90": low, "fall_high_90": high,
                                  "probability_helps": (fall > 0).mean(axis=1), "draws": take,
                                  "horizon_days": fit.what_if_days, "starts_on_day": start}))
    table = pd.concat(rows, ignore_index=True)
    table["rank"] = table.groupby("intervention")["fall_mean"].rank(ascending=False, method="first").astype(int)
    return table


def run(design: Design, out: str | Path, estimator_path: str | Path | None = None,
        progress_stream=None) -> dict[str, Any]:
    """Fit the spec's diary; writes everything listed in the module docstring into ``out``."""
    from sim.fit.report import write_report
    spec = design.spec
    if spec.fit is None or spec.diary is None:
        raise FitError(f"{design.path}: no [fit] section; `cycles fit` needs [diary] and [fit] "
                       "(see experiments/diary_fit.toml)")
    fit = spec.fit
    out = Path(out)
    started_at, started = now(), time.perf_counter()
    observed, couples, source = read_diary(spec)
    statistics = summaries(observed, spec.diary)
    timings: dict[str, float] = {}
    if estimator_path is not None:
        try:
            estimator = Estimator.load(estimator_path, spec)
        except EstimatorError as exc:
            raise FitError(str(exc)) from None
        why = estimator.design.covers(observed)
        if why:
            raise FitError(f"--estimator: the data have {why}; train a new estimator (leave out --estimator)")
        checks_file = Path(estimator_path) / CALIBRATION_FILE
        checks = pd.read_parquet(checks_file) if checks_file.is_file() else None
        timings["load_seconds"] = time.perf_counter() - started
    else:
        estimator = Estimator.train(spec, DesignRange.of(spec.diary, observed), progress_stream)
        timings["simulate_seconds"] = estimator.meta["simulate_seconds"]
        timings["train_seconds"] = estimator.meta["train_seconds"]
        checks = None
    out.mkdir(parents=True, exist_ok=True)
    tick = time.perf_counter()
    draws = estimator.sample(statistics, fit.posterior_draws, seed=spec.seed)
    timings["posterior_seconds"] = time.perf_counter() - tick
    timings["fit_seconds"] = time.perf_counter() - started
    if checks is None:
        tick = time.perf_counter()
        checks = calibration(estimator, spec)
        timings["calibration_seconds"] = time.perf_counter() - tick
        folder = estimator.save(out / "estimator")
        write_parquet(checks, folder / CALIBRATION_FILE)
    tick = time.perf_counter()
    per_couple, cohort_checks = predictive_checks(spec, estimator, draws, observed, statistics, couples)
    timings["predictive_seconds"] = time.perf_counter() - tick
    warnings = misspecification(estimator, statistics, couples, cohort_checks)
    tick = time.perf_counter()
    futures = what_if(spec, estimator, draws, couples) if fit.what_if else None
    timings["what_if_seconds"] = time.perf_counter() - tick

    long, summary, cohort = posterior_tables(draws, couples, estimator)
    truth = _truth_beside(source, couples)
    if truth is not None:
        summary = summary.merge(truth, on=["couple", "parameter"], how="left")
    write_parquet(long, out / "posterior_draws.parquet")
    write_parquet(summary, out / "posterior_summary.parquet")
    for name, table in (("posterior_summary", summary), ("cohort", cohort)):
        with atomic_output(out / f"{name}.csv") as tmp:
            table.to_csv(tmp, index=False)
    write_parquet(checks, out / "calibration.parquet")
    write_parquet(per_couple, out / "predictive_checks.parquet")
    write_parquet(cohort_checks, out / "predictive_checks_cohort.parquet")
    if futures is not None:
        write_parquet(futures, out / "what_if.parquet")
        ranking = futures.sort_values(["intervention", "rank"])
        with atomic_output(out / "what_if_ranking.csv") as tmp:
            ranking.to_csv(tmp, index=False)
    seconds = time.perf_counter() - started
    identifiable = sorted(checks.loc[checks.identifiable, "parameter"].unique().tolist())
    manifest = manifest_of_design(
        design, "fit", started_at, seconds, data=str(source), couples=len(couples),
        estimator=str(estimator_path) if estimator_path else str(out / "estimator"),
        estimator_meta=estimator.meta, seed_rule="training (1, i), held-out (2, i), predictive (3, couple, draw), "
        "what-if (4, couple, draw) under SeedSequence(root_seed)", timings={k: round(v, 3) for k, v in timings.items()},
        identifiable=identifiable, warnings=warnings)
    write_json(manifest, out / "manifest.json")
    report = write_report(out, summary, cohort, checks, per_couple, cohort_checks, futures, warnings, manifest)
    return {"out": out, "couples": len(couples), "seconds": seconds, "timings": timings, "warnings": warnings,
            "identifiable": identifiable, "calibration": checks, "summary": summary, "report": report,
            "what_if": futures}


def _truth_beside(source: Path, couples: np.ndarray) -> pd.DataFrame | None:
    """The true parameters, if the diary came from `cycles diary` (truth.parquet beside it), for the report."""
    path = source.parent / "truth.parquet"
    if not path.is_file():
        return None
    truth = pd.read_parquet(path)
    rows = []
    for name in ("anxiety", "avoidance", "responsiveness", "goal_support"):
        for person in ("a", "b"):
            part = truth[truth.person == person]
            rows.append(pd.DataFrame({"couple": part["couple"].to_numpy(), "parameter": f"{person}.{name}",
                                      "true": part[name].to_numpy()}))
    table = pd.concat(rows, ignore_index=True)
    return table[table.couple.isin(couples)]
