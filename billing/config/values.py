"""Typed readers for config values.

Each reader checks one value, records a problem at its key path when the
value is wrong, and returns the converted value, or None when it is unusable
(null is never a valid typed value, so None is free to mean "invalid").
Strings have their ``${VAR}`` references resolved on the way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from decimal import Context, Decimal
from typing import Any

from billing.config.env import Unresolved
from billing.config.issues import Issues, Path, format_path

# Upper bounds keep money arithmetic and time arithmetic far from overflow.
MAX_RATE = Decimal(1_000_000)  # USD per 1M tokens
MAX_CONTEXT = 100_000_000  # tokens
MAX_PLACES = 18

# `${VAR}` only; LibreChat's `{{LIBRECHAT_USER_*}}` placeholders are resolved
# per request by LibreChat, so they are left alone.
_ENV_REF = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
_WIDE = Context(prec=120)  # enough for any number the YAML loader lets through


def describe(value: Any) -> str:
    """What a value is, for "must be X, got Y" messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | Decimal | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, date):
        return "a date"
    return f"a {type(value).__name__}"


# Reads one value at a path: returns it converted, or None after recording why not.
Reader = Callable[["Checker", Any, Path], Any]


def lenient(reader: Reader) -> Reader:
    """For a value LibreChat does not check: a bad one is a warning and left out."""

    def read(c: Checker, value: Any, path: Path) -> Any:
        with c.lenient():
            return reader(c, value, path)

    return read


class Checker:
    def __init__(self, issues: Issues, environ: Mapping[str, str]) -> None:
        self.issues = issues
        self.environ = environ
        self._lenient = 0

    def error(self, path: Path, message: str) -> None:
        if self._lenient:
            self.issues.warn(path, f"{message}; ignored")
        else:
            self.issues.error(path, message)

    @contextmanager
    def lenient(self) -> Iterator[None]:
        """Problems found inside are warnings and the value is left out."""
        self._lenient += 1
        try:
            yield
        finally:
            self._lenient -= 1

    def warn(self, path: Path, message: str) -> None:
        self.issues.warn(path, message)

    def unknown_keys(self, mapping: Mapping[Any, Any], known: Collection[str], path: Path) -> None:
        for key in mapping:
            if key not in known:
                self.warn((*path, str(key)), "unknown key (ignored)")

    def fields(
        self,
        mapping: Mapping[Any, Any],
        path: Path,
        readers: Mapping[str, Reader],
        *,
        hints: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Read the keys ``readers`` knows; warn about the others. Invalid values are left out.

        ``hints`` maps a likely misplaced key to where it belongs.
        """
        result: dict[str, Any] = {}
        for key, raw in mapping.items():
            reader = readers.get(key) if isinstance(key, str) else None
            if reader is None:
                hint = (hints or {}).get(key) if isinstance(key, str) else None
                extra = f"; did you mean {hint}?" if hint else ""
                self.warn((*path, str(key)), f"unknown key (ignored){extra}")
                continue
            value = reader(self, raw, (*path, key))
            if value is not None:
                result[key] = value
        return result

    def resolve(self, text: str, path: Path) -> str:
        """``${VAR}`` replaced from the environment; an unset one stays as written."""
        return self._substitute(text, path)[0]

    def credential(self, value: Any, path: Path) -> str | Unresolved | None:
        """A string billing may send upstream (apiKey, baseURL, a header): while one
        of its variables is unset it is an Unresolved, never the literal text."""
        if not isinstance(value, str):
            self.error(path, f"must be a string, got {describe(value)}")
            return None
        result, missing = self._substitute(value, path, used=True)
        if missing:
            return Unresolved(value, missing, format_path(path))
        return result

    def _substitute(
        self, text: str, path: Path, *, used: bool = False
    ) -> tuple[str, tuple[str, ...]]:
        missing: list[str] = []

        def substitute(match: re.Match[str]) -> str:
            # As LibreChat: an empty variable counts as unset.
            value = self.environ.get(match.group(1))
            if not value:
                missing.append(match.group(1))
                return match.group(0)
            return value

        result = _ENV_REF.sub(substitute, text)
        for name in dict.fromkeys(missing):
            state = "is empty" if name in self.environ else "is not set"
            effect = (
                "billing cannot use this value (e.g. to fetch models) until it is set"
                if used
                else "kept as written"
            )
            self.warn(path, f"environment variable {name} {state}; {effect}")
        return result, tuple(dict.fromkeys(missing))

    def string(self, value: Any, path: Path, *, non_empty: bool = False) -> str | None:
        if not isinstance(value, str):
            self.error(path, f"must be a string, got {describe(value)}")
            return None
        result = self.resolve(value, path)
        if non_empty and not result.strip():
            self.error(path, "must not be empty")
            return None
        return result

    def boolean(self, value: Any, path: Path) -> bool | None:
        if not isinstance(value, bool):
            self.error(path, f"must be true or false, got {describe(value)}")
            return None
        return value

    def choice(self, value: Any, path: Path, options: Iterable[str]) -> str | None:
        text = self.string(value, path)
        allowed = tuple(options)
        if text is not None and text not in allowed:
            self.error(path, f"must be one of {', '.join(allowed)} (got {text!r})")
            return None
        return text

    def mapping(self, value: Any, path: Path) -> dict[Any, Any] | None:
        if not isinstance(value, dict):
            self.error(path, f"must be a mapping, got {describe(value)}")
            return None
        return value

    def string_list(
        self, value: Any, path: Path, *, non_empty: bool = False
    ) -> tuple[str, ...] | None:
        """A list of strings; an empty string in it is a warning and left out."""
        if not isinstance(value, list):
            self.error(path, f"must be a list of strings, got {describe(value)}")
            return None
        if non_empty and not value:
            self.error(path, "must not be empty")
            return None
        items = [self.string(item, (*path, i)) for i, item in enumerate(value)]
        if any(item is None for item in items):
            return None
        kept: list[str] = []
        for i, item in enumerate(items):
            if item is not None and not item.strip():
                self.warn((*path, i), "empty string (ignored)")
            elif item is not None:
                kept.append(item)
        return tuple(kept)

    def number(
        self,
        value: Any,
        path: Path,
        *,
        maximum: Decimal = MAX_RATE,
        positive: bool = False,
        places: int = MAX_PLACES,
        signed: bool = False,
    ) -> Decimal | None:
        """A Decimal in [0, maximum] ((0, maximum] when ``positive``, [-maximum,
        maximum] when ``signed``)."""
        if isinstance(value, bool) or not isinstance(value, int | Decimal | float):
            self.error(path, f"must be a number, got {describe(value)}")
            return None
        # The loader never produces floats; if one arrives, go through its repr.
        number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
        if not number.is_finite():
            self.error(path, "must be a finite number")
            return None
        if positive and number <= 0:
            self.error(path, "must be > 0")
            return None
        if number < 0 and not signed:
            self.error(path, "must be >= 0")
            return None
        if abs(number) > maximum:
            self.error(path, f"must be <= {maximum}" if number > 0 else f"must be >= {-maximum}")
            return None
        if number and number.normalize(_WIDE).as_tuple().exponent < -places:  # type: ignore[operator]
            self.error(path, f"must have at most {places} decimal places")
            return None
        return _canonical(number)

    def integer(self, value: Any, path: Path, *, minimum: int = 1, maximum: int) -> int | None:
        what = "a positive integer" if minimum == 1 else "an integer"
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(path, f"must be {what}, got {describe(value)}")
            return None
        if value < minimum:
            self.error(path, f"must be {what}" if minimum == 1 else f"must be >= {minimum}")
            return None
        if value > maximum:
            self.error(path, f"must be <= {maximum}")
            return None
        return value

    def free(self, value: Any, path: Path) -> Any:
        """Any YAML value (e.g. addParams), copied, with ``${VAR}`` resolved in its strings."""
        if isinstance(value, str):
            return self.resolve(value, path)
        if isinstance(value, dict):
            return {k: self.free(v, (*path, str(k))) for k, v in value.items()}
        if isinstance(value, list):
            return [self.free(v, (*path, i)) for i, v in enumerate(value)]
        if isinstance(value, float):
            return Decimal(str(value))
        return value


def _canonical(number: Decimal) -> Decimal:
    """Plain notation for whole numbers written with an exponent (2.5E+3 -> 2500), no -0."""
    if number.is_zero():
        return Decimal(0)
    if number.as_tuple().exponent > 0:  # type: ignore[operator]
        return number.quantize(Decimal(1), context=_WIDE)
    return number
