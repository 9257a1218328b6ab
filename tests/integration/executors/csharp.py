"""Mono for the tests: installed by `make test` (Debian's mono-devel); on CI a missing compiler is a failure."""

from __future__ import annotations

import os

import pytest

from enigma_apex.adapters.ninjascript import source_folder
from enigma_apex.bench.venues import mono

ROOT = source_folder()
compile_cs = mono.compile_cs


def mono_or_skip() -> None:
    if mono.available():
        return
    if os.environ.get("CI"):
        pytest.fail("mcs/mono are missing: `make test` installs mono-devel")
    pytest.skip("Mono (mcs, mono) is not installed")
