"""Identity reference data in the admin: stores, tiers and the tier history.

The member admin itself lives in :mod:`loyalty.admin.members`: a member's page shows points,
which ``members`` may not import.
"""


from typing import Any

from django.contrib import admin
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

from .models import PersonalDataAccess, PersonalDataAccessMember, Store, Tier, TierChange
from .paging import EstimatedCountPaginator


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "channel", "is_active")
    list_filter = ("channel", "is_active")
    search_fields = ("code", "name")


@admin.register(Tier)
class TierAdmin(admin.ModelAdmin):
    list_display = ("rank", "code", "name", "basis", "threshold", "window_months", "earn_multiplier", "is_active")
    ordering = ("rank",)


admin.site.site_header = _("Dangol loyalty back office")
admin.site.site_title = _("Dangol")
admin.site.index_title = _("Operations")


@admin.register(TierChange)
class TierChangeAdmin(admin.ModelAdmin):
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

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(PersonalDataAccess)
class PersonalDataAccessAdmin(admin.ModelAdmin):
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

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
