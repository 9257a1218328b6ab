"""The executor's journal: a small append-only file that lets a restarted executor keep its promises.

- Write-ahead: an order's key is appended *before* the order reaches the venue. A restarted executor loads the
  keys, so an order the hub sends again (its acknowledgement was lost with a crash) is answered ``duplicate``
  and never placed twice.
- Reports: every fill, every final order state and every order the executor refused (its ``ack rejected``) is
  appended after it is sent. On each (re)connection the runner sends the most recent ones again, before anything
  else; the hub records a fill once (by ``fill_id``) and final states are idempotent, so a report the hub lost in
  a crash is recorded and nothing is counted twice. A refusal is sent again for the same reason: the hub resends
  an order it never heard acknowledged, and the executor's answer to that resend (``duplicate``) says only that
  the key was seen, not that the order was refused.

One JSON object per line (``{"k": key}`` or ``{"e": message}``), flushed at once so it survives the process
dying; compacted to the newest ``keep`` keys and reports when it grows past twice that.

Without a file (``path`` None) it is kept in memory only: it then covers reconnections, not restarts (a report
written into a socket that is then torn down is sent again on the next connection).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TextIO

import structlog

from enigma_apex.protocol import messages as m
from enigma_apex.protocol.codec import decode, encode

log = structlog.get_logger(__name__)

FINAL = frozenset({"filled", "cancelled", "rejected", "expired"})


class Journal:
    def __init__(self, path: Path | None, keep: int = 5000) -> None:
        self.path = path
        self.keep = keep
        self.keys: list[str] = []
        self.reports: list[str] = []  # encoded messages
        self._lines = 0
        self._file: TextIO | None = None

    def load(self) -> None:
        """Read what an earlier run wrote (a torn last line from a crash is skipped), then open for appending."""
        if self.path is not None and self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    item = json.loads(line)
                except ValueError:
                    log.warning("journal.bad_line", path=str(self.path))
                    continue
                if "k" in item:
                    self.keys.append(str(item["k"]))
                elif "e" in item:
                    self.reports.append(str(item["e"]))
        self._compact()

    def placed(self, key: str) -> None:
        self.keys.append(key)
        self._append({"k": key})

    def reported(self, message: m.Message) -> None:
        final = isinstance(message, m.OrderUpdate) and message.status in FINAL
        refused = isinstance(message, m.Ack) and message.status == "rejected" and message.ack is not None
        if isinstance(message, m.FillMsg) or final or refused:
            text = encode(message)
            self.reports.append(text)
            self._append({"e": text})

    def recent(self, limit: int = 200) -> list[m.Message]:
        """The newest reports, oldest first, as messages to send again."""
        out: list[m.Message] = []
        for text in self.reports[-limit:]:
            message = decode(text)
            if isinstance(message, m.FillMsg | m.OrderUpdate | m.Ack):
                out.append(message)
        return out

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _append(self, item: dict[str, str]) -> None:
        if self.path is None:  # in memory: trimmed to the newest ``keep``
            if len(self.keys) > 2 * self.keep or len(self.reports) > 2 * self.keep:
                self._compact()
            return
        handle = self._file
        if handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = self._file = self.path.open("a", encoding="utf-8")
        handle.write(json.dumps(item, separators=(",", ":")) + "\n")
        handle.flush()  # in the operating system's hands: survives this process dying
        self._lines += 1
        if self._lines > 2 * self.keep:
            self._compact()

    def _compact(self) -> None:
        self.close()
        self.keys = self.keys[-self.keep :]
        self.reports = self.reports[-self.keep :]
        if self.path is None:
            return
        temp = self.path.with_suffix(".tmp")
        temp.parent.mkdir(parents=True, exist_ok=True)
        lines = [json.dumps({"k": k}) for k in self.keys] + [json.dumps({"e": e}) for e in self.reports]
        temp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        os.replace(temp, self.path)
        self._lines = len(lines)


__all__ = ["Journal"]
