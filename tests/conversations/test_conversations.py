"""Whole conversations, as users hold them, against the real stack (e2e).

Every conversation in tests/conversations/*.yml (format: harness.py) is held over
Rasa's REST channel with a stack started the way `make run` starts it, and judged on
facts read from the stack's database. A conversation must be *right*: every turn
says what it must and nothing it must not. The held-out set that measures the
dialogue (`make bench-conversations`) lives apart, in bench/conversations/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from api.domain.db import make_engine
from tests.conversations.harness import RIGHT, Runner, Script, load_folder
from tests.e2e.stack import Stack, start_stack, stop_stack

pytestmark = pytest.mark.e2e

HERE = Path(__file__).parent
SCRIPTS = load_folder(HERE)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("conversations"))
    yield running
    stop_stack(running)


@pytest.fixture(scope="module")
def runner(stack: Stack) -> Iterator[Runner]:
    engine: Engine = make_engine(stack.env["DATABASE_URL"])
    held = Runner(stack.rasa_url, stack.env["CHAT_TOKEN_SECRET"], engine)
    yield held
    held.close()
    engine.dispose()


def test_there_are_at_least_a_hundred_conversations_over_every_class() -> None:
    assert len(SCRIPTS) >= 100
    assert {s.cls for s in SCRIPTS} >= {
        "context",
        "forms",
        "flows",
        "specific",
        "facts",
        "bad_input",
        "japanese",
    }


# Conversations the bot does not hold yet, each with what goes wrong: shown as
# xfail (and as wrong in `make bench-conversations`), never silently dropped.
KNOWN_GAPS = {
    "staff-two-problems": (
        "with the Japanese data in the model, the invoice clause of 'Fourth Coffee "
        "thinks their latest invoice is off, and their Teams is down as well' is no "
        "longer a confident matter of its own: the fault is answered first and the "
        "invoice not offered"
    ),
    "price-of-technical-support-litware": (
        "'how long are the hours valid for?' after the support pricing is read as a "
        "question about opening hours"
    ),
}


def _marked(script: Script) -> object:
    gap = KNOWN_GAPS.get(script.id)
    if gap is None:
        return script
    return pytest.param(script, marks=pytest.mark.xfail(reason=gap, strict=False))


@pytest.mark.parametrize(
    "script", [_marked(s) for s in SCRIPTS], ids=[s.id for s in SCRIPTS]
)
def test_conversation(runner: Runner, script: Script) -> None:
    result = runner.run(script)
    assert result.verdict == RIGHT, "\n" + result.transcript()
