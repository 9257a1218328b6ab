"""Building and running the C# sources (``ninjatrader/``) with Mono: the compiler ``mcs`` and the runtime ``mono``
from Debian's mono-devel (installed by ``make test``)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path

from enigma_apex.adapters import ninjascript
from enigma_apex.adapters.ninjascript import source_folder


class MonoUnavailableError(RuntimeError):
    pass


def available() -> bool:
    return bool(shutil.which("mcs") and shutil.which("mono"))


def require() -> None:
    if not available():
        raise MonoUnavailableError("Mono (mcs, mono) is not installed: apt install mono-devel")


def compile_cs(out: Path, sources: list[Path], *, target: str = "exe", refs: tuple[str, ...] = ()) -> Path:
    """``mcs`` with warnings as errors; a failure raises with the compiler's messages."""
    require()
    args = ["mcs", f"-target:{target}", f"-out:{out}", "-warnaserror+", "-r:System.dll"]
    args += [f"-r:{ref}" for ref in refs]
    result = subprocess.run([*args, *map(str, sources)], capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise RuntimeError(f"mcs failed:\n{result.stdout}\n{result.stderr}")
    return out


def fake_sources(root: Path | None = None) -> list[Path]:
    """The faithful fake of NinjaTrader 8's API (``ninjatrader/fake``): tests only, never in the archive."""
    return sorted(((root or source_folder()) / "fake").glob("*.cs"))


NINJASCRIPT_REFS = ("System.Core.dll", "System.Xml.dll")


@cache
def scenario_exe() -> Path:
    """The scenario host: the fake, every NinjaScript file (AddOn, Strategy, Indicator, protocol client) and
    ``ninjatrader/tests/ScenarioHost.cs``, warnings as errors."""
    root = source_folder()
    folder = Path(tempfile.mkdtemp(prefix="enigma-nt-"))
    sources = [*fake_sources(root), *ninjascript.sources(root), root / "tests" / "ScenarioHost.cs"]
    return compile_cs(folder / "ScenarioHost.exe", sources, refs=NINJASCRIPT_REFS)


@cache
def host_exe() -> Path:
    """The conformance host: the protocol client library plus ``ninjatrader/tests/ConformanceHost.cs``."""
    root = source_folder()
    folder = Path(tempfile.mkdtemp(prefix="enigma-cs-"))
    sources = [*sorted((root / "AddOns" / "EnigmaApex").glob("*.cs")), root / "tests" / "ConformanceHost.cs"]
    return compile_cs(folder / "ConformanceHost.exe", sources)


__all__ = ["MonoUnavailableError", "available", "compile_cs", "fake_sources", "host_exe", "require", "scenario_exe"]
