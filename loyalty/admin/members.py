"""Members in the admin: the page operations staff live on (identity, points, history)."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from members.models import Member
from members.phone import InvalidPhoneNumber, format_phone, normalize_phone

from .exports import FilteredExportMixin


@admin.register(Member)
class MemberAdmin(FilteredExportMixin, admin.ModelAdmin):
    list_display = ("external_id", "name", "phone_display", "email", "tier", "channel", "status", "joined_at")
    list_filter = ("status", "channel", "tier", "home_store")
    search_fields = ("external_id", "name", "phone", "email", "referral_code")
    list_select_related = ("tier",)
    raw_id_fields = ("referred_by", "merged_into")
    readonly_fields = ("referral_code", "joined_at", "updated_at", "birthday_changed_at", "marketing_consent_at")

    @admin.display(description=_("phone"), ordering="phone")
    def phone_display(self, member: Member) -> str:
        return format_phone(member.phone) if member.phone else ""

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Member], search_term: str) -> Any:
        """A phone typed in any notation (010-1234-5678, +82 10 …) finds the stored digits."""
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        try:
            phone = normalize_phone(search_term)
        except InvalidPhoneNumber:
            digits = "".join(ch for ch in search_term if ch.isdigit())
            if len(digits) >= 4 and digits != search_term.strip():
                results |= queryset.filter(phone__contains=digits)
            return results, may_have_duplicates
        return results | queryset.filter(phone=phone), may_have_duplicates
