"""Rithmic's Protocol Buffer API, the parts the executor needs, as plain values (no I/O).

The wire is one WebSocket per *plant* (ORDER_PLANT, PNL_PLANT, TICKER_PLANT), each carrying protobuf messages
whose ``template_id`` says what they are. The message definitions are Rithmic's ``.proto`` files as shipped
with the ``rithmic-rapi`` package (``pyrithmic.protocol``); template ids are those of the R | Protocol API
reference guide [R1]. References:

- [R1] R | Protocol API reference guide, "Templates" table (shipped as ``Reference_Guide.pdf`` with the
  protocol kit; the same ids are in ``pyrithmic/protocol/templates.py``).
- [R2] ``request_login.proto`` / ``response_login.proto``: ``template_version`` "3.9", ``infra_type``,
  ``system_name``; the answer carries ``fcm_id``, ``ib_id`` and ``heartbeat_interval`` (seconds).
- [R3] ``request_heartbeat.proto``: a client sends a heartbeat when it has sent nothing for
  ``heartbeat_interval`` seconds; a silent client is logged out.
- [R4] ``response_*.proto``: ``rp_code`` ends a request's answers — ``["0"]`` is success, otherwise
  ``[code, text]``; rows of a multi-row answer carry ``rq_handler_rp_code`` instead. ``user_msg`` is echoed.
- [R5] ``request_new_order.proto`` / ``request_bracket_order.proto``: ``user_tag`` (echoed in every
  notification of the order), ``price_type`` LIMIT / MARKET / STOP_MARKET / STOP_LIMIT, ``duration`` DAY / GTC,
  ``manual_or_auto`` AUTO for orders a program places; brackets give ``target_ticks`` / ``stop_ticks`` from the
  fill price.
- [R6] ``rithmic_order_notification.proto`` (351) and ``exchange_order_notification.proto`` (352):
  ``notify_type`` OPEN / COMPLETE (with ``completion_reason``) and FILL (``fill_price``, ``fill_size``,
  ``fill_id``) / REJECT / CANCEL (with ``text``); ``basket_id`` is Rithmic's order id.
- [R7] ``instrument_pnl_position_update.proto`` (450) and ``account_pnl_position_update.proto`` (451): the PnL
  plant's positions (``net_quantity``, ``avg_open_fill_price``) and account figures (``account_balance``,
  ``open_position_pnl``, ``closed_position_pnl``, sent as text).
- [R8] ``forced_logout.proto`` (77): the server ends the session; ``reject.proto`` (75): a message it could not
  process.
- [R9] ``response_trade_routes.proto`` (311): the routes an order may take per exchange (``trade_route``,
  ``is_default``); a new order names one.
- [R10] ``response_rithmic_system_info.proto`` (17): the system names a gateway serves, asked before a login.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum
from typing import Any

from enigma_apex.domain.orders import OrderStatus, OrderType, Side
from enigma_apex.domain.symbols import Contract, Notation, format_symbol

TEMPLATE_VERSION = "3.9"  # [R2]
DEFAULT_HEARTBEAT_S = 60.0  # until the login answer says otherwise [R3]


class T(IntEnum):
    """Template ids [R1]."""

    LOGIN = 10
    LOGIN_RESPONSE = 11
    LOGOUT = 12
    LOGOUT_RESPONSE = 13
    HEARTBEAT = 18
    HEARTBEAT_RESPONSE = 19
    SYSTEM_INFO = 16
    SYSTEM_INFO_RESPONSE = 17
    REJECT = 75
    FORCED_LOGOUT = 77
    MARKET_DATA = 100
    MARKET_DATA_RESPONSE = 101
    LAST_TRADE = 150
    BEST_BID_OFFER = 151
    ACCOUNT_LIST = 302
    ACCOUNT_LIST_RESPONSE = 303
    SUBSCRIBE_ORDERS = 308
    SUBSCRIBE_ORDERS_RESPONSE = 309
    TRADE_ROUTES = 310
    TRADE_ROUTES_RESPONSE = 311
    NEW_ORDER = 312
    NEW_ORDER_RESPONSE = 313
    MODIFY_ORDER = 314
    MODIFY_ORDER_RESPONSE = 315
    CANCEL_ORDER = 316
    CANCEL_ORDER_RESPONSE = 317
    SHOW_ORDERS = 320
    SHOW_ORDERS_RESPONSE = 321
    BRACKET_ORDER = 330
    BRACKET_ORDER_RESPONSE = 331
    CANCEL_ALL = 346
    CANCEL_ALL_RESPONSE = 347
    ORDER_NOTIFICATION = 351
    EXCHANGE_NOTIFICATION = 352
    PNL_UPDATES = 400
    PNL_UPDATES_RESPONSE = 401
    PNL_SNAPSHOT = 402
    PNL_SNAPSHOT_RESPONSE = 403
    INSTRUMENT_PNL = 450
    ACCOUNT_PNL = 451
    EXIT_POSITION = 3504
    EXIT_POSITION_RESPONSE = 3505


class Infra(IntEnum):
    """``RequestLogin.SysInfraType`` [R2]."""

    TICKER_PLANT = 1
    ORDER_PLANT = 2
    HISTORY_PLANT = 3
    PNL_PLANT = 4


# RequestNewOrder enums [R5]
BUY, SELL = 1, 2
DAY, GTC = 1, 2
LIMIT, MARKET, STOP_LIMIT, STOP_MARKET = 1, 2, 3, 4
AUTO = 2
TARGET_AND_STOP, STOP_ONLY, TARGET_ONLY = 3, 1, 2
USER_TYPE_TRADER = 3
SUBSCRIBE = 1
LAST_TRADE_BIT, BBO_BIT = 1, 2

# notify_type values [R6]
N351_OPEN, N351_COMPLETE, N351_MODIFIED = 13, 15, 14
N352_STATUS, N352_MODIFY, N352_CANCEL, N352_TRIGGER, N352_FILL, N352_REJECT = 1, 2, 3, 4, 5, 6

PRICE_TYPES = {
    OrderType.MARKET: MARKET,
    OrderType.LIMIT: LIMIT,
    OrderType.STOP: STOP_MARKET,
    OrderType.STOP_LIMIT: STOP_LIMIT,
}
ORDER_TYPES = {v: k for k, v in PRICE_TYPES.items()}


def symbol(contract: Contract) -> str:
    """Rithmic names a futures contract with a one-digit year (``MNQZ6``) on its exchange (``CME``)."""
    return format_symbol(contract, Notation.CME_SHORT)


def exchange(contract: Contract) -> str:
    return contract.spec.exchange


def ok(rp_code: list[str] | tuple[str, ...]) -> bool:
    return len(rp_code) > 0 and rp_code[0] == "0"


def rp_text(rp_code: list[str] | tuple[str, ...]) -> str:
    """``[code, text]`` as a sentence [R4]."""
    if not rp_code:
        return "no answer code"
    return rp_code[1] if len(rp_code) > 1 and rp_code[1] else f"error code {rp_code[0]}"


def transaction(side: Side) -> int:
    return BUY if side is Side.BUY else SELL


def side_of(transaction_type: int) -> Side:
    return Side.BUY if transaction_type == BUY else Side.SELL


def bracket_ticks(reference: Decimal, level: Decimal, tick_size: Decimal) -> int:
    """Whole ticks between the entry's reference price and a stop or target (at least one) [R5]."""
    return max(1, math.floor(abs(reference - level) / tick_size + Decimal("0.5")))


def money(text: str) -> Decimal:
    """The PnL plant's text figures [R7] ('' means 0)."""
    try:
        return Decimal(text) if text else Decimal(0)
    except ArithmeticError:
        return Decimal(0)


def decimal_of(value: float) -> Decimal:
    return Decimal(repr(value))


@dataclass(frozen=True, slots=True)
class Notice:
    """One order notification reduced to what the hub needs."""

    status: OrderStatus | None
    reason: str = ""
    fill: tuple[str, int, Decimal] | None = None  # (fill id, size, price)


def notice_351(notify_type: int, completion_reason: str, text: str) -> Notice:
    """A Rithmic order notification [R6]: OPEN is working, COMPLETE ends the order for its reason."""
    if notify_type in (N351_OPEN, N351_MODIFIED):
        return Notice(OrderStatus.WORKING)
    if notify_type == N351_COMPLETE:
        reason = completion_reason.lower()
        if "fill" in reason:
            return Notice(OrderStatus.FILLED)
        if "reject" in reason or "fail" in reason:
            return Notice(OrderStatus.REJECTED, text or completion_reason)
        return Notice(OrderStatus.CANCELLED, text or completion_reason)
    return Notice(None)


def notice_352(notify_type: int, fields: dict[str, Any]) -> Notice:
    """An exchange order notification [R6]: fills, rejects and cancels."""
    if notify_type == N352_FILL:
        fill = (str(fields["fill_id"]), int(fields["fill_size"]), decimal_of(float(fields["fill_price"])))
        return Notice(None, fill=fill)
    if notify_type == N352_REJECT:
        return Notice(OrderStatus.REJECTED, str(fields.get("text") or "rejected by the exchange"))
    if notify_type == N352_CANCEL:
        return Notice(OrderStatus.CANCELLED, str(fields.get("text") or "cancelled"))
    if notify_type == N352_STATUS:
        return Notice(OrderStatus.WORKING)
    return Notice(None)


__all__ = [
    "DEFAULT_HEARTBEAT_S",
    "ORDER_TYPES",
    "PRICE_TYPES",
    "TEMPLATE_VERSION",
    "Infra",
    "Notice",
    "T",
    "bracket_ticks",
    "decimal_of",
    "exchange",
    "money",
    "notice_351",
    "notice_352",
    "ok",
    "rp_text",
    "side_of",
    "symbol",
    "transaction",
]
