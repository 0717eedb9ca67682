"""A headless Chromium driven over the DevTools protocol (CDP), for the browser tests.

Debian's ``chromium`` (``/usr/bin/chromium``, installed by ``scripts/install_browser.sh``) is
started with ``--remote-debugging-port=0``; the port it picked is read from ``DevToolsActivePort``
in its profile directory, and one page target is driven through a websocket (``websockets``'s sync
client). No browser download, no Node: only the CDP methods used here (``Network.setCookie``,
``Page.navigate``, ``Runtime.evaluate``, ``Page.getLayoutMetrics``, ``Page.captureScreenshot``), from
the protocol reference.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

CHROMIUM_NAMES = ("chromium", "chromium-browser")


def find_chromium() -> str | None:
    """The path of Debian's chromium, or None when it is not installed."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """One headless Chromium process with one page; use as a context manager.

    :param width, height: viewport size in CSS pixels (screenshots have this size).
    """

    def __init__(self, executable: str, *, width: int = 1280, height: int = 900) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="gemini-batch-chromium-"))
        self.process = subprocess.Popen(
            [
                executable,
                "--headless=new",
                "--no-sandbox",  # root in a container: the setuid sandbox is unavailable
                "--disable-gpu",
                "--no-first-run",
                "--disable-extensions",
                "--disable-background-networking",
                f"--user-data-dir={self.profile}",
                "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._ids = itertools.count(1)
        self.ws: ClientConnection = connect(self._page_websocket(), max_size=64 * 2**20)
        self.call("Page.enable")
        self.call("Network.enable")

    def _page_websocket(self, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        port_file = self.profile / "DevToolsActivePort"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with code {self.process.returncode}")
            if port_file.exists() and port_file.read_text().strip():
                port = port_file.read_text().split()[0]
                targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=5).json()
                pages = [t for t in targets if t.get("type") == "page"]
                if pages:
                    return str(pages[0]["webSocketDebuggerUrl"])
            time.sleep(0.1)
        raise RuntimeError("chromium did not open its DevTools port")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one CDP command and return its ``result`` (events received meanwhile are dropped)."""
        ident = next(self._ids)
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=60))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))

    def set_cookie(self, url: str, name: str, value: str) -> None:
        self.call("Network.setCookie", url=url, name=name, value=value, path="/")

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def open(self, url: str, *, settle: float = 0.3, timeout: float = 30.0) -> None:
        """Navigate to ``url`` and wait for the document to be complete."""
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        time.sleep(settle)
        while self.evaluate("document.readyState") != "complete":
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not finish loading")
            time.sleep(0.1)

    def html(self) -> str:
        return str(self.evaluate("document.documentElement.outerHTML"))

    def text(self) -> str:
        return str(self.evaluate("document.body ? document.body.innerText : ''"))

    def screenshot(self, path: Path, *, full_page: bool = False) -> Path:
        """Write a PNG of the viewport to ``path``; with ``full_page``, of the whole document.

        A full page is the document's content size (``Page.getLayoutMetrics``' ``cssContentSize``,
        CSS pixels) captured past the viewport (``captureBeyondViewport``), so a table below the
        fold is in the picture. Returns ``path``.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.call("Page.getLayoutMetrics")["cssContentSize"]
            params["captureBeyondViewport"] = True
            params["clip"] = {
                "x": 0,
                "y": 0,
                "width": max(1, int(size["width"])),
                "height": max(1, int(size["height"])),
                "scale": 1,
            }
        data = self.call("Page.captureScreenshot", **params)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
