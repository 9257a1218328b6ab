from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from enigma_apex.adapters.store.tokens import TokenRecord
from enigma_apex.app.preflight import live_problems
from enigma_apex.config import loader
from enigma_apex.config.models import Settings
from enigma_apex.config.reload import plan_reload
from enigma_apex.config.render import render
from enigma_apex.errors import ConfigError

NOW = datetime(2026, 11, 23, tzinfo=UTC)
NO_KEYRING = {"secret_lookup": lambda _key: None}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "enigma-apex.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path, text, environ=None):
    with pytest.raises(ConfigError) as err:
        loader.load(write(tmp_path, text), environ=environ or {}, **NO_KEYRING)
    return err.value.problems


def test_the_commented_template_loads_to_the_defaults(tmp_path):
    text = render(Settings(), annotate=True)
    loaded = loader.load(write(tmp_path, text), environ={}, **NO_KEYRING)
    defaults = Settings()
    expected = defaults.model_copy(
        update={
            "hub": defaults.hub.model_copy(update={"data_dir": tmp_path / "data"}),
            "rules": defaults.rules.model_copy(update={"profile_dir": tmp_path / "profiles"}),
        }
    )
    assert loaded.settings == expected
    for key in ("kelly_multiplier", "warn_drawdown_pct", "group_commit_ms", "[[accounts]]"):
        assert key in text


def test_the_template_explains_every_key():
    text = render(Settings(), annotate=True)
    for section in ("hub", "http", "database", "logging", "guardian", "sizing", "ai", "signals", "rules"):
        for name in type(getattr(Settings(), section)).model_fields:
            assert f"{name} =" in text, f"{section}.{name} missing from the template"


def test_a_missing_file_says_how_to_create_one(tmp_path):
    with pytest.raises(ConfigError, match="enigma-apex init"):
        loader.load(tmp_path / "nope.toml", environ={}, **NO_KEYRING)


def test_toml_syntax_errors_give_line_and_column(tmp_path):
    with pytest.raises(ConfigError, match=r"line 2, column"):
        loader.load(write(tmp_path, "[hub]\nmode = \n"), environ={}, **NO_KEYRING)


def test_unknown_keys_list_what_is_allowed(tmp_path):
    found = problems(tmp_path, "[http]\nprot = 1\n")
    allowed = "header_timeout_s, host, idle_timeout_s, metrics_auth, port, tls_cert, tls_key"
    assert found == [f"http.prot: unknown key (allowed here: {allowed})"]


def test_unknown_sections_are_refused(tmp_path):
    assert problems(tmp_path, "[htp]\nport = 1\n")[0].startswith("htp: unknown key")


def test_wrong_types_and_ranges_name_path_and_value(tmp_path):
    found = problems(tmp_path, '[http]\nport = "eighty"\n[sizing]\nkelly_multiplier = 1.5\n')
    assert any(p.startswith("http.port:") and "'eighty'" in p for p in found)
    assert any(p.startswith("sizing.kelly_multiplier:") and "1.5" in p for p in found)


def test_unknown_profile_suggests_close_ids(tmp_path):
    text = (
        '[[accounts]]\nname = "A0"\nprofile = "apex4-eod-eval-50k"\n[[accounts]]\nname = "A1"\nprofile = "apex-50k"\n'
    )
    (found,) = problems(tmp_path, text)
    assert found.startswith("accounts[1].profile: unknown profile 'apex-50k' (known: ")


def test_duplicate_accounts_are_refused(tmp_path):
    text = '[[accounts]]\nname = "A"\nprofile = "topstep-combine-50k"\n' * 2
    assert "listed twice" in problems(tmp_path, text)[0]


def test_guardian_levels_must_be_ordered(tmp_path):
    assert "warn_drawdown_pct <= reducing_drawdown_pct" in problems(tmp_path, "[guardian]\nwarn_drawdown_pct = 80\n")[0]


def test_all_problems_are_reported_at_once(tmp_path):
    assert len(problems(tmp_path, '[hub]\nmode = "pape"\n[http]\nport = -1\n[logging]\nlevel = "LOUD"\n')) == 3


def test_secrets_in_the_file_are_refused_and_never_echoed(tmp_path):
    (found,) = problems(tmp_path, '[ai]\napi_key = "sk-live-123"\n')
    assert "ENIGMA_APEX__AI__API_KEY" in found
    assert "sk-live-123" not in found


def test_secrets_in_the_file_are_accepted_when_forced(tmp_path):
    text = '[hub]\nallow_plaintext_secrets = true\n[ai]\napi_key = "sk-live-123"\n'
    loaded = loader.load(write(tmp_path, text), environ={}, **NO_KEYRING)
    assert loaded.settings.ai.api_key.get_secret_value() == "sk-live-123"


def test_environment_overrides_file_values(tmp_path):
    environ = {
        "ENIGMA_APEX__HTTP__PORT": "9090",
        "ENIGMA_APEX__AI__ENABLED": "true",
        "ENIGMA_APEX__AI__API_KEY": "sk-env",
        "ENIGMA_APEX__ACCOUNTS__0__PROFILE": "topstep-xfa-50k",
        "ENIGMA_APEX__SIZING__KELLY_MULTIPLIER": "0.25",
        "OTHER": "x",
    }
    text = '[http]\nport = 8081\n[[accounts]]\nname = "A1"\nprofile = "apex4-eod-eval-50k"\n'
    settings = loader.load(write(tmp_path, text), environ=environ, **NO_KEYRING).settings
    assert settings.http.port == 9090
    assert settings.ai.enabled is True
    assert settings.ai.api_key.get_secret_value() == "sk-env"
    assert settings.accounts[0].profile == "topstep-xfa-50k"
    assert settings.sizing.kelly_multiplier == Decimal("0.25")


def test_bad_environment_values_are_reported_with_their_path(tmp_path):
    found = problems(tmp_path, "", environ={"ENIGMA_APEX__HTTP__PORT": "x", "ENIGMA_APEX__HTTP__NOPE": "1"})
    assert any(p.startswith("http.port:") for p in found)
    assert any(p.startswith("http.nope: unknown key") for p in found)


def test_keyring_fills_missing_secrets(tmp_path):
    store = {"ai.api_key": "sk-from-keyring"}
    settings = loader.load(write(tmp_path, ""), environ={}, secret_lookup=store.get).settings
    assert settings.ai.api_key.get_secret_value() == "sk-from-keyring"


def test_the_environment_wins_over_the_keyring(tmp_path):
    settings = loader.load(
        write(tmp_path, ""),
        environ={"ENIGMA_APEX__AI__API_KEY": "sk-env"},
        secret_lookup={"ai.api_key": "sk-kr"}.get,
    ).settings
    assert settings.ai.api_key.get_secret_value() == "sk-env"


def test_relative_data_dir_is_relative_to_the_file(tmp_path):
    settings = loader.load(write(tmp_path, '[hub]\ndata_dir = "var/ea"\n'), environ={}, **NO_KEYRING).settings
    assert settings.hub.data_dir == (tmp_path / "var" / "ea").resolve()
    assert settings.database_url.endswith("var/ea/enigma-apex.db")


def test_database_password_never_sits_in_the_url(tmp_path):
    found = problems(tmp_path, '[database]\nurl = "postgresql+psycopg://u:pw@h/db"\n')
    assert "ENIGMA_APEX__DATABASE__PASSWORD" in found[0]
    environ = {"ENIGMA_APEX__DATABASE__PASSWORD": "p@ss"}
    settings = loader.load(
        write(tmp_path, '[database]\nurl = "postgresql://u@h:5432/db"\n'), environ=environ, **NO_KEYRING
    ).settings
    assert settings.database_url == "postgresql+psycopg://u:p%40ss@h:5432/db"


def _token(is_default: bool) -> TokenRecord:
    return TokenRecord("t1", "demo", "dashboard", (), is_default, NOW, None, None)


def test_live_mode_requires_the_secrets_its_features_need(tmp_path):
    text = '[hub]\nmode = "live"\n[ai]\nenabled = true\nbase_url = "https://api.openai.com/v1"\n'
    settings = loader.load(write(tmp_path, text), environ={}, **NO_KEYRING).settings
    (found,) = live_problems(settings, [], NOW)
    assert found.startswith("ai.api_key: required in live mode")
    settings = loader.load(
        write(tmp_path, text), environ={"ENIGMA_APEX__AI__API_KEY": "changeme"}, **NO_KEYRING
    ).settings
    assert "placeholder" in live_problems(settings, [], NOW)[0]


def test_live_mode_refuses_default_tokens(tmp_path):
    settings = loader.load(write(tmp_path, '[hub]\nmode = "live"\n'), environ={}, **NO_KEYRING).settings
    assert live_problems(settings, [_token(False)], NOW) == []
    assert "default token" in live_problems(settings, [_token(True)], NOW)[0]


def test_paper_mode_has_no_live_checks(tmp_path):
    settings = loader.load(
        write(tmp_path, '[ai]\nenabled = true\nbase_url = "https://x.example/v1"\n'), environ={}, **NO_KEYRING
    ).settings
    assert live_problems(settings, [_token(True)], NOW) == []


def test_reload_applies_live_keys_and_refuses_restart_keys():
    running = Settings()
    candidate = Settings.model_validate(
        {
            "sizing": {"kelly_multiplier": "0.3"},
            "http": {"port": 9999},
            "ai": {"api_key": "sk-new"},
            "logging": {"level": "DEBUG"},
        }
    )
    plan = plan_reload(running, candidate)
    assert {c.key for c in plan.applied} == {"sizing.kelly_multiplier", "ai.api_key", "logging.level"}
    assert [c.key for c in plan.refused] == ["http.port"]
    assert plan.settings.sizing.kelly_multiplier == Decimal("0.3")
    assert plan.settings.http.port == running.http.port
    secret_change = next(c for c in plan.applied if c.key == "ai.api_key")
    assert secret_change.new == "********"


def test_reload_with_no_change_is_empty():
    assert not plan_reload(Settings(), Settings()).changed


def test_a_bad_user_profile_file_names_file_and_field(tmp_path):
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "mine.toml").write_text(
        '[[profile]]\nextends = "apex4-intraday-eval-50k"\nid = "my-apex-50k"\ndrawdown = -5\n'
    )
    (found,) = problems(tmp_path, "")
    assert "mine.toml" in found and "drawdown" in found


def test_a_user_profile_can_override_a_reading(tmp_path):
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "mine.toml").write_text(
        '[[profile]]\nextends = "mffu-rapid-funded-50k"\nid = "mffu-rapid-funded-50k-lockafterpayout"\n'
        "lock_after_first_payout = true\n"
    )
    text = '[[accounts]]\nname = "M1"\nprofile = "mffu-rapid-funded-50k-lockafterpayout"\n'
    settings = loader.load(write(tmp_path, text), environ={}, **NO_KEYRING).settings
    assert settings.accounts[0].profile == "mffu-rapid-funded-50k-lockafterpayout"


def test_profiles_without_a_published_cap_need_max_contracts(tmp_path):
    (found,) = problems(tmp_path, '[[accounts]]\nname = "T1"\nprofile = "tradeify-lightning-funded-25k"\n')
    assert "set max_contracts" in found
    text = '[[accounts]]\nname = "T1"\nprofile = "tradeify-lightning-funded-25k"\nmax_contracts = 4\n'
    assert loader.load(write(tmp_path, text), environ={}, **NO_KEYRING).settings.accounts[0].max_contracts == 4
    (found,) = problems(tmp_path, '[[accounts]]\nname = "A1"\nprofile = "apex4-eod-eval-50k"\nmax_contracts = 9\n')
    assert "above the firm's cap of 6" in found


def test_every_document_the_configuration_points_to_exists_and_the_profile_count_in_the_docs_is_true():
    import re

    from enigma_apex.adapters.profile_files import builtin_registry
    from enigma_apex.config.schema import KEYS

    root = Path(__file__).resolve().parents[2]
    named = {doc for info in KEYS.values() for doc in re.findall(r"docs/[\w.-]+\.md", info.field.description or "")}
    named |= set(re.findall(r"docs/[\w.-]+\.md", render(Settings(), annotate=True)))
    assert named and all((root / doc).is_file() for doc in named), sorted(d for d in named if not (root / d).is_file())
    counts = re.findall(r"(\d+) profiles in all", (root / "docs" / "operations.md").read_text())
    assert counts == [str(len(builtin_registry().ids()))]
