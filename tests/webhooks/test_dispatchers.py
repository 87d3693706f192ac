"""Two dispatchers over one outbox (as two workers or hosts would run them): every
event is delivered once, none twice, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter

from billing.runtime import Runtime
from billing.settings import Settings
from billing.webhooks.dispatcher import Dispatcher
from tests.conftest import AppFactory
from tests.helpers import CLAUDE_CONFIG, event
from tests.webhooks.receiver import receiver
from tests.webhooks.test_webhooks import FAST, _charge, _deliveries, _subscribe

USERS = 40


def test_concurrent_dispatchers_deliver_each_event_once(
    make_client: AppFactory, db_url: str
) -> None:
    with receiver() as hook:
        client = make_client(CLAUDE_CONFIG, **{**FAST, "webhook_dispatcher": False})
        webhook = _subscribe(client, hook.url, "balance.low")
        _charge(client, *(event(f"e{i}", f"user-{i:02d}") for i in range(USERS)))
        assert len(_deliveries(client, webhook["id"])) == USERS
        settings = Settings(database_url=db_url, **FAST)
        runtimes = [Runtime(settings) for _ in range(2)]
        dispatchers = [Dispatcher(r.engine, settings, batch=3) for r in runtimes]
        start = threading.Barrier(2)
        errors: list[BaseException] = []

        def drain(dispatcher: Dispatcher) -> None:
            try:
                start.wait()
                while dispatcher.run_once():
                    pass
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=drain, args=(d,)) for d in dispatchers]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
        finally:
            for dispatcher, runtime in zip(dispatchers, runtimes, strict=True):
                dispatcher.close()
                runtime.close()
        assert errors == []
        sent = Counter(request.webhook_id for request in hook.requests)
        assert len(sent) == USERS and set(sent.values()) == {1}
        deliveries = _deliveries(client, webhook["id"])
        assert {d["status"] for d in deliveries} == {"delivered"}
        assert {d["attempts"] for d in deliveries} == {1}
