"""The NinjaScript import archive (`enigma-apex ninjatrader package OUT.zip`).

The archive holds the NinjaScript sources in NinjaTrader's folder layout (``AddOns/``, ``Indicators/``,
``Strategies/``, the shared protocol client under ``AddOns/EnigmaApex/``) and an ``Info.xml`` naming the
NinjaTrader version, for Tools > Import > NinjaScript Add-On. The stub assembly and the test host used by CI are
left out.
"""

from __future__ import annotations

import zipfile
from importlib import resources
from pathlib import Path

FOLDERS = ("AddOns", "Indicators", "Strategies")
INFO_XML = (
    '<?xml version="1.0" encoding="utf-8"?>\n<NinjaTrader><Export><Version>8.1.2.1</Version></Export></NinjaTrader>\n'
)


def source_folder() -> Path:
    """``ninjatrader/`` of a source checkout, or the copy inside an installed wheel."""
    packaged = Path(str(resources.files("enigma_apex"))) / "_ninjatrader"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "ninjatrader"


def sources(root: Path | None = None) -> list[Path]:
    base = root or source_folder()
    return sorted(p for folder in FOLDERS for p in (base / folder).rglob("*.cs"))


def package(out: Path, root: Path | None = None) -> list[str]:
    """Write the archive; returns the names it holds."""
    base = root or source_folder()
    files = sources(base)
    if not files:
        raise FileNotFoundError(f"no NinjaScript sources under {base}")
    names = []
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("Info.xml", INFO_XML)
        names.append("Info.xml")
        for path in files:
            name = path.relative_to(base).as_posix()
            archive.write(path, name)
            names.append(name)
    return names


__all__ = ["FOLDERS", "package", "source_folder", "sources"]
