"""Read /metrics text into numbers the tests can compare."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families

Sample = tuple[str, frozenset[tuple[str, str]]]


def parse(text: str) -> Counter[Sample]:
    values: Counter[Sample] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, frozenset(sample.labels.items()))] += sample.value
    return values


def total(values: Mapping[Sample, float], name: str, **labels: str) -> float:
    """Sum of the samples named ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, lbls), v in values.items() if n == name and wanted <= lbls)


def delta(before: Mapping[Sample, float], after: Mapping[Sample, float]) -> Counter[Sample]:
    """after - before, per sample (the default registry is process-wide)."""
    return Counter({key: after[key] - before.get(key, 0.0) for key in after})


def label_values(values: Mapping[Sample, float]) -> set[str]:
    return {value for _, labels in values for _, value in labels}
