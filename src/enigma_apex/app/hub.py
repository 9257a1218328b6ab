"""The running hub: starts components in order, watches the configuration, stops cleanly.

Start order (each must be ready before the next): database (migrated by the composition root),
HTTP server. Later components (gateway, guardian, executors, dashboard) join this sequence.
Shutdown is the reverse; in-flight database writes are committed before the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import socket
from collections.abc import Callable, Generator
from typing import Any

import structlog
import uvicorn

from enigma_apex.adapters.store import repository
from enigma_apex.app.service import HubService
from enigma_apex.domain.events import ComponentHealth

log = structlog.get_logger("enigma_apex.hub")

CONFIG_POLL_S = 1.0
TICK_S = 1.0


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
        self._signals = 0

    # ------------------------------------------------------------------ signals (Windows too)
    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        def handler(signum: int, _frame: Any) -> None:
            self._signals += 1
            if self._signals > 1:
                os._exit(130)  # second Ctrl-C: leave at once (committed writes are already durable)
            if self.stop_event is not None:
                loop.call_soon_threadsafe(self.stop_event.set)

        for name in ("SIGINT", "SIGTERM", "SIGBREAK"):
            sig = getattr(signal, name, None)
            if sig is not None:
                signal.signal(sig, handler)

    def request_stop(self) -> None:
        if self.stop_event is not None:
            self.stop_event.set()

    # ------------------------------------------------------------------ run
    async def run(self, *, install_signals: bool = True) -> int:
        loop = asyncio.get_running_loop()
        self.stop_event = asyncio.Event()
        if install_signals:
            self._install_signals(loop)
        settings = self.service.settings
        store = self.service.store
        db = self.service.database_status()
        self._status("database", "ok" if db["ok"] else "down", f"{db['dialect']} {self._db_where()}")
        if not db["ok"]:
            return 1
        guardian = self.service.guardian
        if guardian is not None:
            snaps = guardian.status()
            states = ", ".join(f"{s.account} {s.state.value.upper()} {s.distance} to ruin" for s in snaps)
            self._status("guardian", "ok", f"{len(snaps)} account(s): {states}")

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
            return 1
        self.http_port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_config=None, access_log=False, lifespan="off")
        server = _Server(config)
        serve_task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not serve_task.done():  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
            await asyncio.sleep(0.01)
        if serve_task.done():
            self._status("http", "down", "the HTTP server stopped during start-up")
            return 1
        base = f"http://{_display_host(settings.http.host)}:{self.http_port}"
        self._status("http", "ok", f"{base}/health")
        ws_server = None
        if self.gateway is not None:
            from enigma_apex.adapters import ws_server as ws

            try:
                ws_server = await ws.start(self.gateway)
            except OSError as exc:
                where = f"{settings.gateway.host}:{settings.gateway.port}"
                self._status("gateway", "down", f"cannot bind {where}: {exc.strerror}")
                server.should_exit = True
                await serve_task
                return 1
            self.ws_port = ws.bound_port(ws_server)
            scheme = "wss" if settings.gateway.tls_cert else "ws"
            self._status("gateway", "ok", f"{scheme}://{_display_host(settings.gateway.host)}:{self.ws_port}")
        ports = {"mode": settings.hub.mode, "http_port": self.http_port, "ws_port": self.ws_port}
        await asyncio.to_thread(store.writer.write, lambda ctx: ctx.audit("hub.started", ports))
        self.console(f"enigma-apex is up in {settings.hub.mode} mode. Health: {base}/health  (Ctrl-C to stop)")
        log.info("hub.started", mode=settings.hub.mode, http_port=self.http_port)

        gc.collect()
        gc.freeze()  # start-up objects live for the whole run: keep them out of every later GC pass
        watcher = asyncio.create_task(self._watch_config())
        ticker = asyncio.create_task(self._tick_guardian())
        watchdog = asyncio.create_task(self.gateway.watchdog()) if self.gateway is not None else None
        reader = self._start_ocr()
        alerts = self._start_alerts()
        paper = self._start_paper()
        paper_task = asyncio.create_task(paper.run()) if paper is not None else None
        board = self._start_dashboard(base)
        board_task = asyncio.create_task(board.run()) if board is not None else None
        try:
            await self.stop_event.wait()
        finally:
            self.console("enigma-apex is stopping…")
            if board is not None and board_task is not None:
                await board.stop()
                board_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await board_task
            if paper is not None and paper_task is not None:
                await paper.stop()
                paper_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await paper_task
                await asyncio.to_thread(self._revoke, paper.token_id)
            for task in (watcher, ticker, watchdog, reader, alerts):
                if task is None:
                    continue
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if ws_server is not None:
                ws_server.close()
                await ws_server.wait_closed()
            server.should_exit = True
            await serve_task
            if self.gateway is not None and self.gateway.pipeline is not None:
                await self.gateway.pipeline.close()
            await asyncio.to_thread(store.writer.write, lambda ctx: ctx.audit("hub.stopped", {"reason": "signal"}))
            log.info("hub.stopped")
        return 0

    def _start_ocr(self) -> asyncio.Task[None] | None:
        """The AlgoBox screen reader, when enabled. An engine that cannot start leaves manual entry working."""
        settings = self.service.settings
        pipeline = self.gateway.pipeline if self.gateway is not None else None
        if not settings.ocr.enabled or pipeline is None:
            return None
        from enigma_apex.adapters.ocr import OCRError
        from enigma_apex.app.ocr_reader import EnigmaReader

        async def submit(signal: Any, dedup: str) -> Any:
            return await pipeline.submit(signal, dedup_key=dedup)

        cfg = settings.ocr
        reader = EnigmaReader(cfg, self.service.clock, self.service.store, submit)
        try:
            reader.engine()
        except OCRError as exc:
            self._status("ocr", "down", f"{exc}; enter signals by hand")
            return None
        region = cfg.region
        where = f"{region.width}x{region.height}+{region.left}+{region.top} on monitor {cfg.monitor}"
        self._status("ocr", "ok", f"{cfg.engine}, {where}, {cfg.rate_hz}/s")
        return asyncio.create_task(reader.run())

    def _start_paper(self) -> Any:
        """In paper mode, the paper broker as its own process, connected to the gateway like NinjaTrader."""
        settings = self.service.settings
        accounts = tuple(a.name for a in settings.accounts if a.executor == "paper")
        if settings.hub.mode != "paper" or not settings.paper.enabled or not accounts or self.ws_port is None:
            return None
        from enigma_apex.app.executor_process import ExecutorProcess, mint_token

        token, token_id = mint_token(self.service.store, self.service.clock, "paper", accounts)
        args = ["paper", "--url", f"ws://127.0.0.1:{self.ws_port}"]
        if self.service.config_path is not None:
            args = ["--config", str(self.service.config_path), *args]
        process = ExecutorProcess("paper", args, token, self._status, token_id=token_id)
        self._status("paper", "ok", f"paper broker for {', '.join(accounts)} (its own process)")
        return process

    def _start_alerts(self) -> asyncio.Task[None]:
        """The alert dispatcher: recorded alerts go out through Apprise, off the hot path."""
        from enigma_apex.adapters import alerts as channels
        from enigma_apex.app.alerts import AlertDispatcher

        settings = self.service.settings
        dispatcher = AlertDispatcher(settings.alerts, self.service.store, self.service.clock.now, channels.send)
        self.service.reload_listeners.append(lambda plan: dispatcher.apply_settings(plan.settings.alerts))
        count = sum(len(getattr(settings.alerts, level)) for level in ("info", "warning", "critical"))
        detail = f"{count} channel(s)" if settings.alerts.enabled else "disabled (alerts are still recorded)"
        self._status("alerts", "ok", detail)
        return asyncio.create_task(dispatcher.run())

    def _start_dashboard(self, hub_base: str) -> Any:
        """The Streamlit dashboard as its own process; it reads this hub's HTTP API."""
        settings = self.service.settings
        if not settings.dashboard.enabled:
            return None
        from enigma_apex.app.executor_process import ExecutorProcess

        args = ["dashboard", "--hub-url", hub_base]
        if self.service.config_path is not None:
            args = ["--config", str(self.service.config_path), *args]
        cfg = settings.dashboard
        self._status("dashboard", "ok", f"http://{_display_host(cfg.host)}:{cfg.port} (sign in with a dashboard token)")
        return ExecutorProcess("dashboard", args, "", self._status)

    def _revoke(self, token_id: str) -> None:
        from enigma_apex.adapters.store import tokens

        self.service.store.writer.write(lambda ctx: tokens.revoke_token(ctx, token_id))

    def _status(self, component: str, status: str, detail: str) -> None:
        self.console(f"  {component:<10} {status.upper():<5} {detail}")
        event = ComponentHealth(component, status, detail, self.service.clock.now())
        try:
            self.service.store.writer.write(lambda ctx: repository.record_component_health(ctx, event))
        except Exception as exc:  # noqa: BLE001 - a health row must never stop start-up reporting
            log.error("component_health.write_failed", component=component, error=str(exc))

    def _db_where(self) -> str:
        path = self.service.store.sqlite_file
        return str(path) if path is not None else self.service.store.engine.url.render_as_string(hide_password=True)

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
                history.sample(guardian, names, self.service.clock.now())
            try:
                await asyncio.to_thread(guardian.tick)
            except Exception as exc:  # noqa: BLE001 - a failing tick is logged; the next one tries again
                log.error("guardian.tick_failed", error=str(exc))

    async def _watch_config(self) -> None:
        path = self.service.config_path
        if path is None:
            return
        import hashlib

        while True:
            await asyncio.sleep(CONFIG_POLL_S)
            try:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                continue
            if digest != self.service.config_hash:
                self.service.config_hash = digest  # report a bad edit once, not every second
                outcome = await asyncio.to_thread(self.service.reload_config, "file")
                for line in outcome.problems:
                    self.console(f"config reload refused: {line}")
                for change in outcome.refused:
                    self.console(f"config: {change['key']} needs a restart (still {change['old']!r})")
                for change in outcome.applied:
                    self.console(f"config: {change['key']} = {change['new']!r} (applied live)")


def _display_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::") else (f"[{host}]" if ":" in host else host)  # noqa: S104
