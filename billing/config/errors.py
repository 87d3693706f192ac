"""The one exception the config package raises."""

from __future__ import annotations

from collections.abc import Iterable


class ConfigError(Exception):
    """A config file that cannot be used; ``problems`` lists every reason found."""

    def __init__(
        self, problems: Iterable[str], *, warnings: Iterable[str] = (), source: str | None = None
    ) -> None:
        self.problems: list[str] = list(problems) or ["invalid configuration"]
        self.warnings: list[str] = list(warnings)
        self.source = source
        super().__init__("\n".join(self.problems))
