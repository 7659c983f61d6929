"""Two-operator confirmation of watchlist alerts: pure rules.

Applied inside the store's transaction, so two operators deciding at once cannot both slip
past a check.
"""

from __future__ import annotations

from dataclasses import replace

from fleet.errors import InvalidRequestError, VersionConflictError
from fleet.watchlists.records import (
    CANDIDATE,
    CONFIRM,
    CONFIRMED,
    REJECT,
    REJECTED,
    AlertRecord,
    DecisionRecord,
)

#: Confirmations by different operators that turn a candidate into a confirmed alert.
CONFIRMATIONS_NEEDED = 2


def decide(alert: AlertRecord, decision: DecisionRecord) -> AlertRecord:
    """The alert after `decision`, or an error saying why the decision is refused.

    A candidate is confirmed by `CONFIRMATIONS_NEEDED` different operators (told apart by
    token id, since names are free text) and rejected by any one operator. A decided alert
    takes no further decisions, and one operator cannot decide the same alert twice.
    """
    if decision.kind not in (CONFIRM, REJECT):
        raise InvalidRequestError(f"decision must be confirm or reject, not {decision.kind!r}")
    if alert.state != CANDIDATE:
        raise VersionConflictError(f"alert {alert.alert_id} is already {alert.state}")
    if any(d.actor_token_id == decision.actor_token_id for d in alert.decisions):
        raise VersionConflictError(
            f"alert {alert.alert_id}: {decision.actor!r} has already decided it; "
            "a second operator must confirm"
        )
    decisions = (*alert.decisions, decision)
    confirms = sum(d.kind == CONFIRM for d in decisions)
    if decision.kind == REJECT:
        state = REJECTED
    elif confirms >= CONFIRMATIONS_NEEDED:
        state = CONFIRMED
    else:
        state = CANDIDATE
    return replace(alert, state=state, decisions=decisions)


def confirmations_needed(alert: AlertRecord) -> int:
    """How many more confirmations the alert needs (0 once decided)."""
    if alert.state != CANDIDATE:
        return 0
    return CONFIRMATIONS_NEEDED - sum(d.kind == CONFIRM for d in alert.decisions)
