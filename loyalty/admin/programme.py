"""The programme's rules: earning rules and the programme policy."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from ..models import EarningRule, ProgramPolicy


@admin.register(EarningRule)
class EarningRuleAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "activity_type", "points", "rate_points", "rate_amount",
                    "pending_days", "validity_days", "priority", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "activity_type")


@admin.register(ProgramPolicy)
class ProgramPolicyAdmin(admin.ModelAdmin):
    list_display = ("__str__", "point_value", "redeem_min_points", "redeem_unit", "redeem_max_share",
                    "negative_balance_policy")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not ProgramPolicy.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
