"""Identity: who the members are, where they shop and which tier they hold."""

from __future__ import annotations

import secrets
from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    ONLINE = "online", _("Online")
    OFFLINE = "offline", _("Offline")


class Store(models.Model):
    """A place where members buy: a physical store with a POS or the online shop."""

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=120)
    channel = models.CharField(
        _("channel"), max_length=16, choices=Channel.choices, default=Channel.OFFLINE
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("store")
        verbose_name_plural = _("stores")

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class TierBasis(models.TextChoices):
    SPEND = "spend", _("Spend in the window")
    POINTS = "points", _("Points earned in the window")


class Tier(models.Model):
    """A membership level reached by spend (or points earned) over a rolling window.

    The basis counts what was earned or spent in the window, never the current balance,
    so redeeming points can never demote anyone.
    """

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=80)
    rank = models.PositiveSmallIntegerField(_("rank"), unique=True, help_text=_("0 is the entry tier"))
    basis = models.CharField(
        _("qualification basis"), max_length=16, choices=TierBasis.choices, default=TierBasis.SPEND
    )
    threshold = models.DecimalField(
        _("qualification threshold"),
        max_digits=14,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Spend (KRW) or points earned within the window to reach this tier"),
    )
    window_months = models.PositiveSmallIntegerField(_("window (months)"), default=12)
    earn_multiplier = models.DecimalField(
        _("earn multiplier"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("1.00"),
        validators=[MinValueValidator(Decimal("1"))],
    )
    benefits = models.TextField(_("benefits"), blank=True)
    grace_days = models.PositiveSmallIntegerField(
        _("downgrade grace (days)"), default=0, help_text=_("Days kept after falling below")
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["rank"]
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")

    def __str__(self) -> str:
        return self.name


class MemberStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    DORMANT = "dormant", _("Dormant")
    SUSPENDED = "suspended", _("Suspended")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    MERGED = "merged", _("Merged into another member")


def new_referral_code() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(8))


class Member(models.Model):
    """A customer of the brand, online or offline; points live in its loyalty account."""

    external_id = models.CharField(
        _("external id"), max_length=64, unique=True, help_text=_("The shop's customer id")
    )
    name = models.CharField(_("name"), max_length=100)
    phone = models.CharField(
        _("phone"), max_length=20, blank=True, db_index=True, help_text=_("National digits only")
    )
    email = models.EmailField(_("email"), blank=True, db_index=True)
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    birthday_changed_at = models.DateTimeField(_("birthday changed at"), null=True, blank=True)
    channel = models.CharField(
        _("origin channel"), max_length=16, choices=Channel.choices, default=Channel.ONLINE
    )
    home_store = models.ForeignKey(
        Store,
        verbose_name=_("home store"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="members",
    )
    marketing_sms = models.BooleanField(_("SMS marketing consent"), default=False)
    marketing_email = models.BooleanField(_("email marketing consent"), default=False)
    marketing_consent_at = models.DateTimeField(_("consent changed at"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=MemberStatus.choices, default=MemberStatus.ACTIVE
    )
    referral_code = models.CharField(
        _("referral code"), max_length=16, unique=True, default=new_referral_code
    )
    referred_by = models.ForeignKey(
        "self",
        verbose_name=_("referred by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="referrals",
    )
    tier = models.ForeignKey(Tier, verbose_name=_("tier"), on_delete=models.PROTECT)
    tier_floor = models.ForeignKey(
        Tier,
        verbose_name=_("tier set by hand"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("A floor the member keeps until the end date"),
    )
    tier_floor_until = models.DateField(_("tier floor until"), null=True, blank=True)
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("merged into"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_members",
    )
    offline_id = models.CharField(
        _("offline member id"), max_length=64, null=True, blank=True, unique=True,
        help_text=_("The member's id in a store's list, recorded when an import links or creates them"),
    )
    joined_at = models.DateTimeField(_("joined at"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["-joined_at"]
        verbose_name = _("member")
        verbose_name_plural = _("members")
        permissions = [
            ("view_personal_data", _("Can see members' phone numbers and e-mail addresses unmasked")),
            ("import_members", _("Can import members from CSV")),
            ("export_members", _("Can export members' data")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(referred_by=models.F("pk")), name="member_no_self_referral"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.external_id})"


class TierChange(models.Model):
    """History of a member's tiers: every upgrade, downgrade and manual setting."""

    class Reason(models.TextChoices):
        QUALIFIED = "qualified", _("Qualified")
        EVALUATION = "evaluation", _("Periodic evaluation")
        MANUAL = "manual", _("Set by staff")
        JOINED = "joined", _("Joined")

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="tier_changes")
    from_tier = models.ForeignKey(Tier, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    to_tier = models.ForeignKey(Tier, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(_("reason"), max_length=16, choices=Reason.choices)
    note = models.CharField(_("note"), max_length=200, blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(_("changed at"), default=timezone.now)

    class Meta:
        ordering = ["-changed_at"]
        verbose_name = _("tier change")
        verbose_name_plural = _("tier changes")


class PersonalDataAccess(models.Model):
    """One look at, search of, change to or export of members' personal data by a staff user.

    PIPA's safety standards (개인정보의 안전성 확보조치 기준) ask that such access be recorded
    (who, when, what, and why for downloads) and kept; the records are never edited, and an
    administrator searches them in the admin. Which members were reached is one row each in
    :class:`PersonalDataAccessMember`, so "who looked at this member" is an indexed lookup.
    """

    class Action(models.TextChoices):
        VIEW = "view", _("Viewed a member")
        LIST = "list", _("Listed members")
        SEARCH = "search", _("Searched members")
        CHANGE = "change", _("Changed a member")
        EXPORT = "export", _("Exported members' data")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("staff user"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    username = models.CharField(_("username"), max_length=150, help_text=_("Kept when the user is deleted"))
    action = models.CharField(_("action"), max_length=16, choices=Action.choices)
    query = models.CharField(_("search or filter"), max_length=300, blank=True)
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    member_count = models.PositiveIntegerField(_("members reached"), default=0)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("personal-data access")
        verbose_name_plural = _("personal-data access log")
        indexes = [models.Index(fields=["username", "-at"], name="pd_access_user_at")]

    def __str__(self) -> str:
        return f"{self.username} {self.get_action_display()} {self.at:%Y-%m-%d %H:%M}"


class PersonalDataAccessMember(models.Model):
    """A member reached by one :class:`PersonalDataAccess`."""

    access = models.ForeignKey(PersonalDataAccess, on_delete=models.CASCADE, related_name="member_rows")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+", db_index=False)

    class Meta:
        verbose_name = _("member reached")
        verbose_name_plural = _("members reached")
        indexes = [models.Index(fields=["member", "access"], name="pd_access_member")]


# The member-import history (members/imports/jobs.py) is a model of this app.
from .imports.jobs import MemberImport, MemberImportRejection  # noqa: E402, F401
