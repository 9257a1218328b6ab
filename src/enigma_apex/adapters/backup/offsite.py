"""Backups in a target (``targets``): taken, listed, pruned, checked and restored.

A backup is two objects: the database copy (``enigma-apex-<UTC time>-<label>.db`` for SQLite, ``.dump`` for
PostgreSQL's custom format; ``.eab`` appended when encrypted) and its manifest (the same name + ``.json``), written
**last**: what it describes (size, SHA-256 of the stored bytes, the key's fingerprint, the schema revision, the
audit log's row count and head) is complete once the manifest exists. An object without its manifest, or one
whose size differs from it, is listed as ``incomplete`` and never counted, restored or kept by retention.

Restoring checks the stored bytes against the manifest, decrypts, opens the copy and verifies its audit chain,
seals and schema (a schema this version does not know is refused) before anything in the data folder changes; the
database it replaces (with its WAL files and the audit anchor) is kept aside, renamed ``*.replaced-<time>``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from enigma_apex.adapters.backup import crypto
from enigma_apex.adapters.backup.targets import Target
from enigma_apex.adapters.store import audit, integrity, maintenance, migrate
from enigma_apex.adapters.store.engine import is_sqlite, make_engine
from enigma_apex.errors import StoreError

MANIFEST = ".json"
ENCRYPTED = ".eab"
NAME = re.compile(r"^enigma-apex-(\d{8}T\d{12}Z)-([a-z]+)\.(db|dump)(\.eab)?$")
FORMAT = 1


@dataclass(frozen=True)
class Manifest:
    name: str
    created: str  # ISO 8601, UTC
    label: str  # daily (housekeeping) or manual (`db backup --to`)
    kind: str  # sqlite or postgres
    size: int  # bytes stored
    sha256: str  # of the bytes stored
    key: str | None  # the encryption key's fingerprint; None: stored in clear
    schema: str | None  # the Alembic revision of the copy
    audit_rows: int
    audit_head: str
    format: int = FORMAT

    @classmethod
    def parse(cls, raw: bytes) -> Manifest:
        data = json.loads(raw)
        fields = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in fields})


@dataclass(frozen=True)
class Listed:
    name: str
    created: datetime
    size: int
    state: str  # complete | incomplete (no manifest, or a size that differs from it)
    manifest: Manifest | None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "created": self.created.isoformat(),
            "size": self.size,
            "state": self.state,
            "encrypted": self.manifest is not None and self.manifest.key is not None,
            "schema": None if self.manifest is None else self.manifest.schema,
            "audit_rows": None if self.manifest is None else self.manifest.audit_rows,
        }


def backup_name(now: datetime, label: str, kind: str, encrypted: bool) -> str:
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"enigma-apex-{stamp}-{label}.{'db' if kind == 'sqlite' else 'dump'}" + (ENCRYPTED if encrypted else "")


@contextmanager
def _work(parent: Path | None) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="enigma-apex-backup-", dir=parent) as folder:
        yield Path(folder)


def push(
    engine: Engine, target: Target, key: bytes | None, now: datetime, *, label: str = "manual", work: Path | None = None
) -> Manifest:
    """A consistent copy of the database (SQLite's online backup, or pg_dump), encrypted when ``key`` is given,
    stored in ``target`` with its manifest last. A failure leaves no manifest (and removes what was stored)."""
    kind = "sqlite" if is_sqlite(engine.url.render_as_string(hide_password=False)) else "postgres"
    with _work(work) as folder:
        plain = maintenance.backup(engine, folder / ("copy.db" if kind == "sqlite" else "copy.dump"))
        return push_copy(plain, engine, target, key, now, label=label, work=folder)


def push_copy(
    plain: Path, engine: Engine, target: Target, key: bytes | None, now: datetime, *, label: str, work: Path | None
) -> Manifest:
    """``push`` for a copy already taken (the daily backup): ``engine`` is the database it was taken from."""
    kind = "sqlite" if is_sqlite(engine.url.render_as_string(hide_password=False)) else "postgres"
    name = backup_name(now, label, kind, key is not None)
    with _work(work) as folder:
        schema, rows, head = _describe(plain if kind == "sqlite" else None, engine)
        stored = plain
        if key is not None:
            stored = folder / "copy.eab"
            crypto.encrypt_file(plain, stored, key)
        manifest = Manifest(
            name=name, created=now.astimezone(UTC).isoformat(), label=label, kind=kind,
            size=stored.stat().st_size, sha256=crypto.sha256_file(stored),
            key=None if key is None else crypto.fingerprint(key), schema=schema, audit_rows=rows, audit_head=head,
        )  # fmt: skip
        try:
            target.put(name, stored)
            target.put_bytes(name + MANIFEST, json.dumps(asdict(manifest), indent=1).encode())
        except StoreError:
            with contextlib.suppress(StoreError):  # unreachable: the object (if any) has no manifest, listed incomplete
                target.delete(name)
            raise
    return manifest


def status(offsite: str | None, last: datetime | None, now: datetime, max_age_h: int) -> dict[str, Any]:
    """What ``/health`` and ``doctor`` say of off-site backups: the target, the newest one's time and age, and
    whether it is older than ``max_age_h`` (or missing while a target is set)."""
    age_h = None if last is None else round((now - last).total_seconds() / 3600, 1)
    return {
        "offsite": offsite,
        "last": None if last is None else last.isoformat(timespec="seconds"),
        "age_h": age_h,
        "stale": offsite is not None and (age_h is None or age_h > max_age_h),
    }


def _describe(copy: Path | None, live: Engine) -> tuple[str | None, int, str]:
    """Schema revision, audit rows and head hash: of the SQLite copy itself, or of the live PostgreSQL database."""
    engine = make_engine(f"sqlite:///{copy.as_posix()}") if copy is not None else live
    try:
        with engine.connect() as conn:
            head = audit.ChainHead.load(conn)
            rows = audit.count_rows(conn)
        return migrate.current_revision(engine), rows, head.last_hash
    finally:
        if copy is not None:
            engine.dispose()


def listing(target: Target) -> list[Listed]:
    """Every backup in the target, oldest first, each ``complete`` or ``incomplete``."""
    objects = {o.name: o for o in target.list()}
    out = []
    for name, obj in objects.items():
        found = NAME.match(name)
        if found is None:
            continue
        manifest = None
        if name + MANIFEST in objects:
            try:
                manifest = Manifest.parse(target.get_bytes(name + MANIFEST))
            except (ValueError, TypeError):
                manifest = None
        state = (
            "complete" if manifest is not None and manifest.size == obj.size and manifest.name == name else "incomplete"
        )
        created = datetime.strptime(found.group(1), "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)
        out.append(Listed(name, created, obj.size, state, manifest))
    return sorted(out, key=lambda b: b.created)


def expired(backups: list[Listed], keep_daily: int, keep_weekly: int) -> list[str]:
    """Complete backups retention no longer keeps: the newest of each of the last ``keep_daily`` days that have
    one, and the newest of each of the last ``keep_weekly`` ISO weeks, are kept; so is the newest backup always.
    Incomplete objects older than a day go too (an upload that never finished)."""
    complete = sorted((b for b in backups if b.state == "complete"), key=lambda b: b.created, reverse=True)
    keep: set[str] = set()
    if complete:
        keep.add(complete[0].name)
    days: dict[date, str] = {}
    weeks: dict[tuple[int, int], str] = {}
    for b in complete:  # newest first: the first seen of a day or week is its newest
        days.setdefault(b.created.date(), b.name)
        weeks.setdefault(b.created.isocalendar()[:2], b.name)
    keep.update(list(days.values())[:keep_daily])
    keep.update(list(weeks.values())[:keep_weekly])
    gone = [b.name for b in complete if b.name not in keep]
    if complete:
        newest = complete[0].created
        gone += [b.name for b in backups if b.state == "incomplete" and newest - b.created > timedelta(days=1)]
    return sorted(gone)


def prune(target: Target, keep_daily: int, keep_weekly: int) -> list[str]:
    removed = expired(listing(target), keep_daily, keep_weekly)
    for name in removed:
        target.delete(name + MANIFEST)
        target.delete(name)
    return removed


def fetch(target: Target, name: str, key: bytes | None, folder: Path) -> tuple[Manifest, Path]:
    """The backup downloaded, checked against its manifest and decrypted into ``folder``: (manifest, plain file)."""
    found = {b.name: b for b in listing(target)}.get(name)
    if found is None:
        raise StoreError(f"no backup named {name!r} in {target.url}")
    if found.state != "complete" or found.manifest is None:
        raise StoreError(
            f"{name} is incomplete in {target.url} (no manifest, or not the size it records): not a backup"
        )
    manifest = found.manifest
    stored = folder / "stored"
    target.get(name, stored)
    if crypto.sha256_file(stored) != manifest.sha256:
        raise StoreError(f"{name}: the stored bytes differ from its manifest's SHA-256 (altered or damaged)")
    plain = folder / ("plain.db" if manifest.kind == "sqlite" else "plain.dump")
    if manifest.key is None:
        stored.replace(plain)
        return manifest, plain
    if key is None:
        raise StoreError(f"{name} is encrypted (key {manifest.key}): set backup.key to restore it")
    if crypto.fingerprint(key) != manifest.key:
        raise StoreError(
            f"{name} was encrypted with key {manifest.key}, not with backup.key ({crypto.fingerprint(key)})"
        )
    crypto.decrypt_file(stored, plain, key)
    return manifest, plain


def check_copy(plain: Path, audit_key: bytes | None) -> list[str]:
    """What is wrong with a SQLite copy: an unknown schema, a broken audit chain or seal, a failed integrity check."""
    engine = make_engine(f"sqlite:///{plain.as_posix()}")
    try:
        revision = migrate.current_revision(engine)
        if revision is None:
            return ["the copy has no schema revision: not an Enigma-Apex database"]
        if not migrate.known_revision(revision):
            return [f"the copy's schema {revision} is newer than this version knows (upgrade enigma-apex first)"]
        report = maintenance.verify(engine, audit_key)
        return list(report.problems)
    except Exception as exc:  # noqa: BLE001 - a file that is no database at all is a problem to report
        return [f"the copy cannot be read as a database: {exc}"]
    finally:
        engine.dispose()


def restore_sqlite(plain: Path, database: Path, anchor: Path, audit_key: bytes | None, now: datetime) -> list[Path]:
    """Put a checked copy in place of ``database``: the database, its WAL files and the audit anchor are renamed
    ``*.replaced-<time>`` first (returned), then the copy is moved in and a fresh anchor written for its chain."""
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    kept = []
    for path in (database, database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm"),
                 anchor):  # fmt: skip
        if path.exists():
            aside = path.with_name(f"{path.name}.replaced-{stamp}")
            os.replace(path, aside)
            kept.append(aside)
    database.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(plain), str(database))
    engine = make_engine(f"sqlite:///{database.as_posix()}")
    try:
        with engine.connect() as conn:
            head = audit.ChainHead.load(conn)
            keyed_from = audit.first_keyed(conn)
        if head.last_id:
            integrity.write_anchor(anchor, integrity.Anchor(head.last_id, head.last_hash, keyed_from).signed(audit_key))
    finally:
        engine.dispose()
    return kept
