"""Two problems in one message: "my invoice is wrong and Outlook keeps crashing";
several questions in one: "what was our last bill, when are you around, and do you
charge for technical help?".

The intent classifier gives the whole message one intent. When the message holds
clauses about different topics, each is classified on its own too, and the parse
output gets an `issues` list, one entry per topic in the order the user raised them:

    {"text": "Outlook keeps crashing", "intent": "report_technical_issue",
     "confidence": 0.91, "topic": "technical_issue", "triage": "technical"}

The actions answer the message's intent as usual and offer the other issues
(actions/base.py, `Reply.send`), so a second problem is never silently dropped.

Questions are listed apart, under `questions`, one entry per clause (two questions
about support are two entries): every clause confidently about a topic the desk
answers, and a clause out of its scope when it is asked as a question ("and what's
the weather tomorrow?"), so that each gets its answer (actions/questions.py). A
comma before a question word also ends a clause there.

Splitting is deliberately conservative: sentence ends, and connectors that start a
new matter ("and also", "another thing", "on top of that", ...); a plain "and" only
between two clauses long enough to be requests of their own. A clause counts when it
is confidently about a topic that is an issue (not small talk, out of scope or a
request for a person), and two clauses about the same topic are one issue. Beside a
confident clause, one about a problem of the other kind (a billing problem beside a
technical one) needs less confidence: "we're charged for more E5 seats than we use,
plus Outlook won't sync" is two problems even if the first clause is worded unlike
the training data.

The matters are taken in the order the user raised them: when the whole message's
intent is not the first matter's, and is unsure (`LEAD_BELOW`) or about a matter
raised later, the message takes the first matter's intent (`leading_issue`), and
the others are offered after it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from common.taxonomy import TaxonomyError, load_taxonomy

# Topics that are not an issue of their own: "hi, ..." or "thanks, and ..." clauses.
NOT_ISSUES = frozenset({"smalltalk", "out_of_scope", "human_agent"})
# Topics one flow answers together: cancelling seats and the refund it brings; a
# charge the customer does not recognise and getting the money back.
SAME_MATTER = (
    frozenset({"refund", "subscription_change"}),
    frozenset({"refund", "charge_explanation"}),
)

# A clause about a problem of the other kind (commercial beside technical) next to a
# confident one counts from this confidence.
MIXED_MIN_CONFIDENCE = 0.6
# Below this, the whole message's intent gives way to the first matter raised.
LEAD_BELOW = 0.7
PROBLEM_TRIAGES = frozenset({"commercial", "technical"})

MAX_TEXT_CHARS = 600  # a longer paste (an error log) is one matter, not a list
MAX_CLAUSES = 6
MIN_CLAUSE_WORDS = 3
MIN_AND_SIDE_WORDS = 3  # "the invoice and the credit note" is one matter

# Connectors that start a new matter.
_NEW_MATTER = (
    r"and\s+also|also|and\s+another\s+thing(?:\s+is)?|another\s+thing(?:\s+is)?"
    r"|on\s+top\s+of\s+that|besides(?:\s+that)?|separately|plus|one\s+more\s+thing"
    r"(?:\s+is)?|as\s+well\s+as\s+that|and\s+then\s+there'?s|in\s+addition"
    r"|secondly|second"
)
# Where a clause ends: sentence ends, line breaks, semicolons, and a connector after a
# comma or space (captured, so that the clause after it is known to be a new matter).
# A bare "also" or "second" only after a comma: "I also need" is inside a clause.
_NEW_MATTER_INLINE = _NEW_MATTER.replace("|also|", "|").replace("|secondly|second", "")
_BOUNDARY = re.compile(
    rf"((?<=[.?!])\s+|\s*[\n;]+\s*|\s+\(?\d[).]\s+|,\s*(?:{_NEW_MATTER})[:,]?\s+(?=\w)"
    rf"|\s+(?:{_NEW_MATTER_INLINE})[:,]?\s+(?=\w))",
    re.IGNORECASE,
)
_LEADING = re.compile(rf"^(?:{_NEW_MATTER})\b[:,]?\s*", re.IGNORECASE)
_CONNECTOR = re.compile(rf"\b(?:{_NEW_MATTER})\b", re.IGNORECASE)
_AND = re.compile(r",?\s+and\s+", re.IGNORECASE)
# A clause that points back at the one before ("... and would like to cancel it",
# "if so, ...", "it is missing") continues that matter, unless a connector says
# otherwise ("Also, Teams crashes when I open it").
_POINTS_BACK = re.compile(
    r"^(?:it|that|this|they|which|if\s+so|if\s+not)\b"
    r"|\b(?:it|that|this|them)\s*[?.!]*$",
    re.IGNORECASE,
)
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Issue:
    text: str
    intent: str
    confidence: float
    topic: str
    triage: str

    def as_dict(self) -> dict[str, object]:
        return {
            "text": self.text,
            "intent": self.intent,
            "confidence": round(self.confidence, 4),
            "topic": self.topic,
            "triage": self.triage,
        }


def _words(text: str) -> int:
    return len(_WORD.findall(text))


def split_clauses(text: str) -> list[str]:
    """The clauses of a message that might each be a request, in order."""
    if not text.strip() or len(text) > MAX_TEXT_CHARS:
        return []
    clauses: list[str] = []
    explicit = False  # the clause follows a connector that starts a new matter
    for index, part in enumerate(_BOUNDARY.split(text)):
        if index % 2:  # a separator
            explicit = bool(_CONNECTOR.search(part))
            continue
        part = part.strip(" ,.;:-")
        leading = _LEADING.match(part)
        if leading:
            explicit, part = True, part[leading.end() :]
        if not part:
            continue
        pieces = _AND.split(part)
        if len(pieces) > 1 and all(_words(p) >= MIN_AND_SIDE_WORDS for p in pieces):
            found = [p.strip(" ,.;:-") for p in pieces]
        else:
            found = [part]
        for number, clause in enumerate(found):
            new_matter = explicit and number == 0
            if clauses and not new_matter and _POINTS_BACK.search(clause):
                clauses[-1] = f"{clauses[-1]}, {clause}"
            else:
                clauses.append(clause)
        explicit = False
    return [c for c in clauses if _words(c) >= MIN_CLAUSE_WORDS][:MAX_CLAUSES]


def _same_matter(topic: str, other: str) -> bool:
    return topic == other or any({topic, other} <= group for group in SAME_MATTER)


def _classified(
    clauses: list[str],
    classify: Callable[[Sequence[str]], Sequence[tuple[str, float]]],
    skip_topics: frozenset[str],
) -> list[Issue]:
    """Each clause of two or more with its intent, confidence, topic and triage,
    but for those whose topic is unknown or in `skip_topics`; [] for fewer than two
    clauses."""
    if len(clauses) < 2:
        return []
    try:
        taxonomy = load_taxonomy()
    except TaxonomyError:
        return []
    found: list[Issue] = []
    for clause, (intent, confidence) in zip(clauses, classify(clauses)):
        topic = taxonomy.intent_topic.get(intent)
        if topic is None or topic in skip_topics:
            continue
        found.append(
            Issue(clause, intent, confidence, topic, taxonomy.topic_triage[topic])
        )
    return found


def find_issues(
    text: str,
    classify: Callable[[Sequence[str]], Sequence[tuple[str, float]]],
    min_confidence: float,
) -> list[Issue]:
    """The distinct issues of a message (two or more), or [] when it holds one.

    `classify` maps clauses to (intent, confidence) pairs, the same classifier that
    classified the whole message."""
    found = _classified(split_clauses(text), classify, NOT_ISSUES)
    strong = [i for i in found if i.confidence >= min_confidence]
    triages = {i.triage for i in strong}
    floor = min(min_confidence, MIXED_MIN_CONFIDENCE)
    issues: dict[str, Issue] = {}
    for issue in found:
        mixed = (
            bool(strong)
            and issue.triage in PROBLEM_TRIAGES
            and triages & PROBLEM_TRIAGES
            and issue.triage not in triages
            and issue.confidence >= floor
        )
        if issue not in strong and not mixed:
            continue
        if any(_same_matter(issue.topic, seen) for seen in issues):
            continue
        issues[issue.topic] = issue
    return list(issues.values()) if len(issues) >= 2 else []


def leading_issue(
    issues: Sequence[Issue], intent: str, confidence: float
) -> Issue | None:
    """The first matter raised, when the message's own intent should give way to
    it: the intent is not about that matter, and is unsure or about a matter raised
    later ("their invoice is off, and their Teams is down as well": the invoice
    first). None otherwise."""
    if not issues or issues[0].intent == intent:
        return None
    try:
        taxonomy = load_taxonomy()
        topic = taxonomy.intent_topic.get(intent)
    except TaxonomyError:
        return None
    if topic == issues[0].topic:
        return None
    # Two problems: the one raised first comes first. A question asked after a
    # problem ("Azure VMs are down. How do we get Microsoft involved?") is what
    # the message wants answered.
    raised_later = taxonomy.topic_triage.get(str(topic)) in PROBLEM_TRIAGES and any(
        topic == issue.topic for issue in issues[1:]
    )
    return issues[0] if confidence < LEAD_BELOW or raised_later else None


def lead_ranking(lead: Issue, ranking: Sequence[dict]) -> list[dict]:
    """The intent ranking with the leading matter's intent first, at its clause's
    confidence; the others share what is left in their proportions (so that the
    fallback's ambiguity check sees the lead stand clear, as the clause did)."""
    rest = [dict(r) for r in ranking if r.get("name") != lead.intent]
    total = sum(float(r.get("confidence") or 0.0) for r in rest)
    scale = (1.0 - lead.confidence) / total if total > 0 else 0.0
    for entry in rest:
        entry["confidence"] = float(entry.get("confidence") or 0.0) * scale
    return [{"name": lead.intent, "confidence": lead.confidence}, *rest]


# A comma or colon before one of these starts another question: "what was our last
# bill, when are you around", "a few things: how much do we owe".
_QUESTION_START = (
    r"what|what's|whats|when|where|how|can|could|do|does|did|is|are|will|would|who"
    r"|which|why|should"
)
_QUESTION_COMMA = re.compile(rf"[,:]\s+(?=(?:{_QUESTION_START})\b)", re.IGNORECASE)
_ASKED = re.compile(rf"\?\s*$|^(?:{_QUESTION_START})\b", re.IGNORECASE)
# Topics whose clauses are no question for the desk to answer.
NOT_QUESTIONS = frozenset({"smalltalk"})
OUT_OF_SCOPE_TOPIC = "out_of_scope"
# Topics that count only when asked as a question ("can someone call us back?", "and
# what's the weather tomorrow?"), not as a statement.
ONLY_ASKED = frozenset({OUT_OF_SCOPE_TOPIC, "human_agent"})
# A clause asked as a question counts from this confidence: short questions ("when
# are you guys around") carry few words for the classifier.
ASKED_MIN_CONFIDENCE = 0.4


def find_questions(
    text: str,
    classify: Callable[[Sequence[str]], Sequence[tuple[str, float]]],
    min_confidence: float,
) -> list[Issue]:
    """The clauses of a message that ask the desk something, each on its own (two
    or more), or [] when the message holds one question."""
    clauses = [
        piece.strip(" ,.;:-")
        for clause in split_clauses(text)
        for piece in _QUESTION_COMMA.split(clause)
    ]
    clauses = [c for c in clauses if _words(c) >= MIN_CLAUSE_WORDS][:MAX_CLAUSES]
    found: list[Issue] = []
    for question in _classified(clauses, classify, NOT_QUESTIONS):
        asked = _ASKED.search(question.text) is not None
        if question.confidence < (
            min(min_confidence, ASKED_MIN_CONFIDENCE) if asked else min_confidence
        ):
            continue
        if question.topic in ONLY_ASKED and not asked:
            continue  # "our finance person is off this week": no question
        found.append(question)
    answerable = [q for q in found if q.topic != OUT_OF_SCOPE_TOPIC]
    return found if len(found) >= 2 and answerable else []
