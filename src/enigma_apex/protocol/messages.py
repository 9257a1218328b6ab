"""Every WebSocket message: a versioned JSON envelope with type-specific fields (pure).

Envelope fields on every message: ``v`` (protocol version, 1), ``type``, ``id`` (unique per sender,
1-64 characters), ``ts`` (ISO-8601 with offset), and optionally ``seq`` (the sender's sequence
number, used on order flow to executors) and ``ack`` (the highest ``seq`` received from the peer).
Unknown fields are refused. Prices and money are decimal strings (numbers are accepted on input).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

VERSION = 1

Price = Annotated[Decimal, Field(gt=0, allow_inf_nan=False, max_digits=20)]
Money = Annotated[Decimal, Field(allow_inf_nan=False, max_digits=20)]
Account = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Key = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]
Symbol = Annotated[str, Field(min_length=1, max_length=32)]
Text = Annotated[str, Field(max_length=500)]
Quantity = Annotated[int, Field(ge=1, le=10_000)]
# An order's compact reference (``domain.orders.order_ref``): the name an executor gives the order at its broker
# when the key is too long there (NinjaTrader: 50 characters); executors may report an order by it.
OrderRef = Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[a-z0-9]+$")]


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = 1
    id: Annotated[str, Field(min_length=1, max_length=64)]
    ts: AwareDatetime
    seq: Annotated[int, Field(ge=0)] | None = None
    ack: Annotated[int, Field(ge=0)] | None = None


# ------------------------------------------------------------------ session
class Hello(Message):
    """First message of every client: authenticate within 5 seconds."""

    type: Literal["hello"] = "hello"
    token: Annotated[str, Field(min_length=8, max_length=256)]
    client: Annotated[str, Field(min_length=1, max_length=64)]
    client_version: Annotated[str, Field(max_length=32)] = ""
    resume_seq: Annotated[int, Field(ge=0)] | None = None  # executors: the last order-flow seq processed
    # executors: the entry order types they place (the hub refuses a signal whose type an account's executor lacks)
    order_types: Annotated[list[Literal["market", "limit", "stop", "stop_limit"]], Field(max_length=4)] | None = None
    # executors: this client's identity, the same on every reconnect of one running client (a random id per
    # start); a second live connection for the executor from another instance is refused (IN_USE)
    instance: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")] | None = None


class Welcome(Message):
    type: Literal["welcome"] = "welcome"
    session: str
    role: str
    accounts: list[Account]
    server_version: str
    heartbeat_s: int
    max_frame_bytes: int


class Error(Message):
    type: Literal["error"] = "error"
    code: str
    message: Text
    path: str | None = None  # JSON path of the bad field, e.g. "$.bracket.stop"
    ref: str | None = None  # the id of the message that caused it


class Ping(Message):
    type: Literal["ping"] = "ping"


class Pong(Message):
    type: Literal["pong"] = "pong"
    ref: Annotated[str, Field(min_length=1, max_length=64)] | None = None  # the hub's: the id of the ping answered


Topic = Literal["risk", "market", "decisions", "orders", "signals", "health"]


class Subscribe(Message):
    type: Literal["subscribe"] = "subscribe"
    topics: Annotated[list[Topic], Field(min_length=1, max_length=6)]


# ------------------------------------------------------------------ signals and decisions
class SignalMsg(Message):
    type: Literal["signal"] = "signal"
    symbol: Symbol
    side: Literal["long", "short", "exit"]
    entry: Price | None = None
    stop: Price | None = None
    target: Price | None = None
    group: Annotated[str, Field(max_length=64)] | None = None
    power: Annotated[int, Field(ge=0, le=100)] | None = None
    confluence: Annotated[int, Field(ge=1, le=4)] | None = None
    note: Text | None = None
    quantity: Quantity | None = None  # the source's own size: caps ours, never raises it
    trend: Literal["up", "down", "flat"] | None = None  # the trend filter's state, for the analyst


class VerdictMsg(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    max_quantity: int
    reason: Text


class DecisionMsg(Message):
    """What the hub decided for one account on one signal (account empty when no account was routed)."""

    type: Literal["decision"] = "decision"
    decision_id: str
    signal_id: str
    account: Account | None = None
    action: Literal["take", "skip", "reduce", "alert", "confirm", "expired", "refused", "rejected"]
    symbol: Symbol
    quantity: Annotated[int, Field(ge=0)]
    verdicts: list[VerdictMsg] = []
    reason: Text = ""
    order_keys: list[str] = []
    score: Annotated[int, Field(ge=0, le=100)] | None = None  # the analysis score the decision used


class Approve(Message):
    """A dashboard or phone approves a signal waiting in `confirm` mode, for the accounts named (none: every
    account it waits for)."""

    type: Literal["approve"] = "approve"
    signal_id: str
    accounts: Annotated[list[Account], Field(min_length=1, max_length=500)] | None = None


class Reject(Message):
    type: Literal["reject"] = "reject"
    signal_id: str
    accounts: Annotated[list[Account], Field(min_length=1, max_length=500)] | None = None


# ------------------------------------------------------------------ order flow (hub -> executor)
class Bracket(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stop: Price | None = None
    target: Price | None = None


class OrderPlace(Message):
    type: Literal["order.place"] = "order.place"
    key: Key  # idempotency key: an executor places each key at most once
    account: Account
    symbol: Symbol  # NinjaTrader notation, e.g. "MNQ 12-26"
    side: Literal["buy", "sell"]
    quantity: Quantity
    order_type: Literal["market", "limit", "stop", "stop_limit"] = "market"
    limit_price: Price | None = None
    stop_price: Price | None = None
    bracket: Bracket | None = None
    tif: Literal["day", "gtc"] = "day"
    purpose: Literal["entry", "exit", "flatten"] = "entry"
    order_ref: OrderRef | None = None  # the hub always sends it: the order's compact reference


class OrderCancel(Message):
    type: Literal["order.cancel"] = "order.cancel"
    key: Key  # the idempotency key of this cancel
    account: Account
    order_key: Key  # the order to cancel
    order_ref: OrderRef | None = None  # the hub always sends it: that order's compact reference


class Flatten(Message):
    type: Literal["flatten"] = "flatten"
    key: Key
    account: Account
    reason: Text = ""
    cancel_working: bool = True


class Ack(Message):
    """An executor acknowledges an order-flow message (by its key; ``ack`` carries the seq)."""

    type: Literal["ack"] = "ack"
    key: Key
    status: Literal["accepted", "rejected", "duplicate"]
    reason: Text = ""


# ------------------------------------------------------------------ executor reports (executor -> hub)
class OrderUpdate(Message):
    type: Literal["order.update"] = "order.update"
    key: Key
    account: Account
    status: Literal["accepted", "working", "partially_filled", "filled", "cancelled", "rejected", "expired"]
    filled_quantity: Annotated[int, Field(ge=0)] = 0
    average_price: Price | None = None
    broker_order_id: Annotated[str, Field(max_length=64)] | None = None
    reason: Text = ""


class FillMsg(Message):
    type: Literal["fill"] = "fill"
    fill_id: Key
    key: Key
    account: Account
    symbol: Symbol
    side: Literal["buy", "sell"]
    quantity: Quantity
    price: Price
    commission: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] = Decimal(0)
    executed_at: AwareDatetime


class PositionMsg(Message):
    type: Literal["position"] = "position"
    account: Account
    symbol: Symbol
    quantity: Annotated[int, Field(ge=-10_000, le=10_000)]  # signed: long > 0
    average_price: Price | None = None


class AccountUpdate(Message):
    type: Literal["account.update"] = "account.update"
    account: Account
    balance: Money
    realized_pnl: Money = Decimal(0)
    # None: the executor cannot see open P&L (NinjaTrader ATI); the guardian then counts each open position's loss
    # to its stop, or to the flatten buffer when it has none
    open_pnl: Money | None = None


class AccountStatus(Message):
    """An executor reports its broker connection for an account: anything but ``connected`` makes it REDUCING."""

    type: Literal["account.status"] = "account.status"
    account: Account
    connection: Literal["connected", "connecting", "connection_lost", "disconnected", "disconnecting"]
    message: Text = ""


class Bar(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    start: datetime
    open: Price
    high: Price
    low: Price
    close: Price
    volume: Annotated[int, Field(ge=0)] = 0


class MarketData(Message):
    type: Literal["market.data"] = "market.data"
    symbol: Symbol
    last: Price | None = None
    bid: Price | None = None
    ask: Price | None = None
    bars: Annotated[list[Bar], Field(max_length=500)] = []


# ------------------------------------------------------------------ risk and control
class RiskUpdate(Message):
    type: Literal["risk.update"] = "risk.update"
    account: Account
    state: Literal["ACTIVE", "REDUCING", "HALTED", "FAILED"]
    state_reason: Text = ""
    equity: Money
    threshold: Money
    distance: Money
    drawdown_used_pct: Money
    locked: bool
    contracts_allowed: int
    dll_remaining: Money | None = None


class EmergencyStop(Message):
    type: Literal["emergency.stop"] = "emergency.stop"
    reason: Text = "emergency stop"
    accounts: Annotated[list[Account], Field(max_length=500)] | None = None  # None: every account
    known_only: bool = False  # true: halt the accounts the hub knows and report the others; false: an unknown one
    # refuses the whole stop (nothing is halted)


class Halt(Message):
    type: Literal["halt"] = "halt"
    account: Account | None = None  # None: every account
    reason: Text = ""


class Resume(Message):
    type: Literal["resume"] = "resume"
    account: Account


class Result(Message):
    """The hub's answer to a control message (emergency.stop, halt, resume, subscribe): what was done."""

    type: Literal["result"] = "result"
    ref: Annotated[str, Field(min_length=1, max_length=64)]  # the id of the message answered
    accounts: dict[Account, Text] = {}  # per account: what was done ("flatten sent", "HALTED", "ACTIVE", ...)
    topics: list[Topic] = []  # subscribe: every topic now delivered to this connection
    message: Text = ""


class ComponentStatus(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    status: Literal["ok", "degraded", "down"]
    detail: Text = ""


class Health(Message):
    type: Literal["health"] = "health"
    components: dict[Annotated[str, Field(max_length=48)], ComponentStatus] = {}


AnyMessage = Annotated[
    Hello
    | Welcome
    | Error
    | Ping
    | Pong
    | Subscribe
    | SignalMsg
    | DecisionMsg
    | Approve
    | Reject
    | OrderPlace
    | OrderCancel
    | Flatten
    | Ack
    | OrderUpdate
    | FillMsg
    | PositionMsg
    | AccountUpdate
    | AccountStatus
    | MarketData
    | RiskUpdate
    | EmergencyStop
    | Halt
    | Resume
    | Result
    | Health,
    Field(discriminator="type"),
]

TYPES: dict[str, type[Message]] = {
    cls.model_fields["type"].default: cls
    for cls in (
        Hello,
        Welcome,
        Error,
        Ping,
        Pong,
        Subscribe,
        SignalMsg,
        DecisionMsg,
        Approve,
        Reject,
        OrderPlace,
        OrderCancel,
        Flatten,
        Ack,
        OrderUpdate,
        FillMsg,
        PositionMsg,
        AccountUpdate,
        AccountStatus,
        MarketData,
        RiskUpdate,
        EmergencyStop,
        Halt,
        Resume,
        Result,
        Health,
    )
}
