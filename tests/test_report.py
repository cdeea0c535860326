"""The HTML report: contents, a real browser, no network, clear errors, PNG export."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from sim.cli import main
from sim.experiment.runner import sweep
from sim.experiment.spec import load as load_spec
from sim.report.figures import all_panels
from sim.report.page import PngExportError, build, export_png
from sim.report.results import load
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
    assert "figures" in capsys.readouterr().out


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


def test_captions_take_the_conflict_day_and_the_onset_from_the_spec_and_the_data(tmp_path):
    """quick.toml's conflict is on day 30: no caption may say day 100.

    And the teaching animation says when its couple's cycle took hold, before or after that conflict (issue 14
    item 7, issue 17 part 4).
    """
    from sim.cli import main
    out = tmp_path / "quick"
    assert main(["sweep", str(ROOT / "experiments" / "quick.toml"), "--out", str(out), "--workers", "1",
                 "--report"]) == 0
    page = (out / "report.html").read_text()
    assert "conflict on day 30" in page and "day 100" not in page
    assert "the cycle takes hold on day" in page


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
