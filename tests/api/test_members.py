"""Contract: PUT/GET /api/v1/members/{external_id} and the phone/email lookup."""

from __future__ import annotations

from datetime import datetime

import pytest

from members.models import Member

from .conftest import MEMBER_KEYS, Api, assert_error, make_member, make_store

pytestmark = pytest.mark.django_db

SIGN_UP = {
    "name": "김단골",
    "phone": "010-1234-5678",
    "email": "Dangol@Example.com",
    "birthday": "1990-05-31",
    "channel": "online",
    "marketing_consent": {"sms": True, "email": False},
}


def test_put_creates_201_then_updates_200_with_the_same_representation_as_get(api: Api, tiers: list) -> None:
    created = api.put("/api/v1/members/C1001", SIGN_UP)
    assert created.status_code == 201, created.content
    body = created.json()
    assert set(body) == MEMBER_KEYS
    assert body["external_id"] == "C1001"
    assert body["name"] == "김단골"
    assert body["phone"] == "01012345678"
    assert body["email"] == "dangol@example.com"
    assert body["birthday"] == "1990-05-31"
    assert body["channel"] == "online"
    assert body["marketing_consent"] == {"sms": True, "email": False}
    assert body["tier"] == {"code": "bronze", "name": "Bronze"}
    assert body["status"] == "active"
    assert isinstance(body["referral_code"], str) and body["referral_code"]
    assert datetime.fromisoformat(body["joined_at"]).utcoffset() is not None

    fetched = api.get("/api/v1/members/C1001")
    assert fetched.status_code == 200
    assert fetched.json() == body

    updated = api.put("/api/v1/members/C1001", {"name": "김단골2", "phone": "+82 10 1234 5678"})
    assert updated.status_code == 200, updated.content
    after = updated.json()
    assert after["name"] == "김단골2"
    assert after["phone"] == "01012345678"
    # what the update did not send is kept
    assert after["email"] == "dangol@example.com"
    assert after["birthday"] == "1990-05-31"
    assert after["marketing_consent"] == {"sms": True, "email": False}
    assert after["referral_code"] == body["referral_code"]
    assert after["joined_at"] == body["joined_at"]
    assert api.get("/api/v1/members/C1001").json() == after
    assert Member.objects.filter(external_id="C1001").count() == 1


@pytest.mark.parametrize("notation", ["010-1234-5678", "01012345678", "+82 10 1234 5678", "010.1234.5678"])
def test_every_phone_notation_is_stored_as_one_number(api: Api, notation: str) -> None:
    response = api.put("/api/v1/members/P1", {"name": "A", "phone": notation})
    assert response.status_code == 201
    assert response.json()["phone"] == "01012345678"


def test_put_without_name_is_a_validation_error(api: Api) -> None:
    body = assert_error(api.put("/api/v1/members/C1", {"phone": "01012345678"}), 400, "invalid")
    assert "name" in body["errors"]


def test_put_with_an_invalid_phone_is_a_validation_error(api: Api) -> None:
    body = assert_error(api.put("/api/v1/members/C1", {"name": "A", "phone": "12345"}), 400, "invalid")
    assert "phone" in body["errors"]
    assert not Member.objects.filter(external_id="C1").exists()


def test_put_with_an_unknown_store_is_a_validation_error(api: Api) -> None:
    body = assert_error(api.put("/api/v1/members/C1", {"name": "A", "store_code": "nowhere"}), 400, "invalid")
    assert "store_code" in body["errors"]


def test_put_with_a_store_and_a_referrer(api: Api) -> None:
    store = make_store("gangnam")
    referrer = make_member()
    response = api.put("/api/v1/members/C2", {"name": "B", "channel": "offline", "store_code": "gangnam",
                                              "referrer_code": referrer.referral_code})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["store_code"] == store.code
    assert body["channel"] == "offline"
    assert body["referrer_code"] == referrer.referral_code
    assert api.get("/api/v1/members/C2").json() == body


def test_put_with_an_unknown_referrer_is_refused(api: Api) -> None:
    body = assert_error(api.put("/api/v1/members/C3", {"name": "B", "referrer_code": "NOPE1234"}), 400, "invalid")
    assert "referrer_code" in body["errors"]


def test_get_an_unknown_member_is_404_member_not_found(api: Api) -> None:
    assert_error(api.get("/api/v1/members/nobody"), 404, "member_not_found")


@pytest.mark.parametrize("notation", ["01012345678", "010-1234-5678", "+82 10 1234 5678", "+82-10-1234-5678"])
def test_lookup_by_phone_in_any_notation(api: Api, notation: str) -> None:
    member = make_member(phone="010 1234 5678")
    make_member(phone="010-9999-8888")
    response = api.get("/api/v1/members", {"phone": notation})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"results"}
    assert [m["external_id"] for m in body["results"]] == [member.external_id]
    assert set(body["results"][0]) == MEMBER_KEYS
    assert body["results"][0] == api.get(f"/api/v1/members/{member.external_id}").json()


def test_lookup_by_email_ignores_case(api: Api) -> None:
    member = make_member(email="someone@example.com")
    response = api.get("/api/v1/members", {"email": "SomeOne@Example.com"})
    assert response.status_code == 200
    assert [m["external_id"] for m in response.json()["results"]] == [member.external_id]


def test_lookup_with_no_match_is_an_empty_list(api: Api) -> None:
    make_member(phone="01012345678")
    assert api.get("/api/v1/members", {"phone": "01000000000"}).json() == {"results": []}
    assert api.get("/api/v1/members", {"phone": "not-a-phone"}).json() == {"results": []}
    assert api.get("/api/v1/members", {"email": "nobody@example.com"}).json() == {"results": []}


def test_lookup_without_phone_or_email_finds_nobody(api: Api) -> None:
    make_member(phone="010-1234-5678")
    response = api.get("/api/v1/members")
    assert response.status_code == 200 and response.json() == {"results": []}


def test_put_with_an_over_long_external_id_is_a_validation_error(api: Api) -> None:
    body = assert_error(api.put("/api/v1/members/" + "x" * 65, {"name": "A"}), 400, "invalid")
    assert "external_id" in body["errors"]
    assert api.put("/api/v1/members/" + "x" * 64, {"name": "A"}).status_code == 201


@pytest.mark.parametrize("external_id", ["%00", "a%00b", "x" * 250, "%F0%9F%98%80", "a%20b"])
def test_odd_external_ids_in_the_path_are_not_found(api: Api, external_id: str) -> None:
    response = api.get(f"/api/v1/members/{external_id}")
    assert_error(response, 404, "member_not_found")
    assert_error(api.get(f"/api/v1/members/{external_id}/balance"), 404, "member_not_found")
