"""The AlgoBox Enigma reader with real engines (RapidOCR, Tesseract) on panels rendered by Pillow, a real
screen (Xvfb + a Tk window) captured with mss, and readings turned into signals in the real pipeline."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select
from typer.testing import CliRunner

from enigma_apex.adapters.ocr import OCRError, ScreenCapture, make_engine
from enigma_apex.adapters.store import schema as s
from enigma_apex.app.hub import Hub
from enigma_apex.app.ocr_reader import EnigmaReader, read_image
from enigma_apex.bench import ocr as bench_ocr
from enigma_apex.bench.ocr_panels import BACKGROUND, COLOURS, fonts, panel_set, render
from enigma_apex.cli import app
from enigma_apex.config.models import OCRSection
from enigma_apex.domain.clock import ManualClock
from tests.integration.gatewaykit import run, running_hub

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
TEXT = "ENIGMA MNQ LONG PWR 80 L3 MACVU BULL @ 21000.25"


def panel(text: str = TEXT, colour: str = "green", size: int = 22) -> Image.Image:
    import numpy as np

    _name, load = fonts()[0]
    return render(text, COLOURS[colour], load(size), 0, np.random.default_rng(1))


def blank() -> Image.Image:
    return Image.new("RGB", panel().size, BACKGROUND)


def test_rapidocr_reads_the_rendered_set_with_at_least_99_percent_of_fields_right():
    result = bench_ocr.score(panel_set(count=120), "rapidocr")
    assert result["field_accuracy"] >= 0.99, result["misses"]
    assert result["panels"] == 120 and result["frame_ms"]["p50_ms"] > 0


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="Tesseract is not installed")
def test_tesseract_reads_the_rendered_set_with_at_least_99_percent_of_fields_right():
    result = bench_ocr.score(panel_set(count=40, seed=11), "tesseract")
    assert result["field_accuracy"] >= 0.99, result["misses"]


class Frames:
    """A screen that shows a scripted sequence of images (or fails)."""

    def __init__(self, frames):
        self.frames = list(frames)

    def grab(self) -> Image.Image:
        frame = self.frames.pop(0)
        if isinstance(frame, Exception):
            raise frame
        return frame


def test_stable_readings_become_one_signal_each_in_the_pipeline(tmp_path):
    clock = ManualClock(NOW)
    cfg = OCRSection(enabled=True, stop_ticks=40, group="default")
    accounts = [{"name": "A1", "profile": "apex4-intraday-eval-50k", "executor": "nt8"}]

    async def scenario():
        async with running_hub(tmp_path, clock, accounts, {"default_mode": "auto"}, present=("nt8",)) as (
            *_,
            g,
            store,
            _gd,
        ):
            sent = []

            async def submit(signal, dedup):
                sent.append(signal)
                return await g.pipeline.submit(signal, dedup_key=dedup)

            shown = [panel(), panel(), panel(), blank(), blank(), panel(), panel(), panel(colour="yellow")]
            reader = EnigmaReader(cfg, clock, store, submit, Frames(shown).grab, make_engine("rapidocr"))
            for _ in shown:
                await reader.step()
                clock.advance(timedelta(seconds=1))
            with store.engine.connect() as conn:
                signals = conn.execute(select(s.signals)).all()
                decisions = conn.execute(select(s.decisions)).all()
            return sent, signals, decisions, reader.status.as_dict()

    sent, signals, decisions, status = run(scenario())
    assert len(sent) == 2  # frames 2 and 7: the same Enigma again only after the panel was blank
    first = sent[0]
    assert (first.source.value, first.direction.value, first.power, first.confluence) == ("algobox", "long", 80, 3)
    assert str(first.entry) == "21000.25" and first.stop == first.entry - 10  # 40 ticks of 0.25
    assert dict(first.extra)["trend"] == "up" and str(first.contract).startswith("MNQ")
    assert {r.source for r in signals} == {"algobox"} and len(signals) == 2
    assert [d.action for d in decisions] == ["take", "take"]
    assert status["healthy"] and status["frames"] == 8 and status["signals"] == 2
    assert status["reads"] == 4  # a frame showing the pixels already read keeps its reading: no OCR pass


def test_the_engine_runs_in_a_child_process_that_is_started_again_when_it_dies():
    from enigma_apex.adapters.ocr_process import ProcessEngine

    engine = ProcessEngine("rapidocr")
    try:
        image = panel()
        assert read_image(image, engine, OCRSection()).power == 80
        child = engine.pid
        assert child is not None and child != os.getpid() and engine.starts == 1
        os.kill(child, signal.SIGKILL)  # the engine's process dies (a crash in the model, say)

        def dead() -> bool:  # gone, or a zombie waiting to be reaped
            stat = Path(f"/proc/{child}/stat")
            return not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"

        deadline = time.monotonic() + 10
        while not dead() and time.monotonic() < deadline:
            time.sleep(0.01)
        reading = read_image(image, engine, OCRSection())  # the next frame starts a fresh one
        assert reading.power == 80 and engine.starts == 2 and engine.pid != child
    finally:
        engine.close()
    assert engine.pid is None


def test_an_engine_that_cannot_start_fails_the_frame_with_a_reason(tmp_path):
    from enigma_apex.adapters.ocr_process import ProcessEngine

    engine = ProcessEngine("tesseract", tmp_path / "no-tesseract-here")
    with pytest.raises(OCRError, match="could not start"):
        engine.read(panel())
    assert engine.pid is None


def test_a_failing_screen_reports_unhealthy_alerts_and_recovers(tmp_path):
    clock = ManualClock(NOW)
    cfg = OCRSection(enabled=True)

    async def scenario():
        async with running_hub(tmp_path, clock, [], {}) as (*_, gateway, store, _gd):
            failing = [OCRError("screen capture failed: no display")] * 3 + [blank()]

            async def submit(signal, dedup):
                raise AssertionError("no signal expected")

            hub = Hub(gateway.hub, None, lambda line: None, gateway)  # the hub's component view: /health
            hub.supervisor.set("ocr", "ok", "reading")
            reader = EnigmaReader(
                cfg, clock, store, submit, Frames(failing).grab, make_engine("rapidocr"), on_health=hub.ocr_health
            )
            states = []
            for _ in failing:
                await reader.step()
                states.append((reader.status.healthy, gateway.hub.health()["status"]))
            with store.engine.connect() as conn:
                alerts = conn.execute(select(s.alerts.c.kind, s.alerts.c.severity, s.alerts.c.message)).all()
                health = conn.execute(select(s.component_health.c.component, s.component_health.c.status)).all()
            return states, alerts, health

    states, alerts, health = run(scenario())
    assert states == [(True, "ok"), (True, "ok"), (False, "degraded"), (True, "ok")]  # /health counts it
    assert [(a.kind, a.severity) for a in alerts] == [("ocr.health", "critical"), ("ocr.health", "info")]
    assert "enter signals by hand" in alerts[0].message
    assert [h for h in health if h.component == "ocr"] == [("ocr", "down"), ("ocr", "ok")]


@pytest.fixture
def xvfb():
    if shutil.which("Xvfb") is None or sys.platform == "win32":
        pytest.skip("Xvfb is not installed")
    pytest.importorskip("tkinter")
    for number in range(91, 120):
        if not os.path.exists(f"/tmp/.X11-unix/X{number}"):
            break
    display = f":{number}"
    proc = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        if os.path.exists(f"/tmp/.X11-unix/X{number}"):
            break
        time.sleep(0.05)
    old = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = display
    try:
        yield display
    finally:
        proc.terminate()
        proc.wait(5)
        if old is None:
            os.environ.pop("DISPLAY", None)
        else:
            os.environ["DISPLAY"] = old


def show_on_screen(image: Image.Image, x: int, y: int):
    """A borderless Tk window showing ``image`` at (x, y) on the virtual screen."""
    import tkinter as tk

    root = tk.Tk()
    root.overrideredirect(True)
    root.geometry(f"{image.width}x{image.height}+{x}+{y}")
    path = f"/tmp/enigma-panel-{os.getpid()}.png"
    image.save(path)
    photo = tk.PhotoImage(file=path)
    tk.Label(root, image=photo, borderwidth=0, highlightthickness=0).pack()
    root.photo = photo  # keep a reference
    for _ in range(20):
        root.update()
        time.sleep(0.02)
    return root


def test_mss_captures_the_panel_from_a_real_screen_and_calibrate_saves_it(xvfb, tmp_path):
    shown = panel(size=24)
    root = show_on_screen(shown, 100, 200)
    try:
        grab = ScreenCapture(100, 200, shown.width, shown.height).grab()
        assert grab.size == shown.size
        cfg = OCRSection()
        reading = read_image(grab, make_engine("rapidocr"), cfg)
        assert (reading.direction, reading.power, reading.confluence, str(reading.price)) == ("long", 80, 3, "21000.25")
        config = tmp_path / "enigma-apex.toml"
        config.write_text(
            f'[hub]\ndata_dir = "data"\nuse_keyring = false\n[ocr]\nregion = {{left = 100, top = 200, '
            f"width = {shown.width}, height = {shown.height}}}\n"
        )
        out = tmp_path / "region.png"
        result = CliRunner().invoke(app, ["-c", str(config), "ocr", "calibrate", "--out", str(out), "--json"])
        assert result.exit_code == 0, result.output
        body = json.loads(result.output)
        assert body["power"] == 80 and body["colour"] == "green" and out.exists()
    finally:
        root.destroy()


def test_ocr_read_and_bench_commands(tmp_path, monkeypatch):
    image = tmp_path / "panel.png"
    panel("ENIGMA ES SHORT PWR 91 L4 MACVU BEAR @ 6012.50", "pink").save(image)
    config = tmp_path / "enigma-apex.toml"
    config.write_text('[hub]\ndata_dir = "data"\nuse_keyring = false\n')
    runner = CliRunner()
    result = runner.invoke(app, ["-c", str(config), "ocr", "read", str(image), "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert (body["colour"], body["direction"], body["strong"], body["power"], body["symbol"]) == (
        "pink",
        "short",
        True,
        91,
        "ES",
    )
    assert runner.invoke(app, ["-c", str(config), "ocr", "read", str(tmp_path / "none.png")]).exit_code == 2
    assert runner.invoke(app, ["-c", str(config), "ocr", "read", str(image), "--engine", "x"]).exit_code == 2
    # no configuration file at all: a saved screenshot is read with the defaults (POWER spelled out too)
    spelled = tmp_path / "spelled.png"
    panel("ENIGMA NQ LONG POWER 23 L2 MACVU BULL @ 21450.25", "blue").save(spelled)
    bare = tmp_path / "no-config-here"
    bare.mkdir()
    monkeypatch.chdir(bare)
    plain = runner.invoke(app, ["ocr", "read", str(spelled), "--json"], env={"ENIGMA_APEX_CONFIG": ""})
    assert plain.exit_code == 0, plain.output
    assert (json.loads(plain.output)["power"], json.loads(plain.output)["direction"]) == (23, "long")
    missing = runner.invoke(app, ["-c", str(bare / "named.toml"), "ocr", "read", str(spelled)])
    assert missing.exit_code == 2  # a configuration named but missing is still an error
    bench = runner.invoke(app, ["bench", "ocr", "--json", "--count", "6"])
    assert bench.exit_code == 0, bench.output
    figures = json.loads(bench.output)
    assert figures["panels"] == 6 and 0 <= figures["field_accuracy"] <= 1 and figures["frame_ms"]["p99_ms"] > 0
    monkeypatch.delenv("DISPLAY", raising=False)
    if sys.platform.startswith("linux"):  # no screen at all: a clear error, exit 1
        calibrate = runner.invoke(app, ["-c", str(config), "ocr", "calibrate", "--out", str(tmp_path / "x.png")])
        assert calibrate.exit_code == 1 and "screen capture failed" in calibrate.output


def test_calibrate_on_a_labelled_screenshot_proposes_a_pattern_that_ocr_read_then_uses(tmp_path):
    shot = tmp_path / "labelled.png"
    panel("ENIGMA MNQ LONG STRENGTH 23 L3 MACVU BULL @ 21000.25", "green").save(shot)
    config = tmp_path / "enigma-apex.toml"
    config.write_text('[hub]\ndata_dir = "data"\nuse_keyring = false\n')
    runner = CliRunner()
    before = json.loads(runner.invoke(app, ["-c", str(config), "ocr", "read", str(shot), "--json"]).output)
    assert before["power"] is None  # the default patterns know POWER, PWR, PW: not STRENGTH
    labelled = ["-c", str(config), "ocr", "calibrate", "--image", str(shot), "--expect", "power=23",
                "--expect", "price=21000.25", "--expect", "direction=long"]  # fmt: skip
    result = runner.invoke(app, [*labelled, "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert {c["field"]: c["ok"] for c in body["checks"]} == {"power": False, "price": True, "direction": True}
    assert set(body["proposed"]) == {"power"}
    human = runner.invoke(app, labelled)
    assert human.exit_code == 0 and "pattern proposed" in human.output and "[ocr.patterns]" in human.output
    snippet = human.output[human.output.index("[ocr.patterns]") :]
    config.write_text(config.read_text() + snippet)  # pasted as printed
    after = runner.invoke(app, ["-c", str(config), "ocr", "read", str(shot), "--json"])
    assert after.exit_code == 0, after.output
    assert json.loads(after.output)["power"] == 23  # the proposal pasted as printed reads the panel
    wrong = runner.invoke(app, [*labelled[:6], "--expect", "power=230"])
    assert wrong.exit_code == 2 and "0 to 100" in wrong.output
    absent = runner.invoke(app, [*labelled[:6], "--expect", "price=19999.75"])
    assert absent.exit_code == 1 and "not in the text" in absent.output
