"""A large console database built with set-based SQL on PostgreSQL (seconds, not minutes).

``build(url, users=100_000, ledger_rows=1_000_000)`` fills a migrated, empty
database: every user has a start_balance row, usage rows (four token lines per
event) spread over 90 days with a heavy-tailed share per user, one grant in ten
users, and balances equal to the sum of each user's ledger rows (``billing
reconcile`` passes). Rollups are rebuilt from the ledger, as ingest would have
written them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, text

from billing.reports.rollup_repository import rebuild_rollups

DAYS = 90
START_MICRO = 20_000 * 1_000_000
# (endpoint, model, prompt rate, completion rate) in micro-credits per token:
# whole numbers, so a line's cost is tokens * rate with nothing to round.
MODELS = (
    ("openAI", "gpt-4o", 2_500_000, 10_000_000),
    ("openAI", "gpt-4o-mini", 150_000, 600_000),
    ("anthropic", "claude-sonnet-4-5", 3_000_000, 15_000_000),
    ("google", "gemini-2.5-flash", 300_000, 2_500_000),
    ("openAI", "my-unpriced-model", 1_000_000, 1_000_000),
)


def user_id(index: int) -> str:
    return f"user-{index:06d}"


def _models_values() -> str:
    rows = [
        f"({i}, '{endpoint}', '{model}', {prompt}::bigint, {completion}::bigint)"
        for i, (endpoint, model, prompt, completion) in enumerate(MODELS)
    ]
    return ", ".join(rows)


def build(url: str, users: int = 100_000, ledger_rows: int = 1_000_000) -> None:
    """Fill an empty migrated PostgreSQL database (see the module docstring).

    The usage ends now: the console's windows (today, 7 and 30 days) are relative
    to the clock, so older data would leave them empty (and fast)."""
    events = max(1, (ledger_rows - users) // 2)  # two usage lines (prompt, completion) each
    engine = create_engine(url)
    now = datetime.now(UTC).replace(microsecond=0)
    end = now.isoformat()
    start = (now - timedelta(days=DAYS)).isoformat()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO balance (user_id, amount_micro, auto_refill_enabled,"
                " refill_interval_value, refill_interval_unit, refill_amount_micro,"
                " last_refill_at, created_at, updated_at)"
                " SELECT 'user-' || lpad(i::text, 6, '0'), 0, i % 7 = 0, 30, 'days',"
                " 10000000000, CAST(:start AS timestamptz), CAST(:start AS timestamptz),"
                " CAST(:start AS timestamptz) FROM generate_series(0, :users - 1) AS i"
            ),
            {"users": users, "start": start},
        )
        conn.execute(
            text(
                "INSERT INTO ledger_entry (user_id, kind, amount_micro, token_type,"
                " idempotency_key, reason, created_at)"
                " SELECT 'user-' || lpad(i::text, 6, '0'), 'start_balance', :micro, 'credits',"
                " 'start:user-' || lpad(i::text, 6, '0'), 'balance.startBalance',"
                " CAST(:start AS timestamptz) FROM generate_series(0, :users - 1) AS i"
            ),
            {"users": users, "micro": START_MICRO, "start": start},
        )
        # One event: a user (cubed uniform draw: a few users have most of the
        # traffic), a model, a moment, then its prompt and completion lines.
        conn.execute(
            text(
                f"""
                WITH models (n, endpoint, model, prompt_rate, completion_rate) AS (
                    VALUES {_models_values()}
                ), draws AS (
                    SELECT g AS event_no,
                           floor(:users * power(random(), 3))::int AS user_no,
                           (g % {len(MODELS)}) AS model_no,
                           CAST(:end AS timestamptz)
                             - make_interval(secs => floor(random() * :span)::int) AS at,
                           50 + floor(random() * 8000)::int AS prompt_tokens,
                           10 + floor(random() * 2000)::int AS completion_tokens
                    FROM generate_series(1, :events) AS g
                )
                INSERT INTO ledger_entry (user_id, kind, amount_micro, token_type, tokens,
                    rate, value_key, priced_by, context, endpoint, model, conversation_id,
                    message_id, event_id, created_at)
                SELECT 'user-' || lpad(d.user_no::text, 6, '0'), 'usage',
                       -(CASE WHEN t.line = 'prompt' THEN d.prompt_tokens * m.prompt_rate
                              ELSE d.completion_tokens * m.completion_rate END),
                       t.line,
                       CASE WHEN t.line = 'prompt' THEN d.prompt_tokens
                            ELSE d.completion_tokens END,
                       trim_scale((CASE WHEN t.line = 'prompt' THEN m.prompt_rate
                             ELSE m.completion_rate END)::numeric / 1000000)::text,
                       CASE WHEN m.model = 'my-unpriced-model' THEN NULL ELSE m.model END,
                       CASE WHEN m.model = 'my-unpriced-model' THEN 'fallback'
                            ELSE 'default' END,
                       'message', m.endpoint, m.model,
                       'conv-' || d.user_no || '-' || (d.event_no % 20),
                       'msg-' || d.event_no, 'evt-' || d.event_no, d.at
                FROM draws d
                JOIN models m ON m.n = d.model_no
                CROSS JOIN (VALUES ('prompt'), ('completion')) AS t (line)
                """
            ),
            {"users": users, "events": events, "end": end, "span": DAYS * 86_400},
        )
        conn.execute(
            text(
                "INSERT INTO ledger_entry (user_id, kind, amount_micro, token_type, context,"
                " reason, created_at)"
                " SELECT 'user-' || lpad(i::text, 6, '0'), 'grant', 5000000000, 'credits',"
                " 'admin', 'benchmark grant', CAST(:end AS timestamptz) - interval '3 days'"
                " FROM generate_series(0, :users - 1, 10) AS i"
            ),
            {"users": users, "end": end},
        )
        conn.execute(
            text(
                "UPDATE balance SET amount_micro = s.total FROM"
                " (SELECT user_id, sum(amount_micro) AS total FROM ledger_entry"
                " GROUP BY user_id) AS s WHERE balance.user_id = s.user_id"
            )
        )
        rebuild_rollups(conn)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
