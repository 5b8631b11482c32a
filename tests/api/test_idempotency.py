"""The same purchase, refund, redemption or activity twice earns or spends once — sent one
after the other, and sent at the same instant from two threads (PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connections

from loyalty.ledger import system_account_ids_forget
from loyalty.models import Account, Activity, LedgerEntry, Operation, Purchase, Redemption, Refund
from members.models import Member

from .conftest import Api, give_points, key_api, make_key, make_member, record_purchase


@dataclass
class Op:
    name: str
    path: Callable[[dict[str, Any]], str]
    body: Callable[[dict[str, Any]], dict[str, Any]]
    rows: Callable[[], int]
    headers: dict[str, str] | None = None


OPS = [
    Op("purchase", lambda s: "/api/v1/purchases",
       lambda s: {"external_id": s["member"], "order_id": "ORD-1", "amount": "45000"},
       lambda: Purchase.objects.count()),
    Op("refund", lambda s: f"/api/v1/purchases/{s['order']}/refunds",
       lambda s: {"refund_id": "RF-1", "amount": "5000"},
       lambda: Refund.objects.count()),
    Op("redemption", lambda s: "/api/v1/redemptions",
       lambda s: {"external_id": s["member"], "points": 1000, "order_id": "PAY-1", "order_amount": "10000"},
       lambda: Redemption.objects.count()),
    Op("redemption_with_key", lambda s: "/api/v1/redemptions",
       lambda s: {"external_id": s["member"], "points": 1000, "order_id": "PAY-2", "order_amount": "10000"},
       lambda: Redemption.objects.count(), headers={"Idempotency-Key": "idem-1"}),
    Op("activity", lambda s: "/api/v1/activities",
       lambda s: {"external_id": s["member"], "type": "review", "reference": "review-1"},
       lambda: Activity.objects.count()),
    Op("cancel", lambda s: f"/api/v1/redemptions/{s['redemption']}/cancel", lambda s: {},
       lambda: Redemption.objects.filter(status="cancelled").count()),
]


def setup_state() -> dict[str, Any]:
    member = make_member()
    give_points(member, 5000)
    order = record_purchase(member, "20000")
    api = key_api(make_key())
    redemption = api.post("/api/v1/redemptions", {"external_id": member.external_id, "points": 1000,
                                                  "order_id": "PAY-0", "order_amount": "10000"}).json()["id"]
    return {"member": member.external_id, "order": order, "redemption": redemption,
            "plaintext": api.headers["Authorization"], "member_pk": member.pk}


def ledger_of(member_pk: int) -> tuple[int, int, int]:
    account = Account.objects.get(member_id=member_pk)
    return account.balance, LedgerEntry.objects.filter(account=account).count(), Operation.objects.count()


def cancel_entries(member_pk: int) -> int:
    return LedgerEntry.objects.filter(account__member_id=member_pk, kind="cancel_redeem").count()


@pytest.mark.django_db
@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
def test_twice_in_a_row_counts_once(op: Op) -> None:
    state = setup_state()
    api = key_api(make_key())
    first = api.post(op.path(state), op.body(state), headers=op.headers)
    assert first.status_code in (200, 201), first.content
    created_status = first.status_code
    after_first = ledger_of(state["member_pk"])
    rows = op.rows()
    second = api.post(op.path(state), op.body(state), headers=op.headers)
    assert second.status_code == 200, second.content
    assert second.json() == first.json()
    assert ledger_of(state["member_pk"]) == after_first
    assert op.rows() == rows
    assert created_status == (200 if op.name == "cancel" else 201)


@dataclass
class Reply:
    status: int | None = None
    body: Any = None
    error: BaseException | None = None


def at_once(count: int, work: Callable[[], Any], timeout: float = 30) -> list[Reply]:
    barrier = threading.Barrier(count)
    replies = [Reply() for _ in range(count)]

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=timeout)
            response = work()
            replies[index].status = response.status_code
            replies[index].body = response.json()
        except BaseException as exc:  # judged by the test
            replies[index].error = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(t.is_alive() for t in threads), "a request never finished"
    return replies


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
def test_at_the_same_instant_from_two_threads_counts_once(op: Op) -> None:
    system_account_ids_forget()
    state = setup_state()
    before_balance = Account.objects.get(member_id=state["member_pk"]).balance
    before_cancels = cancel_entries(state["member_pk"])
    rows_before = op.rows()

    def send() -> Any:
        return Api(state["plaintext"]).post(op.path(state), op.body(state), headers=op.headers)

    replies = at_once(2, send)
    assert [r.error for r in replies] == [None, None]
    statuses = sorted(r.status for r in replies)
    if op.name == "cancel":
        assert statuses == [200, 200], [r.body for r in replies]
        assert cancel_entries(state["member_pk"]) == before_cancels + 1
    else:
        assert statuses == [200, 201], [r.body for r in replies]
    assert replies[0].body == replies[1].body
    assert op.rows() == rows_before + 1

    account = Account.objects.get(member_id=state["member_pk"])
    delta = {"purchase": 450, "refund": -50, "redemption": -1000, "redemption_with_key": -1000,
             "activity": 20, "cancel": 1000}[op.name]
    assert account.balance == before_balance + delta
    key = {"purchase": "purchase:ORD-1", "refund": "refund:RF-1", "redemption": "redeem:PAY-1",
           "redemption_with_key": "redeem:PAY-2", "activity": "activity:review:review-1",
           "cancel": f"cancel:{state['redemption']}"}[op.name]
    [operation] = Operation.objects.filter(key=key)
    assert LedgerEntry.objects.filter(account=account, operation=operation).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_different_redemptions_at_once_cannot_overspend() -> None:
    system_account_ids_forget()
    state = setup_state()  # 5000 given, 1000 spent: 4000 available
    orders = iter(["PAY-A", "PAY-B"])
    lock = threading.Lock()

    def send() -> Any:
        with lock:
            order = next(orders)
        return Api(state["plaintext"]).post("/api/v1/redemptions", {
            "external_id": state["member"], "points": 3000, "order_id": order, "order_amount": "100000"})

    replies = at_once(2, send)
    assert [r.error for r in replies] == [None, None]
    assert sorted(r.status for r in replies) == [201, 409], [r.body for r in replies]
    assert Account.objects.get(member_id=state["member_pk"]).balance == 1000 + 200  # + the pending purchase


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_sign_up_at_once_makes_one_member() -> None:
    plaintext = f"Api-Key {make_key().plaintext}"
    replies = at_once(2, lambda: Api(plaintext).put("/api/v1/members/TWIN-1", {"name": "쌍둥이",
                                                                               "phone": "010-7777-8888"}))
    assert [r.error for r in replies] == [None, None]
    assert sorted(r.status for r in replies) == [200, 201], [r.body for r in replies]
    assert Member.objects.filter(external_id="TWIN-1").count() == 1
