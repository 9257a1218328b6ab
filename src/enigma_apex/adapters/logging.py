"""structlog set-up: JSON lines to a rotated file in the data directory, readable console lines.

The file rotates when it reaches ``max_mb`` and at the first record of each new day (UTC); rotated files
beyond ``backups`` or older than ``max_age_days`` are deleted.

A redaction processor masks any field whose name looks like a credential, so a token or key that
reaches a log call by mistake is never written.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
import time
import traceback
from collections import deque
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import structlog

_SENSITIVE = re.compile(r"(token|secret|password|passwd|api_key|apikey|authorization|credential)", re.I)
_TOKEN_TEXT = re.compile(r"eat_[A-Za-z0-9_-]{20,}")


def redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if _SENSITIVE.search(key):
            event[key] = "********"
        elif isinstance(event[key], str):
            event[key] = _TOKEN_TEXT.sub("eat_********", event[key])
    return event


class SizeAndAgeRotatingHandler(logging.handlers.RotatingFileHandler):
    """Rotates on size and at the first record of a new UTC day; prunes rotated files by count and by age."""

    def __init__(self, path: Path, *, max_bytes: int, backups: int, max_age_days: int) -> None:
        super().__init__(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8", delay=True)
        self.path = path
        self.max_age_s = max_age_days * 86400
        self._day: str | None = None

    @staticmethod
    def _day_of(stamp: float) -> str:
        return time.strftime("%Y-%m-%d", time.gmtime(stamp))

    def shouldRollover(self, record: logging.LogRecord) -> int:  # noqa: N802 - the logging API's name
        day = self._day_of(record.created)
        if self._day is None:
            self._day = self._day_of(self.path.stat().st_mtime) if self.path.exists() else day
        if day != self._day and self.path.exists() and self.path.stat().st_size > 0:
            return 1
        self._day = day
        return super().shouldRollover(record)

    def doRollover(self) -> None:  # noqa: N802 - the logging API's name
        super().doRollover()
        self._day = self._day_of(time.time())
        prune(self.path, self.max_age_s)


class ErrorBuffer(logging.Handler):
    """Keeps every ERROR and CRITICAL record (event, fields, traceback) for the hub to write to the ``errors``
    table. Bounded: while the database is down the oldest are dropped past ``limit`` (they stay in the log file)."""

    def __init__(self, limit: int = 1000) -> None:
        super().__init__(logging.ERROR)
        self.pending: deque[dict[str, Any]] = deque(maxlen=limit)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields = dict(record.msg) if isinstance(record.msg, dict) else {"event": record.getMessage()}
            event = str(fields.pop("event", ""))[:200]
            for key in ("level", "timestamp", "logger", "_record", "_from_structlog"):
                fields.pop(key, None)
            if record.exc_info:
                fields["exception"] = "".join(traceback.format_exception(*record.exc_info))[-4000:]
            elif "exc_info" in fields:
                fields.pop("exc_info")
            context = {k: v if isinstance(v, int | float | bool) else str(v)[:2000] for k, v in fields.items()}
            self.pending.append(
                {
                    "created": record.created,
                    "level": record.levelname.lower(),
                    "logger": record.name[:128],
                    "event": event,
                    "context": context,
                }
            )
        except Exception:  # noqa: BLE001 - a logging handler must never raise
            self.handleError(record)

    def take(self) -> list[dict[str, Any]]:
        taken = []
        while self.pending:
            taken.append(self.pending.popleft())
        return taken


def prune(path: Path, max_age_s: float, now: float | None = None) -> list[Path]:
    """Delete rotated copies of ``path`` (``name.1``, ``name.2`` …) older than ``max_age_s``."""
    now = time.time() if now is None else now
    removed = []
    for old in path.parent.glob(path.name + ".*"):
        try:
            if now - old.stat().st_mtime > max_age_s:
                old.unlink()
                removed.append(old)
        except OSError:
            continue  # in use or gone: the next rotation tries again
    return removed


def configure(
    log_dir: Path | None,
    *,
    level: str = "INFO",
    console: str = "pretty",
    console_level: str | None = None,
    max_mb: int = 20,
    backups: int = 10,
    max_age_days: int = 30,
) -> Path | None:
    """Configure logging once per process. Returns the log file path (None without a directory).

    The file keeps ``level`` and above; the console shows ``console_level`` and above (default: ``level``), so a
    hub's console can carry its status lines and only the warnings and errors among them."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    shown = console_level or level
    root.setLevel(min(logging.getLevelName(level), logging.getLevelName(shown)))
    log_file: Path | None = None
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        log_file = log_dir / "enigma-apex.log"
        file_handler = SizeAndAgeRotatingHandler(
            log_file, max_bytes=max_mb * 1024 * 1024, backups=backups, max_age_days=max_age_days
        )
        prune(log_file, max_age_days * 86400)
        file_handler.setLevel(level)
        file_handler.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                processors=[
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer(),
                ],
                foreign_pre_chain=shared,
            )
        )
        root.addHandler(file_handler)
    if console != "off":
        renderer: Any = (
            structlog.processors.JSONRenderer()
            if console == "json"
            else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        )
        stream = logging.StreamHandler(sys.stderr)
        stream.setLevel(shown)
        stream.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
                foreign_pre_chain=shared,
            )
        )
        root.addHandler(stream)
    for noisy in ("uvicorn.access", "alembic", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    return log_file


def set_level(level: str) -> None:
    """The file's level, live (the console keeps its own): the root passes the lower of the two."""
    root = logging.getLogger()
    files = [h for h in root.handlers if isinstance(h, SizeAndAgeRotatingHandler)]
    for handler in files:
        handler.setLevel(level)
    levels = [logging.getLevelName(level)] + [h.level for h in root.handlers if h not in files and h.level]
    root.setLevel(min(levels))
