"""The hub's own process stays lean: the CME calendar comes from a cached JSON file, not from pandas."""

from __future__ import annotations

import json
import subprocess
import sys

from enigma_apex.adapters.exchange_calendar import _in_process, cme_days

SCRIPT = """
import sys, json
from enigma_apex import bootstrap
from enigma_apex.config import loader
from pathlib import Path
loaded = loader.load(Path(sys.argv[1]))
hub = bootstrap.build_hub(loaded, lambda line: None)
hub.service.store.close()
print(json.dumps(sorted(m for m in ("pandas", "numpy", "exchange_calendars", "openai") if m in sys.modules)))
"""


def test_the_cached_calendar_is_the_calendar_and_the_hub_never_loads_pandas(tmp_path):
    cache = tmp_path / "cme-calendar.json"
    assert cme_days(cache=cache) == _in_process(2020, 2035)  # computed in a child process, written
    assert json.loads(cache.read_text())["key"].startswith("CMES:")
    assert cme_days(cache=cache) == _in_process(2020, 2035)  # read back
    config = tmp_path / "enigma-apex.toml"
    config.write_text(f'[hub]\ndata_dir = "{(tmp_path / "data").as_posix()}"\nuse_keyring = false\n')
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "cme-calendar.json").write_text(cache.read_text())
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(config)], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
