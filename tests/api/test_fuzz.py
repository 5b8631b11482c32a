"""schemathesis over every operation of the live /api/schema/, with every check it has (what its
CLI runs with ``--checks all``): no 5xx, every status, content type, header and body as the
schema says, schema-valid requests accepted and schema-violating ones refused (API.md, "Errors").

Each generated case (positive and negative) is sent twice through the WSGI app, inside the
test's transaction: as generated (random ids: mostly "not found"), and anchored on a real
member, order and redemption, so the random bodies reach the services and not only the lookups.

What the schema cannot say is supplied here, and only here:
- which stores and referral codes exist (``store_code``/``referrer_code`` name a real one or none),
  and which cursors the server issued (a generated one is left out);
- which text is a Korean phone number (a generated non-number becomes one);
- "not in the future" for ``occurred_at`` and ``birthday`` (JSON Schema has no "today"): a
  generated valid date out of that range is moved into it; the refusals are tested in
  test_hostile_input.py;
- the custom formats ``identifier`` and ``phone-kr`` get generators of values the server takes.
Answers the contract requires for valid requests (404, 409, 422) are expected.

Set DANGOL_FUZZ_RANDOM=1 to draw new examples instead of the fixed (derandomized) ones, and
DANGOL_FUZZ_EXAMPLES to change how many per operation (bounded: 25 by default).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from django.core import signals  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import close_old_connections  # noqa: E402
from django.utils import timezone  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from loyalty.api.fields import identifier_problem  # noqa: E402
from loyalty.api.keys import widget_token_issue  # noqa: E402
from members.phone import InvalidPhoneNumber, normalize_phone  # noqa: E402

from .conftest import give_points, make_key, make_member, make_store, record_purchase, record_redemption  # noqa: E402

MAX_EXAMPLES = int(os.environ.get("DANGOL_FUZZ_EXAMPLES", "25"))
CONFIG = schemathesis.Config.from_dict({
    "checks": {
        # A valid request may still name nothing (404), conflict with an earlier one (409) or
        # break the redemption policy (422): the contract's answers, not a rejection of the schema.
        "positive_data_acceptance": {"expected-statuses": ["2xx", "404", "409", "422"]},
        "negative_data_rejection": {"expected-statuses": ["400", "401", "404", "405", "413", "415"]},
    },
    "operations": [{
        # "Refunding more than what remains of the order → 400" (API.md): a valid body, refused.
        "include-path-regex": "/refunds$",
        "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "400", "404", "409", "422"]}},
    }],
})
application = get_wsgi_application()  # not config.wsgi: that marks this process as a web process
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application, config=CONFIG)

PRINTABLE = st.characters(exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"),
                          exclude_characters="/")
schemathesis.openapi.format("identifier", st.text(PRINTABLE | st.just(" "), min_size=1, max_size=64).filter(
    lambda value: identifier_problem(value) is None))
schemathesis.openapi.format("phone-kr", st.builds(
    lambda middle, last, style: style.format(middle, last),
    st.integers(1000, 9999), st.integers(1000, 9999),
    st.sampled_from(["010-{}-{}", "010{}{}", "+82 10 {} {}", "010.{}.{}"])))

ANCHOR_MEMBER = "FUZZ-1"
ANCHOR_ORDER = "FUZZ-ORDER-1"
ANCHOR_STORE = "fuzz-store"
CREDENTIALS: dict[str, str] = {}


def credential(case: Any) -> dict[str, str]:
    """The anchors' key (the widget token on the widget's endpoint) in place of the placeholder
    schemathesis generates for the security scheme, unless this negative case changed the
    headers on purpose (took Authorization away: it must then be refused with a 401)."""
    from schemathesis.core.parameters import ParameterLocation
    from schemathesis.generation import GenerationMode

    header = case.meta.components.get(ParameterLocation.HEADER) if case.meta is not None else None
    if header is not None and header.mode == GenerationMode.NEGATIVE:
        return {}
    return {"Authorization": CREDENTIALS["token" if case.path == "/api/v1/widget/balance" else "key"]}


@pytest.fixture
def wsgi_in_test_transaction() -> Iterator[None]:
    """Calls straight into the WSGI app fire ``request_finished``, whose ``close_old_connections``
    would close the test's connection mid-transaction; Django's own test client unhooks it too."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def anchors(db: None, wsgi_in_test_transaction: None) -> Iterator[dict[str, Any]]:
    make_store(ANCHOR_STORE)
    member = make_member(external_id=ANCHOR_MEMBER, phone="010-5555-6666", email="fuzz@example.com")
    give_points(member, 100000)
    record_purchase(member, "50000", order_id=ANCHOR_ORDER)
    redemption = record_redemption(member, 1000)
    issued = make_key()
    token, _ = widget_token_issue(member_id=member.pk, key=issued.key)
    CREDENTIALS.update(key=f"Api-Key {issued.plaintext}", token=f"Bearer {token}")
    referrer = make_member(external_id="FUZZ-REFERRER")  # no phone: nobody generated can be it
    yield {"redemption": redemption, "referral_code": referrer.referral_code}
    CREDENTIALS.clear()


def within_reason(case: Any, anchors: dict[str, Any]) -> None:
    """What the schema cannot say (see the module's docstring), applied to valid values only."""
    if isinstance(case.query, dict) and isinstance(case.query.get("cursor"), str):
        # a cursor is the server's own opaque token (forged ones: test_hostile_input.py)
        case.query = {name: value for name, value in case.query.items() if name != "cursor"}
    if not isinstance(case.body, dict):
        return
    body = dict(case.body)
    if isinstance(body.get("phone"), str) and body["phone"]:
        try:
            normalize_phone(body["phone"])
        except InvalidPhoneNumber:
            body["phone"] = "010-1234-5678"
    if isinstance(body.get("store_code"), str) and body["store_code"]:
        body["store_code"] = ANCHOR_STORE
    if isinstance(body.get("referrer_code"), str) and body["referrer_code"]:
        body["referrer_code"] = anchors["referral_code"]
    if isinstance(body.get("birthday"), str):
        try:
            born = date.fromisoformat(body["birthday"])
        except ValueError:
            pass
        else:
            if not date(1900, 1, 1) <= born <= timezone.localdate():
                body["birthday"] = "1990-05-31"
    if isinstance(body.get("occurred_at"), str):
        try:
            when = datetime.fromisoformat(body["occurred_at"].replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if when.tzinfo is not None and when > timezone.now():
                body["occurred_at"] = "2026-01-01T00:00:00+09:00"
    case.body = body


def anchored(case: Any, anchors: dict[str, Any]) -> None:
    """Point the case at the real member, order and redemption."""
    params = dict(case.path_parameters or {})
    if "external_id" in params:
        params["external_id"] = ANCHOR_MEMBER
    if "order_id" in params:
        params["order_id"] = ANCHOR_ORDER
    if "redemption_id" in params:
        params["redemption_id"] = anchors["redemption"]
    case.path_parameters = params
    if isinstance(case.body, dict) and "external_id" in case.body:
        case.body = {**case.body, "external_id": ANCHOR_MEMBER}
    if case.path == "/api/v1/activities" and isinstance(case.body, dict) and "type" in case.body:
        case.body = {**case.body, "type": "review"}  # the schema cannot tell which slugs are activity types


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    derandomize=os.environ.get("DANGOL_FUZZ_RANDOM") != "1",
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_keeps_the_schema(case: Any, anchors: dict[str, Any]) -> None:
    within_reason(case, anchors)
    case.call_and_validate(headers=credential(case))
    anchored(case, anchors)
    case.call_and_validate(headers=credential(case))
