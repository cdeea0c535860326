"""docs/ODD.md agrees with the code: generated tables current, every parameter and mechanism described."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from sim import dynamics
from sim.odd import ODD_PATH, render
from sim.params import PARAMETERS

ROOT = Path(__file__).resolve().parent.parent


def test_generated_tables_are_current():
    text = ODD_PATH.read_text()
    assert render(text) == text, "run `python -m sim.odd` to regenerate docs/ODD.md tables"


def test_odd_has_all_seven_elements():
    text = ODD_PATH.read_text()
    for heading in ("## 1. Purpose and patterns", "## 2. Entities, state variables and scales",
                    "## 3. Process overview and scheduling", "## 4. Design concepts", "## 5. Initialization",
                    "## 6. Input data", "## 7. Submodels"):
        assert heading in text


def test_every_parameter_appears_in_the_equations_or_text():
    text = ODD_PATH.read_text()
    body = text.split("<!-- params:begin -->")[0]
    for name in PARAMETERS:
        assert name in body, f"{name} is declared but not used in the ODD's prose or equations"


def test_every_mechanism_function_is_named_in_the_odd():
    text = ODD_PATH.read_text()
    public = [name for name, fn in inspect.getmembers(dynamics, inspect.isfunction)
              if fn.__module__ == dynamics.__name__ and not name.startswith("_")]
    missing = [name for name in public if name not in text]
    assert not missing, f"describe these in docs/ODD.md: {missing}"


def test_readme_quick_start_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- test-command -->\n```bash\n(.*?)\n```", readme, re.S)
    assert block, "README.md must mark its test command"
    assert "pytest" in block.group(1)
    assert "test-command" in (ROOT / ".ci" / "run").read_text()
