"""Config reload: swap in the new snapshot, or keep the old one and say why."""

from __future__ import annotations

from billing import metrics
from billing.audit import service as audit
from billing.audit.types import CONFIG_RELOAD
from billing.config.errors import ConfigError
from billing.errors import InvalidRequest
from billing.group_commit import run_transaction
from billing.runtime import ConfigSnapshot, Runtime


def reload_config(runtime: Runtime, *, actor: str) -> ConfigSnapshot:
    """Re-read the config file; a bad file raises InvalidRequest listing every problem
    (and is not audited: nothing changed). A reload is recorded as done by ``actor``."""
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
    details = {"version": snapshot.version, "previous_version": previous}
    run_transaction(
        runtime.sessions,
        lambda session: audit.record(
            session,
            action=CONFIG_RELOAD,
            target=f"config:{snapshot.config.source or 'built-in defaults'}",
            reason=None,
            key_id=actor,
            details=details,
            now=runtime.clock(),
        ),
    )
    return snapshot
