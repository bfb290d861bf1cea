"""The topic and triage taxonomy, loaded from ``common/taxonomy.yml``.

Pure Python plus PyYAML, so it imports the same way in ``.venv`` (API, actions) and in
``.venv-rasa`` (NLU components, benchmark)::

    from common.taxonomy import topic_for_intent, triage_for_topic

    topic = topic_for_intent("ask_invoice")      # "invoice_lookup"
    triage = triage_for_topic(topic)             # "commercial"

Check the taxonomy against the domain with ``python -m common.taxonomy --domain domain``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

import yaml

DEFAULT_PATH = Path(__file__).with_name("taxonomy.yml")
FALLBACK_INTENT = "nlu_fallback"
OUT_OF_SCOPE_TOPIC = "out_of_scope"
NO_TRIAGE = "none"
# Key of the parse output listing a message's distinct issues (bot/issues.py).
ISSUES_KEY = "issues"
# Key of the parse output listing the questions a message asks, one per clause.
QUESTIONS_KEY = "questions"
# Intents Rasa predicts by itself; they need a topic but are not declared in the domain.
BUILTIN_INTENTS = frozenset({FALLBACK_INTENT})


class TaxonomyError(ValueError):
    """The taxonomy file is inconsistent, or an intent or topic is unknown."""


@dataclass(frozen=True)
class Taxonomy:
    """Intent → topic → triage, as declared in ``taxonomy.yml``."""

    triage_classes: tuple[str, ...]
    topic_triage: Mapping[str, str]
    intent_topic: Mapping[str, str]
    # A topic's name for people (the dashboard's labels); the id when none is given.
    topic_titles: Mapping[str, str] = field(default_factory=dict)

    def title(self, topic: Optional[str]) -> str:
        """The readable name of ``topic`` (its id when it has no title)."""
        if not topic:
            return ""
        return self.topic_titles.get(topic) or topic.replace("_", " ")

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(self.topic_triage)

    @property
    def intents(self) -> tuple[str, ...]:
        return tuple(self.intent_topic)

    def topic_for_intent(self, intent: str) -> str:
        """Topic of ``intent``; raises ``TaxonomyError`` for an unknown intent."""
        try:
            return self.intent_topic[intent]
        except KeyError:
            raise TaxonomyError(
                f"intent {intent!r} has no topic in the taxonomy"
            ) from None

    def triage_for_topic(self, topic: str) -> str:
        """Triage class (``commercial``, ``technical`` or ``none``) of ``topic``."""
        try:
            return self.topic_triage[topic]
        except KeyError:
            raise TaxonomyError(f"unknown topic {topic!r}") from None

    def triage_for_intent(self, intent: str) -> str:
        return self.triage_for_topic(self.topic_for_intent(intent))

    def topic_for_parse(
        self, parse: Mapping[str, Any], *, use_runner_up: bool = False
    ) -> str:
        """Topic for a Rasa parse result (``{"intent": ..., "intent_ranking": ...}``).

        ``nlu_fallback`` means ``out_of_scope``, unless ``use_runner_up`` is set: then
        the best-ranked real intent decides (when the ranking has one).
        """
        intent = (parse.get("intent") or {}).get("name") or FALLBACK_INTENT
        if intent == FALLBACK_INTENT and use_runner_up:
            for ranked in parse.get("intent_ranking") or []:
                name = ranked.get("name")
                if name and name != FALLBACK_INTENT and name in self.intent_topic:
                    return self.intent_topic[name]
        return self.topic_for_intent(intent)

    def problems(self, domain_intents: Iterable[str] | None = None) -> list[str]:
        """Every inconsistency found; an empty list means the taxonomy is valid.

        With ``domain_intents``, also checks that each domain intent has a topic and
        that the taxonomy names no intent the domain lacks (built-ins excepted).
        """
        found: list[str] = []
        for topic, triage in self.topic_triage.items():
            if triage not in self.triage_classes:
                found.append(f"topic {topic!r}: unknown triage {triage!r}")
        for intent, topic in self.intent_topic.items():
            if topic not in self.topic_triage:
                found.append(f"intent {intent!r}: unknown topic {topic!r}")
        if FALLBACK_INTENT not in self.intent_topic:
            found.append(f"{FALLBACK_INTENT!r} needs a topic")
        if domain_intents is not None:
            declared = set(domain_intents)
            for intent in sorted(declared - set(self.intent_topic)):
                found.append(f"domain intent {intent!r} has no topic in the taxonomy")
            for intent in sorted(set(self.intent_topic) - declared - BUILTIN_INTENTS):
                found.append(f"taxonomy intent {intent!r} is not in the domain")
        return found

    def validate(self, domain_intents: Iterable[str] | None = None) -> None:
        """Raise ``TaxonomyError`` listing every problem, if there is any."""
        found = self.problems(domain_intents)
        if found:
            raise TaxonomyError("invalid taxonomy:\n  " + "\n  ".join(found))


def _parse(raw: Any, source: str) -> Taxonomy:
    if not isinstance(raw, Mapping):
        raise TaxonomyError(f"{source}: expected a mapping at the top level")
    try:
        classes = tuple(str(c) for c in raw["triage_classes"])
        topics = {
            str(name): str(spec["triage"] if isinstance(spec, Mapping) else spec)
            for name, spec in raw["topics"].items()
        }
        intents = {str(k): str(v) for k, v in raw["intents"].items()}
        titles = {
            str(name): str(spec["title"])
            for name, spec in raw["topics"].items()
            if isinstance(spec, Mapping) and spec.get("title")
        }
    except (KeyError, TypeError, AttributeError) as exc:
        raise TaxonomyError(f"{source}: malformed taxonomy ({exc!r})") from exc
    return Taxonomy(
        triage_classes=classes,
        topic_triage=topics,
        intent_topic=intents,
        topic_titles=titles,
    )


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Load and validate a taxonomy file (default: ``common/taxonomy.yml``, cached)."""
    if path is None:
        return _default_taxonomy()
    return _load(Path(path))


def _load(path: Path) -> Taxonomy:
    with path.open(encoding="utf-8") as fh:
        taxonomy = _parse(yaml.safe_load(fh), str(path))
    taxonomy.validate()
    return taxonomy


@lru_cache(maxsize=1)
def _default_taxonomy() -> Taxonomy:
    return _load(DEFAULT_PATH)


def topic_for_intent(intent: str) -> str:
    """Topic of ``intent`` in the default taxonomy."""
    return load_taxonomy().topic_for_intent(intent)


def triage_for_topic(topic: str) -> str:
    """Triage class of ``topic`` in the default taxonomy."""
    return load_taxonomy().triage_for_topic(topic)


def triage_for_intent(intent: str) -> str:
    """Triage class of ``intent`` in the default taxonomy."""
    return load_taxonomy().triage_for_intent(intent)


def domain_intents(domain: str | Path) -> list[str]:
    """Intent names declared in a Rasa domain file or ``domain/`` directory."""
    root = Path(domain)
    files: Sequence[Path] = (
        sorted(p for p in root.rglob("*") if p.suffix in {".yml", ".yaml"})
        if root.is_dir()
        else [root]
    )
    names: list[str] = []
    for file in files:
        with file.open(encoding="utf-8") as fh:
            content = yaml.safe_load(fh) or {}
        for item in content.get("intents") or []:
            name = next(iter(item)) if isinstance(item, Mapping) else item
            if name not in names:
                names.append(str(name))
    return names


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domain", default="domain", help="domain file or directory")
    parser.add_argument("--taxonomy", default=None, help="taxonomy file")
    args = parser.parse_args(argv)
    try:
        taxonomy = load_taxonomy(args.taxonomy)
        taxonomy.validate(domain_intents(args.domain))
    except TaxonomyError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(
        f"taxonomy ok: {len(taxonomy.intents)} intents, {len(taxonomy.topics)} topics"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
