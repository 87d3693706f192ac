"""The README's quick start as data: its shell blocks, their answers, and a runner.

tests/docs/test_quickstart.py replays the blocks against a fresh service; the
failure message shows the real answers in the README's format, ready to paste.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from billing.migrator import upgrade
from testkit import live

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
EXAMPLE_CONFIG = ROOT / "examples" / "librechat.yaml"
QUICKSTART_HEADING = "## Quick start"
README_BASE = "localhost:8000"
# Values that differ from run to run; their keys must still be there.
VARYING_KEYS = frozenset(
    {
        "reservation_id",
        "created_at",
        "expires_at",
        "closed_at",
        "occurred_at",
        "last_refill_at",
        "next_refill_at",
    }
)
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
_SEPARATOR = "@@@ next block @@@"


@dataclass(frozen=True)
class Step:
    script: str  # a shell block that prints one JSON document
    answer: Any  # the JSON block after it in the README


def quickstart_section(text: str) -> str:
    start = text.index(QUICKSTART_HEADING)
    end = text.find("\n## ", start + len(QUICKSTART_HEADING))
    return text[start : end if end != -1 else len(text)]


def quickstart_steps(text: str) -> list[Step]:
    """Each ``sh`` block that calls the API, with the ``json`` block that follows it."""
    blocks = [(m.group(1), m.group(2)) for m in _FENCE.finditer(quickstart_section(text))]
    steps = []
    for (language, body), following in zip(blocks, [*blocks[1:], ("", "")], strict=True):
        if language != "sh" or "curl " not in body:
            continue
        assert following[0] == "json", f"no json answer after the block:\n{body}"
        steps.append(Step(body, json.loads(following[1])))
    return steps


def run_steps(steps: list[Step], base: str) -> list[Any]:
    """Run the blocks in one bash (variables carry over), against ``base``."""
    script = f"\nprintf '\\n{_SEPARATOR}\\n'\n".join(
        step.script.replace(README_BASE, base) for step in steps
    )
    done = subprocess.run(
        ["bash", "-e", "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    outputs = done.stdout.split(f"\n{_SEPARATOR}\n")
    assert len(outputs) == len(steps), done.stdout
    return [json.loads(output) for output in outputs]


def without_varying(value: Any) -> Any:
    """``value`` with the varying fields' values replaced (the keys stay)."""
    if isinstance(value, dict):
        return {
            k: "<varies>" if k in VARYING_KEYS and v is not None else without_varying(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [without_varying(item) for item in value]
    return value


def readable(value: Any, indent: int = 0, prefix: int = 0, width: int = 100) -> str:
    """JSON as in the README: a value stays on one line when it fits in ``width``
    (``prefix`` characters, e.g. its key, stand before it on that line)."""
    flat = json.dumps(value)
    if indent + prefix + len(flat) <= width or not isinstance(value, dict | list) or not value:
        return flat
    pad = " " * (indent + 2)
    if isinstance(value, list):
        lines = [pad + readable(item, indent + 2, 0, width) for item in value]
        opening, closing = "[", "]"
    else:
        lines = [
            f"{pad}{json.dumps(k)}: {readable(v, indent + 2, len(k) + 4, width)}"
            for k, v in value.items()
        ]
        opening, closing = "{", "}"
    return opening + "\n" + ",\n".join(lines) + "\n" + " " * indent + closing


def fresh_service_answers(
    steps: list[Step], workdir: Path, live_server: Any = live.live_server
) -> list[Any]:
    """Run the steps against `billing serve` with the example config on a new SQLite file."""
    database_url = f"sqlite:///{workdir / 'billing.db'}"
    upgrade(database_url)
    with live_server(database_url, config=EXAMPLE_CONFIG) as base:
        return run_steps(steps, base.removeprefix("http://"))


def rewrite_answers(text: str, answers: list[Any]) -> str:
    """The README with the quick start's json blocks replaced by ``answers``."""
    section = quickstart_section(text)
    replacements = iter(answers)
    blocks = list(_FENCE.finditer(section))
    pieces, last = [], 0
    for block, previous in zip(blocks, [None, *blocks[:-1]], strict=True):
        is_answer = (
            block.group(1) == "json"
            and previous is not None
            and previous.group(1) == "sh"
            and "curl " in previous.group(2)
        )
        if is_answer:
            pieces += [section[last : block.start(2)], readable(next(replacements)) + "\n"]
            last = block.end(2)
    pieces.append(section[last:])
    return text.replace(section, "".join(pieces))


if __name__ == "__main__":
    # Regenerate the answers after a deliberate change: python -m tests.docs.readme
    import tempfile

    text = README.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as workdir:
        answers = fresh_service_answers(quickstart_steps(text), Path(workdir))
    README.write_text(rewrite_answers(text, answers), encoding="utf-8")
