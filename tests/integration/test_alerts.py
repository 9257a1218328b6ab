"""Alerts through Apprise to a real SMTP server (aiosmtpd) and a local JSON webhook; one dead channel; the
de-duplication, the rate limit, stale and channel-less alerts; no credential stored."""

from __future__ import annotations

import json
import socket
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from enigma_apex import bootstrap
from enigma_apex.adapters import alerts as channels
from enigma_apex.adapters.store import repository
from enigma_apex.adapters.store import schema as s
from enigma_apex.app.alerts import AlertDispatcher
from enigma_apex.config.models import AlertsSection, Settings
from enigma_apex.domain.clock import ManualClock

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp():
    mails: list[str] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
            mails.append(envelope.content.decode(errors="replace"))
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port, mails
    controller.stop()


@pytest.fixture
def webhook():
    bodies: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port, bodies
    server.shutdown()
    server.server_close()


@pytest.fixture
def store(tmp_path):
    clock = ManualClock(NOW)
    store, _ = bootstrap.open_store(Settings.model_validate({"hub": {"data_dir": str(tmp_path)}}), clock)
    yield store, clock
    store.close()


def record(store, severity, kind, account=None, message="m"):
    return store.writer.write(
        lambda ctx: repository.record_alert(ctx, severity=severity, kind=kind, message=message, account=account)
    )


def rows(store):
    with store.engine.connect() as conn:
        return {r.id: r for r in conn.execute(select(s.alerts))}


def test_alerts_reach_email_and_a_webhook_and_a_dead_channel_fails_alone(store, smtp, webhook):
    store, clock = store
    smtp_port, mails = smtp
    hook_port, bodies = webhook
    email = f"mailto://127.0.0.1:{smtp_port}?smtp=127.0.0.1&from=hub@ea.test&to=me@ea.test&mode=insecure"
    dead = f"json://127.0.0.1:{free_port()}/nobody"
    cfg = AlertsSection(critical=[email, f"json://hook:pa55word@127.0.0.1:{hook_port}/alerts", dead], send_timeout_s=10)
    dispatcher = AlertDispatcher(cfg, store, clock.now, channels.send)
    first = record(store, "critical", "guardian.breach", message="A1 touched its threshold")
    assert dispatcher.pass_once() == 1
    assert "Subject: Enigma-Apex CRITICAL: guardian.breach" in mails[0] and "touched its threshold" in mails[0]
    assert bodies[0]["type"] == "failure" and bodies[0]["message"] == "A1 touched its threshold"
    row = rows(store)[first]
    detail = json.loads(row.detail)
    assert row.status == "sent" and [c["ok"] for c in detail["channels"]] == [True, True, False]
    assert "pa55word" not in row.detail and "hook:" not in row.detail  # stored channel names carry no credential


def test_repeats_are_suppressed_warnings_are_rate_limited_and_nothing_is_sent_twice(store, webhook):
    store, clock = store
    hook_port, bodies = webhook
    url = f"json://127.0.0.1:{hook_port}/a"
    dispatcher = AlertDispatcher(
        AlertsSection(warning=[url], critical=[url], max_per_minute=3), store, clock.now, channels.send
    )
    ids = [record(store, "critical", "executor.disconnected") for _ in range(2)]
    ids += [record(store, "warning", f"reconcile.mismatch.{i}") for i in range(5)]
    dispatcher.pass_once()
    status = {i: r.status for i, r in rows(store).items()}
    assert [status[i] for i in ids] == ["sent", "suppressed", "sent", "sent", "sent", "suppressed", "suppressed"]
    assert len(bodies) == 4
    assert dispatcher.pass_once() == 0 and len(bodies) == 4  # handled rows are never sent again
    clock.advance(timedelta(seconds=61))  # a minute later the same kind goes again
    record(store, "critical", "executor.disconnected")
    dispatcher.pass_once()
    assert len(bodies) == 5


def test_one_executors_alert_never_hides_anothers(store, webhook):
    """De-duplication is per kind, account and subject (the executor or component the alert is about)."""
    store, clock = store
    hook_port, bodies = webhook
    dispatcher = AlertDispatcher(
        AlertsSection(critical=[f"json://127.0.0.1:{hook_port}/a"]), store, clock.now, channels.send
    )

    def gone(executor):
        return store.writer.write(
            lambda ctx: repository.record_alert(
                ctx, severity="critical", kind="executor.disconnected", message=f"{executor} gone",
                detail={"executor": executor},
            )
        )  # fmt: skip

    ids = [gone("nt8"), gone("ati"), gone("nt8")]
    dispatcher.pass_once()
    status = {i: r.status for i, r in rows(store).items()}
    assert [status[i] for i in ids] == ["sent", "sent", "suppressed"]
    assert sorted(b["title"] for b in bodies) == [
        "Enigma-Apex CRITICAL: executor.disconnected [ati]",
        "Enigma-Apex CRITICAL: executor.disconnected [nt8]",
    ]


def test_an_alert_the_database_cannot_take_goes_out_directly_once(store, webhook):
    store, clock = store
    hook_port, bodies = webhook
    url = f"json://127.0.0.1:{hook_port}/urgent"
    dispatcher = AlertDispatcher(AlertsSection(critical=[url]), store, clock.now, channels.send)
    for _ in range(2):  # the same outage reported twice: de-duplicated like a recorded alert
        dispatcher.urgent("critical", "database.unwritable", "disk full; every account is HALTED")
    assert dispatcher.send_urgent() == 2
    assert len(bodies) == 1 and "not recorded" in json.dumps(bodies[0])
    assert rows(store) == {}  # nothing was written for it


def test_alerts_without_a_channel_are_logged_and_old_ones_are_stale(store):
    store, clock = store
    sent = []
    dispatcher = AlertDispatcher(AlertsSection(), store, clock.now, lambda *a: sent.append(a) or [])
    fresh = record(store, "info", "state.active")
    old = record(store, "critical", "guardian.flatten")
    clock.advance(timedelta(days=2))
    newer = record(store, "warning", "state.reducing")
    dispatcher.pass_once()
    status = {i: r.status for i, r in rows(store).items()}
    assert (status[fresh], status[old], status[newer]) == ("stale", "stale", "logged") and sent == []


def test_credentials_are_hidden_in_channel_names():
    assert channels.redact("mailtos://user:secret@gmail.com?to=x@y") == "mailtos://gmail.com/…"
    assert channels.redact("tgram://123456:ABCDEF/987") == "tgram://…"
    assert channels.redact("discord://webhook_id/webhook_token") == "discord://…"
    assert channels.redact("json://127.0.0.1:9000/hook") == "json://127.0.0.1:9000/…"


def test_alert_urls_are_shown_without_credentials_wherever_the_configuration_is_shown():
    from enigma_apex.config.render import render
    from enigma_apex.config.schema import flatten

    urls = ["mailtos://bob:hunter2@gmail.com?to=me@x.io", "tgram://123456:BOTTOKEN/987", "json://127.0.0.1:9/h"]
    settings = Settings.model_validate({"alerts": {"critical": urls}})
    shown = flatten(settings)["alerts.critical"]
    assert shown == ["mailtos://gmail.com/…", "tgram://…", "json://127.0.0.1:9/…"]
    text = render(settings, annotate=False)
    assert "hunter2" not in text and "BOTTOKEN" not in text
    assert flatten(settings, mask=False)["alerts.critical"] == urls  # the running hub still has them
