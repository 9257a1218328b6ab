"""`enigma-apex bench dashboard`: the time from an account update reaching the hub to its value visible in a
browser, the dashboard's resident memory and the hub's CPU while three browsers watch.

The hub (`up`, 20 accounts) and the dashboard run as processes on loopback; an executor sends
``account.update`` with a new balance for BENCH-1; three headless Chromium pages (Playwright) show the Overview
and the clock stops when the new balance is in the first page's text. The dashboard's live feed hears the
hub's ``risk.update``, fetches the accounts once, and the pages re-draw every ``dashboard.refresh_s``
(0.25 s). Resident memory and CPU time are read from /proc (Linux).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from enigma_apex import bootstrap
from enigma_apex.adapters.clock import SystemClock
from enigma_apex.adapters.store import repository, tokens
from enigma_apex.bench.stats import process_cpu_s, process_rss_mb, summary_ms
from enigma_apex.client import HubClient, new_id
from enigma_apex.config.loader import load
from enigma_apex.config.models import Settings
from enigma_apex.config.render import render
from enigma_apex.protocol import messages as m

SEED_BUDGET_MS = 500  # the seed design's UI update promise
ACCOUNTS = 20
BROWSERS = 3


def _a_week_of_history() -> list[dict[str, Any]]:
    """One equity sample a minute for a week, for every account (what a week of trading keeps at most)."""
    end = datetime.now(UTC)
    rows = []
    for minute in range(7 * 24 * 60, 0, -1):
        ts = end - timedelta(minutes=minute)
        equity = Decimal(50_000) + Decimal(minute % 997) / 4
        for n in range(1, ACCOUNTS + 1):
            rows.append({"account_id": f"BENCH-{n}", "ts": ts, "equity": equity, "threshold": Decimal(48_000),
                         "peak": Decimal(50_250), "locked": False})  # fmt: skip
    return rows


def _other_balances(port: int, token: str, but: str) -> Decimal:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/accounts", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        accounts = json.loads(response.read())["accounts"]
    return sum((Decimal(a["balance"]) for a in accounts if a["account"] != but), Decimal(0))


FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-renderer-backgrounding",
         "--disable-background-timer-throttling", "--disable-backgrounding-occluded-windows"]  # fmt: skip
# (three pages watch at once: none of them may be throttled as a background tab)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
            if response.status == 200:  # a loopback URL of this bench
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


async def _cancel_tasks() -> None:
    """Cancel what still runs on the bench client's loop (its connection to the hub) and wait until it has ended."""
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def run(updates: int = 30) -> dict[str, Any]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return {"skipped": "chromium is not installed"}
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "enigma-apex.toml"
        http_port, ws_port, ui_port = _free_port(), _free_port(), _free_port()
        text = render(Settings(), annotate=False)
        text = text.replace("port = 8080", f"port = {http_port}").replace("port = 8765", f"port = {ws_port}")
        text = text.replace("port = 8501", f"port = {ui_port}")
        config.write_text(
            text
            + "".join(
                f'\n[[accounts]]\nname = "BENCH-{n}"\nprofile = "apex4-intraday-eval-50k"\nexecutor = "bench"\n'
                for n in range(1, ACCOUNTS + 1)
            )
        )
        env = {**os.environ, "ENIGMA_APEX__HUB__USE_KEYRING": "false", "ENIGMA_APEX__PAPER__ENABLED": "false",
               "ENIGMA_APEX__DASHBOARD__ENABLED": "false"}  # fmt: skip
        loaded = load(config, environ=env)
        store, _ = bootstrap.open_store(loaded.settings, SystemClock())
        executor_token = store.writer.write(lambda ctx: tokens.create_token(ctx, name="bench", role="executor")[0])
        viewer_token = store.writer.write(lambda ctx: tokens.create_token(ctx, name="viewer", role="dashboard")[0])
        store.writer.write(lambda ctx: repository.insert_equity_samples(ctx, _a_week_of_history()), timeout=300)
        store.close()
        hub = subprocess.Popen(  # noqa: S603 - this interpreter, this package
            [sys.executable, "-m", "enigma_apex", "-c", str(config), "up"], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        board = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "enigma_apex", "-c", str(config), "dashboard"], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        try:
            _wait_http(f"http://127.0.0.1:{http_port}/health")
            _wait_http(f"http://127.0.0.1:{ui_port}/_stcore/health")
            client = HubClient(f"ws://127.0.0.1:{ws_port}", executor_token, "bench-dashboard", executor=True)
            asyncio.run_coroutine_threadsafe(client.run(), loop)
            asyncio.run_coroutine_threadsafe(client.connected.wait(), loop).result(30)

            def send(balance: Decimal) -> None:
                update = m.AccountUpdate(id=new_id(), ts=datetime.now(UTC), account="BENCH-1", balance=balance)
                asyncio.run_coroutine_threadsafe(client.send(update), loop).result(10)

            latencies: list[float] = []
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=FLAGS)
                pages = []
                for _ in range(BROWSERS):
                    page = browser.new_page(viewport={"width": 1366, "height": 900})
                    page.goto(f"http://127.0.0.1:{ui_port}")
                    page.get_by_label("Hub token", exact=True).fill(viewer_token)
                    page.get_by_role("button", name="Sign in").click()
                    page.get_by_text("BENCH-1").first.wait_for(timeout=60_000)
                    pages.append(page)
                watcher = pages[-1]  # the third browser watches BENCH-1's page over a week of history
                watcher.get_by_test_id("stSidebar").get_by_text("Account", exact=True).click()
                watcher.get_by_test_id("stSelectbox").first.click()
                watcher.get_by_role("option", name="BENCH-1", exact=True).click()
                watcher.get_by_text("1 week", exact=True).click()
                watcher.get_by_test_id("stPlotlyChart").first.wait_for(timeout=60_000)
                others = _other_balances(http_port, viewer_token, "BENCH-1")
                page = pages[0]
                page.bring_to_front()
                cpu_start, wall_start = process_cpu_s(hub.pid), time.monotonic()
                for i in range(updates + 1):  # the first update warms the path and is not counted
                    balance = Decimal("50000") + i + Decimal("0.37")
                    shown = f"${others + balance:,.2f}"  # the overview's total balance
                    start = time.perf_counter()
                    send(balance)
                    try:
                        page.wait_for_function("t => document.body.innerText.includes(t)", arg=shown,
                                               timeout=30_000)  # fmt: skip
                    except Exception as exc:  # say what the page showed instead
                        text = page.inner_text("body")[:1500]
                        raise RuntimeError(f"{shown} never showed; the page showed:\n{text}") from exc
                    if i:
                        latencies.append((time.perf_counter() - start) * 1000)
                cpu_end, wall = process_cpu_s(hub.pid), time.monotonic() - wall_start
                browser.close()
            hub_cpu = None if cpu_start is None or cpu_end is None else round(100 * (cpu_end - cpu_start) / wall, 1)
            rss = process_rss_mb(board.pid)
            asyncio.run_coroutine_threadsafe(client.stop(), loop).result(10)
        finally:
            for process in (board, hub):
                process.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(15)
            # the client's tasks end here, on their loop: a task left pending would be destroyed at some later,
            # random moment (with a traceback in whatever runs then), hiding why the bench failed
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(_cancel_tasks(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)
            loop.close()
    refresh = float(loaded.settings.dashboard.refresh_s)
    return {
        "updates": updates,
        **summary_ms(latencies, 1),
        "refresh_s": refresh,
        "dashboard_rss_mb": rss,
        "accounts": ACCOUNTS,
        "history_samples": 7 * 24 * 60 * ACCOUNTS,
        "browsers": BROWSERS,
        "hub_cpu_pct": hub_cpu,
        "seed_budget_ms": SEED_BUDGET_MS,
        "p50_vs_budget": round(summary_ms(latencies)["p50_ms"] / SEED_BUDGET_MS, 3),
        "path": "account.update at the hub -> risk.update to the dashboard's live feed -> one HTTP fetch -> "
        "fragment re-draw -> text in Chromium",
    }


__all__ = ["run"]
