"""Names shared by the model's outputs and their readers, with no heavy imports.

The report reads results through these names and never imports the engine.
"""

CLASSES = ("escalating", "cycling", "settling", "secure-stable", "dissolved")
SERIES_VARIABLES = ("pursuit", "withdrawal", "distress", "anxiety", "cycle_intensity")   # intensity: the couple's, on both roles
STATISTICS = ("mean", "q25", "q50", "q75")
RESULT_FILES = ("manifest.json", "runs.parquet", "cells.parquet", "series.parquet")
FORMAT_VERSION = 2          # of the results folder written by `cycles sweep`
MIXED = "mixed"             # the pairing of a cell whose couples have different pairings (drawn populations)

# The per-couple outcomes of a run, in the order sim.outcomes.CycleTracker.summary gives them (a test holds the
# two together). Partner-level ones end in _a and _b.
OUTCOME_COLUMNS = (
    "intensity_mean", "intensity_early", "intensity_late", "intensity_peak", "intensity_trend", "swings",
    "settle_days", "dissolved", "dissolution_day",
    *(f"{name}_{role}" for role in "ab" for name in (
        "pursuit_late", "withdrawal_late", "distress_late", "goal_pursuit_late", "anxiety_change",
        "avoidance_change", "anxiety_change_1y", "avoidance_change_1y")),
    "classification",
)
