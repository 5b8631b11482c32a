"""Reads of the audit trail, shaped for a page: who, when, why and each field's old and new value.

Values are shown as an operator reads them (choice labels, the related object's name, local
time, yes/no) and personal data as the reader may see it: phone numbers and e-mail addresses
go through :mod:`members.privacy`, so a viewer sees them masked in every diff too. Related
objects named in a page of changes are read in one query per model, never one per row.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from members.privacy import email_for, phone_for

# (app_label, model) -> field -> how the reader may see it.
PERSONAL: dict[tuple[str, str], dict[str, Callable[[Any, str], str]]] = {
    ("members", "member"): {"phone": phone_for, "email": email_for},
}
NONE = "None"


@dataclass(frozen=True)
class FieldChange:
    name: str
    label: str
    old: str
    new: str


@dataclass(frozen=True)
class Change:
    """One recorded change of one object, as a reader may see it."""

    id: int
    at: datetime
    action: int
    action_label: str
    who: str
    who_kind: str  # "staff", "api_key" or "system"
    reason: str
    object_label: str
    content_type_id: int
    object_id: str
    fields: list[FieldChange] = field(default_factory=list)


def _action_label(action: int) -> str:
    return {
        LogEntry.Action.CREATE: pgettext("audit action", "Created"),
        LogEntry.Action.UPDATE: pgettext("audit action", "Changed"),
        LogEntry.Action.DELETE: pgettext("audit action", "Deleted"),
    }.get(action, pgettext("audit action", "Logged"))


def author_label(entry: LogEntry) -> tuple[str, str]:
    """(who, kind) for an entry: the staff user, the API key's name, or the system."""
    data = entry.additional_data or {}
    if entry.actor_id is not None and entry.actor is not None:
        return entry.actor.get_username(), "staff"
    if data.get("api_key"):
        return _("API key: %(name)s") % {"name": data["api_key"]}, "api_key"
    if entry.actor_email:
        return entry.actor_email, "staff"
    return _("System"), "system"


def _changes_of(entry: LogEntry) -> dict[str, list[Any]]:
    changes = entry.changes
    if isinstance(changes, str):  # stored as text by old auditlog versions
        try:
            changes = json.loads(changes)
        except ValueError:
            return {}
    return changes if isinstance(changes, dict) else {}


def _local(value: str) -> str:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)  # auditlog stores datetimes as naive UTC
    return date_format(timezone.localtime(parsed), "Y-m-d H:i")


def _json(value: str) -> str:
    try:
        parsed = json.loads(value)
    except ValueError:
        return value
    if isinstance(parsed, list):
        return ", ".join(str(item) for item in parsed)
    return value


class _Renderer:
    """Turns raw auditlog values into what a reader sees, resolving related objects in bulk."""

    def __init__(self, entries: Sequence[LogEntry], user: Any) -> None:
        self.user = user
        self.related: dict[type[models.Model], dict[str, str]] = {}
        wanted: dict[type[models.Model], set[Any]] = defaultdict(set)
        for entry in entries:
            model = entry.content_type.model_class()
            if model is None:
                continue
            for name, values in _changes_of(entry).items():
                model_field = self._field(model, name)
                if isinstance(model_field, models.ForeignKey):
                    related_model = model_field.related_model
                    for value in values[:2]:
                        if value not in (None, NONE, ""):
                            wanted[related_model].add(str(value))  # type: ignore[index]
        for related_model, pks in wanted.items():
            valid = []
            for pk in pks:
                try:
                    valid.append(related_model._meta.pk.to_python(pk))  # type: ignore[union-attr]
                except Exception:  # noqa: S112 - an old value of another type: shown as stored
                    continue
            objects = related_model._default_manager.in_bulk(valid)
            self.related[related_model] = {str(pk): str(obj) for pk, obj in objects.items()}

    @staticmethod
    def _field(model: type[models.Model], name: str) -> Any:
        try:
            return model._meta.get_field(name)
        except FieldDoesNotExist:
            return None

    def value(self, entry: LogEntry, model_field: Any, raw: Any) -> str:
        if raw is None or raw == NONE:
            return ""
        text = str(raw)
        if model_field is None:
            return text
        ct = entry.content_type
        masker = PERSONAL.get((ct.app_label, ct.model), {}).get(model_field.name)
        if masker is not None:
            return masker(self.user, text)
        if isinstance(model_field, models.ForeignKey):
            names = self.related.get(model_field.related_model, {})  # type: ignore[call-overload]
            return names.get(text, _("deleted (#%(pk)s)") % {"pk": text})
        if model_field.choices:
            return str(dict(model_field.flatchoices).get(text, text))
        if isinstance(model_field, models.BooleanField):
            return _("Yes") if text == "True" else _("No")
        if isinstance(model_field, models.DateTimeField):
            return _local(text)
        if isinstance(model_field, models.JSONField):
            return _json(text)
        return text

    def change(self, entry: LogEntry) -> Change:
        model = entry.content_type.model_class()
        who, kind = author_label(entry)
        fields: list[FieldChange] = []
        for name, values in _changes_of(entry).items():
            model_field = self._field(model, name) if model is not None else None
            old_raw, new_raw = ([*list(values), None, None])[:2]
            old, new = self.value(entry, model_field, old_raw), self.value(entry, model_field, new_raw)
            if entry.action == LogEntry.Action.CREATE and new == "":
                continue  # a new object's empty fields say nothing
            label = str(model_field.verbose_name) if model_field is not None else name
            fields.append(FieldChange(name=name, label=label, old=old, new=new))
        return Change(
            id=entry.pk, at=entry.timestamp, action=entry.action, action_label=_action_label(entry.action),
            who=who, who_kind=kind, reason=str((entry.additional_data or {}).get("reason", "")),
            object_label=entry.object_repr, content_type_id=entry.content_type_id,
            object_id=entry.object_pk, fields=fields,
        )


def changed_field_labels(entry: LogEntry) -> list[str]:
    """The names of the fields an entry changed, without their values (no query, no personal data)."""
    model = entry.content_type.model_class()
    labels = []
    for name, values in _changes_of(entry).items():
        if entry.action == LogEntry.Action.CREATE and ([*list(values), None, None])[1] in (None, NONE, ""):
            continue
        model_field = _Renderer._field(model, name) if model is not None else None
        labels.append(str(model_field.verbose_name) if model_field is not None else name)
    return labels


def changes_render(entries: Iterable[LogEntry], *, user: Any) -> list[Change]:
    """Entries (with ``actor`` and ``content_type`` selected) as ``user`` may see them."""
    entries = list(entries)
    renderer = _Renderer(entries, user)
    return [renderer.change(entry) for entry in entries]


def entries_for(obj: models.Model) -> QuerySet[LogEntry]:
    """Every recorded change of ``obj``, newest first."""
    content_type = ContentType.objects.get_for_model(obj.__class__)
    return (
        LogEntry.objects.filter(content_type=content_type, object_pk=str(obj.pk))
        .select_related("actor", "content_type")
        .order_by("-timestamp", "-id")
    )


def changes_for(obj: models.Model, *, user: Any, limit: int = 100) -> list[Change]:
    """Every change made to ``obj`` (newest first, at most ``limit``), as ``user`` may see it.

    The member page renders it with ``{% include "audit/changes.html" with changes=... %}``.
    """
    return changes_render(entries_for(obj)[:limit], user=user)
