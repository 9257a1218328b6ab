"""The gateway service: sessions, roles, order flow with delivery guarantees, the emergency-stop cascade.

Transport-agnostic: a ``Peer`` is one connected client with an outbox; the websockets adapter
(``adapters/ws_server.py``) feeds frames in and drains outboxes. Order-flow messages are stored
before they are sent, carry the executor's sequence number and idempotency key, and are sent again
on every reconnect until acknowledged (executors drop duplicate keys). Broadcasts to dashboards are
coalesced to the latest value per account or symbol, so a slow reader never builds a backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import func, select

from enigma_apex import __version__
from enigma_apex.adapters.store import repository
from enigma_apex.adapters.store import schema as s
from enigma_apex.app.guardian import GuardianService
from enigma_apex.app.market import Bar
from enigma_apex.app.pipeline import AccountDecision, Outcome, SignalPipeline
from enigma_apex.app.service import HubService
from enigma_apex.app.signin import fingerprint
from enigma_apex.config.models import Settings
from enigma_apex.domain.orders import Fill, OrderIntent, OrderPurpose, OrderStatus, OrderType, Side, order_ref
from enigma_apex.domain.symbols import Contract, Notation, format_symbol, parse_symbol
from enigma_apex.errors import StoreError
from enigma_apex.intake.manual import signal_from_message
from enigma_apex.protocol import access, roles
from enigma_apex.protocol import messages as m
from enigma_apex.protocol.codec import MAX_FRAME_BYTES, ErrorCode, ProtocolError, decode, encode
from enigma_apex.protocol.validate import check

log = structlog.get_logger("enigma_apex.gateway")

CLOSE_BINARY = 1003  # RFC 6455 "unsupported data": the protocol is JSON in text frames
CLOSE_AUTH = 4001
CLOSE_IN_USE = 4005  # a second live connection for an executor already connected from another client
CLOSE_TOKEN = 4003  # the session's token was revoked or expired
CLOSE_RATE = 4008
CLOSE_SLOW = 4009
CLOSE_SILENT = 4010
SNAPSHOTS = frozenset({"position", "account.update", "account.status"})  # what an executor says of an account now
WRITES_PER_TURN = 64  # frames a peer's writer writes before it lets the loop run other tasks
RISK_UPDATES_PER_TURN = 25  # accounts' risk updates an emergency stop builds before the writers run again
# An executor's reports of its orders: recorded in arrival order, but each goes to the database writer as soon as it
# is read, so a burst (ack, working, fill, filled) shares commits instead of waiting for one commit each. Any other
# frame from the same executor waits until the reports before it are recorded (a position is compared with the
# recorded fills; a pong means everything sent before the ping was taken).
REPORTS = frozenset({"ack", "order.update", "fill"})
REPORTS_IN_FLIGHT = 256  # past this many reports not yet recorded, the connection stops reading until they are


@dataclass(eq=False)  # identity equality: a peer is one connection
class Peer:
    """One connected client."""

    address: str
    send_text: Callable[[str], Awaitable[None]]
    close: Callable[[int, str], Awaitable[None]]
    session: str = field(default_factory=lambda: secrets.token_hex(6))
    role: str | None = None
    name: str = ""
    accounts: frozenset[str] = frozenset()
    topics: set[str] = field(default_factory=set)
    errors: deque[float] = field(default_factory=deque)
    fifo: deque[str] = field(default_factory=deque)  # must-deliver, in order
    latest: dict[tuple[str, str], str] = field(default_factory=dict)  # coalesced broadcasts
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    last_seen: float = field(default_factory=time.monotonic)
    closed: bool = False
    closing: tuple[int, str] | None = None  # close once the frames already queued have been sent
    sending: bool = False  # the writer is in the middle of a frame
    sent_keys: set[str] = field(default_factory=set)  # order keys sent on this connection (each sent once)
    token_id: str = ""  # the token it signed in with: revoking it closes this session
    expires_at: datetime | None = None
    bound: bool = False  # the token is bound to accounts: it sees and acts on those only
    instance: str = ""  # an executor client's identity (hello.instance): the same on its reconnects
    client: str = ""  # hello.client, for messages naming the connection
    # a WebSocket ping answered within the timeout: the connection is alive (set by the server adapter)
    probe: Callable[[float], Awaitable[bool]] | None = None
    # writes frames at once, in one write to the socket, when its buffer has room; False: nothing was written, and
    # ``send_text`` is awaited instead (it waits for the buffer to drain: backpressure)
    send_now: Callable[[Sequence[str]], bool] | None = None
    # frames for this loop turn after its first, nothing queued before them: written together when the turn's
    # callbacks are done (``GatewayService._enqueue``)
    batch: list[str] = field(default_factory=list)
    turn_written: bool = False  # a frame was written at once in this loop turn (its next frames join ``batch``)
    # the executor's reports being recorded, in order: the last one's task and its database write (the next write
    # checks that this one did not fail: a report never lands ahead of an earlier one that was kept for later)
    reports: asyncio.Task[None] | None = None
    report_write: Future[Any] | None = None
    reports_in_flight: int = 0

    @property
    def backlog(self) -> int:
        return len(self.fifo) + len(self.latest) + len(self.batch)


class GatewayService:
    def __init__(self, settings: Settings, hub: HubService, guardian: GuardianService) -> None:
        self.settings = settings
        self.hub = hub
        self.guardian = guardian
        self.store = hub.store
        self.clock = hub.clock
        self.peers: set[Peer] = set()
        self.executors: dict[str, Peer] = {}  # executor name -> peer
        self.stopping = False  # the hub is stopping: its executors leaving is planned
        # sending an order and cancelling it before it was sent are decided under one lock (the writer thread
        # cancels, the loop sends): an order cancelled unsent is never sent afterwards, not even by a resend
        self._sending = threading.Lock()
        self._unsendable: set[str] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._seq: dict[str, int] = {}
        self._flatten_waiters: dict[str, float] = {}
        self._tasks: set[asyncio.Future[None]] = set()
        self._batched: list[Peer] = []  # peers with frames for this loop turn (``Peer.batch``)
        self._batch_flush = False  # their write is scheduled
        self._marks: list[tuple[str, Decimal, Decimal | None]] = []  # account updates waiting for the mark worker
        self._marks_wake = asyncio.Event()
        self._mark_task: asyncio.Task[None] | None = None
        # executor reports the database refused, in arrival order, written when it takes writes again
        self.deferred: deque[tuple[Callable[[Any], Any], Callable[[Any], Awaitable[None]] | None]] = deque()
        self.pipeline: SignalPipeline | None = None  # set by the composition root
        self.announced: dict[str, frozenset[OrderType]] = {}  # order types an executor said it places (hello)
        self.started = time.monotonic()
        self.ever_connected: set[str] = set()  # executors seen since the hub started
        self._absent_alerted: set[str] = set()
        self.broker_down: dict[str, str] = {}  # account -> why its broker connection is not connected
        self._snapshot_turn: dict[str, asyncio.Lock] = {}  # executor name -> one snapshot at a time
        self._flatten_lock = threading.Lock()
        self._flattens_due: list[tuple[str, str]] = []  # asked for by the guardian's thread, not sent yet
        self._flattens_scheduled = False
        guardian.flatten_sinks.append(self._flatten_from_guardian)

    def await_executors(self) -> None:
        """At start: every account is REDUCING (no new entries) until its executor connects — orders would only
        queue for an executor that is not there."""
        for entry in self.settings.accounts:
            reason = f"executor {entry.executor} has not connected since the hub started"
            self.guardian.await_executor(entry.name, f"executor:{entry.executor}", reason)

    # ================================================================ helpers
    def _sign_in_failed(self, peer: Peer, token: str, why: str, ref: str | None) -> bool:
        refusal = self.hub.sign_ins.failed(peer.address, token)
        if refusal is None:
            log.warning("gateway.auth_failed", address=peer.address, token=fingerprint(token), reason=why)
            self._error(peer, ProtocolError(ErrorCode.AUTH_FAILED, why, None, ref))
            return False
        if refusal.first:
            log.warning("gateway.auth_rate_limited", address=peer.address, retry_after_s=refusal.retry_after_s)
        text = f"too many failed sign-ins; retry in {refusal.retry_after_s} s (a valid token is always let in)"
        self._error(peer, ProtocolError(ErrorCode.RATE_LIMITED, text, None, ref))
        return False

    def _id(self) -> str:
        return secrets.token_hex(8)

    def _now(self) -> datetime:
        return self.clock.now()

    def owner_of(self, account: str) -> str:
        for entry in self.settings.accounts:
            if entry.name == account:
                return entry.executor
        return ""

    def _push(self, peer: Peer, message: m.Message, coalesce: tuple[str, str] | None = None) -> None:
        if not peer.closed:
            self._enqueue(peer, encode(message), coalesce)

    def _enqueue(self, peer: Peer, text: str, coalesce: tuple[str, str] | None = None) -> None:
        if peer.closed:
            return
        send_now = peer.send_now
        if send_now is not None and coalesce is None and not peer.fifo and not peer.sending:
            if peer.role == "executor":
                if send_now((text,)):
                    return  # order flow: written now, ahead of whatever else this loop turn does
            elif peer.turn_written:
                # to a client that watches (a dashboard, a phone): its first frame of this loop turn was written at
                # once (a frame written later in the turn can wait behind work a worker thread starts meanwhile); the
                # turn's further frames go together when the turn's callbacks are done, in one write (a burst costs
                # two writes and two wake-ups of the client, not one per frame)
                peer.batch.append(text)
                self._check_backlog(peer)  # a turn's burst counts too: a client that cannot keep up is dropped
                return
            elif send_now((text,)):
                peer.turn_written = True
                self._batched.append(peer)
                if not self._batch_flush:
                    self._batch_flush = True
                    (self.loop or asyncio.get_running_loop()).call_soon(self._write_batches)
                return
        if coalesce is None:
            peer.fifo.append(text)
        else:
            peer.latest[coalesce] = text
        self._check_backlog(peer)
        peer.wake.set()

    def _write_batches(self) -> None:
        self._batch_flush = False
        peers, self._batched = self._batched, []
        for peer in peers:
            peer.turn_written = False
            self._write_batch(peer)

    def _write_batch(self, peer: Peer) -> None:
        """The peer's frames of this turn, in one write; when the socket cannot take them now they go first in its
        queue, which its writer sends with backpressure."""
        frames, peer.batch = peer.batch, []
        if not frames or peer.closed or peer.send_now is None:
            return
        if peer.send_now(frames):
            return
        peer.fifo.extendleft(reversed(frames))
        self._check_backlog(peer)
        peer.wake.set()

    def _check_backlog(self, peer: Peer) -> None:
        if peer.backlog > self.settings.gateway.max_backlog and not peer.closed:
            peer.closed = True
            peer.fifo.clear()
            peer.latest.clear()
            peer.batch.clear()
            log.warning("gateway.slow_client_dropped", session=peer.session, role=peer.role)
            task = asyncio.ensure_future(peer.close(CLOSE_SLOW, "too slow: backlog over the limit"))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _error(self, peer: Peer, error: ProtocolError) -> None:
        self._push(
            peer,
            m.Error(
                id=self._id(),
                ts=self._now(),
                code=error.code,
                message=error.message[:500],
                path=error.path,
                ref=error.ref,
            ),
        )

    async def drain(self, peer: Peer) -> None:
        """The peer's writer: FIFO first, then the latest coalesced values."""
        written = 0
        while not peer.closed:
            await peer.wake.wait()
            peer.wake.clear()
            while peer.fifo or peer.latest or peer.batch:
                if peer.batch:  # this turn's frames were queued before whatever follows them
                    self._write_batch(peer)
                    continue
                if peer.fifo:
                    text = peer.fifo.popleft()
                else:
                    key = next(iter(peer.latest))
                    text = peer.latest.pop(key)
                if peer.send_now is not None and peer.send_now((text,)):
                    written += 1
                    if written % WRITES_PER_TURN == 0:
                        await asyncio.sleep(0)  # a long backlog never holds the loop
                    continue
                peer.sending = True
                try:
                    await peer.send_text(text)
                finally:
                    peer.sending = False

    # ================================================================ connection lifecycle
    async def authenticate(self, peer: Peer, frame: str | bytes) -> bool:
        """Handle the first frame. True when the peer is now authenticated. A valid token is always let in; a
        failing one is counted (``app/signin.py``) and answered AUTH_FAILED, or RATE_LIMITED past the limits."""
        message = decode(frame, MAX_FRAME_BYTES)
        if isinstance(message, ProtocolError) and message.kind == "hello":
            # a hello with a bad field: the token's problem is a failed sign-in, another field's is INVALID
            if message.path == "$.token":
                token = _token_of(frame)
                return self._sign_in_failed(peer, token, message.message, message.ref)
            self._error(peer, ProtocolError(ErrorCode.INVALID, message.message, message.path, message.ref))
            return False
        if not isinstance(message, m.Hello):
            ref = message.ref if isinstance(message, ProtocolError) else message.id
            self._error(peer, ProtocolError(ErrorCode.AUTH_REQUIRED, "the first message must be hello", None, ref))
            return False
        record = await asyncio.to_thread(self.hub.authenticate, message.token)
        if record is None:
            return self._sign_in_failed(peer, message.token, "unknown, revoked or expired token", message.id)
        if record.role == "executor" and not await self._may_take_over(peer, record.name, message):
            return False
        peer.role, peer.name = record.role, record.name
        peer.token_id, peer.expires_at, peer.bound = record.token_id, record.expires_at, bool(record.accounts)
        peer.instance, peer.client = message.instance or "", message.client
        if record.role == "executor" and message.order_types is not None:
            self.announced[record.name] = frozenset(OrderType(t) for t in message.order_types)
        owned = [a.name for a in self.settings.accounts if a.executor == record.name]
        peer.accounts = access.visible(record.role, record.accounts, self._accounts(), owned)
        self.peers.add(peer)
        self._push(
            peer,
            m.Welcome(
                id=self._id(),
                ts=self._now(),
                session=peer.session,
                role=peer.role,
                accounts=sorted(peer.accounts),
                server_version=__version__,
                heartbeat_s=int(self.settings.gateway.heartbeat_timeout_s),
                max_frame_bytes=MAX_FRAME_BYTES,
            ),
        )
        log.info("gateway.connected", session=peer.session, role=peer.role, client=message.client, name=peer.name)
        if peer.role == "executor":
            await self._executor_connected(peer)
        return True

    async def _may_take_over(self, peer: Peer, name: str, hello: m.Hello) -> bool:
        """One executor identity per client. A reconnect of the connected client (same ``instance``) replaces its
        old connection at once (the old socket may be half-open). Another client with the same executor token is
        refused while the connected one answers a WebSocket ping within ``gateway.takeover_probe_s``: the first
        stays, the newcomer hears why (IN_USE, close 4005). A connection that does not answer is taken over."""
        old = self.executors.get(name)
        if old is None or old.closed or (hello.instance and hello.instance == old.instance):
            return True
        alive = old.probe is not None and await old.probe(self.settings.gateway.takeover_probe_s)
        if not alive or old.closed or self.executors.get(name) is not old:
            return True
        text = (
            f"executor {name} is already connected from another client ({old.client!r}, session {old.session}, "
            f"{old.address}); the first connection stays. Give every client its own executor token "
            "(enigma-apex token create --role executor --name NAME)"
        )
        log.warning("gateway.executor_in_use", executor=name, client=hello.client, address=peer.address)
        self._error(peer, ProtocolError(ErrorCode.IN_USE, text[:500], None, hello.id))
        peer.closing = (CLOSE_IN_USE, "executor already connected from another client")
        await self._note(
            lambda ctx: repository.record_alert(
                ctx,
                severity="warning",
                kind="executor.in_use",
                message=f"a second client ({hello.client!r} from {peer.address}) tried executor {name}'s token; "
                "it was refused and the connected one stays",
                detail={"executor": name},
            ),
        )
        return False

    async def _executor_connected(self, peer: Peer) -> None:
        old = self.executors.get(peer.name)
        if old is not None and old is not peer:
            old.closed = True  # the old socket may be half-open: its close goes on in the background
            task = asyncio.ensure_future(old.close(1000, "replaced by a new connection"))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self.executors[peer.name] = peer
        first = peer.name not in self.ever_connected
        self.ever_connected.add(peer.name)
        # Accounts HALTED or FAILED (while the executor was away, or before a restart) are flattened first, before
        # any order is resent. Read at registration, with no await in between: a halt from now on reaches this
        # executor through the guardian's flatten sink instead.
        for account in sorted(peer.accounts):
            if self._stopped(account):
                self._send_flatten(peer, account, f"account is {self._state(account).upper()}")
        peer.wake.set()
        clear = self.guardian.await_executor if first else self.guardian.set_reducing  # the first: no alert
        for account in peer.accounts:
            await asyncio.to_thread(clear, account, f"executor:{peer.name}", None)
            if self.broker_down.pop(account, None) is not None:  # the executor reports its broker again
                await asyncio.to_thread(self.guardian.set_reducing, account, "broker", None)
        self._risk_changed(peer.accounts)
        unsent: list[str] = []
        for key, text, account, purpose in await asyncio.to_thread(self._unacked, peer.name):  # resent until acked
            if purpose == OrderPurpose.ENTRY.value and self._stopped(account):
                unsent.append(key)  # a stopped account takes only exits and flattens
            else:
                with self._sending:
                    if key in self._unsendable or key in peer.sent_keys:
                        continue  # cancelled before it was sent (while this list was read), or out already
                    peer.sent_keys.add(key)
                    peer.fifo.append(text)
        if unsent:
            await self._note(lambda ctx: self._cancel_unsent(ctx, unsent))
        peer.wake.set()

    def _state(self, account: str) -> str:
        return self.guardian.tracker(account).trading_state()[0].value

    def _stopped(self, account: str) -> bool:
        """HALTED or FAILED: the account takes only exits and flattens."""
        return self._state(account) in ("halted", "failed")

    @staticmethod
    def _cancel_unsent(ctx: Any, keys: list[str]) -> None:
        repository.cancel_pending(ctx, keys, "the account is stopped (HALTED or FAILED): only exits and flattens")

    async def disconnected(self, peer: Peer) -> None:
        peer.closed = True
        self.peers.discard(peer)
        await self.reports_recorded(peer)  # what it reported before it left is recorded first
        if peer.role == "executor" and self.executors.get(peer.name) is peer:
            del self.executors[peer.name]
            for account in peer.accounts:
                reason = f"executor {peer.name} disconnected"
                await asyncio.to_thread(self.guardian.set_reducing, account, f"executor:{peer.name}", reason)
            self._risk_changed(peer.accounts)
            if self.stopping:  # the hub stops its executors: planned, not an incident (recorded, no alert)
                detail = {"executor": peer.name, "accounts": sorted(peer.accounts)}
                await self._note(lambda ctx: ctx.audit("executor.stopped", detail))
            else:
                await self._note(
                    lambda ctx: repository.record_alert(
                        ctx,
                        severity="critical",
                        kind="executor.disconnected",
                        message=f"executor {peer.name} disconnected; its accounts are REDUCING",
                        detail={"executor": peer.name},
                    ),
                )
        log.info("gateway.disconnected", session=peer.session, role=peer.role)

    # ================================================================ incoming frames
    async def on_frame(self, peer: Peer, frame: str | bytes) -> None:
        peer.last_seen = time.monotonic()
        message = decode(frame, MAX_FRAME_BYTES)
        if isinstance(message, ProtocolError):
            await self._bad(peer, message)
            return
        role = peer.role or ""
        kind = str(getattr(message, "type", ""))
        if not roles.may_send(role, kind):
            await self._bad(
                peer, ProtocolError(ErrorCode.FORBIDDEN, f"role {peer.role} may not send {kind}", "$.type", message.id)
            )
            return
        problem = check(message, peer.accounts, self._now().date())  # a bound token's other accounts: unknown
        if problem is not None:
            if problem.code == ErrorCode.UNKNOWN_ACCOUNT and peer.role == "executor":
                problem = ProtocolError(
                    ErrorCode.FORBIDDEN,
                    f"account {getattr(message, 'account', '')!r} is not this executor's",
                    "$.account",
                    message.id,
                )
            await self._bad(peer, problem)
            return
        handler = getattr(self, "_on_" + kind.replace(".", "_"), None)
        if handler is None:
            await self._bad(
                peer, ProtocolError(ErrorCode.FORBIDDEN, f"{kind} is not accepted from clients", "$.type", message.id)
            )
            return
        if kind not in REPORTS:
            await self.reports_recorded(peer)
        try:
            if peer.role == "executor" and kind in SNAPSHOTS:
                await self._snapshot(peer, kind, handler, message)
            else:
                await handler(peer, message)
        except Exception as exc:  # noqa: BLE001 - reported to the peer; the connection goes on
            self._failed(peer, kind, message.id, exc)

    async def _snapshot(
        self, peer: Peer, kind: str, handler: Callable[[Peer, Any], Awaitable[None]], message: m.Message
    ) -> None:
        """What an executor says of an account now (a position, a balance, its broker connection). The snapshots of
        one executor's connections are handled one at a time, and only the current connection's count: a connection
        a newer one of the same executor has replaced is stale (the new one reports afresh), even when its frame was
        read before the new one registered and waited for its reports (its fills and order states still count)."""
        async with self._snapshot_turn.setdefault(peer.name, asyncio.Lock()):
            if self.executors.get(peer.name) is not peer:
                log.info("gateway.stale_snapshot", executor=peer.name, session=peer.session, type=kind)
                return
            await handler(peer, message)

    def _failed(self, peer: Peer, kind: str, ref: str, exc: Exception) -> None:
        if isinstance(exc, StoreError):
            log.error("gateway.unwritable", type=kind, error=str(exc))
            detail = f"{exc}; nothing was recorded, new risk is refused until the database takes writes again"
            self._error(peer, ProtocolError(ErrorCode.UNAVAILABLE, detail[:500], None, ref))
            return
        log.exception("gateway.handler_failed", type=kind, error=str(exc))
        self._error(
            peer, ProtocolError(ErrorCode.INTERNAL, "the hub failed on this message; nothing changed", None, ref)
        )

    async def reports_recorded(self, peer: Peer) -> None:
        """Wait until every report the peer sent so far is recorded (or kept for later) and acted on."""
        while peer.reports is not None:
            await asyncio.shield(peer.reports)

    def _accounts(self) -> set[str]:
        return {a.name for a in self.settings.accounts}

    async def _bad(self, peer: Peer, error: ProtocolError) -> None:
        self._error(peer, error)
        now = time.monotonic()
        peer.errors.append(now)
        while peer.errors and now - peer.errors[0] > 60:
            peer.errors.popleft()
        if len(peer.errors) > self.settings.gateway.max_errors_per_min and peer.closing is None:
            peer.closing = (CLOSE_RATE, "too many bad messages")  # after the error frames it counted

    # ---------------------------------------------------------------- session
    async def _on_ping(self, peer: Peer, message: m.Ping) -> None:
        self._push(peer, m.Pong(id=self._id(), ts=self._now(), ref=message.id))

    async def _on_pong(self, peer: Peer, message: m.Pong) -> None:
        return None

    async def _on_hello(self, peer: Peer, message: m.Hello) -> None:
        self._error(peer, ProtocolError(ErrorCode.INVALID, "already authenticated", "$.type", message.id))

    async def _on_subscribe(self, peer: Peer, message: m.Subscribe) -> None:
        peer.topics.update(message.topics)
        topics: list[m.Topic] = sorted(peer.topics)  # type: ignore[arg-type]
        self._push(peer, m.Result(id=self._id(), ts=self._now(), ref=message.id, topics=topics))
        if "risk" in message.topics:
            for account in sorted(peer.accounts):
                self._push(peer, self.risk_message(account), ("risk", account))

    # ---------------------------------------------------------------- executor reports
    async def _on_ack(self, peer: Peer, message: m.Ack) -> None:
        status = OrderStatus.REJECTED if message.status == "rejected" else OrderStatus.ACCEPTED
        if message.key.startswith(("flatten:", "cancel:")):
            self._flatten_waiters.pop(message.key, None)
            kind = message.key.split(":", 1)[0]
            detail = {"key": message.key, "status": message.status, "reason": message.reason}
            await self._report(peer, message, lambda ctx: ctx.audit(f"{kind}.ack", detail, actor=peer.name))
            return

        def write(ctx: Any) -> str | None:
            key = repository.resolve_key(ctx.conn, message.key)
            if not repository.acknowledge_order(ctx, key, status, message.reason) or status is OrderStatus.ACCEPTED:
                return None
            account = ctx.conn.execute(select(s.orders.c.account_id).where(s.orders.c.idempotency_key == key))
            return str(account.scalar_one())  # refused: a plan waiting on the account's orders may go on

        async def then(account: str | None) -> None:
            if account is not None and status is OrderStatus.REJECTED and self.pipeline is not None:
                await self.pipeline.orders_changed(account)

        await self._report(peer, message, write, then)

    async def _on_order_update(self, peer: Peer, message: m.OrderUpdate) -> None:
        status = OrderStatus(message.status)

        def write(ctx: Any) -> tuple[bool, str]:
            key = repository.resolve_key(ctx.conn, message.key)  # an order named by its compact reference
            updated = repository.update_order(
                ctx,
                key,
                status=status,
                filled_quantity=message.filled_quantity,
                average_price=message.average_price,
                broker_order_id=message.broker_order_id,
                reason=message.reason,
            )
            return updated, key

        async def then(result: tuple[bool, str]) -> None:
            updated, key = result
            self.broadcast("orders", message if key == message.key else message.model_copy(update={"key": key}), None)
            if updated and self.pipeline is not None and (status.is_terminal or message.filled_quantity):
                await self.pipeline.orders_changed(message.account)  # a waiting plan may go on

        await self._report(peer, message, write, then)

    async def _on_fill(self, peer: Peer, message: m.FillMsg) -> None:
        contract = parse_symbol(message.symbol, on=self._now().date())
        fill = Fill(
            message.fill_id,
            message.key,
            message.account,
            contract,
            Side(message.side),
            message.quantity,
            message.price,
            message.commission,
            message.executed_at,
        )

        def write(ctx: Any) -> tuple[bool, str]:
            key = repository.resolve_key(ctx.conn, fill.idempotency_key)  # named by its compact reference
            return repository.insert_fill(ctx, replace(fill, idempotency_key=key), peer.name), key

        async def recorded(result: tuple[bool, str]) -> None:
            new, key = result
            if not new:
                return
            self.broadcast("orders", message if key == message.key else message.model_copy(update={"key": key}), None)
            if self.pipeline is not None:
                await self.pipeline.fill_recorded(message.account)  # the guardian, the book, the statistics
            else:
                await asyncio.to_thread(self.guardian.fill, message.account)

        # a signal for the account is planned after this fill is recorded and the book refreshed from it
        hold = self.pipeline.settling(message.account) if self.pipeline is not None else None
        await self._report(peer, message, write, recorded, hold)

    async def _report(
        self,
        peer: Peer,
        message: m.Message,
        op: Callable[[Any], Any],
        then: Callable[[Any], Awaitable[None]] | None = None,
        hold: contextlib.AbstractContextManager[Any] | None = None,
    ) -> None:
        """Record an executor's report. The write is handed to the database writer now; what follows it (``then``)
        runs once it is committed and once the peer's earlier reports are done, so reports take effect in arrival
        order. While the database refuses writes the report is kept, in order, and written by ``replay_deferred``
        when it is back: a fill made during an outage is never lost. ``hold`` is entered now and left once the
        report is acted on."""
        if hold is not None:
            hold.__enter__()
        write = self._submit_report(peer, op)
        previous = peer.reports
        step = asyncio.create_task(self._record_report(peer, message, previous, write, op, then, hold))
        peer.reports = step
        peer.report_write = write
        peer.reports_in_flight += 1
        if peer.reports_in_flight > REPORTS_IN_FLIGHT:
            await self.reports_recorded(peer)

    def _submit_report(self, peer: Peer, op: Callable[[Any], Any]) -> Future[Any]:
        earlier = peer.report_write
        if self.deferred or not self.store.writer.healthy:
            kept: Future[Any] = Future()
            kept.set_exception(StoreError("the database is not taking writes; the report is kept for later"))
            return kept

        def write(ctx: Any) -> Any:
            # the writer runs writes in submission order: an earlier report of this peer has either run in this
            # batch (not done yet) or is done; if it failed it is kept for later, and so is this one, behind it
            if earlier is not None and earlier.done() and isinstance(earlier.exception(), StoreError):
                raise StoreError("an earlier report is kept for later; this one waits behind it")
            return op(ctx)

        return self.store.writer.submit(write)

    async def _record_report(
        self,
        peer: Peer,
        message: m.Message,
        previous: asyncio.Task[None] | None,
        write: Future[Any],
        op: Callable[[Any], Any],
        then: Callable[[Any], Awaitable[None]] | None,
        hold: contextlib.AbstractContextManager[Any] | None,
    ) -> None:
        try:
            if previous is not None:
                await previous
            try:
                # committed already (a batch that held the reports before it too): taken at once, no loop turn
                result = write.result() if write.done() else await asyncio.wrap_future(write)
            except StoreError as exc:
                log.error("gateway.report_deferred", error=str(exc))
                self.deferred.append((op, then))
                return
            if then is not None:
                await then(result)
        except Exception as exc:  # noqa: BLE001 - reported to the peer; the next report goes on
            self._failed(peer, str(getattr(message, "type", "")), message.id, exc)
        finally:
            if hold is not None:
                hold.__exit__(None, None, None)
            peer.reports_in_flight -= 1
            if peer.reports is asyncio.current_task():  # the last one: the next report starts a new chain
                peer.reports = None
                peer.report_write = None

    async def _note(self, op: Callable[[Any], Any]) -> None:
        """An audit row or alert that must never stop what it describes (a flatten, a cancel, a disconnect)."""
        try:
            await self.store.writer.write_async(op)
        except StoreError as exc:
            log.error("gateway.note_not_recorded", error=str(exc))

    async def replay_deferred(self) -> int:
        """Write the reports kept during a database outage, oldest first. Returns how many were written."""
        written = 0
        while self.deferred:
            op, then = self.deferred[0]
            try:
                result = await self.store.writer.write_async(op)
            except StoreError as exc:
                log.error("gateway.replay_failed", left=len(self.deferred), error=str(exc))
                break
            self.deferred.popleft()
            written += 1
            if then is not None:
                await then(result)
        if written:
            await self.reconcile_book()
        return written

    async def reconcile_book(self) -> None:
        """Compare the executors' last reported positions with the recorded fills again (after reports kept during
        an outage are written): a mismatch that is gone clears its REDUCING reason."""
        for account, tracker in self.guardian.trackers.items():
            for key in [k for k in tracker.reducing_reasons if k.startswith("reconcile:")]:
                reported = {str(c): q for c, q in self.guardian.book.positions.get(account, {}).items()}
                symbol = key.split(":", 1)[1]
                contract = parse_symbol(symbol, on=self._now().date())
                stored = await asyncio.to_thread(self._stored_position, account, contract)
                if stored == reported.get(symbol, 0):
                    await asyncio.to_thread(self.guardian.set_reducing, account, key, None)

    async def _on_position(self, peer: Peer, message: m.PositionMsg) -> None:
        contract = parse_symbol(message.symbol, on=self._now().date())
        book = self.guardian.book.positions.setdefault(message.account, {})
        if message.quantity:
            book[contract] = message.quantity
        else:
            book.pop(contract, None)
        stored = await asyncio.to_thread(self._stored_position, message.account, contract)
        if stored != message.quantity:
            reason = f"reconcile: executor reports {message.quantity} {contract}, the hub's fills say {stored}"
            await asyncio.to_thread(self.guardian.set_reducing, message.account, f"reconcile:{contract}", reason)
            await self._note(
                lambda ctx: repository.record_alert(
                    ctx, severity="warning", kind="reconcile.mismatch", message=reason, account=message.account
                ),
            )
        else:
            await asyncio.to_thread(self.guardian.set_reducing, message.account, f"reconcile:{contract}", None)
        self.broadcast("orders", message, ("position", f"{message.account}/{message.symbol}"))

    def _stored_position(self, account: str, contract: Contract) -> int:
        with self.store.engine.connect() as conn:
            return repository.get_position(conn, account, contract).quantity

    async def _on_account_update(self, peer: Peer, message: m.AccountUpdate) -> None:
        """Queued for the mark worker, in arrival order: the connection goes on reading (heartbeats are never
        stuck behind marks) and a burst costs one thread hop, not one per update. No update is skipped: every
        unrealised peak reaches the tracker."""
        self._marks.append((message.account, message.balance, message.open_pnl))
        self._marks_wake.set()
        if self._mark_task is None or self._mark_task.done():
            self._mark_task = asyncio.create_task(self._mark_worker())

    async def _mark_worker(self) -> None:
        while True:
            await self._marks_wake.wait()
            self._marks_wake.clear()
            batch, self._marks = self._marks, []
            if not batch:
                continue
            await asyncio.to_thread(self.guardian.mark_many, batch)
            for account in dict.fromkeys(account for account, _, _ in batch):
                self.broadcast("risk", self.risk_message(account), ("risk", account))

    async def _on_account_status(self, peer: Peer, message: m.AccountStatus) -> None:
        """The executor's broker connection for an account: lost, the account is REDUCING with an alert, exactly
        as when the executor itself is lost; connected again, it is ACTIVE again."""
        account = message.account
        if message.connection == "connected":
            if self.broker_down.pop(account, None) is not None:
                await asyncio.to_thread(self.guardian.set_reducing, account, "broker", None)
                self._risk_changed([account])
                await self._note(
                    lambda ctx: repository.record_alert(
                        ctx,
                        severity="info",
                        kind="broker.connected",
                        account=account,
                        message=f"{account}: the broker connection is back ({peer.name})",
                        detail={"executor": peer.name},
                    ),
                )
            return
        state = message.connection.replace("_", " ")
        reason = f"{peer.name} reports the broker connection of {account} {state}" + (
            f": {message.message}" if message.message else ""
        )
        first = account not in self.broker_down
        self.broker_down[account] = reason
        await asyncio.to_thread(self.guardian.set_reducing, account, "broker", reason[:300])
        self._risk_changed([account])
        if first:
            await self._note(
                lambda ctx: repository.record_alert(
                    ctx,
                    severity="critical",
                    kind="broker.disconnected",
                    account=account,
                    message=f"{reason[:300]}; the account is REDUCING (no new entries) until it is back",
                    detail={"executor": peer.name},
                ),
            )

    async def _on_market_data(self, peer: Peer, message: m.MarketData) -> None:
        contract = parse_symbol(message.symbol, on=self._now().date())
        if self.pipeline is not None and message.last is not None:
            self.pipeline.quotes[contract] = message.last
        bars = [Bar(b.start, b.open, b.high, b.low, b.close, b.volume) for b in message.bars]
        # stamped with the hub's clock, as its decisions and fills are (the bars say what followed them)
        self.hub.market.update(format_symbol(contract), self._now(), message.last, message.bid, message.ask, bars)
        self.broadcast("market", message, ("market", message.symbol))

    async def _on_health(self, peer: Peer, message: m.Health) -> None:
        self.broadcast("health", message, ("health", peer.name))
        failing = {name: c for name, c in message.components.items() if c.status != "ok"}
        if peer.role == "executor" and failing:  # e.g. a NinjaTrader callback that failed: kept and alerted
            text = "; ".join(f"{name} {c.status}: {c.detail}" for name, c in sorted(failing.items()))
            await self._note(
                lambda ctx: repository.record_alert(
                    ctx,
                    severity="warning",
                    kind="executor.health",
                    message=f"{peer.name}: {text}"[:500],
                    detail={"executor": peer.name, "components": sorted(failing)},
                ),
            )

    # ---------------------------------------------------------------- signals
    async def _on_signal(self, peer: Peer, message: m.SignalMsg) -> None:
        pipeline = self._pipeline(peer, message.id)
        if pipeline is None:
            return
        try:
            signal = signal_from_message(message, repository.new_id(), self._now(), peer.name)
        except ValueError as exc:  # a stop on the wrong side of the entry
            self._error(peer, ProtocolError(ErrorCode.BAD_PRICE, str(exc)[:500], "$.stop", message.id))
            return
        outside = sorted({a.name for a in pipeline.accounts_for(signal)} - peer.accounts)
        if outside:
            bound, group = ", ".join(sorted(peer.accounts)), signal.group or "default"
            text = f"this token is bound to {bound}; group {group} holds other accounts"
            self._error(peer, ProtocolError(ErrorCode.FORBIDDEN, text[:500], "$.group", message.id))
            return
        raw = message.model_dump(mode="json")
        outcome = await pipeline.submit(signal, dedup_key=f"ws:{peer.name}:{message.id}", raw=raw)
        self._answer(peer, message.id, outcome)

    async def _on_approve(self, peer: Peer, message: m.Approve) -> None:
        pipeline = self._pipeline(peer, message.id)
        if pipeline is not None and self._may_decide(peer, pipeline, message.signal_id, message.accounts, message.id):
            outcome = await pipeline.approve(message.signal_id, f"{peer.role}:{peer.name}", message.accounts)
            self._answer(peer, message.id, outcome, approval=True)

    async def _on_reject(self, peer: Peer, message: m.Reject) -> None:
        pipeline = self._pipeline(peer, message.id)
        if pipeline is not None and self._may_decide(peer, pipeline, message.signal_id, message.accounts, message.id):
            outcome = await pipeline.reject(message.signal_id, f"{peer.role}:{peer.name}", message.accounts)
            self._answer(peer, message.id, outcome, approval=True)

    def _may_decide(
        self, peer: Peer, pipeline: SignalPipeline, signal_id: str, accounts: list[str] | None, ref: str
    ) -> bool:
        """A bound token approves or rejects only its own accounts: the ones it names, or (naming none) a signal
        that waits for its own accounts alone."""
        named = pipeline.waiting_accounts(signal_id) if accounts is None else frozenset(accounts)
        if not peer.bound or named <= peer.accounts:
            return True
        self._error(
            peer, ProtocolError(ErrorCode.NOT_PENDING, f"signal {signal_id} is not waiting for approval", None, ref)
        )
        return False

    def _pipeline(self, peer: Peer, ref: str) -> SignalPipeline | None:
        if self.pipeline is None:
            self._error(peer, ProtocolError(ErrorCode.UNAVAILABLE, "the signal pipeline is not running", None, ref))
        return self.pipeline

    def _answer(self, peer: Peer, ref: str, outcome: Outcome, *, approval: bool = False) -> None:
        """Tell the sender the outcome. Decisions also go to every ``decisions`` subscriber."""
        if outcome.duplicate:
            code, text = (
                (ErrorCode.NOT_PENDING, f"signal {outcome.signal_id} is not waiting for approval")
                if approval
                else (ErrorCode.DUPLICATE, "this signal was already received; nothing done")
            )
            self._error(peer, ProtocolError(code, text, None, ref))
            return
        if "decisions" not in peer.topics:
            for decision in outcome.decisions:
                self._push(peer, self.decision_message(decision))

    def publish_decision(self, decision: AccountDecision) -> None:
        self.broadcast("decisions", self.decision_message(decision), None)

    def decision_message(self, d: AccountDecision) -> m.DecisionMsg:
        return m.DecisionMsg(
            id=self._id(),
            ts=self._now(),
            decision_id=d.decision_id,
            signal_id=d.signal_id,
            account=d.account,
            action=d.action,
            symbol=d.symbol,
            quantity=d.quantity,
            verdicts=[
                m.VerdictMsg(code=str(v["code"]), max_quantity=int(v["max_quantity"]), reason=str(v["reason"])[:500])
                for v in d.verdicts
            ],
            reason=d.reason[:500],
            order_keys=list(d.order_keys),
            score=d.score,
        )

    # ---------------------------------------------------------------- control
    async def _on_emergency_stop(self, peer: Peer, message: m.EmergencyStop) -> None:
        """Answered with a ``result`` naming what was done per account. An account the hub does not know refuses
        the whole stop (UNKNOWN_ACCOUNT, nothing halted) unless the sender asked for ``known_only``."""
        accounts = message.accounts
        if accounts is None and peer.bound:
            accounts = sorted(peer.accounts)  # "every account" of a bound token: its own
        unknown = [] if accounts is None else [a for a in accounts if a not in peer.accounts]
        if unknown and not message.known_only:
            where = f"$.accounts[{accounts.index(unknown[0])}]" if accounts else "$.accounts"
            text = f"unknown account(s) {', '.join(unknown)}: nothing was halted (send known_only to halt the others)"
            self._error(peer, ProtocolError(ErrorCode.UNKNOWN_ACCOUNT, text[:500], where, message.id))
            return
        known = None if accounts is None else [a for a in accounts if a not in unknown]
        done = {} if known == [] else await self.emergency_stop(known, message.reason or "emergency stop", _actor(peer))
        report = {**done, **dict.fromkeys(unknown, "unknown account: not halted")}
        self._push(peer, m.Result(id=self._id(), ts=self._now(), ref=message.id, accounts=report))

    async def _on_halt(self, peer: Peer, message: m.Halt) -> None:
        accounts = [message.account] if message.account is not None else sorted(peer.accounts) if peer.bound else None
        done = await self.emergency_stop(accounts, message.reason or "halted", _actor(peer))
        self._push(peer, m.Result(id=self._id(), ts=self._now(), ref=message.id, accounts=done))

    async def _on_resume(self, peer: Peer, message: m.Resume) -> None:
        snap = await asyncio.to_thread(self.guardian.resume, message.account)
        self.broadcast("risk", self.risk_message(message.account), ("risk", message.account))
        state = snap.state.value.upper()
        text = state if state == "ACTIVE" else f"{state}: {snap.state_reason}"[:500]
        self._push(peer, m.Result(id=self._id(), ts=self._now(), ref=message.id, accounts={message.account: text}))

    # ================================================================ outgoing
    def broadcast(self, topic: str, message: m.Message, coalesce: tuple[str, str] | None) -> None:
        """To every peer subscribed to ``topic`` that sees the message's account (when it names one)."""
        account = getattr(message, "account", None)
        text: str | None = None  # encoded once, for every peer that takes it
        for peer in list(self.peers):
            if topic in peer.topics and (account is None or account in peer.accounts) and not peer.closed:
                if text is None:
                    text = encode(message)
                self._enqueue(peer, text, coalesce)

    def _risk_changed(self, accounts: Iterable[str]) -> None:
        """The accounts' trading state may have changed outside a mark (an executor or a broker connection came or
        went): every ``risk`` subscriber hears their state now, not at the next mark."""
        for account in sorted(accounts):
            if account in self.guardian.trackers:
                self.broadcast("risk", self.risk_message(account), ("risk", account))

    def risk_message(self, account: str) -> m.RiskUpdate:
        snap = self.guardian.tracker(account).snapshot()
        return m.RiskUpdate(
            id=self._id(),
            ts=self._now(),
            account=account,
            state=snap.state.value.upper(),
            state_reason=snap.state_reason[:500],
            equity=snap.equity,
            threshold=snap.threshold,
            distance=snap.distance,
            drawdown_used_pct=snap.drawdown_used_pct,
            locked=snap.locked,
            contracts_allowed=snap.contracts_allowed,
            dll_remaining=snap.dll_remaining,
        )

    def _next_seq(self, executor: str) -> int:
        if executor not in self._seq:
            with self.store.engine.connect() as conn:
                top = conn.execute(select(func.max(s.orders.c.seq)).where(s.orders.c.executor == executor)).scalar()
            self._seq[executor] = int(top or 0)
        self._seq[executor] += 1
        return self._seq[executor]

    def _unacked(self, executor: str) -> list[tuple[str, str, str, str]]:
        """Every stored order of this executor still waiting for its acknowledgement, in sequence order: (key, the
        frame, account, purpose)."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(s.orders)
                .where((s.orders.c.executor == executor) & (s.orders.c.status == OrderStatus.PENDING.value))
                .order_by(s.orders.c.seq)
            ).all()
        return [(row.idempotency_key, encode(self._order_message(row)), row.account_id, row.purpose) for row in rows]

    def _intent_message(self, intent: OrderIntent, seq: int) -> m.OrderPlace:
        bracket = intent.bracket
        return m.OrderPlace(
            id=f"o-{secrets.token_hex(6)}",
            ts=self._now(),
            seq=seq,
            key=intent.idempotency_key,
            account=intent.account,
            symbol=repository.symbol_of(intent.contract),
            side=intent.side.value,
            quantity=intent.quantity,
            order_type=intent.order_type.value,
            limit_price=intent.limit_price,
            stop_price=intent.stop_price,
            bracket=None if bracket is None else m.Bracket(stop=bracket.stop, target=bracket.target),
            tif=intent.tif.value,
            purpose=intent.purpose.value,
            order_ref=order_ref(intent.idempotency_key),
        )

    def _order_message(self, row: Any) -> m.OrderPlace:
        bracket = json.loads(row.bracket or "{}")
        return m.OrderPlace(
            id=f"o-{row.id[:12]}",
            ts=self._now(),
            seq=row.seq,
            key=row.idempotency_key,
            account=row.account_id,
            symbol=row.symbol,
            side=row.side,
            quantity=row.quantity,
            order_type=row.order_type,
            limit_price=row.limit_price,
            stop_price=row.stop_price,
            bracket=m.Bracket(**{k: Decimal(v) for k, v in bracket.items() if v is not None}) if bracket else None,
            tif=row.tif,
            purpose=row.purpose,
            order_ref=order_ref(row.idempotency_key),
        )

    def store_order(self, ctx: Any, intent: OrderIntent, decision_id: str | None = None) -> tuple[Any, str]:
        """Inside a write transaction: store the order with the executor's next sequence number (a repeated
        idempotency key returns the stored order unchanged). ``send_order`` sends it once committed."""
        executor = self.owner_of(intent.account)
        seq = self._next_seq(executor)
        stored = repository.insert_order(ctx, intent, executor=executor, seq=seq, decision_id=decision_id)
        if not stored.created:
            self._seq[executor] -= 1  # the number was not used
            row = ctx.conn.execute(select(s.orders).where(s.orders.c.idempotency_key == intent.idempotency_key)).one()
            return stored, encode(self._order_message(row))
        return stored, encode(self._intent_message(intent, seq))

    def send_order(self, stored: tuple[Any, str]) -> None:
        """After the commit: send a pending order to its executor (it is resent on reconnect until acknowledged).
        An entry for an account stopped meanwhile is never sent: it is cancelled."""
        order, text = stored
        if order.purpose is OrderPurpose.ENTRY and self._stopped(order.account):
            key = order.idempotency_key
            task = asyncio.ensure_future(self._note(lambda ctx: self._cancel_unsent(ctx, [key])))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        peer = self.executors.get(order.executor)
        if peer is None or order.status is not OrderStatus.PENDING:
            return
        with self._sending:
            key = order.idempotency_key
            if key in peer.sent_keys or key in self._unsendable:
                return
            peer.sent_keys.add(key)
        self._enqueue(peer, text)

    async def place_order(self, intent: OrderIntent) -> repository.StoredOrder:
        """Store the order (committed), then send it to the account's executor."""
        stored = await self.store.writer.write_async(lambda ctx: self.store_order(ctx, intent))
        if self.pipeline is not None:
            self.pipeline.forget_working(intent.account)
        self.send_order(stored)
        return stored[0]  # type: ignore[no-any-return]

    def order_types(self, executor: str) -> frozenset[OrderType]:
        """The entry order types an executor places: every type for the executors the hub ships (paper broker, ATI,
        Tradovate); for others what they announced in their ``hello`` (``order_types``), else every type (an
        executor that cannot place one rejects it, visibly)."""
        return self.announced.get(executor, frozenset(OrderType))

    def store_cancel(self, ctx: Any, order_key: str, reason: str) -> tuple[str, str, str] | None:
        """Inside a write transaction: ask for an order's cancellation. An order its executor has not received
        (stored while the executor was away) is cancelled here and never sent; one it may hold gets an
        ``order.cancel`` after the commit (``send_cancel``). Returns (key, executor, account) or None."""
        row = ctx.conn.execute(
            select(s.orders.c.status, s.orders.c.executor, s.orders.c.account_id).where(
                s.orders.c.idempotency_key == order_key
            )
        ).first()
        if row is None or OrderStatus(row.status).is_terminal:
            return None
        peer = self.executors.get(row.executor)
        with self._sending:  # decided together with the resend of a reconnecting executor's orders
            received = row.status != OrderStatus.PENDING.value or (peer is not None and order_key in peer.sent_keys)
            if not received:
                self._unsendable.add(order_key)  # a resend that read its list before this commit must skip it
        if not received:
            repository.update_order(
                ctx, order_key, status=OrderStatus.CANCELLED, reason=f"cancelled before it was sent: {reason}"[:500]
            )
            return None
        ctx.audit("order.cancel", {"order": order_key, "reason": reason[:300]}, account=row.account_id)
        return order_key, str(row.executor), str(row.account_id)

    def send_cancel(self, stored: tuple[str, str, str] | None) -> None:
        """After the commit: send the ``order.cancel`` asked for in ``store_cancel`` (when the executor is here)."""
        if stored is None:
            return
        order_key, executor, account = stored
        peer = self.executors.get(executor)
        if peer is None:
            log.warning("gateway.cancel_not_sent", order=order_key, executor=executor)
            return
        self._push_cancel(peer, account, order_key)

    def _push_cancel(self, peer: Peer, account: str, order_key: str) -> None:
        key = f"cancel:{order_key}:{secrets.token_hex(4)}"
        self._push(
            peer,
            m.OrderCancel(
                id=self._id(),
                ts=self._now(),
                key=key,
                account=account,
                order_key=order_key,
                order_ref=order_ref(order_key),
            ),
        )

    def _send_flatten(self, peer: Peer, account: str, reason: str) -> None:
        key = f"flatten:{account}:{secrets.token_hex(4)}"
        self._flatten_waiters[key] = time.monotonic()
        self._push(peer, m.Flatten(id=self._id(), ts=self._now(), key=key, account=account, reason=reason[:500]))

    def _flatten_from_guardian(self, account: str, reason: str) -> None:
        """The guardian's flatten sink (may run in a worker thread). Flattens asked for together (an emergency stop
        of hundreds of accounts) wake the loop once and are sent in one pass, in the order they were asked for."""
        loop = self.loop
        if loop is None:
            return
        with self._flatten_lock:
            self._flattens_due.append((account, reason))
            if self._flattens_scheduled:
                return
            self._flattens_scheduled = True
        loop.call_soon_threadsafe(self._send_due_flattens)

    def _send_due_flattens(self) -> None:
        with self._flatten_lock:
            due, self._flattens_due = self._flattens_due, []
            self._flattens_scheduled = False
        owners = {entry.name: entry.executor for entry in self.settings.accounts}
        for account, reason in due:
            peer = self.executors.get(owners.get(account, ""))
            if peer is not None:
                self._send_flatten(peer, account, reason)

    async def cancel_order(self, order_key: str, actor: str) -> str:
        """Ask the owning executor to cancel a working order (never refused by the gate). Returns what was done."""
        with self.store.engine.connect() as conn:
            order = repository.get_order(conn, order_key)
        if order is None:
            raise KeyError(order_key)
        if order.status.is_terminal:
            return f"already {order.status.value}"
        peer = self.executors.get(order.executor)
        sent = peer is not None
        await self._note(lambda ctx: ctx.audit("order.cancel", {"order": order_key, "sent": sent}, actor=actor))
        if peer is None:
            return "executor not connected"
        self._push_cancel(peer, order.account, order_key)
        return "cancel sent"

    async def close_position(self, account: str, contract: Contract, actor: str) -> dict[str, Any]:
        """Close one position of one account at market (a reduce-only exit; closing risk is never refused) and
        cancel the working entries of its family; the account is not halted. Returns what was sent."""
        cancels: list[str] = []
        if self.pipeline is not None:
            family = contract.spec.family
            cancels = [o.key for o in self.pipeline.refresh_working(account)
                       if o.purpose is OrderPurpose.ENTRY and o.contract.spec.family == family]  # fmt: skip
        key = f"close:{account}:{format_symbol(contract, Notation.CME)}:{secrets.token_hex(4)}"

        def op(ctx: Any) -> tuple[list[Any], Any, int]:
            # the position as recorded, in this transaction: what the pages show from the moment its fill is
            # committed (the guardian's book follows a moment later, after the fill's own work)
            held = next((p.quantity for p in repository.list_positions(ctx.conn, account) if p.contract == contract), 0)
            ctx.audit("position.close", {"symbol": format_symbol(contract), "quantity": held}, account=account,
                      actor=actor)  # fmt: skip
            stopped = [self.store_cancel(ctx, order, f"position closed by {actor}") for order in cancels]
            if not held:
                return stopped, None, 0
            intent = OrderIntent(
                idempotency_key=key, account=account, contract=contract, side=Side.SELL if held > 0 else Side.BUY,
                quantity=abs(held), purpose=OrderPurpose.EXIT,
            )  # fmt: skip
            return stopped, self.store_order(ctx, intent), held

        stopped, stored, held = await self.store.writer.write_async(op)
        for cancel in stopped:
            self.send_cancel(cancel)
        if stored is not None:
            self.send_order(stored)
        if self.pipeline is not None:
            self.pipeline.forget_working(account)
        return {
            "account": account,
            "symbol": format_symbol(contract),
            "closing": abs(held),
            "order": None if stored is None else key,
            "cancelled": cancels,
        }

    async def _alert_absent(self, now: float, grace_s: float) -> None:
        """One critical alert per executor that has not connected within the grace period after start."""
        if now - self.started < grace_s:
            return
        expected: dict[str, list[str]] = {}
        for entry in self.settings.accounts:
            expected.setdefault(entry.executor, []).append(entry.name)
        for executor, accounts in sorted(expected.items()):
            if executor in self.ever_connected or executor in self._absent_alerted:
                continue
            self._absent_alerted.add(executor)
            message = _absent_message(executor, accounts, now - self.started)
            log.warning("gateway.executor_absent", executor=executor)
            await self._note(_alert_op("executor.absent", None, message, executor))

    async def emergency_stop(self, accounts: list[str] | None, reason: str, actor: str) -> dict[str, str]:
        """HALTED is persisted first, then every owning executor gets a flatten. Returns account -> status."""
        targets = sorted(self._accounts() if accounts is None else set(accounts) & self._accounts())
        telemetry = self.guardian.telemetry
        with telemetry.timed(telemetry.stop_cascade):  # HALTED recorded and every flatten queued to its executor
            await asyncio.to_thread(self.guardian.halt_many, targets, f"{reason} ({actor})")
        await asyncio.sleep(0)  # the executors' writers send the flattens before the risk updates below are built
        result: dict[str, str] = {}
        for n, account in enumerate(targets, 1):
            connected = self.owner_of(account) in self.executors
            result[account] = "flatten sent" if connected else "halted; executor not connected"
            self.broadcast("risk", self.risk_message(account), ("risk", account))
            if n % RISK_UPDATES_PER_TURN == 0:
                await asyncio.sleep(0)  # a writer that paused in a long burst of flattens goes on meanwhile
        await self._note(
            lambda ctx: ctx.audit(
                "emergency.stop", {"accounts": targets, "reason": reason, "result": result}, actor=actor
            ),
        )
        return result

    async def end_sessions(self, token_id: str, why: str) -> int:
        """Close every open session of a token (revoked, expired) with 4003; returns how many."""
        ended = 0
        for peer in list(self.peers):
            if peer.token_id == token_id and not peer.closed:
                log.warning("gateway.session_ended", session=peer.session, role=peer.role, name=peer.name, why=why)
                peer.closed = True
                await peer.close(CLOSE_TOKEN, why)
                await self.disconnected(peer)
                ended += 1
        return ended

    async def watchdog(self) -> None:
        """Disconnect executors that went silent; alert on flattens nobody confirmed (settings read each pass: a
        live change applies at once)."""
        while True:
            cfg = self.settings.gateway
            await asyncio.sleep(min(1.0, cfg.heartbeat_timeout_s / 3))
            now = time.monotonic()
            for peer in list(self.executors.values()):
                if now - peer.last_seen > cfg.heartbeat_timeout_s and not peer.closed:
                    log.warning("gateway.executor_silent", name=peer.name)
                    peer.closed = True
                    await peer.close(CLOSE_SILENT, "no heartbeat")
                    await self.disconnected(peer)
            wall = self._now()
            for peer in list(self.peers):
                if peer.expires_at is not None and peer.expires_at <= wall and not peer.closed:
                    await self.end_sessions(peer.token_id, "token expired")
            if self.pipeline is not None:
                await self.pipeline.expire_and_record()
            await self._alert_absent(now, cfg.executor_grace_s)
            for key, started in list(self._flatten_waiters.items()):
                if now - started > cfg.flatten_timeout_s:
                    del self._flatten_waiters[key]
                    account = key.split(":")[1]
                    message = f"flatten {key} not acknowledged within {cfg.flatten_timeout_s} s"
                    await self._note(_alert_op("flatten.unconfirmed", account, message))


def _absent_message(executor: str, accounts: list[str], seconds: float) -> str:
    return (
        f"executor {executor} has not connected {seconds:.0f} s after the hub started; its accounts "
        f"({', '.join(accounts)}) stay REDUCING (no new entries) until it does"
    )


def _token_of(frame: str | bytes) -> str:
    """The token a refused hello presented (to count its failures; never logged), or ''."""
    try:
        data = json.loads(frame)
    except ValueError:
        return ""
    token = data.get("token") if isinstance(data, dict) else None
    return token if isinstance(token, str) else ""


def _actor(peer: Peer) -> str:
    return f"{peer.role}:{peer.name}"


def _alert_op(kind: str, account: str | None, message: str, executor: str | None = None) -> Callable[[Any], int]:
    def op(ctx: Any) -> int:
        detail = None if executor is None else {"executor": executor}
        return repository.record_alert(
            ctx, severity="critical", kind=kind, account=account, message=message, detail=detail
        )

    return op


def order_symbol(contract: Contract) -> str:
    return format_symbol(contract, Notation.NINJATRADER)


__all__ = ["GatewayService", "OrderPurpose", "Peer", "order_symbol"]
