"""A hardened PyYAML safe loader for config files.

On top of ``yaml.SafeLoader`` it
- records duplicate mapping keys (YAML allows them silently; last one wins),
- refuses alias bombs ("billion laughs") and recursive aliases before any
  Python object is built, by budgeting how many nodes aliases expand to,
- builds floats as ``Decimal`` from the scalar's source text (never via a
  binary float), and also reads YAML 1.2 exponent floats such as ``1e-6``,
  which YAML 1.1 would leave as strings,
- remembers where each key path starts, so problems can name a line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.error import Mark
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from billing.config.errors import ConfigError
from billing.config.issues import Path

# Nodes that all aliases together may expand to. Generous for YAML anchors
# used as defaults, far below anything that hurts when walked.
MAX_ALIAS_EXPANSION = 100_000
MAX_DEPTH = 100
MAX_NUMBER_LENGTH = 100  # digits beyond this are junk (and slow int parsing)

_MERGE_TAG = "tag:yaml.org,2002:merge"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_INT_TAG = "tag:yaml.org,2002:int"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


class StrictLoader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.path_marks: dict[Path, Mark] = {}
        self.duplicates: list[tuple[Path, str]] = []
        self._path: list[str | int] = []
        self._sizes: dict[int, int] = {}  # id(node) -> expanded node count
        self._alias_budget = MAX_ALIAS_EXPANSION
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(AliasEvent):
            return self._compose_alias(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise ComposerError(
                None, None, f"nesting deeper than {MAX_DEPTH} levels", self.peek_event().start_mark
            )
        pushed = self._push(parent, index)
        node = super().compose_node(parent, index)
        if node is not None:
            if pushed or parent is None:
                self.path_marks.setdefault(tuple(self._path), node.start_mark)
            self._sizes[id(node)] = 1 + sum(self._sizes.get(id(n), 1) for n in _children(node))
        if pushed:
            self._path.pop()
        self._depth -= 1
        return node

    def _compose_alias(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()
        node = super().compose_node(parent, index)
        size = self._sizes.get(id(node)) if node is not None else None
        if size is None:
            # The anchored node is still being composed: the alias points into itself.
            raise ComposerError(None, None, "recursive alias is not allowed", event.start_mark)
        self._alias_budget -= size
        if self._alias_budget < 0:
            raise ComposerError(
                None,
                None,
                f"aliases expand to more than {MAX_ALIAS_EXPANSION} nodes "
                "(an alias bomb?); refusing the document",
                event.start_mark,
            )
        return node

    def _push(self, parent: Node | None, index: Any) -> bool:
        if isinstance(parent, SequenceNode) and isinstance(index, int):
            self._path.append(index)
            return True
        if isinstance(parent, MappingNode) and isinstance(index, Node):
            self._path.append(index.value if isinstance(index, ScalarNode) else "?")
            return True
        return False

    def compose_mapping_node(self, anchor: Any) -> MappingNode:
        node = super().compose_mapping_node(anchor)
        # Checked on the composed nodes, before merge keys (<<) are flattened,
        # so a key that overrides a merged default is not a duplicate.
        first_line: dict[tuple[str, str], int] = {}
        for key, _value in node.value:
            if not isinstance(key, ScalarNode) or key.tag == _MERGE_TAG:
                continue
            line = key.start_mark.line + 1
            seen = first_line.get((key.tag, key.value))
            if seen is None:
                first_line[(key.tag, key.value)] = line
                continue
            self.duplicates.append(
                (
                    (*self._path, key.value),
                    f"duplicate key {key.value!r} (line {line}, first at line {seen})",
                )
            )
        return node


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _scalar_text(loader: StrictLoader, node: Node) -> str:
    assert isinstance(node, ScalarNode)
    text = loader.construct_scalar(node)
    if len(text) > MAX_NUMBER_LENGTH:
        raise ConstructorError(None, None, "number too long", node.start_mark)
    return text


def _construct_decimal(loader: StrictLoader, node: Node) -> Decimal:
    text = _scalar_text(loader, node).replace("_", "").lower()
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    if digits == ".inf":
        return Decimal(sign) * Decimal("Infinity")
    if digits == ".nan":
        return Decimal("NaN")
    if ":" in digits:  # YAML 1.1 base 60, e.g. 1:30.5
        value = Decimal(0)
        for part in digits.split(":"):
            value = value * 60 + Decimal(part)
        return sign * value
    return Decimal(text)


def _construct_int(loader: StrictLoader, node: Node) -> int:
    _scalar_text(loader, node)  # length guard before int() sees it
    return yaml.SafeLoader.construct_yaml_int(loader, node)  # type: ignore[arg-type]


def _guarded(construct: Callable[[StrictLoader, Node], Any], what: str) -> Any:
    """Turn a constructor's crash on junk (explicit tags, impossible dates) into a YAML error."""

    def run(loader: StrictLoader, node: Node) -> Any:
        try:
            return construct(loader, node)
        except (ValueError, ArithmeticError, AttributeError, TypeError):
            raise ConstructorError(None, None, f"not a valid {what}", node.start_mark) from None

    return run


StrictLoader.add_constructor(_FLOAT_TAG, _guarded(_construct_decimal, "number"))
StrictLoader.add_constructor(_INT_TAG, _guarded(_construct_int, "integer"))
StrictLoader.add_constructor(
    _TIMESTAMP_TAG,
    _guarded(yaml.SafeLoader.construct_yaml_timestamp, "date"),  # type: ignore[arg-type]
)
StrictLoader.add_implicit_resolver(
    _FLOAT_TAG,
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def parse_yaml(text: str) -> tuple[Any, dict[Path, Mark], list[tuple[Path, str]]]:
    """Parse one YAML document: (data, key-path marks, duplicate-key problems).

    Malformed or hostile input raises ConfigError with line and column.
    """
    try:
        loader = StrictLoader(text)  # checks for unprintable characters at once
    except yaml.YAMLError as exc:
        raise ConfigError([f"invalid YAML: {' '.join(str(exc).split())}"]) from None
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        raise ConfigError([_describe(exc)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"invalid YAML: {' '.join(str(exc).split())}"]) from None
    except RecursionError:
        raise ConfigError(["invalid YAML: nesting too deep"]) from None
    finally:
        loader.dispose()
    return data, loader.path_marks, loader.duplicates


def _describe(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    problem, context = exc.problem or "", exc.context or ""
    if context and exc.context_mark:
        context += f" at line {exc.context_mark.line + 1}"
    if not (problem and context):
        message = problem or context or "malformed document"
    elif problem.startswith("but "):  # PyYAML's "expected X" + "but found Y" pairs
        message = f"{context}, {problem}"
    else:
        message = f"{problem} ({context})"
    return f"invalid YAML: {where}{message}"
