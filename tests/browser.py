"""Shared test helpers: a headless Debian Chromium page that records errors and requests leaving the machine."""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# The flags the machine's probe uses: no sandbox as root, and no background calls to Google's hosts.
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]


@dataclass
class WatchedPage:
    """A Playwright page with the errors it logged and the requests that left the allowed origins."""

    page: object
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)


@contextmanager
def chromium_page(allowed: tuple[str, ...], height: int = 900):
    """Open a page in Debian's Chromium via Playwright; ``allowed`` are the URL prefixes that may be requested."""
    from playwright.sync_api import sync_playwright
    assert CHROMIUM, "CI installs Debian's chromium (.ci/run)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": height})
        watched = WatchedPage(page)
        page.on("pageerror", lambda exc: watched.errors.append(str(exc)))
        page.on("console", lambda msg: watched.errors.append(msg.text) if msg.type == "error" else None)
        page.on("request", lambda req: watched.foreign.append(req.url)
                if not req.url.startswith((*allowed, "data:", "blob:", "about:")) else None)
        try:
            yield watched
        finally:
            browser.close()


def traces_with_data(page, figures: int) -> list[int]:
    """Wait until the page has ``figures`` Plotly figures drawn; per figure, its traces that carry data."""
    page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot').length >= {figures} && "
                           "[...document.querySelectorAll('.js-plotly-plot')].every(g => g._fullData)")
    return page.eval_on_selector_all(".js-plotly-plot", """plots => plots.map(g => g._fullData.filter(
        t => (t.x && t.x.length > 0) || (t.z && t.z.length > 0)).length)""")
