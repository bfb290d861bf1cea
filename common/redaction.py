"""Remove payment card and bank account numbers from chat text before it is stored.

Standard library only, so that the Rasa process (``.venv-rasa``) can import it as well
as the API and the dashboard's ingester::

    from common.redaction import redact

    redact("my card is 4111 1111 1111 1111")  # "my card is [redacted card number]"

What is removed (and what is deliberately kept) is listed in ``docs/dashboard.md``:

* **Card numbers**: 13 to 19 digits, alone or in groups separated by single spaces or
  dashes, that pass the Luhn check.
* **IBANs**: a country code, two check digits and the country's number of letters
  and digits (spaces allowed), that pass the ISO 13616 mod-97 check.
* **US bank accounts**: near a word such as "account", "acct", "routing", "ABA" or
  "bank", a 9-digit number that passes the ABA routing checksum, or any run of 6 to
  17 digits (an account number).

Never touched: GUIDs (tenant, subscription and order ids), numbers glued to letters
(invoice numbers such as ``G000024135``), amounts (``$1,234.56``), dates and short
numbers (seat counts, quantities).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

CARD = "[redacted card number]"
IBAN = "[redacted IBAN]"
BANK_ACCOUNT = "[redacted bank account]"

PLACEHOLDERS: dict[str, str] = {
    "card": CARD,
    "iban": IBAN,
    "bank_account": BANK_ACCOUNT,
}

# IBAN lengths by country (SWIFT IBAN registry). Unknown countries are still checked
# with mod-97, at the longest length that passes.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24,
    "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
    "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
    "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20,
    "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20,
    "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
    "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
    "YE": 30,
}  # fmt: skip
IBAN_MIN, IBAN_MAX = 15, 34

_GUID = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE
)
# Digits in groups separated by one space or dash, not glued to letters or digits.
_DIGIT_RUN = re.compile(r"(?<![0-9A-Za-z])\d+(?:[ -]\d+)*(?![0-9A-Za-z])")
_IBAN_START = re.compile(r"(?<![0-9A-Za-z])[A-Za-z]{2}\d{2}(?=[ ]?[0-9A-Za-z])")
_BANK_WORDS = re.compile(
    r"\b(?:account|acct|a/c|routing|aba|rtn|bank|checking|savings|wire|ach)\w*",
    re.IGNORECASE,
)
BANK_WORD_WINDOW = 40  # characters between the keyword and the number
ACCOUNT_MIN_DIGITS, ACCOUNT_MAX_DIGITS = 6, 17


@dataclass(frozen=True)
class Redaction:
    """One removed span of the original text and what replaced it."""

    start: int
    end: int
    kind: str  # "card", "iban" or "bank_account"

    @property
    def placeholder(self) -> str:
        return PLACEHOLDERS[self.kind]


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check of a payment card number."""
    if not digits.isdigit():
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def iban_valid(iban: str) -> bool:
    """The ISO 13616 mod-97 check of an IBAN (no spaces, any case)."""
    iban = iban.upper()
    if not (IBAN_MIN <= len(iban) <= IBAN_MAX) or not iban.isalnum():
        return False
    if not (iban[:2].isalpha() and iban[2:4].isdigit()):
        return False
    expected = IBAN_LENGTHS.get(iban[:2])
    if expected is not None and len(iban) != expected:
        return False
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(char, 36)) for char in rearranged)
    return int(number) % 97 == 1


def aba_routing_valid(digits: str) -> bool:
    """The ABA checksum of a 9-digit US bank routing number."""
    if len(digits) != 9 or not digits.isdigit() or digits == "0" * 9:
        return False
    d = [int(c) for c in digits]
    total = 3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8])
    return total % 10 == 0


def find_redactions(text: str) -> list[Redaction]:
    """Every span of ``text`` that ``redact`` removes, in order, not overlapping."""
    if not text:
        return []
    protected = [(m.start(), m.end()) for m in _GUID.finditer(text)]
    found: list[Redaction] = []
    found.extend(_ibans(text, protected))
    taken = protected + [(r.start, r.end) for r in found]
    found.extend(_cards(text, taken))
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


def _overlaps(start: int, end: int, spans: Iterable[tuple[int, int]]) -> bool:
    return any(start < s_end and s_start < end for s_start, s_end in spans)


def _groups(match: re.Match[str]) -> list[tuple[int, int]]:
    """(start, end) of each digit group inside a digit run match."""
    return [
        (match.start() + m.start(), match.start() + m.end())
        for m in re.finditer(r"\d+", match.group())
    ]


def _cards(text: str, taken: list[tuple[int, int]]) -> Iterable[Redaction]:
    for run in _DIGIT_RUN.finditer(text):
        groups = _groups(run)
        i = 0
        while i < len(groups):
            hit = None
            # The longest window of whole groups that is a valid card number.
            for j in range(len(groups), i, -1):
                start, end = groups[i][0], groups[j - 1][1]
                digits = re.sub(r"\D", "", text[start:end])
                if 13 <= len(digits) <= 19 and luhn_valid(digits):
                    if not _overlaps(start, end, taken):
                        hit = (start, end, j)
                    break
            if hit is None:
                i += 1
                continue
            yield Redaction(hit[0], hit[1], "card")
            i = hit[2]


def _ibans(text: str, taken: list[tuple[int, int]]) -> Iterable[Redaction]:
    position = 0
    while True:
        match = _IBAN_START.search(text, position)
        if match is None:
            return
        hit = _iban_at(text, match.start())
        if hit is not None and not _overlaps(match.start(), hit, taken):
            yield Redaction(match.start(), hit, "iban")
            position = hit
        else:
            position = match.end()


def _iban_at(text: str, start: int) -> int | None:
    """End of a valid IBAN starting at ``start`` (spaces allowed), or None."""
    chars: list[str] = []
    ends: list[int] = []  # text position after each collected character
    index = start
    while index < len(text) and len(chars) < IBAN_MAX:
        char = text[index]
        if char.isalnum() and char.isascii():
            chars.append(char)
            ends.append(index + 1)
        elif not (char == " " and index + 1 < len(text) and text[index + 1].isalnum()):
            break
        index += 1
    country = "".join(chars[:2]).upper()
    lengths = (
        [IBAN_LENGTHS[country]]
        if country in IBAN_LENGTHS
        else list(range(len(chars), IBAN_MIN - 1, -1))
    )
    for length in lengths:
        if length > len(chars):
            continue
        end = ends[length - 1]
        # The IBAN must not continue into a longer word or number.
        if end < len(text) and text[end].isalnum():
            continue
        if iban_valid("".join(chars[:length])):
            return end
    return None


def _near_bank_word(text: str, start: int, end: int) -> bool:
    window = text[max(0, start - BANK_WORD_WINDOW) : end + BANK_WORD_WINDOW]
    return _BANK_WORDS.search(window) is not None


def _looks_like_amount(text: str, start: int, end: int) -> bool:
    before = text[max(0, start - 1) : start]
    after = text[end : end + 2]
    return before in {"$", "€", "£", "¥"} or bool(re.fullmatch(r"[.,]\d", after))


def _bank_accounts(text: str, taken: list[tuple[int, int]]) -> Iterable[Redaction]:
    for run in _DIGIT_RUN.finditer(text):
        groups = _groups(run)
        digits = [text[s:e] for s, e in groups]
        if (
            len(groups) >= 2
            and aba_routing_valid(digits[0])
            and all(4 <= len(d) <= ACCOUNT_MAX_DIGITS for d in digits[1:])
            and not _overlaps(run.start(), run.end(), taken)
        ):
            # A routing number followed by an account number, keyword or not.
            yield Redaction(run.start(), run.end(), "bank_account")
            continue
        whole = "".join(digits)
        spans = (
            [(run.start(), run.end())]
            if ACCOUNT_MIN_DIGITS <= len(whole) <= ACCOUNT_MAX_DIGITS
            else groups
        )
        for start, end in spans:
            count = len(re.sub(r"\D", "", text[start:end]))
            if not (ACCOUNT_MIN_DIGITS <= count <= ACCOUNT_MAX_DIGITS):
                continue
            if _overlaps(start, end, taken) or _looks_like_amount(text, start, end):
                continue
            if _near_bank_word(text, start, end):
                yield Redaction(start, end, "bank_account")
