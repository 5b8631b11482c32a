"""The pure earning and redemption rules (loyalty.rules): no database here."""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.rules import (
    Item,
    Multiplier,
    Order,
    RedemptionPolicySpec,
    RuleSpec,
    eligible_amount,
    fixed_earning,
    proportional_share,
    purchase_earning,
    redemption_refusal,
)

PER_100 = RuleSpec(id=1, name="1 P per 100 KRW", kind="purchase_rate", rate_points=1, rate_amount=Decimal("100"))
POLICY = RedemptionPolicySpec(min_points=1000, unit=10, max_share_percent=Decimal("50"), point_value=Decimal("1"))


def earn(amount: str | int, rules=(PER_100,), multipliers=(), caps=None, items=(), channel="") -> int:
    order = Order(amount=Decimal(str(amount)), channel=channel, items=tuple(items))
    return purchase_earning(order, list(rules), list(multipliers), caps).points


# Earning -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "points"),
    [("99", 0), ("100", 1), ("199.99", 1), ("12399", 123), ("12400", 124), ("0.5", 0)],
)
def test_purchase_points_round_down(amount, points):
    assert earn(amount) == points


def test_an_order_below_the_minimum_earns_nothing():
    rule = RuleSpec(id=1, name="r", kind="purchase_rate", rate_points=1, rate_amount=Decimal("100"),
                    min_amount=Decimal("10000"))
    assert earn("9999.99", rules=[rule]) == 0
    assert earn("10000", rules=[rule]) == 100


def test_a_rule_for_another_channel_does_not_apply():
    rule = RuleSpec(id=1, name="r", kind="purchase_rate", rate_points=1, rate_amount=Decimal("100"),
                    channel="offline")
    assert earn("10000", rules=[rule], channel="online") == 0
    assert earn("10000", rules=[rule], channel="offline") == 100


def test_a_rule_is_cut_to_what_its_cap_leaves():
    assert earn("100000", caps={1: 300}) == 300
    assert earn("100000", caps={1: 0}) == 0
    assert earn("100000", caps={1: None}) == 1000
    assert purchase_earning(Order(Decimal("100000")), [PER_100], [], {1: 0}).lines == ()


def test_product_bonus_pays_per_unit_and_on_the_item_amount():
    bonus = RuleSpec(id=2, name="bonus", kind="product_bonus", points=30, rate_points=1,
                     rate_amount=Decimal("1000"), skus=("TEA",), categories=("coffee",))
    items = [Item(sku="TEA", amount=Decimal("5500"), quantity=2), Item(category="coffee", amount=Decimal("999")),
             Item(sku="CUP", category="kitchen", amount=Decimal("50000"))]
    earning = purchase_earning(Order(Decimal("56499"), items=tuple(items)), [PER_100, bonus])
    by_rule = {line.rule_id: line.points for line in earning.lines}
    assert by_rule == {1: 564, 2: 30 * 2 + 5 + 30 * 1 + 0}


def test_multipliers_apply_to_the_purchase_rate_only_never_to_bonuses():
    bonus = RuleSpec(id=2, name="bonus", kind="product_bonus", points=100, skus=("TEA",))
    order = Order(Decimal("10000"), items=(Item(sku="TEA", amount=Decimal("10000")),))
    earning = purchase_earning(order, [PER_100, bonus], [Multiplier("tier", "Gold", Decimal("2"))])
    assert [(line.source, line.points) for line in earning.lines] == [("rule", 100), ("rule", 100), ("tier", 100)]
    assert earning.points == 300


def test_each_multiplier_adds_its_own_floor_on_the_base_without_compounding():
    multipliers = [Multiplier("tier", "Silver", Decimal("1.5")), Multiplier("campaign", "Double", Decimal("2"))]
    # base 15: tier adds floor(7.5) = 7, campaign adds 15; not 15 × 1.5 × 2
    assert earn("1599", multipliers=multipliers) == 15 + 7 + 15


def test_a_capped_base_is_what_the_multiplier_sees():
    assert earn("100000", caps={1: 100}, multipliers=[Multiplier("tier", "Gold", Decimal("2"))]) == 200


def test_a_fixed_rule_pays_its_points_within_the_cap():
    review = RuleSpec(id=3, name="review", kind="activity", points=20)
    assert fixed_earning(review, None).points == 20
    assert fixed_earning(review, 5).points == 5
    assert fixed_earning(review, 0).lines == ()


amounts = st.decimals(min_value=Decimal("0"), max_value=Decimal("100000000"), places=2)
factors = st.decimals(min_value=Decimal("1"), max_value=Decimal("5"), places=2)
rule_specs = st.builds(
    RuleSpec,
    id=st.integers(1, 5),
    name=st.just("r"),
    kind=st.sampled_from(["purchase_rate", "product_bonus"]),
    points=st.integers(0, 500),
    rate_points=st.integers(0, 10),
    rate_amount=st.decimals(min_value=Decimal("0"), max_value=Decimal("10000"), places=2),
    skus=st.just(("A",)),
    min_amount=st.decimals(min_value=Decimal("0"), max_value=Decimal("50000"), places=0),
)


@given(
    rules=st.lists(rule_specs, max_size=4),
    factors_=st.lists(factors, max_size=2),
    caps=st.dictionaries(st.integers(1, 5), st.none() | st.integers(0, 1000)),
    low=amounts,
    extra=amounts,
    quantity=st.integers(0, 3),
)
def test_points_are_never_negative_and_never_fall_when_the_amount_grows(rules, factors_, caps, low, extra, quantity):
    multipliers = [Multiplier("campaign", "m", f) for f in factors_]
    items = (Item(sku="A", amount=Decimal("1000"), quantity=quantity),)
    smaller = purchase_earning(Order(low, items=items), rules, multipliers, caps)
    larger = purchase_earning(Order(low + extra, items=items), rules, multipliers, caps)
    assert all(line.points > 0 for line in smaller.lines + larger.lines)
    assert 0 <= smaller.points <= larger.points


# Redemption -----------------------------------------------------------------------------


def refusal(points: int, amount: str = "100000", items=(), policy: RedemptionPolicySpec = POLICY) -> str | None:
    return redemption_refusal(points, Decimal(amount), list(items), policy)


def test_a_redemption_below_the_minimum_is_refused():
    assert refusal(990) is not None
    assert refusal(1000) is None


def test_a_redemption_must_be_a_multiple_of_the_unit():
    assert refusal(1005) is not None
    assert refusal(1010) is None


def test_points_pay_at_most_the_share_of_the_order():
    assert refusal(5000, "10000") is None
    assert refusal(5010, "10000") is not None


def test_the_share_counts_the_point_value():
    policy = RedemptionPolicySpec(min_points=1000, unit=10, max_share_percent=Decimal("50"),
                                  point_value=Decimal("2"))
    assert refusal(2500, "10000", policy=policy) is None
    assert refusal(2510, "10000", policy=policy) is not None


def test_excluded_items_are_not_paid_with_points():
    policy = RedemptionPolicySpec(min_points=1000, unit=10, max_share_percent=Decimal("50"), point_value=Decimal("1"),
                                  excluded_skus=("GIFTCARD",), excluded_categories=("tobacco",))
    items = [Item(sku="GIFTCARD", amount=Decimal("6000")), Item(category="tobacco", amount=Decimal("2000")),
             Item(sku="TEA", amount=Decimal("4000"))]
    assert eligible_amount(Decimal("12000"), items, policy) == Decimal("4000")
    assert refusal(2000, "12000", items, policy) is None
    assert refusal(2010, "12000", items, policy) is not None
    only_excluded = [Item(sku="GIFTCARD", amount=Decimal("12000"))]
    assert refusal(1000, "12000", only_excluded, policy) is not None


# Refund proportions -------------------------------------------------------------------


@given(
    total=st.integers(0, 100000),
    whole=st.integers(1, 10000000),
    cuts=st.lists(st.integers(1, 1000), min_size=1, max_size=8),
)
def test_a_series_of_partial_refunds_reverses_exactly_the_points_of_the_order(total, whole, cuts):
    whole_ = Decimal(whole)
    scale = sum(cuts)
    bounds = [Decimal(0)]
    running = 0
    for cut in cuts:
        running += cut
        bounds.append((whole_ * running / scale).quantize(Decimal("0.01")) if running < scale else whole_)
    shares = [proportional_share(total, a, b, whole_) for a, b in pairwise(bounds)]
    assert all(share >= 0 for share in shares)
    assert sum(shares) == total


def test_a_partial_refund_reverses_its_proportion_rounded_down():
    assert proportional_share(1000, Decimal("0"), Decimal("33333"), Decimal("100000")) == 333
    assert proportional_share(1000, Decimal("33333"), Decimal("100000"), Decimal("100000")) == 667
