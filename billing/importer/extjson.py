"""MongoDB extended JSON values (as written by `mongoexport`), decoded exactly.

Numbers: LibreChat stores amounts as JavaScript doubles. A double is turned
into a Decimal through its shortest round-trip text (``repr``), so
``-205.49999999999997`` stays exactly that; no arithmetic is ever done on the
float. ``$numberDecimal`` is a decimal already and is taken as written.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any


class ValueProblem(ValueError):
    """A field that cannot be decoded; the message names the field."""


def _wrapped(value: Any, key: str) -> Any:
    if isinstance(value, dict) and len(value) == 1 and key in value:
        return value[key]
    return None


def object_id(value: Any, field: str) -> str:
    """``{"$oid": "..."}`` or a plain string -> the id as text."""
    inner = _wrapped(value, "$oid")
    text = inner if inner is not None else value
    if not isinstance(text, str) or not text or len(text) > 200:
        raise ValueProblem(f"{field}: not an ObjectId or id string")
    return text


def optional_text(doc: dict[str, Any], field: str, max_length: int) -> str | None:
    value = doc.get(field)
    if value is None:
        return None
    if type(value) is str and len(value) <= max_length:  # the common case, fast
        return value or None
    inner = _wrapped(value, "$oid")
    if inner is not None:
        value = inner
    if not isinstance(value, str):
        raise ValueProblem(f"{field}: not a string")
    if len(value) > max_length:
        raise ValueProblem(f"{field}: longer than {max_length} characters")
    return value or None


def decimal_value(value: Any, field: str) -> Decimal:
    """A number in any extended-JSON spelling -> exact Decimal."""
    if isinstance(value, bool) or value is None:
        raise ValueProblem(f"{field}: not a number")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return _from_double_text(repr(value), field)
    if isinstance(value, dict) and len(value) == 1:
        ((key, inner),) = value.items()
        if key in ("$numberLong", "$numberInt") and isinstance(inner, str):
            try:
                return Decimal(int(inner))
            except ValueError:
                raise ValueProblem(f"{field}: bad {key} {inner!r}") from None
        if key == "$numberDouble" and isinstance(inner, str):
            # Canonical mode writes the double's text; normalise to the shortest repr.
            try:
                return _from_double_text(repr(float(inner)), field)
            except ValueError:
                raise ValueProblem(f"{field}: bad $numberDouble {inner!r}") from None
        if key == "$numberDecimal" and isinstance(inner, str):
            return _from_double_text(inner, field)
    raise ValueProblem(f"{field}: not a number")


def _from_double_text(text: str, field: str) -> Decimal:
    try:
        result = Decimal(text)
    except InvalidOperation:
        raise ValueProblem(f"{field}: {text!r} is not a number") from None
    if not result.is_finite():
        raise ValueProblem(f"{field}: NaN or infinity is not an amount")
    return result


def optional_decimal(doc: dict[str, Any], field: str) -> Decimal | None:
    value = doc.get(field)
    return None if value is None else decimal_value(value, field)


def whole_number(value: Decimal, field: str) -> int:
    if value != value.to_integral_value():
        raise ValueProblem(f"{field}: {value} is not a whole number")
    return int(value)


def date_value(value: Any, field: str) -> datetime:
    """``{"$date": ISO}``, ``{"$date": {"$numberLong": ms}}``, ``{"$date": ms}`` or ISO text."""
    inner = _wrapped(value, "$date")
    if inner is not None:
        value = inner
    if isinstance(value, dict):
        millis = _wrapped(value, "$numberLong")
        if not isinstance(millis, str):
            raise ValueProblem(f"{field}: not a date")
        try:
            value = int(millis)
        except ValueError:
            raise ValueProblem(f"{field}: bad $numberLong {millis!r}") from None
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            seconds, millis = divmod(value, 1000)
            return datetime.fromtimestamp(seconds, UTC) + timedelta(milliseconds=millis)
        except (OverflowError, OSError, ValueError):
            raise ValueProblem(f"{field}: date out of range") from None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueProblem(f"{field}: {value!r} is not an ISO date") from None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    raise ValueProblem(f"{field}: not a date")


def object_id_time(oid: str) -> datetime | None:
    """The creation second embedded in an ObjectId (first 4 bytes), if it is one."""
    if len(oid) != 24:
        return None
    try:
        return datetime.fromtimestamp(int(oid[:8], 16), UTC)
    except ValueError:
        return None
