"""Virtual studies: the Jakubiak et al. (2023) design on simulated couples, analysed and powered."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.cli import main
from sim.experiment.spec import load
from sim.study.analysis import INTERACTION
from sim.study.run import n_for_power, run

ROOT = Path(__file__).resolve().parent.parent
STUDY = ROOT / "experiments" / "support_balance_study.toml"


@pytest.fixture(scope="module")
def hundred_cohorts(tmp_path_factory):
    out = tmp_path_factory.mktemp("study") / "support_balance_study"
    run(load(STUDY), out, samples=100, workers=2)
    return out


def test_goal_support_lowers_later_anxiety_more_when_responsiveness_is_high(hundred_cohorts):
    """Over 100 virtual cohorts of 326 couples (N as in Jakubiak et al. 2023).

    The goal support x responsiveness interaction on anxiety at T2 has the sign meaning "goal support lowers
    later anxiety more when responsiveness is high" (negative): its mean over cohorts at least 3 SE below
    zero (the cohorts, pooled, find it), and negative in at least 70% of cohorts (a coin would give 50%, SE 5%
    with 100 cohorts: 70% is 4 SE beyond chance). The simple slope of goal support is negative at +1 SD of
    responsiveness, and at -1 SD it is Jakubiak et al.'s null: within +-0.15 of zero on average over cohorts
    (issue 14's P13; model 1's slope there was far positive, goal support raising anxiety).

    Model 1 asked for the negative sign in 80% of cohorts, at a learning rate that moved anxiety by up to 1.08
    points a year. Model 2's change is bounded by the literature's magnitudes (P13, at most 0.5 a year), so
    at N = 326 the interaction's mean is about 0.9 of its cohort-to-cohort SD and about 80% of cohorts get
    its sign: the 80% threshold sat on the expected value and failed on half of the seeds.
    """
    samples = pd.read_parquet(hundred_cohorts / "power_samples.parquet")
    assert samples["sample"].nunique() == 100
    interaction = samples[samples.term == INTERACTION]["estimate"]
    high = samples[samples.term == "simple slope of goal support at +1 SD responsiveness"]["estimate"]
    low = samples[samples.term == "simple slope of goal support at -1 SD responsiveness"]["estimate"]
    print(f"interaction mean {interaction.mean():+.3f}, negative in {(interaction < 0).mean():.0%}; "
          f"simple slopes: -1 SD {low.mean():+.3f}, +1 SD {high.mean():+.3f}")
    t = interaction.mean() / (interaction.std(ddof=1) / np.sqrt(len(interaction)))
    print(f"interaction t over cohorts {t:.1f}")
    assert t <= -3
    assert (interaction < 0).mean() >= 0.7
    assert high.mean() < 0
    assert abs(low.mean()) <= 0.15


def test_study_outputs(hundred_cohorts):
    data = pd.read_parquet(hundred_cohorts / "dataset.parquet")
    for column in ("couple_id", "person_id", "role", "style_t1", "anxiety_t1", "anxiety_t2", "avoidance_t1",
                   "avoidance_t2", "perceived_responsiveness_t1", "perceived_goal_support_t1",
                   "responsiveness_received", "goal_support_received"):
        assert column in data.columns, column
    assert len(data) == 2 * 326 and data["couple_id"].nunique() == 326
    assert pd.read_csv(hundred_cohorts / "dataset.csv").shape == data.shape
    analysis = json.loads((hundred_cohorts / "analysis.json").read_text())
    main_fit = analysis["fits"][0]
    assert main_fit["method"] == "mixed" and INTERACTION in main_fit["terms"]
    assert [s["moderator_level"] for s in main_fit["simple_slopes"]] == ["-1 SD", "mean", "+1 SD"]
    for key in ("estimate", "se", "ci_low", "ci_high", "p"):
        assert key in main_fit["terms"][INTERACTION]
    power = pd.read_parquet(hundred_cohorts / "power.parquet")
    row = power[power.term == INTERACTION].iloc[0]
    assert row["samples"] == 100 and 0 <= row["power"] <= 1
    assert "Power by simulation" in (hundred_cohorts / "analysis.txt").read_text()
    assert (hundred_cohorts / "report.html").stat().st_size < 15e6


def test_same_seed_same_dataset_bit_for_bit(tmp_path):
    design = load(STUDY)
    run(design, tmp_path / "one")
    run(design, tmp_path / "two")
    for name in ("dataset.parquet", "dataset.csv"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_power_curve_over_cohort_sizes_and_extra_formula(tmp_path, capsys):
    out = tmp_path / "curve"
    assert main(["study", str(STUDY), "--samples", "4", "--n", "60,120", "--workers", "1", "--out", str(out),
                 "--formula", "anxiety_t2 ~ anxiety_t1_c + perceived_responsiveness_t1_c"]) == 0
    assert "power N=60" in capsys.readouterr().out
    power = pd.read_parquet(out / "power.parquet")
    assert set(power["n"]) == {60, 120} and power["formula"].nunique() == 2
    fits = json.loads((out / "analysis.json").read_text())["fits"]
    assert fits[1]["formula"] == "anxiety_t2 ~ anxiety_t1_c + perceived_responsiveness_t1_c"


def test_n_for_power_interpolates_the_curve():
    summary = pd.DataFrame({"n": [100, 200, 400], "formula": "f", "term": "t", "power": [0.3, 0.7, 0.9]})
    assert n_for_power(summary, "t", "f") == pytest.approx(300)   # halfway from 0.7 at 200 to 0.9 at 400
    assert n_for_power(summary.assign(power=[0.1, 0.2, 0.3]), "t", "f") is None


def test_unknown_column_in_a_formula_is_named_with_the_columns(tmp_path, capsys):
    assert main(["study", str(STUDY), "--out", str(tmp_path / "x"), "--formula", "anxiety_t2 ~ warmth"]) == 2
    err = capsys.readouterr().err
    assert "warmth" in err and "perceived_goal_support_t1" in err and "\n" not in err.strip()
    assert not (tmp_path / "x" / "dataset.parquet").exists()


def test_clustered_errors_and_a_spec_without_study(tmp_path, capsys):
    body = STUDY.read_text().replace('analysis = "mixed"', 'analysis = "cluster"').replace("couples = 326",
                                                                                            "couples = 80")
    spec = tmp_path / "cluster.toml"
    spec.write_text(body)
    run(load(spec), tmp_path / "c")
    fit = json.loads((tmp_path / "c" / "analysis.json").read_text())["fits"][0]
    assert fit["method"] == "cluster" and np.isfinite(fit["terms"][INTERACTION]["se"])
    assert main(["study", str(ROOT / "experiments" / "quick.toml"), "--out", str(tmp_path / "q")]) == 2
    assert "no [study] section" in capsys.readouterr().err


def test_a_study_and_a_sweep_refuse_each_others_specs(tmp_path, capsys):
    assert main(["sweep", str(STUDY), "--out", str(tmp_path / "s")]) == 2
    assert "cycles study" in capsys.readouterr().err
    mixed = tmp_path / "pairings.toml"
    mixed.write_text(STUDY.read_text().replace("drawn = true", 'pairings = ["secure-secure", "anxious-avoidant"]'))
    assert main(["study", str(mixed), "--out", str(tmp_path / "p")]) == 2
    assert "one population" in capsys.readouterr().err


def test_the_vectorised_estimator_gives_statsmodels_clustered_ols():
    """fit_cluster_robust is statsmodels' OLS with couple-clustered (CR1) errors, to 1e-10, on a real cohort."""
    from sim.study.analysis import MAIN_FORMULA, fit, fit_cluster_robust, with_centred
    from sim.study.cohort import cohort
    data = with_centred(cohort(load(STUDY).spec, 3, couples=150))
    for formula in (MAIN_FORMULA, "avoidance_t2 ~ avoidance_t1_c + perceived_responsiveness_t1_c"):
        reference, fast = fit(formula, data, "cluster"), fit_cluster_robust(formula, data)
        assert fast["terms"].keys() == reference["terms"].keys()
        for term, values in reference["terms"].items():
            for key, value in values.items():
                assert fast["terms"][term][key] == pytest.approx(value, abs=1e-10), (formula, term, key)
        np.testing.assert_allclose(fast["_cov"].to_numpy(), reference["_cov"].to_numpy(), rtol=0, atol=1e-12)


def test_the_power_loop_estimator_agrees_with_the_mixed_model_within_monte_carlo_error():
    """The same 40 cohorts of 150 couples, fitted by the mixed model and by the vectorised clustered OLS.

    Power is a share of cohorts; over 40 cohorts its Monte Carlo SE is at most 0.08 (p = 0.5), and the SE of
    the difference of two such shares at most 0.11. The two powers, per term of the main model, must agree
    within 2 of those SEs (0.22), and the estimates, cohort by cohort, correlate above 0.95 (the same data,
    two estimators of the same fixed effects: OLS is the mixed model with the couple variance set to zero).
    """
    from sim.study.analysis import MAIN_FORMULA
    from sim.study.run import sample_terms
    design = load(STUDY)
    mixed_design = load(STUDY)
    mixed_design.spec.study.power_analysis = "same"
    rows = {"vectorised": [], "mixed": []}
    for sample in range(40):
        rows["vectorised"] += sample_terms(design, sample, 150, [])
        rows["mixed"] += sample_terms(mixed_design, sample, 150, [])
    tables = {}
    for name, found in rows.items():
        frame = pd.DataFrame(found)
        tables[name] = frame[(frame["formula"] == MAIN_FORMULA) & ~frame["term"].str.startswith("simple")]
    assert set(tables["vectorised"]["method"]) == {"cluster (vectorised)"}
    assert set(tables["mixed"]["method"]) <= {"mixed", "cluster (mixed model did not converge)"}
    for term, fast in tables["vectorised"].groupby("term"):
        mixed = tables["mixed"][tables["mixed"]["term"] == term]
        power_fast, power_mixed = (fast["p"] < 0.05).mean(), (mixed["p"] < 0.05).mean()
        assert abs(power_fast - power_mixed) <= 0.22, (term, power_fast, power_mixed)
        assert np.corrcoef(fast["estimate"], mixed["estimate"])[0, 1] > 0.95, term
