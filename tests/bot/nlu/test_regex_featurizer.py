"""LinearRegexFeaturizer: Rasa's RegexFeaturizer features, at a linear cost.

The features are compared with Rasa's own on the training messages and on messages
made to hit the patterns; the cost is compared by counting the Python calls a message
makes (deterministic, unlike a stopwatch on a shared machine).
"""

from __future__ import annotations

import random
import re
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("rasa")
np = pytest.importorskip("numpy")

from rasa.engine.graph import ExecutionContext, GraphSchema  # noqa: E402
from rasa.engine.storage.local_model_storage import LocalModelStorage  # noqa: E402
from rasa.engine.storage.resource import Resource  # noqa: E402
from rasa.nlu.constants import TOKENS_NAMES  # noqa: E402
from rasa.nlu.featurizers.sparse_featurizer.regex_featurizer import (  # noqa: E402
    RegexFeaturizer,
)
from rasa.nlu.tokenizers.tokenizer import Token  # noqa: E402
from rasa.nlu.utils import pattern_utils  # noqa: E402
from rasa.shared.nlu.constants import TEXT  # noqa: E402
from rasa.shared.nlu.training_data.loading import load_data  # noqa: E402
from rasa.shared.nlu.training_data.message import Message  # noqa: E402

from bot.regex_featurizer import (  # noqa: E402
    MAX_REPEAT,
    LinearRegexFeaturizer,
    bounded_pattern,
)

REPO = Path(__file__).resolve().parents[3]
CONFIG = {  # as in config.yml
    "case_sensitive": False,
    "use_lookup_tables": True,
    "use_regexes": True,
    "use_word_boundaries": True,
}


@pytest.fixture(scope="module")
def training_data():
    return load_data(str(REPO / "data" / "nlu"))


@pytest.fixture(scope="module")
def featurizers(training_data, tmp_path_factory):
    """Rasa's featurizer and ours, both with the patterns of data/nlu."""
    patterns = pattern_utils.extract_patterns(
        training_data,
        use_lookup_tables=True,
        use_regexes=True,
        use_word_boundaries=True,
    )
    assert len(patterns) > 10
    made = []
    for cls in (RegexFeaturizer, LinearRegexFeaturizer):
        storage = LocalModelStorage(tmp_path_factory.mktemp(cls.__name__))
        config = {**cls.get_default_config(), **CONFIG}
        made.append(
            cls(
                config,
                storage,
                Resource(cls.__name__),
                ExecutionContext(GraphSchema({}), "test"),
                known_patterns=[dict(p) for p in patterns],
            )
        )
    return made


def _message(nlp, text: str) -> Message:
    message = Message(data={TEXT: text})
    tokens = [Token(t.text, t.idx) for t in nlp(text) if not t.is_space]
    message.set(TOKENS_NAMES[TEXT], tokens)
    return message


def _features(featurizer, nlp, text: str):
    message = _message(nlp, text)
    sequence, sentence = featurizer._features_for_patterns(message, TEXT)
    token_patterns = [
        (t.text, t.start, dict(t.get("pattern", {})))
        for t in message.get(TOKENS_NAMES[TEXT])
    ]
    if sequence is None:
        return None, None, token_patterns
    return sequence.toarray(), sentence.toarray(), token_patterns


def _assert_same(featurizers, nlp, text: str) -> None:
    rasa, ours = (_features(f, nlp, text) for f in featurizers)
    if rasa[0] is None:
        assert ours[0] is None, text
    else:
        np.testing.assert_array_equal(ours[0], rasa[0], err_msg=text)
        np.testing.assert_array_equal(ours[1], rasa[1], err_msg=text)
    assert ours[2] == rasa[2], text


def test_features_equal_rasas_on_the_training_messages(
    featurizers, training_data, csp_nlp
) -> None:
    texts = [m.get(TEXT) for m in training_data.intent_examples]
    assert len(texts) > 1000
    matched: Counter = Counter()
    for text in texts:
        _assert_same(featurizers, csp_nlp, text)
        sentence = _features(featurizers[1], csp_nlp, text)[1]
        if sentence is not None:
            matched.update(np.flatnonzero(sentence[0]).tolist())
    assert len(matched) > 10  # most patterns were exercised, not just "no match"


@pytest.mark.parametrize(
    "text",
    [
        "Invoice G000024135 shows $1,234.50 and 20 EUR for Contoso",
        "ticket CSP-000123 about subscription 3fa85f64-5717-4562-b3fc-2c963f66afa6",
        "error 0x80070005 and AADSTS50076, then a 503 error, error 404",
        "Northwind Traders and Adventure Works, Tailspin Toys; northwind traders",
        "the laptop, the mobile phone and the docking station",
        "$ 20 USD $1,000,000.00 1.000,50 eur",
        "invoice " * 40,
        "",
        "   ",
        "!!!",
        "Contoso's invoice" + " Fabrikam" * 30 + " $5",
        "1," * 300 + " USD",
    ],
)
def test_features_equal_rasas_on_messages_made_to_match(
    featurizers, csp_nlp, text: str
) -> None:
    _assert_same(featurizers, csp_nlp, text)


def test_random_mixtures_of_the_training_messages(
    featurizers, training_data, csp_nlp
) -> None:
    rng = random.Random(7)
    texts = [m.get(TEXT) for m in training_data.intent_examples]
    for _ in range(30):
        _assert_same(featurizers, csp_nlp, " ".join(rng.sample(texts, 25)))


def _calls(featurizer, nlp, text: str) -> int:
    """Python and C function calls made while featurizing one message."""
    message = _message(nlp, text)
    count = 0

    def profile(frame, event, arg):
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    sys.setprofile(profile)
    try:
        featurizer._features_for_patterns(message, TEXT)
    finally:
        sys.setprofile(None)
    return count


@pytest.mark.parametrize("unit", ["invoice ", "Contoso pays $20 for the laptop. "])
def test_work_grows_linearly_with_the_message(featurizers, csp_nlp, unit) -> None:
    """8x the text costs about 8x the calls; Rasa's loop costs far more."""
    short, long = unit * (500 // len(unit)), unit * (4000 // len(unit))
    rasa, ours = featurizers
    ours_ratio = _calls(ours, csp_nlp, long) / _calls(ours, csp_nlp, short)
    rasa_ratio = _calls(rasa, csp_nlp, long) / _calls(rasa, csp_nlp, short)
    assert ours_ratio < 10, ours_ratio
    assert rasa_ratio > 30, rasa_ratio  # the measure does see the quadratic loop


def test_bounded_patterns_match_as_re_does_below_the_bound() -> None:
    patterns = [
        r"\b\d[\d,.]*\s?(?:USD|EUR|GBP|usd|eur|gbp|dollars|euros|pounds)\b",
        r"[$€£]\s?\d[\d,.]*",
        r"\b[45]\d\d\s+error\b",
        r"(?i)\b(?:contoso|northwind traders)\b",
        r"a+?b|(?=x*y)x|(\d+)(?(1)z|w)",
    ]
    texts = [
        "pay 1,234.50 USD and $20 or 30 eur, 99999 dollars; € 5",
        "500   error and 404 error",
        "Contoso, NORTHWIND  traders, northwind traders",
        "aaab xxxy 12z w",
        "1," * 20 + " EUR",
    ]
    for pattern in patterns:
        bounded, plain = bounded_pattern(pattern), re.compile(pattern)
        for text in texts:
            assert [m.span() for m in bounded.finditer(text)] == [
                m.span() for m in plain.finditer(text)
            ], (pattern, text)
    # Beyond the bound a run is no longer one match.
    assert not bounded_pattern(r"^a+$").search("a" * (MAX_REPEAT + 1))


def _seconds(function, *args) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        function(*args)
        best = min(best, time.perf_counter() - started)
    return best


def test_a_backtracking_regex_stays_linear() -> None:
    """A run of "1," is read once per digit by re; bounded, each read is short.

    Stopwatch, so the bound is generous: linear gives ~8x, quadratic ~64x.
    """
    pattern = bounded_pattern(
        r"\b\d[\d,.]*\s?(?:USD|EUR|GBP|usd|eur|gbp|dollars|euros|pounds)\b"
    )
    short, long = "1," * 500, "1," * 4000

    def search(text: str) -> None:
        list(pattern.finditer(text))

    assert _seconds(search, long) / _seconds(search, short) < 24
