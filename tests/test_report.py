"""The HTML report: contents, a real browser, no network, clear errors, PNG export."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.cli import main
from sim.experiment.runner import sweep
from sim.experiment.spec import load as load_spec
from sim.report.figures import (
    TITLE_VALUES_PER_LINE,
    _animation_words,
    _contrast_words,
    _panel_title,
    _title_margin,
    all_panels,
    other_factors,
)
from sim.report.page import PngExportError, build, export_png
from sim.report.results import Results, load
from sim.schema import FORMAT_VERSION
from tests.browser import CHROMIUM, chromium_page, traces_with_data

ROOT = Path(__file__).resolve().parent.parent
GRID = ROOT / "tests" / "specs" / "report_grid.toml"


@pytest.fixture(scope="module")
def grid_results(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report_grid"
    sweep(load_spec(GRID), out, workers=1)
    return out


def test_report_has_every_figure_and_is_self_contained(grid_results):
    done = build(grid_results)
    assert done["seconds"] < 20 and done["bytes"] < 15e6
    titles = [p.slug for p in all_panels(load(grid_results))]
    assert titles == ["escalation", "intensity", "anxiety", "regimes", "trajectories", "episode", "phase",
                      "balance", "animation"]
    text = done["report"].read_text()
    assert text.count("<script type='text/javascript'>/**") == 1          # plotly.js inlined exactly once
    # The markup (script bodies aside: plotly.js carries URLs as strings) loads nothing from elsewhere.
    markup = re.sub(r"<script[^>]*>.*?</script>", "<script></script>", text, flags=re.S)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", markup)
    assert "<script src" not in markup and "<link" not in markup
    for caption_start in ("Share of couples", "Mean cycle intensity", "The classification", "Press Play",
                          "was back below"):
        assert caption_start in text


def test_other_specs_get_sensible_default_figures(tmp_path):
    out = sweep(load_spec(ROOT / "experiments" / "quick.toml"), tmp_path / "quick", workers=1).out
    slugs = [p.slug for p in all_panels(load(out))]
    assert "factors" in slugs and "trajectories" in slugs and "animation" in slugs
    assert "escalation" not in slugs            # no responsiveness x goal-support grid in this spec
    build(out)


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="Debian chromium not installed")
def test_report_in_a_real_browser(grid_results, tmp_path):
    """Headless Chromium opens the report from a file URL: every plot has data, Play exists, no errors."""
    report = build(grid_results)["report"]
    with chromium_page(allowed=("file:",)) as watched:
        page = watched.page
        page.goto(report.as_uri())
        with_data = traces_with_data(page, 9)
        assert len(with_data) == 9 and all(n >= 1 for n in with_data), with_data
        play = page.locator(".updatemenu-button", has_text="Play")
        assert play.count() == 1
        play.click()
        page.wait_for_timeout(1500)
        shown = page.evaluate("document.getElementById('figure-animation')._fullData[0].x.length")
        assert shown > 1                                            # the animation advanced
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    # Plotly's own Play handler rejects a promise when a frame is interrupted; that is harmless.
    real = [e for e in watched.errors if "animation" not in e.lower() and "interrupted" not in e.lower()]
    assert not real, real
    assert not watched.foreign, watched.foreign
    assert (tmp_path / "report.png").stat().st_size > 50_000


def test_sweep_with_report_flag(tmp_path, capsys):
    out = tmp_path / "q"
    assert main(["sweep", str(GRID), "--workers", "1", "--out", str(out), "--report"]) == 0
    assert (out / "report.html").exists()
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "figures" in last and last.endswith(f"; open {out / 'report.html'}")      # what to open, last


def test_missing_partial_and_old_results_exit_2_saying_what_is_missing(grid_results, tmp_path, capsys):
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "no such results folder" in capsys.readouterr().err
    partial = tmp_path / "partial"
    shutil.copytree(grid_results, partial)
    (partial / "series.parquet").unlink()
    assert main(["report", str(partial)]) == 2
    err = capsys.readouterr().err
    assert "series.parquet" in err and "missing" in err and "\n" not in err.strip()
    (partial / "chunks").mkdir()
    assert main(["report", str(partial)]) == 2
    assert "partial sweep" in capsys.readouterr().err
    old = tmp_path / "old"
    shutil.copytree(grid_results, old)
    manifest = (old / "manifest.json").read_text().replace(f'"format_version": {FORMAT_VERSION}', '"format_version": 0')
    (old / "manifest.json").write_text(manifest)
    assert main(["report", str(old)]) == 2
    assert "format" in capsys.readouterr().err
    assert not (old / "report.html").exists() or (old / "report.html").stat().st_mtime <= (
        grid_results / "report.html").stat().st_mtime + 1e9


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="Debian chromium not installed")
def test_png_export(grid_results):
    written = build(grid_results, png=True)["pngs"]
    assert len(written) == 9
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_png_export_without_chromium_says_so(grid_results, tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(PngExportError, match="Chromium"):
        export_png(all_panels(load(grid_results)), tmp_path / "figures")
    assert not (tmp_path / "figures").exists()


def _conflict_days_named(captions: list[str]) -> set[int]:
    return {int(day) for caption in captions for day in re.findall(r"conflict on day (\d+)", caption)}


def test_captions_take_the_conflict_day_and_the_onset_from_the_spec_and_the_data(tmp_path):
    """quick.toml, the report the mislabels were seen in (issue 17 part 4): its conflict is on day 30.

    Every caption that names the conflict names day 30; the two followed cells are said to differ in what
    really differs between them (the same pairing, more responsiveness, only when so); and the teaching
    animation places its couple's onset (the first flare-up of its own series, by the tracker's rule) before,
    at or after that conflict as it really falls.
    """
    from sim.outcomes import flare_episodes, weekly_intensity
    from sim.params import PARAMETERS
    out = tmp_path / "quick"
    assert main(["sweep", str(ROOT / "experiments" / "quick.toml"), "--out", str(out), "--workers", "1",
                 "--report"]) == 0
    results = load(out)
    panels = {p.slug: p for p in all_panels(results)}
    assert _conflict_days_named([p.caption for p in panels.values()]) == {30}
    trajectories = panels["trajectories"]
    left, right = (re.match(r"\d+% [\w-]+: (.*)$", a.text).group(1) for a in trajectories.figure.layout.annotations)
    levels = {label: float(re.search(r"responsiveness ([\d.]+)", label).group(1)) for label in (left, right)}
    contrast = re.search(r"Right, (.*?): ", trajectories.caption).group(1)
    assert ("more responsiveness" in contrast) == (levels[right] > levels[left])
    assert contrast.startswith("the same pairing") == (left.split(",")[0] == right.split(",")[0])
    # The animation's couple: couple 1 of the left cell, its onset from its own daily cycle intensity.
    cell = results.cells[results.cells["responsiveness"].round(2) == levels[left]]
    cell = cell[cell.pairing == left.split(",")[0]].iloc[0]
    own = results.series([int(cell["cell"])], ["couple"], replicate=0)
    daily = own[own.role == "a"].sort_values("day")["cycle_intensity"].to_numpy()
    episodes = flare_episodes(weekly_intensity(daily), PARAMETERS["high_intensity"].default,
                              PARAMETERS["quiet_intensity"].default)
    caption = panels["animation"].caption
    assert episodes, "quick.toml's most intense cell has a couple that flares up"
    onset = episodes[0][0]
    assert f"the cycle takes hold on day {onset} " in caption
    expected = "before the scheduled" if onset < 30 else "at the scheduled" if onset <= 44 else "after the scheduled"
    assert expected in caption, caption


def test_captions_name_a_conflict_day_other_than_the_default(tmp_path):
    """A spec whose conflict is on day 45 (the default is no scheduled conflict): every caption says day 45."""
    text = (ROOT / "experiments" / "quick.toml").read_text().replace("shock_day = 30", "shock_day = 45")
    assert "shock_day = 45" in text
    spec = tmp_path / "late_conflict.toml"
    spec.write_text(text.replace("replicates = 10", "replicates = 6"))
    results = load(sweep(load_spec(spec), tmp_path / "late", workers=1).out)
    captions = [p.caption for p in all_panels(results)]
    assert _conflict_days_named(captions) == {45}
    assert sum("day 45" in c for c in captions) >= 2          # the followed cells and the phase portrait at least


def _stub(shock_day: int) -> Results:
    spec = {"days": 120, "fixed": {"shock_day": shock_day}}
    return Results(Path("."), {"spec_resolved": {"spec": spec}, "factor_names": ["pairing", "responsiveness"]},
                   pd.DataFrame())


@pytest.mark.parametrize("start, words", [
    (2, "in the first week, before the scheduled conflict on day 30"),
    (30, "at the scheduled conflict on day 30"),
    (79, "50 days after the scheduled conflict on day 30"),
])
def test_the_animation_says_when_its_couple_flares_relative_to_the_conflict(start, words):
    """A couple whose cycle intensity jumps to 0.5 on day ``start``: its weekly average reaches 0.2 a day later.

    (A quarter of the way each day, WEEKLY = 0.25: 0.125 then 0.22.) A couple that escalates in its first week
    is never said to do so "after the conflict".
    """
    days = np.arange(121)
    intensity = np.where(days >= start, 0.5, 0.0)
    said = _animation_words(_stub(30), days, intensity, "a", "b")
    assert f"the cycle takes hold on day {start + 1} " in said and words in said, said
    assert ("after" in said) == (start > 30)


def test_the_followed_cells_are_compared_by_what_differs():
    results = _stub(30)
    first = pd.Series({"pairing": "anxious-avoidant", "responsiveness": 0.2})
    assert _contrast_words(results, first, first.replace(0.2, 0.8)) == \
        "the same pairing with more responsiveness (0.80)"
    other = pd.Series({"pairing": "secure-secure", "responsiveness": 0.2})
    assert _contrast_words(results, first, other) == "secure-secure couples"
    assert "more" not in _contrast_words(results, first, other) and "less" not in _contrast_words(results, first, other)


def test_the_episode_caption_reads_its_days_from_the_couple_it_shows(grid_results):
    """The flare-up figure's caption reads its onset and calm days from the couple it shows.

    They are where the couple's own weekly intensity crosses high_intensity upwards and falls back below
    quiet_intensity (the outcome tracker's definition).
    """
    from sim.outcomes import weekly_intensity
    from sim.params import PARAMETERS
    results = load(grid_results)
    panel = next(p for p in all_panels(results) if p.slug == "episode")
    found = re.search(r"Couple (\d+) of the cell .*?reached ([\d.]+) on day (\d+) and was back below ([\d.]+) on "
                      r"day (\d+), (\d+) days later", panel.caption)
    assert found, panel.caption
    replicate, high, onset, quiet, calm, length = found.groups()
    assert float(high) == PARAMETERS["high_intensity"].default and float(quiet) == PARAMETERS["quiet_intensity"].default
    assert int(calm) - int(onset) == int(length) > 0
    shown = {trace.name: trace for trace in panel.figure.data}
    weekly = shown["weekly cycle intensity"]
    days, values = np.asarray(weekly.x), np.asarray(weekly.y)
    at = {int(d): v for d, v in zip(days, values, strict=True)}
    assert at[int(onset)] >= float(high) > at[int(onset) - 1]
    assert at[int(calm)] < float(quiet) <= min(at[d] for d in range(int(onset), int(calm)))
    # And the plotted weekly intensity is the sampled couple's own, recomputed from its daily series.
    cells = results.series(list(results.cells["cell"]), ["couple"])
    couples = cells[(cells.replicate == int(replicate) - 1) & (cells.role == "a")]
    matches = [cell for cell, part in couples.groupby("cell") if np.allclose(
        weekly_intensity(part.sort_values("day")["cycle_intensity"].to_numpy())[days],
        values, atol=1e-6)]
    assert len(matches) >= 1


def test_the_grid_captions_say_what_the_cells_show(grid_results):
    """The escalation, regime and balance captions state shares and changes computed from the cells shown."""
    results = load(grid_results)
    panels = {p.slug: p for p in all_panels(results)}
    cells = results.cells.assign(active=results.cells["share_escalating"] + results.cells["share_cycling"])
    taken = {p: (part["active"] >= 0.5).mean() for p, part in cells.groupby("pairing")}
    most = max(taken, key=taken.get)
    assert f"in {taken[most]:.0%} of the cells for {most}, the most" in panels["escalation"].caption
    for factor in ("responsiveness", "goal_support"):
        middle = np.median(np.unique(cells[factor]))
        low = cells.loc[cells[factor] < middle, "active"].mean()
        high = cells.loc[cells[factor] > middle, "active"].mean()
        said = f"({low:.0%} of couples in the lower half of its levels, {high:.0%} in the upper)"
        assert said in panels["regimes"].caption, panels["regimes"].caption
        if abs(low - high) >= 0.05:
            assert f"more at {'low' if low > high else 'high'} {factor.replace('_', ' ')}" in panels["regimes"].caption
    # Each balance line's stated change is its last cell minus its first, in the anxious partner's column.
    balance = panels["balance"].caption
    changes = re.findall(r"at (low|medium|high) responsiveness it (?:falls|rises|barely moves) \(([+-][\d.]+)[ )]",
                         balance)
    assert changes, balance
    lines = [t for t in panels["balance"].figure.data if t.showlegend is not False and t.legendgroup]
    plotted = {round(float(t.y[-1] - t.y[0]), 3) for t in panels["balance"].figure.data
               if t.hovertemplate and "change" in t.hovertemplate}
    assert lines and {float(change) for _, change in changes} <= {p + 0.0 for p in plotted}


def test_a_sampled_cell_title_wraps_so_two_panels_keep_apart():
    """A cell of a sampled design names six values; its title holds three to a line, with room above."""
    names = ["pairing", "a.anxiety", "a.avoidance", "b.anxiety", "b.avoidance", "responsiveness", "goal_support"]
    results = Results(Path("."), {"spec_resolved": {"spec": {"days": 120}}, "factor_names": names}, pd.DataFrame())
    cell = pd.Series({"pairing": "anxious-fearful", **{n: 0.5 for n in names[1:]}, "share_escalating": 1.0,
                      "share_cycling": 0.0, "share_settling": 0.0, "share_secure-stable": 0.0,
                      "share_dissolved": 0.0})
    title = _panel_title(results, cell)
    lines = title.split("<br>")
    assert title.startswith("100% escalating: anxious-fearful") and len(lines) == 3
    assert all(line.count(", ") <= TITLE_VALUES_PER_LINE - 1 for line in lines[1:])
    assert _title_margin([title, "short"]) == 40 + 20 * 3


def test_drawn_couples_with_sampled_traits_share_one_panel():
    """Sixteen pairings that only follow from sampled traits are one panel of all couples, not sixteen."""
    styles = ["secure", "anxious", "avoidant", "fearful"]
    rng = np.random.default_rng(4)
    cells = pd.DataFrame({"cell": range(64), "pairing": [f"{x}-{y}" for x in styles for y in styles] * 4,
                          "a.anxiety": rng.uniform(1, 7, 64), "responsiveness": rng.uniform(0, 1, 64),
                          "share_escalating": rng.uniform(0, 0.5, 64), "share_cycling": rng.uniform(0, 0.5, 64)})
    manifest = {"spec_resolved": {"spec": {"days": 120, "sampling": {"method": "lhs"}}},
                "factor_names": ["a.anxiety", "responsiveness"]}
    panel = other_factors(Results(Path("."), manifest, cells))
    assert len(panel.figure.data) == 1 and "all couples together" in panel.caption
    assert len(panel.figure.data[0].x) == 64
