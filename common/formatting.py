"""How money, dates and counts are written, per language (Babel).

Amounts keep their ISO currency code (partners bill in several currencies) and are
shown with the currency's own minor unit (two decimals for USD, none for JPY), rounded
half up. Dates are written with the month's name, so `03/04/2025` is never ambiguous.
Words around the numbers ("3 days", "a and b") come from the text catalogue.

Babel and the standard library only: the actions, the API's PDFs and the code inside
Rasa format the same way.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as babel_date
from babel.dates import format_time as babel_time
from babel.lists import format_list
from babel.numbers import format_currency, format_decimal, get_currency_precision
from babel.plural import PluralRule

from common.texts import DEFAULT_LANGUAGE, catalogue

MONEY_PATTERN = "#,##0.00 ¤¤"  # 1,234.50 USD: the amount, then the ISO code
# A language's own currency, written as its readers write it: 12,800円 (no decimals:
# the yen has none). Other currencies keep the ISO code in every language.
HOME_CURRENCY_PATTERNS = {("ja", "JPY"): "#,##0円"}
DATE_PATTERNS = {"en": "d MMMM y"}  # others: Babel's long date (2026年11月8日)
# A date with its weekday: "Sunday 8 November 2026"; Japanese 2026年11月8日(日).
WEEKDAY_DATE_PATTERNS = {"ja": "y年M月d日(E)"}
_PLURALS = {"en": PluralRule({"one": "n is 1"})}


def zone(tz_name: str) -> ZoneInfo:
    """The time zone `tz_name`, or UTC when it is unknown."""
    try:
        return ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_today(now: datetime, tz_name: str) -> date:
    """The date it is at `now` in the zone `tz_name` (UTC if the zone is unknown)."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    return now.astimezone(zone(tz_name)).date()


def _rounded(amount: Any, currency: str) -> Decimal:
    digits = get_currency_precision(currency.upper())
    return Decimal(amount).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)


def format_money(amount: Any, currency: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """`1234.5`, `EUR` -> `1,234.50 EUR`; negative amounts keep their minus sign.
    Japanese yen in Japanese: `12,800円`."""
    code = currency.upper()
    home = HOME_CURRENCY_PATTERNS.get((lang, code))
    if home is not None:
        return format_decimal(_rounded(amount, code), format=home, locale=lang)
    return format_currency(
        _rounded(amount, code), code, format=MONEY_PATTERN, locale=lang
    )


def format_change(amount: Any, currency: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """A signed change: `+140.23 USD`, `-81.45 GBP`, `0.00 USD`."""
    text = format_money(amount, currency, lang)
    return f"+{text}" if Decimal(amount) > 0 else text


def format_price(amount: Any, lang: str = DEFAULT_LANGUAGE) -> str:
    """A unit price without its currency: `37.80`, `1,069.00`."""
    value = Decimal(amount).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return format_decimal(value, format="#,##0.00", locale=lang)


def format_date(day: date, lang: str = DEFAULT_LANGUAGE) -> str:
    """`2025-03-04` -> `4 March 2025` (Japanese: `2025年3月4日`)."""
    return babel_date(day, DATE_PATTERNS.get(lang, "long"), locale=lang)


def format_weekday_date(day: date, lang: str = DEFAULT_LANGUAGE) -> str:
    """`Monday 16 November 2026` (Japanese: `2026年11月16日(月)`)."""
    pattern = WEEKDAY_DATE_PATTERNS.get(lang)
    if pattern is not None:
        return babel_date(day, pattern, locale=lang)
    return f"{babel_date(day, 'EEEE', locale=lang)} {format_date(day, lang)}"


def format_period(start: date, end: date, lang: str = DEFAULT_LANGUAGE) -> str:
    """A billing period: `1 March 2025 to 31 March 2025`."""
    return catalogue(lang).text(
        "period.range", start=format_date(start, lang), end=format_date(end, lang)
    )


def format_moment(moment: datetime, tz_name: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """A point in time in the partner's zone, with the hour and the zone:
    `Monday 16 November 2026 at 10:00 PST`."""
    local = moment.astimezone(zone(tz_name))
    return catalogue(lang).text(
        "moment",
        day=format_weekday_date(local.date(), lang),
        time=babel_time(local.time(), "HH:mm", locale=lang),
        zone=local.tzname() or tz_name,
    )


def plural(count: int, unit: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """`1 day`, `3 days`: `unit.<unit>.<one|other>` from the catalogue."""
    rule = _PLURALS.get(lang)
    form = rule(count) if rule is not None else "other"
    texts = catalogue(lang).texts
    key = f"unit.{unit}.{form}"
    if key not in texts:
        key = f"unit.{unit}.other"
    return catalogue(lang).text(key, n=f"{count:,}")


def join_words(
    words: list[str], last: str = "and", lang: str = DEFAULT_LANGUAGE
) -> str:
    """`['a']` -> `a`; `['a', 'b', 'c']` -> `a, b and c` (`last`: and / or)."""
    if len(words) <= 1:
        return "".join(words)
    texts = catalogue(lang)
    return texts.text(
        f"list.{last}",
        head=texts.text("list.separator").join(words[:-1]),
        tail=words[-1],
    )


def language_names(
    codes: list[str], last: str = "and", lang: str = DEFAULT_LANGUAGE
) -> str:
    """Languages named in `lang`, as a list: `["en", "ja"]` in German is "Englisch
    und Japanisch" (`last="or"`: "Englisch oder Japanisch"). Babel's CLDR names and
    list patterns, so a catalogue that holds only a few texts needs no words of its
    own for this."""
    try:
        locale = Locale.parse(lang)
    except (ValueError, UnknownLocaleError):
        locale = Locale.parse(DEFAULT_LANGUAGE)
    names = [locale.languages.get(code, code) for code in codes]
    if not names:
        return ""
    if last == "or":
        return format_list(names, "or", locale=locale)
    return format_list(names, "standard", locale=locale)


def bullet_list(lines: list[str]) -> str:
    """Lines as a Markdown list, one `- ` item per line."""
    return "\n".join(f"- {line}" for line in lines)
