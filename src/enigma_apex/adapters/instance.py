"""The data folder's instance lock: while a hub runs, it is the only process that writes its database.

``hub.lock`` in the data folder is held (an OS file lock: released by the operating system when the holder
exits, even killed) by the running hub, or by a CLI command writing the database while no hub runs. Beside it
``hub.json`` says who holds it (pid, command, since when) and, for a running hub, where it answers and the
per-run control token the CLI on this machine uses to go through it (readable by the data folder's owner only,
like the database itself).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from enigma_apex.errors import EnigmaError

LOCK_FILE = "hub.lock"
INFO_FILE = "hub.json"
WAIT_S = 1.0  # a CLI command that only looks whether a hub runs holds the lock this long at most


@dataclass(frozen=True)
class Holder:
    """Who holds a data folder's lock."""

    pid: int | None
    what: str  # "enigma-apex up", "enigma-apex token create", ...
    since: str
    http: str | None = None  # a running hub's HTTP base URL
    ws: str | None = None  # its WebSocket URL
    control: str | None = None  # its control token (the local CLI's way in)

    @property
    def is_hub(self) -> bool:
        return self.http is not None

    def describe(self, tz: tzinfo | None = None) -> str:
        """Who holds the folder and since when, in ``tz`` (the user's zone; UTC without one)."""
        who = f"{self.what} (pid {self.pid})" if self.pid else self.what
        if not self.since:
            return who
        from enigma_apex.dashboard.words import stamp

        return f"{who}, since {stamp(self.since, tz or UTC)}"


class FolderBusyError(EnigmaError):
    """Another process holds the data folder."""

    action = "stop the other process, or go through the running hub"

    def __init__(self, data_dir: Path, holder: Holder) -> None:
        running = "a hub is already running" if holder.is_hub or "up" in holder.what else "another command is using"
        super().__init__(f"{running} on the data folder {data_dir}: {holder.describe()}")
        self.holder = holder


class InstanceLock:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._lock = FileLock(str(data_dir / LOCK_FILE))
        self.info: Holder | None = None

    @property
    def held(self) -> bool:
        return self._lock.is_locked

    def acquire(self, what: str, wait_s: float = WAIT_S) -> InstanceLock:
        """Take the folder (waiting ``wait_s`` for a command that only looked), or raise ``FolderBusyError``."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=wait_s)
        except Timeout:
            raise FolderBusyError(
                self.data_dir, _read(self.data_dir) or Holder(None, "an unknown process", "")
            ) from None
        now = datetime.now(UTC).isoformat(timespec="seconds")
        self._write(Holder(os.getpid(), what, now))
        return self

    def publish(self, *, http: str, ws: str | None) -> str:
        """A running hub says where it answers; returns the control token it accepts from the local CLI."""
        if self.info is None:
            raise RuntimeError("publish needs the lock")
        control = "eac_" + secrets.token_urlsafe(32)
        self._write(Holder(self.info.pid, self.info.what, self.info.since, http, ws, control))
        return control

    def release(self) -> None:
        if not self._lock.is_locked:
            return
        with contextlib.suppress(OSError):
            (self.data_dir / INFO_FILE).unlink()
        self.info = None
        self._lock.release()

    def _write(self, holder: Holder) -> None:
        path = self.data_dir / INFO_FILE
        temp = path.with_name(INFO_FILE + ".new")
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        fd = os.open(temp, flags, 0o600)  # the control token inside: the owner only
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(asdict(holder), out)
        os.replace(temp, path)
        self.info = holder


def holder(data_dir: Path) -> Holder | None:
    """Who holds the data folder now (None: nobody; a ``hub.json`` left by a process that died is ignored)."""
    if not (data_dir / LOCK_FILE).exists():
        return None
    probe = FileLock(str(data_dir / LOCK_FILE))
    try:
        probe.acquire(timeout=0)
    except Timeout:
        return _read(data_dir) or Holder(None, "an unknown process", "")
    probe.release()
    return None


def _read(data_dir: Path) -> Holder | None:
    try:
        data: dict[str, Any] = json.loads((data_dir / INFO_FILE).read_text(encoding="utf-8"))
        pid = data.get("pid")
        return Holder(
            pid if isinstance(pid, int) else None,
            str(data.get("what") or "an unknown process"),
            str(data.get("since") or ""),
            data.get("http"),
            data.get("ws"),
            data.get("control"),
        )
    except (OSError, ValueError, TypeError):
        return None
