"""Start `enigma-apex up` as a real process for tests, and talk to it over HTTP."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from typer.testing import CliRunner

from enigma_apex.adapters.clock import SHIFT_ENV
from enigma_apex.cli import app

READY = re.compile(r"Health: (http://[^/\s]+)/health")
IN_SESSION = datetime(2026, 12, 1, 10, 0, tzinfo=ZoneInfo("America/New_York"))  # a Tuesday morning


def init_dir(folder: Path, extra: str = "") -> tuple[Path, dict[str, str]]:
    """`enigma-apex init` in ``folder`` with port 0; returns the config path and the printed tokens."""
    result = CliRunner().invoke(app, ["init", str(folder)], env={"ENIGMA_APEX__HUB__USE_KEYRING": "false"})
    assert result.exit_code == 0, result.output
    tokens = {}
    for line in result.output.splitlines():
        if "eat_" in line:
            parts = line.split()
            tokens[parts[0]] = parts[-1]
    config = folder / "enigma-apex.toml"
    text = config.read_text().replace("port = 8080", "port = 0").replace("port = 8765", "port = 0") + extra
    config.write_text(text)
    return config, tokens


class HubProcess:
    def __init__(self, config: Path, env: dict[str, str] | None = None) -> None:
        env = {
            **os.environ,
            "ENIGMA_APEX__HUB__USE_KEYRING": "false",
            "ENIGMA_APEX__DASHBOARD__ENABLED": "false",  # the dashboard tests start it themselves
            "PYTHONUNBUFFERED": "1",
            SHIFT_ENV: IN_SESSION.isoformat(),  # inside every firm's session whatever the hour the tests run
            **(env or {}),
        }
        env.pop("ENIGMA_APEX_CONFIG", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "enigma_apex", "-c", str(config), "up"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()
        self.base = self.wait_for(READY).group(1)

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            self.lines.put(line)

    def printed(self, pattern: str) -> bool:
        """True when the hub has printed a line matching ``pattern`` (start-up lines come before READY)."""
        return any(re.search(pattern, line) for line in self.output)

    def wait_for(self, pattern: re.Pattern[str] | str, timeout: float = 60.0) -> re.Match[str]:
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    break
                continue
            match = regex.search(line)
            if match:
                return match
        raise AssertionError(f"hub never printed {regex.pattern!r}; output:\n{''.join(self.output)}")

    def get(self, path: str, token: str | None = None, method: str = "GET") -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        request = urllib.request.Request(self.base + path, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def post_json(self, path: str, body: Any, token: str, timeout: float = 10.0) -> tuple[int, Any]:
        data = json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        request = urllib.request.Request(self.base + path, data=data, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def stop(self, sig: int | None = None, timeout: float = 30.0) -> int:
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(sig if sig is not None else signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            self._close()
            tail = "".join(self.output[-40:])
            raise AssertionError(f"the hub did not stop within {timeout} s; its last output:\n{tail}") from None
        self._close()
        return code

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)
        self._close()

    def _close(self) -> None:
        self._pump_thread.join(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def wait_until(predicate: Any, timeout: float = 30.0, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("condition not reached in time")
