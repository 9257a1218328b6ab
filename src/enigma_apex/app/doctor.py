"""`enigma-apex doctor`: checks a machine before trading, each with the fix when it fails.

Configuration valid, data folder and database writable, ports free, OCR engine present (when the reader is on),
NinjaTrader's ATI folders found (when an account uses ATI), Rithmic's gateway serving the configured system and
ProjectX accepting the API key (when accounts use them; skipped without a network), time zone data present, and
the clock's skew against an HTTP server's ``Date`` header (skipped without a network).
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import shutil
import socket
import tempfile
import threading
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from enigma_apex.config.models import Settings

MAX_SKEW_S = 2.0


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str
    fix: str = ""


def _port(host: str, port: int, what: str) -> Check:
    if port == 0:
        return Check(f"port {what}", "ok", "any free port (0)")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        if os.name != "nt":  # as the hub's servers bind: a port whose last connections linger in TIME_WAIT is free
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # (Windows: the option would take a port
            # another program listens on; there a lingering connection does not block a bind anyway)
        try:
            sock.bind((host, port))
            sock.listen(1)  # something already listening fails here even with address reuse
        except OSError as exc:
            return Check(
                f"port {what}", "fail", f"{host}:{port} is in use or not allowed ({exc.strerror})",
                f"stop what uses it (is the hub already running? `enigma-apex status`) or change [{what}] port",
            )  # fmt: skip
    return Check(f"port {what}", "ok", f"{host}:{port} is free")


def _writable(folder: Path) -> Check:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-", delete=True) as handle:
            handle.write(b"ok")
            handle.flush()
    except OSError as exc:
        return Check("data folder", "fail", f"{folder} is not writable ({exc.strerror})",
                     "give this user write access, free disk space, or set hub.data_dir")  # fmt: skip
    free_mb = shutil.disk_usage(folder).free // (1024 * 1024)
    if free_mb < 200:
        return Check("data folder", "warn", f"{folder}: only {free_mb} MB free", "free disk space (backups grow)")
    return Check("data folder", "ok", f"{folder} is writable, {free_mb:,} MB free")


def _zones() -> Check:
    try:
        for name in ("America/New_York", "America/Chicago", "UTC"):
            ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        return Check("time zones", "fail", f"time zone data is missing ({exc})", "pip install tzdata")
    return Check("time zones", "ok", "America/New_York, America/Chicago and UTC load")


def clock_skew(url: str = "https://www.cloudflare.com", timeout_s: float = 3.0) -> Check:
    try:
        request = urllib.request.Request(url, method="HEAD")  # noqa: S310 - a fixed https URL
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            stamp = response.headers.get("Date")
    except OSError:
        return Check("clock", "warn", "not checked: no network", "keep the system clock synchronised (NTP)")
    if not stamp:
        return Check("clock", "warn", "not checked: the server sent no Date", "keep the clock synchronised (NTP)")
    skew = abs((datetime.now(UTC) - email.utils.parsedate_to_datetime(stamp)).total_seconds())
    if skew > MAX_SKEW_S:
        return Check("clock", "fail", f"the clock is {skew:.1f} s off", "turn on time synchronisation (NTP)")
    return Check("clock", "ok", f"within {skew:.1f} s of {url}")


def _ocr(settings: Settings) -> Check:
    if not settings.ocr.enabled:
        return Check("OCR engine", "ok", "the screen reader is off")
    if settings.ocr.engine == "tesseract":
        found = settings.ocr.tesseract_cmd or shutil.which("tesseract")
        if not found:
            return Check("OCR engine", "fail", "tesseract is not installed", "install Tesseract, or use rapidocr")
        return Check("OCR engine", "ok", f"tesseract at {found}")
    try:
        import rapidocr  # noqa: F401
    except ImportError:
        return Check("OCR engine", "fail", "rapidocr is not installed", "pip install rapidocr onnxruntime")
    return Check("OCR engine", "ok", "rapidocr (models in the wheel)")


def _ati(settings: Settings) -> Check:
    if not any(a.executor == settings.ati.name for a in settings.accounts):
        return Check("NinjaTrader ATI", "ok", "no account uses ATI files")
    folder = settings.ati.folder or Path.home() / "Documents" / "NinjaTrader 8"
    missing = [name for name in ("incoming", "outgoing") if not (folder / name).is_dir()]
    if missing:
        fix = "enable Tools > Options > Automated Trading Interface in NinjaTrader, or set ati.folder"
        return Check("NinjaTrader ATI", "fail", f"{folder} has no {' or '.join(missing)} folder", fix)
    return Check("NinjaTrader ATI", "ok", f"{folder}/incoming and outgoing found")


def _rithmic(settings: Settings, network: bool) -> Check:
    """The gateway answers ``RequestRithmicSystemInfo`` and lists the configured system (no login)."""
    cfg = settings.rithmic
    if not any(a.executor == cfg.name for a in settings.accounts):
        return Check("Rithmic", "ok", "no account uses Rithmic")
    missing = cfg.missing()
    if missing:
        return Check("Rithmic", "fail", "the login is not configured", missing)
    if not network:
        return Check("Rithmic", "warn", f"{cfg.gateway_url} not checked (no network)")
    from enigma_apex.adapters.brokers.rithmic import system_names

    try:
        names = _in_thread(system_names(cfg.gateway_url, cfg.ca_file, 10.0))
    except Exception as exc:  # noqa: BLE001 - every failure is the check's answer
        return Check("Rithmic", "fail", f"{cfg.gateway_url} does not answer ({type(exc).__name__}: {exc})",
                     "check rithmic.gateway_url (and rithmic.ca_file) against what the firm gives you")  # fmt: skip
    if cfg.system_name not in names:
        return Check("Rithmic", "fail", f"{cfg.gateway_url} does not serve {cfg.system_name!r}",
                     f"set rithmic.system_name to one of: {', '.join(names)}")  # fmt: skip
    return Check("Rithmic", "ok", f"{cfg.gateway_url} serves {cfg.system_name!r}")


def _projectx(settings: Settings, network: bool) -> Check:
    """The gateway accepts the user name and API key (``/api/Auth/loginKey``)."""
    cfg = settings.projectx
    if not any(a.executor == cfg.name for a in settings.accounts):
        return Check("ProjectX", "ok", "no account uses ProjectX")
    if not cfg.username or cfg.api_key is None:
        return Check("ProjectX", "fail", "the login is not configured",
                     "set projectx.username and `enigma-apex secret set projectx.api_key`")  # fmt: skip
    if not network:
        return Check("ProjectX", "warn", f"{cfg.api_url} not checked (no network)")
    import httpx

    body = {"userName": cfg.username, "apiKey": cfg.api_key.get_secret_value()}
    try:
        answer = httpx.post(cfg.api_url.rstrip("/") + "/api/Auth/loginKey", json=body, timeout=10.0).json()
    except (httpx.HTTPError, ValueError) as exc:
        return Check("ProjectX", "fail", f"{cfg.api_url} does not answer ({type(exc).__name__})",
                     "check projectx.api_url against what the firm gives you")  # fmt: skip
    if not isinstance(answer, dict) or not answer.get("success") or not answer.get("token"):
        reason = answer.get("errorMessage") if isinstance(answer, dict) else None
        return Check("ProjectX", "fail", f"{cfg.api_url} refused the login: {reason or 'no token'}",
                     "check projectx.username and the API key")  # fmt: skip
    return Check("ProjectX", "ok", f"{cfg.api_url} accepts {cfg.username}'s API key")


def _in_thread(coroutine: Any) -> Any:
    """Run a coroutine to its end from synchronous code, whether or not a loop runs in this thread."""
    result: list[Any] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coroutine))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


def offsite(state: dict[str, Any]) -> Check:
    """The off-site backups (``offsite.status``): none configured is a warning, so is a stale one."""
    if state["offsite"] is None:
        return Check("off-site backup", "warn", "none configured: every backup is on this machine's disk",
                     "set backup.offsite and backup.key (docs/operations.md, Off-site backups)")  # fmt: skip
    if state["age_h"] is None:
        fix = "start the hub (its daily job stores one at once) or run `enigma-apex db backup --to`"
        return Check("off-site backup", "warn", f"{state['offsite']}: none stored yet", fix)
    detail = f"{state['offsite']}: the newest is {state['age_h']} h old"
    if state["stale"]:
        return Check("off-site backup", "warn", detail, "check the alerts (backup.stale) and the daily job's log")
    return Check("off-site backup", "ok", detail)


def run(settings: Settings, *, network: bool = True, ports: bool = True) -> list[Check]:
    """``ports``: check that the hub's ports are free (not while a hub runs: they are its own)."""
    checks = [_writable(settings.hub.data_dir), _zones()]
    if ports:
        checks.append(_port(settings.http.host, settings.http.port, "http"))
        checks.append(_port(settings.gateway.host, settings.gateway.port, "gateway"))
        if settings.dashboard.enabled:
            checks.append(_port(settings.dashboard.host, settings.dashboard.port, "dashboard"))
    checks += [_ocr(settings), _ati(settings), _rithmic(settings, network), _projectx(settings, network)]
    if network:
        checks.append(clock_skew())
    return checks


__all__ = ["Check", "clock_skew", "offsite", "run"]
