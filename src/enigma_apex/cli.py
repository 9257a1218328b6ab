"""The `enigma-apex` command line (Typer). Every command has --help.

Exit codes: 0 success, 1 failure, 2 invalid configuration or usage.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from enigma_apex import __version__
from enigma_apex.errors import ConfigError, EnigmaError

app = typer.Typer(
    name="enigma-apex",
    help="Risk, compliance and execution hub for prop-firm futures accounts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Check, show and reload the configuration.", no_args_is_help=True)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
token_app = typer.Typer(help="Client tokens (stored only as hashes).", no_args_is_help=True)
secret_app = typer.Typer(help="Secrets in the OS keyring.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks that print measured figures.", no_args_is_help=True)
account_app = typer.Typer(help="Accounts and their distance to ruin.", no_args_is_help=True)
protocol_app = typer.Typer(help="The WebSocket protocol.", no_args_is_help=True)
ocr_app = typer.Typer(help="The AlgoBox Enigma screen reader.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")
app.add_typer(secret_app, name="secret")
app.add_typer(bench_app, name="bench")
app.add_typer(account_app, name="account")
app.add_typer(protocol_app, name="protocol")
app.add_typer(ocr_app, name="ocr")


@bench_app.callback()
def _bench_quiet() -> None:
    """Benchmarks log only errors, to stderr: stdout carries the figures (and stays valid JSON with --json)."""
    from enigma_apex.adapters import logging as bench_logs

    bench_logs.configure(None, level="ERROR")


_PLAIN = str.maketrans({"─": "-", "–": "-", "—": "-", "…": "...", "±": "+/-", "→": "->", "×": "x"})


def _echo(line: str = "") -> None:
    """A line to stdout; where stdout cannot take a character (a Windows console or a file in cp1252), its plain
    equivalent (a table's rule as -, an en dash as -) instead of a crash."""
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    try:
        line.encode(encoding)
    except UnicodeEncodeError:
        line = line.translate(_PLAIN).encode(encoding, errors="replace").decode(encoding)
    except LookupError:
        pass
    typer.echo(line)


def _money(value: Any) -> str:
    """Money as the dashboard says it ($2,000.00, -$12.50; "–" for none): ``dashboard/words.py``."""
    from enigma_apex.dashboard.words import money

    return money(value)


def _tz(settings: Any | None) -> Any:
    """The user's time zone (``hub.display_timezone``; New York without a configuration)."""
    from enigma_apex.dashboard.words import zone

    return zone(None if settings is None else settings.hub.display_timezone)


def _stamp(value: Any, tz: Any) -> str:
    """A time in the user's zone with its date: "2026-12-01 09:03:07 EST" (``dashboard/words.py``)."""
    from enigma_apex.dashboard.words import stamp

    return stamp(value, tz)


def _print_table(
    columns: list[str],
    rows: list[list[str]],
    *,
    right: set[int] | None = None,
    wrap: set[int] | None = None,
    header: bool = True,
) -> None:
    """Rows as a Rich table whose columns fit their longest value (account names like 50KTC-V2-218761-41 stay on
    one line, also when the output goes to a file or a pipe); the ``wrap`` columns (sentences) wrap instead when
    the terminal is too narrow, so nothing is cut."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD if header else None, show_edge=False, pad_edge=False, show_header=header)
    for i, name in enumerate(columns):
        sentence = wrap is not None and i in wrap
        table.add_column(
            name, no_wrap=not sentence, overflow="fold" if sentence else "ellipsis",
            justify="right" if right and i in right else "left",
        )  # fmt: skip
    for row in rows:
        table.add_row(*row)
    import io
    import shutil

    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else 250
    console = Console(file=io.StringIO(), width=width, highlight=False)
    console.print(table)
    for line in console.file.getvalue().splitlines():  # type: ignore[attr-defined]
        _echo(line.rstrip())


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def _config_path(ctx: typer.Context) -> Path:
    from enigma_apex.config.loader import resolve_path

    return resolve_path(ctx.obj.get("config") if ctx.obj else None)


def _load(ctx: typer.Context, path: Path | None = None) -> Any:
    from enigma_apex.config import loader

    target = path or _config_path(ctx)
    try:
        return loader.load(target)
    except ConfigError as exc:
        _print_problems(exc)
        raise typer.Exit(2) from None


def _print_problems(exc: ConfigError) -> None:
    typer.echo(str(exc), err=True)
    if exc.problems != [str(exc)]:
        for problem in exc.problems:
            typer.echo(f"  - {problem}", err=True)


def _clock() -> Any:
    from enigma_apex.adapters.clock import SHIFT_ENV, SystemClock

    try:
        return SystemClock.from_environment()
    except ValueError as exc:
        raise _fail(f"{SHIFT_ENV}: {exc}", 2) from None


@app.callback()
def main_callback(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Configuration file (default: $ENIGMA_APEX_CONFIG or ./enigma-apex.toml)."),
    ] = None,
) -> None:
    """Enigma-Apex hub."""
    ctx.obj = {"config": config}
    from enigma_apex.adapters import logging as logs
    from enigma_apex.app.executor_process import watch_parent

    # Warnings and errors to stderr, so that stdout carries only the command's output (valid JSON with --json);
    # `up`, `demo` and the executors set their own logging when they start.
    logs.configure(None, level="WARNING")

    watch_parent()  # a child of `up` (paper broker, dashboard …) leaves with its hub


# ---------------------------------------------------------------------------- version / init / up
@app.command()
def version(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Print the version."""
    _echo(json.dumps({"version": __version__}) if as_json else f"enigma-apex {__version__}")


@app.command()
def init(
    ctx: typer.Context,
    directory: Annotated[
        Path | None,
        typer.Argument(help="Folder for enigma-apex.toml and data/ (default: the folder of --config)."),
    ] = None,
    exist_ok: Annotated[
        bool, typer.Option("--exist-ok", help="Do nothing but migrate when a configuration exists.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing configuration file.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (the tokens are in it, once).")] = False,
) -> None:
    """Write a fully commented default configuration, create the database and the first client tokens."""
    from enigma_apex.adapters.store import tokens
    from enigma_apex.config import loader
    from enigma_apex.config.models import Settings
    from enigma_apex.config.render import render

    path = directory / loader.DEFAULT_FILE if directory is not None else _config_path(ctx)
    clock = _clock()
    if path.exists() and not force:
        if not exist_ok:
            raise _fail(f"{path} exists; use --force to overwrite it or --exist-ok to keep it", 1)
        loaded = _load(ctx, path)
        running = _running_hub(loaded.settings)
        if running is not None:  # its database is migrated and in use: nothing to do, nothing touched
            held = running.describe(_tz(loaded.settings))
            said = f"{path} exists; a hub is running on it ({held}), its database is ready"
            _echo(json.dumps({"config": str(path), "created": False, "note": said}) if as_json else said)
            return
        store, note = _open_for(loaded.settings, clock, "init")
        store.close()
        said = f"{path} exists; database ready{' (' + note + ')' if note else ''}"
        _echo(json.dumps({"config": str(path), "created": False, "note": said}) if as_json else said)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(Settings(), annotate=True), encoding="utf-8")
    loaded = _load(ctx, path)
    settings = loaded.settings
    settings.hub.data_dir.mkdir(parents=True, exist_ok=True)
    store, _ = _open_for(settings, clock, "init")
    try:
        with store.engine.connect() as conn:
            existing = [t for t in tokens.list_tokens(conn) if t.active(clock.now())]
        created: list[tuple[str, str, str]] = []
        if not existing:
            for name, role in (("local-admin", "admin"), ("dashboard", "dashboard")):

                def make(ctx: Any, n: str = name, r: str = role) -> tuple[str, tokens.TokenRecord]:
                    return tokens.create_token(ctx, name=n, role=r, is_default=True)  # live mode wants them revoked

                plain, record = store.writer.write(make)
                created.append((record.name, record.role, plain))
    finally:
        store.close()
    from sqlalchemy.engine import make_url

    database = (
        make_url(settings.database_url).render_as_string(hide_password=True)
        if settings.database.url
        else str(settings.hub.data_dir / "enigma-apex.db")
    )
    if as_json:
        made = [{"name": name, "role": role, "token": plain} for name, role, plain in created]
        body = {"config": str(path), "created": True, "data_dir": str(settings.hub.data_dir), "database": database}
        _echo(json.dumps({**body, "tokens": made}, indent=2))
        return
    _echo(f"wrote {path}")
    _echo(f"data directory {settings.hub.data_dir}")
    _echo(f"database {database}")
    if created:
        _echo("client tokens (shown only now; only their hashes are stored):")
        _print_table(["name", "role", "token"], [[name, role, plain] for name, role, plain in created])


@app.command()
def doctor(
    ctx: typer.Context,
    offline: Annotated[bool, typer.Option("--offline", help="Skip the clock check (it needs the network).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check this machine before trading: configuration, database, ports, OCR, NinjaTrader folders, clock."""
    from enigma_apex import bootstrap
    from enigma_apex.adapters.instance import FolderBusyError, holder
    from enigma_apex.app import doctor as checks
    from enigma_apex.app.preflight import startup_problems

    loaded = _load(ctx)  # an invalid configuration stops here, with every problem listed
    busy = holder(loaded.settings.hub.data_dir)
    results = checks.run(loaded.settings, network=not offline, ports=busy is None)
    if busy is not None:  # the database belongs to that process: only read it
        held = busy.describe(_tz(loaded.settings))
        results.insert(0, checks.Check("database", "ok", f"in use by {held} (ports not checked)"))
    else:
        try:
            store, _ = bootstrap.open_store(loaded.settings, _clock(), lock="enigma-apex doctor")
            store.close()
            results.insert(0, checks.Check("database", "ok", "opens, migrations applied"))
        except (EnigmaError, FolderBusyError) as exc:
            results.insert(0, checks.Check("database", "fail", str(exc), "see docs/operations.md, Database"))
    results.append(checks.offsite(_offsite_state(loaded.settings)))
    for problem in startup_problems(loaded.settings, loaded.path.parent, _executor_tokens(loaded.settings)):
        results.insert(0, checks.Check("configuration", "fail", problem, "fix the configuration"))
    results.insert(0, checks.Check("configuration", "ok", f"{loaded.path} is valid"))
    if as_json:
        _echo(json.dumps([{"check": c.name, "status": c.status, "detail": c.detail, "fix": c.fix or None}
                          for c in results], indent=2))  # fmt: skip
    else:
        _print_table(
            ["", "check", "detail", "fix"],
            [[c.status.upper(), c.name, c.detail, c.fix if c.fix and c.status != "ok" else ""] for c in results],
            wrap={2, 3},
        )
    if any(c.status == "fail" for c in results):
        raise typer.Exit(1)


@app.command()
def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    token: Annotated[str, typer.Option(envvar="ENIGMA_APEX_TOKEN", help="Any token: adds components.")] = "",
    url: Annotated[str | None, typer.Option(help="The hub's HTTP address (default: from the configuration).")] = None,
) -> None:
    """Is the hub up? Its health, and with a token each component, client and account."""
    import httpx

    settings = _load(ctx).settings
    base = _hub_base(settings, url)
    report: dict[str, Any] = {"url": base}
    host = httpx.URL(base).host
    local = host in ("localhost", "::1") or host.startswith("127.")  # a certificate names the LAN address
    try:
        with httpx.Client(base_url=base, timeout=3.0, verify=not local) as http:
            report["health"] = http.get("/health").json()
            if token:
                headers = {"Authorization": f"Bearer {token}"}
                report["components"] = http.get("/api/v1/health/components", headers=headers).json()
                report["accounts"] = http.get("/api/v1/accounts", headers=headers).json().get("accounts")
    except (httpx.HTTPError, ValueError):
        report["health"] = None
    if as_json:
        _echo(json.dumps(report, indent=2, default=str))
    elif report["health"] is None:
        _echo(f"the hub is not running at {base} (start it with `enigma-apex up`)")
    else:
        health = report["health"]
        _echo(f"hub {health['status'].upper()} at {base}, {health['mode']} mode, up {_uptime(health['uptime_s'])}")
        components = (report.get("components") or {}).get("components", [])
        if components:
            rows = [[r["component"], r["status"].upper(), r["detail"]] for r in components]
            _print_table(["component", "state", "detail"], rows, wrap={2})
        accounts = report.get("accounts") or []
        if accounts:
            _print_table(
                ["account", "state", "to ruin", "day P&L", "positions"],
                [
                    [a["account"], a["state"], _money(a.get("distance")), _money(a.get("day_pnl")),
                     ", ".join(f"{sym} {qty:+d}" for sym, qty in (a.get("open_positions") or {}).items()) or "flat"]
                    for a in accounts
                ],
                right={2, 3},
            )  # fmt: skip
    if report["health"] is None:
        raise typer.Exit(1)


def _uptime(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours < 48 else f"{hours // 24} days {hours % 24} h"


@app.command()
def demo(
    directory: Annotated[Path, typer.Argument(help="Folder for the demo's configuration and data.")] = Path(
        "enigma-apex-demo"
    ),
    every_s: Annotated[float, typer.Option(min=2.0, help="Seconds between demo signals.")] = 15.0,
) -> None:
    """A paper hub with three paper accounts on different firm profiles and a simulated signal source."""
    from enigma_apex import bootstrap
    from enigma_apex.adapters.store import tokens
    from enigma_apex.app.demo import demo_settings, signal_source
    from enigma_apex.config import loader
    from enigma_apex.config.models import Settings
    from enigma_apex.config.render import render

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / loader.DEFAULT_FILE
    if not path.exists():
        path.write_text(render(Settings.model_validate(demo_settings()), annotate=True), encoding="utf-8")
    loaded = _load(None, path)  # type: ignore[arg-type]
    clock = _clock()
    store, _ = _open_for(loaded.settings, clock, "demo")
    try:
        source = store.writer.write(lambda c: tokens.create_token(c, name="demo-signals", role="signal"))[0]
        board = store.writer.write(lambda c: tokens.create_token(c, name="demo-dashboard", role="dashboard"))[0]
    finally:
        store.close()
    _echo(f"demo in {directory}: accounts {', '.join(a.name for a in loaded.settings.accounts)}")
    _echo(f"dashboard token (sign in with it): {board}")
    try:
        hub = bootstrap.build_hub(loaded, _echo, clock, what="enigma-apex demo")
    except EnigmaError as exc:
        raise _fail(f"cannot start: {exc}", 2) from None

    async def main() -> int:
        def base() -> str | None:
            return None if hub.http_port is None else f"http://127.0.0.1:{hub.http_port}"

        signals = asyncio.create_task(signal_source(base, source, every_s, say=_echo))
        try:
            return await hub.run()
        finally:
            signals.cancel()

    try:
        code = asyncio.run(main())
    finally:
        hub.service.store.close()
    raise typer.Exit(code)


@app.command()
def up(ctx: typer.Context) -> None:
    """Start the hub (paper mode by default) and run until Ctrl-C."""
    from enigma_apex import bootstrap
    from enigma_apex.adapters.store import tokens
    from enigma_apex.app.preflight import live_problems

    loaded = _load(ctx)
    clock = _clock()
    _echo(f"enigma-apex {__version__} starting ({loaded.settings.hub.mode} mode, config {loaded.path})")
    _refuse_problems(loaded, "to fix before the hub can start")
    try:
        hub = bootstrap.build_hub(loaded, _echo, clock)
    except (EnigmaError, OSError) as exc:
        raise _fail(f"cannot start: {exc}", 2) from None
    with hub.service.store.engine.connect() as conn:
        problems = live_problems(loaded.settings, tokens.list_tokens(conn), clock.now())
    if problems:
        hub.service.store.close()
        typer.echo("live mode refused:", err=True)
        for problem in problems:
            typer.echo(f"  - {problem}", err=True)
        raise typer.Exit(2)
    try:
        code = asyncio.run(hub.run())
    finally:
        hub.service.store.close()
    raise typer.Exit(code)


def _refuse_problems(loaded: Any, why: str) -> None:
    """What `up` needs and the configuration does not give (``app/preflight.py``): listed, exit 2."""
    from enigma_apex.app.preflight import startup_problems

    problems = startup_problems(loaded.settings, loaded.path.parent, _executor_tokens(loaded.settings))
    if problems:
        typer.echo(f"{loaded.path}: {len(problems)} problem(s){' ' + why if why else ''}:", err=True)
        for problem in problems:
            typer.echo(f"  - {problem}", err=True)
        raise typer.Exit(2)


# ---------------------------------------------------------------------------- config
@config_app.command("check")
def config_check(
    ctx: typer.Context,
    file: Annotated[Path | None, typer.Argument(help="File to check (default: the active configuration).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON when valid (problems go to stderr).")] = False,
) -> None:
    """Validate a configuration file and what it names (files, TLS pairs, executors): exit 0 when `up` can start
    on it, 2 with every problem listed when not."""
    from enigma_apex.app.preflight import platform_warnings

    loaded = _load(ctx, file)
    _refuse_problems(loaded, "")
    warnings = platform_warnings(loaded.settings)
    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)
    settings = loaded.settings
    if as_json:
        _echo(json.dumps({"config": str(loaded.path), "ok": True, "accounts": len(settings.accounts),
                          "mode": settings.hub.mode, "warnings": list(warnings)}))  # fmt: skip
        return
    _echo(f"{loaded.path}: ok ({len(settings.accounts)} account(s), mode {settings.hub.mode})")


@config_app.command("show")
def config_show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of TOML.")] = False,
) -> None:
    """Print the effective configuration (file + environment + keyring), secrets masked."""
    from enigma_apex.config.render import render
    from enigma_apex.config.schema import plain

    settings = _load(ctx).settings
    if as_json:
        _echo(json.dumps(plain(settings), indent=2, default=str))
    else:
        _echo(render(settings, annotate=False).rstrip())


@config_app.command("reload")
def config_reload(
    ctx: typer.Context,
    token: Annotated[str, typer.Option(envvar="ENIGMA_APEX_TOKEN", help="An admin or dashboard token.")] = "",
    url: Annotated[str | None, typer.Option(help="Hub base URL (default: from the configuration).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Ask the running hub to re-read its configuration now."""
    settings = _load(ctx).settings
    body = _hub_call(settings, "/api/v1/config/reload", token, url=url)
    if as_json:
        _echo(json.dumps(body, indent=2, default=str))
        return
    for change in body["applied"]:
        _echo(f"applied  {change['key']}: {change['old']!r} -> {change['new']!r}")
    for change in body["refused"]:
        _echo(f"refused  {change['key']}: needs a restart (running value {change['old']!r})")
    if not body["applied"] and not body["refused"]:
        _echo("no change")


# ---------------------------------------------------------------------------- db
@contextlib.contextmanager
def _database(ctx: typer.Context, *, upgrade: bool) -> Iterator[tuple[Any, str | None]]:
    """The configured store, closed after use. ``upgrade``: migrated, its writer running, the data folder held
    (refused while a hub runs: the hub is the one writer); else opened to read only."""
    if upgrade:
        settings = _load(ctx).settings
        running = _running_hub(settings)
        if running is not None:
            raise _fail(f"a hub is running on this data folder ({running.describe(_tz(settings))}): stop it first", 1)
        store, note = _open_for(settings, _clock(), "db")
    else:
        store, note = _reading(_load(ctx).settings), None
    try:
        yield store, note
    finally:
        store.close()


@db_app.command("upgrade")
def db_upgrade(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
) -> None:
    """Migrate the database to the latest schema (a backup is taken first; the hub must be stopped)."""
    with _database(ctx, upgrade=True) as (_, note):
        said = note or "database already at the latest schema"
        _echo(json.dumps({"upgraded": note is not None, "note": said}) if as_json else said)


def _audit_key(settings: Any) -> bytes | None:
    key: bytes | None = settings.database.audit_key_bytes
    return key


@db_app.command("verify")
def db_verify(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Check the audit chain and its anchor, every sealed row (orders, fills, account state, state changes,
    tokens), foreign keys and integrity; exit 1 naming the first row at fault. Safe while the hub runs."""
    from enigma_apex.adapters.store import integrity, maintenance

    settings = _load(ctx).settings
    with _database(ctx, upgrade=False) as (store, _):
        report = maintenance.verify(store.engine, _audit_key(settings), integrity.anchor_path(settings.hub.data_dir))
    if as_json:
        _echo(json.dumps({"ok": report.ok, "revision": report.revision, "latest": report.head,
                          "audit_rows": report.audit.rows, "problems": report.problems}, indent=2))  # fmt: skip
        raise typer.Exit(0 if report.ok else 1)
    for line in report.lines():
        _echo(line)
    if not report.ok:
        raise typer.Exit(1)
    _echo("ok")


@db_app.command("accept")
def db_accept(
    ctx: typer.Context,
    reason: Annotated[str, typer.Option(help="Why the database is accepted as it is (recorded).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Record the database as it is now after `db verify` found problems you have checked (a restored backup, a
    replaced file): the problems go into the audit log, the rows are sealed afresh and the anchor moves. The hub
    must be stopped."""
    from enigma_apex.adapters.store import audit, integrity, maintenance
    from enigma_apex.adapters.store.store import Store

    settings = _load(ctx).settings
    running = _running_hub(settings)
    if running is not None:
        raise _fail(f"a hub is running on this data folder ({running.describe(_tz(settings))}): stop it first", 1)
    from enigma_apex.adapters.instance import FolderBusyError, InstanceLock

    try:
        lock = InstanceLock(settings.hub.data_dir).acquire("enigma-apex db accept")
    except FolderBusyError as exc:
        raise _fail(str(exc), 1) from None
    store = Store.open(settings, _clock())
    store.instance_lock = lock
    try:
        key, anchor = _audit_key(settings), integrity.anchor_path(settings.hub.data_dir)
        report = maintenance.verify(store.engine, key, anchor)
        if report.ok:
            said = "db verify finds nothing to accept"
            _echo(json.dumps({"accepted": False, "note": said}) if as_json else said)
            return
        with store.engine.connect() as conn:
            breaks, first = audit.chain_breaks(conn, key)
        if first and "give database.audit_key" in first:
            raise _fail(first, 1)
        anchor.unlink(missing_ok=True)  # re-written from the accepted head when the writer starts
        payload = {"reason": reason, "problems": report.problems[:200], "breaks": breaks}

        def accept(ctx: Any) -> None:
            ctx.audit(audit.ACCEPTED, payload, actor="cli")
            for part in integrity.baseline_payloads(ctx.conn):
                ctx.audit(integrity.BASELINE, part, actor="cli")

        store.start()
        store.writer.write(accept)
    finally:
        store.close()
    if as_json:
        _echo(json.dumps({"accepted": True, "problems": report.problems, "chain_breaks": len(breaks)}))
        return
    _echo(f"accepted: {len(report.problems)} problem(s) recorded, {len(breaks)} chain break(s); rows sealed afresh")
    for problem in report.problems[:20]:
        _echo(f"  - {problem}")


@db_app.command("backup")
def db_backup(
    ctx: typer.Context,
    file: Annotated[Path | None, typer.Argument(help="Where to write the backup (a file on this machine).")] = None,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="A target instead: a folder, file:///folder or s3://bucket/prefix (encrypted with "
            "backup.key, kept with a manifest, pruned by backup.keep_daily / keep_weekly).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Write a consistent backup while the hub runs (SQLite online backup, or pg_dump): to FILE, or to a target
    (--to) off this machine."""
    from enigma_apex.adapters.store import maintenance

    if (file is None) == (to is None):
        raise _fail("give either FILE or --to URL", 2)
    if to is not None:
        _backup_to(ctx, to, as_json)
        return
    assert file is not None  # noqa: S101 - checked just above
    with _database(ctx, upgrade=False) as (store, _):
        try:
            path = maintenance.backup(store.engine, file)
        except EnigmaError as exc:
            raise _fail(str(exc)) from None
    size = path.stat().st_size
    _echo(json.dumps({"path": str(path), "size": size}) if as_json else f"backup written to {path} ({size:,} bytes)")


def _target(settings: Any, url: str, *, need_key: bool = True) -> tuple[Any, bytes | None]:
    """The target a URL names and the key its backups are encrypted with (refused: an unusable key, or no key
    while ``backup.encrypt`` asks for one)."""
    from enigma_apex.adapters.backup import crypto, targets

    try:
        target = targets.open_target(url, targets.access_of(settings.backup))
        key = crypto.key_of(settings.backup)
    except EnigmaError as exc:
        raise _fail(str(exc), 2) from None
    if key is None and settings.backup.encrypt and need_key:
        raise _fail(
            "backup.key is not set: make one with `enigma-apex db backup-key`, store it with `enigma-apex secret set "
            "backup.key` and keep a copy away from this machine (or set backup.encrypt = false to store in clear)",
            2,
        )
    return target, key


def _backup_to(ctx: typer.Context, url: str, as_json: bool = False) -> None:
    from enigma_apex.adapters.backup import offsite

    settings = _load(ctx).settings
    target, key = _target(settings, url)
    with _database(ctx, upgrade=False) as (store, _):
        try:
            manifest = offsite.push(store.engine, target, key, _clock().now(), label="manual")
            removed = offsite.prune(target, settings.backup.keep_daily, settings.backup.keep_weekly)
        except EnigmaError as exc:
            raise _fail(f"backup failed: {exc}") from None
    if as_json:
        body = {"target": target.url, "name": manifest.name, "size": manifest.size, "key": manifest.key}
        _echo(json.dumps({**body, "audit_rows": manifest.audit_rows, "removed": list(removed)}))
        return
    how = "in clear" if manifest.key is None else f"encrypted, key {manifest.key}"
    _echo(f"backup {manifest.name} written to {target.url} ({manifest.size:,} bytes, {how}; "
          f"{manifest.audit_rows:,} audit rows)")  # fmt: skip
    if removed:
        _echo(f"retention removed {len(removed)}: {', '.join(removed)}")


@db_app.command("backup-key")
def db_backup_key(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Print a new key for backup.key (64 hex digits). Store it with `enigma-apex secret set backup.key` and keep a
    copy away from this machine: without it no encrypted backup can be restored."""
    from enigma_apex.adapters.backup import crypto

    key = crypto.new_key()
    _echo(json.dumps({"key": key}) if as_json else key)


@db_app.command("backups")
def db_backups(
    ctx: typer.Context,
    to: Annotated[str | None, typer.Option("--to", help="The target to list (default: backup.offsite).")] = None,
    verify: Annotated[bool, typer.Option(help="Download, decrypt and check each complete off-site backup.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The backups that exist: this machine's backups folder, and the off-site target with each backup's size,
    time and state (complete, incomplete; with --verify: verified, or what is wrong)."""
    import tempfile

    from enigma_apex.adapters.backup import offsite

    settings = _load(ctx).settings
    folder = settings.hub.data_dir / "backups"
    local = [
        {"name": p.name, "size": p.stat().st_size, "created": _mtime(p), "where": str(folder)}
        for p in sorted(folder.glob("*")) if p.is_file()
    ]  # fmt: skip
    url = to or settings.backup.offsite
    report: dict[str, Any] = {"local": local, "offsite": None}
    if url:
        target, key = _target(settings, url, need_key=verify)  # a listing reads only the manifests
        try:
            listed = offsite.listing(target)
        except EnigmaError as exc:
            raise _fail(f"cannot list {target.url}: {exc}") from None
        rows = []
        for b in listed:
            row = b.to_json()
            if verify and b.state == "complete":
                with tempfile.TemporaryDirectory(prefix="enigma-apex-verify-") as work:
                    problems = _check_backup(target, b.name, key, Path(work), _audit_key(settings))
                row["state"] = "verified" if not problems else "failed"
                row["problems"] = problems
            rows.append(row)
        report["offsite"] = {"target": target.url, "backups": rows}
    if as_json:
        _echo(json.dumps(report, indent=2))
        return
    from enigma_apex.dashboard.words import data_size

    tz = _tz(settings)
    _echo(f"local ({folder}): {len(local)}")
    if local:
        _print_table(
            ["name", "size", "taken"], [[r["name"], data_size(r["size"]), _stamp(r["created"], tz)] for r in local],
            right={1},
        )  # fmt: skip
    if report["offsite"] is None:
        _echo("off-site: none configured (backup.offsite, or --to)")
        return
    _echo(f"off-site ({report['offsite']['target']}): {len(report['offsite']['backups'])}")
    if report["offsite"]["backups"]:
        _print_table(
            ["name", "size", "taken", "state", "stored", "problems"],
            [[r["name"], data_size(r["size"]), _stamp(r["created"], tz), r["state"],
              "encrypted" if r["encrypted"] else "in clear", "; ".join(r.get("problems", []))]
             for r in report["offsite"]["backups"]],
            right={1}, wrap={5},
        )  # fmt: skip


def _offsite_state(settings: Any) -> dict[str, Any]:
    """The off-site backups' state, read from the audit log (safe beside a running hub)."""
    from enigma_apex.adapters.backup import offsite
    from enigma_apex.adapters.store import repository
    from enigma_apex.adapters.store.store import Store

    cfg = settings.backup
    last = None
    if cfg.offsite:
        store = Store.open(settings, _clock())
        try:
            with store.engine.connect() as conn:
                found = repository.last_offsite_backup(conn)
            last = None if found is None else found[0]
        except Exception:  # noqa: BLE001 - no database yet (a fresh machine): none stored
            last = None
        finally:
            store.close()
    return offsite.status(cfg.offsite, last, _clock().now(), cfg.max_age_h)


def _mtime(path: Path) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")


def _check_backup(target: Any, name: str, key: bytes | None, work: Path, audit_key: bytes | None) -> list[str]:
    from enigma_apex.adapters.backup import offsite

    try:
        manifest, plain = offsite.fetch(target, name, key, work)
    except EnigmaError as exc:
        return [str(exc)]
    if manifest.kind != "sqlite":
        return []  # a pg_dump archive is checked when it is restored (pg_restore reads it then)
    return offsite.check_copy(plain, audit_key)


@db_app.command("restore")
def db_restore(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="The backup: s3://bucket/prefix/NAME, or a folder's path/NAME.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask before replacing the database.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (needs --yes: nothing is asked).")] = False,
) -> None:
    """Replace the database with a backup (the hub must be stopped): downloaded, checked against its manifest,
    decrypted, its audit chain, seals and schema verified first; the database it replaces is kept aside."""
    import tempfile

    from enigma_apex.adapters.backup import offsite, targets
    from enigma_apex.adapters.store import integrity
    from enigma_apex.adapters.store.engine import sqlite_path

    if as_json and not yes:
        raise _fail("--json needs --yes (a script cannot answer the question)", 2)
    settings = _load(ctx).settings
    running = _running_hub(settings)
    if running is not None:
        raise _fail(
            f"a hub is running on this data folder ({running.describe(_tz(settings))}): stop it before restoring", 1
        )
    where, name = targets.split_backup_url(url)
    if not where or not offsite.NAME.match(name):
        raise _fail(f"{url!r} does not name a backup (…/enigma-apex-<time>-<label>.db[.eab])", 2)
    target, key = _target(settings, where, need_key=False)  # a backup stored in clear needs none
    database = sqlite_path(settings.database_url)
    audit_key = _audit_key(settings)
    settings.hub.data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="enigma-apex-restore-", dir=settings.hub.data_dir) as work:
        try:
            manifest, plain = offsite.fetch(target, name, key, Path(work))
        except EnigmaError as exc:
            raise _fail(f"restore refused: {exc}") from None
        if manifest.kind == "sqlite" and database is None:
            raise _fail("restore refused: this is a SQLite backup and the database is PostgreSQL", 2)
        if manifest.kind == "postgres" and database is not None:
            raise _fail("restore refused: this is a PostgreSQL backup and the database is SQLite", 2)
        if database is not None:
            problems = offsite.check_copy(plain, audit_key)
            if problems:
                raise _fail("restore refused, the backup does not verify:\n" + "\n".join(f"  - {p}" for p in problems))
        if not yes:
            typer.confirm(f"replace the database with {name} ({_stamp(manifest.created, _tz(settings))}, "
                          f"{manifest.audit_rows:,} audit rows)?", abort=True)  # fmt: skip
        if database is not None:
            anchor = integrity.anchor_path(settings.hub.data_dir)
            kept = offsite.restore_sqlite(plain, database, anchor, audit_key, _clock().now())
        else:
            kept = [_restore_postgres(settings, plain)]
    store, note = _open_for(settings, _clock(), "db restore")  # migrated when the backup is older; the writer runs
    try:
        detail = {"from": f"{target.url}/{name}", "created": manifest.created, "kept": [str(p) for p in kept]}
        store.writer.write(lambda c: c.audit("db.restored", detail, actor="cli"))
    finally:
        store.close()
    if as_json:
        _echo(json.dumps({"restored": f"{target.url}/{name}", "created": manifest.created,
                          "kept": [str(p) for p in kept], "note": note}))  # fmt: skip
        return
    aside = ", ".join(str(p) for p in kept) or "none"
    _echo(f"restored {name} ({_stamp(manifest.created, _tz(settings))}); the replaced files are kept: {aside}")
    if note:
        _echo(note)


def _restore_postgres(settings: Any, dump: Path) -> Path:
    """The live PostgreSQL database dumped aside first, then the backup restored over it (pg_restore --clean)."""
    from enigma_apex.adapters.store import maintenance
    from enigma_apex.adapters.store.store import Store

    store = Store.open(settings, _clock())
    try:
        aside = settings.hub.data_dir / "backups" / maintenance.backup_name("replaced-", _clock().now(), ".dump")
        maintenance.backup(store.engine, aside)
        try:
            maintenance.restore_dump(store.engine, dump)
        except EnigmaError as exc:
            raise _fail(f"restore failed: {exc}; the database as it was is in {aside}") from None
    finally:
        store.close()
    kept: Path = aside
    return kept


@db_app.command("optimize")
def db_optimize(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
) -> None:
    """Refresh statistics and reclaim space (ANALYZE/VACUUM). While the hub runs, the hub refreshes its
    statistics (the light form); the full VACUUM needs it stopped."""
    from enigma_apex.adapters.store import maintenance

    settings = _load(ctx).settings
    if _running_hub(settings) is not None:
        ran = _hub_call(settings, "/api/v1/db/optimize", "")["ran"]
        said = "ran (through the running hub; VACUUM needs it stopped): " + "; ".join(ran)
        _echo(json.dumps({"ran": ran, "through_hub": True}) if as_json else said)
        return
    with _database(ctx, upgrade=True) as (store, _):
        statements = maintenance.optimize(store.engine)
    _echo(json.dumps({"ran": statements, "through_hub": False}) if as_json else "ran: " + "; ".join(statements))


# ---------------------------------------------------------------------------- tokens
@token_app.command("create")
def token_create(
    ctx: typer.Context,
    role: Annotated[str, typer.Option(help="admin, executor, signal, dashboard, mobile or observer.")],
    name: Annotated[str, typer.Option(help="A name to recognise the client by.")],
    account: Annotated[
        list[str] | None, typer.Option(help="Account it is bound to (repeat): it sees only these.")
    ] = None,
    expires_days: Annotated[float | None, typer.Option(help="Expire after this many days.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (the token is in it, once).")] = False,
) -> None:
    """Create a client token and print it once (through the running hub, if one runs)."""
    from enigma_apex.adapters.store import tokens

    settings = _load(ctx).settings
    if role not in tokens.ROLES:
        raise _fail(f"unknown role {role!r} (roles: {', '.join(tokens.ROLES)})", 2)
    if _running_hub(settings) is not None:
        body = {"name": name, "role": role, "accounts": account or [], "expires_days": expires_days}
        made = _hub_call(settings, "/api/v1/tokens", "", body)
        token_id, plain = made["id"], made["token"]
    else:
        expires = _clock().now() + timedelta(days=expires_days) if expires_days else None
        with _database(ctx, upgrade=True) as (store, _):
            try:
                plain, record = store.writer.write(
                    lambda c: tokens.create_token(
                        c, name=name, role=role, accounts=tuple(account or ()), expires_at=expires
                    )
                )
            except ValueError as exc:
                raise _fail(str(exc), 2) from None
        token_id = record.token_id
    if as_json:
        _echo(json.dumps({"id": token_id, "role": role, "name": name, "accounts": account or [], "token": plain}))
        return
    _echo(f"token {token_id} ({role}, {name}); shown only now:")
    _echo(plain)


@token_app.command("list")
def token_list(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
) -> None:
    """List tokens (never their values)."""
    from enigma_apex.adapters.store import tokens

    now = _clock().now()
    settings = _load(ctx).settings
    store = _reading(settings)
    try:
        with store.engine.connect() as conn:
            records = tokens.list_tokens(conn)
    finally:
        store.close()
    rows: list[dict[str, Any]] = [
        {
            "id": r.token_id, "role": r.role, "name": r.name, "accounts": list(r.accounts),
            "state": "active" if r.active(now) else ("revoked" if r.revoked_at else "expired"),
            "default": r.is_default, "created": r.created_at.isoformat(),
            "expires": None if r.expires_at is None else r.expires_at.isoformat(),
            "revoked": None if r.revoked_at is None else r.revoked_at.isoformat(),
        }
        for r in records
    ]  # fmt: skip
    if as_json:
        _echo(json.dumps(rows, indent=2))
        return
    if not rows:
        _echo("no tokens (`enigma-apex token create`)")
        return
    tz = _tz(settings)
    _print_table(
        ["id", "role", "name", "state", "created", "expires", "accounts"],
        [[r["id"], r["role"], r["name"], r["state"], _stamp(r["created"], tz),
          _stamp(r["expires"], tz) if r["expires"] else "never", ", ".join(r["accounts"]) or "all"]
         for r in rows],
    )  # fmt: skip


@token_app.command("revoke")
def token_revoke(
    ctx: typer.Context,
    token_id: Annotated[str, typer.Argument(help="Token id from `token list`.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Revoke a token at once: a running hub closes its open sessions and refuses its next request."""
    from enigma_apex.adapters.store import tokens

    settings = _load(ctx).settings
    closed = 0
    if _running_hub(settings) is not None:
        closed = int(_hub_call(settings, f"/api/v1/tokens/{token_id}/revoke", "")["sessions_closed"])
    else:
        with _database(ctx, upgrade=True) as (store, _):
            revoked = store.writer.write(lambda c: tokens.revoke_token(c, token_id))
        if not revoked:
            raise _fail(f"no active token {token_id}")
    if as_json:
        _echo(json.dumps({"revoked": token_id, "sessions_closed": closed}))
        return
    _echo(f"revoked {token_id} ({closed} open session(s) closed)")


# ---------------------------------------------------------------------------- secrets
@secret_app.command("set")
def secret_set(key: Annotated[str, typer.Argument(help="Dotted key, e.g. ai.api_key.")]) -> None:
    """Store a secret in the OS keyring (the value is read from a hidden prompt)."""
    import keyring

    from enigma_apex.config.loader import KEYRING_SERVICE
    from enigma_apex.config.schema import SECRET_KEYS

    known = {k.path for k in SECRET_KEYS}
    if key not in known:
        raise _fail(f"{key} is not a secret key (secret keys: {', '.join(sorted(known))})", 2)
    value = typer.prompt(f"value for {key}", hide_input=True)
    try:
        keyring.set_password(KEYRING_SERVICE, key, value)
    except Exception as exc:  # noqa: BLE001 - keyring backends raise many kinds
        raise _fail(f"the OS keyring refused: {exc}; use the environment variable instead") from None
    _echo(f"stored {key} in the OS keyring")


# ---------------------------------------------------------------------------- firms, replay, accounts
def _registry(ctx: typer.Context) -> Any:
    """The profiles: built-in plus the configured profile folder when a configuration exists."""
    from enigma_apex.adapters.profile_files import builtin_registry, load_registry

    path = _config_path(ctx)
    if path.exists():
        return load_registry(_load(ctx).settings.rules.profile_dir)
    return builtin_registry()


@app.command()
def firms(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every firm profile id with its key parameters."""
    registry = _registry(ctx)
    rows = [registry.get(pid).summary() for pid in registry.ids()]
    if as_json:
        _echo(json.dumps(rows, indent=2, default=str))
        return

    def amount(value: Any) -> str:  # a figure, "target", or a range by tier ("1000-1500 (tiers)")
        text = "" if value is None else str(value)
        if not text[:1].isdigit():
            return text or "–"
        low, _, high = text.removesuffix(" (tiers)").partition("-")
        return _money(low) + (f"–{_money(high)} by tier" if high else "")

    _print_table(
        ["profile", "kind", "start", "target", "drawdown", "lock at", "daily loss", "max minis", "close"],
        [[r["id"], r["kind"], _money(r["start"]), amount(r["target"]), _money(r["drawdown"]), amount(r["lock"]),
          amount(r["dll"]), str(r["max_minis"] or "–"), r["close"]] for r in rows],
        right={2, 3, 4, 5, 6, 7},
    )  # fmt: skip
    _echo(f"{len(rows)} profiles; sources and conflicts: docs/rules.md")


PLATFORMS = (None, "rithmic", "tradovate", "wealthcharts")


def _profile_or_fail(ctx: typer.Context, profile_id: str, platform: str | None) -> Any:
    """The profile, or exit 2 naming the close ids / the allowed platforms."""
    from enigma_apex.rules.profiles import unknown_profile_message

    if platform not in PLATFORMS:
        raise _fail(f"--platform must be rithmic, tradovate or wealthcharts, not {platform!r}", 2)
    registry = _registry(ctx)
    if profile_id not in registry:
        raise _fail(unknown_profile_message(profile_id, registry.ids()), 2)
    return registry.get(profile_id)


def _replay_tracker(ctx: typer.Context, profile_id: str, platform: str | None) -> Any:
    from enigma_apex.adapters.exchange_calendar import cme_days
    from enigma_apex.domain.accounts import Platform
    from enigma_apex.rules.calendar import SessionCalendar
    from enigma_apex.rules.tracker import AccountTracker

    profile = _profile_or_fail(ctx, profile_id, platform)
    calendar = SessionCalendar.for_profile(profile, cme_days())
    return AccountTracker("replay", profile, calendar, platform=Platform(platform) if platform else None)


@app.command()
def replay(
    ctx: typer.Context,
    profile: Annotated[str, typer.Option(help="Firm profile id (`enigma-apex firms`).")],
    events: Annotated[Path | None, typer.Option(help="JSON-lines events: mark, payout, bootstrap.")] = None,
    nt_trades: Annotated[Path | None, typer.Option(help="NinjaTrader 8 Trades performance export (CSV).")] = None,
    platform: Annotated[str | None, typer.Option(help="rithmic, tradovate or wealthcharts.")] = None,
    start_balance: Annotated[
        str | None, typer.Option(help="Balance before the first NT trade (default: the profile's).")
    ] = None,
    tz: Annotated[str, typer.Option(help="Time zone of the NT export's times.")] = "America/New_York",
    date_format: Annotated[
        str | None,
        typer.Option(
            help="Order of the NT export's dates when the file cannot tell: dmy (day/month, e.g. European Windows), "
            "mdy (month/day, US), ymd, or a strptime pattern."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON line per input event (per day for --nt-trades), then the verdict.")
    ] = False,
) -> None:
    """Run the tracker on recorded events: would this account have passed, or breached?"""
    from decimal import Decimal

    from enigma_apex.rules import nt_trades as nt
    from enigma_apex.rules import replay as rp

    if (events is None) == (nt_trades is None):
        raise _fail("give exactly one of --events FILE.jsonl or --nt-trades FILE.csv", 2)
    tracker = _replay_tracker(ctx, profile, platform)
    source = events if events is not None else nt_trades
    if source is None:  # pragma: no cover - excluded above
        raise _fail("no input", 2)
    try:
        text = source.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise _fail(f"{source}: {exc.strerror}", 2) from None
    if events is not None:
        parsed, errors = rp.parse_events(text.splitlines())
    else:
        start = Decimal(start_balance) if start_balance else tracker.profile.start
        parsed, errors = nt.parse(text, start, tz, date_format)
    if errors:
        for error in errors:
            typer.echo(f"{source}: {error}", err=True)
        raise typer.Exit(2)
    rows = rp.replay(tracker, parsed)
    rp.finish(tracker)  # the last day closes too: it counts as a trading day, its end-of-day figures apply
    if events is not None:
        if as_json:
            for row in rows:
                _echo(json.dumps(row))
        else:
            tz = _tz(_load(ctx).settings if _config_path(ctx).exists() else None)
            _print_table(
                ["time", "equity", "peak", "threshold", "to ruin", "state"],
                [[_stamp(r["ts"], tz), _money(r["equity"]), _money(r["peak"]),
                  _money(r["threshold"]) + (" locked" if r["locked"] else ""), _money(r["distance"]),
                  r["state"] + (" BREACHED" if r["breached"] else "")] for r in rows],
                right={1, 2, 3, 4},
            )  # fmt: skip
        _print_verdict(rp.verdict(tracker), as_json)
        return
    _print_days(tracker, parsed, rows, as_json)


def _print_verdict(verdict: dict[str, Any], as_json: bool) -> None:
    if as_json:
        _echo(json.dumps({"verdict": verdict}))
        return
    _echo(
        f"result: {verdict['result'].upper()}; {verdict['trading_days']} trading day(s), final threshold "
        f"{_money(verdict['threshold'])}; {verdict['rule']}"
    )


def _print_days(tracker: Any, events: list[Any], rows: list[dict[str, Any]], as_json: bool) -> None:
    """A day-by-day table of an NT replay (the last row of each trading day)."""
    days: dict[str, dict[str, Any]] = {}
    for event, row in zip(events, rows, strict=True):
        day = tracker.calendar.session_of(event.ts).isoformat()
        days[day] = {"day": day, **row}
    from enigma_apex.rules import replay as rp

    if as_json:
        for row in days.values():
            _echo(json.dumps(row))
        _print_verdict(rp.verdict(tracker), True)
        return
    from decimal import Decimal

    start = tracker.profile.start
    table: list[list[str]] = []
    for row in days.values():
        net = None if row["balance"] is None else Decimal(str(row["balance"])) - start
        table.append([row["day"], _money(row["balance"]), _money(row["peak"]), _money(row["threshold"]),
                     _money(row["distance"]), "YES" if row["breached"] else "no", _money(net),
                     _best_day(row["best_day_share"])])  # fmt: skip
    _print_table(["day", "balance", "peak", "threshold", "distance", "breach", "net", "best day"], table,
                 right={1, 2, 3, 4, 6, 7})  # fmt: skip
    _print_verdict(rp.verdict(tracker), False)


def _best_day(share: Any) -> str:
    """The best day's share of the net profit: "-" with no net profit, "above the net" when later days lost more
    than it (a share over 100 % reads as nonsense: 1944 % for a tiny net)."""
    if share is None:
        return "-"
    return f"{float(share) * 100:.0f}% of net" if float(share) <= 1 else "above the net"


def _open_for(settings: Any, clock: Any, what: str) -> Any:
    """``bootstrap.open_store`` holding the data folder as ``enigma-apex <what>``; a held folder ends the command."""
    from enigma_apex import bootstrap
    from enigma_apex.adapters.instance import FolderBusyError

    try:
        return bootstrap.open_store(settings, clock, lock=f"enigma-apex {what}")
    except FolderBusyError as exc:
        raise _fail(str(exc), 1) from None
    except EnigmaError as exc:
        raise _fail(str(exc), 1) from None


def _executor_tokens(settings: Any) -> list[str] | None:
    """Names of the active executor tokens in the database (read only), or None when there is none to read."""
    from enigma_apex.adapters.store import migrate, tokens
    from enigma_apex.adapters.store.engine import sqlite_path
    from enigma_apex.adapters.store.store import Store

    path = sqlite_path(settings.database_url)
    if path is not None and not path.exists():
        return []  # a new data folder: nothing external has a token yet
    try:
        store = Store.open(settings, _clock())
    except Exception:  # noqa: BLE001 - an unreadable database is `doctor`'s to report
        return None
    try:
        if migrate.current_revision(store.engine) is None:
            return []
        with store.engine.connect() as conn:
            now = _clock().now()
            return sorted({t.name for t in tokens.list_tokens(conn) if t.role == "executor" and t.active(now)})
    except Exception:  # noqa: BLE001
        return None
    finally:
        store.close()


def _running_hub(settings: Any) -> Any:
    """The hub running on this configuration's data folder (``adapters/instance.py``), or None."""
    from enigma_apex.adapters.instance import holder

    found = holder(settings.hub.data_dir)
    return found if found is not None and found.is_hub else None


def _hub_base(settings: Any, url: str | None = None) -> str:
    running = _running_hub(settings) if url is None else None
    if running is not None:
        base = str(running.http)
    else:
        host = "127.0.0.1" if settings.http.host in ("0.0.0.0", "::") else settings.http.host  # noqa: S104
        base = url or f"{'https' if settings.http.tls_cert else 'http'}://{host}:{settings.http.port}"
    if not base.startswith(("http://", "https://")):
        raise _fail(f"--url must be an http(s) URL, got {base!r}", 2)
    return base


def _hub_call(
    settings: Any, path: str, token: str, body: Any = None, *, method: str = "POST", url: str | None = None
) -> Any:
    """Call the running hub's HTTP API with a bearer token — by default, on this machine, the hub's own control
    token (``hub.json`` in the data folder): the CLI goes through the hub that owns the database. A refusal or an
    unreachable hub ends the command."""
    import ssl
    import urllib.error
    import urllib.parse
    import urllib.request

    running = _running_hub(settings) if url is None else None
    if not token and running is not None:
        token = str(running.control or "")
    if not token:
        raise _fail("a token is needed: --token or ENIGMA_APEX_TOKEN (created by `enigma-apex init`)", 2)
    base = _hub_base(settings, url)
    headers = {"Authorization": f"Bearer {token}"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(f"{base}{path}", data=data, method=method, headers=headers)  # noqa: S310
    context = None
    host = urllib.parse.urlsplit(base).hostname or ""
    if base.startswith("https://") and (host == "localhost" or host == "::1" or host.startswith("127.")):
        context = ssl._create_unverified_context()  # noqa: S323 - this machine: the certificate names the LAN address
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:  # noqa: S310 - scheme checked
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        with contextlib.suppress(ValueError, KeyError, TypeError):
            detail = json.loads(detail)["detail"]
        raise _fail(f"refused ({exc.code}): {detail}") from None
    except urllib.error.URLError as exc:
        raise _fail(f"cannot reach the hub at {base}: {exc.reason}") from None


@contextlib.contextmanager
def _writing(ctx: typer.Context, what: str) -> Iterator[Any]:
    """The database for a command that writes it itself — only while no hub runs on the data folder, holding the
    folder's instance lock meanwhile (a hub started now waits, then refuses). Closed after use."""
    from enigma_apex import bootstrap
    from enigma_apex.adapters.instance import FolderBusyError

    settings = _load(ctx).settings
    try:
        store, _ = bootstrap.open_store(settings, _clock(), lock=f"enigma-apex {what}")
    except FolderBusyError as exc:
        raise _fail(str(exc), 1) from None
    except EnigmaError as exc:
        raise _fail(str(exc), 1) from None
    try:
        yield store
    finally:
        store.close()


def _reading(settings: Any) -> Any:
    """The database opened to read only (no migration, no writer): safe beside a running hub."""
    from enigma_apex.adapters.store import migrate
    from enigma_apex.adapters.store.store import Store

    store = Store.open(settings, _clock())
    try:
        revision = migrate.current_revision(store.engine)
    except Exception as exc:  # noqa: BLE001 - an unreachable database is reported, not a traceback
        store.close()
        raise _fail(f"cannot read the database: {exc}") from None
    if revision is None:
        store.close()
        raise _fail("there is no database yet: run `enigma-apex init`", 1)
    return store


def _guardian(ctx: typer.Context) -> Any:
    """The store and a guardian with every account's persisted state, to read: beside a running hub the database
    is only read; with no hub, this command holds the data folder while it runs (the store's close releases it)."""
    from enigma_apex import bootstrap

    loaded = _load(ctx)
    if _running_hub(loaded.settings) is not None:
        store = _reading(loaded.settings)
    else:
        from enigma_apex.adapters.instance import FolderBusyError

        try:
            store, _ = bootstrap.open_store(loaded.settings, _clock(), lock="enigma-apex (reading accounts)")
        except FolderBusyError as exc:
            raise _fail(str(exc), 1) from None
    return store, bootstrap.build_guardian(loaded.settings, store, _clock())


@account_app.command("status")
def account_status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every configured account: state, threshold, distance to ruin, contracts allowed, DLL room (a running
    hub's live view; the stored state when none runs)."""
    settings = _load(ctx).settings
    if _running_hub(settings) is not None:
        views = _hub_call(settings, "/api/v1/accounts", "", method="GET")["accounts"]
        rows = [
            {k: v for k, v in view.items() if k not in ("group", "executor", "executor_connected")} for view in views
        ]
    else:
        store, guardian = _guardian(ctx)
        try:
            rows = [{**s.as_dict(), "profile": guardian.accounts[s.account].profile} for s in guardian.status()]
        finally:
            store.close()
    if as_json:
        _echo(json.dumps(rows, indent=2))
        return
    _print_table(
        ["account", "profile", "state", "equity", "threshold", "to ruin", "used", "max", "daily loss room"],
        [[r["account"], r["profile"], r["state"], _money(r["equity"]),
          _money(r["threshold"]) + (" locked" if r.get("locked") else ""), _money(r["distance"]),
          f"{r['drawdown_used_pct']}%", str(r["max_contracts"] or "–"), _money(r["dll_remaining"])] for r in rows],
        right={3, 4, 5, 6, 7, 8},
    )  # fmt: skip
    _echo("daily loss room: to the firm's daily loss limit itself (the guardian flattens before it: see `size`)")


@account_app.command("bootstrap")
def account_bootstrap(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument(help="Account name from the configuration.")],
    peak: Annotated[str | None, typer.Option(help="Peak balance shown by the firm.")] = None,
    threshold: Annotated[str | None, typer.Option(help="Threshold / liquidation level shown by the firm.")] = None,
    balance: Annotated[str | None, typer.Option(help="Current balance.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Start tracking mid-cycle from the firm's dashboard figures (through the running hub, if one runs)."""
    from decimal import Decimal, InvalidOperation

    if peak is None and threshold is None and balance is None:
        raise _fail("give --peak, --threshold or --balance", 2)
    try:
        values = {
            k: Decimal(v) if v is not None else None
            for k, v in (("peak", peak), ("threshold", threshold), ("balance", balance))
        }
    except InvalidOperation:
        raise _fail("--peak, --threshold and --balance must be numbers", 2) from None
    settings = _load(ctx).settings
    if _running_hub(settings) is not None:  # the running hub's tracker takes it (and records it)
        body = {k: str(v) for k, v in values.items() if v is not None}
        view = _hub_call(settings, f"/api/v1/accounts/{account}/bootstrap", "", body)
        peak, threshold, locked, distance = view["peak"], view["threshold"], view["locked"], view["distance"]
    else:
        store, guardian = _guardian(ctx)
        try:
            snap = guardian.bootstrap(account, **values)
        except EnigmaError as exc:
            raise _fail(str(exc), 2) from None
        finally:
            store.close()
        peak, threshold, locked, distance = snap.peak, snap.threshold, snap.locked, snap.distance
    if as_json:
        _echo(json.dumps({"account": account, "peak": str(peak), "threshold": str(threshold), "locked": locked,
                          "distance": str(distance)}))  # fmt: skip
        return
    _echo(
        f"{account}: peak {_money(peak)}, threshold {_money(threshold)}{' (locked)' if locked else ''}, "
        f"{_money(distance)} to ruin"
    )


# ---------------------------------------------------------------------------- risk manager
@app.command()
def size(
    ctx: typer.Context,
    account: Annotated[str, typer.Option(help="Account name from the configuration.")],
    symbol: Annotated[str, typer.Option(help="MNQ, NQ 12-26, NQZ6, NQ1!, …")],
    side: Annotated[str, typer.Option(help="long or short.")],
    entry: Annotated[str, typer.Option(help="Entry price.")],
    stop: Annotated[str, typer.Option(help="Stop price.")],
    target: Annotated[str | None, typer.Option(help="Target price.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Contracts for an entry, from the account's real risk capital, with the full breakdown."""
    from enigma_apex.app.risk import RiskService
    from enigma_apex.domain.orders import Side
    from enigma_apex.domain.symbols import parse_symbol
    from enigma_apex.domain.values import positive_price

    if side not in ("long", "short"):
        raise _fail(f"--side must be long or short, not {side!r}", 2)
    try:
        contract = parse_symbol(symbol, on=_clock().now().date())
        tick = contract.spec.tick_size
        entry_price = positive_price(entry, tick, "entry")
        stop_price = positive_price(stop, tick, "stop")
        target_price = positive_price(target, tick, "target") if target is not None else None
    except EnigmaError as exc:
        raise _fail(str(exc), 2) from None
    store, guardian = _guardian(ctx)
    try:
        risk = RiskService(guardian.settings, guardian, store.engine)
        order_side = Side.BUY if side == "long" else Side.SELL
        result, stats = risk.size(account, contract, order_side, entry_price, stop_price, target_price)
        tracker = guardian.tracker(account)
        micro_ratio, dll_pct = tracker.micro_ratio, tracker.policy.flatten_dll_pct
    except EnigmaError as exc:
        raise _fail(str(exc), 2) from None
    finally:
        store.close()
    if as_json:
        _echo(json.dumps({**result.as_dict(), "stats": stats.as_dict()}, indent=2, default=str))
        return
    _print_size(account, contract, result, micro_ratio, dll_pct)


def _print_size(account: str, contract: Any, result: Any, micro_ratio: int, dll_pct: Any) -> None:
    """``size`` for people: every figure labelled, money with its currency, contracts with their unit."""
    b = result.breakdown
    inputs = b.get("inputs", {})
    unit = "micro" if contract.spec.is_micro else "mini"
    plural = "" if result.quantity == 1 else "s"
    gate_reason = (b.get("gate") or {}).get("reason")
    why = f": {gate_reason}" if gate_reason and not result.quantity else ""  # what refuses it, in its own words
    _echo(f"{account}: {result.quantity} {unit} contract{plural} of {result.contract} ({result.code}, {result.mode})"
          f"{why}")  # fmt: skip
    rows: list[list[str]] = []

    def row(what: str, value: str, why: str = "") -> None:
        rows.append([what, value, why])

    row("entry / stop", f"{inputs.get('entry')} / {inputs.get('stop')}", f"{inputs.get('side')}")
    row("distance to ruin", _money(inputs.get("distance")), "to the firm's threshold")
    row("guardian's flatten buffer", _money(inputs.get("flatten_buffer")), "the guardian flattens this far before it")
    if inputs.get("dll_room") is None:
        row("daily loss room", "-", "no daily loss limit")
    else:
        row("daily loss room", _money(inputs.get("dll_room")),
            f"until the guardian flattens at {dll_pct}% of the daily loss limit (account status shows the room to the "
            "limit itself)")  # fmt: skip
    if "risk_capital" in b:
        row("risk capital", _money(b["risk_capital"].get("value")), str(b["risk_capital"].get("bound_by", "")))
    if "fraction" in b:
        fraction = b["fraction"]
        row("fraction", f"{float(fraction.get('value', 0)) * 100:g}%", str(fraction.get("why", "")))
    for cap in b.get("caps", []):
        row(f"cap: {cap.get('name')}", _money(cap.get("value")))
    if "risk_dollars" in b:
        row("risk for this trade", _money(b["risk_dollars"].get("value")), str(b["risk_dollars"].get("bound_by", "")))
    if "per_contract" in b:
        row("worst case per contract", _money(b["per_contract"].get("worst_case")), f"one {unit} {contract}")
    allowed = inputs.get("contracts_allowed_now")
    if allowed is not None:
        why = "the firm's cap and the gate, now"
        if contract.spec.is_micro and micro_ratio > 1:
            why = f"micros; the firm counts {micro_ratio} micros as 1 mini ({int(allowed) // micro_ratio} minis)"
        row("contracts allowed now", f"{allowed} {unit}", why)
    result_part = b.get("result", {})
    if result_part:
        row("worst-case loss", _money(result_part.get("worst_case_loss")), str(result_part.get("bound_by", "")))
        row("distance left after it", _money(result_part.get("distance_left")))
    _print_table(["what", "value", "why"], rows, right={1}, wrap={2}, header=False)


@app.command()
def stats(
    ctx: typer.Context,
    account: Annotated[str | None, typer.Option(help="Only this account.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Trade statistics in R per account and per setup, raw and shrunk."""
    from enigma_apex.app.risk import RiskService

    store, guardian = _guardian(ctx)
    try:
        if account is not None:
            guardian.tracker(account)
        figures = RiskService(guardian.settings, guardian, store.engine).stats(account)
    except EnigmaError as exc:
        raise _fail(str(exc), 2) from None
    finally:
        store.close()
    if as_json:
        _echo(json.dumps({k: v.as_dict() for k, v in figures.items()}, indent=2))
        return
    if not figures:
        _echo("no closed trades yet")
        return
    rows = []
    for key, st in figures.items():
        d = st.as_dict()
        rows.append([key, str(st.trades), "–" if st.win_rate is None else f"{st.win_rate * 100:.1f}%",
                     str(d["payoff"] or "–"), str(d["expectancy_r"] or "–"), f"{float(st.shrunk_win_rate) * 100:.1f}%",
                     f"{float(st.shrunk_payoff):.3f}"])  # fmt: skip
    _print_table(
        ["account / setup", "trades", "win rate", "payoff (R)", "expectancy (R)", "win rate used", "payoff used"],
        rows, right={1, 2, 3, 4, 5, 6},
    )  # fmt: skip
    _echo("used: shrunk toward the prior while trades are few; sizing uses these (docs/sizing.md)")


@app.command()
def passprob(
    ctx: typer.Context,
    profile: Annotated[str, typer.Option(help="Evaluation profile id.")],
    stop_ticks: Annotated[float, typer.Option(help="Stop distance in ticks (1 R).")],
    symbol: Annotated[str, typer.Option(help="Instrument traded (MNQ, ES, …).")],
    trades_per_day: Annotated[int, typer.Option(help="Trades a day.")],
    paths: Annotated[int, typer.Option(help="Simulated evaluations.")] = 10000,
    platform: Annotated[str | None, typer.Option(help="rithmic, tradovate or wealthcharts.")] = None,
    win_rate: Annotated[float | None, typer.Option(help="Win probability (0-1).")] = None,
    payoff: Annotated[float | None, typer.Option(help="Average win / average loss, in R.")] = None,
    from_history: Annotated[
        str | None, typer.Option(help="Take win rate and payoff from this account's trades.")
    ] = None,
    sizing: Annotated[str, typer.Option(help="kelly or fixed.")] = "kelly",
    kelly_fraction: Annotated[float, typer.Option(help="Fraction of full Kelly.")] = 0.5,
    contracts: Annotated[int, typer.Option(help="Contracts per trade with --sizing fixed.")] = 1,
    max_contracts: Annotated[int | None, typer.Option(help="Cap when the profile publishes none.")] = None,
    commission: Annotated[float | None, typer.Option(help="Round-trip commission per contract (USD).")] = None,
    slippage_ticks: Annotated[float | None, typer.Option(help="Slippage on a stop, ticks.")] = None,
    max_days: Annotated[int | None, typer.Option(help="Trading days allowed (default: the profile's limit).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same answer).")] = 1,
    optimize: Annotated[
        bool, typer.Option("--optimize", help="Search the fraction / contracts that maximise P(pass).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Probability of passing an evaluation with a sizing policy, by Monte-Carlo under the firm's rules."""
    import math
    import time as _time

    from enigma_apex.domain.symbols import parse_symbol
    from enigma_apex.sizing import passprob as pp

    prof = _profile_or_fail(ctx, profile, platform)
    if prof.target is None:
        raise _fail(f"{profile} has no profit target: passprob simulates evaluations", 2)
    if sizing not in ("kelly", "fixed") or paths < 1 or trades_per_day < 1 or stop_ticks <= 0:
        raise _fail("check --sizing (kelly|fixed), --paths, --trades-per-day and --stop-ticks", 2)
    try:
        contract = parse_symbol(symbol, on=_clock().now().date())
    except EnigmaError as exc:
        raise _fail(str(exc), 2) from None
    spec = contract.spec
    if from_history is not None:
        from enigma_apex.app.risk import RiskService

        store, guardian = _guardian(ctx)
        try:
            st = RiskService(guardian.settings, guardian, store.engine).stats(from_history).get(from_history)
        finally:
            store.close()
        if st is None:
            raise _fail(f"no statistics for {from_history}", 2)
        win_rate, payoff = float(st.shrunk_win_rate), float(st.shrunk_payoff)
    if win_rate is None or payoff is None or not 0 < win_rate < 1 or payoff <= 0:
        raise _fail("give --win-rate (0-1) and --payoff (> 0), or --from-history ACCOUNT", 2)
    from enigma_apex.domain.accounts import Platform

    cap = max_contracts or (prof.max_micros if spec.is_micro else prof.max_minis)
    if cap is None:
        raise _fail(f"{profile} publishes no contract cap: give --max-contracts", 2)
    days = max_days or (math.ceil(prof.time_limit_days * 5 / 7) if prof.time_limit_days else 60)
    blocks_pass = prof.consistency_blocks in ("pass", "target")
    lock = prof.lock_level(Platform(platform) if platform else None)
    cfg = pp.SimConfig(
        start=float(prof.start),
        target=float(prof.target),
        drawdown=float(prof.drawdown),
        kind=prof.drawdown_kind,
        lock_level=None if lock is None else float(lock),
        dll=float(prof.tiers[0].dll) if prof.tiers and prof.tiers[0].dll else (float(prof.dll) if prof.dll else None),
        max_contracts=cap,
        min_trading_days=prof.min_trading_days,
        consistency_limit=float(prof.consistency_limit(0) or 0) if blocks_pass and prof.consistency_limit(0) else None,
        consistency_strict=prof.consistency_boundary == "strict",
        win_rate=win_rate,
        payoff=payoff,
        stop_ticks=stop_ticks,
        tick_value=float(spec.tick_value),
        commission=commission if commission is not None else (1.50 if spec.is_micro else 4.50),
        slippage_ticks=slippage_ticks if slippage_ticks is not None else 2.0,
        trades_per_day=trades_per_day,
        max_days=days,
        sizing=sizing,
        kelly_fraction=kelly_fraction,
        contracts=contracts,
    )
    grid: list[float] | list[int] = (
        [round(0.05 * i, 2) for i in range(1, 21)] if sizing == "kelly" else list(range(1, cap + 1))
    )
    runs = (len(grid) if optimize else 1) * paths
    started = _time.perf_counter()
    with typer.progressbar(length=runs, label="simulating", file=sys.stderr, hidden=runs < 200_000 or as_json) as bar:
        if optimize:
            curve = pp.optimize(cfg, paths, seed, grid, progress=bar.update)
        else:
            curve = [
                (
                    kelly_fraction if sizing == "kelly" else float(contracts),
                    pp.simulate(cfg, paths, seed, progress=bar.update),
                )
            ]
    seconds = _time.perf_counter() - started
    header = {
        "profile": profile,
        "platform": platform,
        "symbol": str(contract),
        "win_rate": win_rate,
        "payoff": payoff,
        "full_kelly": round(cfg.full_kelly, 4),
        "sizing": sizing,
        "max_days": days,
        "paths": paths,
        "seconds": round(seconds, 3),
        "paths_per_s": round(runs / seconds),
    }
    if as_json:
        rows = [{"value": v, **r.as_dict()} for v, r in curve]
        best = max(rows, key=lambda r: r["p_pass"])
        _echo(json.dumps({**header, "results": rows, "best": best} if optimize else {**header, **rows[0]}, indent=2))
        return
    _echo(
        f"{profile} {symbol}: p={win_rate:.3f} b={payoff:.3f} (full Kelly {cfg.full_kelly:.3f}), "
        f"{trades_per_day}/day, {days} trading days, {paths} paths in {seconds:.2f} s"
    )
    label = "Kelly fraction" if sizing == "kelly" else "contracts"
    _print_table(
        [label, "P(pass)", "±", "P(fail)", "still running", "days to pass (median / p90)", "final balance (median)"],
        [[f"{value:g}", f"{r.p_pass:.1%}", f"{r.stderr_pass:.1%}", f"{r.p_fail:.1%}", f"{r.p_running:.1%}",
          "–" if r.median_days_to_pass is None else f"{r.median_days_to_pass:.0f} / {r.p90_days_to_pass:.0f}",
          _money(round(r.final_balance["median"], 2))] for value, r in curve],
        right={0, 1, 2, 3, 4, 5, 6},
    )  # fmt: skip
    if optimize:
        top_value, top = max(curve, key=lambda c: c[1].p_pass)
        _echo(f"best: {label} {top_value} with P(pass) {top.p_pass:.1%}")


# ---------------------------------------------------------------------------- emergency stop
@app.command()
def flatten(
    ctx: typer.Context,
    account: Annotated[list[str] | None, typer.Option(help="Account to halt and flatten (repeat).")] = None,
    all_accounts: Annotated[bool, typer.Option("--all", help="Every account.")] = False,
    reason: Annotated[str, typer.Option(help="Recorded with the halt.")] = "emergency stop (CLI)",
    token: Annotated[str, typer.Option(envvar="ENIGMA_APEX_TOKEN", help="An admin, dashboard or mobile token.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Emergency stop: HALTED is persisted first, then every owning executor is told to flatten."""
    if bool(account) == all_accounts:
        raise _fail("give --account A (repeatable) or --all", 2)
    settings = _load(ctx).settings
    body = {"accounts": None if all_accounts else account, "reason": reason}
    done: dict[str, str] = {}
    if _running_hub(settings) is not None:
        done = dict(_hub_call(settings, "/api/v1/flatten", token, body)["accounts"])
    else:  # the hub is not running: persist HALTED now; executors flatten these accounts when they connect
        store, guardian = _guardian(ctx)
        try:
            for name in sorted(guardian.trackers) if all_accounts else list(account or []):
                guardian.halt(name, reason)
                done[name] = "hub not running: flattened when its executor connects"
        except EnigmaError as exc:
            raise _fail(str(exc), 2) from None
        finally:
            store.close()
    if as_json:
        _echo(json.dumps({"state": "HALTED", "accounts": done}))
        return
    _print_table(["account", "state", "flatten"], [[name, "HALTED", what] for name, what in done.items()], wrap={2})


@app.command()
def resume(
    ctx: typer.Context,
    account: Annotated[str | None, typer.Argument(help="The account to resume.")] = None,
    all_accounts: Annotated[bool, typer.Option("--all", help="Every HALTED account.")] = False,
    token: Annotated[str, typer.Option(envvar="ENIGMA_APEX_TOKEN", help="An admin, dashboard or mobile token.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Resume an account halted by the operator or a buffer (a breach stays: the firm's rule ended it)."""
    if (account is not None) == all_accounts:
        raise _fail("give an ACCOUNT or --all", 2)
    settings = _load(ctx).settings
    after: dict[str, dict[str, str]] = {}
    if _running_hub(settings) is not None:
        names = [account] if account is not None else [
            a["account"] for a in _hub_call(settings, "/api/v1/accounts", token, method="GET")["accounts"]
            if a["state"] == "HALTED"
        ]  # fmt: skip
        for name in names:
            view = _hub_call(settings, f"/api/v1/resume/{name}", token)
            after[name] = {"state": view["state"], "reason": view["reason"] or ""}
    else:
        store, guardian = _guardian(ctx)  # the hub is not running: this command writes the database itself
        try:
            names = [account] if account is not None else sorted(
                name for name, tracker in guardian.trackers.items() if tracker.snapshot().state.value == "halted"
            )  # fmt: skip
            for name in names:
                snap = guardian.resume(name)
                after[name] = {"state": snap.state.value.upper(), "reason": snap.state_reason or ""}
        except EnigmaError as exc:
            raise _fail(str(exc), 2) from None
        finally:
            store.close()
    if as_json:
        _echo(json.dumps({"accounts": after}))
    elif not after:
        _echo("no account is HALTED")
    else:
        _print_table(
            ["account", "state", "why"], [[name, a["state"], a["reason"]] for name, a in after.items()], wrap={2}
        )


# ---------------------------------------------------------------------------- signals and decisions
Token = Annotated[str, typer.Option(envvar="ENIGMA_APEX_TOKEN", help="A token allowed to send signals.")]
HubUrl = Annotated[str | None, typer.Option(help="Hub base URL (default: from the configuration).")]


@app.command()
def signal(
    ctx: typer.Context,
    symbol: Annotated[str, typer.Option(help="MNQ, NQ 12-26, NQZ2026, NQ1! ...")],
    side: Annotated[str, typer.Option(help="long, short or exit.")],
    entry: Annotated[str | None, typer.Option(help="Entry price (default: the last quote).")] = None,
    stop: Annotated[str | None, typer.Option(help="Stop price (default: the account's default_stop_ticks).")] = None,
    target: Annotated[str | None, typer.Option(help="Target price.")] = None,
    group: Annotated[str | None, typer.Option(help="Account group (default: default).")] = None,
    quantity: Annotated[int | None, typer.Option(help="Most contracts wanted: caps the size, never raises it.")] = None,
    note: Annotated[str | None, typer.Option(help="Free text kept with the signal.")] = None,
    key: Annotated[str | None, typer.Option(help="Idempotency key: sending the same key twice acts once.")] = None,
    token: Token = "",
    url: HubUrl = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Send a manual signal to the running hub: analysed, gated, sized per account, executed per group mode."""
    from decimal import Decimal, InvalidOperation

    if side not in ("long", "short", "exit"):
        raise _fail(f"--side must be long, short or exit, got {side!r}", 2)
    body: dict[str, Any] = {"symbol": symbol, "side": side}
    for name, value in (("entry", entry), ("stop", stop), ("target", target)):
        if value is not None:
            try:
                Decimal(value)
            except InvalidOperation:
                raise _fail(f"--{name} must be a price, got {value!r}", 2) from None
            body[name] = value
    for name, extra in (("group", group), ("quantity", quantity), ("note", note), ("id", key)):
        if extra is not None:
            body[name] = extra
    outcome = _hub_call(_load(ctx).settings, "/api/v1/signals", token, body, url=url)
    _print_outcome(outcome, as_json)


ControlToken = Annotated[str, typer.Option(envvar="ENIGMA_APEX_TOKEN", help="A dashboard, mobile or admin token.")]
SignalId = Annotated[str, typer.Argument(help="The signal waiting for approval.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


ForAccounts = Annotated[
    list[str] | None, typer.Option("--account", help="Only this account (repeat; default: every account waiting).")
]


def _decide(
    ctx: typer.Context, signal_id: str, verb: str, token: str, url: str | None, as_json: bool, accounts: Any
) -> None:
    body = {"accounts": accounts} if accounts else None
    path = f"/api/v1/signals/{signal_id}/{verb}"
    _print_outcome(_hub_call(_load(ctx).settings, path, token, body, url=url), as_json)


@app.command()
def approve(
    ctx: typer.Context,
    signal_id: SignalId,
    account: ForAccounts = None,
    token: ControlToken = "",
    url: HubUrl = None,
    as_json: AsJson = False,
) -> None:
    """Approve a signal waiting in confirm mode (executes it now, sized now)."""
    _decide(ctx, signal_id, "approve", token, url, as_json, account)


@app.command()
def reject(
    ctx: typer.Context,
    signal_id: SignalId,
    account: ForAccounts = None,
    token: ControlToken = "",
    url: HubUrl = None,
    as_json: AsJson = False,
) -> None:
    """Reject a signal waiting in confirm mode."""
    _decide(ctx, signal_id, "reject", token, url, as_json, account)


def _print_outcome(outcome: dict[str, Any], as_json: bool) -> None:
    if as_json:
        _echo(json.dumps(outcome, indent=2))
        return
    if outcome["duplicate"]:
        _echo(f"signal {outcome['signal_id']}: already received, nothing done")
        return
    _echo(f"signal {outcome['signal_id']}")
    _print_table(
        ["account", "action", "contracts", "symbol", "why"],
        [[d["account"] or "–", d["action"], str(d["quantity"]), d["symbol"], d["reason"]]
         for d in outcome["decisions"]],
        right={2}, wrap={4},
    )  # fmt: skip


@app.command()
def decisions(
    ctx: typer.Context,
    since: Annotated[
        str | None,
        typer.Option(help="From this time (ISO 8601, e.g. 2026-12-01T14:00Z) or back this long (30m, 2h, 1d)."),
    ] = None,
    account: Annotated[str | None, typer.Option(help="Only this account.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (every field of the record).")] = False,
) -> None:
    """The decision record, newest first: signal, analysis (AI or scorer, and why), verdicts, size, orders."""
    from enigma_apex.adapters.store import repository

    start = _since(since) if since else None
    with _database(ctx, upgrade=False) as (store, _note), store.engine.connect() as conn:
        rows = repository.list_decisions(conn, start, limit, account)
    if as_json:
        _echo(json.dumps(rows, indent=2))
        return
    if not rows:
        _echo("no decisions")
        return
    tz = _tz(_load(ctx).settings)
    table = []
    for r in rows:
        sig, ai = r["signal"], r["analysis"]
        analysed = f"{ai.get('source')} {ai.get('score')} {ai.get('action')}" if ai.get("source") != "none" else "–"
        if ai.get("fallback_reason"):
            analysed += f" ({ai['fallback_reason']})"
        table.append([_stamp(r["at"], tz), r["account"] or "–", r["action"], str(r["quantity"]), sig["direction"],
                      sig["symbol"], sig["source"], analysed, r["sizing"].get("reason") or ""])  # fmt: skip
    _print_table(["time", "account", "action", "contracts", "side", "symbol", "from", "analyst", "why"], table,
                 right={3}, wrap={7, 8})  # fmt: skip


def _since(text: str) -> Any:
    from datetime import datetime

    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
    if text[-1:] in units and text[:-1].isdigit():
        return _clock().now() - timedelta(**{units[text[-1]]: int(text[:-1])})
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _fail(f"--since must be ISO 8601 or a duration like 30m, got {text!r}", 2) from None
    if moment.tzinfo is None:
        raise _fail("--since needs a time zone (e.g. 2026-12-01T14:00Z)", 2)
    return moment


# ---------------------------------------------------------------------------- executors
def _gateway_url(settings: Any, url: str | None) -> str:
    if url:
        return url
    scheme = "wss" if settings.gateway.tls_cert else "ws"
    host = "127.0.0.1" if settings.gateway.host in ("0.0.0.0", "::") else settings.gateway.host  # noqa: S104
    return f"{scheme}://{host}:{settings.gateway.port}"


def _run_executor(
    connector: Any, url: str, token: str, *, update_hz: float, flatten_after: Any = None, data_dir: Path | None = None
) -> None:
    from enigma_apex.adapters import logging as logs
    from enigma_apex.adapters.brokers.journal import Journal
    from enigma_apex.adapters.brokers.runner import ExecutorRunner

    if not token:
        raise _fail("a token is needed: --token or ENIGMA_APEX_TOKEN (`enigma-apex token create --role executor`)", 2)
    logs.configure(None, level="INFO")
    runner = ExecutorRunner(
        connector, url, token, update_hz=update_hz,
        flatten_after_disconnect_s=None if flatten_after is None else float(flatten_after),
        journal=Journal(data_dir / f"{connector.name}-journal.jsonl") if data_dir is not None else None,
    )  # fmt: skip
    _echo(f"{connector.name}: {len(connector.accounts())} account(s), connecting to {url}")
    try:
        asyncio.run(runner.run())
    except PermissionError as exc:
        raise _fail(f"{connector.name}: the hub refused the token: {exc}", 2) from None
    except KeyboardInterrupt:
        _echo(f"{connector.name}: stopped")


_URL = Annotated[str | None, typer.Option("--url", help="Gateway URL (default: from the configuration).")]
_EXEC_TOKEN = Annotated[str, typer.Option(envvar="ENIGMA_APEX_TOKEN", help="An executor token.", show_default=False)]


@app.command()
def paper(ctx: typer.Context, url: _URL = None, token: _EXEC_TOKEN = "") -> None:
    """Run the paper broker: simulated fills for the accounts whose executor is "paper" (`up` starts it)."""
    from enigma_apex.adapters.brokers.paper import PaperConnector, load_replay, paper_accounts

    loaded = _load(ctx)
    settings = loaded.settings
    accounts = paper_accounts(settings)
    if not accounts:
        raise _fail('no account has executor = "paper"', 2)
    try:
        replay = load_replay(settings.paper, loaded.path.parent)
    except (OSError, ValueError) as exc:
        raise _fail(f"paper.replay_file: {exc}", 2) from None
    settings.hub.data_dir.mkdir(parents=True, exist_ok=True)
    connector = PaperConnector(
        accounts, settings.paper, _clock(), state_file=settings.hub.data_dir / "paper-state.json", replay_text=replay
    )
    _run_executor(
        connector, _gateway_url(settings, url), token, update_hz=float(settings.paper.update_hz),
        data_dir=settings.hub.data_dir,
    )  # fmt: skip


ati_app = typer.Typer(help="NinjaTrader 8 through ATI order files (no C# needed).", no_args_is_help=True)
app.add_typer(ati_app, name="ati")


def _ati_connector(ctx: typer.Context) -> Any:
    from enigma_apex.adapters.brokers.ati import AtiConnector, default_folder
    from enigma_apex.adapters.brokers.paper import paper_accounts

    settings = _load(ctx).settings
    cfg = settings.ati
    starts = paper_accounts(settings, cfg.name)  # the firm's start balance unless ati.start_balance says otherwise
    balances = {name: cfg.start_balance.get(name, start) for name, start in starts.items()}
    folder = cfg.folder or default_folder()
    connector = AtiConnector(
        balances, folder, _clock(), name=cfg.name, atm_template=cfg.atm_template, poll_ms=cfg.poll_ms,
        commission=cfg.commission,
    )  # fmt: skip
    return settings, connector


@ati_app.command("run")
def ati_run(ctx: typer.Context, url: _URL = None, token: _EXEC_TOKEN = "") -> None:
    """Trade the accounts whose executor is ati.name through NinjaTrader's incoming/outgoing folders."""
    settings, connector = _ati_connector(ctx)
    if not connector.accounts():
        raise _fail(f'no account has executor = "{settings.ati.name}"', 2)
    if not connector.incoming.parent.is_dir():
        raise _fail(f"{connector.incoming.parent} does not exist: set [ati] folder to NinjaTrader's user folder", 2)
    _run_executor(
        connector, _gateway_url(settings, url), token, update_hz=4.0,
        flatten_after=settings.ati.flatten_after_disconnect_s, data_dir=settings.hub.data_dir,
    )  # fmt: skip


@ati_app.command("flatten-everything")
def ati_flatten_everything(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: every account on every NinjaTrader connection.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Write FLATTENEVERYTHING: NinjaTrader cancels every order and closes every position, all accounts."""
    if not yes:
        raise _fail("this flattens every account on every NinjaTrader connection; add --yes to confirm", 2)
    _settings, connector = _ati_connector(ctx)
    connector.incoming.mkdir(parents=True, exist_ok=True)
    connector.flatten_everything()
    said = f"wrote FLATTENEVERYTHING to {connector.incoming}"
    _echo(json.dumps({"written": "FLATTENEVERYTHING", "folder": str(connector.incoming)}) if as_json else said)


@app.command()
def tradovate(ctx: typer.Context, url: _URL = None, token: _EXEC_TOKEN = "") -> None:
    """Trade the accounts whose executor is tradovate.name, through Tradovate's API (demo or live)."""
    from enigma_apex.adapters.brokers.tradovate import TradovateConnector, TradovateError

    settings = _load(ctx).settings
    cfg = settings.tradovate
    accounts = [a.name for a in settings.accounts if a.executor == cfg.name]
    if not accounts:
        raise _fail(f'no account has executor = "{cfg.name}"', 2)
    if not cfg.username or cfg.password is None:
        raise _fail("set tradovate.username and the secret tradovate.password (`enigma-apex secret set`)", 2)
    connector = TradovateConnector(cfg, accounts, _clock())
    try:
        _run_executor(
            connector, _gateway_url(settings, url), token, update_hz=4.0, flatten_after=cfg.flatten_after_disconnect_s,
            data_dir=settings.hub.data_dir,
        )  # fmt: skip
    except TradovateError as exc:
        raise _fail(f"tradovate: {exc}", 1) from None


@app.command()
def rithmic(ctx: typer.Context, url: _URL = None, token: _EXEC_TOKEN = "") -> None:
    """Trade the accounts whose executor is rithmic.name, through Rithmic's Protocol Buffer API."""
    from enigma_apex.adapters.brokers.rithmic import RithmicConnector, RithmicError

    settings = _load(ctx).settings
    cfg = settings.rithmic
    accounts = [a.name for a in settings.accounts if a.executor == cfg.name]
    if not accounts:
        raise _fail(f'no account has executor = "{cfg.name}"', 2)
    missing = cfg.missing()
    if missing:
        raise _fail(missing, 2)
    connector = RithmicConnector(cfg, accounts, _clock())
    try:
        _run_executor(
            connector, _gateway_url(settings, url), token, update_hz=4.0, flatten_after=cfg.flatten_after_disconnect_s,
            data_dir=settings.hub.data_dir,
        )  # fmt: skip
    except (RithmicError, OSError) as exc:
        raise _fail(f"rithmic: {exc}", 1) from None


@app.command()
def projectx(ctx: typer.Context, url: _URL = None, token: _EXEC_TOKEN = "") -> None:
    """Trade the accounts whose executor is projectx.name, through the ProjectX Gateway API (TopstepX and others)."""
    from enigma_apex.adapters.brokers.projectx import ProjectXConnector, ProjectXError

    settings = _load(ctx).settings
    cfg = settings.projectx
    accounts = [a.name for a in settings.accounts if a.executor == cfg.name]
    if not accounts:
        raise _fail(f'no account has executor = "{cfg.name}"', 2)
    if not cfg.username or cfg.api_key is None:
        raise _fail("set projectx.username and the secret projectx.api_key (`enigma-apex secret set`)", 2)
    connector = ProjectXConnector(cfg, accounts, _clock())
    try:
        _run_executor(
            connector, _gateway_url(settings, url), token, update_hz=4.0, flatten_after=cfg.flatten_after_disconnect_s,
            data_dir=settings.hub.data_dir,
        )  # fmt: skip
    except ProjectXError as exc:
        raise _fail(f"projectx: {exc}", 1) from None


nt_app = typer.Typer(help="NinjaTrader 8: the NinjaScript AddOn, indicator and strategy.", no_args_is_help=True)
app.add_typer(nt_app, name="ninjatrader")


@nt_app.command("package")
def ninjatrader_package(
    out: Annotated[Path, typer.Argument(help="The .zip to write.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Build the NinjaScript import archive (Tools > Import > NinjaScript Add-On; see docs/ninjatrader.md)."""
    from enigma_apex.adapters import ninjascript

    try:
        names = ninjascript.package(out)
    except FileNotFoundError as exc:
        raise _fail(str(exc), 1) from None
    if as_json:
        _echo(json.dumps({"written": str(out), "files": list(names)}))
        return
    _echo(f"wrote {out} ({len(names)} files)")
    for name in names:
        _echo(f"  {name}")


@app.command()
def dashboard(
    ctx: typer.Context,
    hub_url: Annotated[
        str | None, typer.Option("--hub-url", help="The hub's HTTP address (default: from the configuration).")
    ] = None,
    hub_ws: Annotated[
        str | None, typer.Option("--hub-ws", help="The hub's gateway address (default: from the configuration).")
    ] = None,
) -> None:
    """Run the Streamlit dashboard (`up` starts it): accounts, signals, manual entry, emergency stop."""
    import sys
    from importlib import resources

    from streamlit.web import cli as streamlit_cli

    settings = _load(ctx).settings
    cfg = settings.dashboard
    os.environ["ENIGMA_APEX_HUB_URL"] = hub_url or _hub_base(settings)
    running = _running_hub(settings) if hub_url is None else None
    ws = hub_ws or (running.ws if running is not None else None) or (None if hub_url else _gateway_url(settings, None))
    if ws:
        os.environ["ENIGMA_APEX_HUB_WS"] = ws  # the live feed: one gateway subscription per signed-in token
    os.environ["ENIGMA_APEX_DASHBOARD_REFRESH_S"] = str(cfg.refresh_s)
    script = Path(str(resources.files("enigma_apex.dashboard").joinpath("app.py")))
    sys.argv = [
        "streamlit", "run", str(script), "--server.address", cfg.host, "--server.port", str(cfg.port),
        "--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
        "--global.developmentMode", "false", "--theme.base", "light", "--client.toolbarMode", "minimal",
        # no full garbage collection after every run: the live parts re-run several times a second, and a full
        # collection after each one kept a core busy (measured with `bench dashboard`)
        "--runner.postScriptGC", "false",
    ]  # fmt: skip
    if cfg.tls_cert is not None and cfg.tls_key is not None:
        sys.argv += ["--server.sslCertFile", str(cfg.tls_cert), "--server.sslKeyFile", str(cfg.tls_key)]
    raise typer.Exit(streamlit_cli.main(standalone_mode=False) or 0)


# ---------------------------------------------------------------------------- ocr
Engine = Annotated[str | None, typer.Option(help="rapidocr or tesseract (default: [ocr] engine).")]


def _ocr_settings(ctx: typer.Context, engine: str | None, *, defaults_without_file: bool = False) -> Any:
    """The screen reader's settings. ``defaults_without_file``: with no configuration file (none named and none in
    the current folder), the defaults (reading a saved screenshot needs no hub and no configuration)."""
    from enigma_apex.config import loader

    named = (ctx.obj or {}).get("config") or os.environ.get("ENIGMA_APEX_CONFIG")
    path = _config_path(ctx)
    if defaults_without_file and not named and not path.exists():
        try:
            cfg = loader.load(None, require_file=False).settings.ocr
        except ConfigError as exc:
            _print_problems(exc)
            raise typer.Exit(2) from None
    else:
        cfg = _load(ctx).settings.ocr
    if engine is not None:
        if engine not in ("rapidocr", "tesseract"):
            raise _fail(f"--engine must be rapidocr or tesseract, got {engine!r}", 2)
        cfg = cfg.model_copy(update={"engine": engine})
    return cfg


def _print_reading(reading: Any, as_json: bool, extra: dict[str, Any] | None = None) -> None:
    body = {**reading.as_dict(), **(extra or {})}
    if as_json:
        _echo(json.dumps(body, indent=2))
        return
    _print_table(["field", "read"], [[key, "–" if value is None else str(value)] for key, value in body.items()],
                 header=False, wrap={1})  # fmt: skip


@ocr_app.command("read")
def ocr_read(
    ctx: typer.Context,
    image: Annotated[Path, typer.Argument(help="A screenshot of the Enigma panel (PNG, JPEG, ...).")],
    engine: Engine = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Read a saved screenshot of the Enigma panel: colour, direction, power, confluence, MACVU, price."""
    from PIL import Image, UnidentifiedImageError

    from enigma_apex.adapters.ocr import OCRError, make_engine
    from enigma_apex.app.ocr_reader import read_image

    cfg = _ocr_settings(ctx, engine, defaults_without_file=True)
    try:
        with Image.open(image) as opened:
            picture = opened.convert("RGB")
    except (OSError, UnidentifiedImageError) as exc:
        raise _fail(f"cannot open {image}: {exc}", 2) from None
    try:
        reading = read_image(picture, make_engine(cfg.engine, cfg.tesseract_cmd), cfg)
    except OCRError as exc:
        raise _fail(str(exc)) from None
    _print_reading(reading, as_json, {"engine": cfg.engine})


@ocr_app.command("calibrate")
def ocr_calibrate(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="Where to save the captured region.")] = Path("enigma-region.png"),
    image: Annotated[
        Path | None, typer.Option(help="A saved screenshot of the panel instead of capturing the screen.")
    ] = None,
    expect: Annotated[
        list[str] | None,
        typer.Option(
            help="What the panel shows, FIELD=VALUE (repeat): power=23, confluence=3, price=21012.25, macvu=bull, "
            "direction=long, symbol=MNQ. A field read otherwise gets a proposed pattern."
        ),
    ] = None,
    engine: Engine = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Capture the configured screen region once (or read --image), save it as PNG and print what was read from
    it; with --expect, check each field against what the panel shows and propose patterns for [ocr.patterns]."""
    from PIL import Image, UnidentifiedImageError

    from enigma_apex.adapters.ocr import OCRError, ScreenCapture, make_engine
    from enigma_apex.app.ocr_reader import read_image
    from enigma_apex.intake import calibration

    labels: dict[str, str] = {}
    for item in expect or []:
        name, sep, value = item.partition("=")
        if not sep or not value.strip():
            raise _fail(f"--expect takes FIELD=VALUE (e.g. power=23), not {item!r}", 2)
        labels[name.strip().lower()] = value
    try:
        expected = calibration.expected_values(labels)
    except calibration.LabelError as exc:
        raise _fail(f"--expect: {exc}", 2) from None
    cfg = _ocr_settings(ctx, engine, defaults_without_file=image is not None)
    region = cfg.region
    extra: dict[str, Any] = {"engine": cfg.engine}
    try:
        if image is not None:
            try:
                with Image.open(image) as opened:
                    picture = opened.convert("RGB")
            except (OSError, UnidentifiedImageError) as exc:
                raise _fail(f"cannot open {image}: {exc}", 2) from None
            extra["image"] = str(image)
        else:
            picture = ScreenCapture(region.left, region.top, region.width, region.height, cfg.monitor).grab()
            picture.save(out)
            extra.update(saved=str(out), region=region.model_dump())
        reading = read_image(picture, make_engine(cfg.engine, cfg.tesseract_cmd), cfg)
    except OCRError as exc:
        raise _fail(f"{exc} (region {region.model_dump()}, monitor {cfg.monitor})") from None
    if not expected:
        _print_reading(reading, as_json, extra)
        return
    checks = calibration.check(reading.text, reading.colour, cfg.patterns, expected)
    proposed = {c.field: c.proposal for c in checks if c.proposal}
    stuck = [c for c in checks if not c.ok and not c.proposal]
    if as_json:
        body = {**reading.as_dict(), **extra, "checks": [c.as_dict() for c in checks], "proposed": proposed}
        _echo(json.dumps(body, indent=2))
    else:
        _echo(f"read ({cfg.engine}): {reading.text!r}")
        _print_table(
            ["field", "panel shows", "read", "result"],
            [[c.field, c.expected, c.read or "nothing",
              "ok" if c.ok else ("pattern proposed" if c.proposal else "not fixed") + f": {c.note}"] for c in checks],
            wrap={3},
        )  # fmt: skip
        if proposed:
            _echo("\nput these in the configuration (each reads its field from this screenshot):\n[ocr.patterns]")
            for name, pattern in proposed.items():
                _echo(f"{name} = {json.dumps(pattern)}")
        elif not stuck:
            _echo("every field reads as the panel shows it")
    if stuck:
        raise typer.Exit(1)


# ---------------------------------------------------------------------------- protocol
@protocol_app.command("schema")
def protocol_schema(
    directory: Annotated[Path, typer.Argument(help="Folder to write one JSON Schema per message into.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Write the JSON Schema of every message type (docs/schema/ holds the current ones)."""
    from enigma_apex.protocol.codec import json_schemas

    directory.mkdir(parents=True, exist_ok=True)
    schemas = json_schemas()
    for name, schema in schemas.items():
        (directory / f"{name}.json").write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if as_json:
        _echo(json.dumps({"folder": str(directory), "schemas": sorted(schemas)}))
        return
    _echo(f"wrote {len(schemas)} schemas to {directory}")


# ---------------------------------------------------------------------------- benchmarks
@bench_app.command("store")
def bench_store(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    writes: Annotated[int, typer.Option(help="Writes in the group-commit burst.")] = 20000,
    sequential: Annotated[int, typer.Option(help="Writes in the one-commit-per-write run.")] = 2000,
    pg_url: Annotated[str | None, typer.Option(help="Also measure this PostgreSQL database.")] = None,
) -> None:
    """Database writer: writes/s and acknowledgement latency, one commit per write vs group commit."""
    from enigma_apex.bench import store

    with _bench_progress("bench store"):
        results = store.run(sequential_n=sequential, burst_n=writes, pg_url=pg_url)
    if as_json:
        _echo(json.dumps(results, indent=2))
        return
    for name, fig in results.items():
        seq, burst, paced = fig["one_write_per_commit"], fig["group_commit_burst"], fig["group_commit_paced"]
        _echo(f"{name}")
        _echo(f"  one commit per write: {seq['writes_per_s']:>6}/s, ack p50 {seq['p50_us']} us, p99 {seq['p99_us']} us")
        _echo(
            f"  group commit, burst:  {burst['writes_per_s']:>6}/s in {burst['commits']} commits "
            f"(x{fig['group_commit_speedup']})"
        )
        _echo(
            f"  group commit, {paced['rate_per_s']}/s steady: ack p50 {paced['p50_us']} us, p99 {paced['p99_us']} us "
            f"({paced['commits']} commits for {paced['writes']} writes)"
        )


@bench_app.command("rules")
def bench_rules(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    checks: Annotated[int, typer.Option(help="Pre-trade checks to time.")] = 20000,
) -> None:
    """Pre-trade check and mark-update time with 20 accounts loaded (p50/p99 in microseconds)."""
    from enigma_apex.bench import rules

    with _bench_progress("bench rules"):
        results = rules.run(checks=checks)
    if as_json:
        _echo(json.dumps(results, indent=2))
        return
    for name, fig in results.items():
        if isinstance(fig, dict):
            _echo(f"{name:<14} p50 {fig['p50_us']:>7} us   p99 {fig['p99_us']:>7} us   ({fig['n']} calls)")
        else:
            _echo(f"{name:<14} {fig}")


@bench_app.command("sizing")
def bench_sizing(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    calls: Annotated[int, typer.Option(help="Sizing calls to time.")] = 20000,
    paths: Annotated[int, typer.Option(help="Simulated paths for the simulator figure.")] = 10000,
) -> None:
    """Microseconds per sizing call (p50/p99) and the pass-probability simulator's paths per second."""
    from enigma_apex.bench import sizing

    with _bench_progress("bench sizing"):
        results = sizing.run(calls=calls, paths=paths)
    _echo(json.dumps(results, indent=2) if as_json else "\n".join(f"{k}: {v}" for k, v in results.items()))


@bench_app.command("gateway")
def bench_gateway(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    events: Annotated[int, typer.Option(help="Broadcast events per run.")] = 2000,
    updates: Annotated[int, typer.Option(help="account.update messages from the executors.")] = 2000,
    orders: Annotated[int, typer.Option(help="Orders dispatched.")] = 200,
    stops: Annotated[int, typer.Option(help="Emergency stops timed.")] = 20,
    signals: Annotated[int, typer.Option(help="Signals sent through the pipeline to an executor.")] = 200,
) -> None:
    """Broadcast deliveries/s (and the ratio to bare websockets), ingress, order dispatch, signal-to-order and
    stop latency."""
    from enigma_apex.bench import gateway

    with _bench_progress("bench gateway") as progress:
        try:
            results = gateway.run(events, updates, orders, stops, signals, progress=progress)
        except gateway.StalledError as exc:
            raise _fail(f"bench gateway: {exc}", 1) from None
    _echo(json.dumps(results, indent=2) if as_json else "\n".join(f"{k}: {v}" for k, v in results.items()))


@bench_app.command("scale")
def bench_scale(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    accounts: Annotated[str, typer.Option(help="Points: numbers of accounts, comma-separated.")] = "1,10,100,500",
    marks: Annotated[int, typer.Option(min=1, help="account.update messages per account.")] = 20,
    stops: Annotated[int, typer.Option(min=1, help="Emergency stops timed per point.")] = 5,
) -> None:
    """Cost per account: pre-trade check, marks/s, risk.update fan-out, emergency stop, hub memory and database
    growth, at each number of accounts (each point in a fresh process)."""
    from enigma_apex.bench import scale

    try:
        points = tuple(int(part) for part in accounts.split(","))
    except ValueError:
        raise _fail(f"--accounts takes numbers separated by commas, not {accounts!r}", 2) from None
    if not points or any(not 1 <= n <= 5000 for n in points):
        raise _fail("--accounts: each point is from 1 to 5000 accounts", 2)
    with _bench_progress("bench scale") as progress:
        try:
            results = scale.run(points, marks_per_account=marks, stops=stops, progress=progress)
        except scale.StalledError as exc:
            raise _fail(f"bench scale: {exc}", 1) from None
    if as_json:
        _echo(json.dumps(results, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("accounts", "pre-trade p99 µs", "marks/s", "risk.update/s", "stop p99 ms", "RSS MB", "DB/day/acct KB")
    for n, point in results["points"].items():
        table.add_row(
            n,
            str(point["pre_trade_check"]["p99_us"]),
            str(point["marks"]["per_s"]),
            str(point["risk_update_fanout"]["per_s"]),
            str(point["emergency_stop"]["p99_ms"]),
            str(point["hub_rss_mb"]),
            str(point["db_growth"]["per_account_day_kb"]),
        )
    Console().print(table)


@contextlib.contextmanager
def _bench_progress(title: str) -> Iterator[Callable[[str], None]]:
    """A Rich status line on stderr while a bench runs (only on a terminal: scripts get the figures alone)."""
    if not sys.stderr.isatty():
        yield lambda _phase: None
        return
    from rich.console import Console

    console = Console(stderr=True)
    with console.status(title) as status:

        def update(phase: str) -> None:
            status.update(f"{title}: {phase}")

        yield update


@bench_app.command("pipeline")
def bench_pipeline(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    alerts: Annotated[int, typer.Option(min=1, help="Alerts with the AI analyst off.")] = 200,
    ai_alerts: Annotated[int, typer.Option(min=1, help="Alerts with the loopback model.")] = 30,
    model_delay_ms: Annotated[float, typer.Option(min=0, help="The loopback model's answer time.")] = 200,
    reversals: Annotated[int, typer.Option(min=1, help="Strategy reversals through the paper broker.")] = 100,
) -> None:
    """TradingView webhook POST -> order.place at a connected executor, p50/p99: AI off, and a loopback model;
    a strategy reversal -> close filled -> entry at the paper broker."""
    from enigma_apex.bench import pipeline

    _bench_quiet()
    with _bench_progress("bench pipeline"):
        results = pipeline.run(alerts, ai_alerts, model_delay_ms, reversals)
    _echo(json.dumps(results, indent=2) if as_json else "\n".join(f"{k}: {v}" for k, v in results.items()))


@bench_app.command("execution")
def bench_execution(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    orders: Annotated[int, typer.Option(min=1, help="Orders per executor.")] = 200,
    executor: Annotated[
        list[str] | None,
        typer.Option(help="paper, ati, tradovate, rithmic, projectx or csharp (repeatable; default: all)."),
    ] = None,
) -> None:
    """Order round trip (place -> ack -> fill) per executor over loopback, and the ATI file round trip."""
    from enigma_apex.bench import execution

    _bench_quiet()
    kinds = tuple(executor or execution.KINDS)
    unknown = sorted(set(kinds) - set(execution.KINDS))
    if unknown:
        raise _fail(f"unknown executor {unknown[0]!r}; known: {', '.join(execution.KINDS)}", 2)
    with _bench_progress("bench execution") as progress:
        result = execution.run(orders, kinds, progress=progress)
    if as_json:
        _echo(json.dumps(result, indent=2))
        return
    for kind, figures in result["round_trip"].items():
        if "skipped" in figures:
            _echo(f"{kind:<10} skipped: {figures['skipped']}")
        else:
            _echo(f"{kind:<10} place -> fill p50 {figures['p50_ms']} ms  p99 {figures['p99_ms']} ms")
    files = result["ati_file_round_trip"]
    p50, p99, poll = files["p50_ms"], files["p99_ms"], files["poll_ms"]
    _echo(f"ATI files  write -> state read p50 {p50} ms  p99 {p99} ms (poll {poll} ms)")
    for name, ratio in result["ratio_to_published"].items():
        _echo(f"{name}: {ratio}")


@bench_app.command("dashboard")
def bench_dashboard(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    updates: Annotated[int, typer.Option(min=1, help="Account updates to time.")] = 30,
) -> None:
    """Account update at the hub -> value visible in a browser (p50/p99), and the dashboard's memory."""
    from enigma_apex.bench import dashboard

    _bench_quiet()
    with _bench_progress("bench dashboard"):
        result = dashboard.run(updates)
    if as_json:
        _echo(json.dumps(result, indent=2))
    elif "skipped" in result:
        _echo(f"skipped: {result['skipped']}")
    else:
        _echo(
            f"update -> visible p50 {result['p50_ms']} ms  p99 {result['p99_ms']} ms (refresh {result['refresh_s']} s)"
        )
        rss, ratio = result["dashboard_rss_mb"], result["p50_vs_budget"]
        _echo(f"dashboard resident memory {rss} MB; p50 / 500 ms budget = {ratio}")
        _echo(
            f"{result['accounts']} accounts, {result['browsers']} browsers watching: hub CPU {result['hub_cpu_pct']}%"
        )


@bench_app.command("ocr")
def bench_ocr(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    engine: Annotated[str, typer.Option(help="rapidocr or tesseract.")] = "rapidocr",
    count: Annotated[int | None, typer.Option(min=1, help="Read this many panels of the set (default: all).")] = None,
) -> None:
    """Field accuracy and time per frame on the rendered Enigma panel set (fonts, sizes, colours, noise)."""
    from enigma_apex.adapters.ocr import OCRError
    from enigma_apex.bench import ocr

    if engine not in ("rapidocr", "tesseract"):
        raise _fail(f"--engine must be rapidocr or tesseract, got {engine!r}", 2)
    try:
        with _bench_progress("bench ocr"):
            results = ocr.run(engine, count)
    except OCRError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        _echo(json.dumps(results, indent=2))
        return
    for key, value in results.items():
        if key != "misses":
            _echo(f"{key}: {value}")
    for miss in results["misses"][:5]:
        _echo(f"miss: {miss['text']!r} read {miss['read']!r} ({', '.join(miss['wrong'])})")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
