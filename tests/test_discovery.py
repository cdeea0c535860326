"""Scenario discovery: PRIM recovers planted boxes, [discovery] is validated, sweeps write and reports show it.

The planted runs have uniform inputs and escalate with chance 0.9 inside a
known box and 0.05 outside it, so the tolerance follows from the numbers: the
widest box of density 0.85 may reach past a planted edge only as far as the
outside cases it can absorb, m runs with (0.9 n_in + 0.05 m) / (n_in + m) >=
0.85, i.e. m <= n_in / 16 (25 runs of 3,000 here): 0.125 ECR-R points of
anxiety or 0.025 of responsiveness, plus one peel. The tests allow 5% of each
input's range (0.3 and 0.05), about twice that.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.experiment.discovery import discover
from sim.experiment.runner import sweep
from sim.experiment.spec import DiscoverySpec, SpecError, load
from sim.population import make_population
from sim.report import discovery as panels
from sim.report.page import build
from sim.report.results import load as load_results
from sim.selectors import style_of

ROOT = Path(__file__).resolve().parent.parent
SMALL = ROOT / "tests" / "specs" / "discovery_small.toml"
RANGES = {"anxiety": (1.0, 7.0), "responsiveness": (0.0, 1.0), "goal_support": (0.0, 1.0)}
INPUTS = list(RANGES)


def planted(seed: int = 0, n: int = 3000) -> pd.DataFrame:
    """Runs that escalate with chance 0.9 when anxiety > 5 and responsiveness < 0.4, else 0.05."""
    rng = np.random.default_rng(seed)
    runs = pd.DataFrame({name: rng.uniform(low, high, n) for name, (low, high) in RANGES.items()})
    inside = (runs["anxiety"] > 5.0) & (runs["responsiveness"] < 0.4)
    escalates = np.where(inside, rng.random(n) < 0.9, rng.random(n) < 0.05)
    return runs.assign(classification=np.where(escalates, "escalating", "settling"),
                       intensity_late=np.where(escalates, 0.6, 0.1) + rng.normal(0.0, 0.05, n))


def limits(found, box: int = 1) -> pd.DataFrame:
    return found.boxes[found.boxes["box"] == box].set_index("input")


@pytest.mark.parametrize("outcome", [{"outcome": "escalating"},
                                     {"outcome": "intensity_late", "threshold": 0.35, "direction": "above"}])
def test_prim_recovers_a_planted_box(outcome):
    found = discover(planted(), DiscoverySpec(min_density=0.85, **outcome), INPUTS, RANGES)
    box = limits(found)
    assert box.loc["anxiety", "lower"] == pytest.approx(5.0, abs=0.3) and box.loc["anxiety", "upper"] == 7.0
    assert box.loc["responsiveness", "upper"] == pytest.approx(0.4, abs=0.05)
    assert box.loc["responsiveness", "lower"] == 0.0
    assert not box.loc["goal_support", "restricted"]                  # the input that does not matter
    assert box.loc["anxiety", "qp_lower"] < 1e-6 and box.loc["responsiveness", "qp_upper"] < 1e-6
    chosen = found.trajectory[found.trajectory["chosen"]].iloc[0]
    # The planted box holds 0.9 * 400 of the ~490 cases (coverage ~0.73); the chosen box is at least 0.85 dense.
    assert chosen["density"] >= 0.85 and 0.65 <= chosen["coverage"] <= 0.85
    first = found.trajectory.iloc[0]
    assert first["step"] == 0 and first["coverage"] == 1.0 and first["mass"] == 1.0      # the whole design


def test_a_second_box_is_found_among_the_runs_outside_the_first():
    runs = planted()
    rng = np.random.default_rng(100)
    other = (runs["responsiveness"] > 0.7) & (runs["goal_support"] > 0.7)        # a second region, as dense
    runs.loc[other & (rng.random(len(runs)) < 0.9), "classification"] = "escalating"
    found = discover(runs, DiscoverySpec(min_density=0.85, boxes=2), INPUTS, RANGES)
    boxes = [limits(found, 1), limits(found, 2)]
    first = next(b for b in boxes if b.loc["anxiety", "restricted"])
    second = next(b for b in boxes if not b.loc["anxiety", "restricted"])
    assert first.loc["anxiety", "lower"] == pytest.approx(5.0, abs=0.3)
    assert first.loc["responsiveness", "upper"] == pytest.approx(0.4, abs=0.05)
    assert second.loc["responsiveness", "lower"] == pytest.approx(0.7, abs=0.05)
    assert second.loc["goal_support", "lower"] == pytest.approx(0.7, abs=0.05)
    # Box 2 starts from the runs left outside box 1: fewer runs, and only the cases box 1 left.
    starts = found.trajectory[found.trajectory["step"] == 0].set_index("box")
    assert starts.loc[2, "mass"] < 1.0 and starts.loc[2, "coverage"] < 1.0


def test_no_case_gives_empty_tables_and_a_panel_that_says_so():
    runs = planted().assign(classification="settling")
    found = discover(runs, DiscoverySpec(), INPUTS, RANGES)
    assert found.trajectory.empty and found.boxes.empty
    assert "none of this sweep's runs" in panels._no_cases(DiscoverySpec()).caption


def test_captions_carry_the_tables_numbers():
    found = discover(planted(), DiscoverySpec(min_density=0.85), INPUTS, RANGES)
    sentence = panels.box_sentences(DiscoverySpec(min_density=0.85), found.trajectory, found.boxes)[0]
    chosen = found.trajectory[found.trajectory["chosen"]].iloc[0]
    base = found.trajectory.iloc[0]["density"]
    box = limits(found)
    assert sentence.startswith(f"Couples with anxiety above {box.loc['anxiety', 'lower']:.3g} and responsiveness "
                               f"below {box.loc['responsiveness', 'upper']:.3g} escalate in ")
    assert f"in {chosen['density']:.0%} of runs (the base rate is {base:.0%})" in sentence
    assert f"box 1 holds {chosen['coverage']:.0%} of all runs that escalate" in sentence


BASE = """
name = "t"
purpose = "test"
days = 40
replicates = 2
seed = 3
[population]
drawn = true
[sampling]
method = "lhs"
points = 8
bounds = {"a.anxiety" = [1.0, 7.0], responsiveness = [0.0, 1.0]}
"""


@pytest.mark.parametrize("section, expected", [
    ('outcome = "escalatin"', ("discovery.outcome", "'escalatin'", "escalating, cycling")),
    ('outcome = ["escalating", "escalating"]', ("discovery.outcome", "each classification once")),
    ('outcome = "intensity_late"', ("discovery", "'intensity_late' without a threshold", "direction")),
    ("threshold = 0.3", ("discovery", "threshold", "'escalating'", "outcome column")),
    ('outcome = "intensity_late"\nthreshold = 0.2\ndirection = "up"', ("discovery.direction", "'up'", "'above'")),
    ('inputs = ["b.anxiety"]', ("discovery", "'b.anxiety'", "a.anxiety, responsiveness")),
    ("inputs = []", ("discovery", "inputs []", "a.anxiety, responsiveness")),
    ("peel_alpha = 0.9", ("discovery.peel_alpha", "0.9", "0.5")),
    ("mass_min = 0", ("discovery.mass_min", "0", "greater than 0")),
    ("min_density = 1.5", ("discovery.min_density", "1.5", "1")),
    ("step = 3\nmin_density = 0.5", ("discovery", "min_density together with step", "one of them")),
    ("boxes = 0", ("discovery.boxes", "0", "greater than or equal to 1")),
    ("boxes = 2.5", ("discovery.boxes", "2.5", "integer")),
    ("min_density = '0.8'", ("discovery.min_density", "'0.8'", "number")),
    ("bogus = 1", ("discovery.bogus", "unknown key")),
])
def test_the_section_is_validated_with_one_line_naming_the_field(tmp_path, section, expected):
    path = tmp_path / "spec.toml"
    path.write_text(BASE + "[discovery]\n" + section + "\n")
    with pytest.raises(SpecError) as caught:
        load(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: key ")
    for part in expected:
        assert part in message, (part, message)


def test_the_section_belongs_to_a_sweep_with_inputs(tmp_path):
    path = tmp_path / "spec.toml"
    unsampled = BASE.split("[sampling]")[0]
    path.write_text(unsampled + '[factors]\nintervention = ["none", "checkin-ritual"]\n[discovery]\n')
    with pytest.raises(SpecError, match=r"key discovery: \[discovery\] without inputs to restrict is not allowed"):
        load(path)
    path.write_text(BASE + "[study]\ncouples = 20\n[discovery]\n")
    with pytest.raises(SpecError, match=r"key discovery: \[discovery\] with \[study\] or \[diary\] is not allowed"):
        load(path)
    design = load(SMALL)
    assert design.spec.discovery_inputs() == ["a.anxiety", "b.avoidance", "b.anxiety", "responsiveness"]
    # A spec without the section resolves as before it existed: the same fingerprint, so old runs still resume.
    assert "discovery" not in load(ROOT / "experiments" / "quick.toml").resolved()["spec"]


def test_sampled_traits_of_drawn_couples_set_their_styles():
    traits = np.array([6.0, 2.0, 6.0, 2.0])
    pop = make_population(None, 4, 1, drawn=True, values={"a.anxiety": traits, "b.avoidance": 6.5})
    assert (pop.partner["anxiety"][:, 0] == traits).all() and (pop.partner["avoidance"][:, 1] == 6.5).all()
    assert (pop.style == style_of(pop.partner["anxiety"], pop.partner["avoidance"])).all()
    assert list(pop.pairing) == [f"{a}-{b}" for a, b in pop.style]
    assert all(p.endswith(("-avoidant", "-fearful")) for p in pop.pairing)      # b's avoidance 6.5
    untouched = make_population(None, 400, 1, drawn=True)        # without trait settings the styles stay drawn
    assert (untouched.style != style_of(untouched.partner["anxiety"], untouched.partner["avoidance"])).any()


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("discovery") / "small"
    sweep(load(SMALL), out, workers=1)
    return out


def test_a_sweep_with_discovery_writes_the_tables_and_the_report_shows_them(small):
    manifest = json.loads((small / "manifest.json").read_text())
    recorded = manifest["discovery"]
    assert recorded["files"] == ["boxes.parquet", "peeling.parquet"] and recorded["runs"] == 120
    boxes, peeling = pd.read_parquet(small / "boxes.parquet"), pd.read_parquet(small / "peeling.parquet")
    runs = pd.read_parquet(small / "runs.parquet")
    assert recorded["cases"] == (runs["classification"] == "escalating").sum() > 0
    assert peeling.iloc[0]["density"] == pytest.approx(recorded["base_rate"])
    assert set(boxes["input"]) == set(recorded["inputs"]) and peeling["chosen"].sum() == boxes["box"].nunique()
    assert boxes["restricted"].any()
    text = build(small)["report"].read_text()
    for slug in ("discovery-tradeoff", "discovery-boxes"):
        assert f"id='figure-{slug}'" in text or f'id="figure-{slug}"' in text
    results = load_results(small)
    tradeoff, shown = panels.tradeoff(results), panels.boxes(results)
    assert sum(len(trace.x) for trace in tradeoff.figure.data if trace.showlegend is not False) == len(peeling)
    assert html.escape(shown.caption.split(" Bars:")[0]) in text      # the page carries the data-derived sentence
    chosen = peeling[peeling["chosen"]].iloc[0]
    numbers = re.search(r"in (\d+)% of runs \(the base rate is (\d+)%\); box 1 holds (\d+)%", shown.caption)
    assert numbers and [int(n) for n in numbers.groups()] == [round(100 * chosen["density"]),
                                                               round(100 * peeling.iloc[0]["density"]),
                                                               round(100 * chosen["coverage"])]


def test_the_report_works_the_tables_out_when_they_are_missing(small, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(small, copy)
    for name in ("boxes.parquet", "peeling.parquet"):
        (copy / name).unlink()
    _, found = panels.findings(load_results(copy))
    pd.testing.assert_frame_equal(found.boxes, pd.read_parquet(small / "boxes.parquet"))
    pd.testing.assert_frame_equal(found.trajectory, pd.read_parquet(small / "peeling.parquet"))
    assert not (copy / "boxes.parquet").exists()                  # only the sweep writes into its results


def test_force_over_a_discovery_sweep_leaves_no_stale_boxes(small, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(small, copy)
    spec = tmp_path / "plain.toml"
    spec.write_text(SMALL.read_text().split("\n[discovery]")[0])
    sweep(load(spec), copy, workers=1, force=True)
    assert not (copy / "boxes.parquet").exists() and not (copy / "peeling.parquet").exists()
    assert panels.boxes(load_results(copy)) is None


def test_unreadable_tables_stop_the_report_in_one_line(small, tmp_path, capsys):
    from sim.cli import main
    copy = tmp_path / "copy"
    shutil.copytree(small, copy)
    (copy / "boxes.parquet").write_bytes(b"not parquet")
    (copy / "report.html").unlink(missing_ok=True)
    assert main(["report", str(copy)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "boxes.parquet" in err and "run the sweep again" in err
    assert not (copy / "report.html").exists()
