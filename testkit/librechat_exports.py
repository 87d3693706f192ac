"""Realistic `mongoexport` files of LibreChat's transactions and balances.

Built from LibreChat's data model (docs/design.md, "LibreChat's data"): amounts are
computed the way LibreChat does (JavaScript doubles, so values such as
-205.49999999999997 appear), balances clamp at zero, structured prompt rows
carry input/write/read tokens, auto-refill rows are ``credits``. Values are
written in the several extended-JSON spellings mongoexport produces. The
expected outcome is derived from the written text with the importer's
documented rule (shortest double text -> Decimal -> micro-credits).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from billing.money import micro_from_credits

CONTEXTS = ("message", "title", "summarization", "subagent", "sequential", "abort")
MODELS = (
    ("gpt-4o", 2.5, 10.0, None, None),
    ("claude-3-5-sonnet", 3.0, 15.0, 3.75, 0.3),
    ("claude-sonnet-4-5", 3.0, 15.0, 3.75, 0.3),
    ("gemini-2.5-pro", 1.25, 10.0, None, None),
    ("gpt-4.1-mini", 0.4, 1.6, None, 0.1),
)
EPOCH = datetime(2025, 6, 1, tzinfo=UTC)


def object_id(rng: random.Random, at: datetime) -> str:
    return f"{int(at.timestamp()):08x}" + "".join(rng.choice("0123456789abcdef") for _ in range(16))


def _double(rng: random.Random, value: float) -> Any:
    """A JS double in one of mongoexport's spellings (relaxed or canonical)."""
    if rng.random() < 0.25:
        return {"$numberDouble": repr(value)}
    return value


def _integer(rng: random.Random, value: int) -> Any:
    choice = rng.random()
    if choice < 0.2:
        return {"$numberInt": str(value)}
    if choice < 0.3:
        return {"$numberLong": str(value)}
    return value


def _date(rng: random.Random, at: datetime) -> Any:
    millis = int(at.timestamp() * 1000)
    if rng.random() < 0.3:
        return {"$date": {"$numberLong": str(millis)}}
    return {"$date": at.isoformat(timespec="milliseconds").replace("+00:00", "Z")}


def exact_micro(value: Any) -> int:
    """The expected ledger amount of a written value (the documented conversion)."""
    if isinstance(value, dict):
        ((key, text),) = value.items()
        if key == "$numberDecimal":
            return micro_from_credits(Decimal(text))
        value = float(text) if key == "$numberDouble" else int(text)
    if isinstance(value, float):
        return micro_from_credits(Decimal(repr(value)))
    return micro_from_credits(Decimal(value))


@dataclass
class Export:
    transactions: list[dict[str, Any]] = field(default_factory=list)
    balances: list[dict[str, Any]] = field(default_factory=list)
    malformed_lines: list[str] = field(default_factory=list)
    # expectations
    ledger_micro: dict[str, int] = field(default_factory=dict)  # sum of imported rows
    expected_balance: dict[str, int] = field(default_factory=dict)
    refill_users: set[str] = field(default_factory=set)
    clamped_users: set[str] = field(default_factory=set)
    users_without_doc: set[str] = field(default_factory=set)


def build_export(transactions: int, users: int, *, seed: int = 7) -> Export:
    rng = random.Random(seed)
    export = Export()
    user_ids = [object_id(rng, EPOCH) for _ in range(users)]
    credits = {uid: float(rng.choice((20000, 100000, 5e6, 0, 1e9, 2.5e8))) for uid in user_ids}
    refill = {uid: rng.random() < 0.2 for uid in user_ids}
    for number in range(transactions):
        uid = rng.choice(user_ids)
        at = EPOCH + timedelta(seconds=number * 37, milliseconds=rng.randrange(1000))
        doc = _transaction(rng, uid, at, refill[uid])
        export.transactions.append(doc)
        micro = exact_micro(doc["tokenValue"])
        export.ledger_micro[uid] = export.ledger_micro.get(uid, 0) + micro
        # LibreChat's balance update: max(0, current + change), in doubles.
        credits[uid] = max(0.0, credits[uid] + _as_float(doc["tokenValue"]))
    without_doc = set(user_ids[: max(1, users // 20)])
    for uid in user_ids:
        if uid in without_doc:
            if uid in export.ledger_micro:
                export.users_without_doc.add(uid)
                export.expected_balance[uid] = max(0, export.ledger_micro[uid])
            continue
        doc, written = _balance(rng, uid, credits[uid], refill[uid])
        export.balances.append(doc)
        export.expected_balance[uid] = exact_micro(written)
        if refill[uid]:
            export.refill_users.add(uid)
        if credits[uid] == 0 and export.ledger_micro.get(uid, 0) < 0:
            export.clamped_users.add(uid)
    export.malformed_lines = _malformed(rng, user_ids[-1])
    return export


def _as_float(value: Any) -> float:
    if isinstance(value, dict):
        return float(next(iter(value.values())))
    return float(value)


def _transaction(rng: random.Random, uid: str, at: datetime, refills: bool) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": {"$oid": object_id(rng, at)},
        "user": {"$oid": uid},
        "conversationId": f"conv-{rng.randrange(10**6):06d}",
        "createdAt": _date(rng, at),
        "updatedAt": _date(rng, at),
        "__v": 0,
    }
    if rng.random() < 0.5:
        doc["messageId"] = f"msg-{rng.randrange(10**9):09d}"
    if rng.random() < 0.1:
        doc["tenantId"] = "tenant-a"
    kind = rng.random()
    if refills and kind < 0.05:
        amount = float(rng.choice((10000, 25000.5)))
        doc.update(tokenType="credits", context="autoRefill", rawAmount=_double(rng, amount))
        doc["tokenValue"] = _double(rng, amount)
        doc.pop("conversationId")
        return doc
    model, prompt_rate, completion_rate, write_rate, read_rate = rng.choice(MODELS)
    doc.update(model=model, valueKey=model, context=rng.choice(CONTEXTS))
    if kind < 0.45:
        tokens = rng.randrange(1, 50000)
        doc.update(tokenType="completion", rate=completion_rate)
        value = -tokens * completion_rate
        if rng.random() < 0.1:
            doc["context"] = "incomplete"
            value = float(math.ceil(value * 1.15))
        doc.update(rawAmount=_integer(rng, -tokens), tokenValue=_double(rng, value))
    elif kind < 0.75 and (write_rate is not None or read_rate is not None):
        # Structured prompt: cache-aware, rate is the weighted average.
        prompt_in = rng.randrange(0, 4000)
        write = rng.randrange(0, 3000) if write_rate is not None else 0
        read = rng.randrange(1, 20000)
        w_rate = write_rate if write_rate is not None else prompt_rate
        r_rate = read_rate if read_rate is not None else prompt_rate
        value = -(prompt_in * prompt_rate + write * w_rate + read * r_rate)
        total = prompt_in + write + read
        doc.update(
            tokenType="prompt",
            inputTokens=_integer(rng, -prompt_in),
            writeTokens=_integer(rng, -write),
            readTokens=_integer(rng, -read),
            rawAmount=_integer(rng, -total),
            rate=abs(value) / total,
            tokenValue=_double(rng, value),
        )
    else:
        tokens = rng.randrange(1, 120000)
        value = -tokens * prompt_rate
        if rng.random() < 0.05:
            doc["tokenValue"] = {"$numberDecimal": str(Decimal(repr(value)))}
        else:
            doc["tokenValue"] = _double(rng, value)
        doc.update(tokenType="prompt", rate=prompt_rate, rawAmount=_integer(rng, -tokens))
    return doc


def _balance(
    rng: random.Random, uid: str, credits: float, refills: bool
) -> tuple[dict[str, Any], Any]:
    written = _double(rng, credits)
    doc: dict[str, Any] = {"_id": {"$oid": object_id(rng, EPOCH)}, "user": {"$oid": uid}}
    doc["tokenCredits"] = written
    if refills:
        doc.update(
            autoRefillEnabled=True,
            refillIntervalValue=_integer(rng, rng.choice((1, 7, 30))),
            refillIntervalUnit=rng.choice(("hours", "days", "weeks", "months")),
            refillAmount=_double(rng, 10000.0),
            lastRefill=_date(rng, EPOCH + timedelta(days=3)),
        )
    return doc, written


def _malformed(rng: random.Random, uid: str) -> list[str]:
    """Bad rows of several kinds (each must be reported and skipped)."""
    good = {"_id": {"$oid": "0" * 24}, "user": {"$oid": uid}, "tokenType": "prompt"}
    return [
        '{"_id": {"$oid": "aaaaaaaaaaaaaaaaaaaaaaaa"}, "user": {"$oid": "',  # cut off
        "[1, 2, 3]",
        json.dumps({**good, "_id": {"$oid": "1" * 24}, "tokenType": "refund", "tokenValue": -5}),
        json.dumps({**good, "_id": {"$oid": "2" * 24}, "tokenValue": "lots"}),
        json.dumps({"_id": {"$oid": "3" * 24}, "tokenType": "prompt", "tokenValue": -1}),
        json.dumps({**good, "_id": {"$oid": "4" * 24}, "tokenValue": -1, "createdAt": "soon"}),
    ]


def write_lines(path: Path, docs: list[dict[str, Any]], extra: Iterator[str] | None = None) -> Path:
    """JSON lines (mongoexport's default); ``extra`` lines are spliced in evenly."""
    extras = list(extra or [])
    step = max(1, len(docs) // (len(extras) + 1))
    with path.open("w", encoding="utf-8") as handle:
        for index, doc in enumerate(docs):
            if extras and index and index % step == 0:
                handle.write(extras.pop(0) + "\n")
            handle.write(json.dumps(doc, separators=(",", ":")) + "\n")
        for line in extras:
            handle.write(line + "\n")
    return path


def write_array(path: Path, docs: list[dict[str, Any]], *, pretty: bool = False) -> Path:
    """``mongoexport --jsonArray`` (``--pretty`` adds indentation)."""
    with path.open("w", encoding="utf-8") as handle:
        handle.write("[")
        for index, doc in enumerate(docs):
            if index:
                handle.write(",")
            handle.write(json.dumps(doc, indent=2 if pretty else None))
        handle.write("]")
    return path


def stream_export(tx_path: Path, balance_path: Path, transactions: int, users: int) -> None:
    """Write big export files document by document (for the import benchmark)."""
    rng = random.Random(11)
    user_ids = [object_id(rng, EPOCH) for _ in range(users)]
    refill = {uid: rng.random() < 0.2 for uid in user_ids}
    with tx_path.open("w", encoding="utf-8") as handle:
        for number in range(transactions):
            uid = rng.choice(user_ids)
            at = EPOCH + timedelta(seconds=number * 3, milliseconds=rng.randrange(1000))
            doc = _transaction(rng, uid, at, refill[uid])
            handle.write(json.dumps(doc, separators=(",", ":")) + "\n")
    with balance_path.open("w", encoding="utf-8") as handle:
        for uid in user_ids:
            credits = float(rng.choice((0, 20000, 2.5e8)))
            doc, _ = _balance(rng, uid, credits, refill[uid])
            handle.write(json.dumps(doc, separators=(",", ":")) + "\n")
