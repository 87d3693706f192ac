"""Model name -> built-in price key (docs/design.md "Pricing", step 3).

Parity with LibreChat's substring matching, including its surprises
(``claude-opus-4.5`` -> ``claude-opus-4``, ``phi-3-medium-128k-instruct`` ->
``8k``): the matched key is always returned so callers can show it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from billing.pricing.tables import DefaultTables, load_default_tables

# Checked in this order against the lower-cased name when nothing else matched.
LEGACY_OPENAI: tuple[tuple[str, str], ...] = (
    ("gpt-3.5-turbo-16k", "16k"),
    ("gpt-3.5", "4k"),
    ("gpt-4-vision", "gpt-4-1106"),
    ("gpt-4-0125", "gpt-4-1106"),
    ("gpt-4-turbo", "gpt-4-1106"),
    ("gpt-4-32k", "32k"),
    ("gpt-4", "8k"),
)

# Client-supplied model names are unbounded; keep the memo bounded.
_MEMO_SIZE = 16_384


class Matcher:
    """Precomputed search order over one tables object, with a memo per name."""

    def __init__(self, tables: DefaultTables) -> None:
        keys = list(tables.token_values)
        # A later duplicate (after lower-casing) overwrites: the last definition wins.
        self._exact = {key.lower(): key for key in keys}
        # Longest first; among equal lengths the key defined last comes first, so
        # the first substring hit in this order is the answer.
        order = sorted(range(len(keys)), key=lambda i: (-len(keys[i]), -i))
        self._ordered = tuple((keys[i].lower(), keys[i]) for i in order)
        self._legacy = tuple((needle, key) for needle, key in LEGACY_OPENAI if key in self._exact)
        self.find: Callable[[str], str | None] = functools.lru_cache(maxsize=_MEMO_SIZE)(self._find)

    def _longest(self, name: str) -> str | None:
        exact = self._exact.get(name)
        if exact is not None:
            return exact
        size = len(name)
        for lowered, key in self._ordered:
            if len(lowered) <= size and lowered in name:
                return key
        return None

    def _find(self, model: str) -> str | None:
        name = model.lower()
        full = self._longest(name)
        if "/" in name:
            # Provider-prefixed: a full-name hit only counts if the key is itself
            # prefixed; otherwise the model part after the last '/' decides.
            if full is not None and "/" in full:
                return full
            tail = self._longest(name.rsplit("/", 1)[1])
            if tail is not None:
                return tail
        if full is not None:
            return full
        for needle, key in self._legacy:
            if needle in name:
                return key
        return None


@functools.lru_cache(maxsize=8)
def matcher_for(tables: DefaultTables) -> Matcher:
    return Matcher(tables)


def find_value_key(model: str, tables: DefaultTables | None = None) -> str | None:
    """The built-in price key for ``model``, or None when no key applies."""
    return matcher_for(tables if tables is not None else load_default_tables()).find(model)
