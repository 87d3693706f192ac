"""`billing import-librechat` on realistic exports, SQLite and PostgreSQL."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from billing.models import Balance, LedgerEntry
from testkit.librechat_exports import build_export, write_array, write_lines
from tests.cli.support import balances, ledger_count, ledger_sums, run_cli

TRANSACTIONS = 4000
USERS = 150


@pytest.fixture(scope="module")
def export():  # type: ignore[no-untyped-def]
    return build_export(TRANSACTIONS, USERS)


def _files(tmp_path: Path, export, *, array: bool = False) -> tuple[Path, Path]:  # type: ignore[no-untyped-def]
    if array:
        tx = write_array(tmp_path / "transactions.json", export.transactions)
    else:
        tx = write_lines(tmp_path / "transactions.json", export.transactions)
    bal = write_array(tmp_path / "balances.json", export.balances, pretty=True)
    return tx, bal


def test_full_export_lands_exactly_and_reimport_adds_nothing(
    db_url: str, tmp_path: Path, export
) -> None:  # type: ignore[no-untyped-def]
    tx = write_lines(tmp_path / "tx.json", export.transactions, iter(export.malformed_lines))
    bal = write_array(tmp_path / "balances.json", export.balances, pretty=True)
    args = ("import-librechat", "--transactions", str(tx), "--balances", str(bal))

    first = run_cli(db_url, *args)

    # Malformed rows are reported with their line and skipped: exit 1, the rest committed.
    assert first.exit_code == 1, first.stderr
    assert "import committed" in first.stdout
    assert f"{TRANSACTIONS} imported" in first.stdout
    assert f"skipped: {len(export.malformed_lines)}" in first.stdout
    for reason in ("invalid JSON", "expected a JSON object", "tokenType", "user", "createdAt"):
        assert reason in first.stderr
    assert "skipped transactions line " in first.stderr

    assert balances(db_url) == export.expected_balance
    assert ledger_sums(db_url, "import") == export.ledger_micro
    assert ledger_count(db_url, "import") == TRANSACTIONS
    # Clamped users: LibreChat says 0 while their transactions sum negative.
    assert export.clamped_users
    for user in export.clamped_users:
        assert balances(db_url)[user] == 0
    assert run_cli(db_url, "reconcile").exit_code == 0

    again = run_cli(db_url, *args)
    assert "0 imported" in again.stdout and f"{TRANSACTIONS} already imported" in again.stdout
    assert "opening entries: 0" in again.stdout
    assert balances(db_url) == export.expected_balance
    assert ledger_count(db_url, "import") == TRANSACTIONS


def test_auto_refill_settings_and_users_without_balance(
    db_url: str, tmp_path: Path, export
) -> None:  # type: ignore[no-untyped-def]
    tx, bal = _files(tmp_path, export, array=True)
    result = run_cli(db_url, "import-librechat", "--transactions", str(tx), "--balances", str(bal))
    assert result.exit_code == 0, result.stderr
    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = {row.user_id: row for row in conn.execute(select(Balance))}
        openings = conn.execute(
            select(LedgerEntry.user_id, LedgerEntry.idempotency_key).where(
                LedgerEntry.kind == "opening"
            )
        ).all()
    engine.dispose()
    docs = {doc["user"]["$oid"]: doc for doc in export.balances}
    assert export.refill_users
    for user in export.refill_users:
        row, doc = rows[user], docs[user]
        assert row.auto_refill_enabled is True
        assert row.refill_interval_unit == doc["refillIntervalUnit"]
        assert row.refill_amount_micro == 10_000 * 1_000_000
        assert row.last_refill_at is not None and row.last_refill_at.year == 2025
    # No balance document: the ledger sum, raised to zero when negative.
    assert export.users_without_doc
    for user in export.users_without_doc:
        assert balances(db_url)[user] == max(0, export.ledger_micro[user])
    assert all(key.startswith(f"opening:{user}:") for user, key in openings)
    assert len({user for user, _ in openings}) == len(openings)


def test_strict_stops_at_the_first_bad_row_and_writes_nothing(
    db_url: str, tmp_path: Path, export
) -> None:  # type: ignore[no-untyped-def]
    tx = write_lines(tmp_path / "tx.json", export.transactions[:500], iter(["{oops"]))
    bal = write_array(tmp_path / "balances.json", export.balances)
    result = run_cli(
        db_url, "import-librechat", "--strict", "--transactions", str(tx), "--balances", str(bal)
    )
    assert result.exit_code == 1
    assert "nothing written" in result.stderr and "line 251" in result.stderr
    assert ledger_count(db_url) == 0 and balances(db_url) == {}


def test_reimport_after_new_librechat_activity_keeps_this_services_own_changes(
    db_url: str, tmp_path: Path, export
) -> None:  # type: ignore[no-untyped-def]
    user = export.balances[0]["user"]["$oid"]
    early = [doc for doc in export.transactions[:1000]]
    tx = write_lines(tmp_path / "early.json", early)
    old_balance = {"user": {"$oid": user}, "tokenCredits": 5000.25}
    bal = write_lines(tmp_path / "b1.json", [old_balance])
    assert (
        run_cli(
            db_url, "import-librechat", "--transactions", str(tx), "--balances", str(bal)
        ).exit_code
        == 0
    )
    assert balances(db_url)[user] == 5_000_250_000
    # The operator grants credits in this service before the final cut-over.
    assert run_cli(db_url, "balance", "add", user, "100", "--reason", "welcome").exit_code == 0

    tx_all = write_lines(tmp_path / "all.json", export.transactions)
    new_balance = {"user": {"$oid": user}, "tokenCredits": {"$numberDouble": "1234.5"}}
    bal2 = write_lines(tmp_path / "b2.json", [new_balance])
    result = run_cli(
        db_url, "import-librechat", "--transactions", str(tx_all), "--balances", str(bal2)
    )
    assert result.exit_code == 0, result.stderr
    assert f"{TRANSACTIONS - 1000} imported" in result.stdout
    # LibreChat's part follows the new tokenCredits; the grant stays on top.
    assert balances(db_url)[user] == 1_334_500_000
    assert ledger_sums(db_url, "import")[user] == export.ledger_micro[user]
    third = run_cli(
        db_url, "import-librechat", "--transactions", str(tx_all), "--balances", str(bal2)
    )
    assert "opening entries: 0" in third.stdout
    assert run_cli(db_url, "reconcile").exit_code == 0


EXACT = [
    {  # JS double noise: -205.49999999999997 -> -205.5 credits (micro rounding, half-even)
        "_id": {"$oid": "65a000000000000000000001"},
        "user": {"$oid": "65a0000000000000000000aa"},
        "conversationId": "c-1",
        "messageId": "m-1",
        "tokenType": "completion",
        "model": "claude-3-5-sonnet",
        "context": "message",
        "valueKey": "claude-3-5-sonnet",
        "rate": 15,
        "rawAmount": -13.7,
        "tokenValue": -205.49999999999997,
        "createdAt": {"$date": "2026-01-02T03:04:05.678Z"},
    },
    {  # canonical spellings, structured prompt
        "_id": {"$oid": "65a000000000000000000002"},
        "user": {"$oid": "65a0000000000000000000aa"},
        "tokenType": "prompt",
        "model": "claude-sonnet-4-5",
        "context": "title",
        "rate": {"$numberDouble": "0.9428571428571428"},
        "inputTokens": {"$numberInt": "-1000"},
        "writeTokens": {"$numberInt": "-1000"},
        "readTokens": {"$numberLong": "-5000"},
        "rawAmount": {"$numberLong": "-7000"},
        "tokenValue": {"$numberDouble": "-8250.000000000002"},
        "createdAt": {"$date": {"$numberLong": "1767323045678"}},
    },
    {  # decimal128 taken as written, half-even to the micro-credit
        "_id": {"$oid": "65a000000000000000000003"},
        "user": {"$oid": "65a0000000000000000000aa"},
        "tokenType": "prompt",
        "rawAmount": -1,
        "rate": 1,
        "tokenValue": {"$numberDecimal": "-1.0000005"},
    },
    {  # auto-refill: a positive credits row
        "_id": {"$oid": "65a000000000000000000004"},
        "user": {"$oid": "65a0000000000000000000aa"},
        "tokenType": "credits",
        "context": "autoRefill",
        "rawAmount": 10000,
        "tokenValue": 10000,
        "createdAt": "2026-01-03T00:00:00Z",
    },
]


def test_amounts_fields_and_timestamps_are_kept_exactly(db_url: str, tmp_path: Path) -> None:
    tx = write_array(tmp_path / "tx.json", EXACT)
    result = run_cli(db_url, "import-librechat", "--transactions", str(tx))
    assert result.exit_code == 0, result.stderr
    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = {
            row.idempotency_key: row
            for row in conn.execute(select(LedgerEntry).where(LedgerEntry.kind == "import"))
        }
    engine.dispose()
    first = rows["import:65a000000000000000000001"]
    assert first.amount_micro == -205_500_000
    # A fractional rawAmount is no token count, but the amount still stands.
    assert (first.token_type, first.tokens, first.rate) == ("completion", None, "15")
    assert "rawAmount=-13.7" in first.reason
    assert (first.model, first.value_key, first.context) == (
        "claude-3-5-sonnet",
        "claude-3-5-sonnet",
        "message",
    )
    assert (first.conversation_id, first.message_id) == ("c-1", "m-1")
    assert first.created_at.isoformat() == "2026-01-02T03:04:05.678000+00:00"
    second = rows["import:65a000000000000000000002"]
    assert second.amount_micro == -8_250_000_000
    assert second.tokens == 7000 and second.rate == "0.9428571428571428"
    assert "structured input=1000 write=1000 read=5000" in second.reason
    assert second.created_at.isoformat() == "2026-01-02T03:04:05.678000+00:00"
    third = rows["import:65a000000000000000000003"]
    assert third.amount_micro == -1_000_000  # -1000000.5 micro, half to even
    # no createdAt: the ObjectId's own timestamp
    assert third.created_at.isoformat() == "2024-01-11T14:49:36+00:00"  # 0x65a00000
    refill = rows["import:65a000000000000000000004"]
    assert refill.amount_micro == 10_000_000_000 and refill.context == "autoRefill"
    total = -205_500_000 - 8_250_000_000 - 1_000_000 + 10_000_000_000
    assert balances(db_url) == {"65a0000000000000000000aa": total}
    listed = run_cli(
        db_url, "transactions", "--user", "65a0000000000000000000aa", "--format", "json"
    )
    credits = sorted(row["credits"] for row in json.loads(listed.stdout))
    assert credits == sorted(["-205.5", "-8250", "-1", "10000"])


def test_malformed_array_elements_are_reported_by_index(db_url: str, tmp_path: Path) -> None:
    good = json.dumps(EXACT[3])
    text = "[\n" + ",\n".join([good, '{"_id": 1, "user": }', "42", json.dumps(EXACT[2])]) + "\n]"
    tx = tmp_path / "tx.json"
    tx.write_text(text, encoding="utf-8")
    result = run_cli(db_url, "import-librechat", "--transactions", str(tx))
    assert result.exit_code == 1
    assert "line 3 (index 1): invalid JSON" in result.stderr
    assert "line 4 (index 2): expected a JSON object" in result.stderr
    assert "2 imported" in result.stdout


def test_usage_errors_exit_2(db_url: str, tmp_path: Path) -> None:
    assert run_cli(db_url, "import-librechat").exit_code == 2
    missing = run_cli(db_url, "import-librechat", "--transactions", str(tmp_path / "none.json"))
    assert missing.exit_code == 2


def test_imported_spend_shows_in_cost_reports(
    db_url: str, tmp_path: Path, export, make_client
) -> None:  # type: ignore[no-untyped-def]
    tx, bal = _files(tmp_path, export)
    imported = run_cli(
        db_url, "import-librechat", "--transactions", str(tx), "--balances", str(bal)
    )
    assert imported.exit_code == 0, imported.stderr
    engine = create_engine(db_url)
    with engine.connect() as conn:
        spends = conn.execute(
            select(LedgerEntry.amount_micro, LedgerEntry.tokens).where(
                LedgerEntry.kind == "import", LedgerEntry.token_type.in_(("prompt", "completion"))
            )
        ).all()
    engine.dispose()
    expected_micro = -sum(amount for amount, _ in spends)
    client = make_client()
    # Whole slots (the rollup path) and an odd range end (the ledger path) agree.
    for params in ({"group_by": "model"}, {"to": "2099-01-01T00:00:07Z"}):
        body = client.get("/v1/costs", params=params).json()
        micro = sum(int(Decimal(row["credits"]) * 1_000_000) for row in body["rows"])
        assert micro == expected_micro
        assert sum(row["tokens"] for row in body["rows"]) == sum(t or 0 for _, t in spends)
