"""A task run records its chunk task, so an operator can send its failed chunks again.

Runs made before this migration are filled in from the orchestrators that existed then (a failed
one-off run, such as a campaign grant, is exactly what needs a retry); a run of any other task
keeps a blank name and the retry says it cannot be retried.
"""

from django.db import migrations, models

# Orchestrator -> chunk task, as registered when this migration was written (names, not imports:
# a migration must not depend on today's code, and loyalty never imports campaigns).
CHUNK_TASKS = {
    "loyalty.points_expire_due_task": "loyalty.points_expire_chunk_task",
    "loyalty.pending_release_task": "loyalty.pending_release_chunk_task",
    "loyalty.tiers_evaluate_task": "loyalty.tiers_evaluate_chunk_task",
    "loyalty.points_expiring_notices_task": "loyalty.points_expiring_notices_chunk_task",
    "loyalty.tier_drop_notices_task": "loyalty.tier_drop_notices_chunk_task",
    "loyalty.birthdays_pay_task": "loyalty.birthdays_pay_chunk_task",
    "campaigns.campaign_grant_plan_task": "campaigns.campaign_grant_chunk_task",
}


def forward(apps, schema_editor):
    TaskRun = apps.get_model("loyalty", "TaskRun")
    for task, chunk_task in CHUNK_TASKS.items():
        TaskRun.objects.filter(task=task, chunk_task="").update(chunk_task=chunk_task)


class Migration(migrations.Migration):

    dependencies = [
        ("loyalty", "0013_task_runs_outbox_notices_tier_evaluation"),
    ]

    operations = [
        migrations.AddField(
            model_name="taskrun",
            name="chunk_task",
            field=models.CharField(blank=True, max_length=100, verbose_name="chunk task"),
        ),
        migrations.RunPython(forward, migrations.RunPython.noop),
    ]
