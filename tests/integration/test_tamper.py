"""Tamper evidence that holds: a log cut short, a history re-hashed with the published formula, a re-hash with
a forged anchor when the log is keyed, and edits to the tables the hub trusts (fills, account state) all fail
`db verify` naming what is at fault, and the hub refuses to start on them; `db accept` records a checked
database as it is."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from enigma_apex import bootstrap
from enigma_apex.adapters.clock import SystemClock
from enigma_apex.adapters.store import audit, integrity
from enigma_apex.adapters.store.types import iso_utc
from enigma_apex.cli import app
from enigma_apex.config import loader
from enigma_apex.errors import IntegrityError

KEY = "an-audit-key-kept-in-the-keyring-0123"


def setup(tmp_path: Path, key: str | None = None) -> tuple[Path, dict[str, str]]:
    """A data folder whose hub recorded a day: accounts, tokens, orders and fills (through the real store)."""
    from datetime import UTC, datetime
    from decimal import Decimal

    from enigma_apex.adapters.store import repository, tokens
    from enigma_apex.domain.orders import Fill, OrderIntent, Side
    from enigma_apex.domain.symbols import Contract

    config = tmp_path / "enigma-apex.toml"
    config.write_text(
        f'[hub]\ndata_dir = "{(tmp_path / "data").as_posix()}"\nuse_keyring = false\n'
        "allow_plaintext_secrets = true\n[dashboard]\nenabled = false\n"
        + (f'[database]\naudit_key = "{key}"\n' if key else "")
        + '[[accounts]]\nname = "PAPER-1"\nprofile = "apex4-intraday-eval-50k"\n'
    )
    env = {"ENIGMA_APEX__HUB__USE_KEYRING": "false"}
    settings = loader.load(config, environ=env).settings
    store, _ = bootstrap.open_store(settings, SystemClock(), lock="test")
    mnq = Contract("MNQ", 2026, 12)
    try:
        store.writer.write(lambda ctx: tokens.create_token(ctx, name="board", role="dashboard"))
        for n in range(3):
            key_n = f"k{n}"
            store.writer.write(
                lambda ctx, k=key_n: repository.insert_order(
                    ctx, OrderIntent(k, "PAPER-1", mnq, Side.BUY, 1), executor="paper"
                )
            )
            fill = Fill(f"F{n}", key_n, "PAPER-1", mnq, Side.BUY, 1, Decimal("21000.25"), Decimal("0.5"),
                        datetime(2026, 12, 1, 15, n, tzinfo=UTC))  # fmt: skip
            store.writer.write(lambda ctx, f=fill: repository.insert_fill(ctx, f, "paper"))
        guardian = bootstrap.build_guardian(settings, store, SystemClock())
        guardian.bootstrap("PAPER-1", peak=Decimal(50500), balance=Decimal(50400))
    finally:
        store.close()
    return config, env


def verify(config: Path, env: dict[str, str]):
    return CliRunner().invoke(app, ["-c", str(config), "db", "verify"], env=env)


def start(config: Path, env: dict[str, str]) -> None:
    """What `up` does with the database before anything else (raises IntegrityError on tampering)."""
    settings = loader.load(config, environ=env).settings
    store, _ = bootstrap.open_store(settings, SystemClock(), lock="test", verify=True)
    store.close()


def db(config: Path) -> sqlite3.Connection:
    return sqlite3.connect(config.parent / "data" / "enigma-apex.db")


def rehash_from(conn: sqlite3.Connection, first: int, key: bytes | None = None) -> None:
    """What someone holding the published formula (and, with ``key``, the key) does to hide an edit."""
    rows = conn.execute(
        "SELECT id, ts, kind, account_id, actor, payload FROM audit_log WHERE id >= ? ORDER BY id", (first,)
    ).fetchall()
    prev = conn.execute("SELECT hash FROM audit_log WHERE id = ?", (first - 1,)).fetchone()
    prev_hash = prev[0] if prev else audit.GENESIS
    for row_id, ts, kind, account, actor, payload in rows:
        from datetime import datetime

        digest = audit.row_hash(
            prev_hash, row_id, iso_utc(datetime.fromisoformat(ts)), kind, account, actor, payload, key
        )
        conn.execute("UPDATE audit_log SET prev_hash = ?, hash = ? WHERE id = ?", (prev_hash, digest, row_id))
        prev_hash = digest
    conn.commit()


def test_an_untouched_database_verifies_and_starts(tmp_path):
    config, env = setup(tmp_path)
    result = verify(config, env)
    assert result.exit_code == 0, result.output
    assert "sealed rows" in result.output and "anchor: ok" in result.output
    start(config, env)


def test_a_log_cut_short_is_named(tmp_path):
    config, env = setup(tmp_path)
    with db(config) as conn:
        last = conn.execute("SELECT MAX(id) FROM audit_log").fetchone()[0]
        conn.execute("DELETE FROM audit_log WHERE id > ?", (last - 3,))
    result = verify(config, env)
    assert result.exit_code == 1
    assert f"ends at row {last - 3} but the anchor names row {last}" in result.output
    with pytest.raises(IntegrityError, match="were deleted"):
        start(config, env)
    refused = CliRunner().invoke(app, ["-c", str(config), "up"], env=env)
    assert refused.exit_code == 2 and "integrity check" in refused.output and "db accept" in refused.output


def test_a_history_rehashed_with_the_published_formula_is_named(tmp_path):
    config, env = setup(tmp_path)
    with db(config) as conn:
        target = conn.execute("SELECT id FROM audit_log WHERE kind = 'fill' ORDER BY id LIMIT 1").fetchone()[0]
        conn.execute("UPDATE audit_log SET payload = replace(payload, '21000.25', '21100.25') WHERE id = ?", (target,))
        conn.commit()
        rehash_from(conn, target)
    result = verify(config, env)
    assert result.exit_code == 1 and "re-hashed" in result.output, result.output
    with pytest.raises(IntegrityError):
        start(config, env)


def test_with_a_key_a_rehash_and_a_forged_anchor_still_fail(tmp_path):
    config, env = setup(tmp_path, KEY)
    with db(config) as conn:
        assert conn.execute("SELECT COUNT(*) FROM audit_log WHERE kind = 'audit.keyed'").fetchone()[0] == 1
        conn.execute("UPDATE audit_log SET payload = '{}' WHERE kind = 'token.created'")
        conn.commit()
        rehash_from(conn, 1)  # the whole log, unkeyed, with the published formula
        head = conn.execute("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    anchor = integrity.anchor_path(config.parent / "data")
    forged = json.loads(anchor.read_text())
    anchor.write_text(json.dumps({**forged, "head_id": head[0], "head_hash": head[1], "mac": None}))
    result = verify(config, env)
    assert result.exit_code == 1
    assert "MAC" in result.output and "content does not match its hash" in result.output, result.output


def test_edits_to_trusted_tables_are_named_and_the_hub_refuses_the_edited_state(tmp_path):
    config, env = setup(tmp_path)
    with db(config) as conn:
        conn.execute("UPDATE fills SET price = '20000.25' WHERE fill_id = 'F1'")
        fill_row = conn.execute("SELECT id FROM fills WHERE fill_id = 'F1'").fetchone()[0]
        conn.execute("UPDATE account_state SET peak = '60000' WHERE account_id = 'PAPER-1'")
        conn.execute("DELETE FROM client_tokens WHERE name = 'board'")
    result = verify(config, env)
    assert result.exit_code == 1
    assert f"fills {fill_row}: edited outside the hub" in result.output
    assert "account_state PAPER-1: edited outside the hub" in result.output
    assert "client_tokens" in result.output and "deleted outside the hub" in result.output
    with pytest.raises(IntegrityError, match="account_state PAPER-1"):  # the edited peak is never loaded
        start(config, env)


def test_db_accept_records_a_checked_database_as_it_is(tmp_path):
    config, env = setup(tmp_path)
    with db(config) as conn:
        conn.execute("UPDATE account_state SET peak = '50600' WHERE account_id = 'PAPER-1'")
        last = conn.execute("SELECT MAX(id) FROM audit_log").fetchone()[0]
        conn.execute("DELETE FROM audit_log WHERE id = ?", (last,))  # as a restored, older backup would be
    assert verify(config, env).exit_code == 1
    accepted = CliRunner().invoke(
        app, ["-c", str(config), "db", "accept", "--reason", "restored yesterday's backup, peak checked"], env=env
    )
    assert accepted.exit_code == 0, accepted.output
    result = verify(config, env)
    assert result.exit_code == 0, result.output
    start(config, env)
    with db(config) as conn:
        payload = conn.execute("SELECT payload FROM audit_log WHERE kind = 'audit.accepted'").fetchone()[0]
    assert "restored yesterday" in payload and "account_state PAPER-1" in payload
