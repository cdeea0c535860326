"""The tidy daily table both drivers produce: its columns and agent ids."""

from __future__ import annotations

from sim.dynamics import STATE_FIELDS

# One row per agent per day. cycle_intensity is the couple's (sim.dynamics.cycle_intensity), the same on
# both partners' rows; responsiveness and goal_support are what the partner gave that day.
DAILY_COLUMNS: tuple[str, ...] = (
    "couple_id", "agent_id", "role", "style", "pairing", "day", "together",
    *STATE_FIELDS, "cycle_intensity", "responsiveness", "goal_support",
)


def agent_id(couple_id, role_index):
    """Agent ids as Mesa assigns them: partners a and b of couple c are 2c+1 and 2c+2."""
    return 2 * couple_id + role_index + 1
