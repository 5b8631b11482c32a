"""Refusals of the members services: nothing was written when one is raised.

The same shape as :class:`loyalty.errors.LoyaltyError` (``code``, ``status``, ``detail``,
``errors``), so one API handler answers both with the contract's body; members imports no
other app, so it has its own.
"""

from __future__ import annotations


class MemberError(Exception):
    code = "invalid"
    status = 400

    def __init__(self, detail: str, *, errors: dict[str, list[str]] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


class InvalidMemberData(MemberError):
    """A field of a member is missing or wrong (unknown store, bad phone, self-referral …)."""
