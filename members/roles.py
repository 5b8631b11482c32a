"""The staff roles, as one declarative table of Django groups and their permissions.

A user may hold several roles (their permissions add up); staff also need ``is_staff`` to
reach the admin. The table is the single source: the migration ``members.0006_roles``
creates the groups on a fresh database (creating Django's permissions first, which Django
itself only does after the last migration), and :func:`roles_sync` runs again after every
``migrate`` so a permission that a later migration adds (a new model, a custom permission
such as ``loyalty.approve_adjustment``) reaches its roles. Syncing only adds: a permission
an administrator granted a group by hand in the admin is left alone.

Least privilege: nobody but the administrator changes rules, tiers, stores, API keys, users
or schedules, and nobody deletes anything the ledger depends on (members, tiers, stores,
rules: they are deactivated instead).
"""

from __future__ import annotations

from typing import Any

VIEWER = "viewer"
OPERATOR = "operator"
APPROVER = "approver"
ADMINISTRATOR = "administrator"

_READ = [
    "members.view_member", "members.view_store", "members.view_tier", "members.view_tierchange",
    "loyalty.view_account", "loyalty.view_operation", "loyalty.view_ledgerentry", "loyalty.view_lot",
    "loyalty.view_purchase", "loyalty.view_refund", "loyalty.view_redemption", "loyalty.view_activity",
    "loyalty.view_adjustment", "loyalty.view_earningrule", "loyalty.view_programpolicy",
    "campaigns.view_campaign", "campaigns.view_segment",
]
_PERSONAL_DATA = ["members.view_personal_data"]
_OPERATE = [
    "members.add_member", "members.change_member", "members.import_members", "members.export_members",
    "loyalty.add_adjustment",  # a request; above the threshold an approver decides
    # campaigns are drafted and paused by operators; launching is the approver's
    "campaigns.add_campaign", "campaigns.change_campaign", "campaigns.add_segment", "campaigns.change_segment",
]
_APPROVE = ["loyalty.approve_adjustment", "campaigns.launch_campaign"]
_ADMINISTER = [
    "members.add_tier", "members.change_tier", "members.add_store", "members.change_store",
    "members.view_personaldataaccess",
    "auditlog.view_logentry",  # the audit trail, one searchable list
    "axes.view_accessattempt", "axes.delete_accessattempt", "axes.view_accessfailurelog", "axes.view_accesslog",
    "loyalty.add_earningrule", "loyalty.change_earningrule", "loyalty.change_programpolicy",
    "loyalty.view_apikey", "loyalty.add_apikey", "loyalty.change_apikey",
    # task runs stay read-only; "change" is what sends a run's failed chunks again
    "loyalty.view_taskrun", "loyalty.view_taskchunk", "loyalty.change_taskrun",
    "auth.view_user", "auth.add_user", "auth.change_user",
    "auth.view_group", "auth.add_group", "auth.change_group",
    *(
        f"django_celery_beat.{verb}_{model}"
        for model in ("periodictask", "crontabschedule", "intervalschedule", "clockedschedule", "solarschedule")
        for verb in ("view", "add", "change", "delete")
    ),
]

ROLES: dict[str, list[str]] = {
    VIEWER: _READ,  # read-only; phones and e-mail addresses masked (no view_personal_data)
    OPERATOR: [*_READ, *_PERSONAL_DATA, *_OPERATE],
    APPROVER: [*_READ, *_PERSONAL_DATA, *_APPROVE],
    ADMINISTRATOR: [*_READ, *_PERSONAL_DATA, *_OPERATE, *_APPROVE, *_ADMINISTER],
}


def roles_sync(apps: Any = None) -> dict[str, list[str]]:
    """Create the role groups and give each the permissions of the table that exist.

    Returns, per role, the permissions of the table that do not exist (yet) in this
    database: a later migration creates them and the next sync grants them. ``apps`` is a
    migration's historical registry, or the live one.
    """
    if apps is None:
        from django.apps import apps as live_apps

        apps = live_apps
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    wanted = {perm for perms in ROLES.values() for perm in perms}
    by_name: dict[str, Any] = {}
    for perm in permission_model.objects.filter(
        content_type__app_label__in={name.partition(".")[0] for name in wanted}
    ).select_related("content_type"):
        by_name[f"{perm.content_type.app_label}.{perm.codename}"] = perm
    missing: dict[str, list[str]] = {}
    for role, perms in ROLES.items():
        group, _created = group_model.objects.get_or_create(name=role)
        found = [by_name[name] for name in perms if name in by_name]
        group.permissions.add(*found)
        missing[role] = sorted(name for name in perms if name not in by_name)
    return missing


def roles_sync_after_migrate(sender: Any, **kwargs: Any) -> None:
    """``post_migrate`` handler: sync once, after the last app's permissions exist."""
    from django.apps import apps

    if sender.label == list(apps.get_app_configs())[-1].label:
        roles_sync()
