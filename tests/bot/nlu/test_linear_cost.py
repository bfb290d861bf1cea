"""The NLU's cost per message grows linearly with the message's length.

Rasa parses on its event loop, so one long message holds up every conversation of the
process. Measured two ways that survive a shared, noisy machine: Python calls counted
while parsing (deterministic), and for work done in C (spaCy's tokenizer) the best of
three stopwatch runs with a generous bound (linear ~8x for 8x the text, quadratic ~64x).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
MODEL = REPO / "models" / "csp.tar.gz"
SENTENCES = [
    "Why is invoice G000024135 higher than last month?",
    "Contoso was charged $1,234.50 twice for Microsoft 365 E3 in Q3 2026.",
    "Please cancel subscription 3fa85f64-5717-4562-b3fc-2c963f66afa6, ticket CSP-000123.",
    "Our teams cannot sign in to Outlook since the card payment failed in May.",
    "I need a refund of 20 EUR for the seats we removed, and the invoice as a PDF.",
]


def billing_text(length: int) -> str:
    text = ""
    while len(text) < length:
        text += " ".join(SENTENCES) + " "
    return text[:length]


def _best_seconds(function, *args) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        function(*args)
        best = min(best, time.perf_counter() - started)
    return best


@pytest.mark.parametrize("unit", ["!", "$", "(", "'"])
def test_spacy_tokenizes_a_long_run_of_punctuation_in_linear_time(
    csp_nlp, unit: str
) -> None:
    """spaCy strips affixes one at a time, searching the rest of the run each time."""
    short, long = unit * 1000, unit * 8000
    ratio = _best_seconds(csp_nlp, long) / _best_seconds(csp_nlp, short)
    assert ratio < 24, ratio
    assert len(csp_nlp(long)) == 1  # a run this long is one token


def test_shorter_runs_are_split_as_spacy_does(csp_nlp) -> None:
    assert [t.text for t in csp_nlp("(G000024135), $20!!")] == [
        "(",
        "G000024135",
        ")",
        ",",
        "$",
        "20",
        "!",
        "!",
    ]


def _parse_calls(agent, loop, text: str) -> int:
    count = 0

    def profile(frame, event, arg):
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    sys.setprofile(profile)
    try:
        loop.run_until_complete(agent.parse_message(text))
    finally:
        sys.setprofile(None)
    return count


@pytest.mark.skipif(not MODEL.is_file(), reason="no trained model (make train)")
@pytest.mark.parametrize(
    "make_text",
    [billing_text, lambda n: "invoice " * (n // 8), lambda n: "1," * (n // 2)],
    ids=["billing", "repeated-keyword", "digits"],
)
def test_parsing_with_the_trained_model_costs_linear_work(make_text) -> None:
    """8x the text: at most ~8x the Python calls (plus the per-message overhead)."""
    pytest.importorskip("rasa")
    from rasa.core.agent import Agent

    loop = asyncio.new_event_loop()
    try:
        agent = Agent.load(str(MODEL))
        loop.run_until_complete(agent.parse_message("warm up"))
        short = _parse_calls(agent, loop, make_text(500))
        long = _parse_calls(agent, loop, make_text(4000))
    finally:
        loop.close()
    assert long / short < 9, (short, long)
