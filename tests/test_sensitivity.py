"""Sensitivity analysis: SALib over the spec's uncertain parameters, through the runner's executors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sim.cli import main

ROOT = Path(__file__).resolve().parent.parent
SMALL = """
name = "sens"
purpose = "test"
days = 200
replicates = 8
seed = 4
[population]
pairing = "anxious-avoidant"
[fixed]
shock_day = 60
[sensitivity]
uncertain = ["responsiveness"]
trajectories = 6
base_samples = 8
outcomes = ["share_escalating", "intensity_mean"]
"""


def spec(tmp_path: Path, uncertain: str) -> Path:
    path = tmp_path / "sens.toml"
    path.write_text(SMALL.replace("uncertain = [\"responsiveness\"]", f"uncertain = {uncertain}"))
    return path


def test_morris_ranks_a_parameter_that_matters_above_one_that_cannot(tmp_path, capsys):
    # Partner a's goal_base barely moves the cycle; responsiveness decides the regime.
    path = spec(tmp_path, '["responsiveness", "deactivation", "a.goal_base"]')
    out = tmp_path / "m"
    assert main(["sensitivity", str(path), "--method", "morris", "--workers", "1", "--out", str(out)]) == 0
    assert "top mu_star" in capsys.readouterr().out
    table = pd.read_parquet(out / "sensitivity.parquet")
    assert set(table["parameter"]) == {"responsiveness", "deactivation", "a.goal_base"}
    intensity = table[table.outcome == "intensity_mean"].set_index("parameter")["mu_star"]
    assert intensity["responsiveness"] > 5 * intensity["a.goal_base"]
    assert (table["mu_star"] >= 0).all() and table["mu_star_conf"].notna().all()
    samples = pd.read_parquet(out / "samples.parquet")
    assert len(samples) == 6 * (3 + 1)
    assert (out / "report.html").exists() and (out / "manifest.json").exists()


def test_sobol_indices(tmp_path):
    path = spec(tmp_path, '["responsiveness", "a.goal_base"]')
    out = tmp_path / "s"
    assert main(["sensitivity", str(path), "--method", "sobol", "--workers", "1", "--out", str(out),
                 "--outcome", "intensity_mean"]) == 0
    table = pd.read_parquet(out / "sensitivity.parquet").set_index("parameter")
    assert set(table.columns) >= {"S1", "S1_conf", "ST", "ST_conf"}
    assert table.loc["responsiveness", "ST"] > table.loc["a.goal_base", "ST"]


def test_shipped_spec_and_bad_input(tmp_path, capsys):
    from sim.experiment.sensitivity import problem
    from sim.experiment.spec import load
    prob = problem(load(ROOT / "experiments" / "sensitivity.toml"))
    assert prob["num_vars"] >= 25 and "anxiety" not in prob["names"] and "responsiveness" in prob["names"]
    assert main(["sensitivity", str(spec(tmp_path, '["warmth"]')), "--out", str(tmp_path / "x")]) == 2
    assert "warmth" in capsys.readouterr().err
    assert main(["sensitivity", str(spec(tmp_path, '["responsiveness"]')), "--outcome", "happiness",
                 "--workers", "1", "--out", str(tmp_path / "y")]) == 2
    assert "happiness" in capsys.readouterr().err
