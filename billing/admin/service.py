"""Config reload: swap in the new snapshot, or keep the old one and say why."""

from __future__ import annotations

from billing import metrics
from billing.config.errors import ConfigError
from billing.errors import InvalidRequest
from billing.group_commit import run_transaction
from billing.pricebooks.service import record_current
from billing.runtime import ConfigSnapshot, Runtime


def reload_config(runtime: Runtime) -> ConfigSnapshot:
    """Re-read the config file; a bad file raises InvalidRequest listing every problem."""
    previous = runtime.snapshot.version
    try:
        snapshot = runtime.reload()
    except ConfigError as exc:
        metrics.record_config_reload(ok=False)
        count = len(exc.problems)
        raise InvalidRequest(
            f"config not reloaded, the old config stays: {count} problem(s): {exc.problems[0]}",
            problems=exc.problems,
        ) from None
    metrics.record_config_reload(ok=True, loaded_at=snapshot.loaded_at.timestamp())
    metrics.record_config_version(snapshot.version, previous)
    record_price_book(runtime, snapshot)
    return snapshot


def record_price_book(runtime: Runtime, snapshot: ConfigSnapshot) -> None:
    """A config load whose prices differ from the last recorded ones is a new version."""
    run_transaction(
        runtime.sessions,
        lambda session: record_current(session, snapshot.prices, snapshot.loaded_at),
    )
