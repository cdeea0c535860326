"""CoupleModel: a Mesa model holding a population of couples."""

from __future__ import annotations

from collections.abc import Iterable
from types import SimpleNamespace

import mesa
import numpy as np
import pandas as pd
from mesa.time import Schedule

from sim import interventions
from sim.agents import PartnerAgent
from sim.dynamics import (
    STATE_FIELDS,
    conflict_event,
    cycle_intensity,
    dissolution_count,
    shared_strain,
    shared_strain_weights,
)
from sim.outcomes import CycleTracker
from sim.population import Override, Population, make_population
from sim.randomness import daily_conflict_uniforms, daily_normals, daily_shared_normals
from sim.selectors import ROLES
from sim.tables import DAILY_COLUMNS

_AGENT_REPORTERS = {"couple_id": "couple_id", "role": "role", "style": "style",
                    **{name: name for name in STATE_FIELDS},
                    "cycle_intensity": lambda a: float(cycle_intensity(a.pursuit, a.withdrawal, a.partner.pursuit,
                                                                       a.partner.withdrawal)),
                    "responsiveness": "responsiveness", "goal_support": "goal_support"}


class CoupleModel(mesa.Model):
    """Couples whose attachment anxiety and avoidance drive pursue-withdraw cycles.

    One step is one day. Within a couple the update is simultaneous: every
    partner first decides from yesterday's state, then every partner applies,
    so activation order cannot decide who pursues.

    Args:
        pairing: a preset pairing, e.g. ``"anxious-avoidant"`` (partner a
            anxious, partner b avoidant), or None for the declared defaults.
        n_couples: how many couples of that pairing (or drawn couples).
        seed: root seed; the model's ``rng`` and every couple's random stream
            derive from it.
        drawn: draw a realistic population instead of repeating the pairing.
        overrides: ``"[selector.]name=value"`` strings or Override objects.
        days: planned run length, which sets the outcome windows (default 365).
        population: a ready Population (then pairing, n_couples, drawn and
            overrides are ignored).
        rng: an integer seed, accepted under Mesa's name so that
            ``mesa.batch_run`` can seed the model; ``seed`` wins if both are given.
        intervention: an intervention plan for every couple ("none", a recipe,
            change texts; see sim.interventions). A ready population brings its own.
    """

    def __init__(self, pairing: str | None = "anxious-avoidant", n_couples: int = 1, seed: int | None = None,
                 drawn: bool = False, overrides: Iterable[Override | str] = (), days: int = 365,
                 population: Population | None = None, rng: int | None = None, intervention=None):
        if seed is None and rng is not None:
            # mesa.batch_run seeds models through `rng`; only integer seeds name couples reproducibly.
            seed = int(rng)
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1, np.uint32)[0])
        super().__init__(rng=seed)
        self.seed = seed
        self.population = population or make_population(pairing, n_couples, seed, drawn, overrides,
                                                        intervention=intervention)
        pop = self.population
        self.days = days
        self.day = 0
        self.together = np.ones(pop.n, dtype=bool)
        self.dissolution_streak = np.zeros(pop.n, dtype=np.int64)
        self.normals_today = np.zeros((pop.n, 2, 1))
        self.shock_today = np.zeros((pop.n, 2))      # scheduled shock plus random conflict, per partner
        self.conflict_today = np.zeros((pop.n, 2))    # from scheduled conflict events
        self.couples: list[tuple[PartnerAgent, PartnerAgent]] = []
        for c in range(pop.n):
            pair = tuple(PartnerAgent(self, c, role, pop.style[c, r],
                                      SimpleNamespace(**{k: float(v[c, r]) for k, v in pop.partner.items()}))
                         for r, role in enumerate(ROLES))
            pair[0].partner, pair[1].partner = pair[1], pair[0]
            self.couples.append(pair)
        for agent in self.agents:
            agent.start()
        self._schedule_interventions()
        self.tracker = CycleTracker(pop.n, days, pop.couple["shock_day"], self.state_arrays(),
                                    pop.classification)
        self.datacollector = mesa.DataCollector(
            model_reporters={
                "day": "day",
                "mean_pursuit": lambda m: m.agents.agg("pursuit", np.mean),
                "mean_withdrawal": lambda m: m.agents.agg("withdrawal", np.mean),
                "mean_distress": lambda m: m.agents.agg("distress", np.mean),
                "mean_cycle_intensity": lambda m: float(np.mean(m.cycle_intensity())),
                "couples_together": lambda m: int(m.together.sum()),
            },
            agent_reporters={"day": lambda a: a.model.day, "together": lambda a: bool(a.model.together[a.couple_id]),
                             **_AGENT_REPORTERS},
        )
        self.datacollector.collect(self)

    def _schedule_interventions(self) -> None:
        """Put every day on which an intervention can change a parameter on Mesa's event list.

        An event at time ``d - 0.5`` (the evening before day ``d``, ahead of
        the step at time ``d``) recomputes the day's parameters and conflict
        drive from the schedule (sim.interventions.parameters_on, the function
        the batch engine compiles). Between those days nothing changes.
        """
        schedule = self.population.schedule
        planned = interventions.planned_couples(schedule)
        if not planned.any():
            return
        self._planned = np.flatnonzero(planned)
        self._base_parameters = interventions.partner_rows(self.population.partner)
        rules = {tuple(row[:interventions.Rule.ON_A]) for row in schedule[planned].reshape(-1, schedule.shape[2])
                 if row[interventions.Rule.ON_A] or row[interventions.Rule.ON_B]}
        for rule in sorted(rules):
            for first, interval, last in interventions.transitions(np.array(rule)):
                if interval is None:
                    self.schedule_event(self._refresh_interventions, at=first - 0.5)
                else:
                    self.schedule_recurring(self._refresh_interventions, Schedule(
                        interval=interval, start=first - 0.5, end=None if np.isinf(last) else last - 0.5))

    def _refresh_interventions(self) -> None:
        """Set every planned partner's parameters and conflict drive for the coming day."""
        coming = self.day + 1
        values, self.conflict_today = interventions.parameters_on(self._base_parameters, self.population.schedule,
                                                                  coming)
        for c in self._planned:
            for agent in self.couples[c]:
                agent.params = SimpleNamespace(**dict(zip(interventions.PARTNER_PARAMETERS,
                                                          values[c, agent.role_index].tolist(), strict=True)))

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Every state variable as an array of shape (couples, 2)."""
        return {name: np.array([[getattr(a, name), getattr(b, name)] for a, b in self.couples])
                for name in STATE_FIELDS}

    def cycle_intensity(self) -> np.ndarray:
        """Today's cycle intensity of each couple (see sim.dynamics.cycle_intensity)."""
        s = self.state_arrays()
        return cycle_intensity(s["pursuit"][:, 0], s["withdrawal"][:, 0], s["pursuit"][:, 1], s["withdrawal"][:, 1])

    def step(self) -> None:
        """Advance every couple by one day."""
        self.day += 1
        pop = self.population
        self.normals_today = daily_normals(pop.keys, self.day)
        shared = daily_shared_normals(pop.keys, self.day)[:, None]
        own_weight, shared_weight = shared_strain_weights(pop.couple["shared_stress"][:, None])
        self.normals_today[:, :, 0] = shared_strain(self.normals_today[:, :, 0], shared, own_weight, shared_weight)
        shock = np.where(pop.couple["shock_day"] == self.day, pop.couple["shock_size"], 0.0)[:, None]
        draws = daily_conflict_uniforms(pop.keys, self.day)
        # One conflict for both partners; how hard it hits is each partner's own draw.
        self.shock_today = shock + conflict_event(draws[:, :1], draws[:, 1:], pop.couple["conflict_rate"][:, None],
                                                  pop.couple["conflict_severity"][:, None])
        lived = self.together.copy()
        self.agents.do("decide")
        self.agents.do("apply")
        state = self.state_arrays()
        self.tracker.update(self.day, state, lived)
        self.dissolution_streak = dissolution_count(self.dissolution_streak, state["distress"][:, 0],
                                                    state["distress"][:, 1], pop.couple["dissolution_distress"])
        ending = lived & pop.couple["dissolution"] & (self.dissolution_streak >= pop.couple["dissolution_days"])
        self.together &= ~ending
        self.tracker.dissolve(self.day, ending)
        self.datacollector.collect(self)

    def run(self, days: int | None = None) -> CoupleModel:
        """Step ``days`` days (default: the planned run length)."""
        for _ in range(self.days if days is None else days):
            self.step()
        return self

    def outcomes(self) -> pd.DataFrame:
        """One row per couple: outcome metrics and classification so far."""
        return self.tracker.summary(self.state_arrays())

    def daily_table(self) -> pd.DataFrame:
        """The tidy daily table: one row per agent per day (see sim.tables.DAILY_COLUMNS)."""
        frame = self.datacollector.get_agent_vars_dataframe().reset_index()
        frame = frame.rename(columns={"AgentID": "agent_id"})
        frame["pairing"] = self.population.pairing[frame["couple_id"].to_numpy()]
        return frame[list(DAILY_COLUMNS)].sort_values(["day", "couple_id", "role"], kind="stable") \
            .reset_index(drop=True)
