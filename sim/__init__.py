"""Agent-based simulation of the anxious-avoidant pursue-withdraw cycle in couples.

``import sim`` gives the calls a researcher needs; each returns pandas
DataFrames or a small frozen result holding them, and each ``cycles`` command
is a thin layer over one of them:

| call | command | what it does |
|---|---|---|
| `simulate` | `cycles run` | couples of a pairing, a drawn population or a DataFrame, day by day |
| `sweep`, `load_sweep` | `cycles sweep` | an experiment spec (a TOML file or a dict) over many couples |
| `write_report` | `cycles report` | the self-contained HTML report of a sweep |
| `virtual_study` | `cycles study` | a cohort measured and analysed like a real one; power by simulation |
| `simulate_diary` | `cycles diary` | a simulated daily-diary study, the truth beside it |
| `fit_diary` | `cycles fit` | each couple's parameters from a diary; checks and what-ifs |
| `sensitivity` | `cycles sensitivity` | Morris screening or Sobol indices (SALib) |
| `demo`, `classroom_app` | `cycles demo`, `cycles app` | the classroom views |
| `parameters`, `recipes` | `cycles params`, `cycles interventions` | the declarations |

`CoupleModel` is the Mesa model, usable with Mesa's own tools (``mesa.batch_run``, SolaraViz).

Example:
    >>> import sim
    >>> run = sim.simulate("anxious-avoidant", n_couples=5, days=365, seed=7)
    >>> run.outcomes.classification.value_counts()      # doctest: +SKIP

The names are loaded on first use, so ``import sim`` (and the command line) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "simulate", "Simulation", "sweep", "load_sweep", "SweepResults", "write_report", "Report",
    "virtual_study", "StudyResults", "simulate_diary", "DiaryResults", "fit_diary", "FitResults",
    "sensitivity", "SensitivityResults", "demo", "classroom_app", "parameters", "recipes", "InputError",
    "CoupleModel",
]
# Where each public name lives: the calls and their results in sim.api, the Mesa model in sim.model.
_HOMES = {name: "sim.model" if name == "CoupleModel" else "sim.api" for name in __all__}

if TYPE_CHECKING:
    from sim.api import (
        DiaryResults,
        FitResults,
        InputError,
        Report,
        SensitivityResults,
        Simulation,
        StudyResults,
        SweepResults,
        classroom_app,
        demo,
        fit_diary,
        load_sweep,
        parameters,
        recipes,
        sensitivity,
        simulate,
        simulate_diary,
        sweep,
        virtual_study,
        write_report,
    )
    from sim.model import CoupleModel


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        # Not ours: "from sim import params" then imports the submodule.
        raise AttributeError(f"module 'sim' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
