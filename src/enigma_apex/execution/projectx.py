"""The ProjectX Gateway API's wire values: REST bodies, enums and real-time payloads (no I/O).

References (gateway.docs.projectx.com):

- [X1] Getting started / Connection URLs: REST ``https://gateway-api-demo.s2f.projectx.com``, user hub
  ``https://gateway-rtc-demo.s2f.projectx.com/hubs/user``, market hub ``…/hubs/market``; each firm runs its own
  (TopstepX: ``https://api.topstepx.com``, ``https://rtc.topstepx.com/hubs/…``).
- [X2] Authenticate (API key): ``POST /api/Auth/loginKey`` ``{userName, apiKey}`` → ``{token, success,
  errorCode, errorMessage}``; the session token lives 24 hours; ``POST /api/Auth/validate`` → ``newToken``.
- [X3] Every answer carries ``success`` / ``errorCode`` (0 = success) / ``errorMessage``; a refusal is HTTP 200
  with ``success: false``.
- [X4] Rate limits: 200 requests / 60 s (``/api/History/retrieveBars`` 50 / 30 s); above them HTTP 429.
- [X5] Accounts: ``POST /api/Account/search`` ``{onlyActiveAccounts}`` → ``accounts[{id, name, balance,
  canTrade, isVisible}]``. Contracts: ``POST /api/Contract/search`` ``{searchText, live}`` →
  ``contracts[{id, name, tickSize, tickValue, activeContract}]``; ``/api/Contract/searchById``.
- [X6] Orders: ``POST /api/Order/place`` ``{accountId, contractId, type, side, size, limitPrice, stopPrice,
  customTag, stopLossBracket {ticks, type}, takeProfitBracket {ticks, type}}`` → ``orderId``; ``type`` 1 Limit,
  2 Market, 3 StopLimit, 4 Stop, 5 TrailingStop; ``side`` 0 bid (buy), 1 ask (sell); ``customTag`` unique per
  account; bracket ticks count from the fill, signed (a long's stop below: negative). ``/api/Order/cancel``
  ``{accountId, orderId}``, ``/api/Order/modify`` ``{accountId, orderId, size, limitPrice, stopPrice}``,
  ``/api/Order/searchOpen`` ``{accountId}`` → ``orders[]``.
- [X7] Positions: ``/api/Position/searchOpen`` ``{accountId}`` → ``positions[{id, accountId, contractId,
  type (1 long, 2 short), size, averagePrice}]``; ``/api/Position/closeContract`` ``{accountId, contractId}``.
  Trades: ``/api/Trade/search`` ``{accountId, startTimestamp}`` → ``trades[{id, orderId, price, profitAndLoss,
  fees, side, size, voided}]``.
- [X8] Real-time: SignalR over WebSocket (JSON hub protocol). User hub: ``SubscribeAccounts``,
  ``SubscribeOrders`` / ``SubscribePositions`` / ``SubscribeTrades`` (accountId); events ``GatewayUserAccount``,
  ``GatewayUserOrder`` (``status`` 0 none, 1 open, 2 filled, 3 cancelled, 4 expired, 5 rejected, 6 pending),
  ``GatewayUserPosition``, ``GatewayUserTrade``. Market hub: ``SubscribeContractQuotes`` (contractId); event
  ``GatewayQuote`` (contractId, ``{lastPrice, bestBid, bestAsk, …}``).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from enigma_apex.domain.orders import Bracket, OrderStatus, OrderType, Side
from enigma_apex.domain.symbols import Contract, Notation, format_symbol

TOKEN_LIFETIME_S = 24 * 3600  # [X2]
RATE_LIMIT = (200, 60)  # requests per seconds [X4]

TYPES = {OrderType.LIMIT: 1, OrderType.MARKET: 2, OrderType.STOP_LIMIT: 3, OrderType.STOP: 4}  # [X6]
ORDER_TYPES = {v: k for k, v in TYPES.items()}
BUY, SELL = 0, 1
LONG, SHORT = 1, 2
STATUS = {  # [X8]
    1: OrderStatus.WORKING,
    2: OrderStatus.FILLED,
    3: OrderStatus.CANCELLED,
    4: OrderStatus.EXPIRED,
    5: OrderStatus.REJECTED,
    6: OrderStatus.ACCEPTED,
}
STATUS_CODES = {
    OrderStatus.ACCEPTED: 6,
    OrderStatus.WORKING: 1,
    OrderStatus.PARTIALLY_FILLED: 1,
    OrderStatus.FILLED: 2,
    OrderStatus.CANCELLED: 3,
    OrderStatus.EXPIRED: 4,
    OrderStatus.REJECTED: 5,
}


def contract_name(contract: Contract) -> str:
    """ProjectX names contracts like CME with a one-digit year (``MNQZ6``) [X5]."""
    return format_symbol(contract, Notation.CME_SHORT)


def side_code(side: Side) -> int:
    return BUY if side is Side.BUY else SELL


def side_of(code: int) -> Side:
    return Side.BUY if code == BUY else Side.SELL


def decimal_of(value: Any) -> Decimal:
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))


def ticks(reference: Decimal, level: Decimal, tick_size: Decimal) -> int:
    """Signed ticks from the entry's price to a stop or target: above is positive, below negative [X6]."""
    count = max(1, math.floor(abs(level - reference) / tick_size + Decimal("0.5")))
    return count if level > reference else -count


def place_body(account_id: int, contract_id: str, key: str, side: Side, quantity: int, order_type: OrderType,
               limit_price: Decimal | None, stop_price: Decimal | None) -> dict[str, Any]:  # fmt: skip
    body: dict[str, Any] = {
        "accountId": account_id, "contractId": contract_id, "type": TYPES[order_type], "side": side_code(side),
        "size": quantity, "customTag": key,
    }  # fmt: skip
    if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        body["limitPrice"] = float(limit_price or 0)
    if order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
        body["stopPrice"] = float(stop_price or 0)
    return body


def bracket_fields(bracket: Bracket, reference: Decimal, tick_size: Decimal) -> dict[str, Any]:
    """``stopLossBracket`` (a stop order) and ``takeProfitBracket`` (a limit order) in signed ticks [X6]."""
    fields: dict[str, Any] = {}
    if bracket.stop is not None:
        fields["stopLossBracket"] = {"ticks": ticks(reference, bracket.stop, tick_size), "type": TYPES[OrderType.STOP]}
    if bracket.target is not None:
        fields["takeProfitBracket"] = {"ticks": ticks(reference, bracket.target, tick_size),
                                       "type": TYPES[OrderType.LIMIT]}  # fmt: skip
    return fields


def failure(body: Any) -> str | None:
    """``success: false`` as a sentence [X3]; None when fine."""
    if not isinstance(body, dict):
        return "no answer body"
    if body.get("success") is False or body.get("errorCode") not in (0, None):
        return str(body.get("errorMessage") or f"error code {body.get('errorCode')}")
    return None


def status_of(code: Any) -> OrderStatus | None:
    return STATUS.get(int(code)) if isinstance(code, int | float) else None


def unwrap(payload: Any) -> dict[str, Any] | None:
    """A real-time event's object (some hubs send ``{action, data}``, others the object itself) [X8]."""
    if isinstance(payload, dict) and isinstance(payload.get("data"), dict) and "action" in payload:
        data: dict[str, Any] = payload["data"]
        return data
    return payload if isinstance(payload, dict) else None


__all__ = [
    "BUY",
    "LONG",
    "ORDER_TYPES",
    "RATE_LIMIT",
    "SELL",
    "SHORT",
    "STATUS",
    "STATUS_CODES",
    "TOKEN_LIFETIME_S",
    "TYPES",
    "bracket_fields",
    "contract_name",
    "decimal_of",
    "failure",
    "place_body",
    "side_code",
    "side_of",
    "status_of",
    "ticks",
    "unwrap",
]
