"""Recording an escalation: the level the clocks and the record call for now, written to the
timeline when it is above the one engaged so far (``IncidentStore.escalate`` records it once,
under the incident's row lock). Used by every command that opens or changes an incident, so a
P0/P1 shows L2 from its first entry, and a clock that passed a trigger is recorded by the next
command that looks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from irdrive.errors import UsageError

if TYPE_CHECKING:
    from irdrive.incidents.clock import Roster
    from irdrive.incidents.model import Incident, TimelineEntry
    from irdrive.incidents.store import IncidentStore

ESCALATION_ACTOR = "irdrive"


def roster_or_warn(strict: bool, warn: Callable[[str], None]) -> Roster | None:
    """The roster; a malformed one is an error when ``strict`` (``show``, ``list``), else a
    warning through ``warn``: a broken roster never blocks opening or changing an incident."""
    from irdrive.incidents.clock import load_roster

    try:
        return load_roster()
    except UsageError as exc:
        if strict:
            raise
        warn(f"Warning: {exc}; escalation recorded without the roster")
        return None


def record(
    store: IncidentStore, incident: Incident, now: datetime, roster: Roster | None
) -> tuple[Incident, list[TimelineEntry]]:
    """Record the level the incident needs now when it is above the one engaged so far."""
    from irdrive.incidents.clock import escalation

    esc = escalation(incident, now, roster)
    if not esc.raised:
        return incident, []
    incident, entry = store.escalate(
        incident.id,
        esc.level,
        why=esc.why,
        engage=esc.engage,
        actor=ESCALATION_ACTOR,
        reached_at=esc.reached_at,
        now=now,
    )
    return incident, [entry] if entry is not None else []
