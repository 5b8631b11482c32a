"""Recording staff access to members' personal data (개인정보 접근 기록).

PIPA's safety standards ask that every look at, search of, change to and download of
personal data by staff be recorded with who, when and what (and why, for downloads), and
kept. The admin calls :func:`personal_data_access_record` wherever it shows members; each
call is two statements (the record, then one row per member reached), whatever the page size.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction

from config.client_address import client_address

from .models import PersonalDataAccess, PersonalDataAccessMember

QUERY_MAX = 300


def client_ip(request: Any) -> str | None:
    """The address the request came from (:mod:`config.client_address`: proxies only when trusted)."""
    return client_address(request) or None


def personal_data_access_record(
    *,
    user: Any,
    action: str,
    member_ids: Iterable[int],
    query: str = "",
    reason: str = "",
    ip_address: str | None = None,
    member_count: int | None = None,
) -> PersonalDataAccess:
    """Record that ``user`` reached these members' personal data, and how.

    ``member_count`` is for an export too large to list member by member: the query (the
    admin's filters) names the set, the count its size.
    """
    ids = list(dict.fromkeys(member_ids))
    with transaction.atomic():
        access = PersonalDataAccess.objects.create(
            user=user if getattr(user, "pk", None) else None,
            username=getattr(user, "get_username", lambda: "")() or "",
            action=action,
            query=query[:QUERY_MAX],
            reason=reason[:QUERY_MAX],
            member_count=len(ids) if member_count is None else member_count,
            ip_address=ip_address,
        )
        PersonalDataAccessMember.objects.bulk_create(
            [PersonalDataAccessMember(access=access, member_id=member_id) for member_id in ids]
        )
    return access
