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


# Per Plotly figure on the page, from what Plotly resolved and drew (_fullData, the legend's DOM):
# - empty: traces with no finite number or label in any of their data arrays;
# - bare: cartesian subplots (axis pairs) with no trace that has data;
# - legend: the names the legend shows; groups: each legend group (a trace's legendgroup, else its name when it
#   shows in the legend) with every colour its traces are drawn in (lines, markers, fills, bars; as "r,g,b",
#   so a band's translucent fill counts as its line's colour). Markers coloured by a value through a colour scale
#   (an array of numbers and a colour bar) count as the colour "scale": there the colour says the value, and the
#   group is told by its legend entry and symbol.
_FIGURE_FACTS = """plots => plots.map(g => {
    const has = v => v != null && (typeof v === 'number' ? Number.isFinite(v) : typeof v === 'string' ? v !== ''
        : (Array.isArray(v) || ArrayBuffer.isView(v)) && Array.prototype.some.call(v, has));
    const points = t => ['x', 'y', 'z', 'values'].some(k => has(t[k])) || (t.cells && has(t.cells.values));
    const rgb = c => {
        if (typeof c !== 'string') return null;
        if (c[0] === '#') {
            const h = c.length === 4 ? [...c.slice(1)].map(d => d + d).join('') : c.slice(1, 7);
            return [0, 2, 4].map(i => parseInt(h.slice(i, i + 2), 16)).join(',');
        }
        const n = c.match(/[\\d.]+/g);
        return n ? n.slice(0, 3).map(Number).join(',') : c;
    };
    const groups = {}, empty = [], drawn = new Set();
    g._fullData.forEach((t, i) => {
        if (t.visible !== true) return;
        if (points(t)) drawn.add((t.xaxis || '') + (t.yaxis || '')); else empty.push(t.name || `trace ${i}`);
        const group = t.legendgroup || (t.showlegend ? t.name : '');
        if (!group) return;
        const colours = groups[group] = groups[group] || new Set();
        const add = c => { const v = rgb(c); if (v) colours.add(v); };
        if (t.type === 'bar') add(t.marker && t.marker.color);
        if (t.type === 'scatter') {
            if (t.mode.includes('lines') && t.line.width > 0) add(t.line.color);
            if (t.mode.includes('markers')) {
                if (Array.isArray(t.marker.color) || ArrayBuffer.isView(t.marker.color)) colours.add('scale');
                else add(t.marker.color);
            }
            if (t.fill && t.fill !== 'none') add(t.fillcolor);
        }
    });
    const subplots = (g._fullLayout._subplots && g._fullLayout._subplots.cartesian) || [];
    return {id: g.id, traces: g._fullData.length, empty, bare: subplots.filter(s => !drawn.has(s)),
            legend: [...g.querySelectorAll('.legend .legendtext')].map(e => e.textContent),
            groups: Object.fromEntries(Object.entries(groups).map(([k, v]) => [k, [...v].sort()]))};
})"""


def figure_facts(page) -> list[dict]:
    """What each drawn Plotly figure of the page shows: see ``_FIGURE_FACTS``."""
    page.wait_for_function("[...document.querySelectorAll('.js-plotly-plot')].every(g => g._fullData)")
    return page.eval_on_selector_all(".js-plotly-plot", _FIGURE_FACTS)


def labelling_problems(facts: list[dict]) -> list[str]:
    """Where a page's figures mislabel: a legend that is not the set of trace groups, or a group in two colours.

    A group has one colour across every panel of a figure and across the page's figures (a pairing or a
    start day is the same colour wherever it appears); the legend names each group once, and nothing else.
    """
    problems, page_colours = [], {}
    for figure in facts:
        legend, groups = figure["legend"], figure["groups"]
        if len(legend) != len(set(legend)):
            problems.append(f"{figure['id']}: a legend entry twice: {sorted(legend)}")
        if legend and set(legend) != set(groups):
            problems.append(f"{figure['id']}: legend {sorted(legend)} but trace groups {sorted(groups)}")
        if not legend and len(groups) > 1:
            problems.append(f"{figure['id']}: {len(groups)} trace groups and no legend to tell them apart")
        for group, colours in groups.items():
            if colours == ["scale"]:
                continue                      # coloured by a value through a colour bar, told apart by its symbol
            if len(colours) != 1:
                problems.append(f"{figure['id']}: group {group!r} drawn in {len(colours)} colours {colours}")
            elif page_colours.setdefault(group, colours[0]) != colours[0]:
                problems.append(f"{figure['id']}: group {group!r} is {colours[0]} here, {page_colours[group]} "
                                "in an earlier figure")
    return problems
