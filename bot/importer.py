"""Rasa's file importer, with the bot's answers taken from the text catalogue.

The domain (domain/) declares intents, slots, forms and actions but no texts: every
`utter_*` response lives in common/texts/en.yml. This importer adds those responses
to the domain Rasa trains and validates with, so rules, forms and `rasa data
validate` know them; at run time bot/nlg.py renders them in the conversation's
language. config.yml selects it:

    importers:
      - name: bot.importer.CatalogueImporter
"""

from __future__ import annotations

from rasa.shared.core.domain import Domain
from rasa.shared.importers.rasa import RasaFileImporter

from common.texts import DEFAULT_LANGUAGE, catalogue


class CatalogueImporter(RasaFileImporter):
    """domain/ plus the English catalogue's responses."""

    def get_domain(self) -> Domain:
        responses = {
            key: [dict(variation) for variation in variations]
            for key, variations in catalogue(DEFAULT_LANGUAGE).responses.items()
        }
        return super().get_domain().merge(Domain.from_dict({"responses": responses}))
