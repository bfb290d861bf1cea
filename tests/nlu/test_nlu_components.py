"""TfidfIntentClassifier: trains, persists without pickle, loads, classifies.

Runs in the Rasa venv; skipped where Rasa is not installed.
"""

from __future__ import annotations

from pathlib import Path

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
    assert names == {"tfidf_intent.json", "coef.npy", "word_idf.npy", "char_idf.npy"}
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
