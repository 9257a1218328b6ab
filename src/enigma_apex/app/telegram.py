"""Control from the phone through Telegram, without opening a port (docs/operations.md, "Telegram").

One more transport over the hub, like HTTP and WebSocket: the bot long-polls the Bot API (outbound only) through
python-telegram-bot's ``Bot``, and every command goes to the same services the HTTP API calls (the gateway's
emergency stop, the guardian's resume, the pipeline's approvals, the account views).

- **Who**: a chat listed in ``telegram.chats`` has a role (dashboard, mobile, observer) and exactly the rights of a
  token of that role (``protocol/access.py``). Any other chat gets no answer; it is recorded (``telegram.refused``,
  at most once a minute per chat, so a stranger cannot fill the database).
- **Audit**: every command a listed chat sends is an audit row ``telegram.command`` with ``telegram:<chat>`` as
  the actor; the actions it takes record their own rows with the same actor.
- **Two steps for the irreversible**: ``/flatten`` and ``/halt NAME`` answer with a confirmation button that works
  once, for ``telegram.confirm_s``, from the same chat; a stale one says so and does nothing.
- **Storms**: at most ``COMMANDS_PER_MINUTE`` commands a minute per chat; past it one "slow down" answer, then
  silence until the minute has passed.
- **Outages**: a Telegram failure never touches trading. The loop retries with backoff (1 s doubling to 60 s; a
  429's ``retry_after`` is honoured); alerts wait in a bounded queue meanwhile (the oldest dropped past it: they stay
  recorded in the database and in the other channels).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog

from enigma_apex.app import views
from enigma_apex.config.models import TelegramSection
from enigma_apex.dashboard.words import money as _money  # as the dashboard says it
from enigma_apex.errors import InputError
from enigma_apex.protocol.access import allowed

log = structlog.get_logger(__name__)

COMMANDS_PER_MINUTE = 20
REFUSED_EVERY_S = 60.0  # one telegram.refused row per foreign chat per minute at most
ALERT_QUEUE = 200
MAX_BACKOFF_S = 60.0
HELP = (
    "/status: every account's state, distance to ruin, day P&L, positions\n"
    "/account NAME: one account with its positions and working orders\n"
    "/pending: signals waiting for approval, with Approve / Reject per account\n"
    "/flatten: emergency stop, every account (asks to confirm)\n"
    "/halt NAME: halt and flatten one account (asks to confirm)\n"
    "/resume NAME: resume an account halted by you or a buffer\n"
    "/alerts on|off: alerts in this chat"
)


@dataclass
class _Confirm:
    action: str  # flatten | halt
    account: str | None
    chat: int
    expires: float


def status_lines(rows: list[dict[str, Any]]) -> str:
    """``/status``: one block per account (pure: the rows of ``views.account_views``)."""
    if not rows:
        return "No accounts."
    out = []
    for row in rows:
        held = ", ".join(f"{symbol} {quantity:+d}" for symbol, quantity in row["open_positions"].items()) or "flat"
        link = "" if row["executor_connected"] else " · executor not connected"
        reason = f" ({row['state_reason']})" if row.get("state_reason") else ""
        out.append(
            f"{row['account']} · {row['state']}{reason}{link}\n"
            f"  to ruin {_money(row['distance'])} · day P&L {_money(row.get('day_pnl'))} · {held}"
        )
    return "\n".join(out)


def account_lines(view: dict[str, Any]) -> str:
    """``/account NAME`` (pure: ``views.account_detail``)."""
    lines = [
        f"{view['account']} ({view['profile']}) · {view['state']}",
        f"equity {_money(view.get('equity'))} · threshold {_money(view.get('threshold'))} · to ruin "
        f"{_money(view['distance'])} · day P&L {_money(view.get('day_pnl'))}",
    ]
    for p in view.get("positions", []):
        head = f"{p['symbol']} {int(p['quantity']):+d} @ {p['average_price']} · open {_money(p['open_pnl'])}"
        lines.append(f"{head} · guardian flattens at {p['flatten_price'] or '—'} · rule ends it at "
                     f"{p['ruin_price'] or '—'}")  # fmt: skip
    for o in view.get("orders", []):
        lines.append(f"working: {o['side']} {o['quantity']} {o['symbol']} ({o['status']})")
    return "\n".join(lines)


class TelegramControl:
    def __init__(
        self,
        cfg: TelegramSection,
        service: Any,
        *,
        bot: Any = None,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        self.cfg = cfg
        self.service = service
        self.bot = bot
        self.monotonic = monotonic or service.clock.monotonic  # the hub's injected clock
        self.offset: int | None = None
        self.confirms: dict[str, _Confirm] = {}
        self.choices: dict[str, tuple[str, str, str]] = {}  # button handle -> (verb, signal or "", account)
        self.muted: set[int] = set()
        self.refused_at: dict[int, float] = {}
        self.recent: dict[int, deque[float]] = {}
        self.alerts: asyncio.Queue[dict[str, Any]] = asyncio.Queue(ALERT_QUEUE)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.connected = False
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ the loop
    async def run(self) -> None:
        """Poll for updates until cancelled; every failure is waited out with backoff, never raised."""
        from telegram import Bot
        from telegram.error import InvalidToken, RetryAfter, TelegramError
        from telegram.request import HTTPXRequest

        self.loop = asyncio.get_running_loop()
        if self.bot is None:
            token = "" if self.cfg.token is None else self.cfg.token.get_secret_value()
            self.bot = Bot(
                token,
                base_url=self.cfg.api_url,
                request=HTTPXRequest(connect_timeout=5.0, read_timeout=10.0),
                get_updates_request=HTTPXRequest(connect_timeout=5.0, read_timeout=self.cfg.poll_s + 10.0),
            )
        sender = asyncio.create_task(self._send_alerts())
        delay = 1.0
        try:
            while True:
                try:
                    if not self.connected:
                        await self.bot.initialize()  # getMe: the token is right and the API answers
                        self.connected = True
                        log.info("telegram.connected", chats=len(self.cfg.chats))
                    updates = await self.bot.get_updates(
                        offset=self.offset, timeout=self.cfg.poll_s, allowed_updates=["message", "callback_query"]
                    )
                    delay = 1.0
                except RetryAfter as exc:
                    await asyncio.sleep(_seconds(exc))
                    continue
                except InvalidToken:
                    log.error("telegram.invalid_token")
                    await asyncio.sleep(MAX_BACKOFF_S)  # it will not fix itself: ask rarely
                    continue
                except TelegramError as exc:
                    log.warning("telegram.unreachable", error=str(exc)[:200], retry_in_s=delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, MAX_BACKOFF_S)
                    continue
                for update in updates:
                    self.offset = update.update_id + 1
                    try:
                        await self.handle(update)
                    except Exception:  # one bad update never stops the others
                        log.exception("telegram.update_failed", update=update.update_id)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            if self.connected:
                with contextlib.suppress(Exception):  # closing its connections; nothing is waiting on them
                    await self.bot.shutdown()
                self.connected = False

    async def handle(self, update: Any) -> None:
        if update.callback_query is not None:
            await self._on_tap(update.callback_query)
            return
        message = update.effective_message
        if message is None or not message.text or update.effective_chat is None:
            return
        await self._on_text(int(update.effective_chat.id), message.text.strip())

    # ------------------------------------------------------------------ messages
    def role(self, chat: int) -> str | None:
        return self.cfg.chats.get(str(chat))

    async def _on_text(self, chat: int, text: str) -> None:
        role = self.role(chat)
        if role is None:
            await self._refused(chat, text)
            return
        if not self._within_rate(chat):
            return
        words = text.split()
        command = words[0].split("@", 1)[0].lower()
        args = words[1:]
        actor = f"telegram:{chat}"
        await self._audit("telegram.command", {"chat": chat, "text": text[:200]}, actor)
        handlers: dict[str, tuple[str, Callable[..., Any]]] = {
            "/start": ("read", self._help),
            "/help": ("read", self._help),
            "/status": ("read", self._status),
            "/account": ("read", self._account),
            "/pending": ("read", self._pending),
            "/flatten": ("control", self._ask_flatten),
            "/halt": ("control", self._ask_halt),
            "/resume": ("control", self._resume),
            "/alerts": ("read", self._alerts_switch),
        }
        found = handlers.get(command)
        if found is None:
            await self._say(chat, f"Unknown command {command[:40]!r}.\n{HELP}")
            return
        right, handler = found
        if not allowed(role, right):
            await self._say(chat, f"Refused: this chat's role ({role}) may not {command[1:]}.")
            return
        await handler(chat, role, args, actor)

    async def _refused(self, chat: int, text: str) -> None:
        now = self.monotonic()
        if now - self.refused_at.get(chat, -REFUSED_EVERY_S) < REFUSED_EVERY_S:
            return
        self.refused_at[chat] = now
        log.warning("telegram.refused", chat=chat)
        await self._audit("telegram.refused", {"chat": chat, "text": text[:64]}, "telegram")

    def _within_rate(self, chat: int) -> bool:
        now = self.monotonic()
        window = self.recent.setdefault(chat, deque())
        while window and now - window[0] >= 60:
            window.popleft()
        window.append(now)
        if len(window) == COMMANDS_PER_MINUTE + 1:
            task = asyncio.get_running_loop().create_task(
                self._say(chat, f"Too many commands: at most {COMMANDS_PER_MINUTE} a minute. Wait a moment.")
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(window) <= COMMANDS_PER_MINUTE

    async def _help(self, chat: int, role: str, args: list[str], actor: str) -> None:
        await self._say(chat, f"Enigma-Apex · this chat: {role}\n{HELP}")

    def _visible(self) -> list[dict[str, Any]]:
        gateway = self.service.gateway
        connected = set(gateway.executors) if gateway is not None else set()
        return views.account_views(self.service.settings, self.service.guardian, connected)

    async def _status(self, chat: int, role: str, args: list[str], actor: str) -> None:
        rows = await asyncio.to_thread(self._visible)
        await self._say(chat, status_lines(rows))

    async def _account(self, chat: int, role: str, args: list[str], actor: str) -> None:
        name = self._account_named(args)
        if name is None:
            await self._say(chat, f"Which account? /account NAME ({', '.join(self._names())})")
            return
        gateway = self.service.gateway
        connected = set(gateway.executors) if gateway is not None else set()

        def detail() -> dict[str, Any]:
            s = self.service
            return views.account_detail(s.settings, s.guardian, s.store, s.market, name, connected, s.clock.now())

        await self._say(chat, account_lines(await asyncio.to_thread(detail)))

    def _names(self) -> list[str]:
        return [a.name for a in self.service.settings.accounts]

    def _account_named(self, args: list[str]) -> str | None:
        if len(args) != 1:
            return None
        by_case = {name.upper(): name for name in self._names()}
        return by_case.get(args[0].upper())

    async def _pending(self, chat: int, role: str, args: list[str], actor: str) -> None:
        pipeline = self._pipeline()
        if pipeline is None:
            await self._say(chat, "The signal pipeline is not running.")
            return
        waiting = await asyncio.to_thread(pipeline.waiting)
        if not waiting:
            await self._say(chat, "No signal is waiting for approval.")
            return
        may = allowed(role, "approve")
        for w in waiting[:20]:
            text = (f"{w['signal_id']} · {w['account']}: {w['direction']} {w['symbol']} · would {w['action']} "
                    f"{w['quantity']} · {w['reason']}")  # fmt: skip
            buttons = None
            if may:
                buttons = [[("Approve", self._choice("ap", w["signal_id"], w["account"])),
                            ("Reject", self._choice("rj", w["signal_id"], w["account"]))]]  # fmt: skip
            await self._say(chat, text, buttons)

    def _choice(self, verb: str, signal: str, account: str) -> str:
        handle = secrets.token_hex(6)
        self.choices[handle] = (verb, signal, account)
        while len(self.choices) > 1000:  # the oldest go first (a dict keeps its order)
            self.choices.pop(next(iter(self.choices)))
        return f"c:{handle}"

    async def _ask_flatten(self, chat: int, role: str, args: list[str], actor: str) -> None:
        count = len(self._names())
        await self._ask(chat, "flatten", None, f"Emergency stop: HALT and FLATTEN all {count} accounts?",
                        "CONFIRM — FLATTEN ALL")  # fmt: skip

    async def _ask_halt(self, chat: int, role: str, args: list[str], actor: str) -> None:
        name = self._account_named(args)
        if name is None:
            await self._say(chat, f"Which account? /halt NAME ({', '.join(self._names())})")
            return
        await self._ask(chat, "halt", name, f"HALT and FLATTEN {name}?", f"CONFIRM — HALT {name}")

    async def _ask(self, chat: int, action: str, account: str | None, question: str, label: str) -> None:
        nonce = secrets.token_hex(8)
        self.confirms[nonce] = _Confirm(action, account, chat, self.monotonic() + self.cfg.confirm_s)
        for key in [k for k, c in self.confirms.items() if c.expires < self.monotonic() - 3600]:
            del self.confirms[key]
        await self._say(chat, f"{question}\nThis button works for {self.cfg.confirm_s} s.",
                        [[(label, f"y:{nonce}"), ("Cancel", f"n:{nonce}")]])  # fmt: skip

    async def _resume(self, chat: int, role: str, args: list[str], actor: str) -> None:
        name = self._account_named(args)
        if name is None:
            await self._say(chat, f"Which account? /resume NAME ({', '.join(self._names())})")
            return
        await self._say(chat, await self._do_resume(name, actor))

    async def _do_resume(self, name: str, actor: str) -> str:
        try:
            snap = await asyncio.to_thread(self.service.guardian.resume, name)
        except InputError as exc:
            return f"Not resumed: {exc}"
        await self._audit("telegram.resume", {"account": name, "state": snap.state.value}, actor, name)
        reason = f" ({snap.state_reason})" if snap.state_reason else ""
        return f"{name}: {snap.state.value.upper()}{reason}"

    async def _alerts_switch(self, chat: int, role: str, args: list[str], actor: str) -> None:
        if args[:1] == ["off"]:
            self.muted.add(chat)
            await self._say(chat, "Alerts off in this chat (/alerts on to hear them again).")
        elif args[:1] == ["on"]:
            self.muted.discard(chat)
            await self._say(chat, f"Alerts on: {', '.join(self.cfg.alerts) or 'no severity (telegram.alerts)'}.")
        else:
            state = "off" if chat in self.muted else "on"
            await self._say(chat, f"Alerts are {state} in this chat: /alerts on or /alerts off.")

    # ------------------------------------------------------------------ buttons
    async def _on_tap(self, query: Any) -> None:
        message = query.message
        chat = int(message.chat.id) if message is not None else 0
        role = self.role(chat)
        data = str(query.data or "")
        if role is None:
            await self._refused(chat, f"button {data[:40]}")
            return
        actor = f"telegram:{chat}"
        kind, _, handle = data.partition(":")
        if kind in ("y", "n"):
            await self._confirmed(query, chat, handle, kind == "y", actor)
        elif kind == "c":
            await self._chosen(query, chat, role, handle, actor)
        else:
            await self._answer(query, "Unknown button.")

    async def _confirmed(self, query: Any, chat: int, nonce: str, yes: bool, actor: str) -> None:
        pending = self.confirms.pop(nonce, None)
        if pending is None or pending.chat != chat or self.monotonic() > pending.expires:
            await self._answer(query, "This confirmation has expired: nothing was done. Send the command again.")
            await self._edit(query, "Expired: nothing was done.")
            return
        if not yes:
            await self._answer(query, "Cancelled.")
            await self._edit(query, "Cancelled: nothing was done.")
            return
        gateway = self.service.gateway
        if gateway is None:
            await self._answer(query, "The gateway is not running.")
            return
        await self._answer(query, "Working…")
        targets = None if pending.account is None else [pending.account]
        reason = "telegram /flatten" if pending.action == "flatten" else "telegram /halt"
        result = await gateway.emergency_stop(targets, reason, actor)
        lines = [f"{account}: HALTED, {what}" for account, what in sorted(result.items())]
        await self._edit(query, "Done.\n" + ("\n".join(lines) or "no account"))

    async def _chosen(self, query: Any, chat: int, role: str, handle: str, actor: str) -> None:
        choice = self.choices.pop(handle, None)
        if choice is None:
            await self._answer(query, "This button is no longer valid: send /pending again.")
            return
        verb, signal, account = choice
        if verb == "rs":
            if not allowed(role, "control"):
                await self._answer(query, f"Refused: role {role} may not resume.")
                return
            text = await self._do_resume(account, actor)
            await self._answer(query, text)
            await self._edit(query, text)
            return
        if not allowed(role, "approve"):
            await self._answer(query, f"Refused: role {role} may not approve or reject.")
            return
        pipeline = self._pipeline()
        if pipeline is None or account not in pipeline.waiting_accounts(signal):
            await self._answer(query, "No longer waiting (approved, rejected or expired).")
            await self._edit(query, f"{signal} · {account}: no longer waiting.")
            return
        decide = pipeline.approve if verb == "ap" else pipeline.reject
        outcome = await decide(signal, actor, [account])
        done = "approved" if verb == "ap" else "rejected"
        await self._audit("telegram.approve" if verb == "ap" else "telegram.reject", {"signal": signal}, actor, account)
        summary = f"{signal} · {account}: {done}"
        decision = next((d for d in outcome.decisions if d.account == account), None)
        if decision is not None:
            summary += f" ({decision.action} {decision.quantity} {decision.symbol}: {decision.reason})"
        await self._answer(query, summary[:190])
        await self._edit(query, summary)

    def _pipeline(self) -> Any:
        gateway = self.service.gateway
        return None if gateway is None else gateway.pipeline

    # ------------------------------------------------------------------ alerts
    def observe(self, alert: dict[str, Any]) -> None:
        """The alert dispatcher's observer (any thread): alerts of ``telegram.alerts`` severities are queued."""
        loop = self.loop
        if loop is None or alert["severity"] not in self.cfg.alerts:
            return
        loop.call_soon_threadsafe(self._queue, alert)

    def on_pending(self, signal_id: str, accounts: list[str]) -> None:
        """The pipeline's listener (any thread): a signal waits for approval: the chats that may approve get it
        with Approve / Reject per account (when their alerts are on)."""
        loop = self.loop
        if loop is not None:
            loop.call_soon_threadsafe(self._queue, {"kind": "signal.waiting", "signal": signal_id,
                                                    "accounts": accounts})  # fmt: skip

    def _queue(self, alert: dict[str, Any]) -> None:
        if self.alerts.full():  # Telegram is away: the oldest goes (it stays recorded and in the other channels)
            self.alerts.get_nowait()
        self.alerts.put_nowait(alert)

    async def _send_alerts(self) -> None:
        while True:
            alert = await self.alerts.get()
            if alert["kind"] == "signal.waiting":
                await self._offer(alert["signal"], alert["accounts"])
                continue
            where = f" [{alert['account']}]" if alert.get("account") else ""
            text = f"{alert['severity'].upper()}: {alert['kind']}{where}\n{alert['message']}"
            for chat_id, role in list(self.cfg.chats.items()):
                chat = int(chat_id)
                if chat in self.muted:
                    continue
                buttons = None
                if alert["kind"] == "state.halted" and alert.get("account") and allowed(role, "control"):
                    buttons = [[(f"Resume {alert['account']}", self._choice("rs", "", alert["account"]))]]
                await self._say(chat, text[:4000], buttons, tries=3)

    async def _offer(self, signal_id: str, accounts: list[str]) -> None:
        pipeline = self._pipeline()
        if pipeline is None:
            return
        waiting = [w for w in await asyncio.to_thread(pipeline.waiting) if w["signal_id"] == signal_id]
        for chat_id, role in list(self.cfg.chats.items()):
            chat = int(chat_id)
            if chat in self.muted or not allowed(role, "approve"):
                continue
            for w in waiting:
                text = (f"WAITING FOR APPROVAL: {signal_id} · {w['account']}: {w['direction']} {w['symbol']} · "
                        f"would {w['action']} {w['quantity']} · {w['reason']}")  # fmt: skip
                buttons = [[("Approve", self._choice("ap", signal_id, w["account"])),
                            ("Reject", self._choice("rj", signal_id, w["account"]))]]  # fmt: skip
                await self._say(chat, text, buttons, tries=3)

    # ------------------------------------------------------------------ the Bot API
    async def _say(
        self, chat: int, text: str, buttons: list[list[tuple[str, str]]] | None = None, tries: int = 2
    ) -> None:
        """sendMessage; a failure is logged and tried again (honouring a 429), never raised."""
        from telegram import InlineKeyboardButton, InlineKeyboardMarkup
        from telegram.error import RetryAfter, TelegramError

        markup = None
        if buttons:
            markup = InlineKeyboardMarkup(
                [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in buttons]
            )
        for attempt in range(tries):
            try:
                await self.bot.send_message(chat_id=chat, text=text[:4096], reply_markup=markup)
                return
            except RetryAfter as exc:
                await asyncio.sleep(_seconds(exc))
            except TelegramError as exc:
                log.warning("telegram.send_failed", chat=chat, error=str(exc)[:200], attempt=attempt + 1)
                await asyncio.sleep(min(2.0**attempt, 10.0))

    async def _answer(self, query: Any, text: str) -> None:
        from telegram.error import TelegramError

        try:
            await self.bot.answer_callback_query(callback_query_id=query.id, text=text[:200])
        except TelegramError as exc:
            log.warning("telegram.answer_failed", error=str(exc)[:200])

    async def _edit(self, query: Any, text: str) -> None:
        from telegram.error import TelegramError

        message = query.message
        if message is None:
            return
        try:
            await self.bot.edit_message_text(chat_id=message.chat.id, message_id=message.message_id, text=text[:4096])
        except TelegramError as exc:
            log.warning("telegram.edit_failed", error=str(exc)[:200])

    async def _audit(self, kind: str, payload: dict[str, Any], actor: str, account: str | None = None) -> None:
        try:
            await self.service.store.writer.write_async(lambda ctx: ctx.audit(kind, payload, account=account,
                                                                              actor=actor))  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - an unwritable database is the hub's outage path, not the bot's
            log.error("telegram.not_recorded", kind=kind, error=str(exc)[:200])


def _seconds(exc: Any) -> float:
    with warnings.catch_warnings():  # the library's int/timedelta transition warns on one of the two
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


__all__ = ["TelegramControl", "account_lines", "status_lines"]
