"""An ASGI app served by uvicorn in a daemon thread on a free port of 127.0.0.1: for the
tests that talk to a real server (numerapi, the client, the CLI, the browser)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn


class ServerThread:
    """The port is taken at once, so ``url`` is known before the app (whose public URL
    it is) is built; ``start(app)`` serves it, ``stop()`` ends it and frees the port."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, app: Any, *, http: str = "auto", lifespan: str = "off") -> None:
        config = uvicorn.Config(
            app, log_level="warning", ws="none", http=http, lifespan=lifespan, access_log=False
        )
        self._server = server = uvicorn.Server(config)
        self._thread = thread = threading.Thread(
            target=server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self.socket.close()
