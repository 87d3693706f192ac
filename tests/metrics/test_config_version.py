"""Every answer names the config version that served it; /metrics shows the versions in use."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import AppFactory
from tests.helpers import CLAUDE_CONFIG
from tests.metrics.scrape import parse, total

ADMIN_KEY = "admin-key-0123456789"
HEADER = "x-billing-config-version"
QUOTE = {"endpoint": "Claude-Compatible", "model": "claude-sonnet-4-5", "tokens": {"prompt": 1000}}


def test_every_answer_carries_the_version_and_a_reload_moves_it(
    make_client: AppFactory, write_config: Callable[[str], Path]
) -> None:
    path = write_config(CLAUDE_CONFIG)
    client = make_client(config=path, api_keys=f"{ADMIN_KEY}:admin")
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    answers = [
        client.post("/v1/quote", json=QUOTE, headers=admin),
        client.get("/healthz"),
        client.get("/v1/nowhere", headers=admin),  # 404
        client.post("/v1/quote", json={"model": 1}, headers=admin),  # 422
        client.post("/v1/quote", content=b"x" * (5 * 1024 * 1024), headers=admin),  # 413
        client.post("/v1/quote", json=QUOTE),  # 401
    ]
    assert [a.status_code for a in answers] == [200, 200, 404, 422, 413, 401]
    versions = {a.headers[HEADER] for a in answers}
    assert len(versions) == 1
    (old,) = versions
    assert answers[0].json()["total_credits"] == "3000"

    path.write_text(CLAUDE_CONFIG.replace("prompt: 3", "prompt: 4"), encoding="utf-8")
    reloaded = client.post("/v1/admin/reload", headers=admin)
    assert reloaded.status_code == 200, reloaded.text
    new = reloaded.json()["version"]
    assert reloaded.headers[HEADER] == new != old  # the answer names the config now in use
    quoted = client.post("/v1/quote", json=QUOTE, headers=admin)
    assert (quoted.headers[HEADER], quoted.json()["total_credits"]) == (new, "4000")

    scraped = parse(client.get("/metrics").text)
    assert total(scraped, "billing_config_info", version=new) == 1
    assert total(scraped, "billing_config_info", version=old) == 0

    path.write_text("endpoints: [unclosed\n", encoding="utf-8")
    refused = client.post("/v1/admin/reload", headers=admin)
    assert refused.status_code == 422
    assert refused.headers[HEADER] == new  # still the config in use
