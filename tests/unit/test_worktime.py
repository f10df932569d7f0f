"""The business-time clock: work hours, weekends, statutory holidays and 调休 working days."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from pipeline.config import WorkHours
from pipeline.core.worktime import add_business_seconds, business_seconds_between, is_work_time, is_workday

CST = timezone(timedelta(hours=8))
HOURS = WorkHours()


def t(y, mo, d, h=0, mi=0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=CST)


def test_friday_evening_question_is_due_on_monday():
    # 17:55 Friday + 2 work hours: 5 minutes on Friday, 1h55 on Monday.
    assert add_business_seconds(t(2026, 3, 6, 17, 55), 7200, HOURS) == t(2026, 3, 9, 10, 55)
    assert business_seconds_between(t(2026, 3, 6, 17, 55), t(2026, 3, 9, 9, 0), HOURS) == 300


def test_weekend_and_night_start_from_the_next_working_morning():
    assert add_business_seconds(t(2026, 3, 7, 11, 0), 600, HOURS) == t(2026, 3, 9, 9, 10)
    assert add_business_seconds(t(2026, 3, 3, 22, 0), 600, HOURS) == t(2026, 3, 4, 9, 10)
    assert business_seconds_between(t(2026, 3, 7, 0, 0), t(2026, 3, 9, 0, 0), HOURS) == 0


def test_adjusted_working_saturday_counts_and_the_holiday_does_not():
    # 2026-02-14 is a Saturday worked for the Spring Festival (调休); 02-15 to 02-23 are off.
    assert is_workday(datetime(2026, 2, 14).date()) and not is_workday(datetime(2026, 2, 16).date())
    assert is_work_time(t(2026, 2, 14, 10, 0), HOURS)
    assert add_business_seconds(t(2026, 2, 13, 17, 30), 7200, HOURS) == t(2026, 2, 14, 10, 30)
    assert add_business_seconds(t(2026, 2, 14, 17, 30), 7200, HOURS) == t(2026, 2, 24, 10, 30)
    assert business_seconds_between(t(2026, 2, 14, 17, 0), t(2026, 2, 24, 10, 0), HOURS) == 7200


def test_holidays_ignored_when_the_calendar_is_off():
    plain = WorkHours(use_holiday_calendar=False)
    assert not is_work_time(t(2026, 2, 14, 10, 0), plain)       # a Saturday is a Saturday
    assert is_work_time(t(2026, 2, 17, 10, 0), plain)           # and the festival a Tuesday
    assert add_business_seconds(t(2026, 2, 14, 17, 30), 7200, plain) == t(2026, 2, 16, 11, 0)


def test_may_day_and_its_working_saturday():
    # 2026-05-01..05-05 off, Saturday 05-09 worked.
    assert add_business_seconds(t(2026, 4, 30, 17, 0), 7200, HOURS) == t(2026, 5, 6, 10, 0)
    assert is_work_time(t(2026, 5, 9, 9, 30), HOURS)


@pytest.mark.parametrize("start", [t(2026, 3, 6, 17, 55), t(2026, 2, 13, 8, 0), t(2026, 9, 30, 12, 0),
                                   t(2026, 2, 14, 23, 59)])
@pytest.mark.parametrize("seconds", [1, 599, 7200, 32400, 100_000])
def test_adding_and_measuring_agree(start, seconds):
    end = add_business_seconds(start, seconds, HOURS)
    assert business_seconds_between(start, end, HOURS) == seconds


def test_other_offsets_are_read_in_the_work_timezone():
    utc = datetime(2026, 3, 6, 9, 55, tzinfo=timezone.utc)     # 17:55 in Shanghai
    due = add_business_seconds(utc, 7200, HOURS)
    assert due == t(2026, 3, 9, 10, 55) and due.tzinfo == timezone.utc
