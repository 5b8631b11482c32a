"""Identity reference data in the admin: stores, tiers and the tier history.

The member admin itself lives in :mod:`loyalty.admin.members`: a member's page shows points,
which ``members`` may not import.
"""


from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

from audit.admin import AuditHistoryMixin
from audit.readonly import ReadOnlyAdminMixin

from .models import PersonalDataAccess, PersonalDataAccessMember, Store, Tier, TierChange
from .paging import EstimatedCountPaginator
from .sentences import store_sentence, tier_sentence


class StoreForm(forms.ModelForm):
    class Meta:
        model = Store
        fields = ["code", "name", "channel", "is_active"]
        help_texts = {
            "code": _("Short code the POS and the API send as store_code, e.g. GN01. Letters, digits, - and _."),
            "name": _("The name staff and members see, e.g. 강남점."),
            "channel": _("Online: the shop's website or app. Offline: a store with a POS."),
            "is_active": _("Switch a closed store off instead of deleting it: its sales and members stay."),
        }


@admin.register(Store)
class StoreAdmin(AuditHistoryMixin, admin.ModelAdmin):
    form = StoreForm
    list_display = ("code", "name", "in_plain_words", "channel", "is_active")
    list_filter = ("channel", "is_active")
    search_fields = ("code", "name")
    readonly_fields = ("in_plain_words",)
    fields = ("in_plain_words", "code", "name", "channel", "is_active")

    @admin.display(description=_("in plain words"))
    def in_plain_words(self, store: Store | None) -> str:
        return store_sentence(store) if store is not None and store.pk else "—"

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # members, purchases and API keys point at stores: switch one off instead


class TierForm(forms.ModelForm):
    class Meta:
        model = Tier
        fields = ["code", "name", "rank", "basis", "threshold", "window_months", "earn_multiplier", "grace_days",
                  "benefits", "is_active"]
        help_texts = {
            "code": _("Short code the API returns, e.g. gold."),
            "rank": _("Order of the tiers: 0 is the entry tier every new member joins; a higher rank is a higher "
                      "tier."),
            "basis": _("What qualifies: money spent, or points earned, within the window (never the balance, so "
                       "redeeming never demotes anyone)."),
            "threshold": _("Spend (KRW) or points earned within the window to reach this tier. The entry tier: 0."),
            "window_months": _("The rolling window the threshold is counted over, in months, e.g. 12."),
            "earn_multiplier": _("Purchase points are multiplied by this, e.g. 1.5; 1 for none."),
            "grace_days": _("Days a member keeps the tier after falling below, before the downgrade."),
            "is_active": _("Switch a tier off instead of deleting it: tier history points at it."),
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        rank, threshold = data.get("rank"), data.get("threshold")
        if rank is None or threshold is None:
            return data
        if data.get("window_months") == 0:
            self.add_error("window_months", _("The window is at least 1 month."))
        others = Tier.objects.exclude(pk=self.instance.pk)
        if rank == 0 and threshold != 0:
            self.add_error("threshold", _("The entry tier (rank 0) is for every member: its threshold is 0."))
        if rank == 0 and data.get("is_active") is False:
            self.add_error("is_active", _("New members join the entry tier: it stays active."))
        if threshold == 0 and rank != 0:
            self.add_error("threshold", _("Only the entry tier (rank 0) has threshold 0."))
        basis = data.get("basis")
        lower = others.filter(rank__lt=rank, basis=basis, threshold__gte=threshold).order_by("-rank").first()
        if lower is not None and rank != 0:
            self.add_error("threshold", _("Higher than %(tier)s's threshold (%(threshold)s), which ranks below.")
                           % {"tier": lower.name, "threshold": f"{lower.threshold:,.0f}"})
        higher = others.filter(rank__gt=rank, basis=basis, threshold__lte=threshold).order_by("rank").first()
        if higher is not None:
            self.add_error("threshold", _("Lower than %(tier)s's threshold (%(threshold)s), which ranks above.")
                           % {"tier": higher.name, "threshold": f"{higher.threshold:,.0f}"})
        return data


@admin.register(Tier)
class TierAdmin(AuditHistoryMixin, admin.ModelAdmin):
    form = TierForm
    list_display = ("rank", "name", "in_plain_words", "code", "is_active")
    list_display_links = ("name",)
    ordering = ("rank",)
    readonly_fields = ("in_plain_words",)
    fieldsets = (
        (None, {"fields": ("in_plain_words", "name", "code", "rank", "is_active")}),
        (_("How a member qualifies"), {"fields": ("basis", "threshold", "window_months", "grace_days")}),
        (_("What the tier gives"), {"fields": ("earn_multiplier", "benefits")}),
    )

    @admin.display(description=_("in plain words"))
    def in_plain_words(self, tier: Tier | None) -> str:
        return tier_sentence(tier) if tier is not None and tier.pk else "—"

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # members and tier history point at tiers: switch one off instead


admin.site.site_header = _("Dangol loyalty back office")
admin.site.site_title = _("Dangol")
admin.site.index_title = _("Operations")


@admin.register(TierChange)
class TierChangeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Tier history: written by the tier services only (qualification, evaluation, a floor set
    by staff), read here by everyone; nobody adds, edits or deletes it, superusers included."""

    list_display = ("member", "from_tier", "to_tier", "reason", "note", "changed_by", "changed_at")
    list_filter = ("reason",)
    list_select_related = ("member", "from_tier", "to_tier", "changed_by")
    search_fields = ("member__external_id",)
    search_help_text = _("The member's external id (exact)")
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[TierChange], search_term: str) -> Any:
        term = search_term.strip()
        return (queryset.filter(member__external_id=term) if term else queryset), False


@admin.register(PersonalDataAccess)
class PersonalDataAccessAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The personal-data access log (개인정보 접근 기록), for administrators: who reached which
    members' personal data, when, how and why. Kept as written: nobody edits or deletes it."""

    list_display = ("at", "username", "action", "member_count", "query", "reason", "ip_address")
    list_filter = ("action", ("at", admin.DateFieldListFilter))
    search_fields = ("username",)
    search_help_text = _("A staff username, or a member's external id to see who reached that member")
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    fields = ("at", "username", "user", "action", "query", "reason", "ip_address", "member_count", "members_reached")
    readonly_fields = fields

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[PersonalDataAccess], search_term: str
    ) -> Any:
        """By username (exact) or by a member's external id: both are indexed lookups."""
        term = search_term.strip()
        if not term:
            return queryset, False
        reached = PersonalDataAccessMember.objects.filter(access=OuterRef("pk"), member__external_id=term)
        return queryset.filter(Q(username=term) | Exists(reached)), False

    @admin.display(description=_("members reached"))
    def members_reached(self, access: PersonalDataAccess) -> str:
        rows = access.member_rows.select_related("member").order_by("member_id")[:200]
        return format_html_join(", ", '<a href="{}">{}</a>', (
            (reverse("admin:members_member_change", args=[row.member_id]), row.member.external_id) for row in rows
        ))
