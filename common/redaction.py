"""Remove payment card and bank account numbers from chat text before it is stored.

Imported by the Rasa process (``.venv-rasa``: every channel redacts a message before
Rasa sees it) as well as the API and the dashboard's ingester; it needs only the
standard library and ``python-stdnum`` (installed in both environments)::

    from common.redaction import redact

    redact("my card is 4111 1111 1111 1111")  # "my card is [redacted card number]"

Finding a candidate is ours (what people type between the digits); deciding whether
it is a number is ``python-stdnum``'s (``luhn``, ``iban``, ``us.rtn``). What is
removed (and what is deliberately kept) is listed in ``docs/dashboard.md`` and
``docs/security.md``:

* **Card numbers**: 13 to 19 digits that pass the Luhn check, alone or in groups
  separated by any run of spaces (the non-breaking and thin ones included, as
  phones and word processors insert them), dots or dashes.
* **IBANs**: a country code, two check digits and the country's letters and digits,
  separated the same way, that pass ``stdnum.iban`` (registry format and mod-97).
* **US bank accounts**: near a word such as "account", "acct", "routing", "ABA" or
  "bank", a 9-digit routing number (``stdnum.us.rtn``), or any run of 6 to 17 digits
  (an account number).

Never touched: GUIDs (tenant, subscription and order ids), numbers glued to letters
(invoice numbers such as ``G000024135``), amounts (``$1,234.56``), dates and short
numbers (seat counts, quantities).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from stdnum import iban as stdnum_iban
from stdnum import luhn, numdb
from stdnum.us import rtn

CARD = "[redacted card number]"
IBAN = "[redacted IBAN]"
BANK_ACCOUNT = "[redacted bank account]"

PLACEHOLDERS: dict[str, str] = {
    "card": CARD,
    "iban": IBAN,
    "bank_account": BANK_ACCOUNT,
}

CARD_MIN_DIGITS, CARD_MAX_DIGITS = 13, 19
IBAN_MIN, IBAN_MAX = 15, 34
ACCOUNT_MIN_DIGITS, ACCOUNT_MAX_DIGITS = 6, 17
BANK_WORD_WINDOW = 40  # characters between the keyword and the number

# What people put between the digits of a card number or an IBAN: any whitespace
# (`\s` covers the no-break, thin and ideographic spaces), the zero-width ones that
# `\s` does not, dots, and every kind of dash; repeated or mixed.
_SPACES = r"\s\u200b\u2060\ufeff"
_DASHES = r"\-\u2010-\u2015\u2212\ufe58\ufe63\uff0d"
_DOTS = r".\u2024\uff0e"
_SEP = f"[{_SPACES}{_DASHES}{_DOTS}]"
# Bank account numbers: no dots, so that an amount such as 1234567.89 stays one.
_ACCOUNT_SEP = f"[{_SPACES}{_DASHES}]"

_GUID = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE
)
# Digits in groups joined by separators, not glued to a letter or digit. Each
# repetition takes at least one digit and the classes do not overlap, so the match
# is linear in the length of the text.
_DIGIT_RUN = re.compile(rf"(?<!\w)\d+(?:{_SEP}+\d+)*(?!\w)")
_ACCOUNT_RUN = re.compile(rf"(?<!\w)\d+(?:{_ACCOUNT_SEP}+\d+)*(?!\w)")
_IBAN_START = re.compile(rf"(?<!\w)[A-Za-z]{{2}}{_SEP}*\d{{2}}")
_IBAN_PART = re.compile(rf"{_SEP}*([0-9A-Za-z])")
_DIGITS = re.compile(r"\d+")
_BANK_WORDS = re.compile(
    r"\b(?:account|acct|a/c|routing|aba|rtn|bank|checking|savings|wire|ach)\w*",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Redaction:
    """One removed span of the original text and what replaced it."""

    start: int
    end: int
    kind: str  # "card", "iban" or "bank_account"

    @property
    def placeholder(self) -> str:
        return PLACEHOLDERS[self.kind]


def find_redactions(text: str) -> list[Redaction]:
    """Every span of ``text`` that ``redact`` removes, in order, not overlapping."""
    if not text:
        return []
    protected = [(m.start(), m.end()) for m in _GUID.finditer(text)]
    checks = _Checks()
    found: list[Redaction] = []
    found.extend(_ibans(text, protected, checks))
    taken = protected + [(r.start, r.end) for r in found]
    found.extend(_cards(text, taken, checks))
    taken = protected + [(r.start, r.end) for r in found]
    found.extend(_bank_accounts(text, taken))
    found.sort(key=lambda r: r.start)
    return found


def redact(text: str) -> str:
    """``text`` with card numbers, IBANs and bank account numbers replaced."""
    if not text:
        return text
    return apply_redactions(text, find_redactions(text))


def apply_redactions(text: str, redactions: Iterable[Redaction]) -> str:
    """Replace each span with its placeholder."""
    parts: list[str] = []
    position = 0
    for item in redactions:
        parts.append(text[position : item.start])
        parts.append(item.placeholder)
        position = item.end
    parts.append(text[position:])
    return "".join(parts)


def shift_offset(offset: int, redactions: Iterable[Redaction]) -> int:
    """Where character ``offset`` of the original text is in the redacted text.

    An offset inside a removed span moves to the end of its placeholder.
    """
    delta = 0
    for item in redactions:
        if offset <= item.start:
            break
        if offset < item.end:
            return item.start + delta + len(item.placeholder)
        delta += len(item.placeholder) - (item.end - item.start)
    return offset + delta


# --------------------------------------------------------------------------- finders


class _Checks:
    """stdnum's checks, each candidate asked once per text: a message of the same
    few digits repeated thousands of times costs a handful of checks, not one per
    position. Kept per call, so no number outlives its message in memory."""

    def __init__(self) -> None:
        self._luhn: dict[str, bool] = {}
        self._iban: dict[str, bool] = {}

    def card(self, digits: str) -> bool:
        known = self._luhn.get(digits)
        if known is None:
            known = self._luhn[digits] = luhn.is_valid(digits)
        return known

    def iban(self, candidate: str) -> bool:
        known = self._iban.get(candidate)
        if known is None:
            known = self._iban[candidate] = stdnum_iban.is_valid(candidate)
        return known


def _iban_country(code: str) -> bool:
    """Whether the IBAN registry (stdnum's) has this country code."""
    return bool(_IBAN_REGISTRY.info(code.upper())[0][1])


_IBAN_REGISTRY = numdb.get("iban")


def _ascii_digits(text: str) -> str:
    """The digits of ``text`` as ASCII (a full-width ４ is a 4 to a card reader)."""
    return "".join(str(unicodedata.digit(char)) for char in text if char.isdigit())


def _overlaps(start: int, end: int, spans: Iterable[tuple[int, int]]) -> bool:
    return any(start < s_end and s_start < end for s_start, s_end in spans)


def _groups(match: re.Match[str]) -> list[tuple[int, int, str]]:
    """(start, end, ASCII digits) of each digit group inside a run."""
    return [
        (match.start() + m.start(), match.start() + m.end(), _ascii_digits(m.group()))
        for m in _DIGITS.finditer(match.group())
    ]


def _cards(
    text: str, taken: list[tuple[int, int]], checks: _Checks
) -> Iterator[Redaction]:
    for run in _DIGIT_RUN.finditer(text):
        groups = _groups(run)
        i = 0
        while i < len(groups):
            hit = _card_from(groups, i, checks)
            if hit is None or _overlaps(groups[i][0], groups[hit - 1][1], taken):
                i += 1
                continue
            yield Redaction(groups[i][0], groups[hit - 1][1], "card")
            i = hit


def _card_from(
    groups: list[tuple[int, int, str]], i: int, checks: _Checks
) -> int | None:
    """The end (exclusive group index) of the longest run of whole groups from
    ``i`` that is a card number, or None. Windows stop at 19 digits, so a text of
    thousands of spaced digits costs a few checks per group, not a check per pair."""
    windows: list[tuple[int, str]] = []
    digits = ""
    for j in range(i, len(groups)):
        digits += groups[j][2]
        if len(digits) > CARD_MAX_DIGITS:
            break
        if len(digits) >= CARD_MIN_DIGITS:
            windows.append((j + 1, digits))
    for end, candidate in reversed(windows):
        if checks.card(candidate):
            return end
    return None


def _ibans(
    text: str, taken: list[tuple[int, int]], checks: _Checks
) -> Iterator[Redaction]:
    position = 0
    while True:
        match = _IBAN_START.search(text, position)
        if match is None:
            return
        if not _iban_country(match.group()[:2]):
            position = match.start() + 1
            continue
        end = _iban_at(text, match.start(), checks)
        if end is not None and not _overlaps(match.start(), end, taken):
            yield Redaction(match.start(), end, "iban")
            position = end
        else:
            position = match.start() + 1


def _iban_at(text: str, start: int, checks: _Checks) -> int | None:
    """End of a valid IBAN starting at ``start`` (separators allowed), or None."""
    chars: list[str] = []
    ends: list[int] = []  # text position after each collected character
    position = start
    while len(chars) < IBAN_MAX:
        part = _IBAN_PART.match(text, position)
        if part is None:
            break
        chars.append(part.group(1).upper())
        ends.append(part.end())
        position = part.end()
    for length in range(len(chars), IBAN_MIN - 1, -1):
        end = ends[length - 1]
        # The IBAN must not stop inside a longer word or number.
        if end < len(text) and text[end].isalnum():
            continue
        if checks.iban("".join(chars[:length])):
            return end
    return None


def _routing_number(digits: str) -> bool:
    return rtn.is_valid(digits) and digits.strip("0") != ""


def _near_bank_word(text: str, start: int, end: int) -> bool:
    window = text[max(0, start - BANK_WORD_WINDOW) : end + BANK_WORD_WINDOW]
    return _BANK_WORDS.search(window) is not None


def _looks_like_amount(text: str, start: int, end: int) -> bool:
    before = text[max(0, start - 1) : start]
    after = text[end : end + 2]
    return before in {"$", "€", "£", "¥"} or bool(re.fullmatch(r"[.,]\d", after))


def _bank_accounts(text: str, taken: list[tuple[int, int]]) -> Iterator[Redaction]:
    for run in _ACCOUNT_RUN.finditer(text):
        groups = _groups(run)
        digits = [group[2] for group in groups]
        if (
            len(groups) >= 2
            and _routing_number(digits[0])
            and all(4 <= len(d) <= ACCOUNT_MAX_DIGITS for d in digits[1:])
            and not _overlaps(run.start(), run.end(), taken)
        ):
            # A routing number followed by an account number, keyword or not.
            yield Redaction(run.start(), run.end(), "bank_account")
            continue
        whole = "".join(digits)
        spans = (
            [(run.start(), run.end(), whole)]
            if ACCOUNT_MIN_DIGITS <= len(whole) <= ACCOUNT_MAX_DIGITS
            else groups
        )
        for start, end, number in spans:
            if not (ACCOUNT_MIN_DIGITS <= len(number) <= ACCOUNT_MAX_DIGITS):
                continue
            if _overlaps(start, end, taken) or _looks_like_amount(text, start, end):
                continue
            if _near_bank_word(text, start, end):
                yield Redaction(start, end, "bank_account")
