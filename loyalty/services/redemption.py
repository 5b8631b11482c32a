"""Spending points on an order, and putting them back when the redemption is cancelled."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _

from members.models import Member, Store
from members.selectors import member_holder_id

from ..errors import (
    IdempotencyConflict,
    InsufficientPoints,
    InvalidRequest,
    NotFound,
    RedemptionRuleViolation,
)
from ..ledger import Posting, Replayed, durable, operation_begin, spendable_lots
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
from ..policy import amount_parse, items_parse, redemption_spec
from ..rules import redemption_refusal
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
    value = amount_parse(order_amount, "order_amount")
    parsed_items = items_parse(items)
    request = {"member": member.external_id, "points": points, "order_id": order_id,
               "order_amount": value, "items": [i.__dict__ for i in parsed_items]}
    door = operation_begin(kind=OperationKind.REDEEM, key=f"redeem:{order_id}", request=request, lock=[member.pk],
                           new_ids=[Redemption], actor=actor)
    if isinstance(door, Replayed):
        return Outcome(door.result, created=False)
    posting = door.posting
    if idempotency_key:
        earlier = Redemption.objects.filter(idempotency_key=idempotency_key).select_related("operation").first()
        if earlier is not None and earlier.operation.fingerprint != posting.pending_operation.fingerprint:
            raise IdempotencyConflict("This Idempotency-Key was already used with a different request.")
    door.member_active(member)
    refusal = redemption_refusal(points, value, parsed_items, redemption_spec(door.programme.policy))
    if refusal:
        raise RedemptionRuleViolation(refusal)

    account = door.account(member.pk)
    available = posting.balance(account)["available"]
    if available < points:
        raise InsufficientPoints(
            f"Only {max(available, 0)} points are available; {points} were asked.", available=available
        )
    lots = posting.lots_read(spendable_lots(account, door.today))
    before = {lot.pk: lot.remaining for lot in lots}
    taken = posting.lots_take(lots, points)
    if taken != points:  # the lock makes this impossible; refuse rather than post a wrong entry
        raise InsufficientPoints(f"Only {taken} points could be taken.")
    posting.move(
        account, -points, kind=EntryKind.REDEEM, source=EntrySource.PURCHASE,
        counter=SystemAccount.REDEEMED, order_id=order_id, reference=order_id,
        description=_("Points used on order %(order)s") % {"order": order_id},
    )
    redemption = posting.add(Redemption(
        pk=door.new_ids.get(Redemption), member=member, order_id=order_id, points=points, order_amount=value,
        items=[{"sku": i.sku, "category": i.category, "amount": str(i.amount), "quantity": i.quantity}
               for i in parsed_items],
        idempotency_key=idempotency_key or None, store=store,
    ))
    for lot in lots:
        if before[lot.pk] != lot.remaining:
            posting.insert(RedemptionLot(redemption=redemption, lot=lot, points=before[lot.pk] - lot.remaining))
    if redemption.pk is None:  # no id taken with the lock (SQLite): the result names the one written
        posting.flush()
    result = {"id": redemption.pk, "points": points, "order_id": order_id, "balance": posting.balance(account)}
    return Outcome(posting.close(result), created=True)


def restore_to_lots(posting: Posting, redemption: Redemption, allocations: list[RedemptionLot], points: int,
                    account: Account) -> int:
    """Put up to ``points`` back into the lots the redemption used, latest-expiring first.

    ``allocations`` are the redemption's, read under the lock with their lots. Returns how many
    were restored; each allocation remembers what it got back, so a later cancellation restores
    exactly the rest. When the member was merged meanwhile, the points go to ``account`` (the
    member it was merged into) in a new lot with the old lot's dates.
    """
    pairs: list[tuple[Lot, int]] = []
    wanted = points
    for allocation in sorted(allocations, key=lambda allocation: -allocation.pk):
        if wanted <= 0:
            break
        give = min(allocation.points - allocation.restored, wanted)
        if give <= 0:
            continue
        allocation.restored += give
        wanted -= give
        pairs.append((allocation.lot, give))
        posting.change(RedemptionLot, allocation.pk, restored=allocation.restored)
    moved = 0
    for lot, give in pairs:
        if lot.account_id != account.pk:
            posting.lot_create(account, give, source=EntrySource(lot.source), available_on=lot.available_on,
                               expires_on=lot.expires_on, moved_from=lot)
            moved += give
    return posting.lots_restore([(lot, give) for lot, give in pairs if lot.account_id == account.pk]) + moved


def redemption_allocations(redemption_id: int) -> list[RedemptionLot]:
    """What the redemption took from which lot, with the lots and the redemption as they are now."""
    return list(RedemptionLot.objects.filter(redemption_id=redemption_id).select_related("lot", "redemption")
                .order_by())  # in no order: restoring sorts them itself


@durable
def redemption_cancel(*, redemption_id: int, actor: Any = None) -> Outcome:
    """Cancel a redemption: the points go back into exactly the lots they came from.

    A lot that expired in the meantime gets its points back too, and the next expiry run
    expires them: cancelling never extends a validity.
    """
    found = Redemption.objects.filter(pk=redemption_id).values_list("member_id", "member__merged_into_id")[:1]
    if not found:
        raise NotFound(f"No redemption {redemption_id}.")
    member_id, merged_into_id = found[0]
    holder_id = member_id if merged_into_id is None else member_holder_id(member_id)
    door = operation_begin(kind=OperationKind.CANCEL_REDEEM, key=f"cancel:{redemption_id}",
                           request={"redemption": redemption_id}, lock=[holder_id], actor=actor)
    if isinstance(door, Replayed):
        return Outcome(door.result, created=False)
    account, posting = door.account(holder_id), door.posting
    allocations = redemption_allocations(redemption_id)
    redemption = allocations[0].redemption
    restored = restore_to_lots(posting, redemption, allocations, redemption.points - redemption.points_restored,
                               account)
    posting.move(
        account, restored, kind=EntryKind.CANCEL_REDEEM, source=EntrySource.PURCHASE,
        counter=SystemAccount.REDEEMED, order_id=redemption.order_id, reference=str(redemption.pk),
        description=_("Redemption on order %(order)s cancelled") % {"order": redemption.order_id},
    )
    posting.change(Redemption, redemption.pk, status=Redemption.Status.CANCELLED,
                   cancel_operation=posting.pending_operation, points_restored=redemption.points_restored + restored)
    result = {"id": redemption.pk, "points_restored": restored, "balance": posting.balance(account)}
    return Outcome(posting.close(result), created=True)


__all__ = ["points_redeem", "redemption_cancel", "restore_to_lots"]
