"""Redaction of card and bank account numbers (common/redaction.py)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from common.redaction import (
    BANK_ACCOUNT,
    CARD,
    IBAN,
    find_redactions,
    redact,
    shift_offset,
)

REDACTED = [
    # (text, what it becomes)
    ("my card is 4111 1111 1111 1111", f"my card is {CARD}"),
    ("card 4111-1111-1111-1111 was declined", f"card {CARD} was declined"),
    ("4111111111111111", CARD),
    ("amex 3782 822463 10005 please", f"amex {CARD} please"),  # 15 digits, 4-6-5
    ("visa 4012888888881881, exp 12/27", f"visa {CARD}, exp 12/27"),
    ("order 123 4111111111111111", f"order 123 {CARD}"),  # the card inside a run
    ("discover 6011 0009 9013 9424 then 123", f"discover {CARD} then 123"),
    ("pay to IBAN DE89 3704 0044 0532 0130 00 please", f"pay to IBAN {IBAN} please"),
    ("iban gb82west12345698765432.", f"iban {IBAN}."),
    ("NL91ABNA0417164300", IBAN),
    (
        "routing 021000021 account 1234567890",
        f"routing {BANK_ACCOUNT} account {BANK_ACCOUNT}",
    ),
    (
        "my routing and account: 021000021 1234567890",
        f"my routing and account: {BANK_ACCOUNT}",
    ),
    ("bank account number is 12345678", f"bank account number is {BANK_ACCOUNT}"),
    ("acct # 000123456789", f"acct # {BANK_ACCOUNT}"),
    ("021000021 987654321012", BANK_ACCOUNT),  # routing + account, no keyword
    # Whatever people put between the digits: dots, no-break, thin and narrow
    # no-break spaces, double spaces, en dashes, mixed, and full-width digits.
    ("card 4111.1111.1111.1111 thanks", f"card {CARD} thanks"),
    ("card 4111\u00a01111\u00a01111\u00a01111", f"card {CARD}"),
    ("card 4111\u20091111\u20091111\u20091111.", f"card {CARD}."),
    ("4111\u202f1111\u202f1111\u202f1111", CARD),
    ("card 4111  1111  1111  1111 ok", f"card {CARD} ok"),
    ("card 4111 - 1111 - 1111 - 1111", f"card {CARD}"),
    ("card 4111\u20131111\u20131111\u20131111", f"card {CARD}"),
    ("card 4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", f"card {CARD}"),
    ("card \uff14\uff11\uff11\uff11 1111 1111 1111", f"card {CARD}"),
    ("IBAN GB82-WEST-1234-5698-7654-32 please", f"IBAN {IBAN} please"),
    ("IBAN GB82.WEST.1234.5698.7654.32", f"IBAN {IBAN}"),
    ("IBAN GB82\u00a0WEST\u00a01234\u00a05698\u00a07654\u00a032", f"IBAN {IBAN}"),
    ("iban de89  3704  0044  0532  0130  00, thanks", f"iban {IBAN}, thanks"),
    ("account\u00a012345678", f"account\u00a0{BANK_ACCOUNT}"),
]

KEPT = [
    "invoice G000024135 please",
    "invoice D000007301 is wrong",
    "tenant 3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "order 12345678-1234-1234-1234-123456789012",  # a GUID of digits only
    "subscription 8f2c1d3e-0a4b-4c5d-9e6f-7a8b9c0d1e2f has 25 seats",
    "my account has 25 seats",
    "account balance is $1234567.00",
    "I was charged 1234567 twice",  # no bank word nearby
    "call 555-123-4567",
    "reference 4111 1111 1111 1112",  # fails Luhn
    "the total was 1,284.00 on 2026-11-01",
    "ticket CSP-000042",
    "DE89 3704 0044 0532 0130 02",  # fails mod-97 (and Luhn)
    "GB82-WEST-1234-5698-7654-33",  # fails mod-97
    "XX82 1234 5678 9012 3456 78",  # no such country
    "4111.1111.1111.1112",  # fails Luhn, dotted
    "invoice G000024135 and G000024136 on 2026.11.01",
    "paid 1.234.567,89 EUR on account",  # an amount, near a bank word
    "account balance is 1234567.89",
    "tenant 3fa85f64-5717-4562-b3fc-2c963f66afa6 and 4f1c2d3e-0000-4000-8000-0000000001",
    "",
]


@pytest.mark.parametrize(("text", "expected"), REDACTED)
def test_redacts(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize("text", KEPT)
def test_keeps(text: str) -> None:
    assert redact(text) == text


def test_numbers_are_checked_by_stdnum_not_by_shape() -> None:
    # The right shape with a wrong check digit stays: it is not a number of anyone's.
    assert redact("4111 1111 1111 1111") == CARD
    assert redact("4111 1111 1111 1112") == "4111 1111 1111 1112"
    assert redact("DE89370400440532013000") == IBAN
    assert redact("DE89370400440532013001") == "DE89370400440532013001"
    # Germany's IBANs have 22 characters: one short is not an IBAN.
    assert redact("DE8937040044053201300") == "DE8937040044053201300"
    assert redact("routing 021000021") == f"routing {BANK_ACCOUNT}"
    assert redact("021000022 12345") == "021000022 12345"
    assert redact("000000000 12345") == "000000000 12345"


@pytest.mark.parametrize(
    "text",
    [
        " ".join(["1234"] * 1000),
        "1 " * 2000,
        " ".join(str(i * 7919 % 10) for i in range(2000)),  # varied spaced digits
        "GB82 " * 800,  # IBAN starts everywhere
        "AB12 " * 800,  # a country the registry does not know
        "GB82WEST12345698765432 " * 170,
    ],
    ids=["groups", "digits", "varied", "iban-starts", "no-country", "ibans"],
)
def test_a_hostile_message_costs_little(text: str) -> None:
    # Every channel redacts on Rasa's event loop: a maximal message built to make
    # the most candidates must stay cheap (each window stops at 19 digits, each
    # candidate is checked once).
    started = time.perf_counter()
    redact(text)
    assert time.perf_counter() - started < 0.5


def test_offsets_move_with_the_redaction() -> None:
    text = "card 4111111111111111 and invoice G000024135"
    found = find_redactions(text)
    redacted = redact(text)
    start = text.index("G000024135")
    moved = shift_offset(start, found)
    assert redacted[moved : moved + 10] == "G000024135"
    assert shift_offset(0, found) == 0
    # An offset inside the card moves to the end of its placeholder.
    assert redacted[: shift_offset(10, found)] == "card " + CARD


def test_redaction_imports_nothing_heavy() -> None:
    # The Rasa process (.venv-rasa) imports it too: the standard library and
    # python-stdnum only.
    code = (
        "import sys; import common.redaction; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "{'sqlalchemy','pydantic','fastapi','jwt','yaml'}]; print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
