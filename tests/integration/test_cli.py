"""The CLI, driven in-process through Typer's runner (and once as `python -m enigma_apex`)."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from typer.main import get_command
from typer.testing import CliRunner

from enigma_apex.cli import app

runner = CliRunner()


def run(*args: str, env: dict[str, str] | None = None):
    base = {"ENIGMA_APEX_CONFIG": "", "ENIGMA_APEX__HUB__USE_KEYRING": "false"}
    return runner.invoke(app, list(args), env={**base, **(env or {})}, catch_exceptions=False)


def _all_commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, cmd in group.commands.items():
        yield (*prefix, name)
        if isinstance(cmd, click.Group):
            yield from _all_commands(cmd, (*prefix, name))


@pytest.mark.parametrize("path", list(_all_commands(get_command(app))), ids=" ".join)
def test_every_command_has_help(path):
    result = run(*path, "--help")
    assert result.exit_code == 0
    assert "Usage" in result.output


@pytest.fixture
def initialised(tmp_path):
    result = run("init", str(tmp_path))
    assert result.exit_code == 0, result.output
    return tmp_path / "enigma-apex.toml", result.output


def test_init_writes_config_database_and_shows_tokens_once(initialised, tmp_path):
    config, output = initialised
    assert config.exists() and (tmp_path / "data" / "enigma-apex.db").exists()
    shown = [line.split()[-1] for line in output.splitlines() if "eat_" in line]
    assert len(shown) == 2
    listed = run("-c", str(config), "token", "list").output
    assert "local-admin" in listed and "dashboard" in listed
    assert not any(token in listed for token in shown)
    again = run("-c", str(config), "init")
    assert again.exit_code == 1 and "exists" in again.output
    kept = run("-c", str(config), "init", "--exist-ok")
    assert kept.exit_code == 0 and "eat_" not in kept.output


def test_config_check_exit_codes(initialised, tmp_path):
    config, _ = initialised
    assert run("config", "check", str(config)).exit_code == 0
    bad = tmp_path / "bad.toml"
    bad.write_text('[[accounts]]\nname = "A"\nprofile = "apex-50k"\n[http]\nport = "x"\n')
    result = run("config", "check", str(bad))
    assert result.exit_code == 2
    assert "accounts[0].profile: unknown profile 'apex-50k'" in result.output
    assert "http.port:" in result.output


def test_config_show_masks_secrets(initialised):
    config, _ = initialised
    result = run("-c", str(config), "config", "show", env={"ENIGMA_APEX__AI__API_KEY": "sk-very-secret"})
    assert result.exit_code == 0
    assert "sk-very-secret" not in result.output and 'api_key = "********"' in result.output
    as_json = run("-c", str(config), "config", "show", "--json", env={"ENIGMA_APEX__AI__API_KEY": "sk-very-secret"})
    assert "sk-very-secret" not in as_json.output and '"api_key": "********"' in as_json.output


def test_db_commands(initialised, tmp_path):
    config, _ = initialised
    c = ("-c", str(config))
    assert run(*c, "db", "upgrade").exit_code == 0
    verify = run(*c, "db", "verify")
    assert verify.exit_code == 0 and verify.output.strip().endswith("ok")
    backup = run(*c, "db", "backup", str(tmp_path / "b" / "copy.db"))
    assert backup.exit_code == 0 and (tmp_path / "b" / "copy.db").stat().st_size > 0
    assert run(*c, "db", "optimize").exit_code == 0


def test_db_verify_names_the_tampered_row(initialised, tmp_path):
    import sqlite3

    config, _ = initialised
    con = sqlite3.connect(tmp_path / "data" / "enigma-apex.db")
    con.execute("UPDATE audit_log SET payload = '{}' WHERE id = 2")
    con.commit()
    con.close()
    result = run("-c", str(config), "db", "verify")
    assert result.exit_code == 1
    assert "first broken row 2" in result.output


def test_token_lifecycle(initialised):
    config, _ = initialised
    c = ("-c", str(config))
    created = run(
        *c,
        "token",
        "create",
        "--role",
        "executor",
        "--name",
        "nt8",
        "--account",
        "PAPER-1",
        "--expires-days",
        "30",
    )
    assert created.exit_code == 0
    token_id = created.output.split()[1]
    assert "eat_" in created.output
    assert "nt8" in run(*c, "token", "list").output
    assert run(*c, "token", "revoke", token_id).exit_code == 0
    assert "revoked" in run(*c, "token", "list").output
    assert run(*c, "token", "revoke", token_id).exit_code == 1
    assert run(*c, "token", "create", "--role", "god", "--name", "x").exit_code == 2


def test_commands_refuse_a_bad_config_with_exit_2(tmp_path):
    bad = tmp_path / "x.toml"
    bad.write_text("[hub]\nmode = 3\n")
    for args in (("up",), ("db", "verify"), ("config", "show")):
        result = run("-c", str(bad), *args)
        assert result.exit_code == 2, args
        assert "hub.mode" in result.output


def test_module_entry_point_and_version():
    out = subprocess.run([sys.executable, "-m", "enigma_apex", "version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("enigma-apex ")


def test_bench_store_prints_figures_as_json():
    result = run("bench", "store", "--json", "--writes", "200", "--sequential", "20")
    assert result.exit_code == 0
    import json

    figures = json.loads(result.output)
    for name in ("sqlite_full", "sqlite_normal"):
        assert figures[name]["one_write_per_commit"]["writes"] == 20
        assert figures[name]["group_commit_burst"]["writes"] == 200
        assert figures[name]["group_commit_paced"]["p99_us"] > 0


def test_bench_pipeline_runs_webhook_to_order_with_and_without_the_model():
    import json

    result = run(
        "bench", "pipeline", "--json", "--alerts", "4", "--ai-alerts", "2", "--model-delay-ms", "0", "--reversals", "3"
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    # entries and exits alternate; exits are never analysed
    assert figures["ai_off"]["alerts"] == 4 and figures["ai_off"]["analysed_by"] == {"scorer": 3}
    assert figures["ai_loopback_model"]["analysed_by"] == {"ai": 2}  # the model answered every entry
    assert figures["ai_off"]["p99_ms"] >= figures["ai_off"]["p50_ms"] > 0
    assert figures["reversal"]["reversals"] == 3 and figures["reversal"]["p50_ms"] > 0


def test_bench_gateway_runs_every_phase_to_its_end():
    """Orders the dispatch phase leaves are cancelled by the first signal: the bench's executor answers the cancels
    (it once waited for them forever) and every wait has a deadline that names what it waited for."""
    import json

    result = run("bench", "gateway", "--json", "--events", "100", "--updates", "100", "--orders", "10", "--stops",
                 "2", "--signals", "10")  # fmt: skip
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["signal_to_order"]["signals"] == 10 and figures["signal_to_order"]["p99_ms"] > 0
    assert figures["emergency_stop"]["runs"] == 2 and figures["broadcast_10_clients"]["deliveries_per_s"] > 0


def test_bench_scale_measures_each_point_in_its_own_process_and_refuses_a_bad_list():
    import json

    result = run("bench", "scale", "--json", "--accounts", "1,30", "--marks", "3", "--stops", "1")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert set(figures["points"]) == {"1", "30"}
    big = figures["points"]["30"]
    assert big["executors"] == 2 and big["marks"]["sent"] == 90 and big["marks"]["per_s"] > 0
    assert big["emergency_stop"]["runs"] == 1 and big["emergency_stop"]["p99_ms"] > 0
    assert big["pre_trade_check"]["p99_us"] >= big["pre_trade_check"]["p50_us"] > 0
    assert big["db_growth"]["bytes_per_round_trip"] > 0 and big["db_growth"]["per_account_day_kb"] > 0
    assert big["hub_rss_mb"] is None or big["hub_rss_mb"] > 20
    bad = run("bench", "scale", "--accounts", "ten")
    assert bad.exit_code == 2 and "commas" in bad.output


def test_bench_execution_times_every_executor_and_the_ati_files():
    import json

    from enigma_apex.bench.venues import mono

    result = run("bench", "execution", "--json", "--orders", "3")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    kinds = {"paper", "ati", "tradovate", "rithmic", "projectx"} | ({"csharp"} if mono.available() else set())
    for kind in kinds:
        assert figures["round_trip"][kind]["p99_ms"] >= figures["round_trip"][kind]["p50_ms"] > 0
        steps = figures["round_trip"][kind]["steps_ms"]  # each step no later than the fill that ends the trip
        assert 0 < steps["stored_and_sent"]["p50_ms"] <= steps["fill_recorded"]["p50_ms"], steps
    assert figures["ati_file_round_trip"]["files_written"] == 4  # one OIF per order, the warm-up included
    assert figures["ratio_to_published"]["ati_p50_vs_194ms"] > 0
    assert run("bench", "execution", "--executor", "fix").exit_code == 2
