"""The literate examples (docs/examples/*.py): notebooks of prose and code on the public API that run as scripts.

Each example runs top to bottom in its own process, as a reader runs it
(``python docs/examples/NN_name.py`` from the repository's root), writing
into a temporary folder through ``CYCLES_EXAMPLES_OUT``; its own asserts
hold its prose to its numbers. Every figure it writes (an HTML page and the
figure's JSON beside it) must hold data. Their sizes are small so that all of
them together stay within 90 seconds; the diary fit's training is most of it.
"""

from __future__ import annotations

import ast
import base64
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import sim

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "docs" / "examples").glob("[0-9][0-9]_*.py"))
NEEDS = {"04_fitting_a_diary": "bayesflow"}       # the fit extra
_VERSION_LINE = re.compile(r"^#\s+jupytext_version: .*$", re.M)


def test_the_examples_are_there_and_the_readme_links_each():
    assert 4 <= len(EXAMPLES) <= 6, [p.name for p in EXAMPLES]
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Examples", 1)[1].split("\n## ", 1)[0]
    for path in EXAMPLES:
        assert f"(docs/examples/{path.name})" in section, path.name


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_an_example_is_a_notebook_of_prose_and_code_on_the_public_api(path):
    jupytext = pytest.importorskip("jupytext")
    text = path.read_text()
    notebook = jupytext.reads(text, fmt="py:percent")
    kinds = [cell.cell_type for cell in notebook.cells]
    assert kinds[0] == "markdown" and notebook.cells[0].source.startswith("# "), "a title cell first"
    assert kinds.count("markdown") >= 4 and kinds.count("code") >= 4, kinds
    # The file is what Jupytext writes for its notebook (the version it was written with aside).
    assert _VERSION_LINE.sub("", jupytext.writes(notebook, fmt="py:percent")) == _VERSION_LINE.sub("", text)
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert not (node.module or "").startswith("sim"), f"line {node.lineno}: use `import sim`"
        if isinstance(node, ast.Import):
            assert all(a.name == "sim" or not a.name.startswith("sim.") for a in node.names), node.lineno
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "sim":
            assert node.attr in sim.__all__, f"line {node.lineno}: sim.{node.attr} is not public"


def _numbers(values) -> np.ndarray:
    """A trace's numbers; plotly writes a numpy array as a typed array ({"dtype", "bdata"}: base64)."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
    return np.asarray(values, dtype=float)


def _figure_has_data(path: Path) -> None:
    figure = json.loads(path.read_text())
    title = figure["layout"]["title"]["text"]
    assert figure["data"] and title, path.name
    for trace in figure["data"]:
        numbers = _numbers(trace["y"] if "y" in trace else trace["x"])
        assert len(numbers) > 0 and np.isfinite(numbers).all(), (path.name, trace.get("name"))
    page = path.with_suffix(".html").read_text()
    assert "Plotly.newPlot" in page and '<script src="http' not in page, "a self-contained page"
    assert json.dumps(title)[1:-1] in page, "the page shows the figure the JSON holds"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_an_example_runs_and_writes_its_figures(path, tmp_path):
    if path.stem in NEEDS and importlib.util.find_spec(NEEDS[path.stem]) is None:
        pytest.skip(f"{path.name} needs {NEEDS[path.stem]} (the fit extra)")
    # This checkout's sim first, as `python docs/examples/...` from its root finds it once installed.
    path_before = os.environ.get("PYTHONPATH")
    env = {**os.environ, "CYCLES_EXAMPLES_OUT": str(tmp_path),
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), path_before) if p)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(path)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    seconds = time.perf_counter() - started
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    print(f"{path.name}: {seconds:.1f} s")
    out = tmp_path / path.stem
    figures = sorted(out.glob("*.json"))
    assert figures, f"{path.name} wrote no figure into {out}"
    for figure in figures:
        _figure_has_data(figure)
    for line in done.stdout.splitlines():
        if line.startswith("figure: "):
            assert Path(line.removeprefix("figure: ")).parent == out, line
