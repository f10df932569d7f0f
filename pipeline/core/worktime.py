"""Work hours and the Chinese statutory holiday calendar (with adjusted working days, 调休)."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import chinese_calendar

from pipeline.config import WorkHours


@lru_cache(maxsize=4096)
def is_workday(day: date, use_calendar: bool = True) -> bool:
    if use_calendar:
        try:
            return chinese_calendar.is_workday(day)
        except NotImplementedError:  # outside the years the calendar knows: plain Mon–Fri
            pass
    return day.weekday() < 5


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local(ts: datetime, hours: WorkHours) -> datetime:
    return ts.astimezone(_zone(hours.timezone))


def is_work_time(ts: datetime, hours: WorkHours) -> bool:
    t = local(ts, hours)
    return is_workday(t.date(), hours.use_holiday_calendar) and hours.start <= t.time() < hours.end


def add_business_seconds(start: datetime, seconds: float, hours: WorkHours) -> datetime:
    """The instant `seconds` of work time after `start` (work hours on working days only)."""
    t = local(start, hours)
    remaining = timedelta(seconds=seconds)
    while True:
        day = t.date()
        open_at = datetime.combine(day, hours.start, t.tzinfo)
        close_at = datetime.combine(day, hours.end, t.tzinfo)
        if is_workday(day, hours.use_holiday_calendar) and t < close_at:
            t = max(t, open_at)
            available = close_at - t
            if remaining <= available:
                return (t + remaining).astimezone(start.tzinfo)
            remaining -= available
        t = datetime.combine(day + timedelta(days=1), time(0), t.tzinfo)


def business_seconds_between(start: datetime, end: datetime, hours: WorkHours) -> float:
    """Work-time seconds in [start, end)."""
    if end <= start:
        return 0.0
    a, b = local(start, hours), local(end, hours)
    total = 0.0
    day = a.date()
    while day <= b.date():
        if is_workday(day, hours.use_holiday_calendar):
            lo = max(a, datetime.combine(day, hours.start, a.tzinfo))
            hi = min(b, datetime.combine(day, hours.end, a.tzinfo))
            if hi > lo:
                total += (hi - lo).total_seconds()
        day += timedelta(days=1)
    return total
