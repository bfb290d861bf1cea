"""Billing periods in words ("last month", "October", "Q3 2026", "two months ago")
read as date ranges.

The `billing_period` entity comes from the spaCy pipeline (bot/spacy_pipeline.py) as
the user typed it. `parse_billing_period(text, today=...)` turns it into a `Period`
relative to `today`, with no clock and no I/O, so it is easy to test. A period the
user names without a year ("October", "Q1") is the most recent one that has started;
"next month" or "Q1 2031" are periods in the future, which the caller answers as such.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal, Optional

PeriodKind = Literal["month", "quarter", "year", "range", "week"]

MONTHS: dict[str, int] = {}
for _number in range(1, 13):
    _full = calendar.month_name[_number].lower()
    MONTHS[_full] = _number
    MONTHS[_full[:3]] = _number
MONTHS["sept"] = 9

WORD_NUMBERS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "a": 1,
    "an": 1,
}
ORDINAL_QUARTERS = {
    "first": 1,
    "1st": 1,
    "second": 2,
    "2nd": 2,
    "third": 3,
    "3rd": 3,
    "fourth": 4,
    "4th": 4,
    "last": 4,
}
PAST_WORDS = ("last", "previous", "prior", "past")
THIS_WORDS = ("this", "current")
NEXT_WORDS = ("next", "coming")
MAX_MONTHS_BACK = 120  # "the past 500 months" is not a billing question


class PeriodError(ValueError):
    """The text is not a billing period this parser understands."""


@dataclass(frozen=True)
class Period:
    """A range of days, inclusive, with a label to write back to the user."""

    start: date
    end: date
    label: str
    kind: PeriodKind

    def is_future(self, today: date) -> bool:
        """The whole period is after `today`."""
        return self.start > today

    def is_open(self, today: date) -> bool:
        """The period has started but not ended on `today`."""
        return self.start <= today <= self.end

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end


# --------------------------------------------------------------------------- helpers


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def add_months(first_of_month: date, months: int) -> date:
    """The first day of the month `months` away from `first_of_month`'s month."""
    year, month0 = divmod(first_of_month.month - 1 + months, 12)
    return date(first_of_month.year + year, month0 + 1, 1)


def month_period(year: int, month: int) -> Period:
    start = date(year, month, 1)
    return Period(start, month_end(start), f"{start:%B %Y}", "month")


def quarter_period(year: int, quarter: int) -> Period:
    start = date(year, 3 * (quarter - 1) + 1, 1)
    end = month_end(add_months(start, 2))
    return Period(
        start, end, f"Q{quarter} {year} ({start:%B} to {end:%B %Y})", "quarter"
    )


def year_period(year: int) -> Period:
    return Period(date(year, 1, 1), date(year, 12, 31), f"the year {year}", "year")


def months_range(first: date, last: date) -> Period:
    """Whole months from `first`'s month to `last`'s month."""
    start, end = first.replace(day=1), month_end(last)
    label = (
        f"{start:%B %Y} to {end:%B %Y}"
        if (start.year, start.month) != (end.year, end.month)
        else f"{start:%B %Y}"
    )
    return Period(start, end, label, "range")


def _year(text: str) -> int:
    """`2026`, `'26`, `26` -> 2026."""
    digits = text.lstrip("'\u2019")
    if len(digits) == 2:
        return 2000 + int(digits)
    return int(digits)


def _latest_started(candidates: list[Period], today: date) -> Period:
    """Of `candidates` (one per year, oldest first), the newest that has started."""
    started = [p for p in candidates if p.start <= today]
    return started[-1] if started else candidates[0]


def _count(word: str) -> int:
    if word.isdigit():
        return int(word)
    if word in WORD_NUMBERS:
        return WORD_NUMBERS[word]
    raise PeriodError(f"not a number: {word!r}")


# --------------------------------------------------------------------------- parsing

_YEAR = r"(?:(?:19|20)\d\d|['\u2019]\d\d)"
_MONTH = r"(?P<month>[a-z]+)\.?"
_PATTERNS: list[tuple[str, str]] = [
    # 2026-10, 2026/10
    ("ym", r"(?P<year>(?:19|20)\d\d)[-/](?P<month_number>0?[1-9]|1[0-2])"),
    # 10/2026, 10-2026
    ("my", r"(?P<month_number>0?[1-9]|1[0-2])[-/](?P<year>(?:19|20)\d\d)"),
    # October, Oct 2026, October of 2026, oct-2026, May '26
    ("month", rf"{_MONTH}(?:\s*(?:of\s+|-|,\s*)?(?P<year>{_YEAR}|\d\d))?"),
    # Q3, Q3 2026, Q3-2026, 2026 Q3, first quarter (of 2026)
    ("quarter", rf"q(?P<quarter>[1-4])(?:\s*[-/]?\s*(?P<year>{_YEAR}))?"),
    ("year_quarter", rf"(?P<year>{_YEAR})\s*q(?P<quarter>[1-4])"),
    (
        "ordinal_quarter",
        rf"(?:the\s+)?(?P<ordinal>first|1st|second|2nd|third|3rd|fourth|4th)\s+quarter"
        rf"(?:\s+(?:of\s+)?(?P<year>{_YEAR}))?",
    ),
    # 2026, in 2026, for 2025
    ("year", rf"(?:(?:in|for|during|of|since|throughout)\s+)?(?P<year>{_YEAR})"),
    ("calendar_year", r"cy\s*['\u2019]?(?P<year>(?:19|20)?\d\d)"),
    ("fiscal_year", r"fy\s*['\u2019]?(?:(?:19|20)?\d\d)"),
    (
        "to_date",
        r"(?P<unit>year|month|quarter)[\s-]+to[\s-]+date|(?P<abbr>ytd|mtd|qtd)",
    ),
    ("before_last", r"(?:the\s+)?month\s+before\s+last"),
    (
        "relative_cycle",
        r"(?P<rel>[a-z]+)\s+(?:billing|invoice|invoicing)\s+(?:cycle|period|month|run)",
    ),
    (
        "relative_n",
        r"(?P<rel>[a-z]+)\s+(?P<n>\d+|[a-z]+)\s+(?P<unit>months?|quarters?|years?|weeks?)",
    ),
    ("relative", r"(?P<rel>[a-z]+)\s+(?P<unit>month|quarter|year|week)"),
    # two months ago, 2 months back, a year ago: the one period that far back
    (
        "ago",
        r"(?P<n>\d+|[a-z]+)\s+(?P<unit>months?|quarters?|years?|weeks?)"
        r"\s+(?:ago|back|earlier)",
    ),
]
_COMPILED = [(name, re.compile(rf"^{pattern}$")) for name, pattern in _PATTERNS]
_LEADING = re.compile(r"^(?:(?:from|for|of|during)\s+)?(?:the\s+)?")


def normalise(text: str) -> str:
    """Lower-case, single spaces, no surrounding punctuation, no leading preposition
    or article ("from last year" is "last year")."""
    cleaned = re.sub(r"\s+", " ", text.strip().lower())
    cleaned = cleaned.strip(" ?!.,;:")
    return _LEADING.sub("", cleaned)


def parse_billing_period(text: str, *, today: date) -> Period:
    """Read `text` ("last month", "October", "Q3 2026", "2026-10") relative to `today`.

    Raises:
        PeriodError: The text is not a period this function understands (including
            fiscal years, which differ from company to company).
    """
    cleaned = normalise(text)
    if not cleaned:
        raise PeriodError("empty period")
    for name, pattern in _COMPILED:
        match = pattern.match(cleaned)
        if match is None:
            continue
        period = _build(name, match.groupdict(), today)
        if period is not None:
            return period
    raise PeriodError(f"not a billing period: {text!r}")


def parse_billing_periods(texts: list[str], *, today: date) -> Period:
    """Several `billing_period` values in one message ("September and October"):
    the range from the earliest start to the latest end."""
    periods = [parse_billing_period(text, today=today) for text in texts]
    if not periods:
        raise PeriodError("no period")
    if len(periods) == 1:
        return periods[0]
    start = min(p.start for p in periods)
    end = max(p.end for p in periods)
    labels = " and ".join(p.label for p in sorted(periods, key=lambda p: p.start))
    return Period(start, end, labels, "range")


def _build(
    name: str, groups: dict[str, Optional[str]], today: date
) -> Optional[Period]:
    this_month = today.replace(day=1)
    year_text = groups.get("year")
    year = _year(year_text) if year_text else None

    if name in ("ym", "my"):
        return month_period(int(groups["year"] or 0), int(groups["month_number"] or 0))

    if name == "month":
        word = (groups.get("month") or "").rstrip(".")
        if word not in MONTHS:
            return None
        month = MONTHS[word]
        if year is not None:
            return month_period(year, month)
        return _latest_started(
            [month_period(today.year - 1, month), month_period(today.year, month)],
            today,
        )

    if name in ("quarter", "year_quarter", "ordinal_quarter"):
        quarter = (
            ORDINAL_QUARTERS[groups["ordinal"] or ""]
            if name == "ordinal_quarter"
            else int(groups["quarter"] or 0)
        )
        if year is not None:
            return quarter_period(year, quarter)
        return _latest_started(
            [
                quarter_period(today.year - 1, quarter),
                quarter_period(today.year, quarter),
            ],
            today,
        )

    if name == "year":
        assert year is not None
        return year_period(year)

    if name == "calendar_year":
        digits = groups["year"] or ""
        return year_period(int(digits) if len(digits) == 4 else 2000 + int(digits))

    if name == "fiscal_year":
        raise PeriodError("fiscal years differ between companies")

    if name == "to_date":
        unit = (
            groups.get("unit")
            or {"ytd": "year", "mtd": "month", "qtd": "quarter"}[
                groups.get("abbr") or ""
            ]
        )
        if unit == "year":
            start = date(today.year, 1, 1)
        elif unit == "quarter":
            start = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
        else:
            start = this_month
        return Period(
            start,
            today,
            f"{unit} to date ({start.day} {start:%B %Y} to today)",
            "range",
        )

    if name == "before_last":
        first = add_months(this_month, -2)
        return month_period(first.year, first.month)

    if name == "relative_cycle":
        return _relative(groups.get("rel") or "", "month", 1, today, single=True)

    if name == "relative_n":
        count = _count(groups.get("n") or "")
        unit = (groups.get("unit") or "").rstrip("s")
        return _relative(groups.get("rel") or "", unit, count, today, single=False)

    if name == "relative":
        return _relative(
            groups.get("rel") or "", groups.get("unit") or "", 1, today, True
        )

    if name == "ago":
        return _ago(
            _count(groups.get("n") or ""), (groups.get("unit") or "").rstrip("s"), today
        )
    return None


def _ago(count: int, unit: str, today: date) -> Period:
    """'two months ago': the month two before this one (not a range up to today)."""
    months = count * {"quarter": 3, "year": 12}.get(unit, 1)
    if count < 1 or months > MAX_MONTHS_BACK:
        raise PeriodError(f"{count} {unit}s ago is not a billing period")
    if unit == "week":
        monday = today - timedelta(days=today.weekday()) - timedelta(days=7 * count)
        label = (
            "last week" if count == 1 else f"the week of {monday.day} {monday:%B %Y}"
        )
        return Period(monday, monday + timedelta(days=6), label, "week")
    if unit == "year":
        return year_period(today.year - count)
    if unit == "quarter":
        start = add_months(
            date(today.year, 3 * ((today.month - 1) // 3) + 1, 1), -3 * count
        )
        return quarter_period(start.year, (start.month - 1) // 3 + 1)
    first = add_months(today.replace(day=1), -count)
    return month_period(first.year, first.month)


def _relative(
    rel: str, unit: str, count: int, today: date, single: bool
) -> Optional[Period]:
    """'last month', 'this quarter', 'next year', 'past 3 months', 'last 2 quarters'."""
    if count < 1 or count > MAX_MONTHS_BACK:
        raise PeriodError(f"{count} {unit}s is not a billing period")
    this_month = today.replace(day=1)
    if unit == "week":
        monday = today - timedelta(days=today.weekday())
        if rel in THIS_WORDS:
            return Period(monday, monday + timedelta(days=6), "this week", "week")
        if rel in NEXT_WORDS:
            start = monday + timedelta(days=7)
            return Period(start, start + timedelta(days=6), "next week", "week")
        if rel in PAST_WORDS:
            start = monday - timedelta(days=7 * count)
            label = "last week" if single or count == 1 else f"the last {count} weeks"
            return Period(start, monday - timedelta(days=1), label, "week")
        return None
    months_per = {"month": 1, "quarter": 3, "year": 12}.get(unit)
    if months_per is None:
        return None
    if unit == "month":
        current_start = this_month
    elif unit == "quarter":
        current_start = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    else:
        current_start = date(today.year, 1, 1)

    def unit_period(first: date) -> Period:
        if unit == "month":
            return month_period(first.year, first.month)
        if unit == "quarter":
            return quarter_period(first.year, (first.month - 1) // 3 + 1)
        return year_period(first.year)

    if rel in THIS_WORDS:
        return unit_period(current_start)
    if rel in NEXT_WORDS:
        if single or count == 1:
            return unit_period(add_months(current_start, months_per))
        first = add_months(current_start, months_per)
        last = month_end(add_months(current_start, months_per * (count + 1) - 1))
        return Period(first, last, f"the next {count} {unit}s", "range")
    if rel in PAST_WORDS:
        if months_per * count > MAX_MONTHS_BACK:
            raise PeriodError(f"{count} {unit}s is too far back")
        if single or count == 1:
            return unit_period(add_months(current_start, -months_per))
        first = add_months(current_start, -months_per * count)
        last = month_end(add_months(current_start, -1))
        label = f"the last {count} {unit}s ({months_range(first, last).label})"
        return Period(first, last, label, "range")
    return None
