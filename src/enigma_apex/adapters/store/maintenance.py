"""Backup, optimise and verify the database."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.engine import URL, make_url

from enigma_apex.adapters.store import audit, integrity, migrate
from enigma_apex.adapters.store.engine import is_sqlite
from enigma_apex.errors import StoreError


def backup(engine: Engine, destination: Path) -> Path:
    """A consistent copy taken while the hub runs: SQLite's online backup API, or pg_dump."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    url = engine.url
    if is_sqlite(url.render_as_string(hide_password=False)):
        tmp = destination.with_name(destination.name + ".part")
        tmp.unlink(missing_ok=True)
        raw = engine.raw_connection()
        try:
            source = raw.driver_connection
            if not isinstance(source, sqlite3.Connection):
                raise StoreError("the SQLite online backup needs the sqlite3 driver")
            target = sqlite3.connect(tmp)
            try:
                source.backup(target)
            finally:
                target.close()
        finally:
            raw.close()
        tmp.replace(destination)
        return destination
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise StoreError("pg_dump is not installed; install the PostgreSQL client tools to back up PostgreSQL")
    plain = make_url(url.render_as_string(hide_password=False)).set(drivername="postgresql")
    env = {"PGPASSWORD": plain.password or ""} if plain.password else {}
    import os

    args = [
        pg_dump,
        "--format=custom",
        f"--file={destination}",
        "--dbname",
        _without_password(plain),
    ]
    result = subprocess.run(args, capture_output=True, text=True, env={**os.environ, **env}, check=False)  # noqa: S603
    if result.returncode != 0:
        raise StoreError(f"pg_dump failed: {result.stderr.strip()}")
    return destination


def _without_password(url: URL) -> str:
    """The URL for a PostgreSQL client's command line: the password goes in PGPASSWORD, never into argv (where any
    local user could read it)."""
    return url._replace(password=None).render_as_string(hide_password=False)


def restore_dump(engine: Engine, dump: Path) -> None:
    """A pg_dump archive restored over the PostgreSQL database (pg_restore --clean --if-exists, in one
    transaction: a failure leaves the database as it was)."""
    pg_restore = shutil.which("pg_restore")
    if pg_restore is None:
        raise StoreError("pg_restore is not installed; install the PostgreSQL client tools to restore PostgreSQL")
    plain = make_url(engine.url.render_as_string(hide_password=False)).set(drivername="postgresql")
    env = {"PGPASSWORD": plain.password or ""} if plain.password else {}
    import os

    engine.dispose()  # no connection of ours holds a lock the restore needs
    args = [
        pg_restore, "--clean", "--if-exists", "--no-owner", "--single-transaction", "--exit-on-error",
        "--dbname", _without_password(plain), str(dump),
    ]  # fmt: skip
    result = subprocess.run(args, capture_output=True, text=True, env={**os.environ, **env}, check=False)  # noqa: S603
    if result.returncode != 0:
        raise StoreError(f"pg_restore failed: {result.stderr.strip()[:500]}")


def rotate(folder: Path, prefix: str, keep: int) -> list[Path]:
    """Delete the oldest backups named ``prefix*`` beyond ``keep``; returns what was deleted."""
    files = sorted(folder.glob(f"{prefix}*"), key=lambda p: p.stat().st_mtime, reverse=True)
    removed = files[keep:]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def backup_name(prefix: str, now: datetime, suffix: str) -> str:
    return f"{prefix}{now.strftime('%Y%m%dT%H%M%S%fZ')}{suffix}"


def optimize(engine: Engine, *, full: bool = True) -> list[str]:
    """Refresh planner statistics and reclaim space. Returns the statements run.

    ``full=False`` is the light form the running hub schedules daily: statistics where SQLite thinks they are
    stale and a checkpoint that never waits for readers, so writes are not held up. ``full`` adds VACUUM, which
    locks the database for as long as it copies it (run it with the hub stopped)."""
    if engine.dialect.name == "sqlite":
        if full:
            statements = ["PRAGMA optimize", "ANALYZE", "VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)"]
        else:
            statements = ["PRAGMA analysis_limit=400", "PRAGMA optimize", "PRAGMA wal_checkpoint(PASSIVE)"]
    else:
        statements = ["VACUUM (ANALYZE)"] if full else ["ANALYZE"]
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for statement in statements:
            conn.execute(text(statement))
    return statements


@dataclass
class VerifyReport:
    revision: str | None
    head: str
    audit: audit.ChainReport
    foreign_key_problems: list[str] = field(default_factory=list)
    integrity_problems: list[str] = field(default_factory=list)
    anchor_problems: list[str] = field(default_factory=list)
    seal_problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.audit.ok
            and not self.foreign_key_problems
            and not self.integrity_problems
            and not self.anchor_problems
            and not self.seal_problems
            and self.revision == self.head
        )

    @property
    def problems(self) -> list[str]:
        """Every problem, one line each (what `up` refuses to start on, what `db accept` records)."""
        out = (
            [] if self.audit.ok else [f"audit log: first broken row {self.audit.first_broken_id}: {self.audit.problem}"]
        )
        return out + self.anchor_problems + self.seal_problems + self.foreign_key_problems + self.integrity_problems

    def lines(self) -> list[str]:
        out = [f"schema revision: {self.revision or '(none)'} (latest {self.head})"]
        if self.revision != self.head:
            out.append("  PROBLEM: the schema is not up to date; run `enigma-apex db upgrade`")
        out.append(f"audit log: {self.audit.rows} row(s) checked")
        if not self.audit.ok:
            out.append(f"  PROBLEM: first broken row {self.audit.first_broken_id}: {self.audit.problem}")
        out.append(f"anchor: {'ok' if not self.anchor_problems else 'PROBLEMS'}")
        out += [f"  PROBLEM: {p}" for p in self.anchor_problems]
        out.append(
            f"sealed rows (orders, fills, account state, state changes, tokens): {len(self.seal_problems)} problem(s)"
        )
        out += [f"  PROBLEM: {p}" for p in self.seal_problems[:20]]
        if len(self.seal_problems) > 20:
            out.append(f"  ... and {len(self.seal_problems) - 20} more")
        out.append(f"foreign keys: {len(self.foreign_key_problems)} problem(s)")
        out += [f"  PROBLEM: {p}" for p in self.foreign_key_problems[:20]]
        out.append(f"integrity: {'ok' if not self.integrity_problems else 'PROBLEMS'}")
        out += [f"  PROBLEM: {p}" for p in self.integrity_problems[:20]]
        return out


def verify(engine: Engine, key: bytes | None = None, anchor: Path | None = None) -> VerifyReport:
    """The whole database: the audit chain (with the key when it is keyed), its anchor (``anchor``: the file),
    every sealed row of the trusted tables, foreign keys and the storage's own integrity check."""
    revision = migrate.current_revision(engine)
    with engine.connect() as conn:
        chain = audit.verify_chain(conn, key) if revision is not None else audit.ChainReport(0, None, "")
        anchor_problems = [] if anchor is None or revision is None else integrity.check_anchor(conn, anchor, key)
        seal_problems = integrity.verify_seals(conn) if revision is not None and audit.count_rows(conn) else []
        fk: list[str] = []
        problems: list[str] = []
        if engine.dialect.name == "sqlite":
            for row in conn.exec_driver_sql("PRAGMA foreign_key_check").all():
                fk.append(f"table {row[0]} rowid {row[1]} refers to a missing row of {row[2]}")
            for row in conn.exec_driver_sql("PRAGMA quick_check").all():
                if row[0] != "ok":
                    problems.append(str(row[0]))
        else:  # PostgreSQL enforces foreign keys; report constraints that were added NOT VALID
            for row in conn.execute(text("SELECT conname FROM pg_constraint WHERE contype = 'f' AND NOT convalidated")):
                fk.append(f"constraint {row[0]} is not validated")
    return VerifyReport(revision, migrate.head_revision(), chain, fk, problems, anchor_problems, seal_problems)
