"""The experiment runner: specs, determinism across executors, resume after a kill, validation."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.cli import main
from sim.experiment.runner import FINISHED_CHUNKS, sweep
from sim.experiment.spec import SpecError, load

ROOT = Path(__file__).resolve().parent.parent
QUICK = ROOT / "experiments" / "quick.toml"
TABLES = ("runs.parquet", "cells.parquet", "series.parquet")


def write_spec(folder: Path, body: str, name: str = "spec.toml") -> Path:
    path = folder / name
    path.write_text(body)
    return path


BASE = """
name = "t"
purpose = "test"
days = 40
replicates = 4
seed = 3
[population]
pairing = "anxious-avoidant"
"""


def digest(folder: Path) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in TABLES}


def test_shipped_specs_validate_and_the_main_job_has_the_asked_design():
    design = load(ROOT / "experiments" / "support_balance.toml")
    assert design.n_cells == 21 * 21 * 4 and design.spec.replicates == 100 and design.spec.days == 730
    assert design.n_runs == 176_400
    assert design.factor_names == ["pairing", "responsiveness", "goal_support"]
    quick = load(QUICK)
    assert quick.n_runs == 60


def test_quick_sweep_writes_tidy_tables_and_manifest(tmp_path):
    result = sweep(load(QUICK), tmp_path / "quick", workers=1)
    out = result.out
    runs = pd.read_parquet(out / "runs.parquet")
    assert len(runs) == 60 and not runs.duplicated(["cell", "replicate"]).any()
    assert {"pairing", "responsiveness", "seed_key", "classification", "intensity_late"} <= set(runs.columns)
    cells = pd.read_parquet(out / "cells.parquet")
    assert len(cells) == 6 and cells["couples"].eq(10).all()
    shares = cells[[c for c in cells.columns if c.startswith("share_")]].sum(axis=1)
    np.testing.assert_allclose(shares, 1.0)
    assert (cells["intensity_late_ci_low"] <= cells["intensity_late_mean"]).all()
    # Even this short sweep shows the gradient: the anxious-avoidant cycle weakens as responsiveness rises.
    aa = cells[cells.pairing == "anxious-avoidant"].set_index("responsiveness")["intensity_late_mean"]
    assert aa.loc[0.2] > aa.loc[0.5] > aa.loc[0.8]
    series = pd.read_parquet(out / "series.parquet")
    stats = series[series.statistic == "q50"]
    assert len(stats) == 6 * 121 * 2
    assert set(series.statistic.unique()) == {"mean", "q25", "q50", "q75", "couple"}
    assert (series[series.statistic == "couple"]["replicate"] == 0).all()
    import json
    manifest = json.loads((out / "manifest.json").read_text())
    for key in ("spec_as_given", "spec_resolved", "root_seed", "versions", "python", "platform", "git_commit",
                "git_dirty", "started", "finished", "runs"):
        assert key in manifest
    assert manifest["runs"] == 60 and manifest["complete"]


def test_results_are_bit_identical_with_one_worker_two_workers_and_dask(tmp_path):
    design = load(QUICK)
    sweep(design, tmp_path / "one", workers=1)
    sweep(design, tmp_path / "two", workers=2)
    sweep(design, tmp_path / "dask", workers=2, dask="local")
    reference = digest(tmp_path / "one")
    assert digest(tmp_path / "two") == reference
    assert digest(tmp_path / "dask") == reference


def test_chunking_does_not_change_results(tmp_path):
    body = QUICK.read_text()
    coarse = write_spec(tmp_path, body.replace("replicates = 10", "replicates = 10\nchunk_cells = 4"), "a.toml")
    fine = write_spec(tmp_path, body.replace("replicates = 10", "replicates = 10\nchunk_cells = 1"), "b.toml")
    sweep(load(coarse), tmp_path / "coarse", workers=1)
    sweep(load(fine), tmp_path / "fine", workers=1)
    for name in TABLES:
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "coarse" / name),
                                      pd.read_parquet(tmp_path / "fine" / name))


def test_a_killed_sweep_resumes_and_holds_every_run_exactly_once(tmp_path):
    spec = write_spec(tmp_path, QUICK.read_text().replace("days = 120", "days = 2000")
                      .replace("replicates = 10", "replicates = 300\nchunk_cells = 1"))
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "sim.cli", "sweep", str(spec), "--workers", "1", "--out", str(out)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "chunks").glob(FINISHED_CHUNKS))) < 2:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished_before = len(list((out / "chunks").glob(FINISHED_CHUNKS)))
    assert 2 <= finished_before < 6, "the kill must land mid-sweep"
    assert not (out / "runs.parquet").exists()
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"resumed after {finished_before} finished chunks" in again.stdout
    runs = pd.read_parquet(out / "runs.parquet")
    assert len(runs) == 6 * 300 and not runs.duplicated(["cell", "replicate"]).any()
    assert not (out / "chunks").exists()
    # The same as an uninterrupted run.
    sweep(load(spec), tmp_path / "whole", workers=1)
    assert digest(out) == digest(tmp_path / "whole")


def test_a_changed_spec_is_refused_over_a_partial_run_unless_forced(tmp_path, capsys):
    spec = write_spec(tmp_path, BASE)
    out = tmp_path / "out"
    (out / "chunks").mkdir(parents=True)
    (out / "chunks" / "design.json").write_text('{"fingerprint": "0000000000000000"}')
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "different spec" in err and "--force" in err
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "1", "--force"]) == 0
    assert (out / "runs.parquet").exists()
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "1"]) == 0
    assert "already holds the complete results" in capsys.readouterr().out


@pytest.mark.parametrize("body, names", [
    (BASE + "colour = 3\n", ["colour", "unknown key"]),
    (BASE.replace("days = 40", 'days = "forty"'), ["days", "forty"]),
    (BASE + "[factors]\nwarmth = [0.1]\n", ["warmth", "unknown parameter"]),
    (BASE + "[factors]\nresponsiveness = [0.5, 1.7]\n", ["responsiveness", "1.7", "0 to 1"]),
    (BASE + "[fixed]\nshock_day = -4\n", ["shock_day", "-4"]),
    (BASE + "[factors]\n\"x.responsiveness\" = [0.5]\n", ["x.responsiveness", "selector"]),
    (BASE.replace('pairing = "anxious-avoidant"', 'pairing = "clingy-distant"'), ["population.pairing",
                                                                                   "clingy-distant"]),
    (BASE + "[sampling]\nmethod = \"lhs\"\npoints = 8\nbounds = {goal_support = [0.5, 2.0]}\n",
     ["goal_support", "2.0"]),
])
def test_bad_specs_exit_2_naming_file_key_value_and_write_nothing(tmp_path, capsys, body, names):
    spec = write_spec(tmp_path, body)
    out = tmp_path / "never"
    assert main(["sweep", str(spec), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(spec) in err
    for name in names:
        assert name in err
    assert not out.exists()


def test_sampling_per_partner_factors_and_drawn_populations(tmp_path):
    spec = write_spec(tmp_path, BASE.replace('pairing = "anxious-avoidant"', "drawn = true") + """
[factors]
"b.goal_support" = {start = 0.2, stop = 0.8, num = 2}
[sampling]
method = "sobol"
points = 4
bounds = {responsiveness = [0.1, 0.9]}
""")
    design = load(spec)
    assert design.n_cells == 8 and design.factor_names == ["b.goal_support", "responsiveness"]
    sampled = sorted({round(c["responsiveness"], 6) for c in design.cells})
    assert len(sampled) == 4 and all(0.1 <= x <= 0.9 for x in sampled)
    runs = pd.read_parquet(sweep(design, tmp_path / "out", workers=1).out / "runs.parquet")
    assert runs["pairing"].nunique() > 1                      # a drawn, mixed population
    assert set(runs["b.goal_support"]) == {0.2, 0.8}


def test_progress_prints_plain_lines_off_a_terminal(tmp_path):
    done = subprocess.run([sys.executable, "-m", "sim.cli", "sweep", str(QUICK), "--workers", "1", "--out",
                           str(tmp_path / "p")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0
    lines = [line for line in done.stderr.splitlines() if line.startswith("runs ")]
    assert lines and "runs/s" in lines[-1] and "left" in lines[-1] and "\r" not in done.stderr


def test_pairing_as_a_factor_with_support_fixed_for_one_style(tmp_path):
    from sim.experiment.populations import cells_population as population_for
    spec = write_spec(tmp_path, BASE.replace('[population]\npairing = "anxious-avoidant"\n', "")
                      + '[factors]\npairing = ["anxious-avoidant", "secure-secure"]\n'
                        '[fixed]\n"avoidant.responsiveness" = 0.9\npreset_spread = 0\n')  # clones: levels show
    design = load(spec)
    pop = population_for(design, range(design.n_cells))
    anxious_avoidant = pop.pairing == "anxious-avoidant"
    assert (pop.partner["responsiveness"][anxious_avoidant, 1] == 0.9).all()      # the avoidant partner
    assert (pop.partner["responsiveness"][anxious_avoidant, 0] == 0.5).all()
    assert (pop.partner["responsiveness"][~anxious_avoidant] == 0.7).all()         # secure partners untouched
    both = write_spec(tmp_path, BASE + '[factors]\npairing = ["secure-secure"]\n', "both.toml")
    with pytest.raises(SpecError, match="leave out"):
        load(both)
