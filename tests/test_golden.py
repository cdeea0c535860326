"""Golden values: a fixed seed gives the same numbers, release after release.

If the model changes on purpose, regenerate tests/golden/anxious_avoidant_seed7.json with
``python tests/test_golden.py --update`` and say why in the commit.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from sim.model import CoupleModel

GOLDEN = Path(__file__).parent / "golden" / "anxious_avoidant_seed7.json"
DAYS_CHECKED = (1, 10, 100, 365)


def current() -> dict:
    model = CoupleModel("anxious-avoidant", n_couples=3, seed=7, days=365,
                        overrides=["shock_day=50"]).run()
    table = model.daily_table()
    picked = table[table["day"].isin(DAYS_CHECKED)]
    outcomes = model.outcomes()
    return {
        "daily": {f"{r.day}/{r.couple_id}/{r.role}": [r.distress, r.pursuit, r.withdrawal, r.anxiety, r.avoidance,
                                                       r.goal_pursuit, r.perceived_responsiveness]
                  for r in picked.itertuples()},
        "outcomes": {k: [None if isinstance(v, float) and np.isnan(v) else v for v in outcomes[k].tolist()]
                     for k in ("intensity_mean", "intensity_trend", "settle_days", "anxiety_change_1y_a",
                               "classification")},
    }


def test_fixed_seed_gives_the_stored_numbers():
    stored = json.loads(GOLDEN.read_text())
    now = current()
    assert now["outcomes"]["classification"] == stored["outcomes"]["classification"]
    for key, values in stored["daily"].items():
        np.testing.assert_allclose(now["daily"][key], values, rtol=0, atol=1e-12, err_msg=key)
    for key, values in stored["outcomes"].items():
        if key != "classification":
            np.testing.assert_allclose(np.array(now["outcomes"][key], dtype=float),
                                       np.array(values, dtype=float), rtol=0, atol=1e-12, err_msg=key)


if __name__ == "__main__" and "--update" in sys.argv:
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(current(), indent=1) + "\n")
    print(f"wrote {GOLDEN}")
