"""Every spec in experiments/ and tests/specs/ gives a report that draws data and labels it right, in a browser.

The specs are found when the tests run, so a spec added to either folder is covered without a change here.
Each is run by the command its sections call for (``[diary]`` and ``[fit]``: `cycles diary` then `cycles fit`;
``[study]``: `cycles study`; ``[sensitivity]``: `cycles sensitivity`; otherwise `cycles sweep` and
`cycles report`), at test size: the spec's own settings with fewer couples, levels, sample points and days
(:func:`reduced`), because what is checked is the page, not the numbers; the full-size specs are never run.

On each page, in Debian's Chromium: every Plotly figure has traces and every trace and subplot has data;
each legend names exactly the figure's trace groups, and each group (a pairing, a start day, a partner's
pursuit) is drawn in one colour across all panels and figures; nothing is logged as an error and nothing
is requested from the network. The main job's report is also the README's picture
(docs/images/report.png), written here from the page the test checked, so the picture stays current.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from sim.experiment.spec import Design, Spec, resolve
from sim.storage import atomic_output
from tests.browser import CHROMIUM, chromium_page, figure_facts, labelling_problems

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted([*(ROOT / "experiments").glob("*.toml"), *(ROOT / "tests" / "specs").glob("*.toml")])
MAIN_JOB = ROOT / "experiments" / "support_balance.toml"
SCREENSHOT = ROOT / "docs" / "images" / "report.png"

# Test size. A report draws from a few couples per cell and a few levels per factor just as from many: three
# levels still make a grid with a middle, four couples give every share and quartile, twelve points fill a
# scatter. Days are cut to 240 (a quarter of it is the early and late windows) but never before a day the
# spec schedules something on, plus 120 days to see what it did.
COUPLES, LEVELS, POINTS, DAYS, AFTER = 4, 3, 12, 240, 120
# Scenario discovery needs cases to explain: at 12 points few couples escalate, so a spec with [discovery] keeps
# up to 120 (at the 16% base rate of experiments/discovery.toml, about 19 escalating runs; P(none) < 1e-8).
DISCOVERY_POINTS = 120
# The README's picture: a grid fine enough, and couples enough per cell, to show the regions.
MAIN_JOB_COUPLES, MAIN_JOB_LEVELS = 10, 7


def _scheduled_days(data: dict[str, Any]) -> list[int]:
    days = []
    for name in ("shock_day", "intervention_day"):
        for section in ("fixed", "factors"):
            value = data.get(section, {}).get(name)
            days += [int(v) for v in value] if isinstance(value, list) else [int(value)] if value is not None else []
    return days


def reduced(path: Path) -> dict[str, Any]:
    """The spec of ``path`` at test size, as the data of a spec file (validated later by ``Spec``)."""
    data = tomllib.loads(path.read_text())
    couples, levels = (MAIN_JOB_COUPLES, MAIN_JOB_LEVELS) if path == MAIN_JOB else (COUPLES, LEVELS)
    if data.get("replicates"):
        data["replicates"] = min(data["replicates"], couples)
    if data.get("days"):
        data["days"] = min(data["days"], max(DAYS, max(_scheduled_days(data), default=0) + AFTER))
    for name, value in data.get("factors", {}).items():
        if isinstance(value, dict) and "num" in value:
            data["factors"][name] = {**value, "num": min(value["num"], levels)}
    if "sampling" in data:
        points = DISCOVERY_POINTS if "discovery" in data else POINTS
        data["sampling"]["points"] = min(data["sampling"].get("points", points), points)
    if "study" in data:
        data["study"]["couples"] = min(data["study"].get("couples", 326), 40)
    if "sensitivity" in data:
        data["sensitivity"]["trajectories"] = 2
    if "diary" in data:
        data["diary"]["couples"] = min(data["diary"].get("couples", 80), 6)
    if "fit" in data:
        data["fit"].update(simulations=500, epochs=1, held_out=20, posterior_draws=50, what_if_draws=10,
                           what_if_days=14)
    return data


def _design(data: dict[str, Any], path: Path) -> Design:
    return resolve(Spec.model_validate(data), source=f"{path.name}, reduced to test size", path=str(path))


def command_of(data: dict[str, Any]) -> str:
    """The command whose section the spec has, as the CLI asks for them (sim.cli)."""
    if "fit" in data:
        return "fit"
    if "diary" in data:
        return "diary"
    for name in ("study", "sensitivity"):
        if name in data:
            return name
    return "sweep"


def build_report(path: Path, out: Path) -> Path | None:
    """Run the spec at test size by its command; the report it wrote (None: the command writes none)."""
    data = reduced(path)
    command = command_of(data)
    if command == "diary":
        return None
    if command == "fit":
        from sim import diary
        from sim.fit.run import run as fit
        diary.run(_design(data, path), out / "diary")
        data["fit"]["data"] = str(out / "diary" / "diary.parquet")
        return fit(_design(data, path), out / "fit")["report"]
    if command == "study":
        from sim.study.run import run as study
        study(_design(data, path), out, samples=3, workers=1)      # several cohorts: the power figure too
        return out / "report.html"
    if command == "sensitivity":
        from sim.experiment.sensitivity import run as sensitivity
        return sensitivity(_design(data, path), out, "morris", workers=1)["report"]
    from sim.experiment.runner import sweep
    from sim.report.page import build
    sweep(_design(data, path), out, workers=1)
    return build(out)["report"]


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None and not os.environ.get("CI"):
        pytest.skip("Debian chromium not installed")
    with chromium_page(allowed=("file:",)) as watched:
        yield watched


def test_the_specs_are_found():
    """The folders hold the specs the README and the other tests name, so the glob below is not empty."""
    names = {p.name for p in SPECS}
    assert {"quick.toml", "support_balance.toml", "report_grid.toml"} <= names, names


@pytest.mark.parametrize("path", SPECS, ids=[f"{p.parent.name}/{p.name}" for p in SPECS])
def test_every_spec_gives_a_report_whose_figures_all_have_data(path, tmp_path, browser):
    data = reduced(path)
    if command_of(data) == "diary":
        pytest.skip(f"{path.name}: `cycles diary` writes a diary table and no report")
    if command_of(data) == "fit":
        pytest.skip(f"{path.name}: a fit trains its estimator first (some 30 s even at test size); the fit "
                    "report is checked the same way on tests/specs/diary_fit_small.toml in "
                    "tests/test_fit.py::test_the_fit_report_in_a_real_browser")
    report = build_report(path, tmp_path)
    browser.errors.clear()
    browser.foreign.clear()
    page = browser.page
    page.goto(report.as_uri())
    facts = figure_facts(page)
    assert facts, f"{path.name}: the report has no figure"
    for figure in facts:
        assert figure["traces"] > 0 and not figure["empty"] and not figure["bare"], (path.name, figure)
    assert labelling_problems(facts) == [], path.name
    assert not browser.errors, browser.errors
    assert not browser.foreign, browser.foreign
    if path == MAIN_JOB:
        _write_screenshot(page)


def _write_screenshot(page) -> None:
    """The README's picture: the report's first figure with its heading and caption, rewritten only if changed.

    The top of the page is left out: its table of what was run holds times and the commit, which change
    with every run and would make a new picture each time.
    """
    top = page.locator("h2#escalation").bounding_box()
    bottom = page.locator("#figure-escalation").bounding_box()
    clip = {"x": 0, "y": top["y"] - 8, "width": page.viewport_size["width"],
            "height": bottom["y"] + bottom["height"] - top["y"] + 16}
    png = page.screenshot(clip=clip, full_page=True)
    if not SCREENSHOT.exists() or SCREENSHOT.read_bytes() != png:
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(SCREENSHOT) as tmp:
            tmp.write_bytes(png)


def test_the_readme_quick_start_ends_with_the_main_jobs_report_and_shows_it():
    """The quick start runs the main job, then `cycles report` on the folder the sweep writes.

    The README shows the report's picture, said to come from the size the test makes it at.
    """
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start")[1].split("<!-- test-command -->")[0]
    block = re.search(r"```bash\n(.*?)\n```", quick_start, re.S).group(1).splitlines()
    name = tomllib.loads(MAIN_JOB.read_text())["name"]
    assert block[0].endswith(f"cycles sweep {MAIN_JOB.relative_to(ROOT)}")
    assert block[-1] == f".venv/bin/cycles report results/{name}"          # sweep's default folder: results/NAME
    assert f"results/{name}/report.html" in quick_start
    assert f"]({SCREENSHOT.relative_to(ROOT)})" in quick_start and SCREENSHOT.stat().st_size > 20_000
    small, words = reduced(MAIN_JOB), " ".join(quick_start.split())
    assert (f"{MAIN_JOB_LEVELS} x {MAIN_JOB_LEVELS} levels, {small['replicates']} couples per cell, "
            f"{small['days']} days") in words
