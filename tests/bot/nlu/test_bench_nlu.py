"""scripts/bench_nlu.py: kept models and the side-by-side latency measurement."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "scripts"))
bench_nlu = pytest.importorskip("bench_nlu")


def test_a_kept_model_is_used_only_for_the_data_and_config_it_was_made_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench_nlu, "KEPT", tmp_path / "kept")
    model = tmp_path / "m.tar.gz"
    model.write_bytes(b"model")
    stamp = {"data_sha256": "a", "config_sha256": "b"}
    bench_nlu.keep_model("ours", model, stamp)
    assert bench_nlu.kept_model("ours", stamp) == tmp_path / "kept" / "ours.tar.gz"
    assert bench_nlu.kept_model("ours", {**stamp, "data_sha256": "other"}) is None
    assert bench_nlu.kept_model("rasa_default", stamp) is None


def test_the_stamp_follows_the_config(tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    config.write_text("language: en\npipeline:\n  - name: WhitespaceTokenizer\n")
    first = bench_nlu.model_stamp(config, "data", tmp_path)
    config.write_text("language: en\npipeline:\n  - name: SpacyTokenizer\n")
    assert bench_nlu.model_stamp(config, "data", tmp_path) != first


def test_models_parse_in_alternation(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []

    class FakeParser:
        def __init__(self, model: Path) -> None:
            self.name = str(model)

        def parse(self, text: str) -> dict:
            calls.append((self.name, text))
            return {}

        def close(self) -> None:
            pass

    monkeypatch.setattr(bench_nlu, "Parser", FakeParser)
    result = bench_nlu.interleaved_latency(
        {"ours": Path("a"), "rasa_default": Path("b")}, ["x", "y"], 10
    )
    assert set(result) == {"ours", "rasa_default"}
    assert all(0 <= r["parse_median_ms"] <= r["parse_p95_ms"] for r in result.values())
    measured = calls[-20:]  # after the warm-up
    assert [name for name, _ in measured[:4]] == ["a", "b", "b", "a"]
    assert [text for _, text in measured[:4]] == ["x", "x", "y", "y"]
    assert sum(name == "a" for name, _ in measured) == 10


def test_long_messages_have_the_length_asked_for() -> None:
    texts = ["Where is my invoice?", "Outlook will not start.", "refund pls"]
    for length in bench_nlu.LONG_LENGTHS:
        messages = bench_nlu.long_messages(texts, length, count=3)
        assert [len(m) for m in messages] == [length] * 3
        assert messages == bench_nlu.long_messages(texts, length, count=3)  # seeded


def test_long_messages_are_timed_for_every_model_and_reported(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    lengths: list[int] = []

    class FakeParser:
        def __init__(self, model: Path) -> None:
            pass

        def parse(self, text: str) -> dict:
            lengths.append(len(text))
            return {}

        def close(self) -> None:
            pass

    monkeypatch.setattr(bench_nlu, "Parser", FakeParser)
    result = bench_nlu.interleaved_latency(
        {"ours": Path("a"), "rasa_default": Path("b")}, ["x", "y"], 4, long_n=6
    )
    for name in ("ours", "rasa_default"):
        assert set(result[name]["by_length"]) == {"500", "2000", "4000"}
    assert lengths.count(4000) == 2 * (2 + 6)  # warm-up + measured, both models
    outcomes = [
        bench_nlu.Outcome(name, latency=result[name])
        for name in ("ours", "rasa_default")
    ]
    table = "\n".join(bench_nlu.length_table(outcomes))
    assert "| 4,000 characters |" in table
    assert "ours p95 (ms)" in table and "rasa_default median (ms)" in table
    rows = bench_nlu.target_rows(outcomes[0], None)
    assert any(name.startswith("4,000-character message") for name, _, _ in rows)
