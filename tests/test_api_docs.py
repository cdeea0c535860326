"""The API reference builds with pdoc without a warning about our code, and documents every public name."""

from __future__ import annotations

import html
import importlib.util
import inspect
import re
from pathlib import Path

import pytest

import sim

ROOT = Path(__file__).resolve().parents[1]


def _builder():
    spec = importlib.util.spec_from_file_location("build_docs", ROOT / "scripts" / "build_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _letters(fragment: str) -> str:
    """The words of an HTML fragment (or of plain text) with every tag, space and call's "()" taken out.

    pdoc renders ``:func:`simulate``` as a link reading ``simulate()``.
    """
    return re.sub(r"\s+|\(\)", "", html.unescape(re.sub(r"<[^>]+>", "", fragment)))


def test_the_api_reference_builds_and_documents_every_public_name(tmp_path):
    pytest.importorskip("pdoc")
    ours, _ = _builder().build(tmp_path)
    assert ours == [], ours
    page = (tmp_path / "sim.html").read_text()
    sections = dict(re.findall(r'<section id="([A-Za-z_]+)">(.*?)</section>', page, re.S))
    assert set(sim.__all__) <= set(sections), set(sim.__all__) - set(sections)
    for name in sim.__all__:
        doc = inspect.getdoc(getattr(sim, name))
        assert doc, f"{name} has no docstring"
        first = re.sub(r":\w+:", "", doc).replace("`", "").split("\n\n")[0]
        assert _letters(first) in _letters(sections[name]), (name, first)
    for name in ("simulate", "sweep", "virtual_study", "fit_diary", "write_report"):
        # Google sections rendered as such, not as plain text.
        assert all(f'<h6 id="{heading}">' in sections[name] for heading in ("arguments", "returns", "raises",
                                                                            "example")), name


def test_the_readme_calls_the_api_as_it_is():
    """Every ``sim.NAME(...)`` in the README's From Python block is public and takes the arguments it is given."""
    import ast
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- python-api -->\n```python\n(.*?)\n```", readme, re.S)
    assert block, "README.md must mark its From Python block"
    calls = [node for node in ast.walk(ast.parse(block.group(1))) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Attribute) and getattr(node.func.value, "id", None) == "sim"]
    assert {call.func.attr for call in calls} >= {"simulate", "sweep", "write_report", "virtual_study",
                                                  "simulate_diary", "fit_diary", "sensitivity", "parameters"}
    for call in calls:
        assert call.func.attr in sim.__all__, call.func.attr
        signature = inspect.signature(getattr(sim, call.func.attr))
        signature.bind(*[None] * len(call.args), **{k.arg: None for k in call.keywords})
