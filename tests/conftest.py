"""Shared fixtures: a manual clock, and databases (a SQLite file and, when available, PostgreSQL)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from enigma_apex.adapters.store import migrate
from enigma_apex.adapters.store.engine import make_engine
from enigma_apex.adapters.store.writer import GroupCommitWriter
from enigma_apex.domain.clock import ManualClock

PG_ENV = "ENIGMA_APEX_TEST_PG_URL"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 23, 15, 0, tzinfo=UTC))


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{(tmp_path / 'test.db').as_posix()}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database per test, dropped afterwards.

    Without ENIGMA_APEX_TEST_PG_URL the test is skipped locally and fails in CI (CI=true), where
    `.ci/run` always starts a server."""
    base = os.environ.get(PG_ENV)
    if not base:
        if os.environ.get("CI"):
            pytest.fail(f"{PG_ENV} is not set in CI; .ci/run must start PostgreSQL")
        pytest.skip(f"set {PG_ENV} to run the PostgreSQL tests")
    name = f"ea_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request) -> str:
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def engine(db_url):
    eng = make_engine(db_url)
    migrate.upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def writer(engine, clock) -> Iterator[GroupCommitWriter]:
    w = GroupCommitWriter(engine, clock, linger_s=0.002)
    w.start()
    yield w
    w.close()
