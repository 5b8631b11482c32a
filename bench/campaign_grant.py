"""A grant campaign to every member, end to end as production runs it: the plan task fans the
run out (``campaign_grant:<campaign>:<run>``) and a Celery worker takes the chunks.

Run it on a COPY of the bench database (it writes), with a Redis database of its own as the
broker: ::

    createdb -h 127.0.0.1 -U postgres -T dangol_bench dangol_bench_<you>
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/dangol_bench_<you>
    .venv/bin/python manage.py migrate
    .venv/bin/python bench/campaign_grant.py --broker redis://127.0.0.1:6379/5 [--concurrency 2] [--points 100]

The worker runs with ``--concurrency`` processes (Celery's default is one per core: 2 here).
Prints the wall time from sending the plan task to the run closed, members/s, the run's counts,
the peak RSS of each worker process (``VmHWM``), and checks every member was credited once.
The same work as one set-based statement per slice is ``bench/batch_jobs.py grant``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import django_on_bench_db  # noqa: E402


def peak_rss_mb(pid: int) -> float:
    """The process's high-water resident set (``VmHWM``), in MB; 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(child) for child in found]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--broker", required=True, help="a Redis database of its own, e.g. redis://127.0.0.1:6379/5")
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--points", type=int, default=100)
    parser.add_argument("--timeout", type=int, default=1800, help="seconds to wait for the run")
    args = parser.parse_args()

    os.environ["CELERY_BROKER_URL"] = args.broker
    os.environ["DJANGO_DEBUG"] = "0"
    django_on_bench_db()
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from campaigns.models import Campaign, CampaignKind, Segment
    from campaigns.services import campaign_launch
    from campaigns.tasks import campaign_grant_plan_task
    from loyalty.models import Operation, TaskRun
    from members.models import Member

    subprocess.run(["redis-cli", "-u", args.broker, "FLUSHDB"], check=True, capture_output=True)
    user, _ = get_user_model().objects.get_or_create(username="bench-approver", defaults={"is_superuser": True,
                                                                                          "is_staff": True})
    now = timezone.now()
    campaign = Campaign.objects.create(name=f"Bench grant {int(time.time())}", kind=CampaignKind.GRANT,
                                       starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(days=1),
                                       bonus_points=args.points,
                                       segment=Segment.objects.get_or_create(name="Bench: every member")[0])
    campaign_launch(campaign_id=campaign.pk, actor=user)
    members = Member.objects.count()

    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ["DJANGO_SETTINGS_MODULE"]}
    worker = subprocess.Popen(
        [str(ROOT / ".venv/bin/celery"), "-A", "config", "worker", "-c", str(args.concurrency), "-l", "warning",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=environment, start_new_session=True,
    )
    try:
        time.sleep(5)  # the worker's processes are up before the clock starts
        started = time.perf_counter()
        campaign_grant_plan_task.delay(campaign.pk)
        prefix = f"campaign_grant:{campaign.pk}:"
        peaks: dict[int, float] = {}
        run = None
        while time.perf_counter() - started < args.timeout:
            for pid in children(worker.pid):
                peaks[pid] = max(peaks.get(pid, 0.0), peak_rss_mb(pid))
            run = TaskRun.objects.filter(key__startswith=prefix).first()
            if run is not None and run.status != "running":
                break
            time.sleep(0.5)
        seconds = time.perf_counter() - started
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)

    if run is None or run.status == "running":
        sys.exit(f"the run did not finish within {args.timeout} s")
    booked = Operation.objects.filter(key__startswith=f"campaign:{campaign.pk}:run:").count()
    granted = run.counts.get("members", 0)
    print(f"grant to {members:,} members, worker -c {args.concurrency}: run {run.status} in {seconds:.1f} s "
          f"({granted / seconds:,.0f} members/s); chunks {run.chunks_done}/{run.chunks_total}, "
          f"failed {run.chunks_failed}; counts {run.counts}")
    print(f"operations booked {booked:,} (one per member granted: {booked == granted}); "
          f"worker processes' peak RSS {', '.join(f'{peak:.0f} MB' for peak in peaks.values())}")


if __name__ == "__main__":
    main()
