"""Which models the audit trail records, which of their fields, and how an update is diffed.

django-auditlog records creations and deletions as it ships. Updates are diffed here against
the values the instance was loaded with (kept at load time), not against a fresh SELECT as
auditlog's own receiver does: the storefront upserts members on every sign-in, and the
audit trail may cost that request one INSERT when something changed and nothing otherwise.
An instance whose loaded values are incomplete (``.only()``/``.defer()``) for the fields being
saved falls back to auditlog's receiver and its SELECT, so no change goes unrecorded.

Only ``save()`` is seen: a queryset ``.update()`` bypasses model signals, so services whose
changes must be on the trail save the instance (with ``update_fields``). ``refresh_from_db()``
keeps the first-loaded values as the baseline (Django sends no signal for it), so a save after
it also lists what changed in between: nothing is lost, though it may be over-attributed.
"""

from __future__ import annotations

import copy
from typing import Any

from auditlog.context import auditlog_disabled
from auditlog.diff import model_instance_diff
from auditlog.models import LogEntry
from auditlog.receivers import log_update
from auditlog.registry import auditlog
from django.conf import settings
from django.db.models import Model
from django.db.models.signals import post_init, post_save, pre_save

# app_label.Model -> fields left out of the trail (timestamps that move on every save, secrets).
TRACKED: dict[str, tuple[str, ...]] = {
    "members.Member": ("updated_at",),
    "members.Tier": (),
    "members.Store": ("created_at",),
    "loyalty.EarningRule": ("created_at",),
    "loyalty.ProgramPolicy": ("updated_at",),
    "loyalty.Adjustment": (),
    "loyalty.ApiKey": ("secret_hash", "last_used_at", "created_at"),
}

LOADED = "_audit_loaded"


def _snapshot(instance: Model) -> dict[str, Any]:
    return {
        key: copy.deepcopy(value) if isinstance(value, list | dict) else value
        for key, value in instance.__dict__.items()
        if not key.startswith("_")
    }


def _remember_loaded(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    instance.__dict__[LOADED] = _snapshot(instance)


def _remember_saved(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    instance.__dict__[LOADED] = _snapshot(instance)


def _log_update(sender: type[Model], instance: Model, update_fields: Any = None, raw: bool = False,
                **kwargs: Any) -> None:
    """auditlog's update receiver, diffing against the loaded values instead of a SELECT."""
    if instance._state.adding or instance.pk is None or auditlog_disabled.get():
        return
    if raw and getattr(settings, "AUDITLOG_DISABLE_ON_RAW_SAVE", False):
        return
    loaded: dict[str, Any] | None = instance.__dict__.get(LOADED)
    concrete = [f for f in sender._meta.concrete_fields if not f.primary_key]
    saving = [f for f in concrete if update_fields is None or f.name in update_fields or f.attname in update_fields]
    if loaded is None or any(f.attname not in loaded for f in saving):
        log_update(sender=sender, instance=instance, update_fields=update_fields, raw=raw, **kwargs)
        return
    old = sender.__new__(sender)
    old.__dict__.update(instance.__dict__)
    old.__dict__.update(loaded)
    changes = model_instance_diff(
        old, instance, fields_to_check={f.name for f in saving},
        use_json_for_changes=getattr(settings, "AUDITLOG_STORE_JSON_CHANGES", False),
    )
    if changes:
        LogEntry.objects.log_create(instance, action=LogEntry.Action.UPDATE, changes=changes)


def tracking_register() -> None:
    """Register the tracked models with auditlog, with the update receiver above."""
    from django.apps import apps

    for label, excluded in TRACKED.items():
        model = apps.get_model(label)
        if auditlog.contains(model):
            continue
        # Concrete fields only: auditlog would otherwise list every reverse relation on creation.
        fields = [f.name for f in model._meta.concrete_fields if not f.primary_key and f.name not in excluded]
        auditlog.register(model, include_fields=fields, exclude_fields=list(excluded))
        # auditlog connects its own pre_save receiver under this dispatch uid; ours replaces it.
        pre_save.disconnect(sender=model, dispatch_uid=auditlog._dispatch_uid(pre_save, log_update))
        pre_save.connect(_log_update, sender=model, dispatch_uid=f"audit_update_{label}")
        post_init.connect(_remember_loaded, sender=model, dispatch_uid=f"audit_loaded_{label}")
        post_save.connect(_remember_saved, sender=model, dispatch_uid=f"audit_saved_{label}")


def change_record(obj: Model, changes: dict[str, tuple[Any, Any]]) -> LogEntry | None:
    """Put a change made without ``save()`` on the trail (e.g. a service's queryset update).

    Values are stored as auditlog stores them: text, datetimes as naive UTC.
    """
    from datetime import UTC, datetime

    from django.utils import timezone

    def stored(value: Any) -> str:
        if isinstance(value, datetime) and timezone.is_aware(value):
            value = timezone.make_naive(value, UTC)
        return str(value)

    return LogEntry.objects.log_create(
        obj, action=LogEntry.Action.UPDATE, changes={name: [stored(a), stored(b)] for name, (a, b) in changes.items()}
    )
