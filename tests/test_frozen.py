"""billing/frozen.py: the fast constructor builds what the dataclass builds, frozen."""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass, field

import pytest

from billing.frozen import fast_constructor
from billing.pricing.types import TokenCounts
from billing.usage.normalize import Normalized, UsageWarning


@dataclass(frozen=True, slots=True)
class Point:
    x: int
    y: int = 0
    label: str = field(default="", compare=False)


def test_the_result_is_the_dataclass_instance() -> None:
    new = fast_constructor(Point)
    made = new(1, 2, "a")
    assert type(made) is Point
    assert made == Point(1, 2, "a") and hash(made) == hash(Point(1, 2, "a"))
    assert repr(made) == repr(Point(1, 2, "a"))
    assert dataclasses.astuple(made) == (1, 2, "a")
    assert pickle.loads(pickle.dumps(made)) == made
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.x = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        new(1, 2)  # every field, positionally


def test_the_hot_path_types() -> None:
    counts = fast_constructor(TokenCounts)(1, 2, 3, 4, 5)
    assert counts == TokenCounts(1, 2, 3, 4, 5) and counts.input_tokens == 13
    warning = UsageWarning("c", "f", "m")
    assert fast_constructor(Normalized)(counts, (warning,)) == Normalized(counts, (warning,))


def test_only_frozen_slotted_dataclasses() -> None:
    @dataclass(frozen=True)
    class NoSlots:
        x: int

    @dataclass(slots=True)
    class NotFrozen:
        x: int

    for cls in (NoSlots, NotFrozen, int):
        with pytest.raises(TypeError):
            fast_constructor(cls)
