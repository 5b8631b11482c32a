"""Refunds: earned points reversed and redeemed points restored, both in proportion."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _

from .. import clock
from ..errors import InvalidRequest, NotFound
from ..ledger import Posting, accounts_lock, durable, fingerprint, lot_heirs, replay, spendable_lots
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
from ..policy import policy_get
from ..rules import floor_points
from .common import member_holder_id
from .earning import _amount
from .outcome import Outcome
from .redemption import restore_to_lots


def proportional_share(total: int, before: Decimal, after: Decimal, whole: Decimal) -> int:
    """The points of ``total`` that belong to the refunded slice ``before → after`` of ``whole``.

    Cumulative rounding (floor of the running share, less the floor before) makes a series
    of partial refunds add up to exactly ``total`` once the whole order is refunded.
    """
    if after >= whole:
        return total - floor_points(total * before / whole)
    return floor_points(total * after / whole) - floor_points(total * before / whole)


def order_lots(purchase: Purchase, account: Account, today: date) -> list[Lot]:
    """The open, unexpired lots that still hold the order's own points, on the holder's account.

    An expired lot is left out, whether or not the nightly task has written its expiry: those
    points are already lost to the member, and the refund must come out the same either way.
    """
    if purchase.lot_id is None:
        return []
    lot = Lot.objects.get(pk=purchase.lot_id)
    lots = [lot] if lot.account_id == account.pk else lot_heirs(lot, account)
    return [lot for lot in lots if lot.remaining > 0 and (lot.expires_on is None or lot.expires_on > today)]


@durable
def purchase_refund(*, order_id: str, refund_id: str, amount: Decimal | str, actor: Any = None) -> Outcome:
    """Reverse the points recorded at purchase in proportion to the refunded amount.

    The reversal takes the order's own lot first, then the member's other open lots
    (soonest expiry first); what the member already spent is the policy's: a debt the
    next earnings repay, or a write-off. Points redeemed on the order come back in the
    same proportion, into the lots they came from.
    """
    if not refund_id:
        raise InvalidRequest("refund_id is required.", errors={"refund_id": ["This field is required."]})
    value = _amount(amount, "amount")
    purchase = Purchase.objects.filter(order_id=order_id).first()
    if purchase is None:
        raise NotFound(f"No purchase with order id {order_id}.")
    key = f"refund:{refund_id}"
    print_ = fingerprint({"order_id": order_id, "refund_id": refund_id, "amount": value})
    if (done := replay(key, print_)) is not None:
        return Outcome(done, created=False)
    today = clock.today()
    holder_id = member_holder_id(purchase.member_id)  # a merge moved the order's points along
    account = accounts_lock([holder_id])[holder_id]
    if (done := replay(key, print_)) is not None:
        return Outcome(done, created=False)
    purchase.refresh_from_db()
    before = purchase.refunded_amount
    after = before + value
    if after > purchase.amount:
        left = purchase.amount - before
        raise InvalidRequest(
            f"Refund exceeds what remains of the order ({left.normalize():f}).",
            errors={"amount": [f"At most {left.normalize():f} remains to refund."]},
        )
    posting = Posting.open(kind=OperationKind.REFUND, key=key, fingerprint_=print_, actor=actor)

    restored = 0
    redemption = (
        Redemption.objects.filter(member_id=purchase.member_id, order_id=order_id,
                                  status=Redemption.Status.ACTIVE).first()
    )
    if redemption is not None:
        share = proportional_share(redemption.points, before, after, purchase.amount)
        restored = restore_to_lots(
            posting, redemption, min(share, redemption.points - redemption.points_restored), account
        )
        if restored:
            Redemption.objects.filter(pk=redemption.pk).update(
                points_restored=redemption.points_restored + restored
            )
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
        posting.flush()  # lots the restore just made (merged members' points) must be there to take
        taken = posting.lots_take(order_lots(purchase, account, today), to_reverse)
        if taken < to_reverse:
            others = list(spendable_lots(account, today, include_pending=True))
            taken += posting.lots_take(others, to_reverse - taken)
        shortfall = to_reverse - taken
        if shortfall and policy_get().negative_balance_policy == NegativeBalancePolicy.DEBT:
            posting.debt_add(account, shortfall)
        else:
            written_off = shortfall
        posting.move(
            account, -(to_reverse - written_off), kind=EntryKind.REVERSE, source=EntrySource.PURCHASE,
            counter=SystemAccount.ISSUED, order_id=order_id, reference=refund_id,
            description=_("Points for order %(order)s reversed by a refund") % {"order": order_id},
            internal_note=(f"{written_off} P written off: already spent" if written_off else ""),
        )
    Purchase.objects.filter(pk=purchase.pk).update(
        refunded_amount=after, points_reversed=purchase.points_reversed + to_reverse
    )
    refund = Refund.objects.create(
        refund_id=refund_id, purchase=purchase, amount=value, points_reversed=to_reverse - written_off,
        points_restored=restored, points_written_off=written_off, operation=posting.operation,
    )
    result = {"refund_id": refund.refund_id, "order_id": order_id,
              "points_reversed": refund.points_reversed, "points_restored": restored,
              "balance": posting.balance(account)}
    return Outcome(posting.close(result), created=True)
