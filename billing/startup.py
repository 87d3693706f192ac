"""What `billing serve` checks before it starts, and how it says what it loaded.

A bad setting, API key list or config file stops the start with one message
that says what is wrong, where, and how to fix it (exit code 2, no
traceback); the workers would otherwise each die with a traceback.
"""

from __future__ import annotations

from pydantic import ValidationError

from billing.config.errors import ConfigError
from billing.config.loader import load_config_file
from billing.config.model import AppConfig, default_config
from billing.settings import Settings, get_settings

# Problems listed before "... and N more" (`billing config check` lists them all).
_LISTED_PROBLEMS = 10
_LISTED_ENDPOINTS = 10


class StartupError(Exception):
    """Why the service cannot start, as a message for the operator."""


def load_settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as exc:
        lines = [
            f"  BILLING_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        ]
        raise StartupError(
            "invalid setting(s) in the environment:\n"
            + "\n".join(lines)
            + "\nfix: correct or unset the variable(s) above"
        ) from None


def check_api_keys(settings: Settings) -> dict[str, frozenset[str]]:
    try:
        return settings.parsed_api_keys()
    except ValueError as exc:
        raise StartupError(
            f"invalid API keys: {exc}\n"
            'fix: use "key:scope,scope;key2:admin" (scopes ingest, read, admin; keys of at '
            'least 16 characters) or a JSON object {"key": ["ingest", "read"]}'
        ) from None


def load_config(settings: Settings) -> AppConfig:
    """The config the service would run with (built-in defaults without BILLING_CONFIG)."""
    if settings.config is None:
        return default_config()
    try:
        return load_config_file(settings.config)
    except ConfigError as exc:
        problems = [f"  {problem}" for problem in exc.problems[:_LISTED_PROBLEMS]]
        if len(exc.problems) > _LISTED_PROBLEMS:
            problems.append(f"  ... and {len(exc.problems) - _LISTED_PROBLEMS} more")
        raise StartupError(
            f"cannot load the config file {settings.config} (BILLING_CONFIG):\n"
            + "\n".join(problems)
            + f"\nfix: correct the file (`billing config check {settings.config}` lists every "
            "problem) or point BILLING_CONFIG at another file; unset it for the built-in defaults"
        ) from None


def describe_config(config: AppConfig) -> str:
    """One line for the start log: which config, which endpoints, balance on or off."""
    source = config.source or "built-in defaults (BILLING_CONFIG not set)"
    custom = sorted(
        (e.name for e in config.endpoints.values() if e.kind == "custom"), key=str.lower
    )
    listed = ", ".join(custom[:_LISTED_ENDPOINTS])
    if len(custom) > _LISTED_ENDPOINTS:
        listed += f", ... ({len(custom) - _LISTED_ENDPOINTS} more)"
    builtin = len(config.endpoints) - len(custom)
    return (
        f"config loaded from {source}: {len(config.endpoints)} endpoints "
        f"({len(custom)} custom{': ' + listed if custom else ''}; {builtin} built-in); "
        f"balance {'on' if config.balance.enabled else 'off'}; "
        f"transactions {'on' if config.transactions_enabled else 'off'}"
    )
