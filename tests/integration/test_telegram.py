"""Telegram control against a loopback Bot API (``telegram_fake.py``, from the Bot API's reference) and a running
hub with its paper broker: a listed chat sees every account, approves a signal for one account and flattens
everything with a confirmation; a foreign chat, an observer's control command, a stale confirmation, a command
storm and the API answering 429/500 are each handled as docs/operations.md ("Telegram") says."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

from sqlalchemy import select

from enigma_apex import bootstrap
from enigma_apex.adapters.clock import SHIFT_ENV, SystemClock
from enigma_apex.adapters.store import schema as s
from enigma_apex.adapters.store import tokens
from enigma_apex.config import loader
from enigma_apex.domain.accounts import TradingState
from tests.integration import telegram_fake
from tests.integration.gatewaykit import eventually
from tests.integration.hubproc import IN_SESSION

MOBILE, OBSERVER, STRANGER = 1001, 1002, 999


async def _running(tmp_path, api):
    """The hub (and its paper broker, which inherits the environment) on a Tuesday at 10:00 New York time,
    inside every firm's session whatever the time the tests run."""
    config = tmp_path / "enigma-apex.toml"
    data = tmp_path / "data"
    config.write_text(
        f'[hub]\ndata_dir = "{data.as_posix()}"\nuse_keyring = false\nallow_plaintext_secrets = true\n'
        "[http]\nport = 0\n[gateway]\nport = 0\n[dashboard]\nenabled = false\n"
        '[signals]\ndefault_mode = "confirm"\n'
        f'[telegram]\nenabled = true\ntoken = "{telegram_fake.TOKEN}"\napi_url = "{api.base_url}"\npoll_s = 1\n'
        f'alerts = ["critical"]\n[telegram.chats]\n"{OBSERVER}" = "observer"\n"{MOBILE}" = "mobile"\n'  # the
        # observer first: alerts go to the chats in this order, so once the mobile chat has one the observer's
        # turn has passed
        '[[accounts]]\nname = "PAPER-1"\nprofile = "apex4-intraday-eval-50k"\nexecutor = "paper"\n'
        "default_stop_ticks = 40\n"
        '[[accounts]]\nname = "PAPER-2"\nprofile = "topstep-combine-50k"\nexecutor = "paper"\n'
        "default_stop_ticks = 40\n"
    )
    hub = bootstrap.build_hub(loader.load(config), lambda line: None, SystemClock.from_environment())
    task = asyncio.create_task(hub.run(install_signals=False))
    await eventually(lambda: hub.telegram is not None and hub.telegram.connected, 60, "the bot connected")
    return hub, task


def with_hub(tmp_path, monkeypatch, body) -> None:
    """``body(api, hub)`` against a running hub and a loopback Bot API, both stopped afterwards."""
    monkeypatch.setenv(SHIFT_ENV, IN_SESSION.isoformat())
    api = telegram_fake.start()

    async def scenario():
        hub, task = await _running(tmp_path, api)
        try:
            await body(api, hub)
        finally:
            hub.request_stop()
            assert await asyncio.wait_for(task, 60) == 0

    try:
        asyncio.run(scenario())
    finally:
        api.close()


def replies(api, chat: int) -> list[dict[str, Any]]:
    return api.sent("sendMessage", chat)


async def said(api, chat: int, text: str, after: int = 0, timeout: float = 20.0) -> dict[str, Any]:
    """The first message to ``chat`` (from the ``after``-th on) containing ``text``."""

    def found() -> dict[str, Any] | None:
        return next((m for m in replies(api, chat)[after:] if text in m.get("text", "")), None)

    return await eventually(found, timeout, f"a message to {chat} with {text!r}")


def buttons(message: dict[str, Any]) -> dict[str, str]:
    markup = message["reply_markup"]
    return {b["text"]: b["callback_data"] for row in markup["inline_keyboard"] for b in row}


def as_sent(api, message: dict[str, Any]) -> dict[str, Any]:
    """The Message the fake answered for a sendMessage (what the user's phone shows and taps)."""
    return {"message_id": 1_000_000 + id(message) % 1000, "date": 0, "chat": {"id": int(message["chat_id"]),
            "type": "private"}, "text": message["text"]}  # fmt: skip


def audit_rows(hub, kind: str) -> list[Any]:
    with hub.service.store.engine.connect() as conn:
        return conn.execute(select(s.audit_log).where(s.audit_log.c.kind == kind)).all()


def post(hub, path: str, body: dict[str, Any], token: str) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{hub.http_port}{path}", data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_from_telegram_alone_a_trader_sees_every_account_approves_for_one_and_flattens_all(tmp_path, monkeypatch):
    async def body(api, hub):
        guardian = hub.service.guardian
        await eventually(lambda: all(guardian.tracker(a).trading_state()[0] is TradingState.ACTIVE
                                     for a in ("PAPER-1", "PAPER-2")), 60, "both accounts ACTIVE")  # fmt: skip
        # a chat nobody listed: no answer, one audit row
        api.text(STRANGER, "/flatten")
        await eventually(lambda: audit_rows(hub, "telegram.refused"), 20, "the refusal recorded")
        assert json.loads(audit_rows(hub, "telegram.refused")[0].payload)["chat"] == STRANGER
        # every account, its state and distance to ruin
        api.text(MOBILE, "/status")
        status = await said(api, MOBILE, "PAPER-2")
        assert "PAPER-1 · ACTIVE" in status["text"] and "to ruin $2,000.00" in status["text"]
        # an observer may read, not control
        api.text(OBSERVER, "/flatten")
        await said(api, OBSERVER, "Refused: this chat's role (observer) may not flatten")

        # a signal waits for approval on both accounts; approve it for PAPER-1 only
        token = hub.service.store.writer.write(lambda ctx: tokens.create_token(ctx, name="d", role="dashboard"))[0]

        seen: list[Any] = []

        def takeable() -> bool:
            code, body = post(hub, "/api/v1/signals/preview", {"symbol": "MNQ", "side": "long"}, token)
            seen[:] = [code, [(a["account"], a["action"], a["reason"]) for a in body.get("accounts", [])]]
            return code == 200 and all(a["action"] in ("take", "confirm") for a in body["accounts"])

        try:
            await eventually(lambda: asyncio.to_thread(takeable), 60, "quotes at the paper broker")
        except AssertionError:
            raise AssertionError(f"never takeable: {seen}") from None
        signal = {"id": "tg-1", "symbol": "MNQ", "side": "long"}
        code, body = await asyncio.to_thread(post, hub, "/api/v1/signals", signal, token)  # the hub's own loop
        assert code in (200, 201, 202), body
        sid = body["signal_id"]
        pipeline = hub.service.gateway.pipeline
        await eventually(lambda: pipeline.waiting_accounts(sid) == {"PAPER-1", "PAPER-2"}, 20, "waiting")
        before = len(replies(api, MOBILE))
        api.text(MOBILE, "/pending")
        offer = await said(api, MOBILE, f"{sid} · PAPER-1", before)
        await said(api, MOBILE, f"{sid} · PAPER-2", before)
        api.tap(MOBILE, as_sent(api, offer), buttons(offer)["Approve"])
        await eventually(lambda: pipeline.waiting_accounts(sid) == {"PAPER-2"}, 20, "PAPER-1 approved")
        answered = await eventually(lambda: api.sent("answerCallbackQuery"), 20, "the tap answered")
        assert "PAPER-1: approved" in answered[-1]["text"]
        with hub.service.store.engine.connect() as conn:
            orders = conn.execute(select(s.orders.c.account_id)).scalars().all()
        assert orders == ["PAPER-1"]
        approved = audit_rows(hub, "telegram.approve")
        assert [(r.account_id, r.actor) for r in approved] == [("PAPER-1", f"telegram:{MOBILE}")]
        # the signal also came to the chat by itself, with its buttons: reject it for PAPER-2 from there
        notice = await said(api, MOBILE, f"WAITING FOR APPROVAL: {sid} · PAPER-2")
        assert not [m for m in replies(api, OBSERVER) if "WAITING FOR APPROVAL" in m["text"]]  # may not approve
        api.tap(MOBILE, as_sent(api, notice), buttons(notice)["Reject"])
        await eventually(lambda: not pipeline.waiting_accounts(sid), 20, "PAPER-2 rejected")
        with hub.service.store.engine.connect() as conn:
            orders = conn.execute(select(s.orders.c.account_id)).scalars().all()
        assert orders == ["PAPER-1"]
        rejected = await eventually(lambda: audit_rows(hub, "telegram.reject"), 20, "the rejection recorded")
        assert [r.account_id for r in rejected] == ["PAPER-2"]

        # a confirmation that went stale does nothing
        before = len(replies(api, MOBILE))
        api.text(MOBILE, "/flatten")
        ask = await said(api, MOBILE, "HALT and FLATTEN all 2 accounts", before)
        control = hub.telegram
        real = control.monotonic
        control.monotonic = lambda: real() + control.cfg.confirm_s + 1  # the button was left alone too long
        api.tap(MOBILE, as_sent(api, ask), buttons(ask)["CONFIRM — FLATTEN ALL"])
        await eventually(lambda: any("expired" in a["text"] for a in api.sent("answerCallbackQuery")), 20)
        assert guardian.tracker("PAPER-1").trading_state()[0] is not TradingState.HALTED
        control.monotonic = real
        # the same, confirmed in time: every account HALTED and flattened, the chat as the actor
        before = len(replies(api, MOBILE))
        api.text(MOBILE, "/flatten")
        ask = await said(api, MOBILE, "HALT and FLATTEN all 2 accounts", before)
        api.tap(MOBILE, as_sent(api, ask), buttons(ask)["CONFIRM — FLATTEN ALL"])
        await eventually(lambda: all(guardian.tracker(a).trading_state()[0] is TradingState.HALTED
                                     for a in ("PAPER-1", "PAPER-2")), 20, "every account HALTED")  # fmt: skip
        edited = await eventually(lambda: [e for e in api.sent("editMessageText") if "Done" in e["text"]], 20)
        assert "PAPER-1: HALTED, flatten sent" in edited[-1]["text"]
        stop = audit_rows(hub, "emergency.stop")[-1]
        assert stop.actor == f"telegram:{MOBILE}"
        # the stop's critical alert reaches the chats; a halted account's alert offers Resume
        await said(api, MOBILE, "CRITICAL: state.halted", timeout=30)

    with_hub(tmp_path, monkeypatch, body)


def test_a_storm_429s_and_500s_never_stop_the_bot_and_resume_comes_from_an_alert_button(tmp_path, monkeypatch):
    async def body(api, hub):
        guardian = hub.service.guardian
        for _ in range(30):  # a command storm from a listed chat
            api.text(MOBILE, "/help")
        await said(api, MOBILE, "Too many commands")
        await eventually(lambda: len([m for m in replies(api, MOBILE) if "/status:" in m["text"]]) >= 20, 20,
                         "the answers to the first 20")  # fmt: skip
        assert len([m for m in replies(api, MOBILE) if "/status:" in m["text"]]) == 20
        assert len(audit_rows(hub, "telegram.command")) == 20  # the rest were not even read
        # the API fails: polling and sending go on after it
        api.fail_next("getUpdates", 500, 500)
        api.fail_next("sendMessage", 429)
        control = hub.telegram
        control.recent.clear()  # a new minute
        api.text(OBSERVER, "/status")
        await said(api, OBSERVER, "PAPER-1", timeout=30)
        # /halt asks first; the alert of the halt offers Resume, which a mobile chat may press
        before = len(replies(api, MOBILE))
        api.text(MOBILE, "/halt paper-2")
        ask = await said(api, MOBILE, "HALT and FLATTEN PAPER-2?", before)
        api.tap(MOBILE, as_sent(api, ask), buttons(ask)["CONFIRM — HALT PAPER-2"])
        await eventually(lambda: guardian.tracker("PAPER-2").trading_state()[0] is TradingState.HALTED, 20)
        alert = await said(api, MOBILE, "CRITICAL: state.halted [PAPER-2]", timeout=30)
        observer_alert = await said(api, OBSERVER, "CRITICAL: state.halted [PAPER-2]", timeout=30)
        assert "reply_markup" not in observer_alert  # an observer is not offered what it may not do
        api.tap(MOBILE, as_sent(api, alert), buttons(alert)["Resume PAPER-2"])
        await eventually(lambda: guardian.tracker("PAPER-2").trading_state()[0] is not TradingState.HALTED, 20)
        resumed = await eventually(lambda: audit_rows(hub, "telegram.resume"), 20, "the resume recorded")
        assert resumed[-1].actor == f"telegram:{MOBILE}"
        # /alerts off: this chat hears no more alerts
        api.text(OBSERVER, "/alerts off")
        await said(api, OBSERVER, "Alerts off")
        heard = len(replies(api, OBSERVER))
        api.text(MOBILE, "/halt PAPER-1")
        ask = await said(api, MOBILE, "HALT and FLATTEN PAPER-1?")
        api.tap(MOBILE, as_sent(api, ask), buttons(ask)["CONFIRM — HALT PAPER-1"])
        await said(api, MOBILE, "CRITICAL: state.halted [PAPER-1]", timeout=30)
        assert len(replies(api, OBSERVER)) == heard
        assert hub.service.health()["status"] != "down"  # trading's health never depended on the bot

    with_hub(tmp_path, monkeypatch, body)
