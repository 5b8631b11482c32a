"""Grants: the same points to a chunk of members (a campaign's grant to a segment), in one
transaction per chunk through the ledger's batch door.

A grant is idempotent per member: the key is ``{key_prefix}:{member_id}`` (a campaign run and
the member), so a chunk run twice, or by two workers at once, credits each member once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .. import clock
from ..ledger import (
    CREDIT_BOOKED,
    CREDIT_REPLAYED,
    CreditResult,
    CreditRow,
    credits_post,
    durable,
)
from ..models import EntrySource, OperationKind, SystemAccount
from ..rules import expiry_date


@dataclass(frozen=True)
class ChunkResult:
    """What one chunk of a batch service did: members credited (or expired) now and their
    points, members already done by an earlier run (replays), members refused (cannot hold
    points, or their key was used with another request)."""

    members: int = 0
    points: int = 0
    replayed: int = 0
    refused: int = 0

    @classmethod
    def of(cls, credits: Iterable[CreditResult]) -> ChunkResult:
        members = points = replayed = refused = 0
        for credit in credits:
            if credit.status == CREDIT_BOOKED:
                members, points = members + 1, points + credit.points
            elif credit.status == CREDIT_REPLAYED:
                replayed += 1
            else:
                refused += 1
        return cls(members=members, points=points, replayed=replayed, refused=refused)

    def __add__(self, other: ChunkResult) -> ChunkResult:
        return ChunkResult(self.members + other.members, self.points + other.points,
                           self.replayed + other.replayed, self.refused + other.refused)


def grant_key(key_prefix: str, member_id: int) -> str:
    return f"{key_prefix}:{member_id}"


@durable
def points_grant_chunk(
    *,
    member_ids: Iterable[int],
    points: int,
    key_prefix: str,
    description: str,
    validity_days: int | None = None,
    actor: Any = None,
    then: Callable[[list[int]], None] | None = None,
) -> ChunkResult:
    """Grant ``points`` to each of these members (source campaign, against the issued account),
    available at once and valid ``validity_days`` from today (``None``: never expire).

    Members who cannot hold points (merged, withdrawn, suspended) are refused and counted; a
    member granted before under the same key is counted as replayed and gets nothing more.
    ``then`` gets the members credited now, inside the grant's transaction: what the caller
    records about them (a campaign's awards) commits with their points or not at all.
    """
    if isinstance(points, bool) or not isinstance(points, int) or points <= 0:
        raise ValueError("granted points must be a positive integer")
    today = clock.today()
    rows = [
        CreditRow(member_id=member_id, key=grant_key(key_prefix, member_id), points=points,
                  request={"grant": key_prefix, "member": member_id, "points": points, "validity_days": validity_days},
                  result={"grant": key_prefix, "points": points}, reference=key_prefix)
        for member_id in sorted(set(member_ids))
    ]
    credits = credits_post(
        rows, kind=OperationKind.CAMPAIGN, source=EntrySource.CAMPAIGN, counter=SystemAccount.ISSUED,
        description=description, available_on=today, expires_on=expiry_date(today, validity_days), actor=actor,
    )
    if then is not None:
        then([credit.member_id for credit in credits if credit.status == CREDIT_BOOKED])
    return ChunkResult.of(credits)
