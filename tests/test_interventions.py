"""Interventions: the text form, the schedule function, Mesa's event scheduling, specs, the CLI and the report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim import interventions as I
from sim.cli import main
from sim.engine import simulate
from sim.experiment.runner import sweep
from sim.experiment.spec import SpecError, load
from sim.model import CoupleModel
from sim.population import make_population

SPECS = Path(__file__).parent / "specs"
R = I.PARTNER_PARAMETERS.index("responsiveness")
G = I.PARTNER_PARAMETERS.index("goal_support")
H = I.PARTNER_PARAMETERS.index("hyperactivation")


def _rules(texts, intervention_day=180, anxiety=(5.0, 2.5), avoidance=(2.5, 5.0)):
    changes = I.plan(texts).changes
    styles = np.array([["anxious", "avoidant"]], dtype=object)
    return I.schedule(changes, np.array([intervention_day]), styles, np.array([anxiety]), np.array([avoidance]))[0]


def _on(rules, day, role=1):
    pop = make_population("anxious-avoidant", 1, 0)
    base = np.array([pop.partner[name][0, role] for name in I.PARTNER_PARAMETERS])
    low, high = I.declared_bounds()
    out = np.empty_like(base)
    conflict = I.scheduled_parameters(base, out, rules, role, day, low, high)
    return out, conflict, base


def test_text_form_round_trips_and_recipes_expand():
    change, = I.parse("b.responsiveness*=1.5 from=100 until=200 every=7 ramp=14")
    assert (change.who, change.name, change.op, change.value) == ("b", "responsiveness", "scale", 1.5)
    assert (change.start, change.until, change.every, change.ramp) == (100, 200, 7, 14)
    assert I.parse(change.text()) == (change,)
    recipe = I.parse("damage-control-then-engagement from=90 until=400")
    assert len(recipe) == 5 and all(c.start == 90 and c.until is not None and c.until <= 400 for c in recipe)
    assert I.plan("none") == I.NONE and I.plan(["checkin-ritual"]).name == "checkin-ritual"


@pytest.mark.parametrize("text, words", [
    ("b.responsivness=0.9", ["responsivness", "did you mean responsiveness"]),
    ("b.responsiveness=1.5", ["'1.5'", "from 0 to 1"]),
    ("c.responsiveness=0.5", ["who 'c'", "more-anxious"]),
    ("responsiveness=0.5 from=0", ["from '0'", "at least 1"]),
    ("responsiveness=0.5 from=100 until=50", ["until 50", "on or after from=100"]),
    ("responsiveness=0.5 often=3", ["often=3", "every"]),
    ("shock_day=3", ["shock_day", "partner-level"]),
    ("conflict*=2", ["operation", "conflict=SIZE"]),
    ("conflict=9", ["conflict size", "0 to 5"]),
    ("checkin", ["did you mean checkin-ritual"]),
    ("checkin-ritual every=3", ["every=3", "from, until"]),
    ("hyperactivation*=-1", ["factor", "at least 0"]),
])
def test_bad_changes_are_named(text, words):
    with pytest.raises(I.InterventionError) as error:
        I.parse(text)
    message = str(error.value)
    assert message.startswith(f"intervention {text!r}")
    for word in words:
        assert word in message


def test_schedule_sets_scales_shifts_with_rhythm_end_ramp_and_bounds():
    rules = _rules(["b.responsiveness=0.9 from=10 every=3 until=20", "b.goal_support+=0.8 from=5 ramp=4",
                    "b.hyperactivation*=1.2 from=30 for=5", "a.conflict=1.5 from=12"])
    out, conflict, base = _on(rules, 9)
    assert out[R] == base[R] and conflict == 0
    assert _on(rules, 10)[0][R] == 0.9 and _on(rules, 11)[0][R] == base[R] and _on(rules, 19)[0][R] == 0.9
    assert _on(rules, 22)[0][R] == base[R]                                      # until=20: over
    assert _on(rules, 5)[0][G] == pytest.approx(base[G] + 0.25 * (1.0 - base[G]))   # ramp 1/4, clipped at 1
    assert _on(rules, 8)[0][G] == 1.0 and _on(rules, 300)[0][G] == 1.0
    assert _on(rules, 30)[0][H] == base[H] * 1.2 and _on(rules, 35)[0][H] == base[H]   # for=5: days 30-34
    assert _on(_rules(["b.hyperactivation*=2"]), 180)[0][H] == 30.0                 # kept within its declared range
    assert _on(rules, 12, role=0)[1] == 1.5 and _on(rules, 13, role=0)[1] == 0.0     # a conflict happens once
    assert _on(rules, 12, role=1)[1] == 0.0                                          # and only to a


def test_changes_act_in_order_and_relative_selectors_pick_the_partner():
    rules = _rules(["more-avoidant.responsiveness=0.5", "more-avoidant.responsiveness*=0.5"])
    assert _on(rules, 180, role=1)[0][R] == 0.25 and _on(rules, 180, role=0)[0][R] == _on(rules, 1, role=0)[2][R]
    tied = _rules(["more-anxious.responsiveness=0.1"], anxiety=(3.0, 3.0))
    assert _on(tied, 180, role=0)[0][R] == _on(tied, 180, role=1)[0][R] == 0.1


def test_mesa_recomputes_only_on_the_days_a_schedule_changes(monkeypatch):
    """The Mesa driver puts the change days on its event list instead of checking every day."""
    calls = []
    original = CoupleModel._refresh_interventions
    monkeypatch.setattr(CoupleModel, "_refresh_interventions", lambda self: (calls.append(self.day + 1),
                                                                             original(self))[1])
    CoupleModel("anxious-avoidant", 2, seed=1, intervention="checkin-ritual from=50").run()
    assert calls == [50]
    calls.clear()
    CoupleModel("anxious-avoidant", 2, seed=1, intervention="b.responsiveness=1 from=40 every=30 until=130").run()
    assert calls == [40, 41, 70, 71, 100, 101, 130, 131]
    calls.clear()
    CoupleModel("anxious-avoidant", 2, seed=1, intervention="self-soothing from=10").run()
    assert calls == list(range(10, 66))                             # every day of the 56-day ramp, then nothing


def test_spec_pairs_seeds_across_interventions_and_names_bad_levels(tmp_path):
    design = load(SPECS / "interventions_small.toml")
    by_cell = {c: design.seed_cell(c) for c in range(design.n_cells)}
    levels = pd.DataFrame(design.cells).assign(seed_cell=list(by_cell.values()))
    assert levels.groupby("responsiveness")["seed_cell"].nunique().eq(1).all()      # paired within support level
    assert levels["seed_cell"].nunique() == levels["responsiveness"].nunique()
    bad = tmp_path / "bad.toml"
    for old, new, words in (
            ('"nightly-call"]', '"checkin-ritul"]', ["checkin-ritul", "did you mean checkin-ritual"]),
            ('every=2"]', 'every=2", "b.responsiveness=3"]', ["plan nightly-call", "'3'", "0 to 1"]),
            ('nightly-call = [', 'self-soothing = [', ["self-soothing", "other than none and the recipes"])):
        bad.write_text(SPECS.joinpath("interventions_small.toml").read_text().replace(old, new))
        with pytest.raises(SpecError) as error:
            load(bad)
        assert all(word in str(error.value) for word in words), str(error.value)


def test_intervention_sweep_compares_each_couple_with_itself_and_reports_it(tmp_path):
    from sim.report.interventions import paired_effects
    from sim.report.page import build
    from sim.report.results import load as load_results
    out = tmp_path / "iv"
    sweep(load(SPECS / "interventions_small.toml"), out, workers=1)
    runs = pd.read_parquet(out / "runs.parquet")
    none = runs[runs.intervention == "none"].set_index(["seed_cell", "replicate"])["seed_key"]
    ritual = runs[runs.intervention == "checkin-ritual"].set_index(["seed_cell", "replicate"])["seed_key"]
    assert (none.sort_index() == ritual.sort_index()).all()
    effects = paired_effects(load_results(out)).set_index("intervention")
    ritual = effects.loc["checkin-ritual"]
    # At least halves the late intensity of the same couples without it (model 2's cycling couples alternate
    # flare-ups and calm, so their late mean is near 0.1-0.15, not model 1's stuck 0.5), and moves half to calm.
    assert ritual["reduction"] >= 0.5 * ritual["late_without"] and ritual["moved"] >= 0.5
    built = build(out)
    html = built["report"].read_text()
    assert "figure-intervention-timecourse" in html and "figure-intervention-effects" in html
    assert "nightly-call" in html


def test_cli_run_takes_interventions_and_refuses_bad_ones_writing_nothing(tmp_path, capsys):
    out = tmp_path / "run.parquet"
    # Identical couples (preset_spread=0): the avoidant partner's preset responsiveness is 0.3 before day 100.
    assert main(["run", "--couples", "3", "--days", "200", "--set", "shock_day=30", "--set", "preset_spread=0",
                 "--intervene",
                 "checkin-ritual from=100", "--intervene", "a.conflict=2 from=150", "--out", str(out)]) == 0
    daily = pd.read_parquet(out)
    b = daily[daily.role == "b"].set_index(["couple_id", "day"])["responsiveness"]
    assert (b.xs(99, level="day") == 0.3).all() and (b.xs(100, level="day") == 0.9).all()
    bad = tmp_path / "bad.parquet"
    assert main(["run", "--intervene", "b.responsiveness=2", "--out", str(bad)]) == 2
    assert "responsiveness '2' is not allowed" in capsys.readouterr().err
    assert not bad.exists()
    assert main(["interventions"]) == 0
    assert "damage-control-then-engagement" in capsys.readouterr().out


def test_batch_engine_applies_the_same_plan_to_every_couple_it_names():
    pop = make_population("anxious-avoidant", 4, 3, overrides=["shock_day=30"])
    treated = pop.with_intervention("checkin-ritual from=60", couples=[1, 3])
    outcomes = simulate(treated, 365).outcomes
    untreated = simulate(pop, 365).outcomes
    assert list(treated.intervention) == ["none", "checkin-ritual from=60", "none", "checkin-ritual from=60"]
    pd.testing.assert_frame_equal(outcomes.iloc[[0, 2]], untreated.iloc[[0, 2]])
    assert (outcomes["intensity_late"].iloc[[1, 3]] < untreated["intensity_late"].iloc[[1, 3]] - 0.1).all()
