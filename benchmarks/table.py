"""The one table the suite prints (and RESULTS.md shows), with the issue's targets."""

from __future__ import annotations

from typing import Any

from benchmarks.gateway import rows as gateway_rows

BACKENDS = (("postgres", "PostgreSQL"), ("sqlite", "SQLite"))


def _n(value: float) -> str:
    return f"{value:,.0f}"


def _ms(value: float) -> str:
    return f"{value:.1f}"


def _mark(ok: bool | None) -> str:
    return "" if ok is None else ("yes" if ok else "**no**")


def _steps(rows: list[list[str]], name: str, label: str, data: dict[str, Any], target: Any) -> None:
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
        goal, ok = target(rate, step)
        rows.append([f"{name} @ {rate} req/s", label, text, goal, _mark(ok)])
    best = data["max_rate_p99_under_50ms"]
    rows.append([f"{name}: highest rate with p99 < 50 ms", label, f"{_n(best)} req/s", "", ""])


def _p99_at_500(limit_ms: float) -> Any:
    def target(rate: int, step: dict[str, Any]) -> tuple[str, bool | None]:
        if rate != 500:
            return "", None
        return f"p99 <= {limit_ms:g} ms", step["p99_ms"] <= limit_ms

    return target


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
            pg = key == "postgres"
            goal = ">= 20,000 and >= 50% of raw" if pg else ""
            ok = (rate >= 20_000 and ratio >= 0.5) if pg else None
            rows.append([f"batch ingest over HTTP, batches of {size:,}", label,
                         f"{_n(rate)} events/s = {ratio:.0%} of raw"
                         + ("" if batch["ok"] else f" (FAILED: {batch['statuses']})"),
                         goal, _mark(ok)])  # fmt: skip
        single = data["single_throughput"]
        rate = single.get("events_per_s", 0.0)
        in_flight = single.get("concurrency", 16)
        rows.append([f"single-event ingest, {in_flight} in flight", label, f"{_n(rate)} events/s",
                     ">= 1,500", _mark(rate >= 1_500)])  # fmt: skip
        _steps(rows, "single-event ingest", label, data["single_ingest"], _p99_at_500(20))
        _steps(rows, "pre-flight check", label, data["check"], _p99_at_500(10))
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
