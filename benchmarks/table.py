"""The one table the suite prints (and RESULTS.md shows), with the issues' targets:
issue 15 for ingest and the pre-flight check (PostgreSQL, and SQLite's batch ratio),
issue 16 for the gateway rows (benchmarks/gateway.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from benchmarks.gateway import rows as gateway_rows

BACKENDS = (("postgres", "PostgreSQL"), ("sqlite", "SQLite"))


def _n(value: float) -> str:
    return f"{value:,.0f}"


def _ms(value: float) -> str:
    return f"{value:.1f}"


def _mark(ok: bool | None) -> str:
    return "" if ok is None else ("yes" if ok else "**no**")


@dataclass(frozen=True)
class Targets:
    """Issue 15's targets of one open-loop series (None: no target)."""

    p99_at_500_ms: float | None = None
    service_cpu_ms: float | None = None  # per request at 500 req/s
    max_rate_floor: int | None = None


NO_TARGETS = Targets()
# Issue 15 (PostgreSQL): single events p99 <= 10 ms at 500 req/s, <= 0.35 ms of service
# CPU each, p99 < 50 ms up to >= 2,000 req/s; pre-flight checks p99 <= 5 ms at 500 req/s.
INGEST_TARGETS = Targets(p99_at_500_ms=10, service_cpu_ms=0.35, max_rate_floor=2_000)
CHECK_TARGETS = Targets(p99_at_500_ms=5)
# Batches of 1,000 against the raw insert of the same rows (PostgreSQL: binary COPY;
# SQLite: its own executemany), and the service's CPU per 1,000 batch events.
BATCH_RATIO = {"postgres": 0.70, "sqlite": 0.60}
BATCH_SERVICE_CPU_MS = 25.0


def _steps(
    rows: list[list[str]], name: str, label: str, data: dict[str, Any], targets: Targets
) -> None:
    if "steps" not in data:
        rows.append([name, label, data.get("missing") or data.get("failed", "not run"), "", ""])
        return
    for step in data["steps"]:
        rate = step["rate"]
        text = (
            f"p50 {_ms(step['p50_ms'])} / p95 {_ms(step['p95_ms'])} / p99 {_ms(step['p99_ms'])} ms"
            f" ({_n(step['achieved_rps'])} req/s done"
            + ("" if step["ok"] else f", statuses {step['statuses']}")
            + ")"
        )
        at_500 = rate == 500 and targets.p99_at_500_ms is not None
        goal = f"p99 <= {targets.p99_at_500_ms:g} ms" if at_500 else ""
        ok = step["p99_ms"] <= (targets.p99_at_500_ms or 0) if at_500 else None
        rows.append([f"{name} @ {rate} req/s", label, text, goal, _mark(ok)])
    for step in data["steps"]:
        if step["rate"] == 500 and "cpu_per_request" in step:
            cpu = step["cpu_per_request"]
            name_500 = f"{name} @ 500 req/s: CPU per request"
            rows.append([name_500, label, *_cpu_cells(cpu, targets.service_cpu_ms)])
    best = data["max_rate_p99_under_50ms"]
    floor = targets.max_rate_floor
    rows.append([f"{name}: highest rate with p99 < 50 ms", label, f"{_n(best)} req/s",
                 "" if floor is None else f">= {_n(floor)} req/s",
                 _mark(None if floor is None else best >= floor)])  # fmt: skip


def _cpu_cells(cpu: dict[str, Any], service_limit_ms: float | None) -> list[str]:
    """Result, target and met of a CPU split (benchmarks/cpu_split.PartyMeter)."""
    names = {"service": "service", "postgresql": "PostgreSQL", "loadgen": "load generator"}
    ms, shares = cpu["ms"], cpu["share_of_cores"]
    text = (
        " / ".join(f"{names.get(k, k)} {ms[k]:.3g}" for k in ms)
        + " ms (share of the cores: "
        + " / ".join(f"{shares[k]:.0%}" for k in shares)
        + ")"
    )
    if service_limit_ms is None:
        return [text, "", ""]
    return [text, f"service <= {service_limit_ms:g} ms", _mark(ms["service"] <= service_limit_ms)]


def render(results: dict[str, Any]) -> str:
    rows: list[list[str]] = []
    pricing = results["pricing"]["events_per_s"]
    rows.append(["pricing engine (1 core)", "-", f"{_n(pricing)} events/s", ">= 200,000",
                 _mark(pricing >= 200_000)])  # fmt: skip
    for key, label in BACKENDS:
        data = results.get(key)
        if not data:
            continue
        if "skipped" in data:
            rows.append(["everything", label, data["skipped"], "", ""])
            continue
        raws = data["raw_insert"]
        if "failed" in raws:
            rows.append(["raw driver insert", label, raws["failed"][:200], "", ""])
            raws = {}
        for method, rate in raws.items():
            rows.append([f"raw driver insert ({method}, 1,000/txn)", label,
                         f"{_n(rate)} events/s", "", ""])  # fmt: skip
        for size in (100, 1000):
            batch = data[f"batch_{size}"]
            if "failed" in batch:
                rows.append([f"batch ingest, batches of {size:,}", label, batch["failed"][:200]])
                rows[-1] += ["", ""]
                continue
            rate, ratio = batch["events_per_s"], batch["ratio_to_raw"]
            floor = BATCH_RATIO.get(key) if size == 1000 else None
            baseline = "binary COPY" if key == "postgres" else "executemany"
            rows.append([f"batch ingest over HTTP, batches of {size:,}", label,
                         f"{_n(rate)} events/s = {ratio:.0%} of raw ({baseline})"
                         + ("" if batch["ok"] else f" (FAILED: {batch['statuses']})"),
                         "" if floor is None else f">= {floor:.0%} of raw",
                         _mark(None if floor is None else ratio >= floor)])  # fmt: skip
            cpu = batch.get("cpu_per_1000_events")
            if size == 1000 and cpu is not None:
                limit = BATCH_SERVICE_CPU_MS if key == "postgres" else None
                name = "batch ingest, batches of 1,000: CPU per 1,000 events"
                rows.append([name, label, *_cpu_cells(cpu, limit)])
        single = data["single_throughput"]
        rate = single.get("events_per_s", 0.0)
        in_flight = single.get("concurrency", 16)
        rows.append([f"single-event ingest, {in_flight} in flight", label, f"{_n(rate)} events/s",
                     ">= 1,500", _mark(rate >= 1_500)])  # fmt: skip
        pg = key == "postgres"
        ingest, check = (INGEST_TARGETS, CHECK_TARGETS) if pg else (NO_TARGETS, NO_TARGETS)
        _steps(rows, "single-event ingest", label, data["single_ingest"], ingest)
        if "floor" in data:
            rows.append(["single-event ingest @ 500 req/s: the stack's floor", label,
                         _floor_text(data["floor"]), "", ""])  # fmt: skip
        _steps(rows, "pre-flight check", label, data["check"], check)
        res = data["reservation"]
        if "round_trips" not in res:
            text = res.get("missing") or res.get("failed", "not run")
            rows.append(["reserve + settle round trip", label, text, "", ""])
        else:
            text = (
                f"p50 {_ms(res['p50_ms'])} / p99 {_ms(res['p99_ms'])} ms, "
                f"{_n(res['round_trips_per_s'])}/s, {res['statuses']}"
            )
            rows.append(["reserve + settle round trip (4 clients)", label, text, "", ""])
        if "gateway" in data:
            rows += gateway_rows(data["gateway"], label)
        costs = data.get("costs")
        if costs is not None:
            rows.append(["/v1/costs over 1M ledger rows", label, _costs_text(costs), "", ""])
        console = data.get("console")
        if console is not None:
            rows.append(["console pages (slowest p50)", label, *_console_cells(console)])
    return _markdown(["benchmark", "database", "result", "target", "met"], rows)


def _floor_text(floor: dict[str, Any]) -> str:
    """benchmarks/floor.py: uvicorn alone, psycopg alone, and the service's transaction."""
    if "failed" in floor:
        return str(floor["failed"])[:200]
    one, two = floor["transaction_us"]["1"], floor["transaction_us"]["2"]
    return (
        f"{floor['floor_ms_per_event']:.3g} ms an event: uvicorn alone "
        f"{floor['http']['cpu_ms_per_request']:.3g} ms a request + psycopg alone "
        f"{two['driver_us'] / 1000:.3g} ms a group of 2 events (1: {one['driver_us'] / 1000:.3g})"
        f"; the service's transaction {two['service_us'] / 1000:.3g} (1: "
        f"{one['service_us'] / 1000:.3g}) ms"
    )


def _costs_text(costs: dict[str, Any]) -> str:
    for key in ("missing", "skipped", "failed"):
        if key in costs:
            return f"{key}: {costs[key]}"
    return "; ".join(
        f"{name}: p50 {q['p50_ms']:.0f} / p99 {q['p99_ms']:.0f} ms"
        for name, q in costs.get("queries", {}).items()
    )


def _console_cells(console: dict[str, Any]) -> list[str]:
    for key in ("missing", "skipped", "failed"):
        if key in console:
            return [f"{key}: {console[key]}", "", ""]
    slowest = console["slowest_p50_ms"]
    text = f"{_ms(slowest)} ms over {_n(console['users'])} users, {_n(console['ledger_rows'])} rows"
    target = console["target_ms"]
    return [text, f"< {target:.0f} ms", "yes" if slowest < target else "no"]


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    divider = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), divider, *(line(r) for r in rows)])


if __name__ == "__main__":  # re-render a saved run: python -m benchmarks.table FILE
    import json
    import sys
    from pathlib import Path

    print(render(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))))
