"""SIGKILL in the middle of a write stream: every acknowledged write is in the database."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import text

from enigma_apex.adapters.store import maintenance
from enigma_apex.adapters.store.engine import make_engine

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_every_acknowledged_write_survives_sigkill(backend, request):
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.crash_writer", url], stdout=subprocess.PIPE, text=True
    )
    acked: list[int] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("ACK "):
                acked.append(int(line.split()[1]))
                if len(acked) >= 600:
                    proc.kill()  # SIGKILL mid-stream: more writes are queued and in flight
                    break
    finally:
        proc.kill()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            keys = {row[0] for row in conn.execute(text("SELECT idempotency_key FROM orders"))}
        missing = [n for n in acked if f"key-{n}" not in keys]
        assert missing == []
        assert len(keys) >= len(acked)
        report = maintenance.verify(engine)
        assert report.ok, report.lines()
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT COUNT(*) FROM audit_log WHERE kind = 'order.stored'")).scalar()
        assert stored == len(keys)  # one order.stored row per order, in the transaction that stored it
    finally:
        engine.dispose()
