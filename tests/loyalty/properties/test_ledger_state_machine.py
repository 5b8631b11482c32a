"""Random sequences of everything that moves points, against a model of the lots.

The model is written from DESIGN.md, not from the code: lots spent soonest-expiry first,
pending and expired lots never spendable, refunds reversed in proportion (own lot first,
then the open lots, the rest a debt the next earnings repay), cancellations back into the
very lots, expiry of what remains. After every step the account must match the model and
every ledger invariant must hold.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from loyalty.errors import InsufficientPoints, InvalidRequest
from loyalty.invariants import violations
from loyalty.models import Account, Lot
from loyalty.selectors import balance_summary
from loyalty.services import (
    account_expire_due,
    activity_record,
    points_adjust,
    points_import_opening,
    points_redeem,
    purchase_record,
    purchase_refund,
    redemption_cancel,
)
from tests.conftest import FrozenClock, new_member, unique

START = date(2025, 1, 1)
VALIDITY = 365
PENDING_DAYS = 7


@dataclass
class ModelLot:
    index: int
    remaining: int
    available_on: date
    expires_on: date | None

    def order_key(self) -> tuple:
        return (self.expires_on is None, self.expires_on or date.min, self.available_on, self.index)

    def unexpired(self, today: date) -> bool:
        return self.expires_on is None or self.expires_on > today


@dataclass
class ModelPurchase:
    order_id: str
    amount: int
    points: int
    lot: ModelLot | None
    refunded: int = 0
    reversed: int = 0
    redemption: ModelRedemption | None = None


@dataclass
class ModelRedemption:
    id: int
    order_id: str
    points: int
    allocations: list[list] = field(default_factory=list)  # [lot, taken, restored]
    restored: int = 0
    cancelled: bool = False


def floor_share(total: int, part: int, whole: int) -> int:
    return total * part // whole


class LedgerMachine(RuleBasedStateMachine):
    clock: FrozenClock  # set by the test

    def __init__(self) -> None:
        super().__init__()
        self.clock.set(START)
        self.member = new_member()
        self.account_id = Account.objects.get(member=self.member).pk
        self.lots: list[ModelLot] = []
        self.balance = 0
        self.debt = 0
        self.purchases: list[ModelPurchase] = []
        self.redemptions: list[ModelRedemption] = []
        self.visited_on: set[date] = set()
        self.answered = None  # the last service outcome, whose balance is checked after the step

    # The model -----------------------------------------------------------------------

    @property
    def today(self) -> date:
        return self.clock.today

    def spendable(self, *, include_pending: bool = False) -> list[ModelLot]:
        return sorted(
            (lot for lot in self.lots
             if lot.remaining > 0 and lot.unexpired(self.today)
             and (include_pending or lot.available_on <= self.today)),
            key=ModelLot.order_key,
        )

    def available(self) -> int:
        return sum(lot.remaining for lot in self.spendable()) - self.debt

    def new_lot(self, points: int, available_on: date, expires_on: date | None) -> ModelLot:
        repaid = min(self.debt, points) if available_on <= self.today else 0
        self.debt -= repaid
        lot = ModelLot(len(self.lots), points - repaid, available_on, expires_on)
        self.lots.append(lot)
        self.balance += points
        return lot

    @staticmethod
    def take(lots: list[ModelLot], points: int) -> list[tuple[ModelLot, int]]:
        taken = []
        for lot in lots:
            if points == 0:
                break
            amount = min(lot.remaining, points)
            if amount > 0:
                lot.remaining -= amount
                points -= amount
                taken.append((lot, amount))
        return taken

    @staticmethod
    def restore(redemption: ModelRedemption, points: int) -> int:
        restored = 0
        for allocation in reversed(redemption.allocations):
            lot, taken, back = allocation
            give = min(taken - back, points - restored)
            if give > 0:
                allocation[2] += give
                lot.remaining += give
                restored += give
        redemption.restored += restored
        return restored

    # Rules ---------------------------------------------------------------------------

    @initialize(opening=st.integers(0, 30000))
    def start(self, opening: int) -> None:
        """Some members arrive with a balance carried over from the old system."""
        if opening:
            points_import_opening(member=self.member, points=opening, validity_days=VALIDITY)
            self.new_lot(opening, self.today, self.today + timedelta(days=VALIDITY))

    @rule(amount=st.integers(1, 300000), days_ago=st.sampled_from([0, 0, 3, 10]))
    def purchase(self, amount: int, days_ago: int) -> None:
        order_id = unique("sm-order")
        occurred = self.today - timedelta(days=days_ago)
        outcome = purchase_record(member=self.member, order_id=order_id, amount=str(amount),
                                  occurred_at=self.clock.at(occurred))
        self.answered = outcome
        points = amount // 100
        assert outcome.created and outcome.data["points"] == points
        lot = None
        if points:
            lot = self.new_lot(points, occurred + timedelta(days=PENDING_DAYS), occurred + timedelta(days=VALIDITY))
        self.purchases.append(ModelPurchase(order_id, amount, points, lot))

    @rule(kind=st.sampled_from(["review", "visit"]))
    def activity(self, kind: str) -> None:
        outcome = activity_record(member=self.member, type=kind, reference=unique("sm-ref"))
        self.answered = outcome
        if kind == "review":
            expected = 20
        else:
            expected = 0 if self.today in self.visited_on else 5
            self.visited_on.add(self.today)
        assert outcome.data["points"] == expected
        if expected:
            self.new_lot(expected, self.today, self.today + timedelta(days=VALIDITY))

    @rule(points=st.integers(1, 5000), validity=st.sampled_from([365, 30, 1, None]))
    def adjust_up(self, points: int, validity: int | None) -> None:
        self.answered = points_adjust(member=self.member, points=points, reason="sm", key=unique("sm-adj"),
                                      validity_days=validity)
        self.new_lot(points, self.today, self.today + timedelta(days=validity) if validity else None)

    @rule(points=st.integers(1, 3000))
    def adjust_down(self, points: int) -> None:
        lots = self.spendable() + [lot for lot in self.spendable(include_pending=True)
                                   if lot.available_on > self.today]
        holds = sum(lot.remaining for lot in lots) - self.debt
        if holds < points:
            with pytest.raises(InsufficientPoints):
                points_adjust(member=self.member, points=-points, reason="sm", key=unique("sm-adj"))
            return
        self.answered = points_adjust(member=self.member, points=-points, reason="sm", key=unique("sm-adj"))
        self.take(lots, points)
        self.balance -= points

    @rule(share=st.integers(1, 100), too_much=st.booleans(), on_purchase=st.integers(0, 50))
    def redeem(self, share: int, too_much: bool, on_purchase: int) -> None:
        available = self.available()
        if too_much or available < 1000:
            points = max(1000, (max(available, 0) // 10 + 1) * 10)
        else:
            points = max(1000, available * share // 100 // 10 * 10)
        candidates = [p for p in self.purchases if p.redemption is None]
        purchase = candidates[on_purchase % len(candidates)] if candidates and on_purchase % 2 else None
        order_id = purchase.order_id if purchase else unique("sm-pay")
        if available < points:
            with pytest.raises(InsufficientPoints):
                points_redeem(member=self.member, points=points, order_id=order_id, order_amount="100000000")
            return
        outcome = points_redeem(member=self.member, points=points, order_id=order_id, order_amount="100000000")
        self.answered = outcome
        redemption = ModelRedemption(outcome.data["id"], order_id, points)
        redemption.allocations = [[lot, taken, 0] for lot, taken in self.take(self.spendable(), points)]
        self.balance -= points
        self.redemptions.append(redemption)
        if purchase:
            purchase.redemption = redemption

    @rule(pick=st.integers(0, 50))
    def cancel(self, pick: int) -> None:
        if not self.redemptions:
            return
        redemption = self.redemptions[pick % len(self.redemptions)]
        outcome = redemption_cancel(redemption_id=redemption.id)
        self.answered = outcome
        if redemption.cancelled:
            assert not outcome.created
            return
        restored = self.restore(redemption, redemption.points - redemption.restored)
        redemption.cancelled = True
        assert outcome.data["points_restored"] == restored
        self.balance += restored

    @rule(pick=st.integers(0, 50), share=st.integers(1, 100), too_much=st.booleans())
    def refund(self, pick: int, share: int, too_much: bool) -> None:
        open_ = [p for p in self.purchases if p.refunded < p.amount]
        if not open_:
            return
        purchase = open_[pick % len(open_)]
        left = purchase.amount - purchase.refunded
        if too_much:
            with pytest.raises(InvalidRequest):
                purchase_refund(order_id=purchase.order_id, refund_id=unique("sm-rf"), amount=str(left + 1))
            return
        amount = max(1, left * share // 100)
        outcome = purchase_refund(order_id=purchase.order_id, refund_id=unique("sm-rf"), amount=str(amount))
        self.answered = outcome
        before, after = purchase.refunded, purchase.refunded + amount
        restored = 0
        redemption = purchase.redemption
        if redemption is not None and not redemption.cancelled:
            due = floor_share(redemption.points, after, purchase.amount) - floor_share(
                redemption.points, before, purchase.amount)
            if after == purchase.amount:
                due = redemption.points - floor_share(redemption.points, before, purchase.amount)
            restored = self.restore(redemption, min(due, redemption.points - redemption.restored))
            self.balance += restored
        reverse = floor_share(purchase.points, after, purchase.amount) - floor_share(
            purchase.points, before, purchase.amount)
        if after == purchase.amount:
            reverse = purchase.points - floor_share(purchase.points, before, purchase.amount)
        reverse = min(reverse, purchase.points - purchase.reversed)
        if reverse > 0:
            lot = purchase.lot
            own = [lot] if lot and (lot.expires_on is None or lot.expires_on > self.today) else []
            taken = sum(t for _, t in self.take(own, reverse))
            others = [lot for lot in self.spendable(include_pending=True) if lot is not purchase.lot]
            taken += sum(t for _, t in self.take(others, reverse - taken))
            self.debt += reverse - taken
            self.balance -= reverse
        purchase.refunded = after
        purchase.reversed += reverse
        assert (outcome.data["points_reversed"], outcome.data["points_restored"]) == (reverse, restored)

    @rule(days=st.sampled_from([0, 31, 366]))
    def expire(self, days: int) -> None:
        """Time passes, then the nightly task runs for this member."""
        self.clock.advance(days)
        outcome = account_expire_due(member_id=self.member.pk, today=self.today)
        self.answered = outcome
        due = [lot for lot in self.lots if lot.remaining > 0 and not lot.unexpired(self.today)]
        expected = sum(lot.remaining for lot in due)
        for lot in due:
            lot.remaining = 0
        self.balance -= expected
        assert outcome.data["points"] == expected

    @rule(days=st.sampled_from([1, 6, 7, 29, 30, 90, 200]))
    def time_passes(self, days: int) -> None:
        self.clock.advance(days)

    # Invariants ----------------------------------------------------------------------

    @invariant()
    def account_matches_the_model(self) -> None:
        account = Account.objects.get(pk=self.account_id)
        assert (account.balance, account.debt) == (self.balance, self.debt)
        assert account.balance == sum(lot.remaining for lot in self.lots) - self.debt
        rows = list(Lot.objects.filter(account_id=self.account_id).order_by("id")
                    .values_list("remaining", "available_on", "expires_on"))
        assert rows == [(lot.remaining, lot.available_on, lot.expires_on) for lot in self.lots]
        summary = balance_summary(account, self.today)
        assert summary.available == self.available()
        assert summary.available >= 0 or account.debt > 0

    @invariant()
    def every_answer_tells_the_balance_it_left(self) -> None:
        """Results carry the balance from the lock's lot sums and the posting's own changes:
        it must be what reading the lots says right after."""
        outcome, self.answered = self.answered, None
        if outcome is not None and getattr(outcome, "created", False) and "balance" in outcome.data:
            account = Account.objects.get(pk=self.account_id)
            assert outcome.data["balance"] == balance_summary(account, self.today).as_dict()

    @invariant()
    def every_ledger_invariant_holds(self) -> None:
        found = violations()
        assert found == [], "\n".join(map(str, found))


@pytest.mark.django_db
def test_random_sequences_of_point_movements_keep_the_ledger_sound(frozen_clock):
    LedgerMachine.clock = frozen_clock
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            # LEDGER_MACHINE_EXAMPLES=150 for a long run
            max_examples=int(os.environ.get("LEDGER_MACHINE_EXAMPLES", "30")),
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
