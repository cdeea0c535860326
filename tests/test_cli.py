"""The command line: the README's run, overrides, and errors that exit 2 and write nothing."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from sim.cli import main
from sim.tables import DAILY_COLUMNS


def test_run_writes_tidy_daily_table_outcomes_and_manifest(tmp_path, capsys):
    out = tmp_path / "run.parquet"
    assert main(["run", "--preset", "anxious-avoidant", "--days", "365", "--seed", "7", "--out", str(out)]) == 0
    line = capsys.readouterr().out.strip()
    assert "\n" not in line and ("escalating" in line or "cycling" in line)   # the default couple is in the cycle
    table = pd.read_parquet(out)
    assert list(table.columns) == list(DAILY_COLUMNS)
    assert len(table) == 2 * 366
    outcomes = pd.read_parquet(tmp_path / "run.outcomes.parquet")
    assert outcomes.loc[0, "classification"] in line
    manifest = json.loads((tmp_path / "run.manifest.json").read_text())
    assert manifest["seed"] == 7 and manifest["versions"]["mesa"].startswith("3.5")


def test_engines_give_the_same_output(tmp_path):
    args = ["run", "--couples", "3", "--days", "120", "--seed", "2", "--set", "shock_day=30"]
    assert main(args + ["--engine", "mesa", "--out", str(tmp_path / "m.parquet")]) == 0
    assert main(args + ["--engine", "batch", "--out", str(tmp_path / "b.parquet")]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "m.parquet"), pd.read_parquet(tmp_path / "b.parquet"))
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "m.outcomes.parquet"),
                                  pd.read_parquet(tmp_path / "b.outcomes.parquet"))


def test_couples_population_and_per_partner_overrides(tmp_path):
    out = tmp_path / "p.parquet"
    assert main(["run", "--population", "--couples", "40", "--days", "30", "--out", str(out)]) == 0
    assert pd.read_parquet(out)["couple_id"].nunique() == 40
    # Identical couples (preset_spread=0), so the preset's own levels show where no override reached.
    assert main(["run", "--couples", "2", "--days", "10", "--set", "avoidant.responsiveness=0.9",
                 "--set", "a.anxiety=6.5", "--set", "preset_spread=0", "--out", str(out)]) == 0
    table = pd.read_parquet(out)
    first = table[table.day == 0]
    assert first[first.role == "b"]["responsiveness"].eq(0.9).all()
    assert first[first.role == "a"]["responsiveness"].eq(0.5).all()
    assert first[first.role == "a"]["anxiety"].eq(6.5).all()


@pytest.mark.parametrize("args, names", [
    (["--set", "warmth=0.3"], ["warmth", "0.3"]),
    (["--set", "responsiveness=1.5"], ["responsiveness", "1.5", "0 to 1"]),
    (["--set", "dissolution_days=2.5"], ["dissolution_days", "2.5", "integer"]),
    (["--set", "b.shock_day=4"], ["shock_day", "4"]),
    (["--preset", "clingy-distant"], ["preset", "clingy-distant", "anxious-avoidant"]),
    (["--days", "0"], ["--days", "0"]),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, args, names):
    out = tmp_path / "never.parquet"
    assert main(["run", "--out", str(out), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    for name in names:
        assert name in err
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_exits_2_and_writes_nothing(tmp_path, capsys):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    assert main(["run", "--out", str(blocked / "run.parquet")]) == 2
    err = capsys.readouterr().err
    assert str(blocked) in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_params_lists_every_declaration(capsys):
    from sim.params import PARAMETERS
    assert main(["params"]) == 0
    text = capsys.readouterr().out
    for name in PARAMETERS:
        assert name in text
