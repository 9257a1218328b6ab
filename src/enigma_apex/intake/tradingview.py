"""TradingView alert bodies → one normalised alert, or the reason it is refused (pure).

TradingView posts the alert's message text: ``application/json`` when it parses as JSON, else
``text/plain`` (integrations.md §2.4 [W1]). Four shapes are read:

- **TradersPost JSON**: ``ticker``, ``action`` (``buy``/``sell``/``exit``), optional ``sentiment``
  (``flat`` turns a buy/sell into an exit), ``price``/``signalPrice``, ``quantity``, ``stopLoss`` and
  ``takeProfit`` (objects with ``stopPrice``/``limitPrice`` as prices, ``amount`` as a distance from
  the price, or ``percent``), ``time`` [T1][T2][T3][T8].
- **PickMyTrade JSON**: ``symbol``, ``data`` (``buy``/``sell``/``close``), ``quantity``, ``price``,
  ``sl``/``tp`` (prices), ``date`` (also its duplicate key) [P1][P2].
- **CrossTrade text**: ``key=value;`` pairs with ATI field names (``command``, ``instrument``,
  ``action``, ``qty``, ``order_type``, ``limit_price``, ``stop_price``, ``account``) [C1][C2]. A ``key``
  pair (CrossTrade's secret) is dropped, never stored.
- **TradingView's default strategy message** (``{{strategy.order.action}}`` template): ``order buy @ 2
  filled on NQ1!. New strategy position is 2`` — a new position of 0 is an exit.

Symbols may be continuous (``NQ1!``), explicit (``NQZ2026``, ``NQZ6``), NinjaTrader (``NQ 12-26``) or
carry an exchange prefix (``CME_MINI:NQ1!``). A ``{{placeholder}}`` left in the body means the alert
was created where TradingView could not fill it: refused with that name.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from enigma_apex.domain.symbols import Contract, parse_symbol
from enigma_apex.domain.values import Snap, is_on_tick, snap_to_tick, to_decimal
from enigma_apex.errors import InputError

Action = Literal["buy", "sell", "exit"]
MAX_BODY_BYTES = 16 * 1024

_ACTIONS: dict[str, Action] = {
    "buy": "buy",
    "long": "buy",
    "sell": "sell",
    "short": "sell",
    "exit": "exit",
    "close": "exit",
    "flat": "exit",
    "closeposition": "exit",
    "flatten": "exit",
}
_PLACEHOLDER = re.compile(r"\{\{\s*([^}]{1,60})\s*\}\}")
_DEFAULT_MESSAGE = re.compile(
    r"order\s+(?P<action>buy|sell)\s+@\s+(?P<qty>\d+)\s+filled\s+on\s+(?P<ticker>\S+?)\.?\s+"
    r"new\s+strategy\s+position\s+is\s+(?P<position>-?\d+)",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Alert:
    style: Literal["traderspost", "pickmytrade", "crosstrade", "strategy-message"]
    ticker: str
    contract: Contract
    action: Action
    price: Decimal | None = None
    stop: Decimal | None = None
    target: Decimal | None = None
    quantity: int | None = None
    sent_at: datetime | None = None
    account: str | None = None
    comment: str = ""
    fields: tuple[tuple[str, str], ...] = ()  # what was read, secrets removed (stored with the signal)

    def dedup_key(self, received_at: datetime, window: timedelta) -> str:
        """Equal alerts share a key: by their own timestamp when they carry one, else within ``window``."""
        when = (
            self.sent_at.isoformat()
            if self.sent_at is not None
            else str(int(received_at.timestamp() // max(window.total_seconds(), 1)))
        )
        text = "|".join([self.style, str(self.contract), self.action, str(self.price), str(self.quantity), when])
        return "tv:" + hashlib.sha256(text.encode()).hexdigest()[:40]


@dataclass(frozen=True, slots=True)
class Refused:
    reason: str
    field: str | None = None


def parse_alert(body: bytes, *, today: date) -> Alert | Refused:
    """Read one alert body. ``today`` resolves continuous symbols to a contract."""
    alert = _parse(body, today)
    if isinstance(alert, Refused):
        return alert
    tick = alert.contract.spec.tick_size
    for name, value in (("price", alert.price), ("stop", alert.stop), ("target", alert.target)):
        if value is not None and not is_on_tick(value, tick):
            return Refused(f"{name} {value} is not on the {alert.contract.root} tick of {tick}", name)
    if alert.action != "exit" and alert.price is not None:
        for name, value, below in (
            ("stop", alert.stop, alert.action == "buy"),
            ("target", alert.target, alert.action == "sell"),
        ):
            if value is not None and (value >= alert.price if below else value <= alert.price):
                return Refused(
                    f"{name} {value} is on the wrong side of the price {alert.price} for a {alert.action}", name
                )
    return alert


def _parse(body: bytes, today: date) -> Alert | Refused:
    if len(body) > MAX_BODY_BYTES:
        return Refused(f"body of {len(body)} bytes is over the {MAX_BODY_BYTES}-byte limit")
    try:
        text = body.decode("utf-8").strip()
    except UnicodeDecodeError:
        return Refused("body is not UTF-8 text")
    if not text:
        return Refused("empty body")
    placeholder = _PLACEHOLDER.search(text)
    if placeholder:
        return Refused(
            f"the alert still holds the placeholder {{{{{placeholder.group(1).strip()}}}}}: TradingView could "
            "not fill it where the alert was created"
        )
    if text.startswith("{"):
        try:
            data = json.loads(text, parse_float=Decimal, parse_constant=_no_constant)
        except (ValueError, _ConstantError) as exc:
            return Refused(f"invalid JSON: {exc}")
        if not isinstance(data, dict):
            return Refused("the JSON body must be an object")
        return _from_json(data, today)
    match = _DEFAULT_MESSAGE.search(text)
    if match:
        return _from_strategy_message(match, today)
    if "=" in text:
        return _from_crosstrade(text, today)
    return Refused(
        "unrecognised body: expected TradersPost or PickMyTrade JSON, CrossTrade key=value; text, "
        "or TradingView's strategy message"
    )


# ---------------------------------------------------------------- shapes
def _from_json(data: dict[str, Any], today: date) -> Alert | Refused:
    if "ticker" in data and "action" in data:
        return _traderspost(data, today)
    if "symbol" in data and "data" in data:
        return _pickmytrade(data, today)
    return Refused("JSON alert needs ticker + action (TradersPost) or symbol + data (PickMyTrade)")


def _traderspost(data: dict[str, Any], today: date) -> Alert | Refused:
    ticker = _text(data.get("ticker"))
    action = _action(data.get("action"))
    if action is None:
        return Refused(f"action {data.get('action')!r} is not buy, sell or exit", "action")
    if str(data.get("sentiment", "")).strip().lower() == "flat":
        action = "exit"
    contract = _contract(ticker, today)
    if isinstance(contract, Refused):
        return contract
    try:
        price = _price(data.get("price", data.get("signalPrice")))
        tick = contract.spec.tick_size
        stop = _level(data.get("stopLoss"), price, action, "stopPrice", "stop", tick)
        target = _level(data.get("takeProfit"), price, action, "limitPrice", "target", tick)
        quantity = _quantity(data.get("quantity"))
        sent_at = _time(data.get("time", data.get("timestamp")))
    except _FieldError as bad:
        return Refused(bad.reason, bad.field)
    return Alert(
        "traderspost",
        ticker,
        contract,
        action,
        price,
        stop,
        target,
        quantity,
        sent_at,
        comment=_text(data.get("message", data.get("comment", "")))[:255],
        fields=_fields(data),
    )


def _pickmytrade(data: dict[str, Any], today: date) -> Alert | Refused:
    ticker = _text(data.get("symbol"))
    action = _action(data.get("data"))
    if action is None:
        return Refused(f"data {data.get('data')!r} is not buy, sell or close", "data")
    contract = _contract(ticker, today)
    if isinstance(contract, Refused):
        return contract
    try:
        price = _price(data.get("price"))
        stop = _price(data.get("sl"), "sl")
        target = _price(data.get("tp"), "tp")
        quantity = _quantity(data.get("quantity"))
        sent_at = _time(data.get("date"), "date")
    except _FieldError as bad:
        return Refused(bad.reason, bad.field)
    fields = tuple((k, v) for k, v in _fields(data) if k != "token")  # PickMyTrade's own credential
    return Alert("pickmytrade", ticker, contract, action, price, stop, target, quantity, sent_at, fields=fields)


def _from_crosstrade(text: str, today: date) -> Alert | Refused:
    pairs: dict[str, str] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        if "=" not in part:
            return Refused(f"{part.strip()!r} is not key=value")
        key, value = part.split("=", 1)
        pairs[key.strip().lower()] = value.strip()
    pairs.pop("key", None)  # CrossTrade's secret: never kept
    command = pairs.get("command", "place").lower()
    ticker = pairs.get("instrument", "")
    if not ticker:
        return Refused("instrument is missing", "instrument")
    contract = _contract(ticker, today)
    if isinstance(contract, Refused):
        return contract
    action: Action
    if command in ("closeposition", "flatten", "close"):
        action = "exit"
    elif command == "place":
        read = _action(pairs.get("action"))
        if read is None:
            return Refused(f"action {pairs.get('action')!r} is not BUY or SELL", "action")
        action = read
    else:
        return Refused(f"command {command.upper()} is not supported (PLACE, CLOSEPOSITION, FLATTEN)", "command")
    try:
        quantity = _quantity(pairs.get("qty") or pairs.get("quantity"), "qty")
        order_type = pairs.get("order_type", "market").lower()
        price = _price(pairs.get("limit_price"), "limit_price") if order_type == "limit" else None
        stop = _price(pairs.get("stop_loss") or pairs.get("sl"), "stop_loss")
        target = _price(pairs.get("take_profit") or pairs.get("tp"), "take_profit")
    except _FieldError as bad:
        return Refused(bad.reason, bad.field)
    fields = tuple(sorted(pairs.items()))
    account = pairs.get("account")
    return Alert("crosstrade", ticker, contract, action, price, stop, target, quantity, None, account, fields=fields)


def _from_strategy_message(match: re.Match[str], today: date) -> Alert | Refused:
    ticker = match["ticker"]
    contract = _contract(ticker, today)
    if isinstance(contract, Refused):
        return contract
    position = int(match["position"])
    action: Action = "exit" if position == 0 else ("buy" if match["action"].lower() == "buy" else "sell")
    fields = (("action", match["action"].lower()), ("contracts", match["qty"]), ("position", match["position"]))
    return Alert("strategy-message", ticker, contract, action, quantity=int(match["qty"]) or None, fields=fields)


# ---------------------------------------------------------------- fields
class _FieldError(Exception):
    def __init__(self, reason: str, field: str | None) -> None:
        super().__init__(reason)
        self.reason, self.field = reason, field


class _ConstantError(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _ConstantError(f"{name} is not a number")


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _action(value: Any) -> Action | None:
    return _ACTIONS.get(_text(value).lower())


def _contract(ticker: str, today: date) -> Contract | Refused:
    if not ticker:
        return Refused("the symbol is missing", "ticker")
    try:
        return parse_symbol(ticker, on=today)
    except (InputError, ValueError) as exc:
        return Refused(f"symbol {ticker!r}: {exc}", "ticker")


def _price(value: Any, field: str = "price") -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        price = to_decimal(value)
    except (InputError, InvalidOperation):
        raise _FieldError(f"{field} {value!r} is not a finite number", field) from None
    if price <= 0:
        raise _FieldError(f"{field} {value} must be positive", field)
    return price


def _level(
    value: Any, price: Decimal | None, action: Action, absolute: str, field: str, tick: Decimal
) -> Decimal | None:
    """A TradersPost stop or target: an absolute price, or a distance (amount / percent) from the price,
    snapped to the nearest tick."""
    if value is None or value == "":
        return None
    if not isinstance(value, dict):
        return _price(value, field)
    if value.get(absolute) is not None:
        return _price(value.get(absolute), f"{field}.{absolute}")
    if price is None:
        raise _FieldError(f"{field} is relative (amount/percent) but the alert has no price", field)
    if value.get("amount") is not None:
        distance = _price(value.get("amount"), f"{field}.amount")
    elif value.get("percent") is not None:
        pct = _price(value.get("percent"), f"{field}.percent")
        distance = None if pct is None else price * pct / 100
    else:
        raise _FieldError(f"{field} needs {absolute}, amount or percent", field)
    if distance is None:
        return None
    below = (action == "buy") == (field == "stop")  # a long's stop and a short's target sit below the price
    return snap_to_tick(price - distance if below else price + distance, tick, Snap.NEAREST)


def _quantity(value: Any, field: str = "quantity") -> int | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise _FieldError(f"{field} {value!r} is not a number", field) from None
    if number != number.to_integral_value() or number <= 0 or number > 1000:
        raise _FieldError(f"{field} {value} must be a whole number from 1 to 1000", field)
    return int(number)


def _time(value: Any, field: str = "time") -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, int | Decimal) or (isinstance(value, str) and value.strip().isdigit()):
        seconds = Decimal(str(value))
        if seconds > 10**11:  # milliseconds
            seconds /= 1000
        return datetime.fromtimestamp(float(seconds), UTC)
    try:
        moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise _FieldError(f"{field} {value!r} is not an ISO 8601 time or epoch number", field) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _fields(data: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k)[:40], str(v)[:200]) for k, v in data.items()))
