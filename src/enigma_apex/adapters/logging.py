"""structlog set-up: JSON lines to a size-rotated file in the data directory, readable console lines.

A redaction processor masks any field whose name looks like a credential, so a token or key that
reaches a log call by mistake is never written.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
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


def configure(
    log_dir: Path | None, *, level: str = "INFO", console: str = "pretty", max_mb: int = 20, backups: int = 10
) -> Path | None:
    """Configure logging once per process. Returns the log file path (None without a directory)."""
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
    root.setLevel(level)
    log_file: Path | None = None
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        log_file = log_dir / "enigma-apex.log"
        file_handler = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=max_mb * 1024 * 1024, backupCount=backups, encoding="utf-8", delay=True
        )
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
    logging.getLogger().setLevel(level)
