"""report.html in a real headless Chromium: it renders, every chart loads, nothing fails.

Why the DevTools protocol rather than ``chromium --screenshot --dump-dom``: those flags show
the page but cannot tell whether an image *decoded* (``naturalWidth``), cannot read the console
of the page, and cannot see the requests it made. Chromium is started with
``--remote-debugging-port=0`` (it picks a free port and writes it to ``DevToolsActivePort`` in
its profile directory); the test speaks the protocol over one websocket (``websockets``, already
a dependency) — about forty lines, no browser-automation framework to install.

Checked, at a desktop width and a phone width:

* the title names the verdict and the run; the verdict and the reason are on the page;
* every ``<img>`` decoded (``complete`` and ``naturalWidth > 0``) from a ``data:`` URI;
* no console error, no uncaught exception, no browser log error (a Content-Security-Policy
  violation or a failed load would be one), and no request other than the file itself and its
  data URIs;
* on a 390 px phone the page itself does not scroll sideways: the wide tables scroll in their
  own boxes;
* the screenshot shows the verdict banner's colour (the inline CSS applied).

The report and its screenshots (``report.png``, ``report-phone.png``) are kept in
``reports/out/gate-report-sample/`` for a human look.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from matplotlib.image import imread
from websockets.sync.client import ClientConnection, connect

from harness.backends.process import ManagedProcess, make_workdir
from harness.gate.model import Verdict
from harness.gate.report import write_reports
from harness.load.runner import REPOSITORY

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
SAMPLE_DIR = REPOSITORY / "reports" / "out" / "gate-report-sample"
DESKTOP = {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False}
PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}
REGRESSION_RED = (0xCF, 0x22, 0x2E)
"""The REGRESSION banner's background in report.html's CSS."""
TIMEOUT = 30.0


def _fixtures() -> ModuleType:
    """The run-directory builders of tests/harness/test_gate_reports.py (one source of fixtures; the
    tests/ directory is not a package, so it is loaded by path)."""
    path = REPOSITORY / "tests" / "harness" / "test_gate_reports.py"
    spec = importlib.util.spec_from_file_location("gate_report_fixtures", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through it
    spec.loader.exec_module(module)
    return module


class DevTools:
    """The Chrome DevTools Protocol over the browser's websocket, with flattened sessions:
    a command waits for its answer; events that arrive meanwhile are kept for ``events()``."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.last_id = 0
        self.received: list[dict[str, Any]] = []

    def _receive(self) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(self.socket.recv(timeout=TIMEOUT))
        return message

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self.last_id += 1
        request: dict[str, Any] = {"id": self.last_id, "method": method, "params": params}
        if session:
            request["sessionId"] = session
        self.socket.send(json.dumps(request))
        while True:
            message = self._receive()
            if message.get("id") == self.last_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                answer: dict[str, Any] = message.get("result", {})
                return answer
            self.received.append(message)

    def wait_for(self, method: str, session: str) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            for message in self.received:
                if message.get("method") == method and message.get("sessionId") == session:
                    return message
            self.received.append(self._receive())
        raise TimeoutError(f"no {method} within {TIMEOUT} s")

    def events(self, method: str) -> list[dict[str, Any]]:
        return [m["params"] for m in self.received if m.get("method") == method]

    def evaluate(self, session: str, expression: str) -> Any:
        answer = self.call(
            "Runtime.evaluate",
            session,
            expression=expression,
            returnByValue=True,
            awaitPromise=True,
        )
        if "exceptionDetails" in answer:
            raise RuntimeError(f"page script failed: {answer['exceptionDetails']}")
        return answer["result"].get("value")


@pytest.fixture
def chromium() -> Iterator[DevTools]:
    assert CHROMIUM.exists(), "Chromium missing: apt-get install -y chromium (Debian package)"
    workdir = make_workdir("chromium")
    profile = workdir / "profile"
    process = ManagedProcess(
        "chromium",
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",  # root on CI and here: Chromium's sandbox refuses to run as root
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-extensions",
            "--disable-sync",
            "--hide-scrollbars",
            "--mute-audio",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "about:blank",
        ],
        workdir=workdir,
    )
    process.start()
    try:
        active = profile / "DevToolsActivePort"
        deadline = time.monotonic() + TIMEOUT
        while not (active.exists() and len(active.read_text().splitlines()) == 2):
            process.check_running()
            assert time.monotonic() < deadline, (
                f"Chromium did not open DevTools: {process.log_tail()}"
            )
            time.sleep(0.05)
        port, path = active.read_text().splitlines()
        with connect(f"ws://127.0.0.1:{port}{path}", max_size=None, open_timeout=TIMEOUT) as ws:
            yield DevTools(ws)
    finally:
        process.stop()


@pytest.fixture
def report(tmp_path: Path) -> Path:
    """A regression report with every kind of chart, written to the sample directory."""
    fixtures = _fixtures()
    result = fixtures.build_result(Verdict.REGRESSION, tmp_path)
    history = fixtures.build_history(tmp_path)
    contracts = tmp_path / "contracts-summary.md"
    contracts.write_text(
        "# Contract run (contracts)\n\nno failures · 7 operations · 836 examples run\n\n"
        "| suite | covered | examples | failed |\n|---|---:|---:|---:|\n"
        "| stateful · direct | 6 | 712 | 0 |\n",
        encoding="utf-8",
    )
    shutil.rmtree(SAMPLE_DIR, ignore_errors=True)
    write_reports(
        result,
        SAMPLE_DIR,
        history,
        {fixtures.SEARCH: [5]},
        contracts=contracts,
        grafana_url="http://localhost:3000",
    )
    return SAMPLE_DIR / "report.html"


PAGE_FACTS = """(async () => {
  const images = Array.from(document.images);
  await Promise.all(images.map(i => i.decode().catch(() => null)));
  return {
    title: document.title,
    header: document.querySelector('header').innerText,
    images: images.map(i => ({alt: i.alt, complete: i.complete, width: i.naturalWidth,
                              data: i.src.startsWith('data:image/png;base64,')})),
    pageWidth: document.documentElement.scrollWidth,
    viewportWidth: window.innerWidth,
    scrollingTables: Array.from(document.querySelectorAll('.scroll'))
      .filter(b => b.scrollWidth > b.clientWidth).length,
  };
})()"""


def _screenshot(devtools: DevTools, session: str, path: Path) -> np.ndarray[Any, Any]:
    """The whole page (not only the viewport) as PNG; returns its pixels."""
    size = devtools.call("Page.getLayoutMetrics", session)["cssContentSize"]
    shot = devtools.call(
        "Page.captureScreenshot",
        session,
        format="png",
        captureBeyondViewport=True,
        clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
    )
    path.write_bytes(base64.b64decode(shot["data"]))
    pixels: np.ndarray[Any, Any] = imread(path)
    return pixels


def test_report_renders_in_headless_chromium(chromium: DevTools, report: Path) -> None:
    started = time.monotonic()
    target = chromium.call("Target.createTarget", url="about:blank")["targetId"]
    session = chromium.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        chromium.call(f"{domain}.enable", session)
    chromium.call("Emulation.setDeviceMetricsOverride", session, **DESKTOP)
    chromium.call("Page.navigate", session, url=report.as_uri())
    chromium.wait_for("Page.loadEventFired", session)

    desktop = chromium.evaluate(session, PAGE_FACTS)
    assert "REGRESSION" in desktop["title"]
    assert "20251009T100000Z-browse-ci-slow" in desktop["title"]
    assert "REGRESSION" in desktop["header"]
    assert "GET /api/v1/search p95 +24%" in desktop["header"]
    for image in desktop["images"]:
        assert image["data"], image["alt"]
        assert image["complete"], image["alt"]
        assert image["width"] > 0, image["alt"]
    # latency over time + 3 distributions + 3 histories, folded ones included
    assert len(desktop["images"]) == 7
    pixels = _screenshot(chromium, session, report.with_name("report.png"))
    assert pixels.shape[1] == DESKTOP["width"]
    assert pixels.shape[0] > DESKTOP["height"]  # the whole page, not the first screen
    red = np.all(np.abs(pixels[:, :, :3] * 255 - REGRESSION_RED) < 3, axis=2)
    assert red.sum() > 10_000, "the verdict banner's colour is missing: CSS not applied?"

    chromium.call("Emulation.setDeviceMetricsOverride", session, **PHONE)
    phone = chromium.evaluate(session, PAGE_FACTS)
    assert phone["viewportWidth"] == PHONE["width"]
    assert phone["pageWidth"] <= phone["viewportWidth"], "the page scrolls sideways on a phone"
    assert phone["scrollingTables"] >= 1  # the wide tables scroll inside their own box
    _screenshot(chromium, session, report.with_name("report-phone.png"))

    console = [
        e for e in chromium.events("Runtime.consoleAPICalled") if e["type"] in ("error", "assert")
    ]
    assert not console, console
    assert not chromium.events("Runtime.exceptionThrown")
    logged = [e["entry"] for e in chromium.events("Log.entryAdded")]
    assert not [e for e in logged if e["level"] == "error"], logged
    requested = [e["request"]["url"] for e in chromium.events("Network.requestWillBeSent")]
    assert report.as_uri() in requested
    assert all(url == report.as_uri() or url.startswith("data:") for url in requested), requested
    print(
        f"\nrendered and checked in {time.monotonic() - started:.1f} s; screenshots in {SAMPLE_DIR}"
    )
