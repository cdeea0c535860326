"""Names shared by the model's outputs and their readers, with no heavy imports.

The report reads results through these names and never imports the engine.
"""

CLASSES = ("escalating", "cycling", "settling", "secure-stable", "dissolved")
SERIES_VARIABLES = ("pursuit", "withdrawal", "distress", "anxiety", "cycle_intensity")   # intensity: the couple's, on both roles
STATISTICS = ("mean", "q25", "q50", "q75")
RESULT_FILES = ("manifest.json", "runs.parquet", "cells.parquet", "series.parquet")
FORMAT_VERSION = 2          # of the results folder written by `cycles sweep`
MIXED = "mixed"             # the pairing of a cell whose couples have different pairings (drawn populations)
