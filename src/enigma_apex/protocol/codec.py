"""Decode and encode frames (pure, sans-I/O): text in, a message or a ``ProtocolError`` out.

``decode`` never raises on bad input: every problem becomes a ``ProtocolError`` with a stable code,
a sentence and the JSON path of the bad field, so the transport can answer with an ``error`` message
and keep the connection open.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter, ValidationError

from enigma_apex.protocol.messages import TYPES, VERSION, AnyMessage, Message

MAX_FRAME_BYTES = 64 * 1024

_ADAPTER: TypeAdapter[Message] = TypeAdapter(AnyMessage)


class ErrorCode:
    TOO_LARGE = "TOO_LARGE"
    BAD_JSON = "BAD_JSON"
    NOT_AN_OBJECT = "NOT_AN_OBJECT"
    UNSUPPORTED_VERSION = "UNSUPPORTED_VERSION"
    UNKNOWN_TYPE = "UNKNOWN_TYPE"
    INVALID = "INVALID"
    FORBIDDEN = "FORBIDDEN"
    AUTH_REQUIRED = "AUTH_REQUIRED"
    AUTH_FAILED = "AUTH_FAILED"
    UNKNOWN_ACCOUNT = "UNKNOWN_ACCOUNT"
    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
    BAD_PRICE = "BAD_PRICE"
    RATE_LIMITED = "RATE_LIMITED"
    DUPLICATE = "DUPLICATE"
    NOT_PENDING = "NOT_PENDING"
    IN_USE = "IN_USE"
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL = "INTERNAL"


@dataclass(frozen=True, slots=True)
class ProtocolError:
    code: str
    message: str
    path: str | None = None
    ref: str | None = None
    kind: str | None = None  # the message type, when the frame named a known one


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _path(loc: tuple[Any, ...]) -> str:
    out = "$"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def decode(frame: str | bytes, max_bytes: int = MAX_FRAME_BYTES) -> Message | ProtocolError:
    """Text in; a message, or the problem with the frame. Types are exactly the JSON Schemas' (strict: ``true`` is
    not a number, a time is an ISO-8601 string, ``"3"`` is not an integer); money and prices may be JSON numbers
    or decimal strings. A string that cannot be encoded (a lone surrogate escape) is INVALID at its path."""
    size = len(frame.encode("utf-8", "surrogatepass") if isinstance(frame, str) else frame)
    if size > max_bytes:
        return ProtocolError(ErrorCode.TOO_LARGE, f"frame of {size} bytes is over the {max_bytes}-byte limit")
    try:
        data = json.loads(frame, parse_float=Decimal, parse_constant=_reject_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return ProtocolError(ErrorCode.BAD_JSON, f"invalid JSON: {exc}")
    except (ValueError, RecursionError) as exc:
        return ProtocolError(ErrorCode.BAD_JSON, f"invalid JSON: {exc}")
    if not isinstance(data, dict):
        return ProtocolError(ErrorCode.NOT_AN_OBJECT, "a message is a JSON object")
    raw_id = data.get("id")
    ref = raw_id if isinstance(raw_id, str) and _encodable(raw_id) and 0 < len(raw_id) <= 64 else None
    bad = _unencodable(data, "$")
    if bad is not None:
        return ProtocolError(ErrorCode.INVALID, f"{bad}: text that cannot be encoded (a lone surrogate)", bad, ref)
    if data.get("v") != VERSION or isinstance(data.get("v"), bool):
        return ProtocolError(ErrorCode.UNSUPPORTED_VERSION, f"protocol version must be {VERSION}", "$.v", ref)
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in TYPES:
        return ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {kind!r}"[:200], "$.type", ref)
    try:
        return _ADAPTER.validate_json(frame, strict=True)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = tuple(first["loc"])[1:] if first["loc"] and first["loc"][0] == kind else tuple(first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "unknown field"
        count = len(exc.errors())
        more = f" (and {count - 1} more problem(s))" if count > 1 else ""
        return ProtocolError(ErrorCode.INVALID, f"{_path(loc)}: {message}{more}", _path(loc), ref, kind)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _unencodable(value: Any, path: str) -> str | None:
    """The JSON path of the first string (key or value) that UTF-8 cannot encode, or None."""
    if isinstance(value, str):
        return None if _encodable(value) else path
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if _encodable(key) else path
            if not _encodable(key):
                return where
            found = _unencodable(item, where)
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = _unencodable(item, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def encode(message: Message) -> str:
    return message.model_dump_json(exclude_none=True)


def error_message(error: ProtocolError, message_id: str, ts: Any) -> Message:
    from enigma_apex.protocol.messages import Error

    return Error(id=message_id, ts=ts, code=error.code, message=error.message[:500], path=error.path, ref=error.ref)


def json_schemas() -> dict[str, dict[str, Any]]:
    """One JSON Schema per message type (for docs/schema/ and other teams' clients)."""
    return {name: cls.model_json_schema() for name, cls in TYPES.items()}
