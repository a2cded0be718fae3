"""Serving an app over real HTTP in tests: uvicorn on a free loopback port, in a thread.

The listening socket is bound before the app is built, so its address can be
the app's `PAI_BASE_URL` (discovery, redirects and Bundle links then name the
server clients talk to), and no other process can take the port in between.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp

from api.logs import UVICORN_OPTIONS


@contextmanager
def serving(build: Callable[[str], ASGIApp], name: str = "pai-served") -> Iterator[str]:
    """Serve `build(base_url)` until the block ends; yields the base URL."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port: int = listener.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(
        uvicorn.Config(
            build(base_url), host="127.0.0.1", port=port, log_level="warning", **UVICORN_OPTIONS
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, name=name)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start serving PAI")
            time.sleep(0.02)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()
    if thread.is_alive():
        raise RuntimeError("uvicorn did not shut down")
