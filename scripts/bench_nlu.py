"""Benchmark our NLU configuration against Rasa's default pipeline.

    .venv-rasa/bin/python scripts/bench_nlu.py [--eval-dir ../shared/eval/public]

Trains both configurations (ours: the NLU part of ``config.yml``; Rasa's default:
``bench/rasa_default_config.yml``) on the same data, ``data/nlu``, and measures:

- a held-out split of our own data (stratified 20 %, fixed seed; trained on the other
  80 % for that figure);
- every CSV in the public evaluation directory (columns text, topic, triage,
  source_label; an empty topic is a triage-only row), human-written files apart from
  the synthetic/peer ones;
- training time (a ``rasa train nlu`` subprocess with an empty cache) and parse latency
  (median and p95 over 1,000 in-process ``Agent.parse_message`` calls each). When both
  configurations' models are at hand, they are loaded side by side and parsed in
  alternation, so that the machine's drift over the hour the run takes weighs on both
  alike; the full-data models are kept in ``build/bench/nlu/`` for that, and
  ``--latency-only`` re-measures latency from them without training;
- parse time of long messages, 500, 2,000 and 4,000 characters (the channels' cap):
  evaluation texts strung together, ``--long-parses`` parses of each length per
  configuration, also in alternation.

Predicted topic = taxonomy(top intent); ``nlu_fallback`` counts as ``out_of_scope``.
Writes ``docs/benchmarks/nlu.md``, ``nlu.json`` and confusion-matrix PNGs. Evaluation
texts are only parsed and scored, never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from common.taxonomy import load_taxonomy  # noqa: E402

SYNTHETIC_FILES = ("bitext_synthetic.csv", "rasa_helpdesk_peer.csv")
TRIAGE_CLASSES = ("commercial", "technical", "none")
CONFIGS = {
    "ours": REPO / "config.yml",
    "rasa_default": REPO / "bench" / "rasa_default_config.yml",
}
TARGETS = {
    "public_topic_accuracy": 0.85,
    "public_triage_accuracy": 0.95,
    "public_technical_recall": 0.95,
    "heldout_topic_accuracy": 0.95,
    "training_seconds": 180.0,
    "parse_p95_ms": 30.0,
}

LONG_LENGTHS = (500, 2000, 4000)  # characters; 4,000 is what the channels let through
LONG_TARGET_MS = 200.0  # a 4,000-character parse blocks Rasa's event loop this long
KEPT = REPO / "build" / "bench" / "nlu"  # full-data models of the last run, per config
INTERLEAVED = (
    "both configurations' full-data models loaded side by side and parsing the "
    "evaluation texts in alternation (each text to both, the order flipping each "
    "time), so that a slower minute of this shared machine weighs on both alike."
)

log = logging.getLogger("bench_nlu")


# --- data ------------------------------------------------------------------------------
@dataclass
class Row:
    text: str
    topic: str  # "" = triage-only
    triage: str


def data_fingerprint(nlu_dir: Path) -> str:
    """SHA-256 over the training data files (names and contents)."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(nlu_dir.rglob("*.y*ml")):
        digest.update(str(path.relative_to(nlu_dir)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def outcome_from_json(name: str, saved: dict) -> Outcome:
    """A configuration's results as an earlier run of this script saved them."""
    result = saved["results"][name]
    outcome = Outcome(
        name,
        training_seconds=result["training_seconds"],
        heldout_training_seconds=result["heldout_training_seconds"],
        latency=result["latency"],
        groups=result["groups"],
        files=result["files"],
    )
    for group, pairs in result.get("confusion", {}).items():
        outcome.confusion[group] = Counter({(g, p): n for g, p, n in pairs})
    return outcome


def read_eval_dir(eval_dir: Path) -> dict[str, list[Row]]:
    files: dict[str, list[Row]] = {}
    for path in sorted(eval_dir.glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as fh:
            files[path.name] = [
                Row(r["text"], (r.get("topic") or "").strip(), r["triage"].strip())
                for r in csv.DictReader(fh)
            ]
    return files


def nlu_only_config(source: Path, dest: Path) -> Path:
    """Copy a config without its policies, with the model paths made absolute."""
    import yaml

    config = yaml.safe_load(source.read_text(encoding="utf-8"))
    config.pop("policies", None)
    for component in config.get("pipeline", []):
        model = component.get("model")
        if (
            component.get("name") == "SpacyNLP"
            and model
            and not Path(model).is_absolute()
        ):
            component["model"] = str(REPO / model)
        encoder = component.get("encoder_path")
        if encoder and not Path(encoder).is_absolute():
            component["encoder_path"] = str(REPO / encoder)
    dest.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return dest


JAPANESE_DIR = "ja"  # data/nlu/ja: the Japanese training data


def load_language(nlu_dir: Path, lang: str = "en") -> Any:
    """The training data of one language: English is data/nlu's own files (the
    lookup tables and synonyms too), Japanese data/nlu/ja."""
    from rasa.shared.nlu.training_data.loading import load_data
    from rasa.shared.nlu.training_data.training_data import TrainingData

    folder = nlu_dir / JAPANESE_DIR if lang == "ja" else nlu_dir
    files = sorted(p for p in folder.glob("*.yml") if p.is_file())
    sets = [load_data(str(p)) for p in files]
    return sets[0].merge(*sets[1:]) if sets else TrainingData()


def split_language(nlu_dir: Path, lang: str, seed: int) -> tuple[Any, list]:
    """A language's 80 % training part and its 20 % test examples (stratified by
    intent, fixed seed: the same split every run of the same data)."""
    data = load_language(nlu_dir, lang)
    if not data.intent_examples:
        return data, []
    train, test = data.train_test_split(train_frac=0.8, random_seed=seed)
    return train, [(m.get("text"), m.get("intent")) for m in test.intent_examples]


def split_training_data(nlu_dir: Path, out_dir: Path, seed: int) -> tuple[Path, list]:
    """Write the 80 % training part (English 80 % and Japanese 80 %); return its path
    and the 20 % English test examples (the held-out figures; the Japanese ones are
    `--japanese`'s)."""
    english, test = split_language(nlu_dir, "en", seed)
    japanese, _ = split_language(nlu_dir, "ja", seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "train.yml"
    english.merge(japanese).persist_nlu(str(path))
    return path, test


# --- training and parsing -----------------------------------------------------------------
def train(
    config: Path, nlu: Path, out: Path, name: str, cache: Path
) -> tuple[Path, float]:
    env = dict(os.environ, RASA_CACHE_DIRECTORY=str(cache), TF_CPP_MIN_LOG_LEVEL="3")
    cmd = [
        sys.executable,
        "-m",
        "rasa",
        "train",
        "nlu",
        "--config",
        str(config),
        "--nlu",
        str(nlu),
        "--domain",
        str(REPO / "domain"),
        "--out",
        str(out),
        "--fixed-model-name",
        name,
        "--quiet",
    ]
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"training {name} failed")
    return out / f"{name}.tar.gz", seconds


def quiet_structlog() -> None:
    """Rasa's structlog debug messages contain the parsed text; evaluation texts must
    never reach the output, so drop everything below ERROR."""
    import structlog

    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR)
    )


class Parser:
    def __init__(self, model: Path) -> None:
        from rasa.core.agent import Agent

        self.loop = asyncio.new_event_loop()
        self.agent = Agent.load(str(model))
        quiet_structlog()

    def parse(self, text: str) -> dict[str, Any]:
        return self.loop.run_until_complete(self.agent.parse_message(text))

    def parse_all(self, texts: list[str]) -> list[dict[str, Any]]:
        return [self.parse(t) for t in texts]

    def latency(self, texts: list[str], n: int) -> dict[str, float]:
        for text in texts[:20]:  # warm-up
            self.parse(text)
        return _alternate({"self": self}, texts, n)["self"]

    def close(self) -> None:
        self.loop.close()


def _stats(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {
        "parse_median_ms": statistics.median(values),
        "parse_p95_ms": values[int(0.95 * (len(values) - 1))],
    }


def _alternate(parsers: dict[str, Any], texts: list[str], n: int) -> dict[str, dict]:
    """Parse i goes to every parser before parse i + 1, the order flipping each time."""
    names = list(parsers)
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(n):
        text = texts[i % len(texts)]
        for name in names if i % 2 == 0 else names[::-1]:
            started = time.perf_counter()
            parsers[name].parse(text)
            times[name].append((time.perf_counter() - started) * 1000)
    return {name: _stats(values) for name, values in times.items()}


def long_messages(texts: list[str], length: int, count: int = 10) -> list[str]:
    """``count`` messages of ``length`` characters: texts strung together (seeded)."""
    import random

    pool = [t.strip() for t in texts if t.strip()] or ["hello"]
    rng = random.Random(length)
    messages = []
    for _ in range(count):
        order = rng.sample(pool, len(pool))
        message, i = "", 0
        while len(message) < length:
            message += order[i % len(order)] + " "
            i += 1
        messages.append(message[:length])
    return messages


def latency_by_length(
    parsers: dict[str, Any], texts: list[str], n: int
) -> dict[str, dict[str, dict]]:
    """Per parser, median and p95 parse time of LONG_LENGTHS-character messages."""
    result: dict[str, dict[str, dict]] = {name: {} for name in parsers}
    for length in LONG_LENGTHS:
        messages = long_messages(texts, length)
        for message in messages[:2]:  # warm-up
            for parser in parsers.values():
                parser.parse(message)
        for name, stats in _alternate(parsers, messages, n).items():
            result[name][str(length)] = stats
    return result


def interleaved_latency(
    models: dict[str, Path], texts: list[str], n: int, long_n: int = 0
) -> dict[str, dict[str, Any]]:
    """Median and p95 parse time of each model, the models parsing in alternation.

    Parse i goes to every model before parse i + 1 (the order flipping each time), so a
    slower minute of a shared machine costs every configuration the same. With
    ``long_n``, also ``by_length``: ``long_n`` parses of each LONG_LENGTHS message size.
    """
    parsers = {name: Parser(path) for name, path in models.items()}
    try:
        for text in texts[:20]:  # warm-up
            for parser in parsers.values():
                parser.parse(text)
        result: dict[str, dict[str, Any]] = dict(_alternate(parsers, texts, n))
        if long_n:
            for name, rows in latency_by_length(parsers, texts, long_n).items():
                result[name]["by_length"] = rows
    finally:
        for parser in parsers.values():
            parser.close()
    return result


def keep_model(name: str, model: Path, stamp: dict[str, str]) -> None:
    """Keep a full-data model (and what it was made from) for --latency-only."""
    import shutil

    KEPT.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model, KEPT / f"{name}.tar.gz")
    (KEPT / f"{name}.json").write_text(json.dumps(stamp) + "\n", encoding="utf-8")


def kept_model(name: str, stamp: dict[str, str]) -> Path | None:
    """The kept model of ``name`` if it was made from this data and config."""
    model, meta = KEPT / f"{name}.tar.gz", KEPT / f"{name}.json"
    if not model.is_file() or not meta.is_file():
        return None
    return model if json.loads(meta.read_text(encoding="utf-8")) == stamp else None


def model_stamp(config: Path, data_sha256: str, work: Path) -> dict[str, str]:
    """Training data and NLU config fingerprints of a configuration."""
    import hashlib

    cfg = nlu_only_config(config, work / f"stamp_{config.stem}.yml")
    digest = hashlib.sha256(cfg.read_bytes()).hexdigest()
    return {"data_sha256": data_sha256, "config_sha256": digest}


# --- metrics ---------------------------------------------------------------------------------
def topic_of(parse: dict[str, Any]) -> str:
    """The topic `POST /api/v1/nlu/classify` reports: the best real intent's, also
    when Rasa's FallbackClassifier flagged low confidence."""
    return load_taxonomy().topic_for_parse(parse, use_runner_up=True)


def topic_as_the_bot_acts(parse: dict[str, Any]) -> str:
    """Stricter: `nlu_fallback` counts as out_of_scope (the bot's first reaction is
    to ask for confirmation instead of acting)."""
    return load_taxonomy().topic_for_parse(parse)


def score(
    gold_topics: list[str], gold_triage: list[str], pred_topics: list[str]
) -> dict:
    """Topic accuracy/macro-F1 over rows with a topic; triage figures over all rows."""
    from sklearn.metrics import f1_score, precision_recall_fscore_support

    taxonomy = load_taxonomy()
    result: dict[str, Any] = {"rows": len(gold_triage)}
    pairs = [(g, p) for g, p in zip(gold_topics, pred_topics) if g]
    result["topic_rows"] = len(pairs)
    if pairs:
        gold, pred = zip(*pairs)
        result["topic_accuracy"] = sum(g == p for g, p in pairs) / len(pairs)
        result["topic_macro_f1"] = float(
            f1_score(
                gold, pred, labels=sorted(set(gold)), average="macro", zero_division=0
            )
        )
    pred_triage = [taxonomy.triage_for_topic(p) for p in pred_topics]
    result["triage_accuracy"] = sum(
        g == p for g, p in zip(gold_triage, pred_triage)
    ) / max(len(gold_triage), 1)
    precision, recall, _, support = precision_recall_fscore_support(
        gold_triage, pred_triage, labels=list(TRIAGE_CLASSES), zero_division=0
    )
    for i, cls in enumerate(TRIAGE_CLASSES):
        result[f"{cls}_precision"] = float(precision[i])
        result[f"{cls}_recall"] = float(recall[i])
        result[f"{cls}_support"] = int(support[i])
    return result


@dataclass
class Outcome:
    name: str
    training_seconds: float = 0.0
    heldout_training_seconds: float = 0.0
    latency: dict[str, float] = field(default_factory=dict)
    groups: dict[str, dict] = field(default_factory=dict)
    files: dict[str, dict] = field(default_factory=dict)
    confusion: dict[str, Counter] = field(default_factory=dict)


def evaluate_public(
    parser: Parser, files: dict[str, list[Row]], outcome: Outcome
) -> list[str]:
    human_gold_topic, human_gold_triage, human_pred = [], [], []
    human_strict: list[str] = []
    confusion: Counter = Counter()
    texts: list[str] = []
    for name, rows in files.items():
        texts.extend(r.text for r in rows)
        parses = parser.parse_all([r.text for r in rows])
        pred = [topic_of(p) for p in parses]
        gold_topic = [r.topic for r in rows]
        gold_triage = [r.triage for r in rows]
        outcome.files[name] = score(gold_topic, gold_triage, pred)
        if name in SYNTHETIC_FILES:
            outcome.groups[Path(name).stem] = outcome.files[name]
            continue
        human_gold_topic += gold_topic
        human_gold_triage += gold_triage
        human_pred += pred
        human_strict += [topic_as_the_bot_acts(p) for p in parses]
        confusion.update((g, p) for g, p in zip(gold_topic, pred) if g)
    outcome.groups["public_human"] = score(
        human_gold_topic, human_gold_triage, human_pred
    )
    outcome.groups["public_human_fallback_as_oos"] = score(
        human_gold_topic, human_gold_triage, human_strict
    )
    outcome.confusion["public_human"] = confusion
    return texts


def evaluate_heldout(
    parser: Parser, test: list[tuple[str, str]], outcome: Outcome
) -> None:
    taxonomy = load_taxonomy()
    parses = parser.parse_all([t for t, _ in test])
    gold_topic = [taxonomy.topic_for_intent(i) for _, i in test]
    gold_triage = [taxonomy.triage_for_topic(t) for t in gold_topic]
    pred = [topic_of(p) for p in parses]
    result = score(gold_topic, gold_triage, pred)
    result["intent_accuracy"] = sum(
        p["intent"]["name"] == i for p, (_, i) in zip(parses, test)
    ) / max(len(test), 1)
    outcome.groups["heldout"] = result
    outcome.confusion["heldout"] = Counter(zip(gold_topic, pred))


# --- Japanese ---------------------------------------------------------------------------------
JAPANESE_TARGETS = {
    "topic_accuracy": 0.90,
    "triage_accuracy": 0.95,
    "technical_recall": 0.95,
    "parse_p95_ms": 30.0,
}


def heldout_scores(parser: Parser, test: list[tuple[str, str]]) -> dict[str, Any]:
    """Topic, triage and intent figures of held-out examples, and how often the
    language detector names Japanese and the desk speaks it."""
    taxonomy = load_taxonomy()
    parses = parser.parse_all([t for t, _ in test])
    gold_topic = [taxonomy.topic_for_intent(i) for _, i in test]
    gold_triage = [taxonomy.triage_for_topic(t) for t in gold_topic]
    result = score(gold_topic, gold_triage, [topic_of(p) for p in parses])
    result["intent_accuracy"] = sum(
        p["intent"]["name"] == i for p, (_, i) in zip(parses, test)
    ) / max(len(test), 1)
    languages = Counter(
        (p.get("language") or {}).get("code", "?") for p in parses if p.get("language")
    )
    result["languages"] = dict(languages.most_common())
    result["spoken"] = sum(
        bool((p.get("language") or {}).get("spoken")) for p in parses
    ) / max(len(parses), 1)
    return result


def japanese_bench(args: argparse.Namespace, out_dir: Path) -> int:
    """One model for both languages or one per language, measured on held-out
    splits: English 80 % alone, English 80 % + Japanese 80 % (one model), Japanese
    80 % alone (its own model); each parsed on the 20 % it did not see."""
    from rasa.shared.nlu.training_data.loading import load_data

    nlu = Path(args.nlu)
    en_train, en_test = split_language(nlu, "en", args.seed)
    ja_train, ja_test = split_language(nlu, "ja", args.seed)
    if not ja_test:
        raise SystemExit(f"no Japanese training data in {nlu / JAPANESE_DIR}")
    lookups = load_data(str(nlu / "lookups.yml"))
    data = {
        "english_only": en_train,
        "one_model": en_train.merge(ja_train),
        "japanese_only": ja_train.merge(lookups),
    }
    evaluated = {
        "english_only": {"english": en_test},
        "one_model": {"english": en_test, "japanese": ja_test},
        "japanese_only": {"japanese": ja_test},
    }
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_nlu_ja_") as tmp:
        work = Path(tmp)
        cfg = nlu_only_config(Path(args.config), work / "config.yml")
        for name, training in data.items():
            path = work / f"{name}.yml"
            training.persist_nlu(str(path))
            log.info("%s: training on %d examples", name, len(training.intent_examples))
            model, seconds = train(cfg, path, work / "models", name, work / f"c_{name}")
            parser = Parser(model)
            results[name] = {"training_seconds": seconds}
            for lang, test in evaluated[name].items():
                results[name][lang] = heldout_scores(parser, test)
                texts = [t for t, _ in test]
                results[name][lang]["latency"] = parser.latency(texts, args.parses)
            parser.close()
            log.info("%s: %s", name, json.dumps(results[name], default=str)[:600])
    setup = {
        "seed": args.seed,
        "english_train": len(en_train.intent_examples),
        "english_heldout": len(en_test),
        "japanese_train": len(ja_train.intent_examples),
        "japanese_heldout": len(ja_test),
        "data_sha256": data_fingerprint(nlu),
    }
    (out_dir / "nlu_japanese.json").write_text(
        json.dumps(
            {"machine": machine_info(), "setup": setup, "results": results},
            indent=2,
            sort_keys=True,
        )
        + "\n",
        encoding="utf-8",
    )
    report = write_japanese_report(results, setup, out_dir)
    log.info("wrote %s", report)
    return 0


def write_japanese_report(
    results: dict[str, dict[str, Any]], setup: dict[str, Any], out_dir: Path
) -> Path:
    one = results["one_model"]
    ja = one["japanese"]
    figures = {
        "topic_accuracy": ja["topic_accuracy"],
        "triage_accuracy": ja["triage_accuracy"],
        "technical_recall": ja["technical_recall"],
        "parse_p95_ms": ja["latency"]["parse_p95_ms"],
    }
    lines = [
        "# NLU benchmark: Japanese",
        "",
        "Written by `.venv-rasa/bin/python scripts/bench_nlu.py --japanese` "
        f"({machine_info()['date']}). Held-out splits (stratified 20 %, seed "
        f"{setup['seed']}) of `data/nlu` (English, {setup['english_heldout']} "
        f"examples) and `data/nlu/ja` (Japanese, {setup['japanese_heldout']} "
        "examples); each model is trained on the other 80 % of what it is given.",
        "",
        "## Japanese, one model for both languages (config.yml)",
        "",
        "| figure | value | target | met |",
        "|---|---|---|---|",
    ]
    for key, target in JAPANESE_TARGETS.items():
        value = figures[key]
        met = value <= target if key.endswith("_ms") else value >= target
        lines.append(
            f"| {key} | {fmt(value)} | {fmt(target)} | {'yes' if met else 'NO'} |"
        )
    lines += [
        "",
        "## One model or one per language",
        "",
        "| model | trained on | English topic | English triage | English technical "
        "recall | Japanese topic | Japanese triage | Japanese technical recall | "
        "training s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    trained_on = {
        "english_only": "English 80 %",
        "one_model": "English 80 % + Japanese 80 %",
        "japanese_only": "Japanese 80 %",
    }
    for name, result in results.items():
        cells = [name, trained_on[name]]
        for lang in ("english", "japanese"):
            part = result.get(lang)
            for key in ("topic_accuracy", "triage_accuracy", "technical_recall"):
                cells.append(fmt(part[key]) if part else "-")
        cells.append(f"{result['training_seconds']:.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Parse latency (ms, in-process `Agent.parse_message`, held-out texts): "
        + ", ".join(
            f"{name} {lang} median {r[lang]['latency']['parse_median_ms']:.1f} / p95 "
            f"{r[lang]['latency']['parse_p95_ms']:.1f}"
            for name, r in results.items()
            for lang in ("english", "japanese")
            if lang in r
        )
        + ".",
        "",
        "Language detected on the Japanese held-out texts (one model): "
        f"{ja['languages']}; spoken by the desk: {fmt(ja['spoken'])}.",
        "",
    ]
    path = out_dir / "nlu_japanese.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


# --- report -------------------------------------------------------------------------------------
def plot_confusion(outcome: Outcome, out_dir: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    topics = list(load_taxonomy().topics)
    fig, axes = plt.subplots(1, 2, figsize=(17, 7.5))
    for ax, group in zip(axes, ("public_human", "heldout")):
        counts = outcome.confusion.get(group, Counter())
        matrix = np.array([[counts[(g, p)] for p in topics] for g in topics], float)
        sums = matrix.sum(axis=1, keepdims=True)
        norm = np.divide(matrix, sums, out=np.zeros_like(matrix), where=sums > 0)
        ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(topics)), topics, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(len(topics)), topics, fontsize=8)
        ax.set_xlabel("predicted topic")
        ax.set_ylabel("true topic")
        ax.set_title(f"{outcome.name}: {group} (row-normalised, counts)")
        for i in range(len(topics)):
            for j in range(len(topics)):
                if matrix[i, j]:
                    ax.text(
                        j,
                        i,
                        int(matrix[i, j]),
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if norm[i, j] > 0.5 else "black",
                    )
    fig.tight_layout()
    path = out_dir / f"nlu_confusion_{outcome.name}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def machine_info() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import rasa

    return {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "load_average_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "python": platform.python_version(),
        "rasa": rasa.__version__,
    }


def fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def comparisons(ours: Outcome, base: Outcome) -> list[tuple[str, float, float, bool]]:
    """Every figure, ours vs default: (name, ours, default, ours is better or equal)."""
    rows = []
    for group in ("heldout", "public_human"):
        keys = ["topic_accuracy", "topic_macro_f1", "triage_accuracy"]
        keys += [f"{c}_{m}" for c in TRIAGE_CLASSES for m in ("precision", "recall")]
        for key in keys:
            if key in ours.groups.get(group, {}) and key in base.groups.get(group, {}):
                a, b = ours.groups[group][key], base.groups[group][key]
                rows.append((f"{group} {key}", a, b, a >= b))
    rows.append(
        (
            "training seconds (lower is better)",
            ours.training_seconds,
            base.training_seconds,
            ours.training_seconds <= base.training_seconds,
        )
    )
    for key in ("parse_median_ms", "parse_p95_ms"):
        a, b = ours.latency.get(key, 0.0), base.latency.get(key, 0.0)
        rows.append((f"{key} (lower is better)", a, b, a <= b))
    return rows


def target_rows(ours: Outcome, base: Outcome | None) -> list[tuple[str, str, bool]]:
    human = ours.groups.get("public_human", {})
    held = ours.groups.get("heldout", {})
    rows = [
        (
            "public human-written: topic accuracy ≥ 0.85",
            fmt(human.get("topic_accuracy")),
            human.get("topic_accuracy", 0) >= 0.85,
        ),
        (
            "public human-written: triage accuracy ≥ 0.95",
            fmt(human.get("triage_accuracy")),
            human.get("triage_accuracy", 0) >= 0.95,
        ),
        (
            "public human-written: technical recall ≥ 0.95",
            fmt(human.get("technical_recall")),
            human.get("technical_recall", 0) >= 0.95,
        ),
        (
            "own held-out: topic accuracy ≥ 0.95",
            fmt(held.get("topic_accuracy")),
            held.get("topic_accuracy", 0) >= 0.95,
        ),
        (
            "training ≤ 3 min",
            f"{ours.training_seconds:.0f} s",
            0 < ours.training_seconds <= 180,
        ),
        (
            "parse p95 ≤ 30 ms",
            f"{ours.latency.get('parse_p95_ms', 0):.1f} ms",
            0 < ours.latency.get("parse_p95_ms", 1e9) <= 30,
        ),
    ]
    longest = ours.latency.get("by_length", {}).get(str(max(LONG_LENGTHS)))
    if longest:
        rows.append(
            (
                f"{max(LONG_LENGTHS):,}-character message: parse p95 ≤ "
                f"{LONG_TARGET_MS:.0f} ms",
                f"{longest['parse_p95_ms']:.1f} ms",
                longest["parse_p95_ms"] <= LONG_TARGET_MS,
            )
        )
    if base is not None:
        worse = [c[0] for c in comparisons(ours, base) if not c[3]]
        rows.append(
            (
                "better than Rasa default on every figure",
                "all" if not worse else "not on: " + ", ".join(worse),
                not worse,
            )
        )
    return rows


def length_table(outcomes: list[Outcome]) -> list[str]:
    """Markdown rows: parse time of long messages, each configuration side by side."""
    if not any(o.latency.get("by_length") for o in outcomes):
        return []
    header = ["message length"]
    for o in outcomes:
        header += [f"{o.name} median (ms)", f"{o.name} p95 (ms)"]
    lines = [
        "",
        "## Parse time by message length",
        "",
        "Evaluation texts strung together into messages of each length (the channels "
        f"cap a message at {max(LONG_LENGTHS):,} characters); parsed in-process like the "
        "summary's figures, the configurations in alternation when both are listed.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for length in LONG_LENGTHS:
        cells = [f"{length:,} characters"]
        for o in outcomes:
            row = o.latency.get("by_length", {}).get(str(length))
            cells += (
                [f"{row['parse_median_ms']:.1f}", f"{row['parse_p95_ms']:.1f}"]
                if row
                else ["–", "–"]
            )
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def write_report(
    outcomes: list[Outcome], info: dict, extra: dict, out_dir: Path
) -> Path:
    ours = next(o for o in outcomes if o.name == "ours")
    base = next((o for o in outcomes if o.name == "rasa_default"), None)
    lines = [
        "# NLU benchmark",
        "",
        "Generated by `scripts/bench_nlu.py` (`.venv-rasa/bin/python scripts/bench_nlu.py`);"
        " do not edit by hand.",
        "",
        f"- Date: {info['date']}",
        f"- Machine: {info['nproc']} cores ({info['cpu']}), load average at start "
        f"{info['load_average_at_start']} (the machine is shared: times are indicative)",
        f"- Python {info['python']}, Rasa {info['rasa']}",
        f"- Training data: {extra['training_examples']} examples, "
        f"{extra['intents']} intents (`{extra['nlu']}`); held-out: stratified 20 % "
        f"({extra['heldout_examples']} examples, seed {extra['seed']}), trained on the "
        "other 80 %",
        f"- Public evaluation: `{extra['eval_dir']}` ({extra['eval_rows']} rows); "
        "human-written = every file except " + ", ".join(SYNTHETIC_FILES),
        "- Predicted topic = taxonomy(best intent), as `POST /api/v1/nlu/classify` "
        "reports it (below the fallback threshold that is still the best real intent, "
        "flagged low_confidence); triage = taxonomy(topic). The rows "
        "*public_human_fallback_as_oos* count `nlu_fallback` as out_of_scope instead "
        "(the bot's first reaction: it asks before acting)",
        "- Configurations: **ours** = `config.yml` (NLU part), **rasa_default** = "
        "`bench/rasa_default_config.yml`",
        *(
            [
                f"- **rasa_default was not retrained in this run**: its figures are "
                f"those of the run of {info['baseline_reused_from']} "
                "(`--reuse-baseline`), made from the same training data (SHA-256 "
                "fingerprint checked) and the same evaluation rows"
            ]
            if info.get("baseline_reused_from")
            else []
        ),
        *(
            ["- Parse latency: " + info["latency_method"]]
            if info.get("latency_method")
            else []
        ),
        "",
        "## Targets (ours)",
        "",
        "| target | value | met |",
        "|---|---|---|",
    ]
    lines += [
        f"| {n} | {v} | {'met' if ok else 'NOT met'} |"
        for n, v, ok in target_rows(ours, base)
    ]
    header = ["figure", *[o.name for o in outcomes]]
    lines += [
        "",
        "## Summary",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    summary_keys = [
        ("heldout", "intent_accuracy"),
        ("heldout", "topic_accuracy"),
        ("heldout", "topic_macro_f1"),
        ("heldout", "triage_accuracy"),
        ("public_human", "topic_accuracy"),
        ("public_human", "topic_macro_f1"),
        ("public_human", "triage_accuracy"),
        ("public_human_fallback_as_oos", "topic_accuracy"),
        ("public_human_fallback_as_oos", "triage_accuracy"),
        ("public_human_fallback_as_oos", "technical_recall"),
    ] + [
        ("public_human", f"{c}_{m}")
        for c in TRIAGE_CLASSES
        for m in ("precision", "recall")
    ]
    for group, key in summary_keys:
        lines.append(
            f"| {group} {key} | "
            + " | ".join(fmt(o.groups.get(group, {}).get(key, "–")) for o in outcomes)
            + " |"
        )
    lines.append(
        "| training time, full data (s) | "
        + " | ".join(f"{o.training_seconds:.0f}" for o in outcomes)
        + " |"
    )
    lines.append(
        "| training time, 80 % split (s) | "
        + " | ".join(f"{o.heldout_training_seconds:.0f}" for o in outcomes)
        + " |"
    )
    for key in ("parse_median_ms", "parse_p95_ms"):
        lines.append(
            f"| {key} | "
            + " | ".join(f"{o.latency.get(key, 0):.1f}" for o in outcomes)
            + " |"
        )

    lines += length_table(outcomes)

    cols = ["rows", "topic_rows", "topic_accuracy", "topic_macro_f1", "triage_accuracy"]
    cols += [f"{c}_{m}" for c in TRIAGE_CLASSES for m in ("precision", "recall")]
    for outcome in outcomes:
        lines += [
            "",
            f"## Per file: {outcome.name}",
            "",
            "| file | " + " | ".join(cols) + " |",
            "|---" * (len(cols) + 1) + "|",
        ]
        for name, result in outcome.files.items():
            tag = " (synthetic/peer)" if name in SYNTHETIC_FILES else ""
            lines.append(
                f"| {name}{tag} | "
                + " | ".join(fmt(result.get(c, "–")) for c in cols)
                + " |"
            )
        human = outcome.groups.get("public_human", {})
        lines.append(
            "| **all human-written** | "
            + " | ".join(fmt(human.get(c, "–")) for c in cols)
            + " |"
        )
        lines += [
            "",
            f"Most frequent topic confusions ({outcome.name}, public "
            "human-written; true → predicted: count):",
            "",
        ]
        confusion = outcome.confusion.get("public_human", Counter())
        worst = [(k, v) for k, v in confusion.most_common() if k[0] != k[1]][:10]
        lines += [f"- {g} → {p}: {n}" for (g, p), n in worst] or ["- none"]
        lines += ["", f"![confusion {outcome.name}](nlu_confusion_{outcome.name}.png)"]
    if base is not None:
        lines += [
            "",
            "## Ours vs Rasa default, figure by figure",
            "",
            "| figure | ours | rasa_default | ours better or equal |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {n} | {fmt(a)} | {fmt(b)} | {'yes' if ok else 'no'} |"
            for n, a, b, ok in comparisons(ours, base)
        ]
    path = out_dir / "nlu.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- main ----------------------------------------------------------------------------------------
def run_config(
    name: str,
    config: Path,
    args: argparse.Namespace,
    work: Path,
    files: dict[str, list[Row]],
    heldout: tuple[Path, list] | None,
) -> Outcome:
    outcome = Outcome(name)
    cfg = nlu_only_config(config, work / f"{name}_config.yml")
    if heldout is not None:
        log.info("%s: training on the 80 %% split", name)
        model, outcome.heldout_training_seconds = train(
            cfg, heldout[0], work / "models", f"{name}_split", work / f"cache_{name}_s"
        )
        parser = Parser(model)
        evaluate_heldout(parser, heldout[1], outcome)
        parser.close()
        del parser
    log.info("%s: training on all data", name)
    model, outcome.training_seconds = train(
        cfg, Path(args.nlu), work / "models", f"{name}_full", work / f"cache_{name}"
    )
    parser = Parser(model)
    texts = evaluate_public(parser, files, outcome)
    outcome.latency = parser.latency(texts or ["hello"], args.parses)
    if args.long_parses:
        outcome.latency["by_length"] = latency_by_length(
            {name: parser}, texts or ["hello"], args.long_parses
        )[name]
    parser.close()
    log.info(
        "%s: %s",
        name,
        json.dumps(
            {
                g: {k: round(v, 3) for k, v in r.items() if isinstance(v, float)}
                for g, r in outcome.groups.items()
            }
        ),
    )
    log.info(
        "%s: training %.0f s, latency %s",
        name,
        outcome.training_seconds,
        {k: round(v, 1) for k, v in outcome.latency.items() if isinstance(v, float)},
    )
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--eval-dir",
        default=str(REPO.parent / "shared/eval/public"),
        help="directory of evaluation CSVs (default ../shared/eval/public)",
    )
    parser.add_argument("--config", default=str(CONFIGS["ours"]), help="our config")
    parser.add_argument("--only", choices=sorted(CONFIGS), help="run one configuration")
    parser.add_argument("--no-heldout", action="store_true", help="skip the 80/20 run")
    parser.add_argument(
        "--nlu",
        default=str(REPO / "data" / "nlu"),
        help="training data (default data/nlu)",
    )
    parser.add_argument(
        "--reuse-baseline",
        metavar="NLU_JSON",
        help=(
            "take Rasa default's results from an earlier run's nlu.json instead of "
            "training it again (~45 min here); refused unless that run used the same "
            "training data (fingerprint) and evaluation rows"
        ),
    )
    parser.add_argument(
        "--latency-only",
        action="store_true",
        help=(
            "no training: parse with the models the last run kept in build/bench/nlu "
            "(refused unless made from this data and these configs), in alternation, "
            "and rewrite the latency figures of nlu.json and the report"
        ),
    )
    parser.add_argument(
        "--japanese",
        action="store_true",
        help=(
            "the Japanese section only: held-out splits of data/nlu and data/nlu/ja, "
            "one model for both languages against one per language "
            "(docs/benchmarks/nlu_japanese.md)"
        ),
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--parses", type=int, default=1000)
    parser.add_argument(
        "--long-parses",
        type=int,
        default=100,
        help="parses of each long-message length (500/2,000/4,000 characters)",
    )
    parser.add_argument("--out-dir", default=str(REPO / "docs" / "benchmarks"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for noisy in ("rasa", "tensorflow", "absl", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    quiet_structlog()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    if args.japanese:
        out = Path(args.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        return japanese_bench(args, out)
    info = machine_info()
    files = read_eval_dir(Path(args.eval_dir))
    if not files:
        raise SystemExit(f"no CSV files in {args.eval_dir}")
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    configs = dict(CONFIGS, ours=Path(args.config))
    fingerprint = data_fingerprint(Path(args.nlu))
    if args.latency_only:
        return latency_only(args, configs, files, fingerprint, out_dir)
    if args.only:
        configs = {args.only: configs[args.only]}
    reused: Outcome | None = None
    if args.reuse_baseline:
        saved = json.loads(Path(args.reuse_baseline).read_text(encoding="utf-8"))
        setup = saved.get("setup", {})
        if setup.get("data_sha256") != fingerprint:
            raise SystemExit(
                f"{args.reuse_baseline} was made from other training data; "
                "run without --reuse-baseline"
            )
        if setup.get("eval_rows") != sum(len(r) for r in files.values()):
            raise SystemExit(f"{args.reuse_baseline} used other evaluation rows")
        reused = outcome_from_json("rasa_default", saved)
        info["baseline_reused_from"] = saved.get("machine", {}).get("date", "?")
        configs.pop("rasa_default", None)

    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(args.nlu)
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="bench_nlu_") as tmp:
        work = Path(tmp)
        heldout = (
            None
            if args.no_heldout
            else split_training_data(Path(args.nlu), work / "split", args.seed)
        )
        stamps = {
            name: model_stamp(config, fingerprint, work)
            for name, config in dict(CONFIGS, ours=Path(args.config)).items()
        }
        for name, config in configs.items():
            outcomes.append(run_config(name, config, args, work, files, heldout))
            keep_model(name, work / "models" / f"{name}_full.tar.gz", stamps[name])
    for outcome in outcomes:
        plot_confusion(outcome, out_dir)
    if reused is not None:
        outcomes.append(reused)  # its confusion picture is the earlier run's
    models = {o.name: kept_model(o.name, stamps[o.name]) for o in outcomes}
    if len(outcomes) > 1 and all(models.values()):
        log.info("parse latency, the configurations in alternation")
        texts = [row.text for rows in files.values() for row in rows]
        latencies = interleaved_latency(
            {name: path for name, path in models.items() if path},
            texts,
            args.parses,
            args.long_parses,
        )
        for outcome in outcomes:
            outcome.latency = latencies[outcome.name]
        info["latency_method"] = INTERLEAVED
    extra = {
        "training_examples": len(data.intent_examples),
        "intents": len(data.intents),
        "heldout_examples": len(heldout[1]) if heldout else 0,
        "seed": args.seed,
        "data_sha256": fingerprint,
        "nlu": os.path.relpath(args.nlu, REPO),
        "eval_dir": os.path.relpath(args.eval_dir, REPO),
        "eval_rows": sum(len(r) for r in files.values()),
    }
    if any(o.name == "ours" for o in outcomes):
        report = write_report(outcomes, info, extra, out_dir)
        log.info("wrote %s", report)
    write_json(outcomes, info, extra, out_dir)
    return 0


def write_json(outcomes: list[Outcome], info: dict, extra: dict, out_dir: Path) -> None:
    (out_dir / "nlu.json").write_text(
        json.dumps(
            {
                "machine": info,
                "setup": extra,
                "results": {
                    o.name: {
                        "training_seconds": o.training_seconds,
                        "heldout_training_seconds": o.heldout_training_seconds,
                        "latency": o.latency,
                        "groups": o.groups,
                        "files": o.files,
                        "confusion": {
                            group: [[g, p, n] for (g, p), n in counter.items()]
                            for group, counter in o.confusion.items()
                        },
                    }
                    for o in outcomes
                },
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )


def latency_only(
    args: argparse.Namespace,
    configs: dict[str, Path],
    files: dict[str, list[Row]],
    fingerprint: str,
    out_dir: Path,
) -> int:
    """Re-measure parse latency with the kept models; the other figures stay."""
    saved = json.loads((out_dir / "nlu.json").read_text(encoding="utf-8"))
    if saved.get("setup", {}).get("data_sha256") != fingerprint:
        raise SystemExit(
            "nlu.json was made from other training data: run the benchmark"
        )
    outcomes = [outcome_from_json(name, saved) for name in saved["results"]]
    with tempfile.TemporaryDirectory(prefix="bench_nlu_") as tmp:
        stamps = {
            name: model_stamp(config, fingerprint, Path(tmp))
            for name, config in configs.items()
        }
    models = {}
    for outcome in outcomes:
        model = kept_model(outcome.name, stamps[outcome.name])
        if model is None:
            raise SystemExit(
                f"no kept {outcome.name} model made from this data and config in "
                f"{KEPT}: run the benchmark"
            )
        models[outcome.name] = model
    texts = [row.text for rows in files.values() for row in rows]
    latencies = interleaved_latency(models, texts, args.parses, args.long_parses)
    for outcome in outcomes:
        outcome.latency = latencies[outcome.name]
        log.info("%s: latency %s", outcome.name, outcome.latency)
    info = dict(saved["machine"])
    now = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    info["latency_method"] = (
        f"{INTERLEAVED} Re-measured on {now} (`--latency-only`, load average "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
        + ") with the models this run trained."
    )
    if any(o.name == "ours" for o in outcomes):
        log.info("wrote %s", write_report(outcomes, info, saved["setup"], out_dir))
    write_json(outcomes, info, saved["setup"], out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
