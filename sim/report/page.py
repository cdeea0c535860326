"""The report page: one self-contained HTML file, plotly.js inlined once, no request to any other host."""

from __future__ import annotations

import html
import time
from pathlib import Path

from plotly.offline import get_plotlyjs

from sim.report.figures import all_panels
from sim.report.panel import Panel
from sim.report.results import Results, load
from sim.storage import atomic_output

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; max-width: 1400px;
       padding: 1.5rem 2rem 4rem; color: #1c2833; line-height: 1.45; }
h1 { margin-bottom: 0.2rem; } h2 { margin-top: 2.6rem; border-bottom: 1px solid #d5d8dc; padding-bottom: 0.3rem; }
.purpose { font-size: 1.1rem; color: #34495e; max-width: 60rem; }
.caption { max-width: 62rem; color: #2c3e50; }
table.run { border-collapse: collapse; margin-top: 1rem; }
table.run td { padding: 0.15rem 1.2rem 0.15rem 0; vertical-align: top; }
table.run td:first-child { color: #5d6d7e; white-space: nowrap; }
nav a { margin-right: 1rem; }
"""


def _run_table(results: Results) -> str:
    m = results.manifest
    spec = m["spec_resolved"]["spec"]
    factors = []
    for name, levels in spec.get("factors", {}).items():
        if isinstance(levels, dict):
            factors.append(f"{name}: {levels['num']} levels from {levels['start']:g} to {levels['stop']:g}")
        else:
            factors.append(f"{name}: {', '.join(str(v) for v in levels)}")
    population = spec.get("population", {})
    if population.get("pairings"):
        factors.insert(0, f"pairing: {', '.join(population['pairings'])}")
    if spec.get("sampling"):
        s = spec["sampling"]
        factors.append(f"{s['method']} sample of {s['points']} points over {', '.join(s['bounds'])}")
    fixed = ", ".join(f"{k} = {v}" for k, v in spec.get("fixed", {}).items()) or "none"
    versions = ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items() if v)
    commit = m.get("git_commit") or "unknown"
    if m.get("git_dirty"):
        commit += " (with uncommitted changes)"
    rows = [
        ("experiment", spec["name"]),
        ("factors", factors or "none"),
        ("held fixed", fixed),
        ("population", "drawn from realistic distributions" if population.get("drawn")
         else ", ".join(population.get("pairings") or [population.get("pairing") or "a pairing factor"])),
        ("design", f"{m['cells']:,} cells x {spec['replicates']:,} couples = {m['runs']:,} couple-runs of "
                   f"{spec['days']:,} days"),
        ("root seed", f"{m['root_seed']} ({m.get('seed_rule', '')})"),
        ("run", f"{m.get('started', '?')} to {m.get('finished', '?')}, {m.get('seconds', 0):.1f} s on "
                f"{m.get('executor', '?')}"),
        ("software", f"Python {m.get('python', '?')}; {versions}"),
        ("commit", commit),
    ]
    return run_table(rows)


def run_table(rows: list[tuple[str, str | list[str]]]) -> str:
    """The table of what was run. Every value is escaped: specs and manifests are text from outside."""
    def cell(value) -> str:
        return "<br>".join(html.escape(str(v)) for v in value) if isinstance(value, list) else html.escape(str(value))
    return "<table class='run'>" + "".join(f"<tr><td>{html.escape(k)}</td><td>{cell(v)}</td></tr>"
                                           for k, v in rows) + "</table>"


def render_page(title: str, purpose: str, intro: str, panels: list[Panel], intro_heading: str = "What was run") -> str:
    """A self-contained page: plotly.js inlined once, an introduction, then each figure with its caption."""
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}: pursue-withdraw cycles</title>",
        f"<style>{STYLE}</style>",
        f"<script type='text/javascript'>{get_plotlyjs()}</script>",
        "</head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='purpose'>{html.escape(purpose)}</p>",
        "<nav>" + "".join(f"<a href='#{p.slug}'>{html.escape(p.title)}</a>" for p in panels) + "</nav>",
        f"<h2 id='run'>{html.escape(intro_heading)}</h2>", intro,
    ]
    for panel in panels:
        figure = panel.figure.to_html(full_html=False, include_plotlyjs=False, div_id=f"figure-{panel.slug}",
                                      config={"displaylogo": False, "responsive": True})
        parts += [f"<h2 id='{panel.slug}'>{html.escape(panel.title)}</h2>",
                  f"<p class='caption'>{html.escape(panel.caption)}</p>", figure]
    parts.append("</body></html>")
    return "\n".join(parts)


def render(results: Results, panels: list[Panel]) -> str:
    """The sweep report as a string."""
    spec = results.manifest["spec_resolved"]["spec"]
    return render_page(spec["name"], spec["purpose"], _run_table(results), panels)


class PngExportError(RuntimeError):
    """PNG export needs a Chromium that Kaleido can drive."""


def export_png(panels: list[Panel], folder: Path) -> list[Path]:
    """Every figure as a PNG in ``folder`` (Kaleido, with the system's Chromium)."""
    import shutil
    if not any(shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome", "chrome")):
        raise PngExportError("PNG export needs Chromium and none was found; install it (Debian: apt-get install "
                             "chromium) and run again")
    import plotly.io as pio
    folder.mkdir(parents=True, exist_ok=True)
    figures, paths = [], []
    for i, panel in enumerate(panels, start=1):
        figure = panel.figure
        if figure.frames:
            figure = type(figure)(figure)        # a still of the first frame
            figure.frames = ()
        figures.append(figure)
        paths.append(folder / f"{i:02d}-{panel.slug}.png")
    pending = list(range(len(figures)))
    # Kaleido has, rarely, returned without writing one of the files (seen once in CI): the figures it
    # missed get one more try, and a figure still missing is an error, never a silent gap.
    for _attempt in range(2):
        try:
            # One Kaleido session for all figures: starting Chromium once, not once per figure.
            pio.write_images([figures[i] for i in pending], [str(paths[i]) for i in pending], format="png",
                             width=1400, height=[int(figures[i].layout.height or 450) for i in pending])
        except Exception as exc:  # noqa: BLE001 - kaleido reports a missing browser in several ways
            raise PngExportError(f"PNG export failed ({type(exc).__name__}: {exc}); Kaleido needs Chromium "
                                 "(Debian: apt-get install chromium)") from None
        pending = [i for i in pending if not paths[i].exists() or paths[i].stat().st_size == 0]
        if not pending:
            return paths
    raise PngExportError(f"PNG export wrote no image for {', '.join(paths[i].name for i in pending)}; run again")


def build(folder: str | Path, png: bool = False) -> dict:
    """Write ``report.html`` (and PNGs if asked) into a results folder; returns what was written and how long."""
    started = time.perf_counter()
    results = load(folder)
    panels = all_panels(results)
    out = results.folder / "report.html"
    with atomic_output(out) as tmp:
        tmp.write_text(render(results, panels), encoding="utf-8")
    pngs = export_png(panels, results.folder / "figures") if png else []
    return {"report": out, "figures": len(panels), "bytes": out.stat().st_size, "pngs": pngs,
            "seconds": time.perf_counter() - started}
