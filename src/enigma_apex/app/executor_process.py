"""A component in its own process, started and watched by the hub (the paper broker in paper mode, the
dashboard).

The hub mints a token for it (executor role, its accounts only; revoked when the hub stops, and any left over
by a crashed run is revoked at the next start), passes it in the environment (never on the command line,
where other users could read it), and restarts the process with backoff when it dies.

The child's standard input is a pipe the hub never writes: when the hub dies (even by SIGKILL) the pipe closes
and the child leaves too (``watch_parent``), so a restarted hub never meets a second copy of its executor.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import structlog

from enigma_apex.adapters.store import tokens
from enigma_apex.adapters.store.store import Store
from enigma_apex.adapters.store.writer import WriteContext
from enigma_apex.domain.clock import Clock

log = structlog.get_logger(__name__)

TOKEN_DAYS = 30
PARENT_PIPE = "ENIGMA_APEX_PARENT_PIPE"


def mint_token(store: Store, clock: Clock, name: str, accounts: tuple[str, ...]) -> tuple[str, str]:
    """Revoke this executor's leftover hub-made tokens, create a fresh one; returns (plaintext, token id)."""
    with store.engine.connect() as conn:
        stale = [
            t.token_id
            for t in tokens.list_tokens(conn)
            if t.name == name and t.role == "executor" and t.is_default and t.active(clock.now())
        ]
    for token_id in stale:

        def revoke(ctx: WriteContext, t: str = token_id) -> bool:
            return tokens.revoke_token(ctx, t)

        store.writer.write(revoke)
    plain, record = store.writer.write(
        lambda ctx: tokens.create_token(
            ctx,
            name=name,
            role="executor",
            accounts=accounts,
            is_default=True,
            expires_at=clock.now() + timedelta(days=TOKEN_DAYS),
        )
    )
    return plain, record.token_id


OUTPUT_MAX_BYTES = 20 * 1024 * 1024  # a child's output file past this at a (re)start is kept as <name>.log.1


def _keep_small(path: Path, max_bytes: int) -> None:
    """A child's output file that has grown past ``max_bytes`` becomes ``<name>.1`` (the one before is dropped)."""
    try:
        if path.stat().st_size > max_bytes:
            path.replace(path.with_name(path.name + ".1"))
    except OSError:
        return  # none yet, or in use (Windows): appended to as it is


class ExecutorProcess:
    def __init__(
        self,
        name: str,
        args: list[str],
        token: str,
        status: Callable[[str, str, str], None],
        *,
        token_id: str = "",
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        max_backoff_s: float = 30.0,
        ready: Callable[[], Awaitable[bool]] | None = None,
        output: Path | None = None,
    ) -> None:
        self.name = name
        self.output = output  # the child's stdout and stderr go here (appended) instead of the hub's terminal
        self.args = args
        self.token = token
        self.token_id = token_id
        self.extra_env = dict(env or {})
        self.status = status
        self.cwd = cwd
        self.max_backoff_s = max_backoff_s
        self.process: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self.stopping = False
        self.ready = ready  # after a restart: True once the process is back in service
        self.task: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None

    async def run(self) -> None:
        """Start the process and restart it after every exit until ``stop``."""
        delay = 1.0
        env = {**os.environ, "PYTHONUNBUFFERED": "1", PARENT_PIPE: "1", **self.extra_env}
        if self.token:
            env["ENIGMA_APEX_TOKEN"] = self.token
        while not self.stopping:
            sink = None
            if self.output is not None:
                self.output.parent.mkdir(parents=True, exist_ok=True)
                _keep_small(self.output, OUTPUT_MAX_BYTES)
                sink = self.output.open("ab")
            try:
                self.process = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "enigma_apex", *self.args, env=env, cwd=self.cwd,
                    stdin=asyncio.subprocess.PIPE, stdout=sink, stderr=sink,
                )  # fmt: skip
            finally:
                if sink is not None:
                    sink.close()  # the child holds its own copy
            if self.restarts and self.ready is not None:
                self._watch = asyncio.create_task(self._back_in_service(self.restarts))
            code = await self.process.wait()
            if self.stopping:
                break
            self.restarts += 1
            where = f" (its output: {self.output})" if self.output is not None else ""
            self.status(self.name, "down", f"exited with code {code}{where}; restarting in {delay:.0f} s")
            log.error("executor.process_exited", name=self.name, code=code, restarts=self.restarts)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_backoff_s)

    async def _back_in_service(self, restarts: int) -> None:
        if self.ready is not None and await self.ready() and not self.stopping and self.restarts == restarts:
            self.status(self.name, "ok", f"running again after {restarts} restart(s)")

    async def stop(self) -> None:
        self.stopping = True
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 5.0)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


def watch_parent() -> None:
    """In a child started by the hub: leave when the hub is gone (its end of our standard input closes)."""
    if os.environ.get(PARENT_PIPE) != "1":
        return
    import threading

    def wait_for_eof() -> None:
        # os.read on the descriptor, not sys.stdin: a thread blocked in a buffered read holds its lock, and the
        # interpreter aborts when it exits while the lock is held.
        with contextlib.suppress(OSError, ValueError):
            while os.read(sys.stdin.fileno(), 4096):
                pass
        log.warning("executor.parent_gone")
        os._exit(0)  # the hub is gone; a new hub starts its own copy (the paper state is saved after every change)

    threading.Thread(target=wait_for_eof, name="parent-watch", daemon=True).start()


__all__ = ["ExecutorProcess", "mint_token", "watch_parent"]
