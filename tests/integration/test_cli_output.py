"""What the commands print for people (Rich tables that fit long names, money with its currency, times in
``hub.display_timezone``, plain characters where the output cannot take others) and for scripts (``--json``)."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from enigma_apex.cli import app

ENV = {"ENIGMA_APEX_CONFIG": "", "ENIGMA_APEX__HUB__USE_KEYRING": "false"}
LONG = "50KTC-V2-218761-41"


@pytest.fixture
def config(tmp_path):
    made = CliRunner().invoke(app, ["init", str(tmp_path)], env=ENV)
    assert made.exit_code == 0, made.output
    path = tmp_path / "enigma-apex.toml"
    text = path.read_text().replace('display_timezone = "America/New_York"', 'display_timezone = "Europe/Berlin"')
    text += f'\n[[accounts]]\nname = "{LONG}"\nprofile = "topstep-combine-50k"\nexecutor = "paper"\n'
    path.write_text(text)
    return path


def cli(config, *args, charset="utf-8"):
    result = CliRunner(charset=charset).invoke(app, ["-c", str(config), *args], env=ENV, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_tables_keep_long_account_names_on_one_line_with_their_columns_aligned(config):
    out = cli(config, "account", "status")
    rows = [line for line in out.splitlines() if line.startswith(("PAPER-1", LONG))]
    assert len(rows) == 2, out
    starts = [re.search(r"ACTIVE|REDUCING", row).start() for row in rows]  # type: ignore[union-attr]
    assert starts[0] == starts[1], out
    assert all(re.search(r"\$\d{2},\d{3}\.\d\d", row) for row in rows), out  # money with its currency
    assert all(line == line.rstrip() for line in out.splitlines())  # no padding after the last column
    data = json.loads(cli(config, "account", "status", "--json"))
    assert [r["account"] for r in data] == ["PAPER-1", LONG]


def test_times_are_in_the_display_time_zone_and_every_listing_has_json(config):
    out = cli(config, "token", "list")
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CET", out), out  # Europe/Berlin in December
    tokens = json.loads(cli(config, "token", "list", "--json"))
    assert {t["name"] for t in tokens} == {"local-admin", "dashboard"}
    assert all(t["created"].endswith("+00:00") for t in tokens)  # scripts get UTC ISO 8601
    checks = json.loads(cli(config, "doctor", "--offline", "--json"))
    assert {"check", "status", "detail", "fix"} <= set(checks[0])
    assert json.loads(cli(config, "db", "verify", "--json"))["ok"] is True
    assert cli(config, "db", "backups").startswith("local (")
    backups = json.loads(cli(config, "db", "backups", "--json"))
    assert backups["offsite"] is None and isinstance(backups["local"], list)


def test_output_a_legacy_code_page_cannot_hold_is_printed_in_plain_characters(config):
    out = cli(config, "account", "status", charset="cp1252")
    assert "─" not in out and re.search(r"^-{20,}$", out, re.M), out
    assert f"{LONG} " in out


def test_the_remaining_commands_answer_scripts_in_json_too(tmp_path):
    def run(*args):
        result = CliRunner().invoke(app, list(args), env=ENV, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    made = run("init", str(tmp_path / "desk"), "--json")
    assert made["created"] is True and {t["name"] for t in made["tokens"]} == {"local-admin", "dashboard"}
    assert all(t["token"].startswith("eat_") for t in made["tokens"])
    config = made["config"]
    again = run("-c", config, "init", "--exist-ok", "--json")
    assert again["created"] is False and "tokens" not in again
    assert run("version", "--json")["version"]
    checked = run("config", "check", config, "--json")
    assert checked["ok"] is True and checked["accounts"] == 1 and checked["mode"] == "paper"
    assert run("-c", config, "db", "upgrade", "--json") == {"upgraded": False,
                                                            "note": "database already at the latest schema"}  # fmt: skip
    backup = run("-c", config, "db", "backup", str(tmp_path / "copy.db"), "--json")
    assert backup["size"] > 0 and backup["path"].endswith("copy.db")
    admin = next(t for t in run("-c", config, "token", "list", "--json") if t["name"] == "local-admin")
    assert run("-c", config, "token", "revoke", admin["id"], "--json") == {"revoked": admin["id"], "sessions_closed": 0}


RUN_UNTIL_STOPPED = {"up", "demo", "dashboard", "paper", "ati run", "tradovate", "rithmic", "projectx"}


def test_every_command_but_the_long_running_ones_and_the_secret_prompt_takes_json():
    from typer.main import get_command

    def walk(group, prefix=()):
        for name, command in group.commands.items():
            if hasattr(command, "commands"):
                yield from walk(command, (*prefix, name))
            else:
                yield " ".join((*prefix, name)), command

    without = {path for path, command in walk(get_command(app)) if not any("--json" in p.opts for p in command.params)}
    assert without == RUN_UNTIL_STOPPED | {"secret set"}


def test_maintenance_commands_answer_in_json(config, tmp_path):
    def run(*args, code=0):
        result = CliRunner().invoke(app, ["-c", str(config), *args], env=ENV, catch_exceptions=False)
        assert result.exit_code == code, result.output
        return json.loads(result.stdout) if code == 0 else result.output

    assert len(run("db", "backup-key", "--json")["key"]) == 64
    assert run("db", "optimize", "--json")["through_hub"] is False
    assert run("db", "accept", "--reason", "checked", "--json")["accepted"] is False  # nothing to accept
    assert "order.place" in run("protocol", "schema", str(tmp_path / "schemas"), "--json")["schemas"]
    assert "--json needs --yes" in run("db", "restore", str(tmp_path / "x.db"), "--json", code=2)
