"""The programme's notion of "today": dates in the programme's time zone (Asia/Seoul)."""

from __future__ import annotations

from datetime import date, datetime

from django.utils import timezone


def now() -> datetime:
    return timezone.now()


def today() -> date:
    return timezone.localdate()


def local_date(moment: datetime) -> date:
    return timezone.localdate(moment)
