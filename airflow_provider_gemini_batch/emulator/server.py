"""EmulatorServer: run the emulator with uvicorn on a free port in a background thread."""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn

from airflow_provider_gemini_batch.emulator.app import build_app
from airflow_provider_gemini_batch.emulator.backend import EmulatorState, Settings
from airflow_provider_gemini_batch.emulator.control import EmulatorControl
from airflow_provider_gemini_batch.emulator.faults import Fault
from airflow_provider_gemini_batch.emulator.guard import is_loopback, new_control_token
from airflow_provider_gemini_batch.emulator.transport import protocol_class


def _loop_name() -> str:
    try:
        import uvloop  # noqa: F401

        return "uvloop"
    except ImportError:
        return "asyncio"


def build_config(app: Any, host: str, port: int, log_level: str = "warning") -> uvicorn.Config:
    """uvicorn settings shared by the thread server and the CLI (uvloop + httptools when present)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop=_loop_name(),
        http=protocol_class(),
        lifespan="off",
        log_level=log_level,
        access_log=False,
        # 1,000 pollers keep connections open; do not let a backlog of 2048 be the limit.
        backlog=4096,
        timeout_keep_alive=30,
    )


class EmulatorServer:
    """Context manager running the emulator in-process on ``host`` and a free port.

    :param api_key: the only accepted API key; None accepts any credentials.
    :param processing_seconds: create -> final state time of batches (default 0.2 s; tests want speed).
    :param data_dir: where file bytes go; default a temporary directory removed on exit.
    :param host: interface to bind (default 127.0.0.1).
    :param port: port to bind (default 0 = a free one).
    :param faults: faults queued at start (same as ``control.inject_fault``).
    :param control_token: the token the control plane requires (``X-Emulator-Control-Token``);
        default none on a loopback ``host``, a random one on any other (see :attr:`control_token`).
    :raises RuntimeError: from ``__enter__`` if the server does not come up within 10 s.
    """

    def __init__(
        self,
        api_key: str | None = None,
        processing_seconds: float = 0.2,
        data_dir: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: list[Fault] | None = None,
        control_token: str | None = None,
    ) -> None:
        self.api_key = api_key
        self.host = host
        self.bound_to_loopback = is_loopback(host)
        #: The control plane's token (None: none needed, loopback bind without a configured one).
        self.control_token = control_token or (None if self.bound_to_loopback else new_control_token())
        self._requested_port = port
        self._own_dir = data_dir is None
        self.data_dir = (
            Path(data_dir) if data_dir is not None else Path(tempfile.mkdtemp(prefix="gemini-emu-"))
        )
        self.state = EmulatorState(self.data_dir, Settings(processing_seconds=processing_seconds))
        for fault in faults or []:
            self.state.faults.add(fault)
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._control: EmulatorControl | None = None

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running server."""
        return f"http://{self.host}:{self.port}"

    @property
    def control(self) -> EmulatorControl:
        """An :class:`EmulatorControl` bound to this server."""
        if self._control is None:
            self._control = EmulatorControl(self.base_url, control_token=self.control_token or "")
        return self._control

    def start(self) -> EmulatorServer:
        """Bind, start serving in a daemon thread and wait until ready. Returns self."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._requested_port))
        self.port = sock.getsockname()[1]
        app = build_app(
            self.state,
            self.api_key,
            bound_to_loopback=self.bound_to_loopback,
            control_token=self.control_token,
        )
        config = build_config(app, self.host, self.port)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="gemini-emulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("Gemini Batch emulator failed to start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop serving, join the thread and remove the data dir if we created it."""
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
