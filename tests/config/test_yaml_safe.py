"""The hardened YAML layer: duplicates, alias bombs, malformed input, exact numbers."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
import yaml

from billing.config.yaml_safe import MAX_ALIAS_EXPANSION, parse_yaml

from .support import CustomYaml, Load, Problems, has


def _data(text: str) -> object:
    return parse_yaml(text)[0]


def test_floats_are_decimals_built_from_the_source_text() -> None:
    data = _data("a: 0.1\nb: 1.10\nc: -2.5\nd: 1_000.25\ne: 1.5e+3\nf: 3\ng: 0x1F\n")
    assert data == {
        "a": Decimal("0.1"),
        "b": Decimal("1.10"),
        "c": Decimal("-2.5"),
        "d": Decimal("1000.25"),
        "e": Decimal("1.5e+3"),
        "f": 3,
        "g": 31,
    }
    assert str(data["b"]) == "1.10"
    assert type(data["f"]) is int


def test_yaml_12_exponents_and_specials() -> None:
    data = _data("a: 1e-6\nb: 2E5\nc: .5e1\nd: .inf\ne: -.inf\nf: .nan\ng: 1:30.5\nh: '1e-6'\n")
    assert isinstance(data, dict)
    assert (data["a"], data["b"], data["c"]) == (Decimal("1e-6"), Decimal("2E5"), Decimal(5))
    assert data["d"] == Decimal("Infinity") and data["e"] == Decimal("-Infinity")
    assert data["f"].is_nan()
    assert data["g"] == Decimal("90.5")
    assert data["h"] == "1e-6"  # quoted stays a string


def test_duplicate_keys_name_path_and_key(problems: Problems) -> None:
    found = problems("balance:\n  enabled: true\n  enabled: false\n")
    assert found == ["balance.enabled: duplicate key 'enabled' (line 3, first at line 2)"]


def test_duplicate_top_level_and_nested_keys(problems: Problems, custom_yaml: CustomYaml) -> None:
    text = custom_yaml("tokenConfig:\n  m1: {prompt: 1, prompt: 2, completion: 1, context: 9}")
    text += "balance: {}\nbalance: {}\n"
    found = problems(text)
    assert "balance: duplicate key 'balance' (line 11, first at line 10)" in found
    assert has(found, "endpoints.custom[0].tokenConfig.m1.prompt: duplicate key 'prompt'")


def test_duplicate_endpoint_key(problems: Problems, custom_yaml: CustomYaml) -> None:
    found = problems(custom_yaml("apiKey: second"))
    assert has(found, "endpoints.custom[0].apiKey: duplicate key 'apiKey'")


def test_merge_keys_may_be_overridden(load: Load) -> None:
    config = load(
        """
        endpoints:
          custom:
            - &base {name: A, apiKey: k, baseURL: u, models: {default: [m]}}
            - <<: *base
              name: B
              apiKey: other
        """
    )
    assert config.endpoints["B"].api_key == "other"
    assert config.endpoints["B"].models == ("m",)


def test_billion_laughs_is_refused_fast(problems: Problems) -> None:
    lines = ['lol0: &lol0 "lol"']
    for level in range(1, 10):
        refs = ", ".join([f"*lol{level - 1}"] * 10)
        lines.append(f"lol{level}: &lol{level} [{refs}]")
    started = time.perf_counter()
    found = problems("\n".join(lines) + "\n")
    assert time.perf_counter() - started < 1
    assert len(found) == 1
    assert "aliases expand to more than" in found[0] and "refusing" in found[0]
    assert found[0].startswith("invalid YAML: line ")


def test_alias_budget_allows_ordinary_anchors() -> None:
    refs = ", ".join(["*d"] * 50)
    data = _data(f"d: &d {{a: 1, b: 2}}\nitems: [{refs}]\n")
    assert isinstance(data, dict) and len(data["items"]) == 50
    assert MAX_ALIAS_EXPANSION >= 10_000


@pytest.mark.parametrize("text", ["a: &x [*x]\n", "a: &x {b: {c: *x}}\n"])
def test_recursive_alias_is_refused(problems: Problems, text: str) -> None:
    (found,) = problems(text)
    assert found.startswith("invalid YAML: line 1, column ") and "recursive alias" in found


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("a: [1, 2\nb: 3\n", "line 2, column 2"),
        ("a:\n  b: 1\n c: 2\n", "line 3, column 2"),
        ("a: 'unclosed\n", "line 2, column 1"),
        ("a:\n\t- b\n", "line 2, column 1"),
        ("a: *nowhere\n", "line 1, column 4"),
    ],
)
def test_malformed_yaml_names_line_and_column(problems: Problems, text: str, where: str) -> None:
    (found,) = problems(text)
    assert found.startswith(f"invalid YAML: {where}: "), found


def test_only_one_document(problems: Problems) -> None:
    (found,) = problems("a: 1\n---\nb: 2\n")
    assert found.startswith("invalid YAML: line 2, column 1: expected a single document")


def test_python_tags_are_refused(problems: Problems) -> None:
    (found,) = problems("a: !!python/object/apply:os.system ['true']\n")
    assert "could not determine a constructor" in found


def test_deep_nesting_is_refused(problems: Problems) -> None:
    (found,) = problems("a: " + "[" * 500 + "]" * 500 + "\n")
    assert "nesting deeper than" in found


def test_absurdly_long_numbers_are_refused(problems: Problems) -> None:
    (found,) = problems("a: 1" + "0" * 5000 + "\n")
    assert found == "invalid YAML: line 1, column 4: number too long"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: !!float abc\n", "not a valid number"),
        ("a: !!int x\n", "not a valid integer"),
        ("version: 2024-13-45\n", "not a valid date"),
    ],
)
def test_junk_scalars_are_yaml_errors(problems: Problems, text: str, message: str) -> None:
    (found,) = problems(text)
    assert found.startswith("invalid YAML: line 1, column ") and found.endswith(message)


def test_global_safe_loader_is_untouched() -> None:
    assert yaml.safe_load("a: 1e-6\nb: 0.5\n") == {"a": "1e-6", "b": 0.5}
