"""Manual adjustments by staff (a second person approves large ones) and opening balances."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import Member

from .. import clock
from ..errors import InsufficientPoints, InvalidRequest, NotFound
from ..ledger import Posting, accounts_lock, durable, fingerprint, replay, spendable_lots
from ..models import Account, Adjustment, EntryKind, EntrySource, OperationKind, SystemAccount
from ..policy import DEFAULT_VALIDITY_DAYS, policy_get
from .common import expiry_date, member_status_recheck
from .outcome import Outcome


def _apply(
    *,
    account: Account,
    member: Member,
    points: int,
    reason: str,
    key: str,
    print_: str,
    kind: OperationKind,
    counter: SystemAccount,
    source: EntrySource,
    entry_kind: EntryKind,
    validity_days: int | None,
    internal_note: str = "",
    actor: Any = None,
    occurred_at: datetime | None = None,
) -> tuple[dict[str, Any], int]:
    """Credit a new lot or debit open lots (available first, then pending); never below zero."""
    member_status_recheck(member, account)
    today = clock.today()
    posting = Posting.open(kind=kind, key=key, fingerprint_=print_, actor=actor, occurred_at=occurred_at)
    lot = None
    if points > 0:
        earned_on: date = clock.local_date(occurred_at) if occurred_at else today
        lot = posting.lot_create(account, points, source=source, available_on=earned_on,
                                 expires_on=expiry_date(earned_on, validity_days))
    else:
        lots = list(spendable_lots(account, today)) + [
            lot for lot in spendable_lots(account, today, include_pending=True) if lot.available_on > today
        ]
        open_points = sum(lot.remaining for lot in lots) - account.debt
        if open_points < -points:
            raise InsufficientPoints(
                f"The member holds {max(open_points, 0)} points; {-points} cannot be taken.",
                available=open_points,
            )
        posting.lots_take(lots, -points)
    posting.move(account, points, kind=entry_kind, source=source, counter=counter, lot=lot,
                 description=reason, internal_note=internal_note, reference=key)
    result = posting.close({"member": member.external_id, "points": points,
                            "balance": posting.balance(account)})
    return result, posting.operation.pk


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
    print_ = fingerprint({"member": member.external_id, "points": points, "reason": reason})
    full_key = f"adjust:{key}"
    if (done := replay(full_key, print_)) is not None:
        return Outcome(done, created=False)
    account = accounts_lock([member.pk])[member.pk]
    if (done := replay(full_key, print_)) is not None:
        return Outcome(done, created=False)
    result, _operation_id = _apply(
        account=account, member=member, points=points, reason=reason, key=full_key, print_=print_,
        kind=OperationKind.ADJUST, counter=SystemAccount.ADJUSTED, source=EntrySource.MANUAL,
        entry_kind=EntryKind.ADJUST, validity_days=validity_days, internal_note=internal_note, actor=actor,
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
    key = f"import:{member.external_id}"
    print_ = fingerprint({"member": member.external_id, "points": points})
    if (done := replay(key, print_)) is not None:
        return Outcome(done, created=False)
    account = accounts_lock([member.pk])[member.pk]
    if (done := replay(key, print_)) is not None:
        return Outcome(done, created=False)
    reason = _("Opening balance carried over") + (f" ({source_label})" if source_label else "")
    result, _operation_id = _apply(
        account=account, member=member, points=points, reason=reason, key=key, print_=print_,
        kind=OperationKind.IMPORT, counter=SystemAccount.IMPORTED, source=EntrySource.IMPORT,
        entry_kind=EntryKind.EARN, validity_days=validity_days, actor=actor, occurred_at=occurred_at,
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
        _adjustment_apply(adjustment, decided_by=requested_by)
    return adjustment


def _adjustment_apply(adjustment: Adjustment, *, decided_by: Any, note: str = "") -> None:
    account = accounts_lock([adjustment.member_id])[adjustment.member_id]
    key = f"adjust:adjustment-{adjustment.pk}"
    print_ = fingerprint({"adjustment": adjustment.pk})
    _result, operation_id = _apply(
        account=account, member=adjustment.member, points=adjustment.points, reason=adjustment.reason,
        key=key, print_=print_, kind=OperationKind.ADJUST, counter=SystemAccount.ADJUSTED,
        source=EntrySource.MANUAL, entry_kind=EntryKind.ADJUST, validity_days=adjustment.validity_days,
        internal_note=adjustment.internal_note, actor=decided_by,
    )
    _decide(adjustment, Adjustment.Status.APPLIED, decided_by=decided_by, note=note, operation_id=operation_id)


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


def _pending(adjustment_id: int, decider: Any) -> Adjustment:
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
    adjustment = _pending(adjustment_id, approver)
    _adjustment_apply(adjustment, decided_by=approver, note=note)
    return adjustment


@durable
def adjustment_reject(*, adjustment_id: int, approver: Any, note: str = "") -> Adjustment:
    """A second person turns a request down; it stays on record, no point moves."""
    adjustment = _pending(adjustment_id, approver)
    _decide(adjustment, Adjustment.Status.REJECTED, decided_by=approver, note=note)
    return adjustment
