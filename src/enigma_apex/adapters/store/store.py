"""The store component: engine + migrations + the single writer, opened and closed as one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from enigma_apex.adapters.store import audit, integrity, maintenance, migrate
from enigma_apex.adapters.store.engine import Checkpointer, is_sqlite, make_engine, sqlite_path
from enigma_apex.adapters.store.writer import GroupCommitWriter
from enigma_apex.config.models import Settings
from enigma_apex.domain.clock import Clock


@dataclass
class UpgradeResult:
    before: str | None
    after: str
    backup: Path | None = None


@dataclass
class Store:
    engine: Engine
    writer: GroupCommitWriter
    backups_dir: Path
    keep: int
    on_health_change: list[Callable[[bool, str], None]] = field(default_factory=list)
    anchor_path: Path | None = None  # the audit chain's anchor file (None: not kept)
    instance_lock: Any = None  # the data folder's lock when this process took it (released on close)
    checkpointer: Checkpointer | None = None  # SQLite: folds the write-ahead log back, off the commit path

    @classmethod
    def open(cls, settings: Settings, clock: Clock) -> Store:
        db = settings.database
        engine = make_engine(
            settings.database_url,
            synchronous=db.sqlite_synchronous,
            busy_timeout_ms=db.sqlite_busy_timeout_ms,
            auto_checkpoint=False,  # the checkpointer thread folds the log back (started with the writer)
        )
        store: Store
        listeners: list[Callable[[bool, str], None]] = []

        def notify(ok: bool, message: str) -> None:
            for listener in listeners:
                listener(ok, message)

        writer = GroupCommitWriter(
            engine, clock, linger_s=db.group_commit_ms / 1000, max_batch=db.max_batch, on_health_change=notify
        )
        writer.key = db.audit_key_bytes
        anchor = integrity.anchor_path(settings.hub.data_dir)
        store = cls(engine, writer, settings.hub.data_dir / "backups", db.backup_keep, listeners, anchor)
        return store

    def upgrade(self, clock: Clock, *, backup_first: bool = True) -> UpgradeResult:
        """Migrate to the latest schema, backing the database up first when it already holds data."""
        before = migrate.current_revision(self.engine)
        taken: Path | None = None
        if before != migrate.head_revision() and before is not None and backup_first:
            taken = self.backup_now(clock, prefix=f"pre-upgrade-{before}-")
        after = migrate.upgrade(self.engine)
        return UpgradeResult(before, after, taken)

    def backup_now(self, clock: Clock, prefix: str = "backup-") -> Path:
        suffix = ".db" if self.engine.dialect.name == "sqlite" else ".pgdump"
        target = self.backups_dir / maintenance.backup_name(prefix, clock.now(), suffix)
        maintenance.backup(self.engine, target)
        maintenance.rotate(self.backups_dir, prefix, self.keep)
        return target

    def start(self) -> None:
        self.writer.start(self.anchor_path)
        if is_sqlite(self.engine.url.render_as_string(hide_password=False)) and self.checkpointer is None:
            self.checkpointer = Checkpointer(self.engine, lambda: self.writer.committed, self.writer.last_write)
            self.checkpointer.start()

    def integrity_problems(self) -> list[str]:
        """What the hub checks before it writes: the anchor against the log, the rows written since the anchor
        (chained), and the account state it is about to load (sealed). Empty: nothing found."""
        with self.engine.connect() as conn:
            if migrate.current_revision(self.engine) is None:
                return []
            key = self.writer.key
            problems = [] if self.anchor_path is None else integrity.check_anchor(conn, self.anchor_path, key)
            found = None if self.anchor_path is None else integrity.read_anchor(self.anchor_path)
            after = audit.ChainHead(found.head_id, found.head_hash) if isinstance(found, integrity.Anchor) else None
            if problems:
                after = None  # walk the whole chain to name the first row at fault
            chain = audit.verify_chain(conn, key, after=after)
            if not chain.ok:
                problems.append(f"audit log: first broken row {chain.first_broken_id}: {chain.problem}")
            if integrity.has_baseline(conn):
                problems += integrity.verify_table(conn, "account_state")
            return problems

    def close(self) -> None:
        self.writer.close()
        if self.checkpointer is not None:
            self.checkpointer.stop()
            self.checkpointer.checkpoint()  # the log folded back before the file is left
            self.checkpointer = None
        self.engine.dispose()
        if self.instance_lock is not None:
            self.instance_lock.release()
            self.instance_lock = None

    @property
    def sqlite_file(self) -> Path | None:
        return sqlite_path(self.engine.url.render_as_string(hide_password=False))
