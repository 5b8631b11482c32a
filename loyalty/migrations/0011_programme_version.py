"""A version row bumped by triggers whenever the earning rules or the programme policy change,
in the same transaction; the write paths cache both while the version holds."""

from django.db import migrations, models

TABLES = ("loyalty_earningrule", "loyalty_programpolicy")

PG_FORWARD = """
CREATE OR REPLACE FUNCTION loyalty_programme_changed() RETURNS trigger AS $$
BEGIN
    INSERT INTO loyalty_programmeversion (id, version) VALUES (1, 1)
        ON CONFLICT (id) DO UPDATE SET version = loyalty_programmeversion.version + 1;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
""" + "".join(
    f"""
CREATE TRIGGER {table}_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION loyalty_programme_changed();
"""
    for table in TABLES
)
PG_REVERSE = "".join(f"DROP TRIGGER IF EXISTS {table}_changed ON {table};\n" for table in TABLES) + (
    "DROP FUNCTION IF EXISTS loyalty_programme_changed();"
)
SQLITE_BUMP = (
    "INSERT OR IGNORE INTO loyalty_programmeversion (id, version) VALUES (1, 0); "
    "UPDATE loyalty_programmeversion SET version = version + 1 WHERE id = 1;"
)
SQLITE_FORWARD = [
    f"CREATE TRIGGER {table}_{event.lower()}d AFTER {event} ON {table} BEGIN {SQLITE_BUMP} END;"
    for table in TABLES
    for event in ("INSERT", "UPDATE", "DELETE")
]
SQLITE_REVERSE = [
    f"DROP TRIGGER IF EXISTS {table}_{event.lower()}d;" for table in TABLES for event in ("INSERT", "UPDATE", "DELETE")
]


def forward(apps, schema_editor):
    apps.get_model("loyalty", "ProgrammeVersion").objects.get_or_create(pk=1)
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement)


def reverse(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_REVERSE, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_REVERSE:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("loyalty", "0010_ledger_entry_member_recorded")]

    operations = [
        migrations.CreateModel(
            name="ProgrammeVersion",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("version", models.BigIntegerField(default=0, verbose_name="version")),
            ],
            options={"verbose_name": "programme version", "verbose_name_plural": "programme versions"},
        ),
        migrations.RunPython(forward, reverse, elidable=False),
    ]
