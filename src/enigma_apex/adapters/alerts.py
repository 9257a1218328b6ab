"""Alert channels through Apprise: each URL is its own channel, sent in its own worker with a time limit, so
a channel that hangs or fails never holds up the others (or trading)."""

from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass

import apprise

from enigma_apex.config.schema import redact_url as redact

_TYPES = {
    "info": apprise.NotifyType.INFO,
    "warning": apprise.NotifyType.WARNING,
    "critical": apprise.NotifyType.FAILURE,
}
_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="alerts")


@dataclass(frozen=True, slots=True)
class Delivery:
    channel: str  # the URL with any credentials removed
    ok: bool
    error: str = ""


def _send_one(url: str, title: str, body: str, severity: str) -> Delivery:
    notifier = apprise.Apprise()
    if not notifier.add(url):
        return Delivery(redact(url), False, "not a valid Apprise URL")
    for server in notifier:
        server.request_rate_per_sec = 0  # Apprise paces e-mail 5.5 s apart by default; we rate-limit ourselves
    ok = bool(notifier.notify(title=title, body=body, notify_type=_TYPES.get(severity, apprise.NotifyType.INFO)))
    return Delivery(redact(url), ok, "" if ok else "the channel refused or did not answer")


def send(urls: list[str], title: str, body: str, severity: str, timeout_s: float) -> list[Delivery]:
    futures = {_POOL.submit(_send_one, url, title, body, severity): url for url in urls}
    deliveries = []
    for future, url in futures.items():
        try:
            deliveries.append(future.result(timeout=timeout_s))
        except concurrent.futures.TimeoutError:
            deliveries.append(Delivery(redact(url), False, f"no answer within {timeout_s:g} s"))
        except Exception as exc:  # noqa: BLE001 - a broken plugin is one failed channel, never a crash
            deliveries.append(Delivery(redact(url), False, f"{type(exc).__name__}: {exc}"[:300]))
    return deliveries


__all__ = ["Delivery", "redact", "send"]
