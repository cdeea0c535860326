"""PartnerAgent: one person in a couple, as a Mesa agent that calls sim.dynamics."""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING

import mesa

from sim.dynamics import STATE_FIELDS, PartnerState, initial_state, partner_day

if TYPE_CHECKING:
    from sim.model import CoupleModel


class PartnerAgent(mesa.Agent):
    """A partner with trait attachment anxiety and avoidance, who pursues or withdraws.

    Attributes:
        couple_id: index of the couple in the model.
        role: ``"a"`` or ``"b"``, the partner's place in the pairing name
            (in ``anxious-avoidant``, ``a`` is the anxious partner).
        style: attachment style at the start (secure, anxious, avoidant, fearful).
        params: this partner's parameters (every partner-scope declaration),
            including the support it gives: ``responsiveness`` and ``goal_support``.
        partner: the other PartnerAgent of the couple.
        anxiety, avoidance, distress, pursuit, withdrawal, goal_pursuit,
        perceived_responsiveness, perceived_goal_support, satisfaction,
        received_response, despair, responsiveness_given, goal_support_given:
        the daily state (see sim.dynamics.PartnerState).
    """

    model: CoupleModel

    def __init__(self, model: CoupleModel, couple_id: int, role: str, style: str, params: SimpleNamespace):
        super().__init__(model)
        self.couple_id = couple_id
        self.role = role
        self.role_index = 0 if role == "a" else 1
        self.style = style
        self.params = params
        self.partner: PartnerAgent | None = None
        self._next: PartnerState | None = None

    @property
    def responsiveness(self) -> float:
        """Support for dependence this partner gives (safe haven)."""
        return self.params.responsiveness

    @property
    def goal_support(self) -> float:
        """Support for independence this partner gives (secure base)."""
        return self.params.goal_support

    @property
    def state(self) -> PartnerState:
        """Today's state as a PartnerState."""
        return PartnerState(*(getattr(self, name) for name in STATE_FIELDS))

    def _set_state(self, state: PartnerState) -> None:
        for name, value in zip(STATE_FIELDS, state, strict=True):
            setattr(self, name, float(value))

    def start(self) -> None:
        """Set the day-0 state from this partner's parameters and the partner's support."""
        self._set_state(initial_state(self.params, self.partner.responsiveness, self.partner.goal_support))

    def decide(self) -> None:
        """Work out today's state from yesterday's state of both partners (nothing changes yet)."""
        if not self.model.together[self.couple_id]:
            self._next = None
            return
        self._next = partner_day(self.state, self.partner.state, self.params,
                                 self.model.normals_today[self.couple_id, self.role_index],
                                 self.model.shock_today[self.couple_id, self.role_index]
                                 + self.model.conflict_today[self.couple_id, self.role_index])

    def apply(self) -> None:
        """Adopt the state worked out in :meth:`decide`."""
        if self._next is not None:
            self._set_state(self._next)
            self._next = None
