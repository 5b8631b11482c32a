"""Erasing a member's personal data from the audit trail, for the erasure of a withdrawn member.

The trail records each change field by field, so a phone number or an address a member had
stays in it after the member row is anonymized. PIPA asks that a withdrawn member's personal
data be erased: whoever anonymizes the member calls this in the same transaction, and the
trail keeps who changed what and when, with the values themselves blanked.
"""

from __future__ import annotations

from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType

from members.models import Member

PERSONAL_FIELDS = ("name", "phone", "email", "birthday", "birthday_changed_at")
ERASED = "[erased]"


def member_trail_erase(member: Member) -> int:
    """Blank the personal values in ``member``'s audit entries; the number of entries rewritten.

    The entries' name (``object_repr``) becomes the member's external id, which is not personal
    data on its own. Nothing else in the entries changes.
    """
    content_type = ContentType.objects.get_for_model(Member)
    rewritten = 0
    for entry in LogEntry.objects.filter(content_type=content_type, object_pk=str(member.pk)).only(
        "pk", "changes", "object_repr"
    ):
        changes = dict(entry.changes or {}) if isinstance(entry.changes, dict) else {}
        for name in PERSONAL_FIELDS:
            if name in changes:
                changes[name] = [ERASED if value not in (None, "None", "") else value for value in changes[name]]
        LogEntry.objects.filter(pk=entry.pk).update(
            changes=changes, object_repr=f"{ERASED} ({member.external_id})", changes_text=""
        )
        rewritten += 1
    return rewritten
