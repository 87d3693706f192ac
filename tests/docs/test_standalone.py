"""The repository stands alone: no reference to documents outside it, and every
relative link in the README and docs/ leads to a file (and heading) inside it."""

from __future__ import annotations

import re
from pathlib import Path

from tests.docs.readme import ROOT

CHECKED_DIRS = ("billing", "tests", "migrations", "benchmarks", "deploy", "docs", "examples", ".ci")
CHECKED_FILES = ("README.md", "Makefile", "pyproject.toml", "alembic.ini")
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".json", ".toml", ".ini", ".txt", ""}
# Documents that lived beside the repository once; the repository has its own now.
OUTSIDE = re.compile(
    r"(?<![\w/])(?:DESIGN|API)\.md|(?<![\w.])spec/[\w-]+\.txt|\.\./shared|/shared/"
)
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _text_files() -> list[Path]:
    files = [ROOT / name for name in CHECKED_FILES]
    for directory in CHECKED_DIRS:
        files += [
            path
            for path in (ROOT / directory).rglob("*")
            if path.is_file() and path.suffix in TEXT_SUFFIXES and "__pycache__" not in path.parts
        ]
    return files


def test_nothing_refers_to_documents_outside_the_repository() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _text_files()
        if path != Path(__file__)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not found


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#{1,6} (.+)$", markdown, re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_relative_links_lead_inside_the_repository() -> None:
    broken = []
    for document in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        text = document.read_text(encoding="utf-8")
        for target in _LINK.findall(text):
            if re.match(r"[a-z]+://", target):
                continue
            path_part, _, anchor = target.partition("#")
            linked = (document.parent / path_part).resolve() if path_part else document
            if not linked.is_file() or ROOT not in linked.parents:
                broken.append(f"{document.name}: {target}")
            elif anchor and anchor not in _anchors(linked.read_text(encoding="utf-8")):
                broken.append(f"{document.name}: {target} (no such heading)")
    assert not broken
