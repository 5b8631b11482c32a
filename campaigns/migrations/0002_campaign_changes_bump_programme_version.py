"""Any change of a campaign or its targeting bumps loyalty's programme version in the same
transaction (loyalty's trigger function, migration loyalty 0011), so the purchase path's
per-process cache of applicable campaigns reloads exactly when something changed. Budget
slices, awards, exposures and mission progress change on every purchase and do not bump it."""

from django.db import migrations

TABLES = ("campaigns_campaign", "campaigns_campaign_tiers", "campaigns_campaign_stores",
          "campaigns_segment", "campaigns_segment_tiers", "campaigns_segment_stores")

PG_FORWARD = "".join(
    f"""
CREATE TRIGGER {table}_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION loyalty_programme_changed();
"""
    for table in TABLES
)
PG_REVERSE = "".join(f"DROP TRIGGER IF EXISTS {table}_changed ON {table};\n" for table in TABLES)
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
    dependencies = [
        ("campaigns", "0001_campaigns_segments_budget_awards"),
        ("loyalty", "0011_programme_version"),
    ]

    operations = [migrations.RunPython(forward, reverse, elidable=False)]
