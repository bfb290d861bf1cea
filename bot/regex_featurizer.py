"""Rasa's ``RegexFeaturizer`` with a cost per message that grows linearly with its length.

Rasa 3.6's ``RegexFeaturizer._features_for_patterns`` compares every token with every
match of a pattern, so a message of n tokens that matches a pattern about n times (a
lookup-table word repeated, "invoice invoice ...") costs n² comparisons per pattern.
``LinearRegexFeaturizer`` finds, for each match, the tokens it overlaps by bisecting
the tokens' offsets, and fills in the same token ``pattern`` dicts, sequence and
sentence features as Rasa's (``tests/bot/nlu/test_regex_featurizer.py`` compares them).

A backtracking regex can itself be quadratic in a long run of the characters it
repeats: ``\\b\\d[\\d,.]*\\s?(?:USD|...)\\b`` restarts at every digit of "1,1,1,..." and
reads the rest of the run each time. So every unbounded repetition of a pattern
(``*``, ``+``, ``{n,}``) is compiled with an upper bound of ``MAX_REPEAT`` repeats
(``bounded_pattern``): an attempt at one position then reads a bounded number of
characters, and a search costs at most that times the length of the text. The matches
are the ones Rasa finds for every match that repeats nothing more than ``MAX_REPEAT``
times (a regex tries the repeat counts in the same order, without the larger ones).

Use it in ``config.yml`` in place of ``RegexFeaturizer``, with the same options:
``- name: bot.regex_featurizer.LinearRegexFeaturizer``.
"""

from __future__ import annotations

import bisect
import re
from itertools import pairwise
from typing import Any

import numpy as np
import scipy.sparse
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.featurizers.sparse_featurizer.regex_featurizer import RegexFeaturizer
from rasa.shared.nlu.constants import ACTION_TEXT, RESPONSE, TEXT
from rasa.shared.nlu.training_data.message import Message

try:  # Python 3.11+
    from re import _compiler as sre_compile
    from re import _constants as sre_constants
    from re import _parser as sre_parse
except ImportError:  # Python 3.10, which Rasa 3.6 runs on
    import sre_compile
    import sre_constants
    import sre_parse

# The most repeats of one unbounded repetition in a match: a longer run of digits,
# spaces or lookup words than this is not one match any more. The channels cap a
# message at 4,000 characters.
MAX_REPEAT = 64
_GROUPS = (sre_constants.SUBPATTERN, sre_constants.ASSERT, sre_constants.ASSERT_NOT)


def _bound_repeats(tree: Any, limit: int) -> None:
    """Give every unbounded repeat in a parsed pattern the upper bound ``limit``."""
    tree.width = None  # cached widths are recomputed by the compiler
    for i, (op, av) in enumerate(tree.data):
        if op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
            low, high, item = av
            _bound_repeats(item, limit)
            if high == sre_constants.MAXREPEAT:
                tree.data[i] = (op, (low, max(low, limit), item))
        elif op in _GROUPS:
            _bound_repeats(av[-1], limit)
        elif op == sre_constants.BRANCH:
            for branch in av[1]:
                _bound_repeats(branch, limit)
        elif op == sre_constants.GROUPREF_EXISTS:
            for branch in av[1:]:
                if branch is not None:
                    _bound_repeats(branch, limit)


def bounded_pattern(
    pattern: str, flags: int = 0, limit: int = MAX_REPEAT
) -> re.Pattern:
    """``re.compile(pattern, flags)`` with every unbounded repeat bounded by ``limit``."""
    tree = sre_parse.parse(pattern, flags)
    _bound_repeats(tree, limit)
    return sre_compile.compile(tree, flags)


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True
)
class LinearRegexFeaturizer(RegexFeaturizer):
    """``RegexFeaturizer`` whose work per message is linear in the message's length."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._compiled: dict[tuple[str, int], re.Pattern] = {}

    def _compile(self, pattern: str, flags: int) -> re.Pattern:
        # Compiled once per pattern: Rasa compiles through re's cache on every message.
        key = (pattern, flags)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = bounded_pattern(pattern, flags)
        return compiled

    def _features_for_patterns(
        self, message: Message, attribute: str
    ) -> tuple[scipy.sparse.coo_matrix | None, scipy.sparse.coo_matrix | None]:
        """The features Rasa's ``RegexFeaturizer`` computes (see there), found with a
        bisection over the token offsets instead of a loop over every token."""
        text = message.get(attribute)
        if not text:
            return None, None
        tokens = message.get(TOKENS_NAMES[attribute], [])
        if not tokens:
            return None, None
        starts = [t.start for t in tokens]
        ends = [t.end for t in tokens]
        if any(a > b for a, b in pairwise(starts)) or any(
            a > b for a, b in pairwise(ends)
        ):
            # Bisection needs tokens in text order; no tokenizer of ours does
            # otherwise, but Rasa's loop gives the right answer for any order.
            return super()._features_for_patterns(message, attribute)

        flags = 0 if self.case_sensitive else re.IGNORECASE
        sequence_features = np.zeros([len(tokens), len(self.known_patterns)])
        sentence_features = np.zeros([1, len(self.known_patterns)])
        counts_for_sentence = attribute in (RESPONSE, TEXT, ACTION_TEXT)
        matched_tokens: list[set[int]] = []
        for index, pattern in enumerate(self.known_patterns):
            hit: set[int] = set()
            for match in self._compile(pattern["pattern"], flags).finditer(text):
                match_start, match_end = match.span()
                # Token t overlaps the match when t.start < match_end and
                # t.end > match_start, as in Rasa's loop.
                first = bisect.bisect_right(ends, match_start)
                last = bisect.bisect_left(starts, match_end)
                if first < last:
                    hit.update(range(first, last))
                    sequence_features[first:last, index] = 1.0
                    if counts_for_sentence:
                        sentence_features[0, index] = 1.0
            matched_tokens.append(hit)

        # Each token's "pattern" dict (read by CRFEntityExtractor), every pattern named,
        # in pattern order, updated in place as Rasa does.
        names = [pattern["name"] for pattern in self.known_patterns]
        for token_index, token in enumerate(tokens):
            patterns = token.get("pattern", default={})
            for name, hit in zip(names, matched_tokens):
                patterns[name] = token_index in hit
            token.set("pattern", patterns)

        return (
            scipy.sparse.coo_matrix(sequence_features),
            scipy.sparse.coo_matrix(sentence_features),
        )
