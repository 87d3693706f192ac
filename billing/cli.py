"""The `billing` command. Exit codes: 0 ok, 1 problem found, 2 usage error."""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from billing import money
from billing.settings import default_workers, get_settings

app = typer.Typer(
    help="Token usage and billing service for LibreChat-style deployments.",
    no_args_is_help=True,
    add_completion=False,
)
config_app = typer.Typer(help="Work with librechat.yaml-style config files.", no_args_is_help=True)
app.add_typer(config_app, name="config")
gateway_app = typer.Typer(help="The metering gateway (/gateway/...).", no_args_is_help=True)
app.add_typer(gateway_app, name="gateway")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port")] = None,
    workers: Annotated[int | None, typer.Option(help="worker processes")] = None,
) -> None:
    """Serve the HTTP API (uvicorn) with the BILLING_* settings."""
    import logging

    from billing import serving, startup
    from billing.logging_setup import configure_logging, log_config
    from billing.multiprocess import multiprocess_metrics

    try:
        settings = startup.load_settings()
        configure_logging(settings.log_level)
        api_keys = startup.check_api_keys(settings)
        config = startup.load_config(settings)
    except startup.StartupError as exc:
        typer.echo(f"billing serve: cannot start: {exc}", err=True)
        raise typer.Exit(2) from None
    host = host or settings.host
    if not api_keys and not _is_loopback(host):
        typer.echo(
            f"refusing to listen on {host} without an API key: set BILLING_API_KEYS "
            "or listen on 127.0.0.1",
            err=True,
        )
        raise typer.Exit(2)
    logging.getLogger("billing.serve").info(startup.describe_config(config))
    workers = workers or settings.workers or default_workers(settings.database_url)
    # Before any worker imports prometheus_client (see billing/multiprocess.py).
    with multiprocess_metrics(workers):
        serving.serve(
            host,
            port or settings.port,
            workers,
            {
                "log_level": settings.log_level.lower(),
                # JSON lines, request ids, no secrets
                "log_config": log_config(settings.log_level),
                "access_log": False,  # billing.http logs each request, with its id
                "timeout_graceful_shutdown": 30,
                # Idle connections closed, slow heads cut off, connections capped per worker.
                "http": serving.HTTP_PROTOCOL,
                "timeout_keep_alive": settings.idle_timeout_seconds,
            },
        )


@app.command()
def migrate() -> None:
    """Bring the database schema to the newest migration."""
    from billing.migrator import upgrade

    upgrade(get_settings().database_url)
    typer.echo("database schema is at the newest migration")


@config_app.command("check")
def config_check(
    file: Annotated[
        Path | None,
        typer.Argument(help="the librechat.yaml to validate (default: BILLING_CONFIG)"),
    ] = None,
) -> None:
    """Exit 0 when FILE is valid, else 1 with every problem listed; warnings are always shown."""
    from billing.config.loader import check_config_file

    if file is None:
        file = get_settings().config
        if file is None:
            typer.echo("no FILE given and BILLING_CONFIG is not set", err=True)
            raise typer.Exit(2)
    problems, warnings = check_config_file(file)
    for line in problems:
        typer.echo(line, err=True)
    for line in warnings:
        typer.echo(f"warning: {line}", err=bool(problems))
    if problems:
        raise typer.Exit(1)
    typer.echo(f"{file}: ok")


@gateway_app.command("librechat-yaml")
def gateway_librechat_yaml(
    file: Annotated[
        Path | None,
        typer.Argument(help="billing's librechat.yaml (default: BILLING_CONFIG)"),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(help="the gateway as LibreChat reaches it (default: http://HOST:PORT)"),
    ] = None,
) -> None:
    """Print LibreChat's endpoints block pointed at the gateway, to paste into its file."""
    from billing.config.loader import ConfigError, read_config_text
    from billing.gateway.librechat_yaml import librechat_endpoints

    settings = get_settings()
    file = file or settings.config
    if file is None:
        typer.echo("no FILE given and BILLING_CONFIG is not set", err=True)
        raise typer.Exit(2)
    gateway_url = url or f"http://{settings.host}:{settings.port}"
    try:
        typer.echo(librechat_endpoints(read_config_text(file), gateway_url, str(file)), nl=False)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None


@app.command()
def quote(
    endpoint: Annotated[str, typer.Option(help="endpoint name, e.g. openAI or a custom name")],
    model: Annotated[str, typer.Option(help="model name as sent to the endpoint")],
    prompt: Annotated[int, typer.Option(min=0, help="prompt tokens (not cached)")] = 0,
    completion: Annotated[int, typer.Option(min=0, help="completion tokens")] = 0,
    cache_write: Annotated[int, typer.Option(min=0, help="cache-write tokens")] = 0,
    cache_read: Annotated[int, typer.Option(min=0, help="cache-read tokens")] = 0,
    cache_write_1h: Annotated[
        int, typer.Option("--cache-write-1h", min=0, help="1-hour cache-write tokens")
    ] = 0,
    context: Annotated[str, typer.Option(help="context, e.g. message or incomplete")] = "message",
) -> None:
    """Price one event with the configured rates and print the cost object as JSON."""
    from billing.errors import BillingError
    from billing.pricing.types import TokenCounts
    from billing.runtime import load_snapshot

    snapshot = load_snapshot(get_settings())
    try:
        counts = TokenCounts(prompt, completion, cache_write, cache_read, cache_write_1h)
        cost = snapshot.prices.price(endpoint, model, counts, context)
    except BillingError as exc:
        typer.echo(f"{exc.code}: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(cost.to_json(), indent=2))


@app.command()
def reconcile() -> None:
    """Exit 0 when every balance equals the sum of its ledger rows, else 1 listing users."""
    from billing.balances.service import reconcile as find_mismatches
    from billing.runtime import Runtime

    runtime = Runtime(get_settings())
    try:
        with runtime.sessions() as session:
            mismatches = find_mismatches(session)
    finally:
        runtime.close()
    for item in mismatches:
        balance = "none" if item.balance_micro is None else money.credits_str(item.balance_micro)
        typer.echo(
            f"{item.user_id}: balance {balance} != ledger {money.credits_str(item.ledger_micro)}",
            err=True,
        )
    if mismatches:
        typer.echo(f"{len(mismatches)} user(s) differ", err=True)
        raise typer.Exit(1)
    typer.echo("every balance equals the sum of its ledger entries")


@app.command("rebuild-rollups")
def rebuild_rollups(
    since: Annotated[
        datetime | None, typer.Option(help="first slot to rebuild (UTC unless a zone is given)")
    ] = None,
    until: Annotated[datetime | None, typer.Option(help="end of the range (exclusive)")] = None,
) -> None:
    """Recompute the cost-report rollups from the ledger (all of them by default)."""
    from billing.db import make_engine
    from billing.reports import service as reports

    def aware(value: datetime | None) -> datetime | None:
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)

    engine = make_engine(get_settings().database_url)
    try:
        written = reports.rebuild_rollups(engine, aware(since), aware(until))
    finally:
        engine.dispose()
    typer.echo(f"rollups rebuilt: {written} row(s) written")


def _register_operator_commands() -> None:
    # balance, transactions, report, import-librechat live in billing/commands/.
    from billing.commands import register

    register(app)


_register_operator_commands()
