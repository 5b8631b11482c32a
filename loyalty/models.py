"""The points ledger and the rules that feed it.

Only :mod:`loyalty.ledger` creates ledger entries and changes lots; everything else reads
these models or calls the services. See DESIGN.md, "The ledger", for the invariants.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import Member, Store


class SystemAccount(models.TextChoices):
    """The counter-accounts of double entry; their totals are derived, never cached."""

    ISSUED = "issued", _("Points issued")
    REDEEMED = "redeemed", _("Points redeemed")
    EXPIRED = "expired", _("Points expired")
    ADJUSTED = "adjusted", _("Manual adjustments")
    IMPORTED = "imported", _("Opening balances imported")


class Account(models.Model):
    """A points account: one per member, plus the system accounts.

    Member accounts carry the cached ``balance`` (sum of their entries), the ``debt`` a
    refund left behind, and a ``version`` that grows by one per entry. System accounts carry
    none of them: they are never locked, so they cannot become a hot row.
    """

    member = models.OneToOneField(
        Member, null=True, blank=True, on_delete=models.PROTECT, related_name="account"
    )
    system_code = models.CharField(
        _("system account"), max_length=16, choices=SystemAccount.choices, null=True, blank=True, unique=True
    )
    balance = models.BigIntegerField(_("balance"), default=0)
    debt = models.BigIntegerField(_("debt"), default=0, help_text=_("Points owed after a refund"))
    version = models.BigIntegerField(_("version"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("points account")
        verbose_name_plural = _("points accounts")
        constraints = [
            models.CheckConstraint(
                condition=(Q(member__isnull=False) & Q(system_code__isnull=True))
                | (Q(member__isnull=True) & Q(system_code__isnull=False)),
                name="account_member_xor_system",
            ),
            models.CheckConstraint(condition=Q(debt__gte=0), name="account_debt_not_negative"),
        ]

    def __str__(self) -> str:
        if self.system_code:
            return str(SystemAccount(self.system_code).label)
        return f"{self.member}"

    @property
    def is_system(self) -> bool:
        return self.system_code is not None


class OperationKind(models.TextChoices):
    PURCHASE = "purchase", _("Purchase")
    ACTIVITY = "activity", _("Activity")
    REFERRAL = "referral", _("Referral reward")
    REDEEM = "redeem", _("Redemption")
    CANCEL_REDEEM = "cancel_redeem", _("Redemption cancelled")
    REFUND = "refund", _("Refund")
    ADJUST = "adjust", _("Manual adjustment")
    EXPIRE = "expire", _("Expiry")
    MERGE = "merge", _("Merge")
    IMPORT = "import", _("Opening balance")
    CAMPAIGN = "campaign", _("Campaign grant")
    BIRTHDAY = "birthday", _("Birthday bonus")


class Operation(models.Model):
    """One business operation: its entries net to zero, its key makes it idempotent.

    ``fingerprint`` is a hash of the request that created it; a replay with the same key and
    fingerprint returns ``result``; the same key with another fingerprint is a conflict.
    """

    kind = models.CharField(_("kind"), max_length=16, choices=OperationKind.choices)
    # 255: an activity's key is "activity:" + its type (40) + ":" + its reference (200).
    key = models.CharField(_("idempotency key"), max_length=255, unique=True)
    fingerprint = models.CharField(_("request fingerprint"), max_length=64)
    result = models.JSONField(_("result"), default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(_("actor"), max_length=120, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("operation")
        verbose_name_plural = _("operations")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.key}"


class EntryKind(models.TextChoices):
    EARN = "earn", _("Earn")
    REDEEM = "redeem", _("Redeem")
    EXPIRE = "expire", _("Expire")
    ADJUST = "adjust", _("Adjust")
    REVERSE = "reverse", _("Reverse")
    CANCEL_REDEEM = "cancel_redeem", _("Redemption cancelled")
    MERGE = "merge", _("Merge")


class EntrySource(models.TextChoices):
    PURCHASE = "purchase", _("Purchase")
    ACTIVITY = "activity", _("Activity")
    CAMPAIGN = "campaign", _("Campaign")
    MANUAL = "manual", _("Manual")
    IMPORT = "import", _("Import")
    REFERRAL = "referral", _("Referral")
    BIRTHDAY = "birthday", _("Birthday")
    SYSTEM = "system", _("System")


class LedgerEntry(models.Model):
    """One append-only movement of points on one account.

    Never updated or deleted (a database trigger refuses both on PostgreSQL and SQLite);
    a mistake is corrected by a new entry. ``version`` and ``balance_after`` chain a member
    account's entries; both are null on system accounts.
    """

    operation = models.ForeignKey(Operation, on_delete=models.PROTECT, related_name="entries")
    account = models.ForeignKey(  # indexed by its unique (account, version) and history indexes
        Account, on_delete=models.PROTECT, related_name="entries", db_index=False
    )
    kind = models.CharField(_("kind"), max_length=16, choices=EntryKind.choices)
    source = models.CharField(_("source"), max_length=16, choices=EntrySource.choices)
    points = models.BigIntegerField(_("points"))
    balance_after = models.BigIntegerField(_("balance after"), null=True, blank=True)
    version = models.BigIntegerField(_("version"), null=True, blank=True)
    # 255: an activity's entries hold its type (40) + ":" + its reference (200).
    reference = models.CharField(_("reference"), max_length=255, blank=True)
    order_id = models.CharField(_("order id"), max_length=100, blank=True, db_index=True)
    description = models.CharField(_("description"), max_length=200, blank=True)
    internal_note = models.TextField(_("internal note"), blank=True)
    lot = models.ForeignKey(
        "Lot", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text=_("The lot an earning created"),
    )
    occurred_at = models.DateTimeField(_("occurred at"), default=timezone.now)
    created_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        constraints = [
            models.UniqueConstraint(fields=["account", "version"], name="ledger_entry_account_version"),
            models.CheckConstraint(
                condition=Q(version__isnull=True, balance_after__isnull=True)
                | Q(version__gte=1, balance_after__isnull=False),
                name="ledger_entry_version_with_balance",
            ),
        ]
        indexes = [
            models.Index(fields=["account", "-occurred_at", "-id"], name="ledger_entry_history"),
            # The dashboard's live part: member-side entries recorded since its last snapshot.
            # Covering, so the dashboard reads the index alone (entries of one day lie all over the heap).
            models.Index(
                fields=["created_at"], include=["account", "kind", "points"],
                name="ledger_entry_member_recorded", condition=Q(version__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.points:+d} P"


class Lot(models.Model):
    """Earned points that share one availability date and one expiry date.

    Spendable while ``available_on <= today < expires_on`` (by date, in the programme's
    time zone), whether or not the scheduled tasks have run.
    """

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="lots")
    operation = models.ForeignKey(Operation, on_delete=models.PROTECT, related_name="lots")
    source = models.CharField(_("source"), max_length=16, choices=EntrySource.choices)
    points = models.BigIntegerField(_("points"), validators=[MinValueValidator(1)])
    remaining = models.BigIntegerField(_("remaining"))
    available_on = models.DateField(_("available on"))
    expires_on = models.DateField(_("expires on"), null=True, blank=True)
    moved_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="moved_to",
        help_text=_("The merged member's lot these points came from"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["expires_on", "id"]
        verbose_name = _("point lot")
        verbose_name_plural = _("point lots")
        constraints = [
            models.CheckConstraint(
                condition=Q(remaining__gte=0) & Q(remaining__lte=models.F("points")),
                name="lot_remaining_within_points",
            ),
        ]
        indexes = [
            models.Index(
                fields=["account", "expires_on", "id"],
                name="lot_open_by_expiry",
                condition=Q(remaining__gt=0),
            ),
            models.Index(fields=["expires_on"], name="lot_open_expiry_due", condition=Q(remaining__gt=0)),
        ]

    def __str__(self) -> str:
        return f"{self.remaining}/{self.points} P"


class LotMovement(models.Model):
    """Points taken from (negative) or put back into (positive) a lot by one operation.

    Redemptions record what they took so a cancellation restores exactly those lots.
    """

    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="movements")
    operation = models.ForeignKey(  # indexed by lot_movement_operation (operation, lot)
        Operation, on_delete=models.PROTECT, related_name="lot_movements", db_index=False
    )
    points = models.BigIntegerField(_("points"))

    class Meta:
        verbose_name = _("lot movement")
        verbose_name_plural = _("lot movements")
        indexes = [models.Index(fields=["operation", "lot"], name="lot_movement_operation")]


class RuleKind(models.TextChoices):
    PURCHASE_RATE = "purchase_rate", _("Purchase: points per amount")
    PRODUCT_BONUS = "product_bonus", _("Purchase: bonus for products or categories")
    ACTIVITY = "activity", _("Activity: fixed points")
    REFERRAL = "referral", _("Referral: both sides on the first purchase")
    SIGNUP = "signup", _("Sign-up")
    BIRTHDAY = "birthday", _("Birthday")


class EarningRule(models.Model):
    """How points are earned. The pure calculation lives in :mod:`loyalty.rules`."""

    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=16, choices=RuleKind.choices)
    activity_type = models.SlugField(
        _("activity type"), max_length=40, blank=True, help_text=_("For activity rules: visit, review …")
    )
    points = models.PositiveIntegerField(_("fixed points"), default=0)
    rate_points = models.PositiveIntegerField(_("points per unit"), default=0)
    rate_amount = models.DecimalField(
        _("unit amount"), max_digits=12, decimal_places=2, default=Decimal("0"),
        help_text=_("e.g. 1 point per 100 KRW: points per unit 1, unit amount 100"),
    )
    skus = models.JSONField(_("SKUs"), default=list, blank=True)
    categories = models.JSONField(_("categories"), default=list, blank=True)
    min_amount = models.DecimalField(_("minimum amount"), max_digits=12, decimal_places=2, default=Decimal("0"))
    channel = models.CharField(
        _("channel"), max_length=16, blank=True, choices=[("online", _("Online")), ("offline", _("Offline"))],
        help_text=_("Empty: every channel"),
    )
    daily_cap = models.PositiveIntegerField(_("cap per member per day"), null=True, blank=True)
    monthly_cap = models.PositiveIntegerField(_("cap per member per month"), null=True, blank=True)
    pending_days = models.PositiveSmallIntegerField(_("pending days"), default=0)
    validity_days = models.PositiveIntegerField(
        _("validity (days)"), null=True, blank=True, help_text=_("Empty: never expires")
    )
    priority = models.PositiveSmallIntegerField(_("order of application"), default=100)
    is_active = models.BooleanField(_("active"), default=True)
    starts_on = models.DateField(_("starts on"), null=True, blank=True)
    ends_on = models.DateField(_("ends on"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["priority", "id"]
        verbose_name = _("earning rule")
        verbose_name_plural = _("earning rules")
        indexes = [models.Index(fields=["kind", "activity_type"], name="earning_rule_lookup")]

    def __str__(self) -> str:
        return self.name


class NegativeBalancePolicy(models.TextChoices):
    DEBT = "debt", _("Go negative: record a debt the next earnings repay")
    WRITE_OFF = "write_off", _("Stop at zero: write the shortfall off")


class ProgramPolicy(models.Model):
    """Programme-wide settings: one row (pk=1), created by a migration."""

    point_value = models.DecimalField(_("value of 1 point"), max_digits=8, decimal_places=2, default=Decimal("1"))
    currency = models.CharField(_("currency"), max_length=3, default="KRW")
    redeem_min_points = models.PositiveIntegerField(_("minimum redemption"), default=1000)
    redeem_unit = models.PositiveIntegerField(_("redemption unit"), default=10, validators=[MinValueValidator(1)])
    redeem_max_share = models.DecimalField(
        _("maximum share of the order"), max_digits=5, decimal_places=2, default=Decimal("50"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
        help_text=_("Percent of the eligible order amount"),
    )
    excluded_skus = models.JSONField(_("SKUs excluded from redemption"), default=list, blank=True)
    excluded_categories = models.JSONField(_("categories excluded from redemption"), default=list, blank=True)
    negative_balance_policy = models.CharField(
        _("when a refund exceeds the balance"), max_length=16,
        choices=NegativeBalancePolicy.choices, default=NegativeBalancePolicy.DEBT,
    )
    expiry_notice_days = models.PositiveSmallIntegerField(_("expiry notice (days ahead)"), default=30)
    adjustment_approval_threshold = models.PositiveIntegerField(
        _("adjustments needing approval from (points)"), default=10000
    )
    tier_evaluation_day = models.PositiveSmallIntegerField(
        _("tier evaluation day of the month"), default=1, validators=[MinValueValidator(1), MaxValueValidator(28)],
        help_text=_("Downgrades happen only on this day (plus the tier's grace days); upgrades happen at once"),
    )
    tier_evaluation_every_months = models.PositiveSmallIntegerField(
        _("tier evaluation every (months)"), default=1, validators=[MinValueValidator(1), MaxValueValidator(12)],
        help_text=_("1: every month; 3: January, April, July and October; 12: every January"),
    )
    tier_notice_days = models.PositiveSmallIntegerField(
        _("tier drop notice (days ahead)"), default=14,
        help_text=_("Members about to drop a tier are told this many days before the downgrade"),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("programme policy")
        verbose_name_plural = _("programme policy")

    def __str__(self) -> str:
        return str(_("Programme policy"))


class ProgrammeVersion(models.Model):
    """One row counting the edits of the earning rules and the programme policy.

    Database triggers bump it in the same transaction as any insert, update or delete of
    either table (the admin's saves, a queryset's ``.update()``, raw SQL alike), so a process
    may keep the rules and the policy it loaded while the version its lock statement reads
    is the one it loaded them at (:func:`loyalty.policy.programme_at`).
    """

    version = models.BigIntegerField(_("version"), default=0)

    class Meta:
        verbose_name = _("programme version")
        verbose_name_plural = _("programme versions")

    def __str__(self) -> str:
        return str(self.version)


class Purchase(models.Model):
    """A paid order, as reported by the storefront or the POS."""

    order_id = models.CharField(_("order id"), max_length=100, unique=True)
    member = models.ForeignKey(  # indexed by purchase_member_window (member, occurred_at)
        Member, on_delete=models.PROTECT, related_name="purchases", db_index=False
    )
    store = models.ForeignKey(Store, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(_("channel"), max_length=16, blank=True)
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    refunded_amount = models.DecimalField(_("refunded amount"), max_digits=14, decimal_places=2, default=Decimal("0"))
    items = models.JSONField(_("items"), default=list, blank=True)
    points = models.BigIntegerField(_("points earned"), default=0)
    points_reversed = models.BigIntegerField(_("points reversed"), default=0)
    breakdown = models.JSONField(_("breakdown"), default=list, blank=True)
    lot = models.ForeignKey(Lot, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    operation = models.OneToOneField(Operation, on_delete=models.PROTECT, related_name="purchase")
    occurred_at = models.DateTimeField(_("occurred at"))
    created_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    class Meta:
        ordering = ["-occurred_at"]
        verbose_name = _("purchase")
        verbose_name_plural = _("purchases")
        indexes = [models.Index(fields=["member", "occurred_at"], name="purchase_member_window")]
        constraints = [
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0) & Q(refunded_amount__lte=models.F("amount")),
                name="purchase_refund_within_amount",
            ),
        ]

    def __str__(self) -> str:
        return self.order_id


class Refund(models.Model):
    refund_id = models.CharField(_("refund id"), max_length=100, unique=True)
    purchase = models.ForeignKey(Purchase, on_delete=models.PROTECT, related_name="refunds")
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    points_reversed = models.BigIntegerField(_("points reversed"), default=0)
    points_restored = models.BigIntegerField(_("points restored"), default=0)
    points_written_off = models.BigIntegerField(_("points written off"), default=0)
    operation = models.OneToOneField(Operation, on_delete=models.PROTECT, related_name="refund")
    created_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")

    def __str__(self) -> str:
        return self.refund_id


class Redemption(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        CANCELLED = "cancelled", _("Cancelled")

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="redemptions")
    order_id = models.CharField(_("order id"), max_length=100, db_index=True)
    points = models.BigIntegerField(_("points"))
    points_restored = models.BigIntegerField(_("points restored by refunds"), default=0)
    order_amount = models.DecimalField(_("order amount"), max_digits=14, decimal_places=2)
    items = models.JSONField(_("items"), default=list, blank=True)
    idempotency_key = models.CharField(
        _("idempotency key"), max_length=200, null=True, blank=True, unique=True
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    store = models.ForeignKey(
        Store, verbose_name=_("store"), null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text=_("The store of the key that redeemed: only that store's keys (or a brand key) may cancel it"),
    )
    operation = models.OneToOneField(Operation, on_delete=models.PROTECT, related_name="redemption")
    cancel_operation = models.OneToOneField(
        Operation, null=True, blank=True, on_delete=models.PROTECT, related_name="cancelled_redemption"
    )
    created_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("redemption")
        verbose_name_plural = _("redemptions")

    def __str__(self) -> str:
        return f"{self.order_id}: {self.points} P"


class RedemptionLot(models.Model):
    """Which lots a redemption used, and how much of each was put back since."""

    redemption = models.ForeignKey(Redemption, on_delete=models.PROTECT, related_name="lots")
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="+")
    points = models.BigIntegerField(_("points taken"))
    restored = models.BigIntegerField(_("points put back"), default=0)

    class Meta:
        ordering = ["id"]
        verbose_name = _("redeemed lot")
        verbose_name_plural = _("redeemed lots")
        constraints = [
            models.CheckConstraint(
                condition=Q(restored__gte=0) & Q(restored__lte=models.F("points")),
                name="redemption_lot_restored_within_points",
            ),
        ]


class Activity(models.Model):
    """A rewarded action (review, visit, share …), unique per (type, reference)."""

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="activities")
    type = models.SlugField(_("type"), max_length=40)
    reference = models.CharField(_("reference"), max_length=200)
    rule = models.ForeignKey(EarningRule, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    points = models.BigIntegerField(_("points"), default=0)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    operation = models.OneToOneField(Operation, on_delete=models.PROTECT, related_name="activity")
    occurred_at = models.DateTimeField(_("occurred at"), default=timezone.now)

    class Meta:
        ordering = ["-occurred_at"]
        verbose_name = _("activity")
        verbose_name_plural = _("activities")
        constraints = [
            models.UniqueConstraint(fields=["type", "reference"], name="activity_type_reference"),
        ]
        indexes = [models.Index(fields=["reference"], name="activity_reference")]  # the admin's search

    def __str__(self) -> str:
        return f"{self.type}:{self.reference}"


class RuleEarning(models.Model):
    """Points one rule paid one member on one day: what the per-day/month caps count."""

    account = models.ForeignKey(  # indexed by rule_earning_caps (account, rule, earned_on)
        Account, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    rule = models.ForeignKey(EarningRule, on_delete=models.PROTECT, related_name="earnings")
    operation = models.ForeignKey(Operation, on_delete=models.PROTECT, related_name="rule_earnings")
    points = models.BigIntegerField(_("points"))
    earned_on = models.DateField(_("earned on"))

    class Meta:
        verbose_name = _("rule earning")
        verbose_name_plural = _("rule earnings")
        indexes = [models.Index(fields=["account", "rule", "earned_on"], name="rule_earning_caps")]


class Adjustment(models.Model):
    """A manual change of points by staff; above the threshold it waits for a second person.

    Maker-checker: whoever requests it may not decide it, and only a holder of
    ``loyalty.approve_adjustment`` may. Pending, applied and rejected requests all stay on record.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for approval")
        APPLIED = "applied", _("Applied")
        REJECTED = "rejected", _("Rejected")

    class ReasonCode(models.TextChoices):
        GOODWILL = "goodwill", _("Goodwill")
        SERVICE_RECOVERY = "service_recovery", _("Service recovery")
        CORRECTION = "correction", _("Correction of an error")
        PROMOTION = "promotion", _("Promotion")
        OTHER = "other", _("Other")

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="adjustments")
    points = models.BigIntegerField(_("points"))
    reason_code = models.CharField(
        _("reason code"), max_length=20, choices=ReasonCode.choices, default=ReasonCode.OTHER,
        help_text=_("Why, for reports: one of a fixed list"),
    )
    reason = models.CharField(_("reason shown to the member"), max_length=200)
    internal_note = models.TextField(_("internal note"), blank=True)
    decision_note = models.CharField(
        _("decision note"), max_length=200, blank=True, help_text=_("The approver's note, e.g. why it was rejected")
    )
    validity_days = models.PositiveIntegerField(_("validity (days)"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    operation = models.OneToOneField(
        Operation, null=True, blank=True, on_delete=models.PROTECT, related_name="adjustment"
    )
    created_at = models.DateTimeField(_("requested at"), default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("manual adjustment")
        verbose_name_plural = _("manual adjustments")
        permissions = [("approve_adjustment", _("Can approve or reject manual adjustments"))]
        indexes = [
            models.Index(fields=["created_at"], name="adjustment_pending", condition=Q(status="pending")),
        ]

    def __str__(self) -> str:
        return f"{self.member}: {self.points:+d} P"


class ApiScope(models.TextChoices):
    MEMBERS_READ = "members:read", _("Read members, balances and history")
    MEMBERS_WRITE = "members:write", _("Create and update members")
    POINTS_WRITE = "points:write", _("Report purchases, refunds, redemptions and activities")


class ApiKey(models.Model):
    """A server key for the storefront or a POS. Only a SHA-256 hash of the secret is kept.

    The key reads ``dg_<prefix>_<secret>``; the prefix is shown in the admin and looked up by
    index, the secret is compared by hash. Keys carry 256 bits of randomness, so a fast hash
    is as safe as a slow one here and keeps the check off the request's critical path.
    """

    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(_("secret hash"), max_length=64, editable=False)
    scopes = models.JSONField(_("scopes"), default=list, blank=True)
    store = models.ForeignKey(
        Store, verbose_name=_("store"), null=True, blank=True, on_delete=models.PROTECT, related_name="api_keys",
        help_text=_("A store key may only report that store's sales"),
    )
    allowed_origins = models.JSONField(
        _("allowed CORS origins"), default=list, blank=True, help_text=_("e.g. https://shop.example.com")
    )
    throttle_rate = models.CharField(
        _("rate limit"), max_length=20, default="1200/min", help_text=_("requests per sec, min, hour or day")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")

    def __str__(self) -> str:
        return f"{self.name} (dg_{self.prefix}_…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def has_scope(self, scope: str) -> bool:
        return scope in (self.scopes or ())


class DailyPointTotal(models.Model):
    """Points that moved on members' accounts on one day, per entry kind: the dashboard's history.

    Written only by :func:`loyalty.dashboard.totals.daily_totals_refresh` (a scheduled task)
    from the ledger, by the day an entry was recorded (``created_at``) in the programme's time
    zone. ``points`` is signed as on the member's account (earnings positive, redemptions and
    expiry negative), so the sum of every row is the points outstanding up to the snapshot.
    """

    day = models.DateField(_("day"))
    kind = models.CharField(_("kind"), max_length=16, choices=EntryKind.choices)
    points = models.BigIntegerField(_("points"))
    entries = models.BigIntegerField(_("entries"))

    class Meta:
        ordering = ["-day", "kind"]
        verbose_name = _("daily points total")
        verbose_name_plural = _("daily points totals")
        constraints = [models.UniqueConstraint(fields=["day", "kind"], name="daily_point_total_day_kind")]

    def __str__(self) -> str:
        return f"{self.day} {self.kind}: {self.points:+d} P"


class DashboardSnapshot(models.Model):
    """The dashboard's figures that need a scan, taken by a scheduled task (one row per run).

    ``totals_through`` is the last day :class:`DailyPointTotal` holds complete: the dashboard
    adds the ledger's entries recorded after it, live, so its points figures are exact.
    ``tiers`` maps a tier's id to its members (``{"3": 120394}``).
    """

    taken_at = models.DateTimeField(_("taken at"), default=timezone.now, db_index=True)
    totals_through = models.DateField(_("daily totals complete through"), null=True, blank=True)
    members_total = models.BigIntegerField(_("members"))
    members_active_30d = models.BigIntegerField(_("members active in the last 30 days"))
    members_new_this_month = models.BigIntegerField(_("members joined this month"))
    tiers = models.JSONField(_("members per tier"), default=dict, blank=True)

    class Meta:
        ordering = ["-taken_at"]
        get_latest_by = "taken_at"
        verbose_name = _("dashboard snapshot")
        verbose_name_plural = _("dashboard snapshots")

    def __str__(self) -> str:
        return f"{self.taken_at:%Y-%m-%d %H:%M}"


# Scheduled work: runs, chunks, the outbox and the notices sent ------------------------------


class RunStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Finished with errors")


class ChunkStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class TaskRun(models.Model):
    """One run of a scheduled task, split into chunks that workers take independently.

    ``key`` names the run's work (``"points_expire:2025-03-10"``): a second delivery of the
    orchestrator finds the run instead of starting another, so the day's work is done once.
    ``counts`` sums the chunks' counts when the last chunk closes the run. ``chunk_task`` names
    the task that does one chunk, so failed chunks can be sent again long after the orchestrator
    finished (a one-off run, such as a campaign grant, is never made up by a later day's run).
    """

    task = models.CharField(_("task"), max_length=100, db_index=True)
    chunk_task = models.CharField(_("chunk task"), max_length=100, blank=True)
    key = models.CharField(_("key"), max_length=200, unique=True)
    args = models.JSONField(_("arguments"), default=dict, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING)
    started_at = models.DateTimeField(_("started at"), default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    chunks_total = models.PositiveIntegerField(_("chunks"), default=0)
    chunks_done = models.PositiveIntegerField(_("chunks done"), default=0)
    chunks_failed = models.PositiveIntegerField(_("chunks failed"), default=0)
    counts = models.JSONField(_("counts"), default=dict, blank=True)
    errors = models.JSONField(_("errors"), default=list, blank=True)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = _("task run")
        verbose_name_plural = _("task runs")

    def __str__(self) -> str:
        return self.key


class TaskChunk(models.Model):
    """A range of ids ``[id_from, id_to)`` of a run, done by one chunk task exactly once."""

    run = models.ForeignKey(TaskRun, verbose_name=_("run"), on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField(_("index"))
    id_from = models.BigIntegerField(_("from id"))
    id_to = models.BigIntegerField(_("to id (excluded)"))
    status = models.CharField(_("status"), max_length=16, choices=ChunkStatus.choices, default=ChunkStatus.QUEUED)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    worker = models.CharField(_("worker"), max_length=200, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    counts = models.JSONField(_("counts"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        ordering = ["run", "index"]
        verbose_name = _("task chunk")
        verbose_name_plural = _("task chunks")
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="task_chunk_run_index")]

    def __str__(self) -> str:
        return f"{self.run.key} #{self.index}"


class OutboxMessage(models.Model):
    """A task that must run after a write, recorded in the write's own transaction.

    Dispatched right after the commit when the broker answers, otherwise by the minutely
    ``outbox_dispatch_task`` once it does: a broker outage delays the work and loses none.
    """

    task = models.CharField(_("task"), max_length=200)
    kwargs = models.JSONField(_("arguments"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    dispatched_at = models.DateTimeField(_("dispatched at"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("outbox message")
        verbose_name_plural = _("outbox messages")
        indexes = [
            models.Index(fields=["id"], condition=models.Q(dispatched_at__isnull=True), name="outbox_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.task} #{self.pk}"


class NoticeKind(models.TextChoices):
    POINTS_EXPIRING = "points_expiring", _("Points expiring soon")
    TIER_DROP = "tier_drop", _("Tier will drop")


class NoticeLog(models.Model):
    """A notice sent to a member; ``key`` is unique, so a rerun never sends one twice."""

    member = models.ForeignKey("members.Member", verbose_name=_("member"), on_delete=models.CASCADE,
                               related_name="notices")
    kind = models.CharField(_("kind"), max_length=32, choices=NoticeKind.choices)
    key = models.CharField(_("key"), max_length=200, unique=True)
    email = models.EmailField(_("email"))
    language = models.CharField(_("language"), max_length=8)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("notice sent")
        verbose_name_plural = _("notices sent")

    def __str__(self) -> str:
        return self.key
