"""Spending points on an order, and putting them back when the redemption is cancelled."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _

from members.models import Member, Store

from .. import clock
from ..errors import (
    IdempotencyConflict,
    InsufficientPoints,
    InvalidRequest,
    NotFound,
    RedemptionRuleViolation,
)
from ..ledger import (
    Posting,
    accounts_lock,
    available_points,
    durable,
    fingerprint,
    replay,
    spendable_lots,
)
from ..models import (
    Account,
    EntryKind,
    EntrySource,
    Lot,
    OperationKind,
    Redemption,
    RedemptionLot,
    SystemAccount,
)
from ..policy import items_parse, policy_get, redemption_spec
from ..rules import redemption_refusal
from .common import member_holder_id, member_require_active, member_status_recheck
from .earning import _amount
from .outcome import Outcome


@durable
def points_redeem(
    *,
    member: Member,
    points: int,
    order_id: str,
    order_amount: Decimal | str,
    items: Sequence[dict[str, Any]] = (),
    idempotency_key: str | None = None,
    actor: Any = None,
    store: Store | None = None,
) -> Outcome:
    """Spend available points, soonest-to-expire lots first, recording which lots were used.

    Idempotent on the order id (and on the ``Idempotency-Key`` when the client sends one).
    ``store`` is the store the redeeming key acts for, kept so that only that store may cancel.
    """
    if not order_id:
        raise InvalidRequest("order_id is required.", errors={"order_id": ["This field is required."]})
    if isinstance(points, bool) or not isinstance(points, int) or points <= 0:
        raise InvalidRequest("points must be a positive integer.", errors={"points": ["Must be a positive integer."]})
    value = _amount(order_amount, "order_amount")
    parsed_items = items_parse(items)
    key = f"redeem:{order_id}"
    print_ = fingerprint({"member": member.external_id, "points": points, "order_id": order_id,
                          "order_amount": value, "items": [i.__dict__ for i in parsed_items]})
    if idempotency_key:
        earlier = Redemption.objects.filter(idempotency_key=idempotency_key).select_related("operation").first()
        if earlier is not None and earlier.operation.fingerprint != print_:
            raise IdempotencyConflict("This Idempotency-Key was already used with a different request.")
    if (done := replay(key, print_)) is not None:
        return Outcome(done, created=False)
    member_require_active(member)
    policy = policy_get()
    refusal = redemption_refusal(points, value, parsed_items, redemption_spec(policy))
    if refusal:
        raise RedemptionRuleViolation(refusal)

    today = clock.today()
    account = accounts_lock([member.pk])[member.pk]
    if (done := replay(key, print_)) is not None:
        return Outcome(done, created=False)
    member_status_recheck(member, account)
    available = available_points(account, today)
    if available < points:
        raise InsufficientPoints(
            f"Only {max(available, 0)} points are available; {points} were asked.", available=available
        )
    posting = Posting.open(kind=OperationKind.REDEEM, key=key, fingerprint_=print_, actor=actor)
    lots = list(spendable_lots(account, today))
    before = {lot.pk: lot.remaining for lot in lots}
    taken = posting.lots_take(lots, points)
    if taken != points:  # the lock makes this impossible; refuse rather than post a wrong entry
        raise InsufficientPoints(f"Only {taken} points could be taken.")
    posting.move(
        account, -points, kind=EntryKind.REDEEM, source=EntrySource.PURCHASE,
        counter=SystemAccount.REDEEMED, order_id=order_id, reference=order_id,
        description=_("Points used on order %(order)s") % {"order": order_id},
    )
    redemption = Redemption.objects.create(
        member=member, order_id=order_id, points=points, order_amount=value,
        items=[{"sku": i.sku, "category": i.category, "amount": str(i.amount), "quantity": i.quantity}
               for i in parsed_items],
        idempotency_key=idempotency_key or None, operation=posting.operation, store=store,
    )
    RedemptionLot.objects.bulk_create(
        RedemptionLot(redemption=redemption, lot=lot, points=before[lot.pk] - lot.remaining)
        for lot in lots
        if before[lot.pk] != lot.remaining
    )
    result = {"id": redemption.pk, "points": points, "order_id": order_id,
              "balance": posting.balance(account)}
    return Outcome(posting.close(result), created=True)


def restore_to_lots(posting: Posting, redemption: Redemption, points: int, account: Account) -> int:
    """Put up to ``points`` back into the lots the redemption used, latest-expiring first.

    Returns how many were restored; each allocation remembers what it got back, so a later
    cancellation restores exactly the rest. When the member was merged meanwhile, the points
    go to ``account`` (the member it was merged into) in a new lot with the old lot's dates.
    """
    allocations = list(redemption.lots.select_related("lot").order_by("-id"))
    pairs: list[tuple[Lot, int]] = []
    wanted = points
    changed = []
    for allocation in allocations:
        if wanted <= 0:
            break
        give = min(allocation.points - allocation.restored, wanted)
        if give <= 0:
            continue
        allocation.restored += give
        wanted -= give
        pairs.append((allocation.lot, give))
        changed.append(allocation)
    RedemptionLot.objects.bulk_update(changed, ["restored"])
    in_place = [(lot, give) for lot, give in pairs if lot.account_id == account.pk]
    moved = 0
    for lot, give in pairs:
        if lot.account_id != account.pk:
            posting.lot_create(account, give, source=EntrySource(lot.source), available_on=lot.available_on,
                               expires_on=lot.expires_on, moved_from=lot)
            moved += give
    return posting.lots_restore(in_place) + moved


@durable
def redemption_cancel(*, redemption_id: int, actor: Any = None) -> Outcome:
    """Cancel a redemption: the points go back into exactly the lots they came from.

    A lot that expired in the meantime gets its points back too, and the next expiry run
    expires them: cancelling never extends a validity.
    """
    redemption = Redemption.objects.filter(pk=redemption_id).select_related("member").first()
    if redemption is None:
        raise NotFound(f"No redemption {redemption_id}.")
    key = f"cancel:{redemption.pk}"
    print_ = fingerprint({"redemption": redemption.pk})
    if (done := replay(key, print_)) is not None:
        return Outcome(done, created=False)
    holder_id = member_holder_id(redemption.member_id)
    account = accounts_lock([holder_id])[holder_id]
    if (done := replay(key, print_)) is not None:
        return Outcome(done, created=False)
    redemption.refresh_from_db()
    posting = Posting.open(kind=OperationKind.CANCEL_REDEEM, key=key, fingerprint_=print_, actor=actor)
    restored = restore_to_lots(posting, redemption, redemption.points - redemption.points_restored, account)
    posting.move(
        account, restored, kind=EntryKind.CANCEL_REDEEM, source=EntrySource.PURCHASE,
        counter=SystemAccount.REDEEMED, order_id=redemption.order_id, reference=str(redemption.pk),
        description=_("Redemption on order %(order)s cancelled") % {"order": redemption.order_id},
    )
    Redemption.objects.filter(pk=redemption.pk).update(
        status=Redemption.Status.CANCELLED, cancel_operation=posting.operation,
        points_restored=redemption.points_restored + restored,
    )
    result = {"id": redemption.pk, "points_restored": restored, "balance": posting.balance(account)}
    return Outcome(posting.close(result), created=True)


__all__ = ["points_redeem", "redemption_cancel", "restore_to_lots"]
