"""Custom Rasa NLU components of the CSP billing desk.

``TfidfIntentClassifier`` — linear intent classifiers (an SVM and a logistic
regression, their temperature-calibrated softmax probabilities averaged) over TF-IDF
word and character n-grams (scikit-learn's ``TfidfVectorizer``), the keyword families
(``lex_*`` lookup tables in ``data/nlu/lookups.yml``) and, optionally, sentence embeddings
(``bot/sentence_encoder.py``). On our hand-written training set it generalises to
unseen phrasings better than DIET and trains in a fraction of the time (measured in
``docs/benchmarks/nlu.md``). Placed after another classifier it can blend that
ranking in with weight ``diet_weight``.

Use it in ``config.yml`` as ``- name: bot.nlu_components.TfidfIntentClassifier``; Rasa's
CLI puts the working directory on ``sys.path``, so run Rasa from the repository root.

The trained model is stored as JSON and ``.npy`` arrays (loaded with
``allow_pickle=False``): loading a model never unpickles anything.
"""

from __future__ import annotations

import json
import logging
import random
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.constants import SPACY_DOCS
from rasa.nlu.extractors.spacy_entity_extractor import SpacyEntityExtractor
from rasa.nlu.utils.spacy_utils import SpacyModel
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from scipy import sparse

from bot.issues import find_issues, find_questions, lead_ranking, leading_issue
from common.taxonomy import ISSUES_KEY, QUESTIONS_KEY

logger = logging.getLogger(__name__)

MODEL_FILE = "tfidf_intent.json"
COEF_FILE = "coef_{}.npy"
WORD_IDF_FILE = "word_idf.npy"
CHAR_IDF_FILE = "char_idf.npy"
LEXICON_TOKEN = "lexfamily_{}"  # noqa: S105 (a feature name, not a secret)
WORD_PATTERN = re.compile(r"(?u)\b\w\w+\b|[$€£%?!]")


KATAKANA = re.compile(r"[\u30a1-\u30f6]")
JAPANESE_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
JAPANESE_TOKEN = "ja:{}"  # noqa: S105 (a feature name, not a secret)


def normal_form(text: str) -> str:
    """The text the classifier reads: NFKC (half-width katakana and full-width
    letters and digits become the usual ones: ﾃﾞｨﾌｪﾝﾀﾞｰ, Ｇ０００ -> ディフェンダー,
    G000), then katakana as hiragana (セイキュウショ -> せいきゅうしょ), so Japanese typed
    either way shares its n-grams. English text is left as it is."""
    text = unicodedata.normalize("NFKC", text)
    return KATAKANA.sub(lambda m: chr(ord(m.group()) - 0x60), text)


def _compile_lexicons(lexicons: dict[str, list[str]]) -> dict[str, re.Pattern]:
    compiled = {}
    for name in sorted(lexicons):
        words = sorted(
            {w.strip().lower() for w in lexicons[name] if w.strip()},
            key=len,
            reverse=True,
        )
        if words:
            alternatives = "|".join(re.escape(w) for w in words)
            compiled[name] = re.compile(
                rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE
            )
    return compiled


def _word_analyzer(lexicons: dict[str, re.Pattern], n_max: int):
    """Word 1..n_max-grams (scikit-learn's analyzer, ``WORD_PATTERN`` tokens, lower
    case), each kanji and kana character (``ja:請``) and one ``lexfamily_<name>``
    token per keyword family in the text."""
    from sklearn.feature_extraction.text import CountVectorizer

    words = CountVectorizer(
        token_pattern=WORD_PATTERN.pattern, ngram_range=(1, n_max), lowercase=True
    ).build_analyzer()

    def analyze(text: str) -> list[str]:
        grams = words(text)
        # Japanese is written without spaces: its "words" above are whole runs of
        # text. Each kanji and kana is a token of its own instead (請, 求, 払: a
        # kanji alone carries much of the meaning; docs/nlu.md "Japanese").
        grams += [JAPANESE_TOKEN.format(c) for c in JAPANESE_CHAR.findall(text)]
        grams += [
            LEXICON_TOKEN.format(name)
            for name, rx in lexicons.items()
            if rx.search(text)
        ]
        return grams

    return analyze


def _tfidf(analyzer: Any, ngram_range: tuple[int, int] = (1, 1)) -> Any:
    """Sublinear TF-IDF, l2-normalised rows, smoothed idf (scikit-learn's defaults)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        analyzer=analyzer, ngram_range=ngram_range, lowercase=True, sublinear_tf=True
    )


def _fitted_tfidf(
    analyzer: Any,
    vocabulary: dict[str, int],
    idf: np.ndarray,
    ngram_range: tuple[int, int] = (1, 1),
) -> Any:
    """A TfidfVectorizer with a saved vocabulary and idf (no pickle)."""
    vectorizer = _tfidf(analyzer, ngram_range)
    vectorizer.set_params(vocabulary=vocabulary)
    vectorizer.vocabulary_ = vocabulary
    vectorizer.idf_ = idf
    return vectorizer


_BLOCKS = ("word", "char")


def _row_maker(vectorizer: Any) -> tuple[Any, dict[str, int], np.ndarray]:
    """What ``_tfidf_entries`` reads of a fitted TfidfVectorizer: its analyzer, its
    vocabulary and its idf as a plain array."""
    return (
        vectorizer.build_analyzer(),
        vectorizer.vocabulary_,
        np.asarray(vectorizer.idf_, dtype=np.float64),
    )


def _tfidf_entries(
    row_maker: tuple[Any, dict[str, int], np.ndarray], text: str
) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of ``vectorizer.transform([text])`` for the fitted
    vectorizer (sublinear tf, l2 rows) that ``row_maker`` was made from."""
    analyze, vocabulary, idf = row_maker
    counts = Counter(g for g in analyze(text) if g in vocabulary)
    if not counts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    index = np.fromiter((vocabulary[g] for g in counts), dtype=np.int64)
    tf = 1 + np.log(np.fromiter(counts.values(), dtype=np.float64))
    weights = tf * idf[index]
    return index, weights / np.linalg.norm(weights)


def _plain(vocabulary: dict[str, Any]) -> dict[str, int]:
    """A fitted vocabulary_ (numpy integers) as JSON can hold it."""
    return {term: int(index) for term, index in vocabulary.items()}


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True
)
class TfidfIntentClassifier(GraphComponent, IntentClassifier):
    """Linear SVM over TF-IDF n-grams and keyword families, calibrated softmax."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "C": 1.0,  # inverse regularisation strength of the linear model
            # "svm" (LinearSVC, hinge loss) or "logistic" (multinomial logistic
            # regression, lbfgs); both class-balanced.
            "model": "svm",
            # Several linear models whose calibrated probabilities are averaged, each
            # a dict overriding model / C / embedding_weight, e.g.
            # [{model: svm, C: 1, embedding_weight: 0.5},
            #  {model: logistic, C: 10, embedding_weight: 1}]. Empty: one model from
            # the top-level model / C / embedding_weight.
            "ensemble": [],
            # Confidence = softmax(decision values / temperature), the temperature fitted
            # on 3-fold out-of-fold predictions so that confidence tracks accuracy (what
            # the FallbackClassifier threshold assumes). False: temperature 1.
            "calibrate": True,
            "word_max_ngram": 2,
            "char_min_ngram": 2,
            "char_max_ngram": 5,
            "lexicon_prefix": "lex_",  # lookup tables used as keyword families
            "diet_weight": 0.0,  # weight of an earlier classifier's ranking (0 = ignore)
            # Append all-MiniLM-L6-v2 sentence embeddings (bot/sentence_encoder.py),
            # scaled by embedding_weight, to the sparse n-gram features.
            "sentence_encoder": False,
            "embedding_weight": 0.5,
            "encoder_path": "build/minilm",  # relative to the working directory
            # The encoder's linear layers in int8 (bot/sentence_encoder.py): ~2x faster,
            # same accuracy in docs/nlu.md ("Session 4"). Trained and run alike.
            "encoder_int8": False,
            # Share of examples also trained with a greeting in front ("hi, " + text;
            # greetings drawn from the `greeting_intent` examples), so a request that
            # opens with pleasantries is not taken for a greeting. 0 = off.
            "greeting_augmentation": 0.0,
            "greeting_intent": "greet",
            "no_augmentation_intents": [
                "greet",
                "goodbye",
                "affirm",
                "deny",
                "thank",
                "bot_challenge",
            ],
            "ranking_length": 10,
            # A message whose clauses are about different topics gets an `issues`
            # list in the parse output (bot/issues.py), each clause classified alone
            # and counted when at least this confident. 0 = off.
            "issues_min_confidence": 0.9,
            # ... and a `questions` list, one entry per clause that asks something
            # (bot/issues.py), each answered in turn by actions/questions.py; 0: off
            "questions_min_confidence": 0.8,
            "max_iter": 5000,
            "random_state": 42,
        }

    @staticmethod
    def required_packages() -> list[str]:
        return ["sklearn"]

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: dict[str, Any] | None = None,
    ) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self._model = model
        self._lexicons: dict[str, re.Pattern] = {}
        if model:
            self._lexicons = _compile_lexicons(model["lexicons"])

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> TfidfIntentClassifier:
        return cls(config, model_storage, resource)

    # --- features -----------------------------------------------------------------------
    def _vectorizers(self, texts: list[str]) -> dict[str, Any]:
        """TF-IDF of word n-grams (with keyword families) and of character n-grams
        inside word boundaries, fitted on ``texts``."""
        return {
            "word": _tfidf(
                _word_analyzer(self._lexicons, self.config["word_max_ngram"])
            ).fit(texts),
            "char": _tfidf(
                "char_wb",
                (self.config["char_min_ngram"], self.config["char_max_ngram"]),
            ).fit(texts),
        }

    def _embeddings(self, texts: list[str]) -> np.ndarray | None:
        if not self.config["sentence_encoder"]:
            return None
        from bot.sentence_encoder import SentenceEncoder

        encoder = SentenceEncoder.load(
            Path(self.config["encoder_path"]), int8=bool(self.config["encoder_int8"])
        )
        # The encoder knows English: Japanese text reaches it as unknown pieces, one
        # per character (slow, and noise to the classifier). A Japanese text's
        # embedding is left at zero: its n-grams decide (docs/nlu.md "Japanese").
        read = [i for i, text in enumerate(texts) if not JAPANESE_CHAR.search(text)]
        if len(read) == len(texts):
            return encoder.encode(texts)
        embeddings = np.zeros((len(texts), encoder.dimensions), dtype=np.float32)
        if read:
            embeddings[read] = encoder.encode([texts[i] for i in read])
        return embeddings

    def _members(self) -> list[dict[str, Any]]:
        """The linear models to train: model, C and embedding_weight of each."""
        base = {
            "model": self.config["model"],
            "C": float(self.config["C"]),
            "embedding_weight": float(self.config["embedding_weight"]),
        }
        return [{**base, **member} for member in self.config["ensemble"]] or [base]

    def _ngram_matrix(self, texts: list[str]) -> sparse.csr_matrix:
        """TF-IDF word n-grams (with keyword families), then character n-grams."""
        assert self._model is not None
        if len(texts) != 1:
            return sparse.hstack(
                [self._model[block].transform(texts) for block in _BLOCKS],
                format="csr",
            )
        # One message (a parse): scikit-learn's transform spends several times the
        # work itself checking that it is fitted (it sums its idf diagonal on every
        # call) and validating matrices (docs/nlu.md, session 5). _tfidf_entries computes
        # the same row from the vectorizer's analyzer, vocabulary and idf (a test
        # keeps the two equal), and the two blocks make one matrix.
        indices, values, offset = [], [], 0
        for block in _BLOCKS:
            maker = self._model.get(f"{block}_rows")
            if maker is None:  # once per fitted model (not saved)
                maker = self._model[f"{block}_rows"] = _row_maker(self._model[block])
            index, weights = _tfidf_entries(maker, texts[0])
            indices.append(index + offset)
            values.append(weights)
            offset += len(self._model[block].vocabulary_)
        index = np.concatenate(indices)
        return sparse.csr_matrix(
            (np.concatenate(values), index, [0, len(index)]), shape=(1, offset)
        )

    def _features(
        self,
        texts: list[str],
        embeddings: np.ndarray | None = None,
        embedding_weight: float = 1.0,
    ) -> sparse.csr_matrix:
        """The training features: n-grams and, with the encoder, weighted embeddings."""
        blocks = [self._ngram_matrix(texts)]
        if self.config["sentence_encoder"]:
            if embeddings is None:
                embeddings = self._embeddings(texts)
            blocks.append(
                sparse.csr_matrix(np.asarray(embeddings) * float(embedding_weight))
            )
        return sparse.hstack(blocks, format="csr")

    # --- training -------------------------------------------------------------------------
    def train(self, training_data: TrainingData) -> Resource:
        examples = [
            m for m in training_data.intent_examples if m.get(INTENT) and m.get(TEXT)
        ]
        if not examples:
            logger.debug("No intent examples: %s not trained.", type(self).__name__)
            return self._resource
        prefix = self.config["lexicon_prefix"]
        lexicons = {
            table["name"]: list(table["elements"])
            for table in training_data.lookup_tables
            if prefix and str(table.get("name", "")).startswith(prefix)
        }
        self._lexicons = _compile_lexicons(lexicons)
        texts = [normal_form(m.get(TEXT)) for m in examples]
        labels = [m.get(INTENT) for m in examples]
        texts, labels = self._augment(texts, labels)
        self._model = {**self._vectorizers(texts), "lexicons": lexicons}
        embeddings = self._embeddings(texts)
        members = []
        classes: list[str] = []
        for member in self._members():
            weight = member["embedding_weight"]
            features = self._features(texts, embeddings, weight)
            clf = self._classifier(member).fit(features, labels)
            classes = [str(c) for c in clf.classes_]
            temperature = (
                self._fit_temperature(texts, labels, embeddings, member)
                if self.config["calibrate"]
                else 1.0
            )
            members.append(
                {
                    "coef": clf.coef_.astype(np.float64),
                    "intercept": [float(b) for b in clf.intercept_],
                    "temperature": temperature,
                    "embedding_weight": weight,
                }
            )
        self._model.update(classes=classes, members=members)
        self.persist()
        return self._resource

    def _augment(
        self, texts: list[str], labels: list[str]
    ) -> tuple[list[str], list[str]]:
        """Add greeting-prefixed copies of a share of the examples (seeded)."""
        share = float(self.config["greeting_augmentation"])
        greetings = [
            t.rstrip("!.? ")
            for t, label in zip(texts, labels)
            if label == self.config["greeting_intent"] and len(t.split()) <= 6
        ]
        if share <= 0 or not greetings:
            return texts, labels
        # a greeting in the language of the text it is put before: English ones
        # before English examples (as before Japanese was added), Japanese before
        # Japanese
        japanese = [g for g in greetings if JAPANESE_CHAR.search(g)]
        english = [g for g in greetings if not JAPANESE_CHAR.search(g)]
        rng = random.Random(self.config["random_state"])  # noqa: S311 (data, not crypto)
        skip = set(self.config["no_augmentation_intents"])
        extra_texts, extra_labels = [], []
        for text, label in zip(texts, labels):
            if label not in skip and rng.random() < share:
                joint = rng.choice([", ", ". ", "! ", " "])
                same = japanese if JAPANESE_CHAR.search(text) else english
                extra_texts.append(f"{rng.choice(same or greetings)}{joint}{text}")
                extra_labels.append(label)
        return texts + extra_texts, labels + extra_labels

    def _classifier(self, member: dict[str, Any]) -> Any:
        from sklearn.linear_model import LogisticRegression
        from sklearn.svm import LinearSVC

        if member["model"] == "logistic":
            return LogisticRegression(
                C=member["C"],
                class_weight="balanced",
                max_iter=self.config["max_iter"],
                random_state=self.config["random_state"],
            )
        if member["model"] != "svm":
            raise ValueError(f"unknown model {member['model']!r} (svm or logistic)")
        return LinearSVC(
            C=member["C"],
            class_weight="balanced",
            max_iter=self.config["max_iter"],
            random_state=self.config["random_state"],
        )

    def _fit_temperature(
        self,
        texts: list[str],
        labels: list[str],
        embeddings: np.ndarray | None,
        member: dict[str, Any],
    ) -> float:
        """Temperature minimising the log loss of out-of-fold predictions."""
        from sklearn.model_selection import StratifiedKFold

        if min(Counter(labels).values()) < 3:
            return 1.0
        full_model = self._model
        weight = member["embedding_weight"]
        logits, gold = [], []
        folds = StratifiedKFold(
            3, shuffle=True, random_state=self.config["random_state"]
        )
        try:
            for train_idx, test_idx in folds.split(texts, labels):
                train_texts = [texts[i] for i in train_idx]
                self._model = self._vectorizers(train_texts)
                clf = self._classifier(member).fit(
                    self._features(
                        train_texts,
                        None if embeddings is None else embeddings[train_idx],
                        weight,
                    ),
                    [labels[i] for i in train_idx],
                )
                index = {c: k for k, c in enumerate(clf.classes_)}
                logits.append(
                    clf.decision_function(
                        self._features(
                            [texts[i] for i in test_idx],
                            None if embeddings is None else embeddings[test_idx],
                            weight,
                        )
                    )
                )
                gold += [index[labels[i]] for i in test_idx]
        finally:
            self._model = full_model
        scores, target = np.vstack(logits), np.array(gold)

        def log_loss(temperature: float) -> float:
            z = scores / temperature
            z -= z.max(axis=1, keepdims=True)
            log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            return float(-log_probs[np.arange(len(target)), target].mean())

        grid = np.round(np.arange(0.1, 3.01, 0.05), 2)
        temperature = float(min(grid, key=log_loss))
        logger.debug("%s: temperature %.2f", type(self).__name__, temperature)
        return temperature

    # --- inference ------------------------------------------------------------------------
    def _probabilities(self, texts: list[str]) -> np.ndarray:
        """Average of the members' temperature-scaled softmax probabilities.

        The n-gram features are computed once for all members, and each member's
        weights are kept split and transposed (``_scorer``), so a message costs a
        sparse row times a [n-grams, classes] matrix plus the embedding's share.
        """
        assert self._model is not None
        texts = [normal_form(text) for text in texts]
        ngrams = self._ngram_matrix(texts)
        embeddings = self._embeddings(texts)
        total = None
        for member in self._model["members"]:
            ngram_coef, embedding_coef = self._scorer(member)
            scores = np.asarray(ngrams @ ngram_coef) + np.asarray(member["intercept"])
            if embedding_coef is not None and embeddings is not None:
                scores += (embeddings @ embedding_coef) * member["embedding_weight"]
            scores /= member["temperature"]
            scores -= scores.max(axis=1, keepdims=True)
            exp = np.exp(scores)
            probs = exp / exp.sum(axis=1, keepdims=True)
            total = probs if total is None else total + probs
        assert total is not None
        return total / len(self._model["members"])

    def _scorer(self, member: dict[str, Any]) -> tuple[np.ndarray, np.ndarray | None]:
        """The member's weights as [n-gram features, classes] and [384, classes]."""
        if "ngram_coef" not in member:
            assert self._model is not None
            n = len(self._model["word"].vocabulary_) + len(
                self._model["char"].vocabulary_
            )
            coef = member["coef"]
            member["ngram_coef"] = np.ascontiguousarray(coef[:, :n].T)
            member["embedding_coef"] = (
                np.ascontiguousarray(coef[:, n:].T, dtype=np.float32)
                if coef.shape[1] > n
                else None
            )
        return member["ngram_coef"], member["embedding_coef"]

    def process(self, messages: list[Message]) -> list[Message]:
        if not self._model or not messages:
            return messages
        classes = self._model["classes"]
        probabilities = self._probabilities([m.get(TEXT) or "" for m in messages])
        weight = float(self.config["diet_weight"])
        for message, probs in zip(messages, probabilities):
            blended = probs
            previous = message.get(INTENT_RANKING_KEY) or []
            if weight > 0 and previous:
                earlier = {r["name"]: float(r["confidence"]) for r in previous}
                other = np.array([earlier.get(c, 0.0) for c in classes])
                blended = (1 - weight) * probs + weight * other
            order = np.argsort(-blended, kind="stable")
            ranking = [
                {"name": classes[i], "confidence": float(blended[i])} for i in order
            ]
            message.set(INTENT, ranking[0], add_to_output=True)
            if self.config["ranking_length"] > 0:
                ranking = ranking[: self.config["ranking_length"]]
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
            classify = self._cached_classifier()
            if self.config["issues_min_confidence"] > 0:
                issues = find_issues(
                    message.get(TEXT) or "",
                    classify,
                    float(self.config["issues_min_confidence"]),
                )
                if issues:
                    message.set(
                        ISSUES_KEY, [i.as_dict() for i in issues], add_to_output=True
                    )
                    lead = leading_issue(
                        issues, ranking[0]["name"], ranking[0]["confidence"]
                    )
                    if lead is not None:  # the first matter raised comes first
                        led = lead_ranking(lead, ranking)
                        message.set(INTENT, led[0], add_to_output=True)
                        message.set(INTENT_RANKING_KEY, led, add_to_output=True)
            if self.config["questions_min_confidence"] > 0:
                questions = find_questions(
                    message.get(TEXT) or "",
                    classify,
                    float(self.config["questions_min_confidence"]),
                )
                if questions:
                    message.set(
                        QUESTIONS_KEY,
                        [q.as_dict() for q in questions],
                        add_to_output=True,
                    )
        return messages

    def _cached_classifier(
        self,
    ) -> Callable[[Sequence[str]], list[tuple[str, float]]]:
        """`_classify` that classifies each clause of a message once, however many
        times the issues and the questions ask."""
        known: dict[str, tuple[str, float]] = {}

        def classify(texts: Sequence[str]) -> list[tuple[str, float]]:
            missing = list(dict.fromkeys(t for t in texts if t not in known))
            if missing:
                known.update(zip(missing, self._classify(missing)))
            return [known[t] for t in texts]

        return classify

    def _classify(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """The top intent and its confidence for each text."""
        classes = self._model["classes"] if self._model else []
        probabilities = self._probabilities(list(texts))
        return [(classes[int(p.argmax())], float(p.max())) for p in probabilities]

    # --- persistence ------------------------------------------------------------------------
    def persist(self) -> None:
        if not self._model:
            return
        with self._model_storage.write_to(self._resource) as directory:
            meta = {
                "classes": self._model["classes"],
                "members": [
                    {
                        "intercept": m["intercept"],
                        "temperature": m["temperature"],
                        "embedding_weight": m["embedding_weight"],
                    }
                    for m in self._model["members"]
                ],
                "lexicons": self._model["lexicons"],
                "word_vocabulary": _plain(self._model["word"].vocabulary_),
                "char_vocabulary": _plain(self._model["char"].vocabulary_),
            }
            (directory / MODEL_FILE).write_text(json.dumps(meta), encoding="utf-8")
            for i, member in enumerate(self._model["members"]):
                np.save(
                    directory / COEF_FILE.format(i), member["coef"], allow_pickle=False
                )
            np.save(
                directory / WORD_IDF_FILE, self._model["word"].idf_, allow_pickle=False
            )
            np.save(
                directory / CHAR_IDF_FILE, self._model["char"].idf_, allow_pickle=False
            )

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> TfidfIntentClassifier:
        try:
            with model_storage.read_from(resource) as directory:
                meta = json.loads((directory / MODEL_FILE).read_text(encoding="utf-8"))
                model = {
                    "classes": meta["classes"],
                    "members": [
                        {
                            "intercept": member["intercept"],
                            "temperature": float(member["temperature"]),
                            "embedding_weight": float(member["embedding_weight"]),
                            "coef": np.load(
                                directory / COEF_FILE.format(i), allow_pickle=False
                            ),
                        }
                        for i, member in enumerate(meta["members"])
                    ],
                    "lexicons": meta["lexicons"],
                }
                settings = {**cls.get_default_config(), **config}
                model["word"] = _fitted_tfidf(
                    _word_analyzer(
                        _compile_lexicons(meta["lexicons"]),
                        settings["word_max_ngram"],
                    ),
                    meta["word_vocabulary"],
                    np.load(directory / WORD_IDF_FILE, allow_pickle=False),
                )
                model["char"] = _fitted_tfidf(
                    "char_wb",
                    meta["char_vocabulary"],
                    np.load(directory / CHAR_IDF_FILE, allow_pickle=False),
                    (settings["char_min_ngram"], settings["char_max_ngram"]),
                )
        except (ValueError, FileNotFoundError, KeyError):
            logger.warning("%s: no trained model found, not classifying.", cls.__name__)
            model = None
        component = cls(config, model_storage, resource, model)
        if model:
            # load the encoder and split each member's weights now, not at message 1
            component._probabilities(["warm up"])
        return component


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR,
    is_trainable=False,
    model_from="SpacyNLP",
)
class SpacyDocEntityExtractor(SpacyEntityExtractor):
    """Rasa's ``SpacyEntityExtractor`` without running the spaCy pipeline twice.

    Rasa's extractor runs the whole spaCy pipeline again on every message because
    ``SpacyNLP`` may have lower-cased the text. With ``case_sensitive: true`` (ours),
    the doc ``SpacyNLP`` already made is of the same text through the same pipeline,
    so it is reused: ~1 ms per parse, more for long messages. When the texts differ
    (a lower-cased doc) it falls back to Rasa's behaviour. Same ``dimensions`` option.
    """

    def process(self, messages: list[Message], model: SpacyModel) -> list[Message]:
        for message in messages:
            text = message.get(TEXT)
            doc = message.get(SPACY_DOCS[TEXT])
            if doc is None or doc.text != text:
                doc = model.model(text)
            extracted = self.filter_irrelevant_entities(
                self.add_extractor_name(self._extract_entities(doc)),
                self._config["dimensions"],
            )
            message.set(
                ENTITIES, message.get(ENTITIES, []) + extracted, add_to_output=True
            )
        return messages
