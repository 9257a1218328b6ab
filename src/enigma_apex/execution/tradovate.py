"""Tradovate's wire formats: REST bodies, failure reasons and WebSocket frames (integrations.md §2.3).

- Hosts [V15]: REST ``https://{demo|live}.tradovateapi.com/v1``, WebSocket ``wss://{demo|live}.tradovateapi.com/
  v1/websocket``.
- Orders [V4][V5]: ``accountSpec``, ``accountId``, ``action`` ``Buy|Sell``, ``symbol`` (``MNQZ6``), ``orderQty``,
  ``orderType``, ``price`` / ``stopPrice``, and ``isAutomated: true`` for every order not placed by a human [V11];
  ``placeoso`` adds ``bracket1`` / ``bracket2``, linked one-cancels-other. Failures come back with HTTP 200 and
  ``failureReason`` / ``failureText`` [V16].
- WebSocket [V9][V10]: request frames ``<endpoint>\\n<id>\\n<query>\\n<body>``; server frames ``o`` (open), ``h``
  (heartbeat), ``a[...]`` (items ``{i, s, d}`` replies or ``{e, d}`` events), ``c[...]`` (close). The client
  sends ``[]`` when 2.5 s pass without a frame from it.
- Tokens live 80 minutes [V1]; penalty tickets ``p-ticket`` / ``p-time`` / ``p-captcha`` [V13].
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from enigma_apex.domain.orders import OrderStatus, OrderType, Side, TimeInForce
from enigma_apex.domain.symbols import Contract, Notation, format_symbol
from enigma_apex.execution.events import OrderRequest

TOKEN_LIFETIME_S = 80 * 60  # [V1]
HEARTBEAT_S = 2.5  # [V11]

HOSTS = {
    "demo": ("https://demo.tradovateapi.com/v1", "wss://demo.tradovateapi.com/v1/websocket"),
    "live": ("https://live.tradovateapi.com/v1", "wss://live.tradovateapi.com/v1/websocket"),
}

_ORDER_TYPES = {
    OrderType.MARKET: "Market",
    OrderType.LIMIT: "Limit",
    OrderType.STOP: "Stop",
    OrderType.STOP_LIMIT: "StopLimit",
}

_STATUS = {
    "pendingnew": OrderStatus.ACCEPTED,
    "working": OrderStatus.WORKING,
    "pendingreplace": OrderStatus.WORKING,
    "pendingcancel": OrderStatus.WORKING,
    "suspended": OrderStatus.WORKING,
    "filled": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELLED,
    "cancelled": OrderStatus.CANCELLED,
    "rejected": OrderStatus.REJECTED,
    "expired": OrderStatus.EXPIRED,
}

# failureReason values and what a trader should read (Tradovate's PlaceOrderResult).
FAILURES = {
    "AccountClosed": "the account is closed",
    "AnotherCommandPending": "another command on this order is pending",
    "BackMonthProhibited": "back-month contracts are not allowed on this account",
    "ExecutionProviderNotConfigured": "no execution provider is configured for this account",
    "ExecutionProviderUnavailable": "the execution provider is unavailable",
    "InvalidContract": "unknown or expired contract",
    "InvalidPrice": "the price is invalid for this contract",
    "LiquidationOnly": "the account may only reduce positions (liquidation only)",
    "LiquidationOnlyBeforeExpiration": "the contract is near expiry: liquidation only",
    "MaxOrderQtyLimitReached": "the order is above the account's maximum order quantity",
    "MaxPosLimitReached": "the position would exceed the account's position limit",
    "MaxTotalPosLimitReached": "the total position would exceed the account's limit",
    "NoQuote": "no quote for the contract",
    "NotEnoughLiquidity": "not enough liquidity",
    "RiskCheckTimeout": "Tradovate's risk check timed out",
    "SessionClosed": "the market session is closed",
    "TooLate": "too late for this order",
    "TradingLocked": "trading is locked on this account (risk settings or a daily loss limit)",
}


def contract_name(contract: Contract) -> str:
    return format_symbol(contract, Notation.CME_SHORT)  # MNQZ6


def order_body(account_spec: str, account_id: int, request: OrderRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "accountSpec": account_spec,
        "accountId": account_id,
        "clOrdId": request.key,
        "action": "Buy" if request.side is Side.BUY else "Sell",
        "symbol": contract_name(request.contract),
        "orderQty": request.quantity,
        "orderType": _ORDER_TYPES[request.order_type],
        "timeInForce": "Day" if request.tif is TimeInForce.DAY else "GTC",
        "isAutomated": True,
    }
    if request.order_type is OrderType.LIMIT:
        body["price"] = float(request.limit_price or 0)
    elif request.order_type is OrderType.STOP:
        body["stopPrice"] = float(request.stop_price or 0)
    elif request.order_type is OrderType.STOP_LIMIT:
        body["price"] = float(request.limit_price or 0)
        body["stopPrice"] = float(request.stop_price or 0)
    return body


def oso_body(account_spec: str, account_id: int, request: OrderRequest) -> dict[str, Any]:
    """``placeoso``: the entry with its stop (``bracket1``) and target (``bracket2``), one cancels the other."""
    body = order_body(account_spec, account_id, request)
    bracket = request.bracket
    exit_action = "Sell" if request.side is Side.BUY else "Buy"
    if bracket is not None and bracket.stop is not None:
        body["bracket1"] = {"action": exit_action, "orderType": "Stop", "stopPrice": float(bracket.stop)}
    if bracket is not None and bracket.target is not None:
        key = "bracket2" if "bracket1" in body else "bracket1"
        body[key] = {"action": exit_action, "orderType": "Limit", "price": float(bracket.target)}
    return body


def failure(body: Any) -> str | None:
    """A refusal in a 200 answer (``failureReason``, ``errorText``, ``ok: false``), as a sentence; None when fine."""
    if not isinstance(body, dict):
        return None
    reason = body.get("failureReason")
    if reason and reason != "Success":
        text = FAILURES.get(str(reason), str(reason))
        detail = body.get("failureText")
        return f"{text} ({detail})" if detail else text
    if body.get("errorText"):
        return str(body["errorText"])
    if body.get("ok") is False:
        return "request refused"
    return None


def status_of(name: str) -> OrderStatus | None:
    return _STATUS.get(name.replace("_", "").lower())


def decimal_of(value: Any) -> Decimal:
    """JSON numbers as Decimal through their shortest text (21000.25, not 21000.2499999...)."""
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))


# ---------------------------------------------------------------------- WebSocket frames
def request_frame(endpoint: str, request_id: int, body: Any = None, query: str = "") -> str:
    text = "" if body is None else (body if isinstance(body, str) else json.dumps(body))
    return f"{endpoint}\n{request_id}\n{query}\n{text}"


@dataclass(frozen=True, slots=True)
class Frame:
    kind: str  # o (open), h (heartbeat), a (data), c (close)
    items: list[dict[str, Any]]


def parse_frame(text: str) -> Frame:
    if not text:
        raise ValueError("empty frame")
    kind = text[0]
    if kind in ("o", "h"):
        return Frame(kind, [])
    if kind in ("a", "c"):
        payload = json.loads(text[1:]) if len(text) > 1 else []
        if not isinstance(payload, list):
            raise ValueError(f"frame {kind} needs a JSON array")
        return Frame(kind, [item for item in payload if isinstance(item, dict)])
    raise ValueError(f"unknown frame type {kind!r}")


__all__ = [
    "FAILURES",
    "HEARTBEAT_S",
    "HOSTS",
    "TOKEN_LIFETIME_S",
    "Frame",
    "contract_name",
    "decimal_of",
    "failure",
    "order_body",
    "oso_body",
    "parse_frame",
    "request_frame",
    "status_of",
]
