"""Rules, policy, tiers and stores read as sentences, and their forms refuse what could never work."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import translation

from loyalty.admin.programme import EarningRuleForm, ProgramPolicyForm
from loyalty.models import EarningRule, ProgramPolicy, RuleKind
from loyalty.sentences import policy_sentences, rule_sentence
from members.admin import TierForm
from members.models import Store, Tier, TierBasis
from members.sentences import store_sentence, tier_sentence

pytestmark = pytest.mark.django_db


def purchase_rule(**fields) -> EarningRule:  # type: ignore[no-untyped-def]
    values = {"name": "기본 적립", "kind": RuleKind.PURCHASE_RATE, "rate_points": 1, "rate_amount": Decimal("100"),
              "pending_days": 7, "validity_days": 365, **fields}
    return EarningRule(**values)


def test_a_purchase_rule_reads_as_a_sentence_in_english_and_korean() -> None:
    rule = purchase_rule()
    with translation.override("en"):
        assert rule_sentence(rule) == "1 P per 100 KRW, pending 7 days, valid 365 days (12 months)"
    with translation.override("ko"):
        assert rule_sentence(rule) == "100원당 1 P, 7일간 적립 예정, 365일 유효 (12개월)"


def test_a_rule_sentence_states_every_limit() -> None:
    rule = purchase_rule(min_amount=Decimal("10000"), channel="online", daily_cap=500, pending_days=0,
                         validity_days=None, is_active=False)
    with translation.override("en"):
        assert rule_sentence(rule) == (
            "1 P per 100 KRW, on orders from 10,000 KRW, online only, at most 500 P a day per member, "
            "available at once, never expire, inactive"
        )


def test_activity_and_product_rules_read_as_sentences() -> None:
    review = EarningRule(name="리뷰", kind=RuleKind.ACTIVITY, activity_type="review", points=20, validity_days=365)
    bonus = EarningRule(name="원두", kind=RuleKind.PRODUCT_BONUS, points=100, categories=["beans"], validity_days=30)
    with translation.override("en"):
        assert rule_sentence(review) == "20 P for each review, available at once, valid 365 days (12 months)"
        assert rule_sentence(bonus) == "100 P extra per item on beans, available at once, valid 30 days"


def test_a_tier_reads_as_a_sentence() -> None:
    gold = Tier(code="gold", name="Gold", rank=2, threshold=Decimal("1000000"), window_months=12,
                earn_multiplier=Decimal("1.50"))
    base = Tier(code="basic", name="일반", rank=0, threshold=Decimal("0"))
    with translation.override("en"):
        assert tier_sentence(gold) == "Gold: 1,000,000 KRW spent in 12 months, points × 1.5"
        assert tier_sentence(base) == "일반: every member from sign-up, points × 1"
    with translation.override("ko"):
        assert tier_sentence(gold) == "Gold: 12개월간 구매 금액 1,000,000원, 포인트 × 1.5"
    points_tier = Tier(name="VIP", rank=3, basis=TierBasis.POINTS, threshold=Decimal("5000"), window_months=6,
                       earn_multiplier=Decimal("2"), grace_days=30)
    with translation.override("en"):
        assert tier_sentence(points_tier) == ("VIP: 5,000 P earned in 6 months, points × 2, "
                                              "kept 30 days after falling below")


def test_a_store_and_the_policy_read_as_sentences() -> None:
    with translation.override("en"):
        assert store_sentence(Store(code="GN01", name="강남점")) == "강남점 (GN01): a store with a POS"
        sentences = policy_sentences(ProgramPolicy(adjustment_approval_threshold=10000))
    assert sentences[0] == "1 P is worth 1 KRW."
    assert sentences[1] == "Redeem from 1,000 P, in steps of 10 P, for at most 50% of the order."
    assert sentences[-1] == "Manual adjustments of 10,000 P or more need a second person's approval."


def rule_form(**fields) -> EarningRuleForm:  # type: ignore[no-untyped-def]
    data = {"name": "r", "kind": "purchase_rate", "points": 0, "rate_points": 1, "rate_amount": "100",
            "min_amount": "0", "pending_days": 7, "validity_days": 365, "priority": 100, "is_active": "on", **fields}
    return EarningRuleForm(data=data)


def test_a_rule_form_refuses_rules_that_cannot_pay_or_contradict_themselves() -> None:
    assert rule_form().is_valid(), rule_form().errors
    assert "rate_points" in rule_form(rate_points=0, rate_amount="0").errors
    assert "activity_type" in rule_form(kind="activity", points=20).errors
    assert "points" in rule_form(kind="signup", points=0).errors
    assert "skus" in rule_form(kind="product_bonus", points=100).errors
    assert "monthly_cap" in rule_form(daily_cap=100, monthly_cap=50).errors
    assert "ends_on" in rule_form(starts_on="2026-12-31", ends_on="2026-12-01").errors
    assert "validity_days" in rule_form(validity_days=0).errors


def test_product_codes_are_typed_separated_by_commas() -> None:
    form = rule_form(kind="product_bonus", points=100, skus="A-100, A-200,,A-100", rate_points=0, rate_amount="0")
    assert form.is_valid(), form.errors
    assert form.cleaned_data["skus"] == ["A-100", "A-200"]


def test_the_policy_form_refuses_a_zero_threshold_and_a_minimum_off_the_unit() -> None:
    data = {"point_value": "1", "currency": "krw", "redeem_min_points": 1000, "redeem_unit": 10,
            "redeem_max_share": "50", "negative_balance_policy": "debt", "expiry_notice_days": 30,
            "adjustment_approval_threshold": 10000, "tier_evaluation_day": 1, "tier_evaluation_every_months": 1,
            "tier_notice_days": 14}
    form = ProgramPolicyForm(data=data, instance=ProgramPolicy.objects.get(pk=1))
    assert form.is_valid(), form.errors
    assert form.cleaned_data["currency"] == "KRW"
    zero = ProgramPolicyForm(data={**data, "adjustment_approval_threshold": 0})
    assert "adjustment_approval_threshold" in zero.errors
    assert "redeem_min_points" in ProgramPolicyForm(data={**data, "redeem_min_points": 1005}).errors
    assert "point_value" in ProgramPolicyForm(data={**data, "point_value": "0"}).errors


def tier_form(**fields) -> TierForm:  # type: ignore[no-untyped-def]
    data = {"code": "gold", "name": "Gold", "rank": 2, "basis": "spend", "threshold": "1000000", "window_months": 12,
            "earn_multiplier": "1.5", "grace_days": 0, "is_active": "on", **fields}
    return TierForm(data=data)


def test_tier_thresholds_rise_with_rank() -> None:
    Tier.objects.filter(rank__gt=0).delete()
    Tier.objects.update_or_create(rank=0, defaults={"code": "base", "name": "Base", "threshold": 0})
    Tier.objects.create(code="silver", name="Silver", rank=1, threshold=Decimal("300000"))
    assert tier_form().is_valid(), tier_form().errors
    assert "threshold" in tier_form(threshold="200000").errors  # below Silver, which ranks under it
    assert "threshold" in tier_form(rank=0, code="base2", threshold="5").errors
    assert "threshold" in tier_form(threshold="0").errors
    assert "earn_multiplier" in tier_form(earn_multiplier="0.5").errors


def test_the_sentence_is_on_the_list_and_the_change_page(client) -> None:  # type: ignore[no-untyped-def]
    admin_user = get_user_model().objects.create_superuser("boss", password="pw-for-tests-1234")
    rule = EarningRule.objects.create(name="기본 적립", kind=RuleKind.PURCHASE_RATE, rate_points=1,
                                      rate_amount=Decimal("100"), pending_days=7, validity_days=365)
    client.force_login(admin_user)
    with translation.override("en"):
        listing = client.get(reverse("admin:loyalty_earningrule_changelist"), HTTP_ACCEPT_LANGUAGE="en")
        page = client.get(reverse("admin:loyalty_earningrule_change", args=[rule.pk]), HTTP_ACCEPT_LANGUAGE="en")
    for response in (listing, page):
        assert "1 P per 100 KRW, pending 7 days, valid 365 days (12 months)" in response.content.decode()


def test_rules_tiers_stores_and_the_policy_cannot_be_deleted(client) -> None:  # type: ignore[no-untyped-def]
    admin_user = get_user_model().objects.create_superuser("boss", password="pw-for-tests-1234")
    store = Store.objects.create(code="GN01", name="강남점")
    client.force_login(admin_user)
    assert client.post(reverse("admin:members_store_delete", args=[store.pk]), {"post": "yes"}).status_code == 403
    assert client.post(reverse("admin:loyalty_programpolicy_delete", args=[1]), {"post": "yes"}).status_code == 403
    assert Store.objects.filter(pk=store.pk).exists()
