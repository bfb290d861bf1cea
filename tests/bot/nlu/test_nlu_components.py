"""TfidfIntentClassifier: trains, persists without pickle, loads, classifies.

Runs in the Rasa venv; skipped where Rasa is not installed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rasa")
pytest.importorskip("sklearn")

from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu_components import TfidfIntentClassifier

EXAMPLES = {
    "ask_invoice": [
        "send me my invoice",
        "where is my latest invoice",
        "I need a copy of my bill",
        "invoice for last month please",
        "can I get my statement",
        "show my invoices",
    ],
    "report_technical_issue": [
        "outlook keeps crashing",
        "my laptop is very slow",
        "I can't connect to the vpn",
        "teams won't load",
        "the printer is not working",
        "email is down",
    ],
    "greet": ["hi", "hello", "good morning", "hey there", "hello there", "hiya"],
}
LEXICON = {"name": "lex_it_object", "elements": ["router", "laptop", "printer", "vpn"]}


def _context() -> ExecutionContext:
    return ExecutionContext(GraphSchema({}), "test")


def _training_data() -> TrainingData:
    messages = [
        Message(data={"text": text, "intent": intent})
        for intent, texts in EXAMPLES.items()
        for text in texts
    ]
    return TrainingData(training_examples=messages, lookup_tables=[LEXICON])


@pytest.fixture()
def trained(tmp_path: Path):
    storage = LocalModelStorage(tmp_path)
    resource = Resource("tfidf_intent")
    component = TfidfIntentClassifier.create({}, storage, resource, _context())
    component.train(_training_data())
    return storage, resource


def _classify(component: TfidfIntentClassifier, text: str) -> Message:
    message = Message(data={"text": text})
    component.process([message])
    return message


def test_trains_persists_and_loads(trained, tmp_path: Path) -> None:
    storage, resource = trained
    loaded = TfidfIntentClassifier.load({}, storage, resource, _context())
    assert _classify(loaded, "my invoice please").get("intent")["name"] == "ask_invoice"
    assert _classify(loaded, "hello!").get("intent")["name"] == "greet"
    # "router" never appears in an example: the keyword family carries it.
    message = _classify(loaded, "the router keeps crashing")
    assert message.get("intent")["name"] == "report_technical_issue"
    ranking = message.get("intent_ranking")
    assert abs(sum(r["confidence"] for r in ranking) - 1.0) < 1e-6
    assert ranking == sorted(ranking, key=lambda r: -r["confidence"])


def test_model_files_are_json_and_plain_arrays(trained, tmp_path: Path) -> None:
    names = {p.name for p in tmp_path.rglob("*") if p.is_file()}
    assert names == {
        "tfidf_intent.json",
        "coef_0.npy",
        "word_idf.npy",
        "char_idf.npy",
    }
    for array in tmp_path.rglob("*.npy"):
        import numpy as np

        np.load(array, allow_pickle=False)  # raises if an object array was stored


def test_blends_an_earlier_ranking(trained) -> None:
    storage, resource = trained
    blend = TfidfIntentClassifier.load(
        {"diet_weight": 0.9}, storage, resource, _context()
    )
    message = Message(data={"text": "hello"})
    message.set("intent_ranking", [{"name": "ask_invoice", "confidence": 1.0}])
    blend.process([message])
    assert message.get("intent")["name"] == "ask_invoice"


def test_untrained_component_leaves_messages_alone(tmp_path: Path) -> None:
    storage = LocalModelStorage(tmp_path)
    loaded = TfidfIntentClassifier.load({}, storage, Resource("missing"), _context())
    message = _classify(loaded, "hello")
    assert message.get("intent") is None


def test_sentence_embeddings_carry_meaning_the_ngrams_lack(tmp_path: Path) -> None:
    """With the encoder, a paraphrase sharing no word with the examples still lands."""
    from bot.sentence_encoder import DEFAULT_DIR

    if not (DEFAULT_DIR / "model.safetensors").exists():
        pytest.fail("the sentence encoder is missing: run `make setup`")
    config = {"sentence_encoder": True, "embedding_weight": 1.0, "calibrate": False}
    storage = LocalModelStorage(tmp_path)
    resource = Resource("tfidf_intent_emb")
    component = TfidfIntentClassifier.create(config, storage, resource, _context())
    component.train(_training_data())
    loaded = TfidfIntentClassifier.load(config, storage, resource, _context())
    # Without the encoder these three go wrong (checked: invoice, invoice, technical).
    expected = {
        "greetings friend": "greet",
        "my computer died": "report_technical_issue",
        "could you email me the paperwork for what we owe": "ask_invoice",
    }
    for text, intent in expected.items():
        assert _classify(loaded, text).get("intent")["name"] == intent, text
    # the embeddings are part of the features, not a separate model on disk
    coef = loaded._model["members"][0]["coef"]
    assert (
        coef.shape[1]
        == len(loaded._model["word"].vocabulary)
        + len(loaded._model["char"].vocabulary)
        + 384
    )


def test_greeting_augmentation_prefixes_requests_not_smalltalk(tmp_path: Path) -> None:
    config = {"greeting_augmentation": 1.0}
    component = TfidfIntentClassifier.create(
        config, LocalModelStorage(tmp_path), Resource("aug"), _context()
    )
    texts = [t for ts in EXAMPLES.values() for t in ts]
    labels = [i for i, ts in EXAMPLES.items() for _ in ts]
    new_texts, new_labels = component._augment(texts, labels)
    added = list(zip(new_texts, new_labels))[len(texts) :]
    assert len(added) == 12  # every invoice and technical example, no greeting
    assert {label for _, label in added} == {"ask_invoice", "report_technical_issue"}
    greetings = {t.rstrip("!.? ") for t in EXAMPLES["greet"]}
    for text, _ in added:
        assert any(text.startswith(g) for g in greetings), text
    assert component._augment(texts, labels) == (new_texts, new_labels)  # seeded
    off = TfidfIntentClassifier.create(
        {}, LocalModelStorage(tmp_path), Resource("off"), _context()
    )
    assert off._augment(texts, labels) == (texts, labels)


def test_an_ensemble_averages_its_members(tmp_path: Path) -> None:
    config = {
        "ensemble": [
            {"model": "svm", "C": 1.0},
            {"model": "logistic", "C": 10.0},
        ]
    }
    storage = LocalModelStorage(tmp_path)
    resource = Resource("ensemble")
    TfidfIntentClassifier.create(config, storage, resource, _context()).train(
        _training_data()
    )
    names = {p.name for p in tmp_path.rglob("*.npy")}
    assert {"coef_0.npy", "coef_1.npy"} <= names
    both = TfidfIntentClassifier.load(config, storage, resource, _context())
    assert len(both._model["members"]) == 2
    text = "the printer is broken again"
    averaged = both._probabilities([text])[0]
    single = []
    for member in both._model["members"]:
        both_model = dict(both._model, members=[member])
        one = TfidfIntentClassifier(config, storage, resource, both_model)
        single.append(one._probabilities([text])[0])
    assert abs(averaged - (single[0] + single[1]) / 2).max() < 1e-9
    assert _classify(both, text).get("intent")["name"] == "report_technical_issue"


def test_an_unknown_model_kind_is_refused(tmp_path: Path) -> None:
    component = TfidfIntentClassifier.create(
        {"model": "forest"}, LocalModelStorage(tmp_path), Resource("x"), _context()
    )
    with pytest.raises(ValueError, match="unknown model"):
        component.train(_training_data())


def test_fast_scoring_equals_the_training_features_times_the_weights(
    tmp_path: Path,
) -> None:
    """Inference splits each member's weights (n-grams | embeddings) and computes the
    n-grams once; the scores must be those of the full training feature matrix."""
    config = {
        "sentence_encoder": True,
        "encoder_int8": True,
        "calibrate": False,
        "ensemble": [
            {"model": "svm", "C": 1.0, "embedding_weight": 0.5},
            {"model": "logistic", "C": 10.0, "embedding_weight": 1.0},
        ],
    }
    storage = LocalModelStorage(tmp_path)
    resource = Resource("tfidf_intent_fast")
    TfidfIntentClassifier.create(config, storage, resource, _context()).train(
        _training_data()
    )
    loaded = TfidfIntentClassifier.load(config, storage, resource, _context())
    texts = ["where is my invoice for October", "teams will not start", "hi"]
    expected = 0
    for member in loaded._model["members"]:
        features = loaded._features(texts, None, member["embedding_weight"])
        scores = features @ member["coef"].T + np.array(member["intercept"])
        scores /= member["temperature"]
        exp = np.exp(scores - scores.max(axis=1, keepdims=True))
        expected = expected + exp / exp.sum(axis=1, keepdims=True)
    expected /= len(loaded._model["members"])
    assert np.abs(loaded._probabilities(texts) - expected).max() < 1e-5


def test_one_message_features_equal_scikit_learns_transform(trained) -> None:
    """A parse computes its TF-IDF row without TfidfVectorizer.transform's checks; the
    row must be the one transform gives (as training and batches use)."""
    storage, resource = trained
    loaded = TfidfIntentClassifier.load({}, storage, resource, _context())
    texts = [
        "Where is my INVOICE for October?? $20, 20€",
        "the router keeps crashing",
        "hello\t there\n\n friend",
        "zzz qqq",  # no known n-gram at all
        "",
    ]
    for text in texts:
        one = loaded._ngram_matrix([text]).toarray()
        batch = loaded._ngram_matrix([text, "x"]).toarray()[:1]
        np.testing.assert_allclose(one, batch, rtol=0, atol=1e-12, err_msg=text)
    assert loaded._ngram_matrix(["the router keeps crashing"]).nnz > 10


def test_the_tfidf_is_scikit_learns(trained) -> None:
    """Word n-grams with the keyword families, and char_wb 2-5-grams, sublinear tf."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    storage, resource = trained
    loaded = TfidfIntentClassifier.load({}, storage, resource, _context())
    word, char = loaded._model["word"], loaded._model["char"]
    assert isinstance(word, TfidfVectorizer) and isinstance(char, TfidfVectorizer)
    assert "lexfamily_lex_it_object" in word.build_analyzer()("my router is down")
    texts = [t for examples in EXAMPLES.values() for t in examples]
    reference = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True
    ).fit(texts)
    assert char.vocabulary_ == reference.vocabulary_
    np.testing.assert_allclose(char.idf_, reference.idf_)


class _CountingNlp:
    """A spaCy pipeline that counts how often it is run."""

    def __init__(self, nlp) -> None:
        self.nlp, self.calls = nlp, 0

    def __call__(self, text: str):
        self.calls += 1
        return self.nlp(text)


def _spacy_extract(csp_nlp, doc_text: str | None, text: str) -> tuple[list, int]:
    from rasa.nlu.constants import SPACY_DOCS
    from rasa.nlu.utils.spacy_utils import SpacyModel

    from bot.nlu_components import SpacyDocEntityExtractor

    counting = _CountingNlp(csp_nlp)
    extractor = SpacyDocEntityExtractor.create(
        {"dimensions": ["invoice_number", "product"]},
        LocalModelStorage(Path(".")),
        Resource("spacy_entities"),
        _context(),
    )
    message = Message(data={"text": text})
    if doc_text is not None:
        message.set(SPACY_DOCS["text"], csp_nlp(doc_text))
    extractor.process([message], SpacyModel(model=counting, model_name="csp_en"))
    found = [(e["entity"], e["value"]) for e in message.get("entities")]
    return found, counting.calls


def test_spacy_entities_come_from_the_doc_spacynlp_made(csp_nlp) -> None:
    text = "Invoice G000024135 is wrong for Microsoft 365 E3"
    found, calls = _spacy_extract(csp_nlp, text, text)
    assert calls == 0  # the doc on the message was used
    assert ("invoice_number", "G000024135") in found
    assert any(entity == "product" for entity, _ in found)


def test_a_lowercased_doc_is_not_trusted(csp_nlp) -> None:
    text = "Invoice G000024135 is wrong for Microsoft 365 E3"
    found, calls = _spacy_extract(csp_nlp, text.lower(), text)
    assert calls == 1  # spaCy ran again on the text as typed
    assert ("invoice_number", "G000024135") in found
    found_without_doc, calls = _spacy_extract(csp_nlp, None, text)
    assert calls == 1 and found_without_doc == found


def test_japanese_is_read_as_kana_and_kanji_without_the_english_encoder(
    tmp_path: Path,
) -> None:
    """Katakana, half-width katakana and hiragana share n-grams; each kanji and kana
    is a word token; a Japanese text's sentence embedding is zero."""
    from bot.nlu_components import _word_analyzer, normal_form

    assert normal_form("ｾｲｷｭｳｼｮ") == normal_form("セイキュウショ") == "せいきゅうしょ"
    assert normal_form("Ｇ０００ Invoice") == "G000 Invoice"
    analyze = _word_analyzer({}, 1)
    assert {"ja:請", "ja:求", "ja:書"} <= set(analyze("請求書ください"))
    assert not [t for t in analyze("send me my invoice") if t.startswith("ja:")]
    encoder = Path("build/minilm")
    if not (encoder / "vocab.txt").is_file():
        pytest.skip("no sentence encoder in build/minilm: `make setup`")
    component = TfidfIntentClassifier.create(
        {"sentence_encoder": True, "encoder_path": str(encoder)},
        LocalModelStorage(tmp_path),
        Resource("tfidf_intent"),
        _context(),
    )
    embeddings = component._embeddings(["send me my invoice", "請求書をください"])
    assert embeddings is not None and embeddings.shape[0] == 2
    assert np.linalg.norm(embeddings[0]) > 0.5
    assert not embeddings[1].any()
