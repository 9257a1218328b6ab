"""Who may send what (pure). A message outside the sender's role gets FORBIDDEN and changes nothing."""

from __future__ import annotations

SESSION = frozenset({"hello", "ping", "pong"})
CONTROL = frozenset({"emergency.stop", "halt", "resume", "approve", "reject", "subscribe"})

MAY_SEND: dict[str, frozenset[str]] = {
    "executor": SESSION
    | {"ack", "order.update", "fill", "position", "account.update", "account.status", "market.data", "health"},
    "signal": SESSION | {"signal"},
    "dashboard": SESSION | CONTROL | {"signal"},
    "mobile": SESSION | CONTROL,
    "observer": SESSION | {"subscribe"},
    "admin": SESSION | CONTROL | {"signal"},
}

RECEIVES: dict[str, str] = {
    "executor": "order.place, order.cancel, flatten (its accounts; a stop reaches it as flatten), welcome, error, pong",
    "signal": "decision (its own signals), welcome, error, pong",
    "dashboard": "result (its controls), decision (its signals), and everything subscribed: risk.update, market.data, "
    "decision, order.update, fill, position, health",
    "mobile": "as dashboard",
    "observer": "result (its subscribe), everything subscribed, read only",
    "admin": "as dashboard",
}


def may_send(role: str, message_type: str) -> bool:
    return message_type in MAY_SEND.get(role, frozenset())
