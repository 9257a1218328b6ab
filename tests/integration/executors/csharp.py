"""The C# protocol client (ninjatrader/AddOns/EnigmaApex) built with Mono's compiler and run under Mono."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3] / "ninjatrader"


def mono_or_skip() -> None:
    """Mono is installed by `make test` (Debian's mono-devel); on CI a missing compiler is a failure."""
    if shutil.which("mcs") and shutil.which("mono"):
        return
    if os.environ.get("CI"):
        pytest.fail("mcs/mono are missing: `make test` installs mono-devel")
    pytest.skip("Mono (mcs, mono) is not installed")


def compile_cs(out: Path, sources: list[Path], *, target: str = "exe", refs: tuple[str, ...] = ()) -> Path:
    args = ["mcs", f"-target:{target}", f"-out:{out}", "-nowarn:1591", "-warnaserror+", "-r:System.dll"]
    args += [f"-r:{ref}" for ref in refs]
    result = subprocess.run([*args, *map(str, sources)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise AssertionError(f"mcs failed:\n{result.stdout}\n{result.stderr}")
    return out


@cache
def host_exe() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="enigma-cs-"))
    sources = [*sorted((ROOT / "AddOns" / "EnigmaApex").glob("*.cs")), ROOT / "tests" / "ConformanceHost.cs"]
    return compile_cs(folder / "ConformanceHost.exe", sources)
