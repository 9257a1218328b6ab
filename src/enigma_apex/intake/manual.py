"""Manual and API signals: a protocol ``signal`` (WebSocket, HTTP API, CLI) as a domain signal (pure)."""

from __future__ import annotations

from datetime import datetime

from enigma_apex.domain.signals import Direction, Signal, SignalSource
from enigma_apex.domain.symbols import parse_symbol
from enigma_apex.protocol.messages import SignalMsg


def signal_from_message(
    message: SignalMsg, signal_id: str, now: datetime, sender: str, source: SignalSource = SignalSource.API
) -> Signal:
    """The domain signal. Raises ``ValueError`` (or ``UnknownSymbolError``) for a symbol that is not traded or a
    stop on the wrong side of the entry; the protocol validator catches both before this in the gateway."""
    extra = [("sender", sender)]
    if message.trend is not None:
        extra.append(("trend", message.trend))
    return Signal(
        signal_id=signal_id,
        source=source,
        contract=parse_symbol(message.symbol, on=now.date()),
        direction=Direction(message.side),
        received_at=now,
        entry=message.entry,
        stop=message.stop,
        target=message.target,
        group=message.group,
        power=message.power,
        confluence=message.confluence,
        note=(message.note or "")[:500],
        max_quantity=message.quantity,
        extra=tuple(extra),
    )
