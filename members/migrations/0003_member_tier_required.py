import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """Every member has a tier (0002 put the tierless ones in the base tier)."""

    dependencies = [("members", "0002_base_tier")]

    operations = [
        migrations.AlterField(
            model_name="member",
            name="tier",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, to="members.tier", verbose_name="tier"
            ),
        ),
    ]
