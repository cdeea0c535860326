"""The Python API (``import sim``): the same numbers as the command line, specs as dicts, one clear error."""

from __future__ import annotations

import inspect
import subprocess
import sys
import tomllib

import numpy as np
import pandas as pd
import pytest

import sim
from sim import api
from sim.cli import main
from sim.dynamics import STATE_FIELDS
from sim.engine import simulate as run_engine
from sim.experiment.spec import SpecError
from sim.params import PARAMETERS, ParameterError
from sim.population import make_population

TOLERANCE = 1e-12      # tests/test_equivalence.py: the two drivers agree to rounding


def test_import_sim_is_lazy_and_lists_the_api():
    code = ("import sys, sim; print(sorted(m for m in ('sim.api', 'sim.model', 'sim.engine', 'pandas', 'numba', "
            "'mesa') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out
    public = {name for name, obj in vars(api).items() if not name.startswith("_")
              and (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__ == "sim.api"}
    assert public == set(sim.__all__) - {"CoupleModel"}
    assert set(sim.__all__) <= set(dir(sim))
    assert sim.simulate is api.simulate and sim.CoupleModel.__module__ == "sim.model"
    with pytest.raises(AttributeError, match="warmth"):
        sim.warmth  # noqa: B018 - the lookup is the test


def test_simulate_a_preset_gives_the_command_lines_numbers(tmp_path):
    args = ["--couples", "3", "--days", "120", "--seed", "2", "--set", "shock_day=30", "--set", "b.responsiveness=0.4"]
    assert main(["run", *args, "--out", str(tmp_path / "cli.parquet")]) == 0
    run = sim.simulate("anxious-avoidant", n_couples=3, days=120, seed=2,
                       overrides={"shock_day": 30, "b.responsiveness": 0.4})
    pd.testing.assert_frame_equal(run.daily, pd.read_parquet(tmp_path / "cli.parquet"))
    pd.testing.assert_frame_equal(run.outcomes, pd.read_parquet(tmp_path / "cli.outcomes.parquet"))
    assert (run.parameters["b.responsiveness"] == 0.4).all() and (run.parameters["shock_day"] == 30).all()


def test_simulate_a_drawn_population_gives_the_engines_numbers():
    run = sim.simulate(12, days=90, seed=5, overrides=["conflict_rate=0.1"])
    engine = run_engine(make_population(None, 12, 5, drawn=True, overrides=["conflict_rate=0.1"]), 90,
                        series_couples=range(12))
    pd.testing.assert_frame_equal(run.daily, engine.series)
    assert run.outcomes["classification"].tolist() == engine.outcomes["classification"].tolist()
    assert run.outcomes["pairing"].nunique() > 1                     # really drawn


def test_a_dataframe_of_couples_runs_them_again():
    """A run's parameters, given back with the seed, are the same couples: every number again; one row, one couple."""
    first = sim.simulate("anxious-avoidant", n_couples=4, days=100, seed=9, overrides={"shock_day": 20},
                         interventions="checkin-ritual from=60")
    again = sim.simulate(first.parameters, days=100, seed=9, interventions="checkin-ritual from=60")
    pd.testing.assert_frame_equal(first.daily, again.daily)
    pd.testing.assert_frame_equal(first.outcomes, again.outcomes)
    alone = sim.simulate(first.parameters.iloc[[2]], days=100, seed=9, interventions="checkin-ritual from=60")
    pd.testing.assert_frame_equal(alone.daily, first.daily[first.daily.couple_id == 2].reset_index(drop=True))


def test_a_dataframe_without_pairings_reads_styles_from_the_traits_and_overrides_apply_on_top():
    frame = pd.DataFrame({"a.anxiety": [6.0, 2.0], "b.avoidance": [6.0, 2.0], "responsiveness": [0.2, 0.9]})
    run = sim.simulate(frame, days=30, overrides={"avoidant.responsiveness": 0.8})
    table = run.parameters
    assert table["pairing"].tolist() == ["anxious-avoidant", "secure-secure"]
    assert table["a.responsiveness"].tolist() == [0.2, 0.9]             # the frame's values
    assert table["b.responsiveness"].tolist() == [0.8, 0.9]             # the override, for the avoidant partner only
    assert table["a.goal_support"].eq(PARAMETERS["goal_support"].default).all()   # not given: the default


def test_batch_and_mesa_engines_agree():
    kwargs = {"days": 120, "seed": 4, "overrides": {"shock_day": 40}, "interventions": ["b.responsiveness=0.9 from=60"]}
    batch = sim.simulate(5, engine="batch", **kwargs)
    mesa = sim.simulate(5, engine="mesa", **kwargs)
    for name in (*STATE_FIELDS, "cycle_intensity", "responsiveness", "goal_support"):
        np.testing.assert_allclose(mesa.daily[name], batch.daily[name], rtol=0, atol=TOLERANCE, err_msg=name)
    assert mesa.outcomes["classification"].tolist() == batch.outcomes["classification"].tolist()


SPEC = """name = "api_probe"
purpose = "The same sweep from a file and from a dict."
days = 60
replicates = 4
seed = 3

[population]
pairing = "anxious-avoidant"

[fixed]
shock_day = 20

[factors]
responsiveness = [0.2, 0.8]
"""


def test_a_sweep_from_a_dict_equals_the_sweep_from_its_file(tmp_path):
    (tmp_path / "spec.toml").write_text(SPEC)
    from_file = sim.sweep(tmp_path / "spec.toml", tmp_path / "file", workers=1)
    from_dict = sim.sweep(tomllib.loads(SPEC), tmp_path / "dict", workers=1)
    assert from_file.manifest["fingerprint"] == from_dict.manifest["fingerprint"]
    for table in ("runs", "cells", "series"):
        pd.testing.assert_frame_equal(getattr(from_file, table), getattr(from_dict, table))
    assert len(from_file.runs) == 8 and from_file.factor_names == ["responsiveness"]
    again = sim.sweep(tomllib.loads(SPEC), tmp_path / "dict", workers=1)
    assert again.already_complete
    pd.testing.assert_frame_equal(sim.load_sweep(tmp_path / "file").cells, from_file.cells)
    with pytest.raises(api.InputError, match="no complete sweep"):
        sim.load_sweep(tmp_path)


@pytest.mark.parametrize("change, names", [
    ({"days": "60"}, ["days", "'60'"]),
    ({"replicates": 0}, ["replicates", "0"]),
    ({"colour": "red"}, ["colour", "unknown key"]),
    ({"fixed": {"responsiveness": 1.5}}, ["responsiveness", "1.5"]),
    ({"factors": {"warmth": [1, 2]}}, ["warmth"]),
])
def test_a_bad_spec_dict_raises_the_files_one_line_error(tmp_path, change, names):
    data = {**tomllib.loads(SPEC), **change}
    with pytest.raises(SpecError) as from_dict:
        sim.sweep(data, tmp_path / "out")
    message = str(from_dict.value)
    assert "\n" not in message and message.startswith("spec: ")
    for name in names:
        assert name in message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kwargs, error, names", [
    ({"days": 0}, api.InputError, ["days", "0"]),
    ({"seed": -1}, api.InputError, ["seed", "-1"]),
    ({"couples": "clingy-distant"}, ParameterError, ["preset", "clingy-distant"]),
    ({"couples": 0}, api.InputError, ["couples", "0"]),
    ({"couples": 5, "n_couples": 3}, api.InputError, ["n_couples"]),
    ({"engine": "numpy"}, api.InputError, ["engine", "numpy", "mesa"]),
    ({"overrides": {"warmth": 0.3}}, ParameterError, ["warmth"]),
    ({"overrides": {"responsiveness": 1.5}}, ParameterError, ["responsiveness", "1.5", "0 to 1"]),
    ({"interventions": "hug-more from=10"}, ValueError, ["hug-more"]),
    ({"couples": pd.DataFrame({"responsiveness": [0.5, 1.5]})}, ParameterError, ["responsiveness", "1.5"]),
    ({"couples": pd.DataFrame({"warmth": [0.5]})}, ParameterError, ["warmth"]),
    ({"couples": pd.DataFrame({"share_anxious": [0.5]})}, ParameterError, ["share_anxious", "overrides"]),
    ({"couples": pd.DataFrame({"pairing": ["x-y"]})}, ParameterError, ["x-y"]),
    ({"couples": pd.DataFrame({"couple_id": [1, 1]})}, api.InputError, ["couple_id"]),
    ({"out": "run.csv"}, api.InputError, ["--out", "run.csv", ".parquet"]),
])
def test_bad_input_to_simulate_raises_one_line_naming_the_field(tmp_path, monkeypatch, kwargs, error, names):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error) as raised:
        sim.simulate(**kwargs)
    message = str(raised.value)
    assert "\n" not in message
    for name in names:
        assert name in message
    assert list(tmp_path.iterdir()) == []


def test_parameters_and_recipes_are_the_declarations():
    from sim.interventions import RECIPES
    table = sim.parameters()
    assert table["name"].tolist() == sorted(PARAMETERS, key=table["name"].tolist().index)
    assert set(table["name"]) == set(PARAMETERS)
    row = table.set_index("name").loc["dissolution_days"]
    declared = PARAMETERS["dissolution_days"]
    assert (row["default"], row["low"], row["high"], row["unit"]) == (declared.default, declared.low, declared.high,
                                                                     declared.unit)
    recipes = sim.recipes()
    assert recipes["name"].tolist() == list(RECIPES)
    assert all(recipes["changes"].str.len() > 0)
