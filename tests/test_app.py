"""The classroom app (SolaraViz) and the standalone demo page."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sim.cli import main
from sim.params import PARAMETERS
from tests.browser import CHROMIUM, chromium_page

ROOT = Path(__file__).resolve().parent.parent
# Solara asks its local CDN proxy for KaTeX (maths in Markdown); offline that is a 404 and nothing is shown
# differently, since the app writes no maths.
KNOWN_HARMLESS = ("Failed to load resource: the server responded with a status of 404", "katex")


def test_app_module_builds_with_no_arguments_and_steps():
    import sim.app as app
    from sim.classroom import ClassroomModel
    assert app.page is not None and app.ClassroomModel is ClassroomModel
    model = ClassroomModel()
    for _ in range(10):
        model.step()
    assert model.day == 10 and len(model.daily_table()) == 2 * 11


def test_sliders_take_their_ranges_from_the_declarations():
    import sim.app as app
    for key, slider in app.model_params.items():
        if key.startswith(("a_", "b_")):
            decl = PARAMETERS[key[2:]]
            assert (slider["min"], slider["max"]) == (decl.low, decl.high)
    from sim.classroom import ClassroomModel
    model = ClassroomModel(b_responsiveness=0.95)
    assert model.couples[0][1].responsiveness == 0.95
    assert app.model_params["intervention_day"]["min"] == PARAMETERS["intervention_day"].low


def test_intervention_control_calms_the_cycle_on_screen():
    """Choosing the check-in ritual from day 120: the couple that keeps flaring without it flares far less with it.

    Model 2's couples flare up and calm again, so the screen is judged over the rest of the year, day by day:
    without the ritual the couple is shown in the cycle (escalating or cycling) on some days after day 150;
    with it, its mean cycle intensity over days 150-365 is under half, and it ends the year calm.
    """
    from sim.classroom import ClassroomModel, live_regime
    plain = ClassroomModel(intervention="none")
    ritual = ClassroomModel(intervention="checkin-ritual", intervention_day=120)
    shown = {"plain": [], "ritual": []}
    intensity = {"plain": [], "ritual": []}
    for name, model in (("plain", plain), ("ritual", ritual)):
        model.inject_conflict()
        for day in range(1, 366):
            model.step()
            if day >= 150:
                shown[name].append(live_regime(model))
                intensity[name].append(model.cycle_intensity()[0])
    assert ritual.couples[0][1].responsiveness == 0.9          # the avoidant partner now checks in
    assert {"escalating", "cycling"} & set(shown["plain"])
    assert np.mean(intensity["ritual"]) < 0.5 * np.mean(intensity["plain"])
    assert shown["ritual"][-1] in ("settling", "settled", "simmering", "secure-stable")


def test_conflict_button_shocks_the_couple_tomorrow():
    from sim.classroom import ClassroomModel
    model = ClassroomModel(pairing="secure-secure", a_anxiety=2.0, a_avoidance=2.0, b_anxiety=2.0,
                           b_avoidance=2.0)
    model.run(20)
    before = model.couples[0][0].distress
    model.inject_conflict()
    model.step()
    assert model.couples[0][0].distress > before + 0.2


def test_demo_writes_a_standalone_animated_page(tmp_path, capsys):
    out = tmp_path / "demo.html"
    assert main(["demo", "--preset", "anxious-avoidant", "--days", "120", "--out", str(out)]) == 0
    text = out.read_text()
    assert "opens offline" in capsys.readouterr().out
    assert text.count("plotly.js v") >= 1 and "addFrames" in text and "Play" in text
    assert "<script src=\"https://" not in text
    assert main(["demo", "--out", str(tmp_path / "demo.txt")]) == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="Debian chromium not installed")
def test_app_in_a_real_browser(tmp_path):
    """Start `cycles app` on a free loopback port, step it, move a slider, and see the model change."""
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "sim.cli", "app", "--port", str(port)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = server.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in ready, ready + server.stderr.read()
        local = (f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}")
        with chromium_page(allowed=local, height=1000) as watched:
            page = watched.page
            page.goto(f"http://127.0.0.1:{port}/", timeout=120_000)
            page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 3", timeout=120_000)
            points = "[...document.querySelectorAll('.js-plotly-plot')].map(g => (g._fullData || [])" \
                     ".reduce((n, t) => Math.max(n, t.x ? t.x.length : 0), 0))"
            before = page.evaluate(points)
            for _ in range(3):
                page.get_by_role("button", name="Step", exact=True).click()
                page.wait_for_timeout(400)
            # Every time-series plot gained the three days (plot 0 is the two partners, always two markers).
            page.wait_for_function(f"({points}).every((n, i) => i === 0 || n >= {before}[i] + 3)", timeout=30_000)
            assert page.get_by_text("Day 3.").count() >= 1
            # Move partner b's responsiveness to its highest value, then rebuild the model with it.
            slider = page.locator("xpath=//div[contains(@class, 'v-input') and .//*[contains(text(), "
                                  "'partner b: responsiveness')]]//div[@role='slider']")
            slider.focus()
            slider.press("End")
            page.wait_for_timeout(500)
            page.get_by_role("button", name="Reset", exact=True).click()
            # The narrative gives the support given today "of" the capacity the slider set.
            page.wait_for_function("/responsiveness [0-9.]+ of 1\\.00/.test(document.body.innerText)", timeout=30_000)
            page.screenshot(path=str(tmp_path / "app.png"), full_page=True)
        real = [e for e in watched.errors if not any(k in e for k in KNOWN_HARMLESS)]
        assert not real, real
        assert not watched.foreign, watched.foreign
        assert (tmp_path / "app.png").stat().st_size > 30_000
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            pytest.fail("the app did not stop on Ctrl-C")
    assert server.returncode is not None
