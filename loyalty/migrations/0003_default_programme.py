"""A new database earns and redeems sensibly before anyone configures it (DESIGN.md defaults)."""

from decimal import Decimal

from django.db import migrations

SYSTEM_ACCOUNTS = ["issued", "redeemed", "expired", "adjusted", "imported"]

RULES = [
    dict(name="구매 적립 (100원당 1P)", kind="purchase_rate", rate_points=1, rate_amount=Decimal("100"),
         pending_days=7, validity_days=365, priority=10),
    dict(name="매장 방문", kind="activity", activity_type="visit", points=5, daily_cap=5,
         validity_days=365, priority=50),
    dict(name="리뷰 작성", kind="activity", activity_type="review", points=20, validity_days=365, priority=50),
    dict(name="SNS 공유", kind="activity", activity_type="sns_share", points=10, daily_cap=10,
         validity_days=365, priority=50),
    dict(name="앱 설치", kind="activity", activity_type="app_install", points=100, monthly_cap=100,
         validity_days=365, priority=50),
    dict(name="설문 참여", kind="activity", activity_type="survey", points=10, validity_days=365, priority=50),
    dict(name="추천 보상 (양쪽 50P)", kind="referral", points=50, validity_days=365, priority=60),
    dict(name="생일 축하 (연 1회)", kind="birthday", points=100, validity_days=365, priority=70),
]


def forward(apps, schema_editor):
    Account = apps.get_model("loyalty", "Account")
    ProgramPolicy = apps.get_model("loyalty", "ProgramPolicy")
    EarningRule = apps.get_model("loyalty", "EarningRule")
    for code in SYSTEM_ACCOUNTS:
        Account.objects.get_or_create(system_code=code)
    ProgramPolicy.objects.get_or_create(pk=1)
    if not EarningRule.objects.exists():
        for rule in RULES:
            EarningRule.objects.create(**rule)


def reverse(apps, schema_editor):
    apps.get_model("loyalty", "EarningRule").objects.filter(name__in=[r["name"] for r in RULES]).delete()


class Migration(migrations.Migration):
    dependencies = [("loyalty", "0002_ledger_entry_immutable")]

    operations = [migrations.RunPython(forward, reverse)]
