"""Enigma panels rendered with Pillow: the OCR tests' and ``bench ocr``'s ground truth.

Each panel is one line on the chart's dark background, in the Enigma's colour, e.g.
``ENIGMA MNQ LONG PWR 87 L3 MACVU BULL @ 21450.25``. The set varies font family, size (scale), colour,
noise and the symbol, so accuracy is measured over what a real screen varies. Fonts are DejaVu (Debian's
fonts-dejavu-core, bundled with many systems) when found, else Pillow's own font.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

BACKGROUND = (19, 23, 34)  # a dark chart background (#131722)
COLOURS = {  # the Enigma's colour code (integrations.md §5): yellow neutral, green/blue long, red/pink short
    "yellow": (240, 200, 40),
    "green": (38, 200, 90),
    "blue": (40, 120, 255),
    "red": (235, 50, 50),
    "pink": (255, 100, 200),
}
DIRECTION = {"yellow": None, "green": "long", "blue": "long", "red": "short", "pink": "short"}
FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("C:/Windows/Fonts"),
)
FONT_FILES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono.ttf", "DejaVuSansCondensed.ttf")
SIZES = (14, 18, 24, 30)
NOISE = (0, 10, 25)
SYMBOLS = ("MNQ", "NQ", "ES", "MES")
MACVU = ("BULL", "BEAR")


@dataclass(frozen=True)
class Panel:
    """One rendered panel and the truth it shows."""

    image: Image.Image
    colour: str
    direction: str | None
    power: int
    confluence: int
    macvu: str
    price: str
    symbol: str
    font: str
    size: int
    noise: int

    @property
    def text(self) -> str:
        word = {"long": "LONG", "short": "SHORT", None: "WAIT"}[self.direction]
        return f"ENIGMA {self.symbol} {word} PWR {self.power} L{self.confluence} MACVU {self.macvu} @ {self.price}"

    def truth(self) -> dict[str, Any]:
        return {
            "colour": self.colour,
            "direction": self.direction,
            "power": self.power,
            "confluence": self.confluence,
            "macvu": self.macvu,
            "price": self.price,
            "symbol": self.symbol,
        }


def fonts() -> list[tuple[str, Any]]:
    """(name, loader) for every font available here; Pillow's own font when no DejaVu file is found."""
    found: list[tuple[str, Any]] = []
    for name in FONT_FILES:
        for folder in FONT_DIRS:
            path = folder / name
            if path.is_file():
                found.append((name, lambda size, p=path: ImageFont.truetype(str(p), size)))
                break
    if not found:
        found.append(("pillow-default", lambda size: ImageFont.load_default(size)))
    return found


def render(text: str, colour: tuple[int, int, int], font: Any, noise: int, rng: np.random.Generator) -> Image.Image:
    """The panel: ``text`` in ``colour`` on the dark background, with uniform noise of +/- ``noise`` levels."""
    box = ImageDraw.Draw(Image.new("RGB", (1, 1))).textbbox((0, 0), text, font=font)
    left, top, right, bottom = (round(v) for v in box)
    pad = max(6, (bottom - top) // 2)
    image = Image.new("RGB", (right - left + 2 * pad, bottom - top + 2 * pad), BACKGROUND)
    ImageDraw.Draw(image).text((pad - left, pad - top), text, font=font, fill=colour)
    if not noise:
        return image
    pixels = np.asarray(image).astype(np.int16)
    shift = rng.integers(-noise, noise + 1, size=pixels.shape[:2], dtype=np.int16)[..., None]
    return Image.fromarray(np.clip(pixels + shift, 0, 255).astype(np.uint8))


def panel_set(count: int | None = None, seed: int = 7) -> list[Panel]:
    """Every font x size x colour x noise level, with random fields; ``count`` takes an evenly spread subset."""
    rng = np.random.default_rng(seed)
    panels: list[Panel] = []
    for font_name, load in fonts():
        for size in SIZES:
            font = load(size)
            for colour in COLOURS:
                for noise in NOISE:
                    cents = ("00", "25", "50", "75")[int(rng.integers(0, 4))]
                    panel = Panel(
                        Image.new("RGB", (1, 1)),
                        colour=colour,
                        direction=DIRECTION[colour],
                        power=int(rng.integers(1, 101)),
                        confluence=int(rng.integers(1, 5)),
                        macvu=MACVU[int(rng.integers(0, len(MACVU)))],
                        price=f"{int(rng.integers(4000, 25001))}.{cents}",
                        symbol=SYMBOLS[int(rng.integers(0, len(SYMBOLS)))],
                        font=font_name,
                        size=size,
                        noise=noise,
                    )
                    panels.append(replace(panel, image=render(panel.text, COLOURS[colour], font, noise, rng)))
    if count is not None and count < len(panels):
        step = len(panels) / count
        panels = [panels[int(i * step)] for i in range(count)]
    return panels
