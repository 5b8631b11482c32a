"""The holdout reading becomes the campaign's results reading: the award figures are measured
in the background with the holdout's groups.

The holdout-only readings are dropped: a reading holds every figure or none, and a campaign
without one is due at once, so the next hourly measurement (or the page's button) fills it.
The hourly schedule seeded for the holdouts now runs the results' task under the new name (its
time and ``enabled``, which an operator may have edited, are kept; the seeding after migrate
then finds it by name and adds nothing). A "Measure now" still waiting in the outbox is sent
to the new task.
"""

import django.db.models.deletion
from django.db import migrations, models


OLD_SCHEDULE = ("Measure holdout campaigns, treatment against control (hourly)", "campaigns.holdouts_measure_task")
NEW_SCHEDULE = ("Measure campaign results: reach, points, redemptions, holdout groups (hourly)",
                "campaigns.results_measure_task")


def readings_drop(apps, schema_editor):
    apps.get_model("campaigns", "ResultsReading").objects.all().delete()


def outbox_retarget(old, new):
    def retarget(apps, schema_editor):
        apps.get_model("loyalty", "OutboxMessage").objects.filter(task=old, dispatched_at__isnull=True).update(task=new)
    return retarget


OLD_TASK, NEW_TASK = "campaigns.campaign_holdout_measure_task", "campaigns.campaign_results_measure_task"


def schedule_rename(old, new):
    def rename(apps, schema_editor):
        periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
        stale = periodic_task.objects.filter(name=old[0], task=old[1])
        if periodic_task.objects.filter(name=new[0]).exists():  # seeded already: the old task is gone
            stale.delete()
        else:
            stale.update(name=new[0], task=new[1])
    return rename


class Migration(migrations.Migration):

    dependencies = [
        ('campaigns', '0006_holdout_reading'),
        ('django_celery_beat', '0019_alter_periodictasks_options'),
        ('loyalty', '0013_task_runs_outbox_notices_tier_evaluation'),
    ]

    operations = [
        migrations.RenameModel(old_name='HoldoutReading', new_name='ResultsReading'),
        migrations.RunPython(readings_drop, migrations.RunPython.noop),
        migrations.RunPython(schedule_rename(OLD_SCHEDULE, NEW_SCHEDULE), schedule_rename(NEW_SCHEDULE, OLD_SCHEDULE)),
        migrations.RunPython(outbox_retarget(OLD_TASK, NEW_TASK), outbox_retarget(NEW_TASK, OLD_TASK)),
        migrations.RenameField(model_name='resultsreading', old_name='spend_until', new_name='window_until'),
        migrations.AlterField(
            model_name='resultsreading',
            name='window_until',
            field=models.DateTimeField(verbose_name='window measured until'),
        ),
        migrations.AlterField(
            model_name='resultsreading',
            name='campaign',
            field=models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='results_reading',
                                       to='campaigns.campaign'),
        ),
        migrations.AddField(
            model_name='resultsreading',
            name='members',
            field=models.BigIntegerField(default=0, verbose_name='members reached'),
        ),
        migrations.AddField(
            model_name='resultsreading',
            name='points_issued',
            field=models.BigIntegerField(default=0, verbose_name='points issued'),
        ),
        migrations.AddField(
            model_name='resultsreading',
            name='points_returned',
            field=models.BigIntegerField(default=0, verbose_name='points returned by refunds'),
        ),
        migrations.AddField(
            model_name='resultsreading',
            name='redeemed_members',
            field=models.BigIntegerField(default=0, verbose_name='members who redeemed'),
        ),
        migrations.AddField(
            model_name='resultsreading',
            name='days',
            field=models.JSONField(blank=True, default=list, verbose_name='points per day'),
        ),
        migrations.AlterModelOptions(
            name='resultsreading',
            options={'verbose_name': 'results reading', 'verbose_name_plural': 'results readings'},
        ),
    ]
