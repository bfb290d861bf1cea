"""How amounts, dates and counts are written (common/formatting.py, Babel)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from common.formatting import (
    format_date,
    format_moment,
    format_money,
    format_period,
    join_words,
    language_names,
    local_today,
    plural,
)


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (Decimal("1234.5"), "eur", "1,234.50 EUR"),
        (Decimal("0"), "USD", "0.00 USD"),
        (Decimal("-50.005"), "GBP", "-50.01 GBP"),
        (Decimal("1000000"), "JPY", "1,000,000 JPY"),  # yen: no minor unit
        (Decimal("2.5"), "JPY", "3 JPY"),  # rounded half up
    ],
)
def test_money_keeps_the_currency_code(
    amount: Decimal, currency: str, expected: str
) -> None:
    assert format_money(amount, currency) == expected


def test_dates_name_the_month() -> None:
    assert format_date(date(2025, 3, 4)) == "4 March 2025"
    assert (
        format_period(date(2025, 3, 1), date(2025, 3, 31))
        == "1 March 2025 to 31 March 2025"
    )


def test_today_is_the_partners_date() -> None:
    late_evening_utc = datetime(2025, 3, 31, 23, 30, tzinfo=timezone.utc)
    assert local_today(late_evening_utc, "Europe/Berlin") == date(2025, 4, 1)
    assert local_today(late_evening_utc, "America/New_York") == date(2025, 3, 31)
    assert local_today(late_evening_utc, "Not/AZone") == date(2025, 3, 31)


def test_a_moment_has_its_hour_and_time_zone() -> None:
    moment = datetime(2026, 12, 8, 22, 32, tzinfo=timezone.utc)
    assert format_moment(moment, "America/Los_Angeles") == (
        "Tuesday 8 December 2026 at 14:32 PST"
    )
    assert format_moment(moment, "Europe/London") == (
        "Tuesday 8 December 2026 at 22:32 GMT"
    )


def test_counts_and_lists_read_as_english() -> None:
    assert plural(1, "day") == "1 day"
    assert plural(2, "seat") == "2 seats"
    assert plural(1200, "seat") == "1,200 seats"
    assert join_words(["a"]) == "a"
    assert join_words(["a", "b", "c"], "or") == "a, b or c"


@pytest.mark.parametrize(
    ("codes", "last", "lang", "expected"),
    [
        (["en"], "and", "en", "English"),
        (["en", "ja"], "and", "de", "Englisch und Japanisch"),
        (["en", "ja"], "or", "fr", "anglais ou japonais"),
        (["en", "ja"], "or", "ja", "英語または日本語"),
        (["en", "ja"], "and", "xx-nonsense", "English and Japanese"),  # unknown: en
        ([], "and", "en", ""),
    ],
)
def test_languages_are_named_in_the_language_of_the_text(
    codes: list[str], last: str, lang: str, expected: str
) -> None:
    assert language_names(codes, last, lang) == expected


def test_japanese_yen_has_no_decimals_and_other_currencies_keep_their_code() -> None:
    from common.formatting import format_change, format_money

    assert format_money(12800, "JPY", "ja") == "12,800円"
    assert format_money("1234.5", "JPY", "ja") == "1,235円"  # rounded half up
    assert format_change(-3000, "JPY", "ja") == "-3,000円"
    assert format_money("1234.5", "USD", "ja") == "1,234.50 USD"
    assert format_money(12800, "JPY", "en") == "12,800 JPY"


def test_japanese_dates_have_the_era_free_long_form_and_japanese_weekdays() -> None:
    from datetime import date, datetime, timezone

    from common.formatting import (
        format_date,
        format_moment,
        format_period,
        format_weekday_date,
    )

    assert format_date(date(2026, 11, 8), "ja") == "2026年11月8日"
    assert format_weekday_date(date(2026, 11, 8), "ja") == "2026年11月8日(日)"
    assert format_weekday_date(date(2026, 11, 9), "ja") == "2026年11月9日(月)"
    assert (
        format_period(date(2026, 11, 1), date(2026, 11, 30), "ja")
        == "2026年11月1日～2026年11月30日"
    )
    moment = datetime(2026, 11, 16, 1, 0, tzinfo=timezone.utc)
    assert (
        format_moment(moment, "Asia/Tokyo", "ja") == "2026年11月16日(月) 10:00（JST）"
    )
    assert format_weekday_date(date(2026, 11, 8), "en") == "Sunday 8 November 2026"
