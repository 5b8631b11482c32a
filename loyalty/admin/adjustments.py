"""Manual adjustments of points."""

from django.contrib import admin

from ..models import Adjustment
from .readonly import ReadOnlyAdmin


@admin.register(Adjustment)
class AdjustmentAdmin(ReadOnlyAdmin):
    list_display = ("member", "points", "reason", "status", "requested_by", "decided_by", "created_at")
    list_filter = ("status",)
