"""The dashboard's live state: one subscription to the hub's gateway per signed-in token, shared by every page
and browser tab of that token.

The gateway pushes ``risk.update``, ``decision``, order and ``market.data`` frames (coalesced per account and
symbol); each one marks the state stale, and one fetch of the HTTP API's accounts and approvals follows (at most
``min_gap_s`` apart, whatever the number of frames). The pages' fragments read this local copy several times a
second without touching the hub, so the hub's load does not grow with the number of browsers. Without the
gateway (no address, refused, down) the copy is fetched every ``poll_s`` instead, and ``stale`` tells the page.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, ClassVar

from enigma_apex.client import HubClient, new_id, now
from enigma_apex.dashboard.client import HubAPI, HubError, loopback
from enigma_apex.protocol import messages as m

TOPICS: list[m.Topic] = ["risk", "decisions", "orders", "market"]


@dataclass
class Snapshot:
    accounts: list[dict[str, Any]] = field(default_factory=list)
    approvals: list[dict[str, Any]] = field(default_factory=list)
    fetched_at: float | None = None  # time.time() of the last successful fetch
    version: int = 0  # grows with every fetch that changed something
    error: HubError | None = None  # the last fetch's failure (None: it worked)
    live: bool = False  # the gateway subscription is up


class LiveFeed:
    _open: ClassVar[weakref.WeakSet[LiveFeed]] = weakref.WeakSet()  # for close_all

    def __init__(
        self, api: HubAPI, ws_url: str | None, token: str, *, poll_s: float = 1.0, min_gap_s: float = 0.05
    ) -> None:
        self.api = api
        self.ws_url = ws_url
        self.token = token
        self.poll_s = poll_s
        self.min_gap_s = min_gap_s
        self.state = Snapshot()
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: HubClient | None = None
        self.frames = 0
        self.fetches = 0
        LiveFeed._open.add(self)
        self._fetcher = threading.Thread(target=self._fetch_loop, name="dashboard-feed", daemon=True)
        self._fetcher.start()
        if ws_url:
            self._listener = threading.Thread(target=self._listen, name="dashboard-gateway", daemon=True)
            self._listener.start()

    # ------------------------------------------------------------------ reading
    def snapshot(self) -> Snapshot:
        with self._lock:
            return self.state

    def stale_s(self) -> float | None:
        fetched = self.state.fetched_at
        return None if fetched is None else time.time() - fetched

    def wait_first(self, timeout: float) -> Snapshot:
        """The state once it has been fetched once (or failed), at most ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.state.fetched_at is None and self.state.error is None:
            self._dirty.set()
            time.sleep(0.02)
        return self.snapshot()

    def poke(self) -> None:
        """Fetch now (after an action of this user: a halt, an approval)."""
        self._dirty.set()

    # ------------------------------------------------------------------ fetching
    def _fetch_loop(self) -> None:
        last = 0.0
        self._dirty.set()
        while not self._stop.is_set():
            wait = 5.0 if self.state.live else self.poll_s
            self._dirty.wait(wait)
            if self._stop.is_set():
                return
            gap = self.min_gap_s - (time.monotonic() - last)
            if gap > 0:
                time.sleep(gap)  # frames arriving meanwhile are folded into this fetch
            self._dirty.clear()
            last = time.monotonic()
            self._fetch()

    def _fetch(self) -> None:
        self.fetches += 1
        try:
            accounts = self.api.accounts()
            try:
                approvals = self.api.approvals()
            except HubError as exc:
                if exc.status != 503:  # 503: no signal pipeline runs, so nothing can wait
                    raise
                approvals = []
        except HubError as exc:
            with self._lock:
                self.state = Snapshot(self.state.accounts, self.state.approvals, self.state.fetched_at,
                                      self.state.version, exc, self.state.live)  # fmt: skip
            return
        with self._lock:
            changed = accounts != self.state.accounts or approvals != self.state.approvals
            version = self.state.version + (1 if changed else 0)
            self.state = Snapshot(accounts, approvals, time.time(), version, None, self.state.live)

    # ------------------------------------------------------------------ the gateway
    def _on_frame(self, message: m.Message) -> None:
        self.frames += 1
        if isinstance(message, m.RiskUpdate | m.DecisionMsg | m.MarketData) or str(
            getattr(message, "type", "")
        ).startswith("order"):
            self._dirty.set()

    def _set_live(self, live: bool) -> None:
        with self._lock:
            s = self.state
            self.state = Snapshot(s.accounts, s.approvals, s.fetched_at, s.version, s.error, live)
        self._dirty.set()

    def _listen(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        context = None
        if self.ws_url and self.ws_url.startswith("wss://") and loopback(self.ws_url.replace("wss://", "https://")):
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE  # this machine: the certificate names the address others use

        async def subscribe() -> None:
            if self._client is None:
                return
            await self._client.send(m.Subscribe(id=new_id(), ts=now(), topics=TOPICS))
            self._set_live(True)

        async def run() -> None:
            self._client = HubClient(self.ws_url or "", self.token, "dashboard", self._on_frame, on_connect=subscribe,
                                     ssl=context, backoff=(0.2, 5.0))  # fmt: skip
            watcher = asyncio.create_task(self._watch_connection())
            try:
                await self._client.run()
            except PermissionError:
                pass  # a refused token: the HTTP fetch says why; polling goes on
            finally:
                watcher.cancel()
                self._set_live(False)

        with contextlib.suppress(Exception):
            loop.run_until_complete(run())
        loop.close()

    async def _watch_connection(self) -> None:
        while True:
            client = self._client
            if client is not None and not client.connected.is_set() and self.state.live:
                self._set_live(False)
            await asyncio.sleep(0.5)

    @property
    def closed(self) -> bool:
        return self._stop.is_set()

    @classmethod
    def close_all(cls) -> None:
        """Close every feed of this process (its threads stop; a page asking again opens a new one)."""
        for feed in list(cls._open):
            feed.close()

    def close(self) -> None:
        LiveFeed._open.discard(self)
        self._stop.set()
        self._dirty.set()
        loop, client = self._loop, self._client
        if loop is not None and client is not None and loop.is_running():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(client.stop(), loop).result(5)


__all__ = ["LiveFeed", "Snapshot"]
