"""The results vocabulary: names, windows and colours shared by the model's outputs and their readers.

Declared once here, with no heavy imports: the outcome tracker and the daily
aggregates (sim.outcomes) write by these names, the runner lays out its tables
by them, and the reports, the classroom views and the job estimates read by
them without importing the engine.
"""

import math

CLASSES = ("escalating", "cycling", "settling", "secure-stable", "dissolved")
# Per cell, day and role, the series table (and the daily aggregates behind it) carries these; cycle_intensity is
# the couple's, on both roles.
SERIES_VARIABLES = ("pursuit", "withdrawal", "distress", "anxiety", "cycle_intensity")
STATISTICS = ("mean", "q25", "q50", "q75")
HISTOGRAM_BINS = 100        # per variable, day, cell and role: the resolution of the quartiles
# The series table's values are rounded to this many decimals: a tenth of the quartiles' resolution (one bin,
# 0.01), below the Monte Carlo error of a cell's mean, and a thousandth of a 0-1 axis on a figure; it makes the
# table compress (float noise in the last bits of a float32 does not).
SERIES_DECIMALS = 3
RESULT_FILES = ("manifest.json", "runs.parquet", "cells.parquet", "series.parquet")
DISCOVERY_FILES = ("boxes.parquet", "peeling.parquet")   # also written when a sweep's spec has [discovery]
FORMAT_VERSION = 2          # of the results folder written by `cycles sweep`
MIXED = "mixed"             # the pairing of a cell whose couples have different pairings (drawn populations)

# The per-couple outcomes of a run, in the order sim.outcomes.CycleTracker.summary gives them (a test holds the
# two together). Partner-level ones end in _a and _b.
OUTCOME_COLUMNS = (
    "intensity_mean", "intensity_early", "intensity_late", "intensity_peak", "intensity_trend", "flare_ups",
    "calmed_flare_ups", "flare_days_share", "calm_days_late",
    "last_flare_day", "settle_days", "dissolved", "dissolution_day",
    *(f"{name}_{role}" for role in "ab" for name in (
        "pursuit_late", "withdrawal_late", "distress_late", "goal_pursuit_late", "anxiety_change",
        "avoidance_change", "anxiety_change_1y", "avoidance_change_1y")),
    "classification",
)
# What a sensitivity analysis can analyse: every numeric outcome averaged over a sample point's couples, and the
# shares of couples in the active classes.
SENSITIVITY_OUTCOMES = (*(c for c in OUTCOME_COLUMNS if c not in ("dissolved", "classification")),
                        "share_escalating", "share_escalating_or_cycling")


def window_length(days: int) -> int:
    """Length of the early and late windows of a run of ``days`` days: a quarter of it, from 1 to 90 days."""
    return max(1, min(90, math.ceil(days / 4)))


# One colour per role and per classification, on every page and view.
ROLE_COLOURS = {"a": "#c0392b", "b": "#2471a3"}
CLASS_COLOURS = {"escalating": "#c0392b", "cycling": "#e67e22", "settling": "#52be80",
                 "secure-stable": "#1e8449", "dissolved": "#7f8c8d"}
