"""The test suite; a package so that tests can share helpers (tests.browser, tests.baseline_cells)."""
