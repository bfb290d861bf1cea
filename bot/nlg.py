"""The bot's answers, rendered from the text catalogues (common/texts/<lang>.yml).

Rasa renders a response (`utter_*`, by a rule or by an action that names it) through
its NLG. This one is Rasa's own templated NLG run over the catalogue of the
conversation's language (common/conversation_language.py: the language of the latest
message that told one the desk speaks, else the chat token's locale, else the
`language` slot, else English; a partial catalogue is never a conversation's
language), so variations, slot conditions, buttons and `{placeholders}` work as
Rasa documents them, and the domain holds no texts. endpoints.yml selects it:

    nlg:
      type: bot.nlg.CatalogueNLG
"""

from __future__ import annotations

import logging
from typing import Any, Optional

from rasa.core.nlg.generator import NaturalLanguageGenerator
from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from common.conversation_language import conversation_language
from common.texts import DEFAULT_LANGUAGE, catalogue, desk_languages

logger = logging.getLogger(__name__)

LANGUAGE_SLOT = "language"


def language_of(tracker: DialogueStateTracker) -> str:
    """The conversation's language (common/conversation_language.py)."""
    messages = (
        (event.parse_data, event.metadata)
        for event in reversed(tracker.events)
        if isinstance(event, UserUttered)
    )
    return conversation_language(messages, tracker.get_slot(LANGUAGE_SLOT))


class CatalogueNLG(NaturalLanguageGenerator):
    """Rasa's templated NLG over the catalogue of the conversation's language."""

    def __init__(self, *_: Any, **__: Any) -> None:
        self._by_language = {
            language: TemplatedNaturalLanguageGenerator(
                dict(catalogue(language).responses)
            )
            for language in desk_languages()
        }

    def for_language(self, language: Any) -> TemplatedNaturalLanguageGenerator:
        default = self._by_language[DEFAULT_LANGUAGE]
        return self._by_language.get(language, default) if language else default

    async def generate(
        self,
        utter_action: str,
        tracker: DialogueStateTracker,
        output_channel: str,
        **kwargs: Any,
    ) -> Optional[dict[str, Any]]:
        nlg = self.for_language(language_of(tracker))
        response = await nlg.generate(utter_action, tracker, output_channel, **kwargs)
        if response is None:
            logger.warning("No text %s in the catalogue", utter_action)
        return response
