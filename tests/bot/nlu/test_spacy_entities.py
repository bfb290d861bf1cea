"""The in-repo spaCy pipeline finds each entity type, and not its look-alikes.

Runs in the Rasa venv (spaCy); skipped elsewhere. The pipeline under test is built,
written to disk and loaded back by path, the way Rasa's SpacyNLP loads it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("spacy")

from bot.spacy_pipeline import build, extract

GUID_A = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
GUID_B = "0b9c2f1e-7d4a-4c1b-9e3f-5a6b7c8d9e0f"
GUID_C = "A1B2C3D4-E5F6-4711-8899-AABBCCDDEEFF"


def ents(nlp, text: str, label: str | None = None) -> list:
    found = extract(nlp, text)
    return [v for lab, v in found if lab == label] if label else found


# --- invoice numbers -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Send me invoice G000024135 please", ["G000024135"]),
        ("what about d000451230?", ["d000451230"]),
        ("invoice #G000187342, and D000118274.", ["G000187342", "D000118274"]),
        ("(G000311907)", ["G000311907"]),
    ],
)
def test_invoice_numbers(csp_nlp, text: str, expected: list[str]) -> None:
    assert ents(csp_nlp, text, "invoice_number") == expected


@pytest.mark.parametrize(
    "text",
    [
        "call me on 0123456789",  # a 10-digit phone number
        "my number is 4915123456789",
        "invoice G00002413 is short one digit",
        "invoice G0000241351 has one too many",
        "order X000024135",
        "AG000024135",
    ],
)
def test_not_invoice_numbers(csp_nlp, text: str) -> None:
    assert ents(csp_nlp, text, "invoice_number") == []


# --- GUIDs: subscription, order, tenant -------------------------------------------------
@pytest.mark.parametrize(
    ("text", "label"),
    [
        (f"cancel subscription {GUID_A}", "subscription_id"),
        (f"{GUID_A}", "subscription_id"),  # a bare GUID is a subscription
        (f"what is {GUID_A} for", "subscription_id"),
        (f"order {GUID_A} failed", "order_id"),
        (f"the order id is {GUID_A}", "order_id"),
        (f"my tenant id: {GUID_A}", "tenant_id"),
        (f"our tenant ID is {{{GUID_C}}}", "tenant_id"),
        (f"customer id {GUID_A}", "tenant_id"),
        (f"{GUID_A} is the tenant", "tenant_id"),
        (f"sub {GUID_C} is disabled", "subscription_id"),
        (f"directory id {GUID_A}", "tenant_id"),
    ],
)
def test_guid_labels_come_from_nearby_words(csp_nlp, text: str, label: str) -> None:
    found = ents(csp_nlp, text)
    assert len(found) == 1, found
    assert found[0][0] == label
    assert found[0][1].strip("{}").lower() in {GUID_A, GUID_C.lower()}


def test_nearest_keyword_wins(csp_nlp) -> None:
    text = f"tenant {GUID_A}, subscription {GUID_B} and order {GUID_C}"
    assert ents(csp_nlp, text) == [
        ("tenant_id", GUID_A),
        ("subscription_id", GUID_B),
        ("order_id", GUID_C),
    ]


def test_guid_is_one_token(csp_nlp) -> None:
    doc = csp_nlp(f"subscription {GUID_A}.")
    assert [t.text for t in doc] == ["subscription", GUID_A, "."]


def test_not_a_guid(csp_nlp) -> None:
    assert ents(csp_nlp, "order 3fa85f64-5717-4562-b3fc and more") == []


# --- ticket ids --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("status of CSP-000123?", ["CSP-000123"]),
        ("any news on csp-004512", ["csp-004512"]),
        ("tickets CSP-000001 and CSP-123456.", ["CSP-000001", "CSP-123456"]),
    ],
)
def test_ticket_ids(csp_nlp, text: str, expected: list[str]) -> None:
    assert ents(csp_nlp, text, "ticket_id") == expected


def test_not_ticket_ids(csp_nlp) -> None:
    assert ents(csp_nlp, "we are a CSP partner with 123 customers", "ticket_id") == []


# --- amounts -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I was charged $1,234.50 today", ["$1,234.50"]),
        ("a charge of €20", ["€20"]),
        ("it says 20 EUR", ["20 EUR"]),
        ("they took 120 dollars", ["120 dollars"]),
        ("£99.99 twice", ["£99.99"]),
        ("USD 500 and 30 euros", ["USD 500", "30 euros"]),
        ("1.234,50 € on the bill", ["1.234,50 €"]),
        ("$ 45 for Teams Phone", ["$ 45"]),
    ],
)
def test_amounts(csp_nlp, text: str, expected: list[str]) -> None:
    assert ents(csp_nlp, text, "amount") == expected


@pytest.mark.parametrize(
    "text",
    [
        "why was I charged for 12 E3 licences",
        "add 5 seats",
        "we have 40 users",
        "error 404",
    ],
)
def test_counts_are_not_amounts(csp_nlp, text: str) -> None:
    assert ents(csp_nlp, text, "amount") == []


# --- billing periods ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("invoice for last month", ["last month"]),
        ("what do I owe this month", ["this month"]),
        ("the October invoice", ["October"]),
        ("charges in Oct 2026", ["Oct 2026"]),
        ("Q3 numbers", ["Q3"]),
        ("the Q3 2026 statement", ["Q3 2026"]),
        ("bill for 2026-10", ["2026-10"]),
        ("bill for 10/2026", ["10/2026"]),
        ("usage in May", ["May"]),
        ("the may invoice", ["may"]),
        ("May 2026 charges", ["May 2026"]),
        ("every invoice for 2025", ["2025"]),
        ("over the past 3 months", ["past 3 months"]),
        ("last billing cycle", ["last billing cycle"]),
        ("previous quarter", ["previous quarter"]),
        ("september and november", ["september", "november"]),
        ("this month's bill", ["this month"]),
        ("this week's bill", ["this week"]),
        ("the bill from two months ago", ["two months ago"]),
        ("invoice from 2 months back", ["2 months back"]),
        ("what did we pay a year ago", ["a year ago"]),
        ("the invoice from last year", ["last year"]),
        ("the January invoice", ["January"]),
        ("the month before last", ["the month before last"]),
        ("last quarter's charges", ["last quarter"]),
    ],
)
def test_billing_periods(csp_nlp, text: str, expected: list[str]) -> None:
    assert ents(csp_nlp, text, "billing_period") == expected


@pytest.mark.parametrize(
    "text",
    [
        "May I ask about my bill?",
        "I may have been charged twice",
        "they may cancel",
        "we have 2025 users",
        "last invoice please",
        "the one before that",
        "two licences back in stock",
    ],
)
def test_not_billing_periods(csp_nlp, text: str) -> None:
    assert ents(csp_nlp, text, "billing_period") == []


# --- products ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("our Azure bill", ["Azure"]),
        ("the Azure plan invoice", ["Azure plan"]),
        ("12 Microsoft 365 E3 licences", ["Microsoft 365 E3"]),
        ("upgrade to microsoft 365 e5", ["microsoft 365 e5"]),
        ("Business Premium and Business Basic", ["Business Premium", "Business Basic"]),
        ("Office 365 mailbox", ["Office 365"]),
        ("Dynamics 365 Business Central is slow", ["Dynamics 365 Business Central"]),
        ("Dynamics 365 Sales seats", ["Dynamics 365 Sales"]),
        ("Teams Phone calls drop", ["Teams Phone"]),
        ("Teams is down", ["Teams"]),
        ("teams keeps crashing", ["teams"]),
        ("Exchange Online and SharePoint", ["Exchange Online", "SharePoint"]),
        ("OneDrive, Intune and Entra ID", ["OneDrive", "Intune", "Entra ID"]),
        ("Defender flagged it", ["Defender"]),
        ("Power BI Pro", ["Power BI Pro"]),
        ("Windows Server and SQL Server", ["Windows Server", "SQL Server"]),
        ("Visual Studio Enterprise", ["Visual Studio Enterprise"]),
        ("we want Copilot", ["Copilot"]),
        ("M365 Business Premium", ["M365 Business Premium"]),
    ],
)
def test_products(csp_nlp, text: str, expected: list[str]) -> None:
    assert ents(csp_nlp, text, "product") == expected


@pytest.mark.parametrize(
    "text",
    [
        "our sales teams need more seats",
        "both teams use the same invoice",
        "I have a question about my bill",
    ],
)
def test_not_products(csp_nlp, text: str) -> None:
    assert ents(csp_nlp, text, "product") == []


# --- aspects and invoice references: the pattern id is the value ----------------------------
def ids(nlp, text: str, label: str) -> list[str]:
    return [ent.ent_id_ for ent in nlp(text).ents if ent.label_ == label]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("phone number?", ["phone"]),
        ("what's the support hotline", ["phone"]),
        ("can I email you", ["email"]),
        ("what are your opening hours", ["hours"]),
        ("are you open on weekends?", ["weekend"]),
        ("when are you open on saturday", ["weekend"]),
        ("are you open on bank holidays", ["holiday"]),
        ("how much is technical support?", ["price"]),
        ("is billing support free of charge", ["price"]),
        ("how do I get in touch", ["contact"]),
        ("can I pay in euros?", ["currency"]),
        ("do you take GBP", ["currency"]),
        ("which currencies do you accept", ["currency"]),
        ("can I pay by credit card", ["card"]),
        ("can we pay by wire transfer", ["bank_transfer"]),
        ("can we set up a direct debit", ["direct_debit"]),
        ("will we lose our data?", ["data"]),
        ("will our emails be deleted", ["data"]),
        ("what happens to our files", ["data"]),
        ("how do we get our access back", ["reactivate"]),
        ("can you unsuspend us", ["reactivate"]),
        ("are we still billed while suspended?", ["billing_continues"]),
        (
            "do we keep paying while the subscription is suspended",
            ["billing_continues"],
        ),
        ("will we still be charged", ["billing_continues"]),
        ("until when can we cancel", ["deadline"]),
        ("how long do we have", ["deadline"]),
        ("when will the refund arrive?", ["deadline"]),
        # two aspects in one question
        ("phone or email?", ["phone", "email"]),
        ("by card or bank transfer", ["card", "bank_transfer"]),
    ],
)
def test_aspects(csp_nlp, text: str, expected: list[str]) -> None:
    assert ids(csp_nlp, text, "aspect") == expected


@pytest.mark.parametrize(
    "text",
    [
        "I was charged twice when I paid",  # "when" here asks for no date
        "transfer me to an agent",
        "the Teams Phone bill",  # a product, not a phone number
        "send me my invoice",
    ],
)
def test_not_aspects(csp_nlp, text: str) -> None:
    assert ents(csp_nlp, text, "aspect") == []


def test_a_currency_with_a_number_is_an_amount(csp_nlp) -> None:
    assert ents(csp_nlp, "I paid 20 euros") == [("amount", "20 euros")]
    assert ents(csp_nlp, "can I pay in euros?") == [("aspect", "euros")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("the one before that", "previous"),
        ("and the one before it?", "previous"),
        ("the previous one", "previous"),
        ("show me the invoice before", "previous"),
        ("the prior one", "previous"),
        ("last one before that", "previous"),
        ("and the month before that", "previous"),
        ("the next one", "next"),
        ("the one after that", "next"),
        ("the following invoice", "next"),
        ("the first one", "first"),
        ("the oldest", "first"),
        ("the earliest invoice", "first"),
        ("that invoice", "this"),
        ("this one", "this"),
        ("the same invoice", "this"),
    ],
)
def test_invoice_references(csp_nlp, text: str, expected: str) -> None:
    assert ids(csp_nlp, text, "invoice_ref") == [expected]


@pytest.mark.parametrize(
    "text", ["the previous month", "the first quarter", "last invoice please"]
)
def test_periods_are_not_invoice_references(csp_nlp, text: str) -> None:
    assert ents(csp_nlp, text, "invoice_ref") == []


def test_every_pattern_file_entry_has_a_known_label_and_an_id() -> None:
    from bot.spacy_pipeline import ENTITY_LABELS, file_patterns

    for entry in file_patterns():
        assert entry["label"] in ENTITY_LABELS
        assert entry.get("id"), entry


def test_aspect_values_are_the_closed_list() -> None:
    from bot.spacy_pipeline import entity_patterns, file_patterns

    patterns = file_patterns() + entity_patterns(r"[dg]\d{9}", r"csp-?\d{4,8}")
    values = {p["id"] for p in patterns if p["label"] == "aspect"}
    assert values == {
        "phone",
        "email",
        "hours",
        "weekend",
        "holiday",
        "price",
        "contact",
        "currency",
        "card",
        "bank_transfer",
        "direct_debit",
        "data",
        "reactivate",
        "billing_continues",
        "deadline",
        "severity",
        "emergency",
    }
    refs = {p["id"] for p in patterns if p["label"] == "invoice_ref"}
    assert refs == {"previous", "next", "first", "this"}


# --- everything together, and the build itself ---------------------------------------------
def test_a_partner_message(csp_nlp) -> None:
    text = (
        f"Customer tenant {GUID_A} disputes $1,240.00 on G000311907 for Q3 2026 "
        "(Microsoft 365 E3), see CSP-000987"
    )
    assert ents(csp_nlp, text) == [
        ("tenant_id", GUID_A),
        ("amount", "$1,240.00"),
        ("invoice_number", "G000311907"),
        ("billing_period", "Q3 2026"),
        ("product", "Microsoft 365 E3"),
        ("ticket_id", "CSP-000987"),
    ]


def test_labels_are_rasa_entity_names(csp_nlp, repo_root: Path) -> None:
    import yaml

    domain = yaml.safe_load((repo_root / "domain" / "nlu.yml").read_text())
    declared = {next(iter(e)) if isinstance(e, dict) else e for e in domain["entities"]}
    labels = set(csp_nlp.get_pipe("csp_entities").labels)
    assert labels <= declared
    assert labels == declared - {"customer"}


def test_build_is_deterministic(tmp_path: Path) -> None:
    first = build(tmp_path / "one")
    second = build(tmp_path / "two")
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(
        p.relative_to(second) for p in second.rglob("*") if p.is_file()
    )
    for rel in files:
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel


def test_invoice_expression_is_configurable(tmp_path: Path) -> None:
    import spacy

    nlp = spacy.load(build(tmp_path / "custom", invoice_regex=r"inv\d{6}"))
    assert ents(nlp, "invoice INV123456 and G000024135", "invoice_number") == [
        "INV123456"
    ]


def test_product_synonyms_file_is_up_to_date(repo_root: Path) -> None:
    from bot.spacy_pipeline import product_synonyms_yaml

    committed = (repo_root / "data" / "nlu" / "product_synonyms.yml").read_text()
    assert committed == product_synonyms_yaml(), (
        "regenerate: python -m bot.spacy_pipeline "
        "--write-synonyms data/nlu/product_synonyms.yml"
    )
