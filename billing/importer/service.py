"""Import LibreChat's transactions and balances into the ledger.

Atomicity: the whole import runs in the caller's one database transaction
(the CLI opens it and commits at the end), so a crash, Ctrl-C or ``--strict``
stop leaves nothing behind. Rows are still written in batches, so memory
stays flat: it grows with the number of users, never with transactions.

Balances: the rows the import owns (kinds ``import`` and ``opening``) are made
to sum, per user, to LibreChat's ``tokenCredits``; the difference (LibreChat
clamps at zero, so its ledger need not add up) is one ``opening`` row whose
key names the state it corrects (``opening:<user>:<target>:<previous sum>``).
Anything this service recorded itself (usage, grants, refills) stays on top.
A re-run of the same files therefore adds nothing; a re-run after new
LibreChat activity adds the new transactions and one more ``opening`` row
that brings the imported part to the new ``tokenCredits``. A user with
transactions but no balance document keeps the sum of those transactions,
raised to zero if negative (LibreChat never lets a balance go below zero).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from billing import money
from billing.balances import repository as balance_repo
from billing.config.model import AppConfig
from billing.errors import BillingError
from billing.importer import repository as repo
from billing.importer.extjson import ValueProblem
from billing.importer.mapping import BalanceDoc, balance_doc, transaction_row
from billing.importer.reader import Item, read_documents
from billing.importer.writer import BackgroundWriter
from billing.ledger import ledger_row

BATCH_ROWS = 5000
MAX_LISTED_PROBLEMS = 1000

# progress(label, bytes_done, bytes_total, documents_done)
Progress = Callable[[str, int, int, int], None]


class ImportAborted(BillingError):
    """``--strict``: the first malformed document stops the import."""

    code = "import_aborted"
    status_code = 422


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    where: str
    reason: str


@dataclass
class ImportReport:
    transactions_read: int = 0
    transactions_imported: int = 0
    transactions_present: int = 0  # imported by an earlier run (same _id)
    balances_read: int = 0
    users_with_balance: int = 0
    users_without_balance: int = 0
    opening_entries: int = 0
    opening_total_micro: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # reason kind -> count
    problems: list[Problem] = field(default_factory=list)  # the first MAX_LISTED_PROBLEMS

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    @property
    def users(self) -> int:
        return self.users_with_balance + self.users_without_balance


@dataclass
class _Run:
    session: Session
    config: AppConfig
    now: datetime
    strict: bool
    progress: Progress | None
    report: ImportReport = field(default_factory=ImportReport)
    deltas: dict[str, int] = field(default_factory=dict)  # balance change per user
    with_doc: set[str] = field(default_factory=set)
    # No earlier import in the ledger: then a user's imported rows are exactly
    # what this run inserted (``deltas``), and their sums need no query.
    first_import: bool = False

    def imported_sums(self, user_ids: Iterable[str]) -> dict[str, int]:
        if self.first_import:
            return {uid: self.deltas[uid] for uid in user_ids if uid in self.deltas}
        return repo.imported_sums(self.session, user_ids)

    def problem(self, label: str, item: Item, reason: str) -> None:
        if self.strict:
            raise ImportAborted(f"{label} {item.where}: {reason}")
        self.report.skipped[reason.split(":", 1)[0]] += 1
        if len(self.report.problems) < MAX_LISTED_PROBLEMS:
            self.report.problems.append(Problem(label, item.where, reason))

    def documents(self, label: str, path: Path) -> Iterator[tuple[Item, dict[str, Any]]]:
        total = path.stat().st_size
        done = 0
        try:
            for item in read_documents(path):
                done += 1
                if self.progress is not None and done % 1000 == 0:
                    self.progress(label, item.offset, total, done)
                if item.doc is None:
                    self.problem(label, item, item.error or "unreadable")
                    continue
                yield item, item.doc
        except UnicodeDecodeError as exc:
            raise ImportAborted(f"{label}: not UTF-8 text ({exc.reason})") from None
        if self.progress is not None:
            self.progress(label, total, total, done)


def import_librechat(
    session: Session,
    config: AppConfig,
    *,
    transactions: Path | None,
    balances: Path | None,
    now: datetime,
    strict: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import both exports inside the session's transaction (the caller commits)."""
    run = _Run(session, config, now, strict, progress)
    tx_users: set[str] = set()
    run.first_import = not repo.anything_imported(session)
    with repo.roomy_page_cache(session):
        if transactions is not None:
            _import_transactions(run, transactions, tx_users)
        if balances is not None:
            _import_balances(run, balances)
        _settle_users_without_document(run, sorted(tx_users - run.with_doc))
        balance_repo.add_to_balances(session, run.deltas, now)
    return run.report


def _import_transactions(run: _Run, path: Path, users: set[str]) -> None:
    batch: list[dict[str, Any]] = []
    # Batches are written on a second thread while the next one is read.
    with BackgroundWriter(partial(_write_transactions, run)) as writer:
        for item, doc in run.documents("transactions", path):
            run.report.transactions_read += 1
            try:
                row = transaction_row(doc)
            except ValueProblem as exc:
                run.problem("transactions", item, str(exc))
                continue
            batch.append(row)
            users.add(row["user_id"])
            if len(batch) >= BATCH_ROWS:
                writer.submit(batch)
                batch = []
        writer.submit(batch)


def _write_transactions(run: _Run, batch: list[dict[str, Any]]) -> None:
    inserted = repo.insert_new_ledger_rows(run.session, batch)
    for row in inserted:
        user_id = row["user_id"]
        run.deltas[user_id] = run.deltas.get(user_id, 0) + row["amount_micro"]
    run.report.transactions_imported += len(inserted)
    run.report.transactions_present += len(batch) - len(inserted)


def _import_balances(run: _Run, path: Path) -> None:
    batch: dict[str, BalanceDoc] = {}
    for item, doc in run.documents("balances", path):
        run.report.balances_read += 1
        try:
            parsed = balance_doc(doc)
        except ValueProblem as exc:
            run.problem("balances", item, str(exc))
            continue
        if parsed.user_id in batch:  # a repeated user: the later document wins
            _write_balances(run, list(batch.values()))
            batch = {}
        batch[parsed.user_id] = parsed
        if len(batch) >= BATCH_ROWS:
            _write_balances(run, list(batch.values()))
            batch = {}
    _write_balances(run, list(batch.values()))


def _write_balances(run: _Run, docs: list[BalanceDoc]) -> None:
    if not docs:
        return
    settings = {doc.user_id: doc.settings(run.now) for doc in docs}
    created = _ensure_balances(run, settings)
    repo.set_refill_settings(
        run.session, {uid: values for uid, values in settings.items() if uid not in created}
    )
    targets = {doc.user_id: doc.credits_micro for doc in docs}
    _write_openings(run, targets, reason="librechat tokenCredits")
    fresh = targets.keys() - run.with_doc
    run.with_doc.update(fresh)
    run.report.users_with_balance += len(fresh)


def _settle_users_without_document(run: _Run, user_ids: list[str]) -> None:
    cfg = run.config.balance
    defaults = {
        "auto_refill_enabled": cfg.auto_refill_enabled,
        "refill_interval_value": cfg.refill_interval_value,
        "refill_interval_unit": cfg.refill_interval_unit,
        "refill_amount_micro": 0,
        "last_refill_at": run.now,
    }
    if cfg.auto_refill_enabled:
        defaults["refill_amount_micro"] = money.micro_from_credits(cfg.refill_amount)
    for start in range(0, len(user_ids), BATCH_ROWS):
        chunk = user_ids[start : start + BATCH_ROWS]
        _ensure_balances(run, dict.fromkeys(chunk, defaults))
        sums = run.imported_sums(chunk)
        # Only raised to zero: LibreChat never had a balance below zero.
        targets = {uid: max(0, sums.get(uid, 0)) for uid in chunk}
        _write_openings(
            run, targets, sums=sums, reason="no librechat balance document: raised to zero"
        )
        run.report.users_without_balance += len(chunk)


def _ensure_balances(run: _Run, settings: dict[str, dict[str, Any]]) -> set[str]:
    """Create missing balance rows at zero (the ledger rows bring them to their amount)."""
    rows = [
        {
            "user_id": user_id,
            "amount_micro": 0,
            **values,
            "created_at": run.now,
            "updated_at": run.now,
        }
        for user_id, values in sorted(settings.items())
    ]
    return repo.insert_missing_balances(run.session, rows)


def _write_openings(
    run: _Run, targets: dict[str, int], *, reason: str, sums: dict[str, int] | None = None
) -> None:
    if sums is None:
        sums = run.imported_sums(targets)
    rows = []
    for user_id, target in sorted(targets.items()):
        current = sums.get(user_id, 0)
        if target != current:
            rows.append(
                ledger_row(
                    user_id,
                    "opening",
                    target - current,
                    run.now,
                    token_type="credits",
                    idempotency_key=f"opening:{user_id}:{target}:{current}",
                    reason=reason,
                )
            )
    for row in repo.insert_new_ledger_rows(run.session, rows):
        user_id, amount = row["user_id"], row["amount_micro"]
        run.deltas[user_id] = run.deltas.get(user_id, 0) + amount
        run.report.opening_entries += 1
        run.report.opening_total_micro += amount
