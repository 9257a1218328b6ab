"""NinjaTrader 8 ATI file formats: Order Instruction File lines and the outgoing information files.

Layout from NinjaTrader's help (integrations.md §2.1, sources [A1][A2][A3]): every OIF line has 13 fields
separated by 12 semicolons —
``COMMAND;ACCOUNT;INSTRUMENT;ACTION;QTY;ORDER TYPE;LIMIT PRICE;STOP PRICE;TIF;OCO ID;ORDER ID;STRATEGY;STRATEGY ID``;
prices in US decimal notation; ACTION ``BUY|SELL``; ORDER TYPE ``MARKET|LIMIT|STOP|STOPLIMIT``; TIF ``DAY|GTC``.
Outgoing files: ``<ORDER ID>.txt`` = ``OrderState;FilledAmount;AverageFillPrice``;
``<Instrument> <Exchange>_<Account>_Position.txt`` = ``LONG|SHORT|FLAT;Quantity;AverageEntryPrice``;
``<Connection>.txt`` = ``CONNECTED|DISCONNECTED``.

Our ORDER IDs are ``EA.`` + the hub's idempotency key with ``:`` written as ``+`` (file names on Windows may not
hold a colon), so an order id names its outgoing file and leads back to its key after a restart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from enigma_apex.domain.orders import OrderStatus, OrderType, Side, TimeInForce
from enigma_apex.domain.symbols import Contract, format_symbol

FIELDS = 13
ORDER_ID_PREFIX = "EA."

_TYPES = {
    OrderType.MARKET: "MARKET",
    OrderType.LIMIT: "LIMIT",
    OrderType.STOP: "STOP",
    OrderType.STOP_LIMIT: "STOPLIMIT",
}


def order_id(key: str) -> str:
    return ORDER_ID_PREFIX + key.replace(":", "+")


def key_of(order_id_: str) -> str | None:
    """The hub key of one of our order ids; None for an order id that is not ours."""
    if not order_id_.startswith(ORDER_ID_PREFIX):
        return None
    return order_id_[len(ORDER_ID_PREFIX) :].replace("+", ":")


def instrument_name(contract: Contract) -> str:
    return format_symbol(contract)  # NinjaTrader's "ROOT MM-YY"


def price_text(value: Decimal | None) -> str:
    """US decimal notation, never an exponent (``1E+4``) nor a comma."""
    if value is None:
        return ""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _line(*fields: str) -> str:
    if len(fields) != FIELDS:
        raise ValueError(f"an OIF line has {FIELDS} fields, got {len(fields)}")
    for field in fields:
        if ";" in field or "\n" in field or "\r" in field:
            raise ValueError(f"field {field!r} may not contain ';' or a line break")
    return ";".join(fields)


def place(
    account: str,
    contract: Contract,
    side: Side,
    quantity: int,
    order_type: OrderType,
    *,
    limit_price: Decimal | None = None,
    stop_price: Decimal | None = None,
    tif: TimeInForce = TimeInForce.DAY,
    oco: str = "",
    order: str = "",
    strategy: str = "",
    strategy_id: str = "",
) -> str:
    """``PLACE;<ACCOUNT>;<INSTRUMENT>;<ACTION>;<QTY>;<ORDER TYPE>;[LIMIT];[STOP];<TIF>;[OCO];[ORDER ID];[STRATEGY];``
    ``[STRATEGY ID]``"""
    if quantity <= 0:
        raise ValueError("quantity must be positive")
    return _line(
        "PLACE", account, instrument_name(contract), side.value.upper(), str(quantity), _TYPES[order_type],
        price_text(limit_price), price_text(stop_price), tif.value.upper(), oco, order, strategy, strategy_id,
    )  # fmt: skip


def cancel(order: str, strategy_id: str = "") -> str:
    """``CANCEL;;;;;;;;;;<ORDER ID>;;[STRATEGY ID]``"""
    return _line("CANCEL", "", "", "", "", "", "", "", "", "", order, "", strategy_id)


def change(
    order: str, *, quantity: int = 0, limit_price: Decimal | None = None, stop_price: Decimal | None = None
) -> str:
    """``CHANGE;;;;<QUANTITY>;;<LIMIT PRICE>;<STOP PRICE>;;;<ORDER ID>;;`` — 0 leaves a value unchanged."""
    limit = price_text(limit_price) if limit_price is not None else "0"
    stop = price_text(stop_price) if stop_price is not None else "0"
    return _line("CHANGE", "", "", "", str(quantity), "", limit, stop, "", "", order, "", "")


def close_position(account: str, contract: Contract) -> str:
    """``CLOSEPOSITION;<ACCOUNT>;<INSTRUMENT>;;;;;;;;;;`` — cancels that instrument's orders, then flattens it."""
    return _line("CLOSEPOSITION", account, instrument_name(contract), "", "", "", "", "", "", "", "", "", "")


def flatten_everything() -> str:
    """``FLATTENEVERYTHING;;;;;;;;;;;;`` — every account on every connection: only on the user's explicit request."""
    return _line("FLATTENEVERYTHING", "", "", "", "", "", "", "", "", "", "", "", "")


@dataclass(frozen=True, slots=True)
class Instruction:
    """One parsed OIF line (what NinjaTrader reads; the tests play NinjaTrader with it)."""

    command: str
    account: str
    instrument: str
    action: str
    quantity: int
    order_type: str
    limit_price: Decimal | None
    stop_price: Decimal | None
    tif: str
    oco: str
    order: str
    strategy: str
    strategy_id: str


def parse_line(line: str) -> Instruction:
    fields = line.rstrip("\r\n").split(";")
    if len(fields) != FIELDS:
        raise ValueError(f"an OIF line has {FIELDS} fields ({FIELDS - 1} semicolons), got {len(fields)}: {line!r}")

    def price(text: str) -> Decimal | None:
        return None if text in ("", "0") else Decimal(text)

    return Instruction(
        fields[0].upper(), fields[1], fields[2], fields[3].upper(), int(fields[4] or 0), fields[5].upper(),
        price(fields[6]), price(fields[7]), fields[8].upper(), fields[9], fields[10], fields[11], fields[12],
    )  # fmt: skip


# ---------------------------------------------------------------------- outgoing files
_STATES = {
    "filled": OrderStatus.FILLED,
    "partfilled": OrderStatus.PARTIALLY_FILLED,
    "partiallyfilled": OrderStatus.PARTIALLY_FILLED,
    "cancelled": OrderStatus.CANCELLED,
    "canceled": OrderStatus.CANCELLED,
    "rejected": OrderStatus.REJECTED,
    "initialized": OrderStatus.ACCEPTED,
    "submitted": OrderStatus.ACCEPTED,
    "accepted": OrderStatus.ACCEPTED,
    "working": OrderStatus.WORKING,
    "triggerpending": OrderStatus.WORKING,
    "changesubmitted": OrderStatus.WORKING,
    "changepending": OrderStatus.WORKING,
    "cancelpending": OrderStatus.WORKING,
    "cancelsubmitted": OrderStatus.WORKING,
    "suspended": OrderStatus.WORKING,
}


@dataclass(frozen=True, slots=True)
class OrderState:
    status: OrderStatus
    filled: int
    average_price: Decimal | None


def parse_order_state(text: str) -> OrderState:
    """``OrderState;FilledAmount;AverageFillPrice``; state names compared without case, spaces or underscores."""
    fields = text.strip().split(";")
    if len(fields) != 3:
        raise ValueError(f"order state file needs 3 fields, got {text!r}")
    name = re.sub(r"[\s_]", "", fields[0]).lower()
    if name not in _STATES:
        raise ValueError(f"unknown order state {fields[0]!r}")
    try:
        filled = int(fields[1] or 0)
        average = Decimal(fields[2]) if fields[2] not in ("", "0") else None
    except (ValueError, InvalidOperation):
        raise ValueError(f"bad numbers in order state {text!r}") from None
    return OrderState(_STATES[name], filled, average)


_POSITION_FILE = re.compile(
    r"^(?P<root>\S+) (?P<mm>\d\d)-?(?P<yy>\d\d) (?P<exchange>\S+)_(?P<account>.+)_Position\.txt$"
)


@dataclass(frozen=True, slots=True)
class PositionFile:
    instrument: str  # NinjaTrader notation, "MNQ 12-26"
    account: str
    quantity: int  # signed
    average_price: Decimal | None


def position_file_name(contract: Contract, account: str, exchange: str = "Globex") -> str:
    return f"{contract.root} {contract.month:02d}{contract.year % 100:02d} {exchange}_{account}_Position.txt"


def parse_position(name: str, text: str) -> PositionFile:
    found = _POSITION_FILE.match(name)
    if found is None:
        raise ValueError(f"not a position file name: {name!r}")
    fields = text.strip().split(";")
    if len(fields) != 3:
        raise ValueError(f"position file needs 3 fields, got {text!r}")
    direction = fields[0].strip().upper()
    if direction not in ("LONG", "SHORT", "FLAT"):
        raise ValueError(f"unknown market position {fields[0]!r}")
    quantity = 0 if direction == "FLAT" else int(fields[1]) * (1 if direction == "LONG" else -1)
    average = Decimal(fields[2]) if quantity and fields[2] not in ("", "0") else None
    instrument = f"{found['root']} {found['mm']}-{found['yy']}"
    return PositionFile(instrument, found["account"], quantity, average)


def is_position_file(name: str) -> bool:
    return name.endswith("_Position.txt")


__all__ = [
    "FIELDS",
    "Instruction",
    "OrderState",
    "PositionFile",
    "cancel",
    "change",
    "close_position",
    "flatten_everything",
    "instrument_name",
    "is_position_file",
    "key_of",
    "order_id",
    "parse_line",
    "parse_order_state",
    "parse_position",
    "place",
    "position_file_name",
    "price_text",
]
