"""Import rate and peak memory of `billing import-librechat` (SQLite and PostgreSQL).

Writes a LibreChat export of N transactions (default 1,000,000) built from the
documented schema, then runs the real command in a subprocess per database and
reports rows/s and the child's peak RSS (getrusage ru_maxrss via wait4), for
the first import and for an idempotent re-run.

    .venv/bin/python -m benchmarks.import_librechat [--transactions N] [--users U]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from testkit.databases import postgres_database, postgres_reachable, sqlite_database
from testkit.librechat_exports import stream_export


def run_import(url: str, tx: Path, balances: Path) -> tuple[float, float, str]:
    """(seconds, peak RSS MiB, last stdout lines) of one import subprocess."""
    env = {**os.environ, "BILLING_DATABASE_URL": url}
    env.pop("BILLING_CONFIG", None)
    command = [
        sys.executable,
        "-m",
        "billing",
        "import-librechat",
        "--plain-progress",
        "--transactions",
        str(tx),
        "--balances",
        str(balances),
    ]
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0)
        text = out.read().decode()
    if process.returncode != 0:
        raise SystemExit(f"import failed ({process.returncode}):\n{text}")
    return seconds, usage.ru_maxrss / 1024, text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tx, balances = Path(tmp) / "transactions.json", Path(tmp) / "balances.json"
        started = time.perf_counter()
        stream_export(tx, balances, args.transactions, args.users)
        size = tx.stat().st_size / 2**20
        print(
            f"export: {args.transactions:,} transactions ({size:,.0f} MiB), "
            f"{args.users:,} balances, written in {time.perf_counter() - started:,.0f}s"
        )
        targets = [("sqlite", lambda: sqlite_database(Path(tmp)))]
        reason = postgres_reachable()
        if args.skip_postgres or reason:
            print(f"postgresql skipped: {reason or '--skip-postgres'}")
        else:
            targets.append(("postgresql", postgres_database))
        print(f"{'database':<11} {'run':<8} {'seconds':>8} {'rows/s':>9} {'peak RSS MiB':>13}")
        for name, database in targets:
            with database() as url:
                for run in ("first", "re-run"):
                    seconds, rss, _ = run_import(url, tx, balances)
                    rate = args.transactions / seconds
                    print(f"{name:<11} {run:<8} {seconds:>8.1f} {rate:>9,.0f} {rss:>13,.0f}")


if __name__ == "__main__":
    main()
