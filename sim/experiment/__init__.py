"""Experiments: declarative specs (spec), and running them reproducibly at scale (runner)."""
