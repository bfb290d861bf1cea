"""Billing periods in words, read relative to "today" (a pure function)."""

from __future__ import annotations

from datetime import date

import pytest

from api.domain.services.periods import (
    PeriodError,
    parse_billing_period,
    parse_billing_periods,
)

TODAY = date(2026, 11, 15)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        # relative months
        ("last month", "2026-10-01", "2026-10-31"),
        ("previous month", "2026-10-01", "2026-10-31"),
        ("this month", "2026-11-01", "2026-11-30"),
        ("the month before last", "2026-09-01", "2026-09-30"),
        ("last billing cycle", "2026-10-01", "2026-10-31"),
        ("current invoice period", "2026-11-01", "2026-11-30"),
        ("past 3 months", "2026-08-01", "2026-10-31"),
        ("last three months", "2026-08-01", "2026-10-31"),
        # months by name: the latest that has started
        ("October", "2026-10-01", "2026-10-31"),
        ("november", "2026-11-01", "2026-11-30"),
        ("December", "2025-12-01", "2025-12-31"),
        ("Sept", "2026-09-01", "2026-09-30"),
        ("Oct.", "2026-10-01", "2026-10-31"),
        ("may", "2026-05-01", "2026-05-31"),
        ("Oct 2025", "2025-10-01", "2025-10-31"),
        ("October of 2025", "2025-10-01", "2025-10-31"),
        ("May '26", "2026-05-01", "2026-05-31"),
        ("oct-2026", "2026-10-01", "2026-10-31"),
        ("2026-10", "2026-10-01", "2026-10-31"),
        ("2026/3", "2026-03-01", "2026-03-31"),
        ("10/2026", "2026-10-01", "2026-10-31"),
        # quarters
        ("Q3", "2026-07-01", "2026-09-30"),
        ("Q3 2026", "2026-07-01", "2026-09-30"),
        ("q3-2026", "2026-07-01", "2026-09-30"),
        ("2026 Q2", "2026-04-01", "2026-06-30"),
        ("first quarter", "2026-01-01", "2026-03-31"),
        ("Q4", "2026-10-01", "2026-12-31"),
        ("last quarter", "2026-07-01", "2026-09-30"),
        ("last 2 quarters", "2026-04-01", "2026-09-30"),
        # years
        ("2025", "2025-01-01", "2025-12-31"),
        ("in 2025", "2025-01-01", "2025-12-31"),
        ("CY2026", "2026-01-01", "2026-12-31"),
        ("last year", "2025-01-01", "2025-12-31"),
        ("year to date", "2026-01-01", "2026-11-15"),
        ("YTD", "2026-01-01", "2026-11-15"),
        ("QTD", "2026-10-01", "2026-11-15"),
        # weeks: "this week" is the current week, Monday to Sunday
        ("last week", "2026-11-02", "2026-11-08"),
        ("this week", "2026-11-09", "2026-11-15"),
        # so far back: the one month, quarter, year or week, not a range to today
        ("two months ago", "2026-09-01", "2026-09-30"),
        ("2 months back", "2026-09-01", "2026-09-30"),
        ("a month ago", "2026-10-01", "2026-10-31"),
        ("13 months ago", "2025-10-01", "2025-10-31"),
        ("one quarter ago", "2026-07-01", "2026-09-30"),
        ("a year ago", "2025-01-01", "2025-12-31"),
        ("3 weeks earlier", "2026-10-19", "2026-10-25"),
        # a leading preposition or article is not part of the period
        ("from last year", "2025-01-01", "2025-12-31"),
        ("the first quarter", "2026-01-01", "2026-03-31"),
        ("the last 3 months", "2026-08-01", "2026-10-31"),
        ("for October", "2026-10-01", "2026-10-31"),
    ],
)
def test_periods(text: str, start: str, end: str) -> None:
    period = parse_billing_period(text, today=TODAY)
    assert (period.start.isoformat(), period.end.isoformat()) == (start, end)


@pytest.mark.parametrize(
    ("text", "future", "open_"),
    [
        ("next month", True, False),
        ("December 2026", True, False),
        ("Q1 2031", True, False),
        ("next year", True, False),
        ("next 2 months", True, False),
        ("this month", False, True),
        ("Q4 2026", False, True),
        ("this year", False, True),
        ("last month", False, False),
    ],
)
def test_future_and_open_periods(text: str, future: bool, open_: bool) -> None:
    period = parse_billing_period(text, today=TODAY)
    assert period.is_future(TODAY) is future
    assert period.is_open(TODAY) is open_


def test_a_bare_month_early_in_the_year_is_last_years() -> None:
    period = parse_billing_period("November", today=date(2027, 2, 3))
    assert period.start == date(2026, 11, 1)
    assert period.label == "November 2026"


def test_labels() -> None:
    assert parse_billing_period("Q3", today=TODAY).label == (
        "Q3 2026 (July to September 2026)"
    )
    assert parse_billing_period("2025", today=TODAY).label == "the year 2025"
    assert parse_billing_period("last 3 months", today=TODAY).label == (
        "the last 3 months (August 2026 to October 2026)"
    )


def test_a_period_so_far_back_is_named_for_what_it_is() -> None:
    assert parse_billing_period("two months ago", today=TODAY).label == (
        "September 2026"
    )
    assert parse_billing_period("3 weeks ago", today=TODAY).label == (
        "the week of 19 October 2026"
    )
    assert parse_billing_period("a week ago", today=TODAY).label == "last week"


def test_several_periods_make_one_range() -> None:
    period = parse_billing_periods(["October", "September"], today=TODAY)
    assert (period.start, period.end) == (date(2026, 9, 1), date(2026, 10, 31))
    assert period.label == "September 2026 and October 2026"


@pytest.mark.parametrize(
    "text",
    [
        "FY26",
        "fy 2026",
        "blah",
        "13/2026",
        "",
        "last 500 months",
        "Smarch",
        "500 months ago",
        "40 years ago",
        "0 months ago",
        "some months ago",
    ],
)
def test_what_is_not_a_period(text: str) -> None:
    with pytest.raises(PeriodError):
        parse_billing_period(text, today=TODAY)
