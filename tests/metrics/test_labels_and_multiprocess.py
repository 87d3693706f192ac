"""Bounded labels and the multiprocess directory set-up (pure, no database)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from billing.config.loader import parse_config
from billing.metrics import OTHER, LabelCap, endpoint_model_labels
from billing.multiprocess import MULTIPROC_ENV, multiprocess_metrics
from tests.helpers import CLAUDE_CONFIG


def test_a_label_cap_admits_a_bounded_number_of_values() -> None:
    cap = LabelCap(2)
    assert [cap(v) for v in ("a", "b", "c", "a", "d", "b")] == ["a", "b", OTHER, "a", OTHER, "b"]


def test_only_models_the_endpoint_lists_become_labels() -> None:
    config = parse_config(CLAUDE_CONFIG)
    labels = endpoint_model_labels(config, "Claude-Compatible", "claude-sonnet-4-5")
    assert labels == ("Claude-Compatible", "claude-sonnet-4-5")
    assert endpoint_model_labels(config, "Local", "llama3.1:8b") == ("Local", "llama3.1:8b")
    assert endpoint_model_labels(config, "Local", "user-123-model") == ("Local", OTHER)
    assert endpoint_model_labels(config, "nowhere", "x") == (OTHER, OTHER)


def test_unlisted_models_priced_by_the_tables_are_labelled_by_their_key() -> None:
    config = parse_config(CLAUDE_CONFIG)
    labels = endpoint_model_labels(config, "openAI", "gpt-4o-2024-08-06", "gpt-4o")
    assert labels == ("openAI", "gpt-4o")
    assert endpoint_model_labels(config, "openAI", "user-typed-name") == ("openAI", OTHER)


def test_several_workers_get_a_fresh_directory_removed_afterwards(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    with multiprocess_metrics(1) as none:
        assert none is None and MULTIPROC_ENV not in os.environ
    with multiprocess_metrics(2) as path:
        assert path is not None and path.is_dir() and not any(path.iterdir())
        assert os.environ[MULTIPROC_ENV] == str(path)
    assert not path.exists() and MULTIPROC_ENV not in os.environ


def test_an_operator_directory_is_kept_but_stale_files_go(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    chosen = tmp_path / "prom"
    chosen.mkdir()
    (chosen / "counter_123.db").write_bytes(b"stale")
    (chosen / "notes.txt").write_text("not ours")
    monkeypatch.setenv(MULTIPROC_ENV, str(chosen))
    with multiprocess_metrics(1) as path:
        assert path == chosen
        assert sorted(p.name for p in chosen.iterdir()) == ["notes.txt"]
    assert chosen.is_dir()


def test_a_gateway_call_counts_on_the_same_children_call_after_call() -> None:
    """The gateway's labelled children are looked up once (metrics._child) and
    every call still counts on them."""
    from prometheus_client import REGISTRY

    from billing import metrics

    config = parse_config(CLAUDE_CONFIG)
    labels = {"endpoint": "Local", "model": "llama3.1:8b", "status": "299"}

    def counted() -> tuple[float, float, float]:
        requests = REGISTRY.get_sample_value("billing_gateway_requests_total", labels) or 0.0
        endpoint = {"endpoint": "Local"}
        upstream = REGISTRY.get_sample_value(
            "billing_gateway_upstream_duration_seconds_count", endpoint
        )
        estimated = REGISTRY.get_sample_value("billing_gateway_estimated_usage_total", endpoint)
        return requests, upstream or 0.0, estimated or 0.0

    before = counted()
    for _ in range(3):
        metrics.record_gateway_call(
            config, "Local", "llama3.1:8b", 299, overhead=0.001, upstream=0.01, estimated=True
        )
    after = counted()
    assert [a - b for a, b in zip(after, before, strict=True)] == [3.0, 3.0, 3.0]
