"""Checks that need context beyond the message itself (pure): known accounts, symbols, ticks."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from decimal import Decimal

from enigma_apex.domain.symbols import parse_symbol
from enigma_apex.domain.values import is_on_tick
from enigma_apex.errors import UnknownSymbolError
from enigma_apex.protocol.codec import ErrorCode, ProtocolError
from enigma_apex.protocol.messages import Message

PRICE_FIELDS = ("entry", "stop", "target", "limit_price", "stop_price", "price", "average_price", "last", "bid", "ask")


def check(message: Message, accounts: Collection[str], today: date) -> ProtocolError | None:
    """UNKNOWN_ACCOUNT, UNKNOWN_SYMBOL or BAD_PRICE (off the instrument's tick), or None."""
    ref = message.id
    account = getattr(message, "account", None)
    if isinstance(account, str) and account not in accounts:
        return ProtocolError(ErrorCode.UNKNOWN_ACCOUNT, f"unknown account {account!r}", "$.account", ref)
    symbol = getattr(message, "symbol", None)
    if not isinstance(symbol, str):
        return None
    try:
        contract = parse_symbol(symbol, on=today)
    except UnknownSymbolError as exc:
        return ProtocolError(ErrorCode.UNKNOWN_SYMBOL, str(exc)[:500], "$.symbol", ref)
    tick = contract.spec.tick_size
    prices: list[tuple[str, Decimal]] = []
    for name in PRICE_FIELDS:
        value = getattr(message, name, None)
        if isinstance(value, Decimal):
            prices.append((f"$.{name}", value))
    bracket = getattr(message, "bracket", None)
    if bracket is not None:
        prices += [(f"$.bracket.{n}", v) for n in ("stop", "target") if (v := getattr(bracket, n)) is not None]
    for path, value in prices:
        if not is_on_tick(value, tick):
            return ProtocolError(
                ErrorCode.BAD_PRICE, f"{value} is not a multiple of {contract.root}'s tick {tick}", path, ref
            )
    return None
