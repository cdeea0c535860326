"""Fitting the model to couples' daily diaries by simulation-based inference (``cycles fit``).

A free parameter counts as identifiable from a diary design when, on
held-out simulated diaries, its 90% posterior intervals cover the true value
for a share of couples within :data:`COVERAGE_RANGE` (issue 15's 80-98%: near
the nominal 90%, neither overconfident nor so wide as to say nothing) and its
posterior SD is at most :data:`CONTRACTION` of the prior's.
"""

COVERAGE_RANGE = (0.80, 0.98)
CONTRACTION = 0.6
