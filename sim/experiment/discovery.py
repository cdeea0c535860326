"""Scenario discovery: which ranges of which inputs make an outcome likely (PRIM boxes over a sweep's runs).

A sweep's runs answer "where does the cycle take hold?" point by point; PRIM
(the patient rule induction method of Friedman & Fisher 1999, as EMA
Workbench implements it for scenario discovery, Bryant & Lempert 2010)
answers it with a box: ranges of a few inputs inside which most runs show the
outcome. It peels a small share of the runs off one side of one input at a
time, whichever raises the share of cases inside most, which traces a
trajectory from the whole design (every case covered, at the base rate) to a
small dense box; each point trades coverage (the share of all cases inside
the box) against density (the share of runs inside the box that are cases).
The spec's ``[discovery]`` section (sim.experiment.spec.DiscoverySpec) says
which runs are cases, which inputs a box may restrict, PRIM's settings and
which point of each trajectory to report. Further boxes are found among the
runs outside the boxes before them.

:func:`discover` does the work on a runs table; :func:`write` runs it for a
finished sweep and writes ``boxes.parquet`` and ``peeling.parquet``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from sim.experiment.spec import Design, DiscoverySpec, Range, Spec
from sim.schema import DISCOVERY_FILES
from sim.storage import write_parquet

TRAJECTORY_COLUMNS = ("box", "step", "coverage", "density", "mass", "restricted", "runs", "cases", "chosen")
BOX_COLUMNS = ("box", "input", "lower", "upper", "restricted", "qp_lower", "qp_upper", "range_low", "range_high")


@dataclass
class Discovery:
    """PRIM's findings over a runs table, as two tidy tables.

    ``trajectory``: one row per box and step of its peeling (and pasting)
    trajectory: ``coverage`` (share of all cases inside the box), ``density``
    (share of the box's runs that are cases; the runs inside earlier boxes
    are not counted), ``mass`` (share of all runs inside), ``restricted``
    (inputs the box restricts), ``runs`` and ``cases`` inside, and ``chosen``
    for the step reported. Step 0 of box 1 is the whole design, so its
    density is the base rate.

    ``boxes``: one row per chosen box and input: its ``lower`` and ``upper``
    limits (a side the box leaves open is the input's full range), whether
    the box ``restricted`` it, PRIM's quasi-p-value of each restricted side
    (``qp_lower``, ``qp_upper``: a one-sided binomial test of the box against
    the box without that limit, Bryant & Lempert 2010; NaN for a side left
    open), and the input's full range (``range_low``, ``range_high``: the
    design's, e.g. the sampled bounds, else the runs' lowest and highest).
    """

    trajectory: pd.DataFrame
    boxes: pd.DataFrame


def cases(runs: pd.DataFrame, settings: DiscoverySpec) -> np.ndarray:
    """Which runs show the outcome of interest: a classification, or a column beyond a threshold."""
    if settings.classes is not None:
        return runs["classification"].isin(settings.classes).to_numpy()
    values = runs[settings.outcome].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):     # NaN (an outcome undefined for the run) is never a case
        return values > settings.threshold if settings.above else values < settings.threshold


def _prim():
    """EMA Workbench's PRIM, imported on first use (some 5 s: it brings its whole modelling framework)."""
    with warnings.catch_warnings():
        # The package announces, on import, an optional parallel evaluator this module never uses.
        warnings.filterwarnings("ignore", message="ipyparallel not installed", category=UserWarning)
        from ema_workbench.analysis import prim
    return prim


def _chosen_step(trajectory: pd.DataFrame, settings: DiscoverySpec) -> int:
    """The step to report: ``step`` (at most the last), else the widest box dense enough, else the densest."""
    if settings.step is not None:
        return min(settings.step, len(trajectory) - 1)
    dense = trajectory[trajectory["density"] >= settings.density_floor]
    if len(dense):
        # Highest coverage; among equals, fewer restrictions and then the earlier step (the simpler box).
        return int(dense.sort_values(["coverage", "res_dim", "id"], ascending=[False, True, True])["id"].iloc[0])
    return int(trajectory.sort_values(["density", "coverage", "id"], ascending=[False, False, True])["id"].iloc[0])


def discover(runs: pd.DataFrame, settings: DiscoverySpec, inputs: Sequence[str],
             ranges: Mapping[str, tuple[float, float]] | None = None) -> Discovery:
    """PRIM boxes over ``runs`` (one row per couple-run) for the outcome ``settings`` names.

    Args:
        runs: a sweep's runs table (runs.parquet), or any table with the
            ``inputs`` columns and the outcome (``classification``, or the
            column ``settings.outcome``).
        settings: the spec's ``[discovery]`` section: outcome, PRIM's
            ``peel_alpha``, ``paste_alpha`` and ``mass_min``, the step to
            report (``min_density`` or ``step``) and how many ``boxes``.
        inputs: the numeric columns a box may restrict.
        ranges: each input's full range in the design (:func:`input_ranges`);
            by default the lowest and highest value in ``runs``.

    Returns:
        The trajectories and the chosen boxes (:class:`Discovery`). Boxes are
        found one after another, each among the runs outside the chosen boxes
        before it, until ``settings.boxes`` are found or no case is left
        outside them; when no run is a case both tables are empty.
    """
    inputs = list(inputs)
    y = cases(runs, settings)
    # PRIM peels float64 inputs as continuous and integers as discrete; runs.parquet may hold float32.
    x = pd.DataFrame({name: runs[name].to_numpy(dtype=np.int64 if pd.api.types.is_integer_dtype(runs[name])
                                                 else np.float64) for name in inputs})
    steps, limits = [], []
    if y.any():
        with warnings.catch_warnings():
            # EMA Workbench 3.0 drops a column in place, which pandas 3 announces it will stop allowing.
            warnings.filterwarnings("ignore", message="The inplace keyword", module="ema_workbench")
            prim = _prim().Prim(x, y.astype(int), peel_alpha=settings.peel_alpha,
                                paste_alpha=settings.paste_alpha, mass_min=settings.mass_min)
        initial = prim.box_init                    # the runs' lowest and highest value of each input
        for number in range(1, settings.boxes + 1):
            if number > 1 and not y[prim.yi_remaining].any():
                break                              # every case is inside a box already: nothing left to find
            box = prim.find_box()
            if box is None:
                break
            trajectory = box.peeling_trajectory
            chosen = _chosen_step(trajectory, settings)
            box.select(chosen)                     # before the next box: its runs leave the data it searches
            steps.append(pd.DataFrame({
                "box": number, "step": trajectory["id"].astype(int), "coverage": trajectory["coverage"],
                "density": trajectory["density"], "mass": trajectory["mass"],
                "restricted": trajectory["res_dim"].astype(int), "runs": trajectory["n"].astype(int),
                "cases": trajectory["k"].astype(int), "chosen": trajectory["id"] == chosen}))
            lims, quasi_p = box.box_lims[chosen], box.p_values[chosen]
            for name in inputs:
                cut = [lims.at[0, name] != initial.at[0, name], lims.at[1, name] != initial.at[1, name]]
                full = (ranges or {}).get(name, (float(initial.at[0, name]), float(initial.at[1, name])))
                qp = [float(p) if side and p is not None and p >= 0 else np.nan
                      for side, p in zip(cut, quasi_p.get(name, [-1, -1]), strict=True)]
                limits.append({"box": number, "input": name,
                               "lower": float(lims.at[0, name]) if cut[0] else float(full[0]),
                               "upper": float(lims.at[1, name]) if cut[1] else float(full[1]),
                               "restricted": bool(any(cut)), "qp_lower": qp[0], "qp_upper": qp[1],
                               "range_low": float(full[0]), "range_high": float(full[1])})
    trajectory = (pd.concat(steps, ignore_index=True) if steps
                  else pd.DataFrame({c: pd.Series(dtype=float) for c in TRAJECTORY_COLUMNS}))
    boxes = pd.DataFrame(limits, columns=list(BOX_COLUMNS))
    return Discovery(trajectory.astype({"box": np.int32, "step": np.int32, "restricted": np.int32,
                                        "runs": np.int64, "cases": np.int64, "chosen": bool}),
                     boxes.astype({"box": np.int32, "restricted": bool}))


def input_ranges(spec: Spec) -> dict[str, tuple[float, float]]:
    """Each input's full range in the design: a sampled parameter's bounds, a factor's lowest and highest level."""
    ranges = {key: (float(low), float(high)) for key, (low, high) in (spec.sampling.bounds if spec.sampling
                                                                      else {}).items()}
    for key, levels in spec.factors.items():
        values = levels.values() if isinstance(levels, Range) else levels
        if all(isinstance(v, (int, float)) for v in values):
            ranges[key] = (float(min(values)), float(max(values)))
    return ranges


def outcome_columns(settings: DiscoverySpec) -> list[str]:
    """The runs.parquet columns the outcome is read from."""
    return ["classification"] if settings.classes is not None else [settings.outcome]


def write(design: Design, out: str | Path) -> dict | None:
    """For a spec with [discovery]: PRIM over the sweep's runs in ``out``, written as boxes and peeling tables.

    Each file is written atomically. Returns what the manifest records of it
    (None for a spec without [discovery], and nothing is written).
    """
    settings = design.spec.discovery
    if settings is None:
        return None
    out = Path(out)
    started = time.perf_counter()
    inputs = design.spec.discovery_inputs()
    runs = pd.read_parquet(out / "runs.parquet", columns=[*inputs, *outcome_columns(settings)])
    found = discover(runs, settings, inputs, input_ranges(design.spec))
    boxes_file, peeling_file = DISCOVERY_FILES
    write_parquet(found.boxes, out / boxes_file)
    write_parquet(found.trajectory, out / peeling_file)
    is_case = cases(runs, settings)
    return {"files": list(DISCOVERY_FILES), "outcome": settings.describe(), "inputs": inputs,
            "runs": len(runs), "cases": int(is_case.sum()), "base_rate": float(is_case.mean()) if len(runs) else None,
            "boxes": int(found.trajectory["box"].nunique()), "seconds": round(time.perf_counter() - started, 3),
            "ema_workbench": metadata.version("ema_workbench")}
