"""Who may do what over HTTP, and which accounts a token sees (pure). The WebSocket's message rights are in
``roles.py``; both follow the same rules: a right outside the role is 403 / FORBIDDEN and changes nothing, and a
token bound to accounts sees and acts on those accounts only (the others do not exist for it)."""

from __future__ import annotations

from collections.abc import Iterable

from enigma_apex.protocol.roles import may_send

ROLES = ("admin", "executor", "signal", "dashboard", "mobile", "observer")

# right -> the roles that hold it; docs/operations.md ("Who may do what") prints this table
RIGHTS: dict[str, frozenset[str]] = {
    # accounts, orders, fills, positions, decisions, signals, alerts, equity history (bound: their accounts)
    "read": frozenset(ROLES),
    "components": frozenset({"admin", "dashboard", "mobile", "observer"}),  # component health and clients
    "metrics": frozenset({"admin", "dashboard", "observer"}),  # /metrics when it needs a token
    "config": frozenset({"admin", "dashboard"}),  # the running configuration (secrets masked)
    "audit": frozenset({"admin", "dashboard"}),  # the audit log and the logged errors
    "settings": frozenset({"admin", "dashboard"}),  # change live settings, reload the configuration
    "signal": frozenset(r for r in ROLES if may_send(r, "signal")),  # manual signals and previews
    "approve": frozenset(r for r in ROLES if may_send(r, "approve")),  # approve / reject a waiting signal
    "control": frozenset(r for r in ROLES if may_send(r, "halt")),  # halt, flatten, resume, cancel an order
    "tokens": frozenset({"admin"}),  # list, create and revoke client tokens
    "maintenance": frozenset({"admin"}),  # bootstrap an account's state, optimise the database
}


# how a refusal names the right: "role 'observer' may not send signal"
ACTIONS: dict[str, str] = {
    "read": "read the records",
    "components": "read the component health",
    "metrics": "read the metrics",
    "config": "read the configuration",
    "audit": "read the audit log",
    "settings": "change settings",
    "signal": "send signal",
    "approve": "approve or reject signals",
    "control": "halt, flatten, resume or cancel",
    "tokens": "manage tokens",
    "maintenance": "maintain accounts and the database",
}


def allowed(role: str, right: str) -> bool:
    return role in RIGHTS.get(right, frozenset())


def visible(role: str, bound: Iterable[str], configured: Iterable[str], owned: Iterable[str] = ()) -> frozenset[str]:
    """The accounts a token sees: those it is bound to; an executor's token without a binding, the accounts whose
    executor it is (``owned``); any other unbound token, every configured account."""
    names = frozenset(configured)
    bound = frozenset(bound)
    if bound:
        return bound & names
    if role == "executor":
        return frozenset(owned) & names
    return names
