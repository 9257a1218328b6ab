"""Off-site backups against a real S3 API on loopback (moto's server, ``tests/integration/s3_fake.py``) and a folder:
written encrypted with a manifest, listed and verified, restored on a fresh data folder with every account's peak,
threshold and halt; wrong credentials, a bucket that vanishes, an upload cut off midway and a tampered object are
refused with a clear message and change nothing."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from enigma_apex import bootstrap
from enigma_apex.adapters.backup import crypto, offsite, targets
from enigma_apex.adapters.instance import InstanceLock
from enigma_apex.adapters.store.store import Store
from enigma_apex.cli import app
from enigma_apex.config.loader import load
from enigma_apex.domain.accounts import TradingState
from enigma_apex.domain.clock import ManualClock
from enigma_apex.errors import StoreError
from tests.integration import s3_fake

D = Decimal
KEY = crypto.new_key()
runner = CliRunner()
AT = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # Tuesday 10:00 New York


@pytest.fixture(scope="module")
def s3():
    fake = s3_fake.start()
    yield fake
    fake.stop()


def env_for(s3, **extra):
    return {
        "ENIGMA_APEX_CONFIG": "",
        "ENIGMA_APEX__HUB__USE_KEYRING": "false",
        "ENIGMA_APEX__BACKUP__S3_ENDPOINT": s3.endpoint,
        "ENIGMA_APEX__BACKUP__S3_ACCESS_KEY": s3.access_key,
        "ENIGMA_APEX__BACKUP__S3_SECRET_KEY": s3.secret_key,
        "ENIGMA_APEX__BACKUP__KEY": KEY,
        **extra,
    }


def run(env, *args):
    return runner.invoke(app, list(args), env=env, catch_exceptions=False)


def initialised(folder, env):
    result = run(env, "init", str(folder))
    assert result.exit_code == 0, result.output
    config = folder / "enigma-apex.toml"
    text = config.read_text() + '\n[[accounts]]\nname = "TS-1"\nprofile = "topstep-combine-50k"\nexecutor = "paper"\n'
    config.write_text(text)
    return config


def settings_of(config, env):
    return load(config, environ=env).settings


def trade_a_day(config, env):
    """PAPER-1 makes a new peak (its threshold trails up); TS-1 is halted by hand. Returns what must come back."""
    settings = settings_of(config, env)
    clock = ManualClock(AT)
    store, _ = bootstrap.open_store(settings, clock)
    guardian = bootstrap.build_guardian(settings, store, clock)
    guardian.mark("PAPER-1", D(50800), D(400))
    clock.advance(timedelta(minutes=3))
    guardian.mark("PAPER-1", D(50900), D(0))
    guardian.halt("TS-1", "stepped away")
    t = guardian.tracker("PAPER-1")
    kept = (t.s.peak_rt, t.s.threshold, t.s.locked)
    store.close()
    return kept


def test_a_backup_in_s3_restored_on_a_fresh_data_folder_brings_back_peaks_thresholds_and_halts(tmp_path, s3):
    env = env_for(s3)
    first = initialised(tmp_path / "desk", env)
    peak, threshold, locked = trade_a_day(first, env)
    url = "s3://enigma-backups/desk-1"
    made = run(env, "-c", str(first), "db", "backup", "--to", url)
    assert made.exit_code == 0, made.output
    assert f"encrypted, key {crypto.fingerprint(bytes.fromhex(KEY))}" in made.output
    listed = run(env, "-c", str(first), "db", "backups", "--to", url, "--verify", "--json")
    assert listed.exit_code == 0, listed.output
    report = json.loads(listed.output)
    [backup] = report["offsite"]["backups"]
    assert backup["state"] == "verified" and backup["encrypted"] and backup["problems"] == []
    stored = s3.client().get_object(Bucket="enigma-backups", Key=f"desk-1/{backup['name']}")["Body"].read()
    assert b"SQLite format 3" not in stored and b"PAPER-1" not in stored  # nothing readable leaves the machine

    fresh = initialised(tmp_path / "new-machine", env)  # a new machine: its own empty database
    restored = run(env, "-c", str(fresh), "db", "restore", f"{url}/{backup['name']}", "--yes")
    assert restored.exit_code == 0, restored.output
    assert "replaced-" in restored.output
    settings = settings_of(fresh, env)
    clock = ManualClock(AT + timedelta(hours=1))
    store, _ = bootstrap.open_store(settings, clock, verify=True)  # the anchor and chain check out
    guardian = bootstrap.build_guardian(settings, store, clock)
    t = guardian.tracker("PAPER-1")
    assert (t.s.peak_rt, t.s.threshold, t.s.locked) == (peak, threshold, locked)
    assert guardian.tracker("TS-1").trading_state()[0] is TradingState.HALTED
    store.close()
    verified = run(env, "-c", str(fresh), "db", "verify")
    assert verified.exit_code == 0, verified.output
    aside = sorted(p.name for p in (tmp_path / "new-machine" / "data").iterdir() if "replaced-" in p.name)
    assert any(name.startswith("enigma-apex.db.replaced-") for name in aside)


def test_wrong_credentials_are_named_and_nothing_is_written(tmp_path, s3):
    env = env_for(s3, ENIGMA_APEX__BACKUP__S3_SECRET_KEY="not-the-secret")
    config = initialised(tmp_path, env)
    made = run(env, "-c", str(config), "db", "backup", "--to", "s3://enigma-backups/wrong")
    assert made.exit_code == 1
    assert "secret key does not match" in made.output
    listed = run(env, "-c", str(config), "db", "backups", "--to", "s3://enigma-backups/wrong")
    assert listed.exit_code == 1 and "secret key does not match" in listed.output
    unknown = env_for(s3, ENIGMA_APEX__BACKUP__S3_ACCESS_KEY="AKIANOBODY")
    refused = run(unknown, "-c", str(config), "db", "backup", "--to", "s3://enigma-backups/wrong")
    assert refused.exit_code == 1 and "access key is not known" in refused.output
    objects = s3.client().list_objects_v2(Bucket="enigma-backups", Prefix="wrong/").get("Contents", [])
    assert objects == []


def test_a_bucket_that_vanishes_is_reported_and_restore_refuses(tmp_path, s3):
    env = env_for(s3)
    config = initialised(tmp_path, env)
    client = s3.client()
    client.create_bucket(Bucket="short-lived")
    assert run(env, "-c", str(config), "db", "backup", "--to", "s3://short-lived/p").exit_code == 0
    names = [o["Key"] for o in client.list_objects_v2(Bucket="short-lived")["Contents"]]
    for key in names:
        client.delete_object(Bucket="short-lived", Key=key)
    client.delete_bucket(Bucket="short-lived")
    again = run(env, "-c", str(config), "db", "backup", "--to", "s3://short-lived/p")
    assert again.exit_code == 1 and "'short-lived' does not exist" in again.output
    backup = next(n for n in names if not n.endswith(".json")).split("/", 1)[1]
    restore = run(env, "-c", str(config), "db", "restore", f"s3://short-lived/p/{backup}", "--yes")
    assert restore.exit_code == 1 and "does not exist" in restore.output


class _CutOff(targets.S3Target):
    """An upload that stops halfway: the first half of the object lands (as a folder share or a careless S3-compatible
    service may keep it), then the connection drops; ``delete_fails``: the clean-up cannot reach the service either."""

    delete_fails = False

    def put(self, name, source):
        data = source.read_bytes()
        self.put_bytes(name, data[: len(data) // 2])
        raise StoreError("connection reset by peer")

    def delete(self, name):
        if self.delete_fails:
            raise StoreError("network unreachable")
        super().delete(name)


def test_an_upload_cut_off_midway_is_never_counted_as_a_backup(tmp_path, s3):
    env = env_for(s3)
    config = initialised(tmp_path, env)
    settings = settings_of(config, env)
    access = targets.access_of(settings.backup)
    store = Store.open(settings, ManualClock(AT))
    try:
        cut = _CutOff("enigma-backups", "cut", access)
        with pytest.raises(StoreError, match="connection reset"):
            offsite.push(store.engine, cut, bytes.fromhex(KEY), AT)
        assert offsite.listing(cut) == []  # the half object was removed
        cut.delete_fails = True
        with pytest.raises(StoreError):
            offsite.push(store.engine, cut, bytes.fromhex(KEY), AT + timedelta(minutes=1))
        [half] = offsite.listing(cut)
        assert half.state == "incomplete" and half.manifest is None
        with pytest.raises(StoreError, match="incomplete"):
            offsite.fetch(cut, half.name, bytes.fromhex(KEY), tmp_path)
        whole = targets.S3Target("enigma-backups", "cut", access)
        offsite.push(store.engine, whole, bytes.fromhex(KEY), AT + timedelta(days=2))
        listed = offsite.listing(whole)
        assert [b.state for b in listed] == ["incomplete", "complete"]
        assert offsite.prune(whole, keep_daily=7, keep_weekly=4) == [half.name]  # an upload that never finished
        assert [b.state for b in offsite.listing(whole)] == ["complete"]
    finally:
        store.close()


def test_a_tampered_backup_is_refused_and_the_database_is_left_alone(tmp_path, s3):
    env = env_for(s3)
    config = initialised(tmp_path, env)
    trade_a_day(config, env)
    url = "s3://enigma-backups/tamper"
    assert run(env, "-c", str(config), "db", "backup", "--to", url).exit_code == 0
    client = s3.client()
    name = next(o["Key"] for o in client.list_objects_v2(Bucket="enigma-backups", Prefix="tamper/")["Contents"]
                if not o["Key"].endswith(".json"))  # fmt: skip
    body = bytearray(client.get_object(Bucket="enigma-backups", Key=name)["Body"].read())
    body[len(body) // 2] ^= 0x01
    client.put_object(Bucket="enigma-backups", Key=name, Body=bytes(body))
    database = tmp_path / "data" / "enigma-apex.db"
    before = hashlib.sha256(database.read_bytes()).hexdigest()

    listed = json.loads(run(env, "-c", str(config), "db", "backups", "--to", url, "--verify", "--json").output)
    [row] = listed["offsite"]["backups"]
    assert row["state"] == "failed" and "SHA-256" in row["problems"][0]
    restore = run(env, "-c", str(config), "db", "restore", f"s3://enigma-backups/{name}", "--yes")
    assert restore.exit_code == 1 and "differ from its manifest" in restore.output
    # whoever altered the object also rewrote its manifest: the encryption still refuses it
    manifest = json.loads(client.get_object(Bucket="enigma-backups", Key=name + ".json")["Body"].read())
    manifest["sha256"] = hashlib.sha256(bytes(body)).hexdigest()
    client.put_object(Bucket="enigma-backups", Key=name + ".json", Body=json.dumps(manifest).encode())
    restore = run(env, "-c", str(config), "db", "restore", f"s3://enigma-backups/{name}", "--yes")
    assert restore.exit_code == 1 and "does not authenticate" in restore.output
    assert hashlib.sha256(database.read_bytes()).hexdigest() == before
    assert not [p for p in database.parent.iterdir() if "replaced-" in p.name]


def test_a_folder_target_round_trip_and_the_refusals_that_need_no_network(tmp_path):
    env = {"ENIGMA_APEX_CONFIG": "", "ENIGMA_APEX__HUB__USE_KEYRING": "false"}
    config = initialised(tmp_path / "desk", env)
    share = tmp_path / "share"
    no_key = run(env, "-c", str(config), "db", "backup", "--to", str(share))
    assert no_key.exit_code == 2 and "backup.key is not set" in no_key.output
    assert run(env, "-c", str(config), "db", "backup").exit_code == 2  # neither a file nor a target
    keyed = {**env, "ENIGMA_APEX__BACKUP__KEY": KEY}
    assert run(keyed, "-c", str(config), "db", "backup", "--to", str(share)).exit_code == 0
    [name] = [p.name for p in share.iterdir() if p.name.endswith(".eab")]
    other_key = {**env, "ENIGMA_APEX__BACKUP__KEY": crypto.new_key()}
    wrong = run(other_key, "-c", str(config), "db", "restore", str(share / name), "--yes")
    assert wrong.exit_code == 1 and "was encrypted with key" in wrong.output
    settings = settings_of(config, keyed)
    lock = InstanceLock(settings.hub.data_dir).acquire("enigma-apex up")
    try:
        lock.publish(http="http://127.0.0.1:1", ws=None)
        running = run(keyed, "-c", str(config), "db", "restore", str(share / name), "--yes")
        assert running.exit_code == 1 and "stop it before restoring" in running.output
    finally:
        lock.release()
    done = run(keyed, "-c", str(config), "db", "restore", str(share / name), "--yes")
    assert done.exit_code == 0, done.output


def test_encryption_refuses_a_changed_cut_or_lengthened_file_and_the_wrong_key(tmp_path):
    key = crypto.parse_key(crypto.new_key())
    plain = tmp_path / "plain"
    plain.write_bytes(bytes(range(256)) * (3 * 4096 + 17))  # three chunks and a bit
    sealed, back = tmp_path / "sealed", tmp_path / "back"
    crypto.encrypt_file(plain, sealed, key)
    crypto.decrypt_file(sealed, back, key)
    assert back.read_bytes() == plain.read_bytes()
    data = sealed.read_bytes()
    first_chunk_end = len(crypto.MAGIC) + crypto.PREFIX_BYTES + 4 + crypto.CHUNK + crypto.TAG
    for name, altered in (
        ("flipped", data[:100] + bytes([data[100] ^ 1]) + data[101:]),
        ("cut after a chunk", data[:first_chunk_end]),
        ("lengthened", data + data[-200:]),
        ("not ours", b"PK\x03\x04" + data[4:]),
    ):
        bad = tmp_path / name
        bad.write_bytes(altered)
        with pytest.raises(crypto.DecryptError):
            crypto.decrypt_file(bad, tmp_path / "out", key)
    with pytest.raises(crypto.DecryptError, match="does not authenticate"):
        crypto.decrypt_file(sealed, tmp_path / "out", crypto.parse_key(crypto.new_key()))


def test_retention_keeps_the_newest_of_each_day_and_week(tmp_path):
    def made(at, state="complete"):
        name = offsite.backup_name(at, "daily", "sqlite", True)
        return offsite.Listed(name, at, 10, state, None)

    start = datetime(2026, 11, 2, 21, 0, tzinfo=UTC)  # a Monday
    backups = [made(start + timedelta(days=d)) for d in range(30)]  # one a day for 30 days
    backups.append(made(start + timedelta(days=29, hours=1)))  # a second one on the last day
    gone = set(offsite.expired(backups, keep_daily=7, keep_weekly=4))
    kept = sorted(b.created.date() for b in backups if b.name not in gone)
    # the newest of the last 7 days (Nov 25 .. Dec 1), and of the last 4 ISO weeks: Dec 1 and Nov 29 are among
    # those days already; Sunday Nov 22 and Sunday Nov 15 end the two weeks before
    day = lambda d: (start + timedelta(days=d)).date()  # noqa: E731
    assert kept == [day(13), day(20), *(day(d) for d in range(23, 30))]
    assert backups[29].name in gone and backups[30].name not in gone  # the same day: the newer one stays


def test_the_daily_job_stores_off_site_and_health_doctor_and_an_alert_report_its_age(tmp_path, s3):
    from sqlalchemy import select

    from enigma_apex.adapters.store import schema as s
    from enigma_apex.app.housekeeping import Housekeeping
    from enigma_apex.app.service import HubService

    env = env_for(s3, ENIGMA_APEX__BACKUP__OFFSITE="s3://enigma-backups/daily")
    config = initialised(tmp_path, env)
    settings = settings_of(config, env)
    clock = ManualClock(AT)
    store, _ = bootstrap.open_store(settings, clock)
    try:
        keeper = Housekeeping(store, clock, settings)
        service = HubService(settings, None, store, clock, clock.monotonic())
        assert service.health()["backup"] == {"offsite": "s3://enigma-backups/daily", "last": None, "age_h": None,
                                              "stale": True}  # fmt: skip
        assert keeper.due(clock.now())  # a target with nothing in it: the job runs at once
        result = keeper.run_once()
        assert result["problems"] == [] and result["offsite"]["name"].endswith("-daily.db.eab")
        [daily] = offsite.listing(targets.open_target("s3://enigma-backups/daily", targets.access_of(settings.backup)))
        assert daily.state == "complete" and daily.manifest is not None and daily.manifest.label == "daily"
        clock.advance(timedelta(hours=2))
        assert service.health()["backup"]["age_h"] == 2.0 and not service.health()["backup"]["stale"]
        assert not keeper.check_stale(clock.now())
        clock.advance(timedelta(hours=25))  # the job did not run (the hub was stopped over its slot, say)
        assert service.health()["backup"]["stale"] and service.health()["status"] == "ok"  # trading is not affected
        assert keeper.check_stale(clock.now()) and not keeper.check_stale(clock.now())  # once a day
        with store.engine.connect() as conn:
            alerts = conn.execute(select(s.alerts.c.severity, s.alerts.c.message).where(
                s.alerts.c.kind == "backup.stale")).all()  # fmt: skip
        assert [a.severity for a in alerts] == ["warning"] and "27.0 h old" in alerts[0].message
    finally:
        store.close()
    doctor = run(env, "-c", str(config), "doctor", "--offline")
    line = next(line for line in doctor.output.splitlines() if "off-site backup" in line)
    assert "s3://enigma-backups/daily: the newest is" in line and line.startswith("WARN")  # stale by today's clock


def test_a_failing_off_site_target_is_an_alert_and_the_local_backup_still_happens(tmp_path, s3):
    from sqlalchemy import select

    from enigma_apex.adapters.store import schema as s
    from enigma_apex.app.housekeeping import Housekeeping

    env = env_for(s3, ENIGMA_APEX__BACKUP__OFFSITE="s3://no-such-bucket/daily")
    config = initialised(tmp_path, env)
    settings = settings_of(config, env)
    clock = ManualClock(AT)
    store, _ = bootstrap.open_store(settings, clock)
    try:
        result = Housekeeping(store, clock, settings).run_once()
        assert "off-site backup failed" in result["problems"][0] and "does not exist" in result["problems"][0]
        assert (tmp_path / "data" / "backups").glob("daily-*") and result["backup"]
        with store.engine.connect() as conn:
            kinds = conn.execute(select(s.alerts.c.kind)).scalars().all()
        assert "maintenance.failed" in kinds
    finally:
        store.close()


@pytest.mark.postgres
def test_postgresql_goes_through_pg_dump_and_pg_restore_to_the_same_targets(tmp_path, pg_url):
    from sqlalchemy.engine import make_url

    url = make_url(pg_url)
    env = {"ENIGMA_APEX_CONFIG": "", "ENIGMA_APEX__HUB__USE_KEYRING": "false", "ENIGMA_APEX__BACKUP__KEY": KEY,
           "ENIGMA_APEX__DATABASE__URL": url._replace(password=None).render_as_string(hide_password=False),
           "ENIGMA_APEX__DATABASE__PASSWORD": url.password or ""}  # fmt: skip
    config = initialised(tmp_path, env)
    peak, threshold, locked = trade_a_day(config, env)
    share = tmp_path / "share"
    made = run(env, "-c", str(config), "db", "backup", "--to", f"file://{share.as_posix()}")
    assert made.exit_code == 0, made.output
    [name] = [p.name for p in share.iterdir() if p.name.endswith(".dump.eab")]
    settings = settings_of(config, env)
    clock = ManualClock(AT + timedelta(hours=1))
    store, _ = bootstrap.open_store(settings, clock)
    guardian = bootstrap.build_guardian(settings, store, clock)
    guardian.resume("TS-1")  # changed after the backup: the restore brings the halt back
    store.close()
    restored = run(env, "-c", str(config), "db", "restore", str(share / name), "--yes")
    assert restored.exit_code == 0, restored.output
    store, _ = bootstrap.open_store(settings, clock, verify=True)
    guardian = bootstrap.build_guardian(settings, store, clock)
    t = guardian.tracker("PAPER-1")
    assert (t.s.peak_rt, t.s.threshold, t.s.locked) == (peak, threshold, locked)
    assert guardian.tracker("TS-1").trading_state()[0] is TradingState.HALTED
    store.close()
    assert run(env, "-c", str(config), "db", "verify").exit_code == 0
    assert list((tmp_path / "data" / "backups").glob("replaced-*.dump"))  # the database as it was, kept


def test_backup_urls_name_a_target_and_a_backup():
    access = targets.S3Access()
    assert targets.split_backup_url("s3://b/desk/1/enigma-apex-x.db.eab") == ("s3://b/desk/1", "enigma-apex-x.db.eab")
    assert targets.split_backup_url("file:///mnt/share/n.db") == ("file:///mnt/share", "n.db")
    assert targets.open_target("file:///mnt/my%20share", access).url == "/mnt/my share"
    assert isinstance(targets.open_target("s3://bucket", access), targets.S3Target)
    with pytest.raises(Exception, match="s3://bucket/prefix"):
        targets.open_target("ftp://host/folder", access)
