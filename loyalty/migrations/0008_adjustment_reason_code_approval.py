"""Manual adjustments: a reason code from a fixed list, the approver's note, the approve permission,
and an index for the list of requests waiting for approval."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('loyalty', '0007_redemption_store_and_longer_keys'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='adjustment',
            options={'ordering': ['-created_at'], 'permissions': [('approve_adjustment', 'Can approve or reject manual adjustments')], 'verbose_name': 'manual adjustment', 'verbose_name_plural': 'manual adjustments'},
        ),
        migrations.AddField(
            model_name='adjustment',
            name='decision_note',
            field=models.CharField(blank=True, help_text="The approver's note, e.g. why it was rejected", max_length=200, verbose_name='decision note'),
        ),
        migrations.AddField(
            model_name='adjustment',
            name='reason_code',
            field=models.CharField(choices=[('goodwill', 'Goodwill'), ('service_recovery', 'Service recovery'), ('correction', 'Correction of an error'), ('promotion', 'Promotion'), ('other', 'Other')], default='other', help_text='Why, for reports: one of a fixed list', max_length=20, verbose_name='reason code'),
        ),
        migrations.AddIndex(
            model_name='adjustment',
            index=models.Index(condition=models.Q(('status', 'pending')), fields=['created_at'], name='adjustment_pending'),
        ),
    ]
