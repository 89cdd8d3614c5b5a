"""Serve an ASGI app with uvicorn on loopback: in a thread (tests) or in the foreground."""

import asyncio
import socket
import subprocess
import threading
import time

import httpx
import uvicorn


class ServerThread:
    """An ASGI app served on 127.0.0.1 from a background thread, for tests and benches."""

    def __init__(self, app, host: str = "127.0.0.1"):
        config = uvicorn.Config(app, host=host, port=0, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.host = host
        self.port = 0
        self._thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "ServerThread":
        self._thread.start()
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError("server thread died during start-up")
            self._thread.join(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(10)


async def serve_forever(app, host: str, port: int) -> None:
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    await uvicorn.Server(config).serve()


def run(app, host: str, port: int) -> None:
    asyncio.run(serve_forever(app, host, port))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(proc: subprocess.Popen, url: str, timeout: float = 30) -> None:
    """Wait until `url` answers, failing early if the process died."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            if proc.poll() is not None or time.monotonic() > deadline:
                output = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"{proc.args} did not start: {output}") from None
            time.sleep(0.1)
