"""The programme's rules in the admin: earning rules and the programme policy.

These are configuration, not ledger: they are edited with ordinary ModelAdmin saves (each
change on the audit trail). Each object reads as a sentence ("1 P per 100 KRW, pending
7 days, valid 365 days (12 months)") in the list and on its page; the forms refuse rules
that could never pay or contradict themselves. Nothing here is deleted: a rule other records
point at is switched off instead.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from audit.admin import AuditHistoryMixin

from ..models import EarningRule, ProgramPolicy, RuleKind
from ..policy import policy_cached
from ..sentences import policy_sentences, rule_sentence


class CommaSeparatedField(forms.CharField):
    """A list of codes typed as "A-100, A-200" (stored as a JSON list)."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return ", ".join(str(item) for item in value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        if isinstance(value, list):
            return [str(item) for item in value]
        text = super().to_python(value) or ""
        return list(dict.fromkeys(item.strip() for item in text.replace("\n", ",").split(",") if item.strip()))


class EarningRuleForm(forms.ModelForm):
    skus = CommaSeparatedField(label=_("SKUs"), required=False,
                               help_text=_("Product codes separated by commas, e.g. A-100, A-200"))
    categories = CommaSeparatedField(label=_("categories"), required=False,
                                     help_text=_("Category codes separated by commas, e.g. coffee, beans"))

    class Meta:
        model = EarningRule
        fields = ["name", "kind", "activity_type", "priority", "is_active", "points", "rate_points", "rate_amount",
                  "skus", "categories", "min_amount", "channel", "daily_cap", "monthly_cap", "starts_on", "ends_on",
                  "pending_days", "validity_days"]
        help_texts = {
            "kind": _("What earns the points: an order's amount, chosen products, an activity, a referral, "
                      "sign-up or the birthday."),
            "activity_type": _("For activity rules: the type the API reports, e.g. visit, review, sns_share."),
            "points": _("Fixed points: per activity, per sign-up, per birthday, per referral side, or per item "
                        "for product bonuses."),
            "rate_points": _("With the unit amount: points per unit of the amount, rounded down. "
                             "1 point per 100 KRW: points per unit 1, unit amount 100."),
            "rate_amount": _("The amount (KRW) that earns the points per unit."),
            "min_amount": _("Orders below this amount earn nothing from this rule. 0: any order."),
            "daily_cap": _("At most this many points per member per day from this rule. Empty: no cap."),
            "monthly_cap": _("At most this many points per member per month from this rule. Empty: no cap."),
            "pending_days": _("Days before the points can be spent (the return window), counted from the "
                              "purchase. 0: at once."),
            "validity_days": _("Days the points stay valid from the day they are earned. Empty: they never expire."),
            "priority": _("Rules apply in this order, lowest first; the first purchase rule sets pending days and "
                          "validity."),
            "is_active": _("Switch a rule off instead of deleting it: past earnings still point at it."),
            "starts_on": _("First day the rule applies. Empty: from now."),
            "ends_on": _("Last day the rule applies. Empty: no end."),
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind = data.get("kind")
        rate_given = bool(data.get("rate_points")) and bool(data.get("rate_amount"))
        if bool(data.get("rate_points")) != bool(data.get("rate_amount")):
            self.add_error("rate_amount", _("Give both the points per unit and the unit amount, or neither."))
        if kind == RuleKind.PURCHASE_RATE and not rate_given:
            self.add_error("rate_points", _("A purchase rule needs points per unit and a unit amount."))
        if kind == RuleKind.PRODUCT_BONUS:
            if not (data.get("skus") or data.get("categories")):
                self.add_error("skus", _("Name at least one SKU or category."))
            if not (data.get("points") or rate_given):
                self.add_error("points", _("Give fixed points per item or a rate."))
        if kind == RuleKind.ACTIVITY and not data.get("activity_type"):
            self.add_error("activity_type", _("An activity rule needs the activity type."))
        fixed_kinds = (RuleKind.ACTIVITY, RuleKind.REFERRAL, RuleKind.SIGNUP, RuleKind.BIRTHDAY)
        if kind in fixed_kinds and not data.get("points"):
            self.add_error("points", _("This kind of rule pays fixed points: give more than 0."))
        daily, monthly = data.get("daily_cap"), data.get("monthly_cap")
        if daily is not None and monthly is not None and monthly < daily:
            self.add_error("monthly_cap", _("The monthly cap cannot be below the daily cap."))
        starts, ends = data.get("starts_on"), data.get("ends_on")
        if starts and ends and ends < starts:
            self.add_error("ends_on", _("The rule cannot end before it starts."))
        if data.get("validity_days") == 0:
            self.add_error("validity_days", _("Leave it empty for points that never expire."))
        return data


@admin.register(EarningRule)
class EarningRuleAdmin(AuditHistoryMixin, admin.ModelAdmin):
    form = EarningRuleForm
    list_display = ("name", "in_plain_words", "kind", "priority", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "activity_type")
    readonly_fields = ("in_plain_words",)
    fieldsets = (
        (None, {"fields": ("in_plain_words", "name", "kind", "activity_type", "priority", "is_active")}),
        (_("Points"), {"fields": ("points", "rate_points", "rate_amount")}),
        (_("Products"), {"fields": ("skus", "categories")}),
        (_("Conditions"), {"fields": ("min_amount", "channel", "daily_cap", "monthly_cap", "starts_on", "ends_on")}),
        (_("When the points can be spent"), {"fields": ("pending_days", "validity_days")}),
    )

    @admin.display(description=_("in plain words"))
    def in_plain_words(self, rule: EarningRule | None) -> str:
        if rule is None or rule.pk is None:
            return "—"
        return rule_sentence(rule, policy_cached().currency)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # earnings and activities point at their rule: switch it off instead


class ProgramPolicyForm(forms.ModelForm):
    excluded_skus = CommaSeparatedField(label=_("SKUs excluded from redemption"), required=False,
                                        help_text=_("Product codes points cannot pay for, separated by commas"))
    excluded_categories = CommaSeparatedField(
        label=_("categories excluded from redemption"), required=False,
        help_text=_("Category codes points cannot pay for, separated by commas"),
    )

    class Meta:
        model = ProgramPolicy
        fields = ["point_value", "currency", "redeem_min_points", "redeem_unit", "redeem_max_share", "excluded_skus",
                  "excluded_categories", "negative_balance_policy", "expiry_notice_days",
                  "adjustment_approval_threshold", "tier_evaluation_day", "tier_evaluation_every_months",
                  "tier_notice_days"]
        help_texts = {
            "point_value": _("What 1 point is worth in the currency when spent: the points liability is the "
                             "outstanding points times this."),
            "currency": _("ISO code of the currency, e.g. KRW."),
            "redeem_min_points": _("The fewest points a member may spend at once."),
            "redeem_unit": _("Points are spent in multiples of this, e.g. 10."),
            "redeem_max_share": _("Percent of the eligible order amount points may pay, e.g. 50."),
            "negative_balance_policy": _("When a refund takes back points the member already spent."),
            "expiry_notice_days": _("How many days before expiry members are told (the balance card's "
                                    "\"expiring soon\")."),
            "adjustment_approval_threshold": _("Manual adjustments of this many points or more (added or deducted) "
                                               "wait for a second person's approval; smaller ones apply at once."),
        }

    def clean_point_value(self) -> Any:
        value = self.cleaned_data["point_value"]
        if value is not None and value <= 0:
            raise forms.ValidationError(_("A point must be worth more than 0."))
        return value

    def clean_currency(self) -> str:
        code = (self.cleaned_data.get("currency") or "").strip().upper()
        if len(code) != 3 or not code.isalpha():
            raise forms.ValidationError(_("Three letters, e.g. KRW."))
        return code

    def clean_adjustment_approval_threshold(self) -> Any:
        value = self.cleaned_data["adjustment_approval_threshold"]
        if value is not None and value < 1:
            raise forms.ValidationError(_("At least 1 point: 0 would let no adjustment apply without approval."))
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        minimum, unit = data.get("redeem_min_points"), data.get("redeem_unit")
        if minimum and unit and minimum % unit:
            self.add_error("redeem_min_points", _("The minimum must be a multiple of the redemption unit."))
        return data


@admin.register(ProgramPolicy)
class ProgramPolicyAdmin(AuditHistoryMixin, admin.ModelAdmin):
    form = ProgramPolicyForm
    list_display = ("__str__", "in_plain_words", "updated_at")
    readonly_fields = ("in_plain_words", "updated_at")
    fieldsets = (
        (None, {"fields": ("in_plain_words",)}),
        (_("Value of points"), {"fields": ("point_value", "currency")}),
        (_("Redemption"), {"fields": ("redeem_min_points", "redeem_unit", "redeem_max_share",
                                      "excluded_skus", "excluded_categories")}),
        (_("Refunds, expiry and adjustments"), {"fields": ("negative_balance_policy", "expiry_notice_days",
                                                           "adjustment_approval_threshold", "updated_at")}),
        (_("Tier evaluation"), {"fields": ("tier_evaluation_day", "tier_evaluation_every_months",
                                           "tier_notice_days")}),
    )

    @admin.display(description=_("in plain words"))
    def in_plain_words(self, policy: ProgramPolicy | None) -> str:
        if policy is None or policy.pk is None:
            return "—"
        return format_html("<ul class=\"plain-words\">{}</ul>",
                           format_html_join("", "<li>{}</li>", ((s,) for s in policy_sentences(policy))))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not ProgramPolicy.objects.exists() and super().has_add_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
