"""Prometheus metrics: definitions, bounded labels, and the hooks the domains call.

Naming (docs/design.md): prefix ``billing_``, base units in names, counters end in
``_total``; no user ids or raw paths as labels. ``endpoint`` and ``model``
labels come from the config: a model the endpoint lists (``models`` or
``tokenConfig``) by its name, any other by the built-in price key it matched,
else ``other``; each label admits a bounded number of distinct values before
further ones become ``other`` too.

Money-path counters only move after the transaction commits: hooks given a
session queue their increments with ``session_events.after_commit`` (dropped
on rollback); the runtime installs the session listeners on its sessionmakers
and reports transaction durations to ``observe_transaction``.

Metrics are not money: credit amounts are exact integers of micro-credits
up to here and become a float only at this boundary (``_credits``). A
counter summing many events can drift in its last float digits; the ledger
stays the source of truth.

With several worker processes the values live in prometheus-client's
multiprocess files (PROMETHEUS_MULTIPROC_DIR, set up by ``billing serve``,
see billing/multiprocess.py) and /metrics aggregates them.
"""

from __future__ import annotations

import os
import platform
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache, lru_cache
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics, values
from sqlalchemy.orm import Session

from billing import __version__, session_events
from billing.config.model import AppConfig
from billing.multiprocess import MULTIPROC_ENV
from billing.pricing.types import LINE_TYPES, TOKEN_TYPES, Cost

# `_created` series exist only outside multiprocess mode; keep both modes alike.
disable_created_metrics()

OTHER = "other"
USAGE_OUTCOMES = ("accepted", "duplicate", "rejected")
CHECK_OUTCOMES = ("allowed", "denied")
RESERVATION_OUTCOMES = ("created", "denied", "settled", "released", "expired", "leased")
GRANT_KINDS = ("start_balance", "grant", "set")
_HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})

USAGE_EVENTS = Counter(
    "billing_usage_events_total",
    "Usage events by outcome: accepted, duplicate, rejected",
    ["outcome"],
)
TOKENS = Counter(
    "billing_tokens_total",
    "Tokens of accepted usage events by endpoint, model and token type",
    ["endpoint", "model", "token_type"],
)
COST_CREDITS = Counter(
    "billing_cost_credits_total",
    "Credits charged for accepted usage events (1 USD = 1,000,000 credits)",
    ["endpoint", "model"],
)
USAGE_WARNINGS = Counter(
    "billing_usage_warnings_total",
    "Accepted usage events whose provider usage needed a warning, by warning code"
    " (cached_exceeds_input: cached tokens above the input total that should include them)",
    ["code"],
)
UNPRICED_EVENTS = Counter(
    "billing_unpriced_events_total",
    "Accepted events priced at the fallback default rate (no known price for the model)",
    ["endpoint", "model"],
)
BALANCE_CHECKS = Counter(
    "billing_balance_checks_total", "Pre-flight balance checks by outcome", ["outcome"]
)
RESERVATIONS = Counter(
    "billing_reservations_total",
    "Reservations by outcome: created, denied (402), settled (by a usage event),"
    " released, expired (a release found the hold lapsed), leased (a gateway lease made"
    " or topped up)",
    ["outcome"],
)
REFILLS = Counter("billing_refills_total", "Auto-refills applied to balances")
REFILL_CREDITS = Counter("billing_refill_credits_total", "Credits added by auto-refills")
GRANTS = Counter(
    "billing_grants_total",
    "Balance adjustments outside usage: start_balance, grant, set; direction credit or debit",
    ["kind", "direction"],
)
GRANT_CREDITS = Counter(
    "billing_grant_credits_total",
    "Absolute credits moved by start balances, grants and sets",
    ["kind", "direction"],
)
HTTP_DURATION = Histogram(
    "billing_http_request_duration_seconds",
    "HTTP request duration by method, route template and status code",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
DB_TRANSACTION_DURATION = Histogram(
    "billing_db_transaction_duration_seconds",
    "Database transaction duration, begin to commit or rollback",
    ["outcome"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
GROUP_COMMIT_ITEMS = Histogram(
    "billing_group_commit_items",
    "Items (events, holds, records, checks) per group-commit transaction, by committer",
    ["committer"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096),
)
BUILD_INFO = Gauge(
    "billing_build_info",
    "Always 1; labels carry the service and Python versions",
    ["version", "python_version"],
    multiprocess_mode="max",
)
CONFIG_RELOADS = Counter(
    "billing_config_reloads_total", "Config reloads by result: success or failure", ["result"]
)
CONFIG_LAST_RELOAD_SUCCESSFUL = Gauge(
    "billing_config_last_reload_successful",
    "0 when the most recent config reload was refused, else 1",
    multiprocess_mode="mostrecent",
)
CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP = Gauge(
    "billing_config_last_reload_success_timestamp_seconds",
    "Unix time of the last successful config reload",
    multiprocess_mode="max",
)
CONFIG_LOADED_TIMESTAMP = Gauge(
    "billing_config_loaded_timestamp_seconds",
    "Unix time the config in use was loaded (start-up or reload)",
    multiprocess_mode="max",
)

# livemax: a worker's value leaves with the worker (the supervisor marks it dead), so the
# series at 1 are the versions live workers serve; more than one is a mixed state.
CONFIG_INFO = Gauge(
    "billing_config_info",
    "1 for each config version a worker serves (the X-Billing-Config-Version header);"
    " more than one at 1: the workers price with different configs",
    ["version"],
    multiprocess_mode="livemax",
)
CONFIG_ROLLOUTS = Counter(
    "billing_config_rollouts_total",
    "SIGHUP config rollouts of billing serve: success (every worker replaced) or"
    " failure (a new worker did not start; every worker kept the old config)",
    ["result"],
)
WORKER_RESTARTS = Counter(
    "billing_worker_restarts_total",
    "Workers of billing serve that died and were replaced by the supervisor",
)
HTTP_CONNECTIONS = Gauge(
    "billing_http_connections",
    "Open client connections, summed over the workers",
    multiprocess_mode="livesum",
)
HTTP_CONNECTIONS_REFUSED = Counter(
    "billing_http_connections_refused_total",
    "Connections closed on arrival: the worker had BILLING_MAX_CONNECTIONS_PER_WORKER open",
)
TIMEOUT_PHASES = ("header", "body")
HTTP_TIMEOUTS = Counter(
    "billing_http_timeouts_total",
    "Requests cut off with 408: the header or the body stopped arriving in time",
    ["phase"],
)


def _initialise_children() -> None:
    """Known label values exist from the start (as 0), so rate() and alerts see them."""
    for outcome in USAGE_OUTCOMES:
        USAGE_EVENTS.labels(outcome)
    for outcome in CHECK_OUTCOMES:
        BALANCE_CHECKS.labels(outcome)
    for outcome in RESERVATION_OUTCOMES:
        RESERVATIONS.labels(outcome)
    for result in ("success", "failure"):
        CONFIG_RELOADS.labels(result)
        CONFIG_ROLLOUTS.labels(result)
    for phase in TIMEOUT_PHASES:
        HTTP_TIMEOUTS.labels(phase)
    for kind in GRANT_KINDS:
        for direction in ("credit", "debit"):
            GRANTS.labels(kind, direction)
            GRANT_CREDITS.labels(kind, direction)
    BUILD_INFO.labels(__version__, platform.python_version()).set(1)


_initialise_children()


class LabelCap:
    """Admit at most ``limit`` distinct values; later newcomers become ``other``."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        with self._lock:
            if len(self._seen) < self._limit:
                self._seen.add(value)
                return value
        return OTHER


_ENDPOINT_LABELS = LabelCap(64)
_MODEL_LABELS = LabelCap(256)


def endpoint_model_labels(
    config: AppConfig, endpoint: str, model: str, table_key: str | None = None
) -> tuple[str, str]:
    """Bounded (endpoint, model) labels: names the config lists, else the built-in
    table key the model matched (a finite set shipped with the service), capped."""
    configured = config.endpoint(endpoint)
    if configured is None:
        return OTHER, OTHER
    if model in configured.token_config or model in configured.models:
        return _ENDPOINT_LABELS(endpoint), _MODEL_LABELS(model)
    return _ENDPOINT_LABELS(endpoint), _MODEL_LABELS(table_key) if table_key else OTHER


def _credits(micro: int) -> float:
    """The one place an exact amount becomes a float (metrics only, never money)."""
    return micro / 1_000_000


# --- applying increments after commit -------------------------------------------------

Increment = tuple[Any, float]  # (a metric child with .inc, amount)


def _queue(session: Session | None, increments: Iterable[Increment]) -> None:
    """Apply now (no session), or when ``session``'s root transaction commits."""
    pending = list(increments)
    _defer(session, lambda: pending)


def _defer(session: Session | None, increments: Callable[[], Iterable[Increment]]) -> None:
    """As ``_queue``, the increments computed only then (off the transaction's time)."""
    if session is None:
        _apply(increments())
    else:
        session_events.after_commit(session, lambda: _apply(increments()))


def _apply(increments: Iterable[Increment]) -> None:
    for child, amount in increments:
        child.inc(amount)


@lru_cache(maxsize=4096)
def _child(metric: Any, *labels: str) -> Any:
    """``metric.labels(*labels)``, remembered: prometheus_client validates the labels
    and takes a lock on every lookup (~5 us), and the ingest transaction makes
    several (label values are bounded: LabelCap, endpoint_model_labels)."""
    return metric.labels(*labels)


def observe_transaction(seconds: float, committed: bool) -> None:
    """One root transaction of the runtime's sessions (billing/session_events.py)."""
    _child(DB_TRANSACTION_DURATION, "commit" if committed else "rollback").observe(seconds)


def group_commit_observer(committer: str) -> Callable[[int], None]:
    """The items of each committed group of one of the runtime's committers (how much
    the group commit and its linger share: BILLING_GROUP_COMMIT_LINGER_SECONDS)."""
    return _child(GROUP_COMMIT_ITEMS, committer).observe


# --- hooks for the domains --------------------------------------------------------------


def record_ingest(
    session: Session | None, config: AppConfig, accepted: Iterable[Cost], *, duplicates: int
) -> None:
    """Accepted events (tokens, cost, unpriced) and duplicates of one committed batch,
    summed once it commits: not while the transaction (on SQLite, the one write
    lock) is held (~6 ms a 2,000-event group)."""
    costs = list(accepted)
    _defer(session, lambda: _ingest_increments(config, costs, duplicates))


def _ingest_increments(config: AppConfig, accepted: list[Cost], duplicates: int) -> list[Increment]:
    # Grouped per (endpoint, model, table key) first: a batch touches few, and each
    # group's sums are then a few list sums (no dict update per cost line: ~1 ms per
    # 1,000 events less), each child looked up and incremented once.
    groups: dict[tuple[str, str, str | None], list[Cost]] = {}
    count = 0
    for cost in accepted:
        count += 1
        table_key = cost.value_key if cost.priced_by in _TABLE_PRICED else None
        key = (cost.endpoint, cost.model, table_key)
        group = groups.get(key)
        if group is None:
            groups[key] = [cost]
        else:
            group.append(cost)
    tokens: dict[tuple[str, str, str], int] = {}
    micro: dict[tuple[str, str], int] = {}
    unpriced: dict[tuple[str, str], int] = {}
    for key, costs in groups.items():
        labels = endpoint_model_labels(config, *key)
        lines = [cost.lines for cost in costs]
        # Cost.lines: the TOKEN_TYPES in order, then a 1-hour cache write line if any.
        sums = [sum([each[i].tokens for each in lines]) for i in range(len(TOKEN_TYPES))]
        sums.append(sum([each[-1].tokens for each in lines if len(each) > len(TOKEN_TYPES)]))
        for token_type, total in zip(LINE_TYPES, sums, strict=True):
            if total:  # a child only for token types used (counts are never negative)
                label = (*labels, token_type)
                tokens[label] = tokens.get(label, 0) + total
        micro[labels] = micro.get(labels, 0) + sum([cost.total_micro for cost in costs])
        fallback = [cost.priced_by for cost in costs].count("fallback")
        if fallback:
            unpriced[labels] = unpriced.get(labels, 0) + fallback
    increments: list[Increment] = [(_child(TOKENS, *k), n) for k, n in tokens.items()]
    increments += [(_child(COST_CREDITS, *k), _credits(n)) for k, n in micro.items()]
    increments += [(_child(UNPRICED_EVENTS, *k), n) for k, n in unpriced.items()]
    if count:
        increments.append((_child(USAGE_EVENTS, "accepted"), count))
    if duplicates:
        increments.append((_child(USAGE_EVENTS, "duplicate"), duplicates))
    return increments


# Priced from the built-in tables: their table key is a bounded model label.
_TABLE_PRICED = frozenset(("default", "premium"))


def record_usage_warnings(session: Session, codes: Iterable[str]) -> None:
    """Warning codes of accepted events (a fixed set from billing/usage/normalize.py)."""
    counts: dict[str, int] = {}
    for code in codes:
        counts[code] = counts.get(code, 0) + 1
    _queue(session, [(USAGE_WARNINGS.labels(code), n) for code, n in counts.items()])


def record_rejected_usage(events: int) -> None:
    """Events of a refused POST /v1/usage (nothing was written, so count now)."""
    USAGE_EVENTS.labels("rejected").inc(events)


def record_balance_check(*, allowed: bool, session: Session | None = None) -> None:
    # Every check counts: the child, not a labels() lookup per request.
    _queue(session, [(_CHECK_CHILDREN[0 if allowed else 1], 1)])


_CHECK_CHILDREN = tuple(BALANCE_CHECKS.labels(outcome) for outcome in CHECK_OUTCOMES)


def record_reservation(outcome: str, session: Session | None = None, count: int = 1) -> None:
    """``outcome`` is one of RESERVATION_OUTCOMES. Pass the session for changes that
    commit (created, settled, released); refusals (denied, and expired: a release that
    found the hold lapsed) roll back, so they are counted now, without a session."""
    if outcome not in RESERVATION_OUTCOMES:
        raise ValueError(f"unknown reservation outcome {outcome!r}")
    if count:
        _queue(session, [(_child(RESERVATIONS, outcome), count)])


def record_refill(session: Session, amount_micro: int) -> None:
    _queue(session, [(REFILLS, 1), (REFILL_CREDITS, _credits(amount_micro))])


def record_grant(session: Session, kind: str, amount_micro: int, count: int = 1) -> None:
    """A start balance, admin grant or set of ``amount_micro`` each, ``count`` times."""
    if kind not in GRANT_KINDS:
        raise ValueError(f"unknown grant kind {kind!r}")
    if amount_micro == 0 or count == 0:
        return
    direction = "credit" if amount_micro > 0 else "debit"
    _queue(
        session,
        [
            (GRANTS.labels(kind, direction), count),
            (GRANT_CREDITS.labels(kind, direction), _credits(abs(amount_micro) * count)),
        ],
    )


def record_config_loaded(loaded_at: float) -> None:
    """At start-up: the config in use loaded fine (a bad file stops the start)."""
    CONFIG_LOADED_TIMESTAMP.set(loaded_at)
    CONFIG_LAST_RELOAD_SUCCESSFUL.set(1)


def record_config_reload(*, ok: bool, loaded_at: float | None = None) -> None:
    CONFIG_RELOADS.labels("success" if ok else "failure").inc()
    CONFIG_LAST_RELOAD_SUCCESSFUL.set(1 if ok else 0)
    if ok and loaded_at is not None:
        CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP.set(loaded_at)
        CONFIG_LOADED_TIMESTAMP.set(loaded_at)


def record_config_version(version: str, previous: str | None = None) -> None:
    """This process now prices with config ``version`` (and no longer with ``previous``)."""
    if previous is not None and previous != version:
        CONFIG_INFO.labels(previous).set(0)  # set, not removed: removal is not multiprocess-safe
    CONFIG_INFO.labels(version).set(1)


def record_config_rollout(*, ok: bool) -> None:
    """The supervisor's SIGHUP rollout; also what ``last_reload_successful`` reports.

    The supervisor of `billing serve` imported this module before it set up the
    multiprocess directory, so its metrics live in its memory, where /metrics (served
    by the workers) never looks: these two values go to the directory directly.
    """
    result = "success" if ok else "failure"
    value = _directory_value_class()
    if value is None:
        CONFIG_ROLLOUTS.labels(result).inc()
        CONFIG_LAST_RELOAD_SUCCESSFUL.set(1 if ok else 0)
        return
    rollouts, last_ok = CONFIG_ROLLOUTS, CONFIG_LAST_RELOAD_SUCCESSFUL
    name, help_text = rollouts._name, rollouts._documentation
    value("counter", name, name + "_total", ("result",), (result,), help_text).inc(1)
    name, help_text = last_ok._name, last_ok._documentation
    value("gauge", name, name, (), (), help_text, multiprocess_mode="mostrecent").set(
        1.0 if ok else 0.0, timestamp=time.time()
    )


@cache
def _directory_value_class() -> Any:
    """Values written to PROMETHEUS_MULTIPROC_DIR, when it is set but this process's
    metrics were created before it was (else None: the metrics themselves do)."""
    if not os.environ.get(MULTIPROC_ENV) or getattr(values.ValueClass, "_multiprocess", False):
        return None
    return values.MultiProcessValue()


def record_worker_restart() -> None:
    """The supervisor replaced a dead worker (written like record_config_rollout's values)."""
    value = _directory_value_class()
    if value is None:
        WORKER_RESTARTS.inc()
        return
    name, help_text = WORKER_RESTARTS._name, WORKER_RESTARTS._documentation
    value("counter", name, name + "_total", (), (), help_text).inc(1)


def record_connection(opened: bool) -> None:
    HTTP_CONNECTIONS.inc(1 if opened else -1)


def record_connection_refused() -> None:
    HTTP_CONNECTIONS_REFUSED.inc()


def record_timeout(phase: str) -> None:
    """``phase`` is one of TIMEOUT_PHASES."""
    HTTP_TIMEOUTS.labels(phase).inc()


# --- per-request notes (HTTP middleware <-> routers) ------------------------------------

_REQUEST_NOTES: ContextVar[dict[str, int] | None] = ContextVar(
    "billing_request_notes", default=None
)


@contextmanager
def request_notes() -> Iterator[dict[str, int]]:
    """Scratch space for one request, shared with the threads its handlers run in."""
    notes: dict[str, int] = {}
    token = _REQUEST_NOTES.set(notes)
    try:
        yield notes
    finally:
        _REQUEST_NOTES.reset(token)


def note_usage_body(body: object) -> None:
    """The usage router tells the HTTP middleware how many events a refusal rejects."""
    notes = _REQUEST_NOTES.get()
    if notes is not None:
        events = body.get("events") if isinstance(body, dict) else None
        notes["usage_events"] = max(len(events), 1) if isinstance(events, list) else 1


# (method, route template, status) -> its histogram: a dict lookup per request instead
# of labels()' lock and label checks. Bounded: known methods, route templates, statuses.
_HTTP_CHILDREN: dict[tuple[str, str, int], Histogram] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    key = (method if method in _HTTP_METHODS else OTHER, route, status)
    child = _HTTP_CHILDREN.get(key)
    if child is None:
        child = _HTTP_CHILDREN[key] = HTTP_DURATION.labels(key[0], route, str(status))
    child.observe(seconds)


__all__ = [
    "OTHER",
    "LabelCap",
    "endpoint_model_labels",
    "note_usage_body",
    "observe_request",
    "observe_transaction",
    "record_balance_check",
    "record_config_loaded",
    "record_config_reload",
    "record_config_rollout",
    "record_config_version",
    "record_connection",
    "record_connection_refused",
    "record_grant",
    "record_ingest",
    "record_refill",
    "record_rejected_usage",
    "record_reservation",
    "record_timeout",
    "record_worker_restart",
    "request_notes",
]


# The metering gateway (billing/gateway): calls by endpoint, model and HTTP status;
# the upstream's time; the gateway's own time on top of it.
GATEWAY_REQUESTS = Counter(
    "billing_gateway_requests_total",
    "Gateway calls by endpoint, model and the HTTP status answered",
    ["endpoint", "model", "status"],
)
GATEWAY_UPSTREAM_DURATION = Histogram(
    "billing_gateway_upstream_duration_seconds",
    "Upstream call duration, request sent to the last byte of the answer",
    ["endpoint"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
)
GATEWAY_UPSTREAM_FIRST_BYTE = Histogram(
    "billing_gateway_upstream_first_byte_seconds",
    "Upstream time to first byte: request sent to the answer's headers",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
GATEWAY_OVERHEAD = Histogram(
    "billing_gateway_overhead_seconds",
    "The gateway's own time per call (hold, forwarding, record), upstream time excluded",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
GATEWAY_ESTIMATED_USAGE = Counter(
    "billing_gateway_estimated_usage_total",
    "Gateway calls recorded from an estimate: the upstream sent no usage (e.g. a stream"
    " the client abandoned before the usage chunk)",
    ["endpoint"],
)


def record_gateway_call(
    config: AppConfig,
    endpoint: str,
    model: str,
    status: int,
    *,
    overhead: float,
    upstream: float | None = None,
    first_byte: float | None = None,
    estimated: bool = False,
) -> None:
    endpoint_label, model_label = endpoint_model_labels(config, endpoint, model)
    _child(GATEWAY_REQUESTS, endpoint_label, model_label, str(status)).inc()
    GATEWAY_OVERHEAD.observe(overhead)
    if upstream is not None:
        _child(GATEWAY_UPSTREAM_DURATION, endpoint_label).observe(upstream)
    if first_byte is not None:
        _child(GATEWAY_UPSTREAM_FIRST_BYTE, endpoint_label).observe(first_byte)
    if estimated:
        _child(GATEWAY_ESTIMATED_USAGE, endpoint_label).inc()
