"""Manual adjustments by staff (a second person approves large ones) and opening balances."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import Member

from .. import clock
from ..errors import InsufficientPoints, InvalidRequest, NotFound
from ..ledger import Locked, Replayed, durable, holding_lots, operation_begin
from ..models import Adjustment, EntryKind, EntrySource, OperationKind, SystemAccount
from ..policy import DEFAULT_VALIDITY_DAYS, policy_get
from ..rules import expiry_date
from .outcome import Outcome


def adjustment_post(
    door: Locked,
    *,
    member: Member,
    points: int,
    reason: str,
    counter: SystemAccount,
    source: EntrySource,
    entry_kind: EntryKind,
    validity_days: int | None,
    internal_note: str = "",
    occurred_at: datetime | None = None,
) -> dict[str, Any]:
    """Credit a new lot or debit open lots (available first, then pending); never below zero."""
    door.member_active(member)
    account, posting, today = door.account(member.pk), door.posting, door.today
    lot = None
    if points > 0:
        earned_on: date = clock.local_date(occurred_at) if occurred_at else today
        lot = posting.lot_create(account, points, source=source, available_on=earned_on,
                                 expires_on=expiry_date(earned_on, validity_days))
    else:
        held = posting.balance(account)
        open_points = held["available"] + held["pending"]
        if open_points < -points:
            raise InsufficientPoints(
                f"The member holds {max(open_points, 0)} points; {-points} cannot be taken.",
                available=open_points,
            )
        lots = sorted(posting.lots_read(holding_lots(account, today)), key=lambda lot: lot.available_on > today)
        posting.lots_take(lots, -points)
    posting.move(account, points, kind=entry_kind, source=source, counter=counter, lot=lot,
                 description=reason, internal_note=internal_note, reference=posting.pending_operation.key)
    return posting.close({"member": member.external_id, "points": points, "balance": posting.balance(account)})


def _check_points(points: int) -> None:
    if isinstance(points, bool) or not isinstance(points, int) or points == 0:
        raise InvalidRequest("points must be a non-zero integer.", errors={"points": ["Enter a non-zero integer."]})


@durable
def points_adjust(
    *,
    member: Member,
    points: int,
    reason: str,
    key: str,
    actor: Any = None,
    internal_note: str = "",
    validity_days: int | None = DEFAULT_VALIDITY_DAYS,
) -> Outcome:
    """Add (a new lot) or remove (from open lots) points by hand, idempotent on ``key``."""
    _check_points(points)
    if not reason.strip():
        raise InvalidRequest("A reason is required.", errors={"reason": ["This field is required."]})
    door = operation_begin(kind=OperationKind.ADJUST, key=f"adjust:{key}", lock=[member.pk], actor=actor,
                           request={"member": member.external_id, "points": points, "reason": reason})
    if isinstance(door, Replayed):
        return Outcome(door.result, created=False)
    result = adjustment_post(
        door, member=member, points=points, reason=reason, counter=SystemAccount.ADJUSTED, source=EntrySource.MANUAL,
        entry_kind=EntryKind.ADJUST, validity_days=validity_days, internal_note=internal_note,
    )
    return Outcome(result, created=True)


@durable
def points_import_opening(
    *,
    member: Member,
    points: int,
    source_label: str = "",
    occurred_at: datetime | None = None,
    validity_days: int | None = DEFAULT_VALIDITY_DAYS,
    actor: Any = None,
) -> Outcome:
    """The balance a member had in the old system, as an entry against the import account.

    Idempotent per member: importing the same file twice does not double anyone's points.
    """
    if isinstance(points, bool) or not isinstance(points, int) or points <= 0:
        raise InvalidRequest("Opening points must be a positive integer.",
                             errors={"opening_points": ["Must be a positive integer."]})
    door = operation_begin(kind=OperationKind.IMPORT, key=f"import:{member.external_id}", lock=[member.pk],
                           request={"member": member.external_id, "points": points}, actor=actor,
                           occurred_at=occurred_at)
    if isinstance(door, Replayed):
        return Outcome(door.result, created=False)
    reason = _("Opening balance carried over") + (f" ({source_label})" if source_label else "")
    result = adjustment_post(
        door, member=member, points=points, reason=reason, counter=SystemAccount.IMPORTED, source=EntrySource.IMPORT,
        entry_kind=EntryKind.EARN, validity_days=validity_days, occurred_at=occurred_at,
    )
    return Outcome(result, created=True)


APPROVE_PERMISSION = "loyalty.approve_adjustment"


def _check_reason_code(reason_code: str) -> None:
    if reason_code not in Adjustment.ReasonCode.values:
        raise InvalidRequest(_("Choose a reason code from the list."),
                             errors={"reason_code": [_("Choose a reason code from the list.")]})


@durable
def adjustment_request(
    *, member: Member, points: int, reason: str, requested_by: Any, internal_note: str = "",
    validity_days: int | None = DEFAULT_VALIDITY_DAYS, reason_code: str = Adjustment.ReasonCode.OTHER,
) -> Adjustment:
    """Record a staff adjustment; apply it at once when below the approval threshold.

    From ``ProgramPolicy.adjustment_approval_threshold`` points up (either sign) it waits for
    a second person. Applied at once, it moves points under the account lock like any other
    adjustment, and a debit larger than what the member holds fails with nothing recorded.
    """
    _check_points(points)
    _check_reason_code(reason_code)
    if not reason.strip():
        raise InvalidRequest("A reason is required.", errors={"reason": ["This field is required."]})
    adjustment = Adjustment.objects.create(
        member=member, points=points, reason=reason.strip(), internal_note=internal_note, reason_code=reason_code,
        validity_days=validity_days, requested_by=requested_by,
    )
    if abs(points) < policy_get().adjustment_approval_threshold:
        adjustment_apply(adjustment, decided_by=requested_by)
    return adjustment


def adjustment_apply(adjustment: Adjustment, *, decided_by: Any, note: str = "") -> None:
    """Post a recorded adjustment (inside the caller's durable transaction) and mark it applied."""
    door = operation_begin(kind=OperationKind.ADJUST, key=f"adjust:adjustment-{adjustment.pk}",
                           request={"adjustment": adjustment.pk}, lock=[adjustment.member_id], actor=decided_by)
    if isinstance(door, Replayed):  # a new adjustment's key cannot have been used: refuse rather than guess
        raise InvalidRequest(_("This adjustment was already applied."))
    adjustment_post(
        door, member=adjustment.member, points=adjustment.points, reason=adjustment.reason,
        counter=SystemAccount.ADJUSTED, source=EntrySource.MANUAL, entry_kind=EntryKind.ADJUST,
        validity_days=adjustment.validity_days, internal_note=adjustment.internal_note,
    )
    _decide(adjustment, Adjustment.Status.APPLIED, decided_by=decided_by, note=note,
            operation_id=door.posting.operation.pk)


def _decide(adjustment: Adjustment, status: str, *, decided_by: Any, note: str,
            operation_id: int | None = None) -> None:
    """Saved (not a queryset update) so the audit trail records the decision field by field."""
    adjustment.status = status
    adjustment.decided_by = decided_by if getattr(decided_by, "pk", None) else None
    adjustment.decided_at = timezone.now()
    adjustment.decision_note = note.strip()[:200]
    fields = ["status", "decided_by", "decided_at", "decision_note"]
    if operation_id is not None:
        adjustment.operation_id = operation_id
        fields.append("operation")
    adjustment.save(update_fields=fields)


def adjustment_pending(adjustment_id: int, decider: Any) -> Adjustment:
    """The request to decide, locked; refused when decided already, by its requester, or
    by someone without the approve permission."""
    adjustment = (
        Adjustment.objects.select_for_update().select_related("member").filter(pk=adjustment_id).first()
    )
    if adjustment is None:
        raise NotFound(f"No adjustment {adjustment_id}.")
    if adjustment.status != Adjustment.Status.PENDING:
        raise InvalidRequest(_("This adjustment was already decided."))
    if adjustment.requested_by_id is not None and adjustment.requested_by_id == getattr(decider, "pk", None):
        raise InvalidRequest(_("An adjustment must be decided by someone other than its requester."))
    if decider is None or not decider.has_perm(APPROVE_PERMISSION):
        raise InvalidRequest(_("Only staff with the approve permission may decide an adjustment."))
    return adjustment


@durable
def adjustment_approve(*, adjustment_id: int, approver: Any, note: str = "") -> Adjustment:
    """A second person approves a large adjustment; the requester cannot approve their own.

    A debit the member can no longer cover fails with ``InsufficientPoints`` and the request
    stays pending (to be rejected, or approved once the points are there).
    """
    adjustment = adjustment_pending(adjustment_id, approver)
    adjustment_apply(adjustment, decided_by=approver, note=note)
    return adjustment


@durable
def adjustment_reject(*, adjustment_id: int, approver: Any, note: str = "") -> Adjustment:
    """A second person turns a request down; it stays on record, no point moves."""
    adjustment = adjustment_pending(adjustment_id, approver)
    _decide(adjustment, Adjustment.Status.REJECTED, decided_by=approver, note=note)
    return adjustment
