"""TradingView alert bodies → one normalised alert, or the reason it is refused (pure).

TradingView posts the alert's message text: ``application/json`` when it parses as JSON, else ``text/plain``
(integrations.md §2.4 [W1]). Four shapes are read, each as its vendor documents it (the semantics table per vendor
is in docs/signals.md):

- **TradersPost JSON** [T1][T2][T3]: ``ticker``, ``action`` (``buy``/``sell``/``exit``/``add``/``cancel``),
  ``sentiment`` (``long``/``bullish``, ``short``/``bearish``, ``flat``: the strategy's position after the order,
  traderspost.io/reference/strategy-message/no-entry-sentiment and close-open-position), ``quantity`` (a partial
  exit when below the open position, traderspost.io/reference/strategy-message/exit-partial-position),
  ``price``/``signalPrice``, ``orderType`` (``market``/``limit``/``stop``/``stop_limit``) with ``limitPrice`` /
  ``stopPrice``, ``timeInForce``, ``stopLoss``/``takeProfit`` (``stopPrice``/``limitPrice`` as prices, ``amount``
  as a distance from the price, or ``percent``), ``time``.
- **PickMyTrade JSON** [P1][P2]: ``symbol``, ``data`` (``buy``/``sell``/``close``), ``quantity`` (``0`` with
  ``risk_percentage``: none), ``price``, ``order_type`` (``MKT``/``LMT``/``STP``/``STPLMT``), ``tp``/``sl`` (prices;
  ``0`` means none [P2]), ``dollar_tp``/``dollar_sl`` (a distance in dollars per contract; ``0``: none),
  ``reverse_order_close`` and ``duplicate_position_allow`` (how an opposite and a repeated signal treat the open
  position [P6]), ``date``; ``token`` (also inside ``multiple_accounts``) is a credential: never kept.
- **CrossTrade text** [C1][C2]: ``key=value;`` pairs with ATI field names (``command``, ``instrument``,
  ``action``, ``qty``, ``order_type``, ``limit_price``, ``stop_price``, ``tif``), the strategy sync fields
  ``market_position``, ``prev_market_position``, ``target_quantity``, ``sync_strategy`` (docs.crosstrade.io/webhooks/
  advanced-options/strategy-synchronization), ``require_market_position`` and ``flatten_first``
  (crosstrade.io/answers/faq/position-management). ``key`` (CrossTrade's secret) is never kept.
- **TradingView's default strategy message** (``{{strategy.order.action}} @ {{strategy.order.contracts}} filled on
  {{ticker}}. New strategy position is {{strategy.position_size}}``, TradingView article 43000481368): the signed
  new position.

Every JSON shape also reads TradingView's strategy placeholders under their own names when a user adds them
(``market_position``, ``market_position_size``, ``prev_market_position``, ``prev_market_position_size``,
``position_size``): the source's position after the order, which the planner (``planning/planner.py``) turns into
the account's target position.

Symbols may be continuous (``NQ1!``), explicit (``NQZ2026``, ``NQZ6``), NinjaTrader (``NQ 12-26``) or carry an
exchange prefix (``CME_MINI:NQ1!``); a contract past its last trading day is refused as expired. A
``{{placeholder}}`` left in the body means the alert was created where TradingView could not fill it: refused with
that name.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from enigma_apex.domain.orders import OrderType, TimeInForce
from enigma_apex.domain.signals import PositionSide, Reading, StrategyPosition
from enigma_apex.domain.symbols import Contract, is_expired, last_trade_date, parse_symbol
from enigma_apex.domain.values import Snap, is_on_tick, snap_to_tick, to_decimal
from enigma_apex.errors import InputError

Action = Literal["buy", "sell", "exit", "add", "cancel"]
Style = Literal["traderspost", "pickmytrade", "crosstrade", "strategy-message"]

# Field names whose values are credentials, at any depth of a payload (``signals.secret_fields`` adds more).
SECRET_FIELDS = frozenset({"token", "password", "secret", "api_key", "apikey", "key", "passphrase", "access_token"})
MASK = "***"

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
    "add": "add",
    "cancel": "cancel",
}
_SIDES: dict[str, PositionSide] = {
    "long": "long",
    "bullish": "long",
    "short": "short",
    "bearish": "short",
    "flat": "flat",
}
_ORDER_TYPES: dict[str, OrderType] = {
    "market": OrderType.MARKET,
    "mkt": OrderType.MARKET,
    "limit": OrderType.LIMIT,
    "lmt": OrderType.LIMIT,
    "stop": OrderType.STOP,
    "stp": OrderType.STOP,
    "stopmarket": OrderType.STOP,
    "stop_market": OrderType.STOP,
    "stoplimit": OrderType.STOP_LIMIT,
    "stop_limit": OrderType.STOP_LIMIT,
    "stplmt": OrderType.STOP_LIMIT,
}
_TIFS = {"day": TimeInForce.DAY, "gtc": TimeInForce.GTC}
_PLACEHOLDER = re.compile(r"\{\{\s*([^}]{1,60})\s*\}\}")
_DEFAULT_MESSAGE = re.compile(
    r"order\s+(?P<action>buy|sell)\s+@\s+(?P<qty>\d+)\s+filled\s+on\s+(?P<ticker>\S+?)\.?\s+"
    r"new\s+strategy\s+position\s+is\s+(?P<position>[-+]?\d+)",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Alert:
    style: Style
    ticker: str
    contract: Contract
    action: Action
    price: Decimal | None = None  # the price the alert was sent at (reference for sizing and relative levels)
    stop: Decimal | None = None
    target: Decimal | None = None
    quantity: int | None = None  # the alert's order size, in the source's contracts
    sent_at: datetime | None = None
    account: str | None = None
    comment: str = ""
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    tif: TimeInForce = TimeInForce.DAY
    position: StrategyPosition | None = None
    reading: Reading = Reading.ENTRY
    require_position: frozenset[PositionSide] = frozenset()
    raw: Any = field(default=None, compare=False)  # the payload as received, credentials masked (stored)

    def content_hash(self) -> str:
        """Equal alerts share it: what the alert asks for, not when it was sent."""
        position = self.position
        text = "|".join(
            str(part)
            for part in (
                self.style, self.contract, self.action, self.price, self.stop, self.target, self.quantity,
                self.order_type.value, self.limit_price, self.stop_price, self.tif.value,
                None if position is None else (position.side, position.size, position.prev_side, position.prev_size),
                self.reading.value, sorted(self.require_position),
            )
        )  # fmt: skip
        return hashlib.sha256(text.encode()).hexdigest()[:40]


@dataclass(frozen=True, slots=True)
class Refused:
    reason: str
    field: str | None = None


def parse_alert(body: bytes, *, today: date, secret_fields: Iterable[str] = SECRET_FIELDS) -> Alert | Refused:
    """Read one alert body. ``today`` resolves continuous symbols to a contract and decides what has expired."""
    secrets = frozenset(name.lower() for name in secret_fields) | SECRET_FIELDS
    alert = _parse(body, today, secrets)
    if isinstance(alert, Refused):
        return alert
    contract = alert.contract
    if is_expired(contract, today):
        return Refused(
            f"{alert.ticker!r} is the {contract} contract, expired on {last_trade_date(contract).isoformat()}: "
            f"send the current contract or a continuous symbol ({contract.root}1!)",
            "ticker",
        )
    tick = contract.spec.tick_size
    for name, value in (
        ("price", alert.price),
        ("stop", alert.stop),
        ("target", alert.target),
        ("limit price", alert.limit_price),
        ("stop price", alert.stop_price),
    ):
        if value is not None and not is_on_tick(value, tick):
            return Refused(f"{name} {value} is not on the {contract.root} tick of {tick}", name)
    entry = alert.limit_price or alert.stop_price or alert.price
    if alert.action in ("buy", "sell") and entry is not None:
        for name, value, below in (
            ("stop", alert.stop, alert.action == "buy"),
            ("target", alert.target, alert.action == "sell"),
        ):
            if value is not None and (value >= entry if below else value <= entry):
                return Refused(f"{name} {value} is on the wrong side of the price {entry} for a {alert.action}", name)
    return alert


def scrub(value: Any, secrets: frozenset[str] = SECRET_FIELDS) -> Any:
    """The payload with every credential's value masked, at any depth (objects inside lists included)."""
    if isinstance(value, dict):
        return {str(k): MASK if _normal(str(k)) in secrets else scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(item, secrets) for item in value]
    if isinstance(value, Decimal):
        return str(value)
    return value


def scrub_text(text: str, secrets: frozenset[str] = SECRET_FIELDS) -> str:
    """A body that is not JSON (or not readable) with ``name=value`` / ``"name": "value"`` credentials masked."""
    names = "|".join(re.escape(name) for name in sorted(secrets, key=len, reverse=True))
    pattern = re.compile(rf"""(["']?\b(?:{names})\b["']?\s*[=:]\s*["']?)[^;"',}}\s]*""", re.IGNORECASE)
    return pattern.sub(lambda m: m.group(1) + MASK, text)


def _normal(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def _parse(body: bytes, today: date, secrets: frozenset[str]) -> Alert | Refused:
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
        try:
            return _from_json(data, today, scrub(data, secrets))
        except _FieldError as bad:
            return Refused(bad.reason, bad.field)
    match = _DEFAULT_MESSAGE.search(text)
    if match:
        return _from_strategy_message(match, today, text)
    if "=" in text:
        try:
            return _from_crosstrade(text, today, secrets)
        except _FieldError as bad:
            return Refused(bad.reason, bad.field)
    return Refused(
        "unrecognised body: expected TradersPost or PickMyTrade JSON, CrossTrade key=value; text, "
        "or TradingView's strategy message"
    )


# ---------------------------------------------------------------- shapes
def _from_json(data: dict[str, Any], today: date, raw: Any) -> Alert | Refused:
    if "ticker" in data and "action" in data:
        return _traderspost(data, today, raw)
    if "symbol" in data and "data" in data:
        return _pickmytrade(data, today, raw)
    return Refused("JSON alert needs ticker + action (TradersPost) or symbol + data (PickMyTrade)")


def _traderspost(data: dict[str, Any], today: date, raw: Any) -> Alert | Refused:
    ticker = _text(data.get("ticker"))
    word = _text(data.get("action")).lower()
    if word in ("breakeven", "trail", "trailing_stop"):
        return Refused(f"action {word!r} (changing an open position's stop) is not supported", "action")
    action = _ACTIONS.get(word) if word in ("buy", "sell", "exit", "add", "cancel") else None
    if action is None:
        return Refused(f"action {data.get('action')!r} is not buy, sell, exit, add or cancel", "action")
    contract = _contract(ticker, today)
    if isinstance(contract, Refused):
        return contract
    tick = contract.spec.tick_size
    price = _price(data.get("price", data.get("signalPrice")))
    order_type, limit, stop_price = _order(
        data.get("orderType"), data.get("limitPrice"), data.get("stopPrice"), price, "orderType"
    )
    reference = limit or stop_price or price
    side = "buy" if action == "buy" else "sell"
    stop = _level(data.get("stopLoss"), reference, side, "stopPrice", "stopLoss", tick)
    target = _level(data.get("takeProfit"), reference, side, "limitPrice", "takeProfit", tick)
    sentiment = _text(data.get("sentiment")).lower()
    position = _position(data, sentiment or None, "sentiment")
    if action in ("exit", "cancel") and position is not None and position.side != "flat":
        position = None  # an exit closes whatever the sentiment says
    return Alert(
        "traderspost",
        ticker,
        contract,
        action,
        price,
        stop,
        target,
        _quantity(data.get("quantity")),
        _time(data.get("time", data.get("timestamp"))),
        comment=_text(data.get("message", data.get("comment", "")))[:255],
        order_type=order_type,
        limit_price=limit,
        stop_price=stop_price,
        tif=_tif(data.get("timeInForce"), "timeInForce"),
        position=position,
        reading=Reading.PARTIAL,
        raw=raw,
    )


def _pickmytrade(data: dict[str, Any], today: date, raw: Any) -> Alert | Refused:
    ticker = _text(data.get("symbol"))
    word = _text(data.get("data")).lower()
    action = _ACTIONS.get(word) if word in ("buy", "sell", "close", "exit", "flat") else None
    if action is None:
        return Refused(f"data {data.get('data')!r} is not buy, sell or close", "data")
    for name in ("update_tp", "update_sl"):
        if _flag(data.get(name), name):
            return Refused(f"{name} (changing an open position's bracket) is not supported", name)
    for name in ("trail", "trail_stop", "trail_trigger", "trail_freq"):
        if _price(data.get(name), name, zero_is_none=True) is not None:
            return Refused(f"{name}: trailing stops are not supported; send sl", name)
    contract = _contract(ticker, today)
    if isinstance(contract, Refused):
        return contract
    price = _price(data.get("price"), zero_is_none=True)
    order_type, limit, stop_price = _order(
        data.get("order_type"), data.get("limit_price"), data.get("stop_price"), price, "order_type"
    )
    reference = limit or stop_price or price
    side = "buy" if action == "buy" else "sell"
    stop = _price(data.get("sl"), "sl", zero_is_none=True)
    if stop is None:
        stop = _dollars(data.get("dollar_sl"), reference, side, True, contract, "dollar_sl")
    target = _price(data.get("tp"), "tp", zero_is_none=True)
    if target is None:
        target = _dollars(data.get("dollar_tp"), reference, side, False, contract, "dollar_tp")
    reverse_close = _flag(data.get("reverse_order_close", True), "reverse_order_close")
    pyramid = _flag(data.get("duplicate_position_allow", True), "duplicate_position_allow")
    reading = Reading.NET if not reverse_close else (Reading.ENTRY if pyramid else Reading.REPLACE)
    return Alert(
        "pickmytrade",
        ticker,
        contract,
        action,
        price,
        stop,
        target,
        _quantity(data.get("quantity"), zero_is_none=True),
        _time(data.get("date"), "date"),
        order_type=order_type,
        limit_price=limit,
        stop_price=stop_price,
        tif=_tif(data.get("tif", data.get("time_in_force")), "tif"),
        position=_position(data, None, "market_position"),
        reading=reading,
        raw=raw,
    )


def _from_crosstrade(text: str, today: date, secrets: frozenset[str]) -> Alert | Refused:
    pairs: dict[str, str] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        if "=" not in part:
            return Refused(f"{part.strip()!r} is not key=value")
        key, value = part.split("=", 1)
        pairs[_normal(key)] = value.strip()
    raw = {k: (MASK if k in secrets else v) for k, v in sorted(pairs.items())}
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
    elif command in ("cancelorders", "cancelallorders", "cancel"):
        action = "cancel"
    elif command in ("place", "flatplace"):
        read = (
            _ACTIONS.get(pairs.get("action", "").lower())
            if pairs.get("action", "").lower() in ("buy", "sell")
            else None
        )
        if read is None:
            return Refused(f"action {pairs.get('action')!r} is not BUY or SELL", "action")
        action = read
    else:
        return Refused(
            f"command {command.upper()} is not supported (PLACE, FLATPLACE, CLOSEPOSITION, FLATTEN, CANCELORDERS)",
            "command",
        )
    order_type, limit, stop_price = _order(
        pairs.get("order_type"), pairs.get("limit_price"), pairs.get("stop_price"), None, "order_type"
    )
    position = _position(pairs, None, "market_position")
    require: set[PositionSide] = set()
    for word in re.split(r"[/,|]", pairs.get("require_market_position", "")):
        if word.strip():
            side = _SIDES.get(word.strip().lower())
            if side is None:
                raise _FieldError(
                    f"require_market_position {word!r} is not flat, long or short", "require_market_position"
                )
            require.add(side)
    flatten_first = command == "flatplace" or _flag(pairs.get("flatten_first"), "flatten_first")
    _flag(pairs.get("sync_strategy"), "sync_strategy")  # the hub always plans to the strategy's position when sent
    return Alert(
        "crosstrade",
        ticker,
        contract,
        action,
        None,
        _price(pairs.get("stop_loss") or pairs.get("sl"), "stop_loss"),
        _price(pairs.get("take_profit") or pairs.get("tp"), "take_profit"),
        _quantity(pairs.get("qty") or pairs.get("quantity"), "qty"),
        None,
        pairs.get("account"),
        order_type=order_type,
        limit_price=limit,
        stop_price=stop_price,
        tif=_tif(pairs.get("tif"), "tif"),
        position=position,
        reading=Reading.REPLACE if flatten_first else Reading.NET,
        require_position=frozenset(require),
        raw=raw,
    )


def _from_strategy_message(match: re.Match[str], today: date, text: str) -> Alert | Refused:
    ticker = match["ticker"]
    contract = _contract(ticker, today)
    if isinstance(contract, Refused):
        return contract
    action: Action = "buy" if match["action"].lower() == "buy" else "sell"
    contracts = int(match["qty"])
    new = int(match["position"])
    previous = new - contracts if action == "buy" else new + contracts
    position = StrategyPosition(_signed_side(new), abs(new) or None, _signed_side(previous), abs(previous) or None)
    return Alert(
        "strategy-message",
        ticker,
        contract,
        action,
        quantity=contracts or None,
        position=position,
        raw={"message": text[:500]},
    )


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


def _contract(ticker: str, today: date) -> Contract | Refused:
    if not ticker:
        return Refused("the symbol is missing", "ticker")
    try:
        return parse_symbol(ticker, on=today)
    except (InputError, ValueError) as exc:
        return Refused(f"symbol {ticker!r}: {exc}", "ticker")


def _price(value: Any, field: str = "price", *, zero_is_none: bool = False) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        if isinstance(value, bool):
            raise _FieldError(f"{field} {value!r} is not a number", field)
        return None
    try:
        price = to_decimal(value)
    except (InputError, InvalidOperation):
        raise _FieldError(f"{field} {value!r} is not a finite number", field) from None
    if price == 0 and zero_is_none:
        return None  # PickMyTrade: "0 means none" [P2]
    if price <= 0:
        raise _FieldError(f"{field} {value} must be positive", field)
    return price


def _order(
    kind: Any, limit: Any, stop: Any, price: Decimal | None, field: str
) -> tuple[OrderType, Decimal | None, Decimal | None]:
    """The entry order: its type and prices. A limit without a limit price takes the alert's price."""
    word = _text(kind).lower().replace(" ", "")
    if not word:
        return OrderType.MARKET, None, None
    order_type = _ORDER_TYPES.get(word)
    if order_type is None:
        raise _FieldError(f"{field} {kind!r} is not market, limit, stop or stop_limit", field)
    limit_price = _price(limit, "limitPrice" if field == "orderType" else "limit_price", zero_is_none=True)
    stop_price = _price(stop, "stopPrice" if field == "orderType" else "stop_price", zero_is_none=True)
    if order_type is OrderType.MARKET:
        return order_type, None, None
    if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and limit_price is None:
        if price is None:
            raise _FieldError(f"a {order_type.value} entry needs a limit price (or the alert's price)", field)
        limit_price = price
    if order_type in (OrderType.STOP, OrderType.STOP_LIMIT) and stop_price is None:
        if price is None or order_type is OrderType.STOP_LIMIT:
            raise _FieldError(f"a {order_type.value} entry needs a stop price", field)
        stop_price = price
    return (
        order_type,
        limit_price if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None,
        stop_price if order_type in (OrderType.STOP, OrderType.STOP_LIMIT) else None,
    )


def _tif(value: Any, field: str) -> TimeInForce:
    word = _text(value).lower()
    if not word:
        return TimeInForce.DAY
    tif = _TIFS.get(word)
    if tif is None:
        raise _FieldError(f"time in force {value!r} is not supported here: day or gtc", field)
    return tif


def _level(value: Any, price: Decimal | None, side: str, absolute: str, field: str, tick: Decimal) -> Decimal | None:
    """A TradersPost stop or target: an absolute price, or a distance (amount / percent) from the price,
    snapped to the nearest tick."""
    if value is None or value == "":
        return None
    if not isinstance(value, dict):
        return _price(value, field)
    kind = _text(value.get("type")).lower()
    if kind in ("trailing_stop", "trailing"):
        raise _FieldError(f"{field}.type {kind!r}: trailing stops are not supported", field)
    if value.get(absolute) is not None:
        return _price(value.get(absolute), f"{field}.{absolute}")
    if value.get("amount") is not None:
        distance = _price(value.get("amount"), f"{field}.amount")
    elif value.get("percent") is not None:
        pct = _price(value.get("percent"), f"{field}.percent")
        distance = None if pct is None or price is None else price * pct / 100
    else:
        raise _FieldError(f"{field} needs {absolute}, amount or percent", field)
    if price is None:
        raise _FieldError(f"{field} is relative (amount/percent) but the alert has no price", field)
    if distance is None:
        return None
    below = (side == "buy") == (field == "stopLoss")  # a long's stop and a short's target sit below the price
    return snap_to_tick(price - distance if below else price + distance, tick, Snap.NEAREST)


def _dollars(
    value: Any, price: Decimal | None, side: str, is_stop: bool, contract: Contract, field: str
) -> Decimal | None:
    """A PickMyTrade dollar stop or target: dollars per contract from the price, as a price on the tick."""
    amount = _price(value, field, zero_is_none=True)
    if amount is None:
        return None
    if price is None:
        raise _FieldError(f"{field} is a distance from the price, but the alert has no price", field)
    distance = amount / contract.spec.point_value
    below = (side == "buy") == is_stop
    level = snap_to_tick(price - distance if below else price + distance, contract.spec.tick_size, Snap.NEAREST)
    if level <= 0:
        raise _FieldError(f"{field} {amount} puts the level at or below zero", field)
    return level


def _whole(value: Any, field: str) -> int | None:
    """A whole number, as JSON or text (``"2"``, ``-1``); None when absent. Booleans are not numbers."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise _FieldError(f"{field} {value!r} is not a number", field)
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise _FieldError(f"{field} {value!r} is not a number", field) from None
    if not number.is_finite() or number != number.to_integral_value() or abs(number) > 10_000:
        raise _FieldError(f"{field} {value} must be a whole number", field)
    return int(number)


def _quantity(value: Any, field: str = "quantity", *, zero_is_none: bool = False) -> int | None:
    number = _whole(value, field)
    if number is None or (number == 0 and zero_is_none):
        return None  # PickMyTrade's 0: sized by risk_percentage
    if not 1 <= number <= 1000:
        raise _FieldError(f"{field} {value} must be a whole number from 1 to 1000", field)
    return number


def _size(value: Any, field: str) -> int | None:
    """A position size (``{{strategy.position_size}}`` is signed: its magnitude)."""
    number = _whole(value, field)
    return None if number is None else abs(number)


def _side(value: Any, field: str) -> PositionSide | None:
    word = _text(value).lower()
    if not word:
        return None
    side = _SIDES.get(word)
    if side is None:
        raise _FieldError(f"{field} {value!r} is not long, short or flat", field)
    return side


def _signed_side(quantity: int) -> PositionSide:
    return "long" if quantity > 0 else ("short" if quantity < 0 else "flat")


def _position(data: dict[str, Any], side_word: str | None, field: str) -> StrategyPosition | None:
    """The source's position after the order, from TradingView's strategy placeholders when present."""
    side = _side(side_word, field) if side_word is not None else _side(data.get("market_position"), "market_position")
    signed = _whole(data.get("position_size"), "position_size")
    if side is None and signed is not None:
        side = _signed_side(signed)
    if side is None:
        return None
    size = _size(
        data.get("market_position_size", data.get("target_quantity", data.get("position_size"))), "market_position_size"
    )
    if side == "flat":
        size = None
    prev_side = _side(data.get("prev_market_position"), "prev_market_position")
    prev_size = _size(data.get("prev_market_position_size"), "prev_market_position_size")
    if prev_side == "flat":
        prev_size = None
    return StrategyPosition(side, size, prev_side, prev_size)


def _flag(value: Any, field: str) -> bool:
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in ("true", "1", "yes", "on"):
        return True
    if word in ("false", "0", "no", "off"):
        return False
    raise _FieldError(f"{field} {value!r} is not true or false", field)


def _time(value: Any, field: str = "time") -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise _FieldError(f"{field} {value!r} is not a time", field)
    if isinstance(value, int | Decimal) or (isinstance(value, str) and value.strip().isdigit()):
        seconds = Decimal(str(value).strip())
        if seconds > 10**11:  # milliseconds
            seconds /= 1000
        try:
            return datetime.fromtimestamp(float(seconds), UTC)
        except (OverflowError, OSError, ValueError):
            raise _FieldError(f"{field} {value!r} is not a time", field) from None
    try:
        moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise _FieldError(f"{field} {value!r} is not an ISO 8601 time or epoch number", field) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


__all__ = ["MASK", "SECRET_FIELDS", "Alert", "Refused", "parse_alert", "scrub", "scrub_text"]
