"""Config values whose ``${VAR}`` references are not set.

LibreChat keeps such a value as written and only fails when the endpoint is
used. Billing does the same, but an endpoint's credentials (``apiKey``,
``baseURL``, header values) become an ``Unresolved`` rather than the literal
text, so no code can send ``${MISTRAL_API_KEY}`` upstream by accident: asking
for the value raises ``UnresolvedValue`` naming the key and the variable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


class UnresolvedValue(Exception):
    """A config value was needed but one of its environment variables is not set."""


@dataclass(frozen=True, slots=True)
class Unresolved:
    text: str  # as written in the file, e.g. "Bearer ${TOKEN}"
    variables: tuple[str, ...]  # the unset (or empty) ones
    key: str  # where, e.g. "endpoints.custom[0].apiKey"

    def __str__(self) -> str:
        # Formatting it into a request (f"Bearer {key}") must fail, not send "${KEY}".
        raise self.error()

    def error(self) -> UnresolvedValue:
        names = " and ".join(self.variables)
        verb = "is" if len(self.variables) == 1 else "are"
        return UnresolvedValue(
            f"{self.key}: environment variable {names} {verb} not set; "
            "set it and reload the config to use this endpoint"
        )


def require(value: str | Unresolved | T) -> str | T:
    """The value itself; raises UnresolvedValue for an unresolved one."""
    if isinstance(value, Unresolved):
        raise value.error()
    return value
