"""Build the in-repo spaCy pipeline that Rasa's ``SpacyNLP`` loads by path.

    .venv-rasa/bin/python -m bot.spacy_pipeline --out build/spacy/csp_en

No pretrained model: ``spacy.blank("en")`` plus three rule stages, all built-in spaCy
factories so the saved pipeline loads with a plain ``spacy.load(path)`` (Rasa imports
none of our code before loading it):

1. the **tokenizer** keeps GUIDs, invoice numbers, ticket ids and ``2026-10`` whole
   (``token_match``, stored with the pipeline), and any run of ``LONG_RUN`` or more
   characters without a space too: spaCy strips punctuation off a run one character
   at a time, searching the whole rest of the run each time, which is quadratic in
   the run's length;
2. an **attribute_ruler** (``csp_context``) looks at neighbouring words and marks a
   token's ``NORM`` with a ``csp:...`` tag: a GUID after "order" becomes
   ``csp:order_id``, "may" after "in"/"for" or before a year becomes ``csp:month``, "teams"
   after "our"/"sales" becomes ``csp:not_product`` and so on (nearest keyword wins);
3. an **entity_ruler** turns token patterns (regexes, the ``csp:`` marks) and the
   patterns in ``bot/patterns/*.jsonl`` (product names, the ``aspect`` of a question,
   ``invoice_ref`` references; phrases matched case-insensitively) into entities
   labelled with the Rasa entity names. Where patterns overlap, the longest match wins
   ("20 euros" is an ``amount``, "euros" alone an ``aspect``). A pattern's ``id`` is
   the entity's normalised value: ``bot.nlu_rules`` puts it in the Rasa entity
   ("are you open on weekends?" -> ``aspect`` ``weekend``).

The build is deterministic: the same sources give byte-identical files.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

PATTERNS_DIR = Path(__file__).with_name("patterns")

# --- identifiers -------------------------------------------------------------------
# docs/domain.md: every invoice number in Microsoft's docs is D or G + 9 digits.
# Keep the expression configurable (--invoice-regex) in case a partner's series differs.
INVOICE_NUMBER_REGEX = r"[dg]\d{9}"
TICKET_ID_REGEX = r"csp-?\d{4,8}"
GUID_REGEX = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
YEAR_MONTH_REGEX = (
    r"(?:19|20)\d\d[-/](?:0?[1-9]|1[0-2])|(?:0?[1-9]|1[0-2])[-/](?:19|20)\d\d"
)
YEAR_REGEX = r"^(?:19|20)\d\d$"
SHORT_YEAR_REGEX = r"^(?:(?:19|20)\d\d|'\d\d)$"

ENTITY_LABELS = (
    "invoice_number",
    "subscription_id",
    "order_id",
    "tenant_id",
    "ticket_id",
    "amount",
    "billing_period",
    "product",
    "aspect",
    "invoice_ref",
)

# --- GUID context words (nearest keyword before the GUID wins, then after it) --------
GUID_KEYWORDS = {
    "order_id": ["order", "orders", "order's", "orderid", "purchase", "purchases"],
    "tenant_id": [
        "tenant",
        "tenants",
        "tenant's",
        "tenantid",
        "directory",
        "aad",
        "entra",
    ],
    "subscription_id": [
        "subscription",
        "subscriptions",
        "subscription's",
        "subscriptionid",
        "sub",
        "subs",
        "sub-id",
    ],
}
KEEP_WHOLE = {"id", "ids"}  # tokenizer exceptions to drop
# A run of this many characters without whitespace is one token, whatever punctuation it
# holds, so that tokenizing costs linear time (see the module docstring). Long enough
# for "(<GUID>)," or a URL's usual length; shorter runs are split as spaCy does.
LONG_RUN = 64
LONG_RUN_REGEX = rf"\S{{{LONG_RUN},}}"
GUID_GAP = 4  # words allowed between a keyword and the GUID it names

# --- periods ---------------------------------------------------------------------------
MONTH_ABBREVIATIONS = [
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
]
MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    *MONTH_ABBREVIATIONS,
    *(f"{m}." for m in MONTH_ABBREVIATIONS),
]  # "may" is handled by context: "may I ..." is not a period
MAY_BEFORE = [
    "in",
    "for",
    "of",
    "since",
    "from",
    "until",
    "till",
    "to",
    "during",
    "through",
    "last",
    "this",
    "next",
    "early",
    "late",
    "mid",
    "end",
    "whole",
    "entire",
    "april",
    "apr",
    "the",
]
MAY_AFTER = [
    "invoice",
    "invoices",
    "statement",
    "statements",
    "charges",
    "usage",
    "renewal",
    "billing",
    "cycle",
    "period",
    "bill's",
]
RELATIVE = ["last", "this", "previous", "current", "next", "past", "prior", "coming"]
UNITS = ["month", "quarter", "year", "week", "months", "quarters", "years", "weeks"]
YEAR_BEFORE = ["in", "for", "during", "of", "since", "throughout", "fy", "year"]
AGO = ["ago", "back", "earlier"]

# --- money -----------------------------------------------------------------------------
NUMBER_REGEX = (
    r"^(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\d{1,3}(?:\.\d{3})+(?:,\d{1,2})?"
    r"|\d+,\d{1,2}|\d+(?:\.\d+)?[km])$"
)
CURRENCY_SYMBOLS = ["$", "€", "£", "¥", "₹", "us$", "c$", "a$", "nz$", "r$"]
CURRENCY_CODES = [
    "usd",
    "eur",
    "gbp",
    "aud",
    "cad",
    "nzd",
    "chf",
    "jpy",
    "inr",
    "sek",
    "nok",
    "dkk",
    "pln",
    "zar",
    "sgd",
    "brl",
    "mxn",
]
CURRENCY_WORDS = [
    "dollar",
    "dollars",
    "euro",
    "euros",
    "pound",
    "pounds",
    "bucks",
    "quid",
    "yen",
    "rupees",
    "francs",
    "krona",
    "kroner",
]

# --- "teams" the product vs. teams of people --------------------------------------------
TEAMS_NOT_PRODUCT_BEFORE = [
    "our",
    "my",
    "your",
    "their",
    "his",
    "her",
    "both",
    "all",
    "several",
    "multiple",
    "other",
    "different",
    "many",
    "some",
    "two",
    "three",
    "sales",
    "support",
    "it",
    "dev",
    "development",
    "engineering",
    "finance",
    "separate",
    "small",
    "remote",
    "field",
    "project",
    "these",
    "those",
    "which",
    "what",
]


def _token_match_pattern(invoice_regex: str, ticket_regex: str) -> str:
    # Inline flag: the tokenizer stores only the pattern string, not compile flags.
    parts = [GUID_REGEX, invoice_regex, ticket_regex, YEAR_MONTH_REGEX, LONG_RUN_REGEX]
    return "(?i)^(?:" + "|".join(f"(?:{p})" for p in parts) + ")$"


def _guid_token(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    token: dict[str, Any] = {"LOWER": {"REGEX": f"^{GUID_REGEX}$"}}
    if extra:
        token.update(extra)
    return token


def context_rules() -> list[tuple[list[list[dict[str, Any]]], dict[str, str], int]]:
    """Attribute-ruler rules ``(patterns, attrs, index)``; later rules take precedence."""
    rules: list[tuple[list[list[dict[str, Any]]], dict[str, str], int]] = []
    all_keywords = sorted({w for words in GUID_KEYWORDS.values() for w in words})
    gap = {"LOWER": {"NOT_IN": [*all_keywords, "customer"]}, "OP": "?"}
    # GUIDs, weakest first: a keyword after the GUID ("<guid> is the tenant id") ...
    for label, words in GUID_KEYWORDS.items():
        after = [_guid_token(), gap, gap, {"LOWER": {"IN": words}}]
        rules.append(([after], {"NORM": f"csp:{label}"}, 0))
    # ... then "customer id <guid>" (Partner Center's customer id is the tenant id) ...
    customer = [{"LOWER": "customer"}, {"LOWER": {"IN": ["id", "ids", "id:", "#"]}}]
    rules.append(
        ([[*customer, gap, gap, _guid_token()]], {"NORM": "csp:tenant_id"}, -1)
    )
    # ... then the nearest keyword before the GUID (the gap cannot cross a keyword).
    for label, words in GUID_KEYWORDS.items():
        before = [{"LOWER": {"IN": words}}, *([gap] * GUID_GAP), _guid_token()]
        rules.append(([before], {"NORM": f"csp:{label}"}, -1))

    # "may" the month, not the verb.
    may = {"LOWER": "may"}
    rules.append(
        (
            [
                [{"LOWER": {"IN": MAY_BEFORE}}, may],
                [{"LOWER": {"IN": MAY_BEFORE}}, {"LOWER": {"IN": ["of", "'s"]}}, may],
            ],
            {"NORM": "csp:month"},
            -1,
        )
    )
    rules.append(
        (
            [
                [may, {"TEXT": {"REGEX": SHORT_YEAR_REGEX}}],
                [may, {"LOWER": {"IN": MAY_AFTER}}],
                [
                    may,
                    {"LOWER": "'s"},
                    {"LOWER": {"IN": [*MAY_AFTER, "bill", "charges"]}},
                ],
            ],
            {"NORM": "csp:month"},
            0,
        )
    )
    # A bare year is a period only after "in", "for", ...: "invoices for 2025".
    rules.append(
        (
            [[{"LOWER": {"IN": YEAR_BEFORE}}, {"TEXT": {"REGEX": YEAR_REGEX}}]],
            {"NORM": "csp:year"},
            -1,
        )
    )
    # "our teams", "sales teams": people, not Microsoft Teams (lower case only).
    rules.append(
        (
            [[{"LOWER": {"IN": TEAMS_NOT_PRODUCT_BEFORE}}, {"ORTH": "teams"}]],
            {"NORM": "csp:not_product"},
            -1,
        )
    )
    return rules


def entity_patterns(invoice_regex: str, ticket_regex: str) -> list[dict[str, Any]]:
    """Token patterns for the entity ruler that need the expressions and word lists
    of this module; the rest come from ``patterns/*.jsonl``."""
    patterns: list[dict[str, Any]] = []

    def add(label: str, *token_lists: list[dict[str, Any]]) -> None:
        patterns.extend({"label": label, "pattern": p} for p in token_lists)

    add("invoice_number", [{"LOWER": {"REGEX": f"^(?:{invoice_regex})$"}}])
    add("ticket_id", [{"LOWER": {"REGEX": f"^(?:{ticket_regex})$"}}])
    add("order_id", [{"NORM": "csp:order_id"}])
    add("tenant_id", [{"NORM": "csp:tenant_id"}])
    add(
        "subscription_id",
        [_guid_token({"NORM": {"NOT_IN": ["csp:order_id", "csp:tenant_id"]}})],
    )

    number = {"LOWER": {"REGEX": NUMBER_REGEX}}
    after_number = {"LOWER": {"IN": CURRENCY_CODES + CURRENCY_WORDS + CURRENCY_SYMBOLS}}
    add(
        "amount",
        [{"LOWER": {"IN": CURRENCY_SYMBOLS}}, number],
        [
            {"LOWER": {"IN": CURRENCY_SYMBOLS}},
            number,
            {"LOWER": {"IN": CURRENCY_CODES}},
        ],
        [number, after_number],
        [{"LOWER": {"IN": CURRENCY_CODES}}, number],
        [number, {"LOWER": "us"}, {"LOWER": {"IN": ["dollars", "dollar"]}}],
    )

    month = {"LOWER": {"IN": MONTHS}}
    month_may = {"NORM": "csp:month"}
    year = {"TEXT": {"REGEX": SHORT_YEAR_REGEX}}
    full_year = {"TEXT": {"REGEX": YEAR_REGEX}}
    quarter = {"LOWER": {"REGEX": r"^q[1-4]$"}}
    add(
        "billing_period",
        [month],
        [month, year],
        [month, {"LOWER": "of"}, full_year],
        [month_may],
        [month_may, year],
        [quarter],
        [quarter, year],
        [quarter, {"ORTH": "-"}, full_year],
        [full_year, quarter],
        [{"LOWER": {"REGEX": r"^(?:fy|cy)'?\d{2,4}$"}}],
        [{"LOWER": {"IN": ["fy", "cy"]}}, year],
        [{"LOWER": {"REGEX": f"^(?:{YEAR_MONTH_REGEX})$"}}],
        [
            {
                "LOWER": {
                    "REGEX": r"^(?:"
                    + "|".join(MONTH_ABBREVIATIONS)
                    + r")[a-z]*-\d{2,4}$"
                }
            }
        ],
        [{"NORM": "csp:year"}],
        [{"LOWER": {"IN": RELATIVE}}, {"LOWER": {"IN": UNITS}}],
        [
            {"LOWER": {"IN": RELATIVE}},
            {"LOWER": {"IN": ["billing", "invoice", "invoicing"]}},
            {"LOWER": {"IN": ["cycle", "period", "month", "run"]}},
        ],
        [{"LOWER": {"IN": RELATIVE}}, {"LIKE_NUM": True}, {"LOWER": {"IN": UNITS}}],
        [
            {
                "LOWER": {
                    "IN": [
                        "first",
                        "second",
                        "third",
                        "fourth",
                        "1st",
                        "2nd",
                        "3rd",
                        "4th",
                    ]
                }
            },
            {"LOWER": "quarter"},
        ],
        [
            {"LOWER": {"IN": ["year", "month", "quarter"]}},
            {"LOWER": "to"},
            {"LOWER": "date"},
        ],
        [{"LOWER": {"IN": ["ytd", "mtd", "qtd"]}}],
        [{"LOWER": "the"}, {"LOWER": "month"}, {"LOWER": "before"}, {"LOWER": "last"}],
        # "two months ago", "2 months back", "a year ago"
        [
            {"LOWER": {"IN": ["a", "an"]}},
            {"LOWER": {"IN": UNITS}},
            {"LOWER": {"IN": AGO}},
        ],
        [{"LIKE_NUM": True}, {"LOWER": {"IN": UNITS}}, {"LOWER": {"IN": AGO}}],
    )

    # Microsoft Teams: "Teams" always; lower-case "teams" unless it means people.
    add(
        "product",
        [{"ORTH": {"IN": ["Teams", "TEAMS"]}}],
        [{"ORTH": "teams", "NORM": {"NOT_IN": ["csp:not_product"]}}],
    )

    # "can I pay in euros?": a currency named without a number is what the question
    # is about (with a number it is an amount, the longer match). The word stays the
    # entity's text, so an answer can say which currency was asked for.
    patterns.append(
        {
            "label": "aspect",
            "pattern": [{"LOWER": {"IN": CURRENCY_CODES + CURRENCY_WORDS}}],
            "id": "currency",
        }
    )
    return patterns


def file_patterns(directory: Path = PATTERNS_DIR) -> list[dict[str, Any]]:
    """Patterns from ``patterns/*.jsonl`` (phrases or token lists), in file and line
    order."""
    patterns: list[dict[str, Any]] = []
    for file in sorted(directory.glob("*.jsonl")):
        for lineno, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            entry = json.loads(line)
            if entry.get("label") not in ENTITY_LABELS:
                raise ValueError(
                    f"{file}:{lineno}: unknown label {entry.get('label')!r}"
                )
            patterns.append(entry)
    return patterns


def build_nlp(
    *,
    invoice_regex: str = INVOICE_NUMBER_REGEX,
    ticket_regex: str = TICKET_ID_REGEX,
    patterns_dir: Path = PATTERNS_DIR,
) -> Any:
    """Return the pipeline in memory (``spacy.Language``)."""
    import spacy  # the Rasa venv only; keep the module importable for docs and lint

    nlp = spacy.blank("en")
    pattern = _token_match_pattern(invoice_regex, ticket_regex)
    nlp.tokenizer.token_match = re.compile(pattern).match
    # English treats "id" as "I'd" and splits it; here it is always "ID".
    nlp.tokenizer.rules = {
        text: tokens
        for text, tokens in nlp.tokenizer.rules.items()
        if text.lower() not in KEEP_WHOLE
    }
    ruler = nlp.add_pipe("attribute_ruler", name="csp_context")
    for token_patterns, attrs, index in context_rules():
        ruler.add(patterns=token_patterns, attrs=attrs, index=index)
    entities = nlp.add_pipe(
        "entity_ruler",
        name="csp_entities",
        config={
            "phrase_matcher_attr": "LOWER",
            "overwrite_ents": True,
            "validate": True,
        },
    )
    entities.add_patterns(
        entity_patterns(invoice_regex, ticket_regex) + file_patterns(patterns_dir)
    )
    nlp.meta.update(
        {
            "name": "csp_en",
            "version": "1.0.0",
            "description": "Rule-based entities for the CSP billing desk "
            "(bot/spacy_pipeline.py).",
            "author": "csp-billing-desk",
            "license": "Proprietary",
        }
    )
    return nlp


def build(out: str | Path, **kwargs: Any) -> Path:
    """Build the pipeline and write it to ``out`` (replaced if it exists)."""
    out = Path(out)
    nlp = build_nlp(**kwargs)
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(out)
    return out


def extract(nlp: Any, text: str) -> list[tuple[str, str]]:
    """``[(label, text), ...]`` of the entities found in ``text``."""
    return [(ent.label_, ent.text) for ent in nlp(text).ents]


def product_synonyms_yaml(directory: Path = PATTERNS_DIR) -> str:
    """Rasa ``synonym`` blocks mapping every product spelling to its ``id``.

    EntitySynonymMapper then turns "M365 E3" or "e3" into "Microsoft 365 E3". Written
    to ``data/nlu/product_synonyms.yml`` with ``--write-synonyms``; a test keeps the two
    files in step.
    """
    by_id: dict[str, list[str]] = {}
    for entry in file_patterns(directory):
        if entry.get("label") != "product":
            continue  # aspect and invoice_ref values are set by bot.nlu_rules
        canonical = entry.get("id")
        pattern = entry.get("pattern")
        if (
            isinstance(pattern, str)
            and canonical
            and pattern.lower() != canonical.lower()
        ):
            by_id.setdefault(canonical, []).append(pattern)
    lines = [
        'version: "3.1"',
        "# Generated from bot/patterns/products.jsonl by",
        "# `python -m bot.spacy_pipeline --write-synonyms data/nlu/product_synonyms.yml`.",
        "# Do not edit by hand: change products.jsonl and regenerate.",
        "nlu:",
    ]
    for canonical in sorted(by_id):
        lines += [f"- synonym: {json.dumps(canonical)}", "  examples: |"]
        lines += [f"    - {p}" for p in by_id[canonical]]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the CSP spaCy pipeline.")
    parser.add_argument("--out", default="build/spacy/csp_en", help="output directory")
    parser.add_argument("--invoice-regex", default=INVOICE_NUMBER_REGEX)
    parser.add_argument("--ticket-regex", default=TICKET_ID_REGEX)
    parser.add_argument(
        "--write-synonyms",
        metavar="PATH",
        help="also write the product synonyms for Rasa to PATH",
    )
    parser.add_argument(
        "--try",
        dest="samples",
        nargs="*",
        default=(),
        help="texts to run after building",
    )
    args = parser.parse_args(argv)
    out = build(
        args.out, invoice_regex=args.invoice_regex, ticket_regex=args.ticket_regex
    )
    print(f"spaCy pipeline written to {out}")
    if args.write_synonyms:
        Path(args.write_synonyms).write_text(product_synonyms_yaml(), encoding="utf-8")
        print(f"product synonyms written to {args.write_synonyms}")
    _show(out, args.samples)
    return 0


def _show(out: Path, samples: Iterable[str]) -> None:
    samples = list(samples)
    if not samples:
        return
    import spacy

    nlp = spacy.load(out)
    for text in samples:
        print(f"{text!r}: {extract(nlp, text)}")


if __name__ == "__main__":
    raise SystemExit(main())
