"""Plotly reports of sweep results: reads results files only, never the engine."""
