"""The running hub: starts the components in order, each ready before the next, supervises them, stops cleanly.

Start order (one status line each, then the URLs to open):
1. database - migrated by the composition root, backed up here, writable;
2. gateway - the WebSocket server bound;
3. guardian - every account's persisted state loaded (peaks, thresholds, halts);
4. analyst - the AI model, or the deterministic scorer when AI is off;
5. http - the API, webhooks and /health bound (signal intake opens here);
6. ocr - the AlgoBox screen reader, when enabled;
7. alerts - the dispatcher;
8. executors - the paper broker in paper mode; ATI, Tradovate, Rithmic, ProjectX when accounts use them; each
   must connect;
9. dashboard - the Streamlit process answering its health check.

Background components (config watcher, guardian clock, gateway watchdog, OCR reader, alert dispatcher, daily
housekeeping) run under the ``Supervisor``: restarted with backoff when they fail, recorded and alerted.
Degradation: AI down -> the scorer decides (``AnalystService``); OCR down -> manual entry; an executor down ->
its accounts REDUCING with an alert (gateway); database unwritable -> every account HALTED and flattened,
nothing acknowledged, written back when the database recovers (this module wires it).

Shutdown is the reverse: intake closes first (HTTP, OCR), then children and background components, then the
gateway; writes already submitted are committed before the process exits. A second Ctrl-C exits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import structlog
import uvicorn

from enigma_apex.adapters import logging as logs
from enigma_apex.adapters.http import server as http_server
from enigma_apex.adapters.store import repository
from enigma_apex.app.preflight import exposure_warnings, is_loopback
from enigma_apex.app.service import HubService
from enigma_apex.app.supervisor import Supervisor
from enigma_apex.config import loader
from enigma_apex.domain.events import ComponentHealth
from enigma_apex.errors import StoreError

log = structlog.get_logger("enigma_apex.hub")

CONFIG_POLL_S = 1.0
# an edit is reloaded once the file reads the same twice this far apart: an editor that truncates the file and then
# writes it leaves, for a moment, a file that is valid TOML and lacks keys, which would reset them to their defaults
CONFIG_SETTLE_S = 0.25
TICK_S = 1.0
PROBE_S = 2.0  # how often an unwritable database is tried again
EXECUTOR_READY_S = 20.0
DASHBOARD_READY_S = 30.0


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the hub owns signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class Hub:
    def __init__(self, service: HubService, app: Any, console: Callable[[str], None], gateway: Any = None) -> None:
        self.service = service
        self.gateway = gateway
        self.ws_port: int | None = None
        self.app = app
        self.console = console
        self.stop_event: asyncio.Event | None = None
        self.http_port: int | None = None
        self.dashboard_url: str | None = None
        self._signals = 0
        self.supervisor = Supervisor(service.store, service.clock)
        service.supervisor = self.supervisor
        if service.guardian is not None:
            restarts = service.guardian.telemetry.supervisor_restarts
            self.supervisor.on_restart = lambda name: restarts.labels(name).inc()
        self.children: list[Any] = []  # ExecutorProcess for each child process
        self.dispatcher: Any = None
        self.telegram: Any = None  # the Telegram bot, when enabled
        self.keeper: Any = None  # daily housekeeping, once running
        self.loop: asyncio.AbstractEventLoop | None = None
        self._db_events: asyncio.Queue[tuple[bool, str]] | None = None
        self._notes: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ signals (Windows too)
    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        def handler(signum: int, _frame: Any) -> None:
            self._signals += 1
            if self._signals > 1:
                os._exit(130)  # second Ctrl-C: leave at once (committed writes are already durable)
            for child in self.children:  # a terminal's Ctrl-C reaches them too: their exit is not a failure
                child.stopping = True
            if self.stop_event is not None:
                loop.call_soon_threadsafe(self.stop_event.set)

        for name in ("SIGINT", "SIGTERM", "SIGBREAK"):
            sig = getattr(signal, name, None)
            if sig is not None:
                signal.signal(sig, handler)

    def request_stop(self) -> None:
        for child in self.children:
            child.stopping = True
        if self.stop_event is not None:
            self.stop_event.set()

    # ------------------------------------------------------------------ run
    async def run(self, *, install_signals: bool = True) -> int:
        loop = self.loop = asyncio.get_running_loop()
        self.stop_event = asyncio.Event()
        if install_signals:
            self._install_signals(loop)
        self._db_events = asyncio.Queue()
        self.service.store.on_health_change.append(self._on_database_health)  # from the writer's thread
        settings = self.service.settings
        store = self.service.store
        sup = self.supervisor

        # the dashboard's port first: Streamlit on a taken port only loops, and someone else's page would answer
        taken = _port_taken(settings.dashboard.host, settings.dashboard.port) if settings.dashboard.enabled else None
        if taken is not None:
            where = f"{settings.dashboard.host}:{settings.dashboard.port}"
            self._status(
                "dashboard", "down", f"cannot bind {where}: {taken} (set dashboard.port, or stop what uses it)"
            )
            return 2
        # 1. database
        if not await self._start_database():
            return 1
        errors = logs.ErrorBuffer()
        logging.getLogger().addHandler(errors)
        sup.start("errors", lambda: self._record_errors(errors), detail="logged errors written to the database")
        database_watch = asyncio.create_task(self._watch_database())

        async def abort() -> int:
            await sup.stop()
            database_watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await database_watch
            logging.getLogger().removeHandler(errors)
            return 1

        # 2. gateway
        ws_server = None
        if self.gateway is not None:
            from enigma_apex.adapters import ws_server as ws

            try:
                ws_server = await ws.start(self.gateway)
            except OSError as exc:
                where = f"{settings.gateway.host}:{settings.gateway.port}"
                self._status("gateway", "down", f"cannot bind {where}: {exc.strerror}")
                return await abort()
            self.ws_port = ws.bound_port(ws_server)
            scheme = "wss" if settings.gateway.tls_cert else "ws"
            self._status("gateway", "ok", _bound(scheme, settings.gateway.host, self.ws_port))
            sup.start("watchdog", self.gateway.watchdog, detail="executor heartbeats, unconfirmed flattens")
        # 3. guardian (its clock runs from here: session closes and pre-close flattens), 4. analyst
        self._report_guardian()
        sup.start("clock", self._tick_guardian, detail="session closes, pre-close flattens, equity history")
        self._report_analyst()
        # 5. http (the API and the webhooks: signal intake opens here)
        served = await self._start_http()
        if served is None:
            await self._close_gateway(ws_server)
            return await abort()
        server, serve_task, base = served
        # 6. ocr, 7. alerts
        await self._start_ocr()
        self._start_alerts()
        self._start_telegram()
        # 8. executors, 9. dashboard
        await self._start_executors()
        await self._start_dashboard(base)

        sup.start("config", self._watch_config, detail="watching the configuration file")
        from enigma_apex.app.housekeeping import Housekeeping

        keeper = self.keeper = Housekeeping(store, self.service.clock, settings, settings.hub.data_dir / "logs")
        self.service.reload_listeners.append(lambda plan: setattr(keeper, "settings", plan.settings))
        at = settings.database.maintenance_at.strftime("%H:%M")
        sup.start("housekeeping", keeper.run, detail=f"daily backup and optimisation at {at} New York time")

        ports = {"mode": settings.hub.mode, "http_port": self.http_port, "ws_port": self.ws_port}
        await asyncio.to_thread(store.writer.write, lambda ctx: ctx.audit("hub.started", ports))
        self._announce(base)
        log.info("hub.started", mode=settings.hub.mode, http_port=self.http_port)

        gc.collect()
        gc.freeze()  # start-up objects live for the whole run: keep them out of every later GC pass
        try:
            await self.stop_event.wait()
        finally:
            self.console("enigma-apex is stopping…")
            if self.gateway is not None:
                self.gateway.stopping = True  # executors leaving now is the stop, not an incident
            server.should_exit = True  # intake first: no new signal is accepted from here on
            await sup.stop(["ocr"])
            await serve_task
            for child in reversed(self.children):
                await child.stop()
                if child.task is not None:
                    child.task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await child.task
            await asyncio.gather(*(self._revoke(c.token_id) for c in self.children if c.token_id))
            await sup.stop()
            database_watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await database_watch
            await self._close_gateway(ws_server)
            logging.getLogger().removeHandler(errors)
            with contextlib.suppress(Exception):
                await self._write_errors(errors)
            if self.gateway is not None and self.gateway.pipeline is not None:
                await self.gateway.pipeline.close()
            with contextlib.suppress(Exception):
                await asyncio.to_thread(store.writer.write, lambda ctx: ctx.audit("hub.stopped", {"reason": "signal"}))
            log.info("hub.stopped")
        return 0

    # ------------------------------------------------------------------ start-up steps
    async def _start_database(self) -> bool:
        service = self.service
        db = service.database_status()
        if not db["ok"]:
            self._status("database", "down", f"{db['dialect']} {self._db_where()}: {db['detail']}")
            return False
        detail = f"{db['dialect']} {self._db_where()}"
        if service.settings.database.backup_on_start:
            from enigma_apex.app.housekeeping import startup_backup

            try:
                taken = await asyncio.to_thread(startup_backup, service.store, service.clock)
                detail += f", backup {taken.name}"
            except Exception as exc:  # noqa: BLE001 - no backup is a warning, not a reason to stay down
                detail += f", backup FAILED ({exc})"
                log.error("database.startup_backup_failed", error=str(exc))
        self._status("database", "ok", detail)
        return True

    def _report_guardian(self) -> None:
        guardian = self.service.guardian
        if guardian is None:
            return
        snaps = guardian.status()
        states = ", ".join(f"{s.account} {s.state.value.upper()} ${s.distance:,.2f} to ruin" for s in snaps)
        self._status("guardian", "ok", f"{len(snaps)} account(s): {states}" if snaps else "no account configured")

    def _report_analyst(self) -> None:
        pipeline = self.gateway.pipeline if self.gateway is not None else None
        analyst = pipeline.analyst if pipeline is not None else None
        if analyst is None:
            return
        cfg = self.service.settings.ai
        if cfg.enabled:
            analyst.notify = self._alert_soon
            detail = f"{cfg.model} at {cfg.base_url}; the deterministic scorer answers when it is slow or down"
        else:
            detail = "AI off: the deterministic scorer scores every signal"
        self._status("analyst", "ok", detail)

    async def _start_http(self) -> tuple[Any, asyncio.Task[None], str] | None:
        settings = self.service.settings
        family = socket.AF_INET6 if ":" in settings.http.host else socket.AF_INET
        # proto IPPROTO_TCP (not 0): asyncio sets TCP_NODELAY only on such sockets; without it every response
        # written in two parts waits ~40 ms for the client's delayed ACK.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1) if os.name != "nt" else None
            sock.bind((settings.http.host, settings.http.port))
        except OSError as exc:
            sock.close()
            self._status("http", "down", f"cannot bind {settings.http.host}:{settings.http.port}: {exc.strerror}")
            return None
        self.http_port = sock.getsockname()[1]
        cfg = settings.http
        config = uvicorn.Config(
            self.app,
            log_config=None,
            access_log=False,
            lifespan="off",
            http=http_server.protocol(cfg.header_timeout_s),  # slow or silent connections are closed
            timeout_keep_alive=cfg.idle_timeout_s,  # type: ignore[arg-type]  # uvicorn takes seconds as a float
            ssl_certfile=None if cfg.tls_cert is None else str(cfg.tls_cert),
            ssl_keyfile=None if cfg.tls_key is None else str(cfg.tls_key),
        )
        server = _Server(config)
        serve_task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not serve_task.done():  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
            await asyncio.sleep(0.01)
        if serve_task.done():
            self._status("http", "down", "the HTTP server stopped during start-up")
            return None
        scheme = "https" if cfg.tls_cert else "http"
        base = f"{scheme}://{_local_host(cfg.host)}:{self.http_port}"  # where this machine reaches it
        hooks = "TradingView webhook on" if settings.signals.tradingview_secret else "TradingView webhook off"
        self._status("http", "ok", f"{_bound(scheme, cfg.host, self.http_port)} (API, /health, /metrics; {hooks})")
        lock = self.service.store.instance_lock
        if lock is not None:  # the local CLI goes through this hub from now on
            ws = None
            if self.ws_port is not None:
                ws = f"{'wss' if settings.gateway.tls_cert else 'ws'}://{_local_host(settings.gateway.host)}:{self.ws_port}"
            self.service.control_token = lock.publish(http=base, ws=ws)
        return server, serve_task, base

    async def _start_ocr(self) -> None:
        """The AlgoBox screen reader, when enabled. An engine that cannot start leaves manual entry working."""
        settings = self.service.settings
        pipeline = self.gateway.pipeline if self.gateway is not None else None
        if not settings.ocr.enabled or pipeline is None:
            return
        from enigma_apex.adapters.ocr import OCRError
        from enigma_apex.app.ocr_reader import EnigmaReader

        async def submit(signal: Any, dedup: str) -> Any:
            return await pipeline.submit(signal, dedup_key=dedup)

        cfg = settings.ocr
        reader = EnigmaReader(cfg, self.service.clock, self.service.store, submit, on_health=self.ocr_health)
        try:
            await asyncio.to_thread(reader.engine)  # its child process starts and loads the models meanwhile
        except OCRError as exc:
            self._status("ocr", "down", f"{exc}; enter signals by hand")
            self.supervisor.set("ocr", "degraded", str(exc), fallback="manual entry")
            return
        region = cfg.region
        where = f"{region.width}x{region.height}+{region.left}+{region.top} on monitor {cfg.monitor}"
        self._status("ocr", "ok", f"{cfg.engine}, {where}, {cfg.rate_hz}/s")
        self.supervisor.start("ocr", reader.run, fallback="manual entry (dashboard, CLI, API)", detail=where)

    def ocr_health(self, ok: bool, detail: str) -> None:
        """The screen reader's reads fail or work again: /health is degraded meanwhile (manual entry works)."""
        self.supervisor.set("ocr", "ok" if ok else "degraded", detail[:300], fallback="manual entry")

    def _start_alerts(self) -> None:
        """The alert dispatcher: recorded alerts go out through Apprise, off the hot path."""
        from enigma_apex.adapters import alerts as channels
        from enigma_apex.app.alerts import AlertDispatcher

        settings = self.service.settings
        dispatcher = AlertDispatcher(settings.alerts, self.service.store, self.service.clock.now, channels.send)
        self.dispatcher = dispatcher
        self.supervisor.urgent = dispatcher.urgent
        self.service.reload_listeners.append(lambda plan: dispatcher.apply_settings(plan.settings.alerts))
        count = sum(len(getattr(settings.alerts, level)) for level in ("info", "warning", "critical"))
        detail = f"{count} channel(s)" if settings.alerts.enabled else "disabled (alerts are still recorded)"
        self._status("alerts", "ok", detail)
        self.supervisor.start("alerts", dispatcher.run, fallback="alerts stay recorded as pending", detail=detail)

    def _start_telegram(self) -> None:
        """The Telegram bot (outbound long polling): one more transport over the hub, with its alerts."""
        cfg = self.service.settings.telegram
        if not cfg.enabled:
            return
        from enigma_apex.app.telegram import TelegramControl

        control = self.telegram = TelegramControl(cfg, self.service)
        self.service.reload_listeners.append(lambda plan: setattr(control, "cfg", plan.settings.telegram))
        if self.dispatcher is not None:
            self.dispatcher.observers.append(control.observe)
        gateway = self.service.gateway
        if gateway is not None and gateway.pipeline is not None:
            gateway.pipeline.pending_listeners.append(control.on_pending)
        detail = f"{len(cfg.chats)} chat(s), alerts: {', '.join(cfg.alerts) or 'none'}"
        self._status("telegram", "ok", detail)
        self.supervisor.start("telegram", control.run, fallback="the dashboard and the HTTP API", detail=detail)

    async def _start_executors(self) -> None:
        """The executors the hub runs itself, each in its own process, each connected before start-up goes on."""
        settings = self.service.settings
        if self.ws_port is None:
            return
        plans: list[tuple[str, list[str], str]] = []  # (executor name, command, what it is)
        if settings.hub.mode == "paper" and settings.paper.enabled:
            plans.append(("paper", ["paper"], "paper broker"))
        ati, tdv = settings.ati, settings.tradovate
        if any(a.executor == ati.name for a in settings.accounts):
            plans.append((ati.name, ["ati", "run"], "NinjaTrader ATI files"))
        if any(a.executor == tdv.name for a in settings.accounts):
            if tdv.username and tdv.password is not None:
                plans.append((tdv.name, ["tradovate"], f"Tradovate {tdv.environment}"))
            else:
                self._status(tdv.name, "down", "set tradovate.username and the secret tradovate.password")
        rit, prx = settings.rithmic, settings.projectx
        if any(a.executor == rit.name for a in settings.accounts):
            missing = rit.missing()
            if missing:
                self._status(rit.name, "down", missing)
            else:
                plans.append((rit.name, ["rithmic"], f"Rithmic {rit.system_name}"))
        if any(a.executor == prx.name for a in settings.accounts):
            if prx.username and prx.api_key is not None:
                plans.append((prx.name, ["projectx"], f"ProjectX {prx.api_url}"))
            else:
                self._status(prx.name, "down", "set projectx.username and the secret projectx.api_key")
        for name, command, what in plans:
            accounts = tuple(a.name for a in settings.accounts if a.executor == name)
            if accounts:
                await self._start_executor(name, command, what, accounts)

    async def _start_executor(self, name: str, command: list[str], what: str, accounts: tuple[str, ...]) -> None:
        from enigma_apex.app.executor_process import ExecutorProcess, mint_token

        service = self.service
        token, token_id = await asyncio.to_thread(mint_token, service.store, service.clock, name, accounts)
        args = [*command, "--url", f"ws://127.0.0.1:{self.ws_port}"]
        if service.config_path is not None:
            args = ["--config", str(service.config_path), *args]
        gateway = self.gateway

        async def connected() -> bool:
            return await _wait(lambda: name in gateway.executors, EXECUTOR_READY_S)

        output = child_log(service.settings, name)  # its lines (and its own logs) stay out of up's status
        process = ExecutorProcess(
            name, args, token, self._child_status, token_id=token_id, ready=connected, output=output
        )
        self.children.append(process)
        process.task = asyncio.create_task(process.run())
        ready = await connected()
        where = f"{what} for {', '.join(accounts)} (its own process)"
        if ready:
            self._status(name, "ok", f"{where}, connected")
            return
        reason = f"executor {name} did not connect within {EXECUTOR_READY_S:.0f} s"
        guardian = service.guardian
        if guardian is not None:
            for account in accounts:  # cleared by the gateway when it connects
                await asyncio.to_thread(guardian.set_reducing, account, f"executor:{name}", reason)
        self._status(name, "down", f"{where}: {reason}; its accounts are REDUCING until it connects")
        self._alert_soon(
            "critical", "executor.disconnected", f"{reason}; its accounts are REDUCING", {"executor": name}
        )

    async def _start_dashboard(self, hub_base: str) -> None:
        """The Streamlit dashboard as its own process; it reads this hub's HTTP API."""
        settings = self.service.settings
        if not settings.dashboard.enabled:
            return
        from enigma_apex.app.executor_process import ExecutorProcess

        args = ["dashboard", "--hub-url", hub_base]
        if self.ws_port is not None:  # the dashboard's live feed subscribes to this hub's gateway
            ws_scheme = "wss" if settings.gateway.tls_cert else "ws"
            args += ["--hub-ws", f"{ws_scheme}://{_local_host(settings.gateway.host)}:{self.ws_port}"]
        if self.service.config_path is not None:
            args = ["--config", str(self.service.config_path), *args]
        cfg = settings.dashboard
        scheme = "https" if cfg.tls_cert else "http"
        port = cfg.port or _free_port(cfg.host)  # 0 (the demo): a free port, told to the dashboard
        env = {"ENIGMA_APEX__DASHBOARD__PORT": str(port)} if cfg.port == 0 else {}
        url = f"{scheme}://{_local_host(cfg.host)}:{port}"

        async def answers() -> bool:
            return await _wait_http(f"{url}/_stcore/health", DASHBOARD_READY_S)

        log_file = child_log(settings, "dashboard")  # Streamlit's own lines: not in up's status
        process = ExecutorProcess("dashboard", args, "", self._child_status, env=env, ready=answers, output=log_file)
        self.children.append(process)
        process.task = asyncio.create_task(process.run())
        ready = await answers()
        if ready:
            self.dashboard_url = url
            self._status("dashboard", "ok", f"{_bound(scheme, cfg.host, port)} (sign in with a dashboard token)")
        else:
            self._status("dashboard", "down", f"{url} did not answer within {DASHBOARD_READY_S:.0f} s; restarting")

    def _announce(self, base: str) -> None:
        settings = self.service.settings
        self.console(f"enigma-apex is up in {settings.hub.mode} mode. Health: {base}/health  (Ctrl-C to stop)")
        if settings.dashboard.enabled and self.dashboard_url is not None:
            self.console(f"  open the dashboard  {self.dashboard_url}")
        self.console(f"  API and its docs    {base}/docs")
        if self.ws_port is not None:
            scheme = "wss" if settings.gateway.tls_cert else "ws"
            self.console(f"  NinjaTrader / WS    {scheme}://{_local_host(settings.gateway.host)}:{self.ws_port}")
        for line in exposure_warnings(settings):
            self.console(f"  WARNING  {line}")

    # ------------------------------------------------------------------ the database's health
    def _on_database_health(self, ok: bool, message: str) -> None:
        """Called by the writer's thread when the database stops or starts taking writes: handed to the loop."""
        loop, events = self.loop, self._db_events
        if loop is not None and events is not None:
            loop.call_soon_threadsafe(events.put_nowait, (ok, message))

    async def _watch_database(self) -> None:
        """Database unwritable: every account HALTED and flattened, the alert sent without the database, the
        database tried again every ``PROBE_S``. Back: the halts, the state kept meanwhile and the executors'
        reports written; accounts stay HALTED until resumed."""
        events = self._db_events
        if events is None:
            return
        guardian, gateway, store = self.service.guardian, self.gateway, self.service.store
        while True:
            ok, message = await events.get()
            if not ok:
                halted = await asyncio.to_thread(guardian.database_down, message) if guardian is not None else []
                self.supervisor.set("database", "down", message, fallback="every account HALTED; nothing acknowledged")
                text = f"the database refuses writes ({message}); every account is HALTED and flattened"
                self.console(f"  database   DOWN  {text}")
                if self.dispatcher is not None:
                    self.dispatcher.urgent("critical", "database.unwritable", f"{text}: {', '.join(halted) or '-'}")
                while not store.writer.healthy:
                    await asyncio.sleep(PROBE_S)
                    with contextlib.suppress(Exception):
                        await asyncio.wrap_future(store.writer.probe(self._probe_op()))
                continue
            kept = len(gateway.deferred) if gateway is not None else 0
            written = await asyncio.to_thread(guardian.database_recovered) if guardian is not None else []
            replayed = await gateway.replay_deferred() if gateway is not None else 0
            self.supervisor.set("database", "ok", "takes writes again")
            self.console(
                f"  database   OK    takes writes again: {len(written)} account state(s) and {replayed}/{kept} "
                "executor report(s) written; accounts stay HALTED until resumed"
            )

    async def _record_errors(self, buffer: logs.ErrorBuffer) -> None:
        """Every second, the errors logged meanwhile go to the ``errors`` table (kept while the database is down)."""
        while True:
            await asyncio.sleep(1.0)
            if buffer.pending and self.service.store.writer.healthy:
                await self._write_errors(buffer)

    async def _write_errors(self, buffer: logs.ErrorBuffer) -> None:
        rows = buffer.take()
        try:
            await self.service.store.writer.write_async(lambda ctx: repository.insert_errors(ctx, rows))
        except StoreError:
            buffer.pending.extendleft(reversed(rows))  # written when the database is back

    def _probe_op(self) -> Callable[[Any], None]:
        event = ComponentHealth("database", "ok", "takes writes again", self.service.clock.now())
        return lambda ctx: repository.record_component_health(ctx, event)

    # ------------------------------------------------------------------ helpers
    def _alert_soon(self, severity: str, kind: str, message: str, detail: dict[str, str] | None = None) -> None:
        """Record an alert without waiting (from any thread); the urgent path when the database refuses it."""
        store = self.service.store

        def op(ctx: Any) -> None:
            repository.record_alert(ctx, severity=severity, kind=kind, message=message, detail=detail)

        future = store.writer.submit(op)
        dispatcher = self.dispatcher

        def done(f: Any) -> None:
            if f.exception() is not None and dispatcher is not None:
                dispatcher.urgent(severity, kind, message)

        future.add_done_callback(done)

    async def _close_gateway(self, ws_server: Any) -> None:
        if ws_server is not None:
            ws_server.close()
            await ws_server.wait_closed()

    async def _revoke(self, token_id: str) -> None:
        from enigma_apex.adapters.store import tokens

        with contextlib.suppress(Exception):
            await self.service.store.writer.write_async(lambda ctx: tokens.revoke_token(ctx, token_id))

    def _child_status(self, component: str, status: str, detail: str) -> None:
        """A child process exited (down, being restarted) or is back (ok): recorded and alerted."""
        self._status(component, status, detail)
        if status == "down":
            self.supervisor.components[component].restarts += 1
            if self.service.guardian is not None:
                self.service.guardian.telemetry.supervisor_restarts.labels(component).inc()
        severity, kind = ("warning", "component.failed") if status == "down" else ("info", "component.recovered")
        task = asyncio.create_task(self.supervisor.record(component, status, detail, severity, kind))
        self._notes.add(task)
        task.add_done_callback(self._notes.discard)

    def _status(self, component: str, status: str, detail: str) -> None:
        self.console(f"  {component:<10} {status.upper():<5} {detail}")
        self.supervisor.set(component, status, detail)
        event = ComponentHealth(component, status, detail, self.service.clock.now())
        # submitted, not awaited: the event loop never waits on the database for a health row
        future = self.service.store.writer.submit(lambda ctx: repository.record_component_health(ctx, event))

        def done(f: Any) -> None:
            if f.exception() is not None:
                log.error("component_health.write_failed", component=component, error=str(f.exception()))

        future.add_done_callback(done)

    def _db_where(self) -> str:
        path = self.service.store.sqlite_file
        return str(path) if path is not None else self.service.store.engine.url.render_as_string(hide_password=True)

    def _keep_samples(self, rows: list[dict[str, Any]]) -> None:
        """Store equity samples behind the tick (a database that refuses them costs the curve a point, nothing
        else)."""
        future = self.service.store.writer.submit(lambda ctx: repository.insert_equity_samples(ctx, rows))

        def done(f: Any) -> None:
            if f.exception() is not None:
                log.warning("equity_samples.write_failed", error=str(f.exception()))

        future.add_done_callback(done)

    async def _tick_guardian(self) -> None:
        guardian = self.service.guardian
        if guardian is None:
            return
        ticks = 0
        history = self.service.history
        names = [a.name for a in self.service.settings.accounts]
        while True:
            await asyncio.sleep(TICK_S)
            ticks += 1
            if ticks % max(1, round(history.every_s / TICK_S)) == 1:
                due = history.sample(guardian, names, self.service.clock.now())
                if due:
                    self._keep_samples(due)
            await asyncio.to_thread(guardian.tick)  # a failure is the supervisor's to record and restart

    async def _watch_config(self) -> None:
        path = self.service.config_path
        if path is None:
            return

        while True:
            await asyncio.sleep(CONFIG_POLL_S)
            digest = await settled_digest(path.read_bytes, self.service.config_hash, CONFIG_SETTLE_S)
            if digest is not None:
                self.service.config_hash = digest  # report a bad edit once, not every second
                # the reload reads the file once more: only the content seen settled is applied
                outcome = await asyncio.to_thread(self.service.reload_config, "file", digest)
                for line in outcome.problems:
                    self.console(f"config reload refused: {line}")
                for change in outcome.refused:
                    self.console(f"config: {change['key']} needs a restart (still {change['old']!r})")
                for change in outcome.applied:
                    self.console(f"config: {change['key']} = {change['new']!r} (applied live)")


async def settled_digest(read: Callable[[], bytes], known: str, settle_s: float) -> str | None:
    """The configuration file's new digest, once two reads ``settle_s`` apart agree; None when it is unchanged
    (digest ``known``), unreadable, or still being written (the next poll looks again)."""
    try:
        digest = loader.file_digest(read())
        if digest == known:
            return None
        await asyncio.sleep(settle_s)
        again = loader.file_digest(read())
    except OSError:
        return None
    return digest if again == digest else None


async def _wait(ready: Callable[[], bool], within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while not ready():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def _free_port(host: str) -> int:
    """A port free on ``host`` now (for a child that needs its port before it starts)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _port_taken(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be bound now (None: it can; port 0 always can)."""
    if port == 0:
        return None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            if os.name != "nt":  # as the server binds: a port in TIME_WAIT is free
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


async def _wait_http(url: str, within_s: float) -> bool:
    import httpx

    deadline = time.monotonic() + within_s
    local = is_loopback(httpx.URL(url).host)  # a certificate names the address others use: not checked here
    async with httpx.AsyncClient(timeout=2.0, verify=not local) as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    return True
            await asyncio.sleep(0.2)
    return False


def child_log(settings: Any, name: str) -> Path:
    """Where a child the hub starts writes its output: ``<data>/logs/<name>.log``."""
    folder: Path = settings.hub.data_dir
    return folder / "logs" / f"{name}.log"


def _local_host(host: str) -> str:
    """How this machine reaches a server bound to ``host`` (every interface: through loopback)."""
    return "127.0.0.1" if host in ("0.0.0.0", "::") else (f"[{host}]" if ":" in host else host)  # noqa: S104


def _bound(scheme: str, host: str, port: int) -> str:
    """The address actually bound, as the start-up lines print it."""
    shown = f"[{host}]" if ":" in host else host
    if is_loopback(host):
        return f"{scheme}://{shown}:{port}"
    where = "every network interface" if host in ("0.0.0.0", "::") else "this address"  # noqa: S104
    return f"{scheme}://{shown}:{port} (bound to {where}: reachable from other machines)"
