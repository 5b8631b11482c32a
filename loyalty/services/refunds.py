"""Refunds: earned points reversed and redeemed points restored, both in proportion."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import OuterRef, Subquery
from django.utils.translation import gettext as _

from members.selectors import member_holder_id

from .. import clock
from ..boosts import BoostReturn, boosts_return
from ..errors import InvalidRequest, NotFound
from ..ledger import Posting, Replayed, durable, holding_lots, lot_heirs, operation_begin
from ..models import (
    Account,
    EntryKind,
    EntrySource,
    Lot,
    NegativeBalancePolicy,
    OperationKind,
    Purchase,
    Redemption,
    Refund,
    SystemAccount,
)
from ..policy import amount_parse
from ..rules import proportional_share
from ..spendable import LotState, lot_state
from .earning import purchase_key
from .outcome import Outcome
from .redemption import redemption_allocations, restore_to_lots


def order_lots(posting: Posting, purchase: Purchase, account: Account, today: date) -> list[Lot]:
    """The lots that still hold the order's own points, on the holder's account.

    An expired lot is left out, whether or not the nightly task has written its expiry: those
    points are already lost to the member, and the refund must come out the same either way.
    """
    if purchase.lot is None:
        return []
    lot = posting.lot_now(purchase.lot)
    if lot.account_id == account.pk:
        lots = [lot]
    else:
        posting.flush()  # lots a restore just made on the holder's account (merged members' points)
        lots = lot_heirs(lot, account)
    return [lot for lot in lots if lot.remaining > 0 and lot_state(lot.available_on, lot.expires_on, today)
            is not LotState.GONE]


@durable
def purchase_refund(*, order_id: str, refund_id: str, amount: Decimal | str, actor: Any = None) -> Outcome:
    """Reverse the points recorded at purchase in proportion to the refunded amount.

    The reversal takes the order's own lot first, then the member's other open lots
    (soonest expiry first); what the member already spent is the policy's: a debt the
    next earnings repay, or a write-off. Points redeemed on the order come back in the
    same proportion, into the lots they came from. The campaigns that added points to the
    order get their share back (:func:`loyalty.boosts.boosts_return`): into their budgets, in
    this transaction.
    """
    if not refund_id:
        raise InvalidRequest("refund_id is required.", errors={"refund_id": ["This field is required."]})
    value = amount_parse(amount, "amount")
    # order_id is unique: no ORDER BY (the model's default ordering would sort for nothing)
    found = Purchase.objects.filter(order_id=order_id).values_list("member_id", "member__merged_into_id").order_by()[:1]
    if not found:
        raise NotFound(f"No purchase with order id {order_id[:100]!r}.")
    member_id, merged_into_id = found[0]
    holder_id = member_id if merged_into_id is None else member_holder_id(member_id)  # merges move points along
    key = f"refund:{refund_id}"
    door = operation_begin(kind=OperationKind.REFUND, key=key, actor=actor, lock=[holder_id],
                           request={"order_id": order_id, "refund_id": refund_id, "amount": value})
    if isinstance(door, Replayed):
        return Outcome(door.result, created=False)
    account, posting, today = door.account(holder_id), door.posting, door.today
    # The purchase as it is under the lock, with its lot and the redemption on its order, if any.
    purchase = Purchase.objects.select_related("lot").annotate(redemption_id=Subquery(
        Redemption.objects.filter(member_id=OuterRef("member_id"), order_id=OuterRef("order_id"),
                                  status=Redemption.Status.ACTIVE).values("pk")[:1],
    )).get(order_id=order_id)
    before = purchase.refunded_amount
    after = before + value
    if after > purchase.amount:
        left = purchase.amount - before
        raise InvalidRequest(
            f"Refund exceeds what remains of the order ({left.normalize():f}).",
            errors={"amount": [f"At most {left.normalize():f} remains to refund."]},
        )

    restored = 0
    if purchase.redemption_id is not None:
        redemption = Redemption.objects.get(pk=purchase.redemption_id)
        share = proportional_share(redemption.points, before, after, purchase.amount)
        restored = restore_to_lots(posting, redemption, redemption_allocations(redemption.pk),
                                   min(share, redemption.points - redemption.points_restored), account)
        if restored:
            posting.change(Redemption, redemption.pk, points_restored=redemption.points_restored + restored)
            posting.move(
                account, restored, kind=EntryKind.CANCEL_REDEEM, source=EntrySource.PURCHASE,
                counter=SystemAccount.REDEEMED, order_id=order_id, reference=refund_id,
                description=_("Points used on order %(order)s returned by a refund") % {"order": order_id},
            )

    to_reverse = min(proportional_share(purchase.points, before, after, purchase.amount),
                     purchase.points - purchase.points_reversed)
    taken = 0
    written_off = 0
    if to_reverse > 0:
        taken = posting.lots_take(order_lots(posting, purchase, account, today), to_reverse)
        if taken < to_reverse:
            others = posting.lots_read(holding_lots(account, today))
            taken += posting.lots_take(others, to_reverse - taken)
        shortfall = to_reverse - taken
        if shortfall and door.programme.policy.negative_balance_policy == NegativeBalancePolicy.DEBT:
            posting.debt_add(account, shortfall)
        else:
            written_off = shortfall
        posting.move(
            account, -(to_reverse - written_off), kind=EntryKind.REVERSE, source=EntrySource.PURCHASE,
            counter=SystemAccount.ISSUED, order_id=order_id, reference=refund_id,
            description=_("Points for order %(order)s reversed by a refund") % {"order": order_id},
            internal_note=(f"{written_off} P written off: already spent" if written_off else ""),
        )
    if any(line.get("source") == "campaign" for line in purchase.breakdown):
        # The campaigns' share goes back to their budgets and out of their points issued.
        boosts_return(BoostReturn(
            member_id=purchase.member_id, operation_key=purchase_key(order_id), return_key=key,
            occurred_at=clock.now(), before=before, after=after, whole=purchase.amount,
            reversing=to_reverse, reversed=to_reverse - written_off,
        ))
    posting.change(Purchase, purchase.pk, refunded_amount=after, points_reversed=purchase.points_reversed + to_reverse)
    posting.add(Refund(
        refund_id=refund_id, purchase=purchase, amount=value, points_reversed=to_reverse - written_off,
        points_restored=restored, points_written_off=written_off,
    ))
    result = {"refund_id": refund_id, "order_id": order_id, "points_reversed": to_reverse - written_off,
              "points_restored": restored, "balance": posting.balance(account)}
    return Outcome(posting.close(result), created=True)
