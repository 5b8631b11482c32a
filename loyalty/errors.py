"""Domain errors raised by the services; the API maps each ``code`` to the contract's body."""

from __future__ import annotations

from typing import Any


class LoyaltyError(Exception):
    """Base of every refusal: nothing was written when one is raised."""

    code = "invalid"
    status = 400

    def __init__(self, detail: str, *, errors: dict[str, list[str]] | None = None, **extra: Any):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.extra = extra


class InvalidRequest(LoyaltyError):
    code = "invalid"
    status = 400


class MemberNotFound(LoyaltyError):
    code = "member_not_found"
    status = 404


class NotFound(LoyaltyError):
    code = "not_found"
    status = 404


class InsufficientPoints(LoyaltyError):
    code = "insufficient_points"
    status = 409


class IdempotencyConflict(LoyaltyError):
    code = "idempotency_conflict"
    status = 409


class RedemptionRuleViolation(LoyaltyError):
    code = "redemption_rule"
    status = 422


class RunNotRetryable(LoyaltyError):
    """A task run whose chunk task is unknown (it began before runs recorded one)."""

    code = "run_not_retryable"
    status = 409
