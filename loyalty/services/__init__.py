"""The loyalty write paths: every change of points goes through one of these services.

Each is a durable transaction that locks the member's account row, is idempotent on its
natural key, and returns an :class:`Outcome` (``created`` is false for a replay).
"""

from .adjustments import (
    adjustment_approve,
    adjustment_reject,
    adjustment_request,
    points_adjust,
    points_import_opening,
)
from .earning import activity_record, purchase_record
from .expiry import account_expire_due, points_expire_due
from .merge import member_points_merge
from .outcome import Outcome
from .redemption import points_redeem, redemption_cancel
from .refunds import purchase_refund
from .registration import member_register

__all__ = [
    "Outcome",
    "account_expire_due",
    "activity_record",
    "adjustment_approve",
    "adjustment_reject",
    "adjustment_request",
    "member_points_merge",
    "member_register",
    "points_adjust",
    "points_expire_due",
    "points_import_opening",
    "points_redeem",
    "purchase_record",
    "purchase_refund",
    "redemption_cancel",
]
