"""Problem and warning collection, each message prefixed with its key path."""

from __future__ import annotations

from collections.abc import Mapping

from yaml.error import Mark

Path = tuple[str | int, ...]


def format_path(path: Path) -> str:
    """``("endpoints", "custom", 2, "name")`` -> ``endpoints.custom[2].name``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text or "(top level)"


class Issues:
    """Collects every problem instead of stopping at the first one.

    ``marks`` maps key paths to where their values start in the file, so a
    message can point at a line; a missing key borrows its parent's line.
    """

    def __init__(self, marks: Mapping[Path, Mark] | None = None) -> None:
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.marks: Mapping[Path, Mark] = marks or {}

    def error(self, path: Path, message: str, *, locate: bool = True) -> None:
        self.errors.append(self._render(path, message) if locate else self._plain(path, message))

    def warn(self, path: Path, message: str) -> None:
        self.warnings.append(self._render(path, message))

    @staticmethod
    def _plain(path: Path, message: str) -> str:
        return f"{format_path(path)}: {message}"

    def _render(self, path: Path, message: str) -> str:
        text = self._plain(path, message)
        for depth in range(len(path), 0, -1):
            mark = self.marks.get(path[:depth])
            if mark is not None:
                return f"{text} (line {mark.line + 1})"
        return text
