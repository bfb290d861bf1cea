"""The entities of a message written in Japanese.

The spaCy pipeline (bot/spacy_pipeline.py) tokenizes on spaces, as English is
written; Japanese is not, so "請求書G000024195を見せて" or "Microsoft 365 E3を解約" is one
token and its token patterns find nothing. ``japanese_entities`` reads such a message
with regular expressions instead, over its text folded character by character to
NFKC (``fold``: full-width letters and digits, ``Ｇ００００２４１９５``, and half-width
katakana become the usual ones, and every character keeps its offset):

- ``invoice_number`` (G000024195, ｇ-000 024 195) and ``ticket_id`` (CSP-000012), as
  ``bot.nlu_rules`` writes them;
- ``amount``: 12,800円, ¥12,800, ￥3万, 5万円, as typed (NFKC);
- ``billing_period``: 先月, 今月, 先々月, 10月, 2026年4月, 第3四半期, 2026年第3四半期,
  直近3か月, 去年... with the English words ``api.domain.services.periods`` reads as the
  value ("last month", "October", "2026-04", "Q3 2026", "the last 3 months");
- ``product``: the names of ``bot/patterns/products.jsonl`` (English, as Japanese
  writes them, next to kana) and their katakana names (チームズ, アウトルック, エクセル...),
  whose value is the product's name.

A message is read this way only when it has kana or Chinese characters (``is_japanese``),
so English parses are unchanged. NluRules (bot/nlu_rules.py) adds what this finds
where the spaCy pipeline found nothing.
"""

from __future__ import annotations

import calendar
import json
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PRODUCTS_FILE = Path(__file__).with_name("patterns") / "products.jsonl"

# Katakana (and a few kanji) names of products -> the product's name in
# bot/patterns/products.jsonl. Longest first at match time.
KATAKANA_PRODUCTS = {
    "マイクロソフト365": "Microsoft 365",
    "マイクロソフト 365": "Microsoft 365",
    "オフィス365": "Office 365",
    "オフィス 365": "Office 365",
    # names the spaCy pipeline's rules find only with English context around them
    "Teams": "Teams",
    "Word": "Word",
    "チームズ": "Teams",
    "チームス": "Teams",
    "アウトルック": "Outlook",
    "エクセル": "Excel",
    "ワード": "Word",
    "パワーポイント": "PowerPoint",
    "ワンドライブ": "OneDrive",
    "シェアポイント": "SharePoint",
    "エクスチェンジオンライン": "Exchange Online",
    "エクスチェンジ": "Exchange Online",
    "アジュール": "Azure",
    "アジュール仮想マシン": "Azure Virtual Machines",
    "ディフェンダー": "Defender",
    "インチューン": "Intune",
    "コパイロット": "Copilot",
    "ダイナミクス365": "Dynamics 365",
    "ダイナミクス 365": "Dynamics 365",
    "ビジオ": "Visio",
    "プロジェクト": "Project",
    "パワービーアイ": "Power BI",
    "エントラID": "Entra ID",
}

_NOT_ASCII_WORD_BEFORE = r"(?<![A-Za-z0-9-])"
_NOT_ASCII_WORD_AFTER = r"(?![A-Za-z0-9])"
INVOICE = re.compile(
    _NOT_ASCII_WORD_BEFORE
    + r"(?P<series>[dg])[ .-]?(?P<digits>(?:\d[ .-]?){8}\d)(?![ .-]?\d)"
    + _NOT_ASCII_WORD_AFTER,
    re.IGNORECASE,
)
TICKET = re.compile(
    _NOT_ASCII_WORD_BEFORE + r"csp[ -]?(?P<digits>\d{4,8})" + _NOT_ASCII_WORD_AFTER,
    re.IGNORECASE,
)
_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
AMOUNT = re.compile(
    rf"[¥]\s?(?:{_NUMBER})(?:\s?[万千億]円?)?|(?:{_NUMBER})\s?[万千億]?\s?円"
)
# A month, never a day's date ("11月5日" is a date) nor a count ("3か月").
_MONTH = r"(?P<month>1[0-2]|0?[1-9])月(?!\s?\d{1,2}日)"
PERIOD = re.compile(
    r"(?P<ym>(?P<y1>(?:19|20)\d\d)年\s?" + _MONTH.replace("month", "m1") + ")"
    r"|(?P<yq>(?:(?P<y2>(?:19|20)\d\d)年\s?(?:度\s?)?)?第\s?(?P<q>[1-4一二三四])\s?四半期)"
    r"|(?P<last>(?:直近|過去|最近)\s?(?P<n>\d{1,2}|[一二三四五六七八九十])\s?(?:か|ヶ|ケ|カ|ヵ)?月(?:間|分)?)"
    r"|(?P<rel>先々月|先月|前月|今月|当月|来月|翌月|昨年|去年|前年|今年|本年|来年)"
    r"|(?P<m>(?<![\d年])" + _MONTH + ")"
    r"|(?P<year>(?:19|20)\d\d)年(?![\d度第])"
)
RELATIVE = {
    "先々月": "two months ago",
    "先月": "last month",
    "前月": "last month",
    "今月": "this month",
    "当月": "this month",
    "来月": "next month",
    "翌月": "next month",
    "昨年": "last year",
    "去年": "last year",
    "前年": "last year",
    "今年": "this year",
    "本年": "this year",
    "来年": "next year",
}
KANJI_NUMBERS = {c: i for i, c in enumerate("一二三四五六七八九十", start=1)}
MONTH_NAMES = list(calendar.month_name)[1:]  # English: what periods.py reads

# What may stand beside an identifier in a message that only asks to look it up
# ("請求書 G000024195", "CSP-000012の状況を教えてください"): bot/nlu_rules.py removes these
# and, if nothing else is left, answers with the look-up intent.
FILLER = re.compile(
    "|".join(
        sorted(
            """
            請求書 せいきゅうしょ 請求 インボイス 明細 チケット 問い合わせ お問い合わせ 番号 件
            状況 進捗 ステータス 内容 詳細
            を の は が で について って
            見せて 見たい 見せてください 教えて 教えてください 確認 確認したい 確認して
            ください 下さい お願いします お願いいたします お願い して したい です ですか
            ますか ます 送って 送ってください ほしい 欲しい 下さいませ どう どうなって
            どうなりましたか いる
            """.split(),  # noqa: SIM905 (a word list reads better as text)
            key=len,
            reverse=True,
        )
    )
)
PUNCTUATION = re.compile(r"[\s、。！？!?・「」『』（）()：:]+")


def only_filler(text: str) -> bool:
    """Whether `text` (a message with its identifiers removed) holds nothing but
    Japanese filler words and punctuation."""
    return not PUNCTUATION.sub("", FILLER.sub("", fold(text)))


JAPANESE_SCRIPT = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\u4e00-\u9fff\uff66-\uff9f]")


@dataclass(frozen=True)
class Found:
    entity: str
    value: str
    start: int
    end: int


def is_japanese(text: str) -> bool:
    """Whether the text has kana or Chinese characters (then it is read here)."""
    return JAPANESE_SCRIPT.search(text) is not None


def fold(text: str) -> str:
    """NFKC of each character on its own where that is one character (Ｇ -> G,
    ０ -> 0, ｶ -> カ, ￥ -> ¥), so that offsets into the result are offsets into
    `text`."""
    out = []
    for char in text:
        folded = unicodedata.normalize("NFKC", char)
        out.append(folded if len(folded) == 1 else char)
    return "".join(out)


def _number(text: str) -> int:
    return int(text) if text.isdigit() else KANJI_NUMBERS[text]


def _period_value(match: re.Match[str]) -> str:
    if match["ym"]:
        return f"{match['y1']}-{int(match['m1']):02d}"
    if match["yq"]:
        quarter = f"Q{_number(match['q'])}"
        return f"{quarter} {match['y2']}" if match["y2"] else quarter
    if match["last"]:
        return f"the last {_number(match['n'])} months"
    if match["rel"]:
        return RELATIVE[match["rel"]]
    if match["m"]:
        return MONTH_NAMES[int(match["month"]) - 1]
    return str(match["year"])


@lru_cache(maxsize=1)
def _product_pattern() -> tuple[re.Pattern[str], dict[str, str]]:
    names: dict[str, str] = {}
    for line in PRODUCTS_FILE.read_text(encoding="utf-8").splitlines():
        if line.strip():
            entry = json.loads(line)
            if entry.get("label") == "product" and isinstance(entry["pattern"], str):
                names[entry["pattern"].lower()] = str(
                    entry.get("id") or entry["pattern"]
                )
    for katakana, name in KATAKANA_PRODUCTS.items():
        names[katakana.lower()] = name
    alternatives = "|".join(
        re.escape(name) for name in sorted(names, key=len, reverse=True)
    )
    pattern = re.compile(
        _NOT_ASCII_WORD_BEFORE + rf"(?:{alternatives})" + _NOT_ASCII_WORD_AFTER,
        re.IGNORECASE,
    )
    return pattern, names


def japanese_entities(text: str) -> list[Found]:
    """The entities of a Japanese message, offsets into `text`, in order."""
    folded = fold(text)
    found: list[Found] = []
    taken: list[tuple[int, int]] = []

    def add(entity: str, value: str, start: int, end: int) -> None:
        if any(s < end and start < e for s, e in taken):
            return
        taken.append((start, end))
        found.append(Found(entity, value, start, end))

    for match in INVOICE.finditer(folded):
        value = match["series"].upper() + re.sub(r"\D", "", match["digits"])
        add("invoice_number", value, *match.span())
    for match in TICKET.finditer(folded):
        add("ticket_id", f"CSP-{match['digits']}", *match.span())
    pattern, names = _product_pattern()
    for match in pattern.finditer(folded):
        add("product", names[match.group(0).lower()], *match.span())
    for match in AMOUNT.finditer(folded):
        add("amount", match.group(0), *match.span())
    for match in PERIOD.finditer(folded):
        add("billing_period", _period_value(match), *match.span())
    return sorted(found, key=lambda f: f.start)
