"""The staff roles (viewer, operator, approver, administrator) as groups with their permissions.

Django creates permissions in a ``post_migrate`` handler, after the last migration, so on a
fresh database they do not exist yet here: they are created first, for every installed app,
then the groups get them from the table in :mod:`members.roles`.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from members.roles import ROLES, roles_sync


def forward(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    roles_sync(apps)


def backward(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(ROLES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0005_member_search_trigram"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("loyalty", "0006_redundant_indexes"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forward, backward)]
