"""A real redis-server on 127.0.0.1 for tests, started on a free port and killed at teardown."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

REQUIRE_REDIS_VARIABLE = "FAQBOT_REQUIRE_REDIS"
START_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 10.0
START_ATTEMPTS = 3


def find_redis_server() -> str | None:
    """Return the redis-server binary, if installed."""
    found = shutil.which("redis-server")
    if found:
        return found
    return "/usr/bin/redis-server" if os.access("/usr/bin/redis-server", os.X_OK) else None


def require_redis_server() -> str:
    """Return the binary, or skip (fail when FAQBOT_REQUIRE_REDIS=1) with the reason."""
    binary = find_redis_server()
    if binary is None:
        reason = (
            "redis-server is not installed (apt-get install redis-server); Redis tests need a real server"
        )
        if os.environ.get(REQUIRE_REDIS_VARIABLE) == "1":
            pytest.fail(f"{reason}, and {REQUIRE_REDIS_VARIABLE}=1 requires them")
        pytest.skip(reason)
    return binary


def free_loopback_port() -> int:
    """Ask the kernel for a loopback port that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """One redis-server process without persistence, restartable on the same port."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The redis:// URL of database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        """Where the server writes its own log, for diagnosing a failed start."""
        return self.workdir / f"redis-{self.port}.log"

    def start(self) -> None:
        """Start on a free port (retrying a port taken meanwhile) and wait for PING."""
        failures: list[str] = []
        for _attempt in range(START_ATTEMPTS):
            self.port = free_loopback_port()
            try:
                self._launch()
                return
            except RuntimeError as exc:
                failures.append(str(exc))
        raise RuntimeError("redis-server did not start: " + " | ".join(failures))

    def restart(self) -> None:
        """Start again on the same port after stop()."""
        self._launch()

    def _launch(self) -> None:
        """Run redis-server on self.port and wait, bounded, until it answers PING."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    self.binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.workdir),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        """Poll PING until the server answers or exits, at most START_TIMEOUT_SECONDS."""
        assert self._process is not None
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        try:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    raise RuntimeError(
                        f"redis-server exited with {self._process.returncode}: "
                        f"{self.log_path.read_text(errors='replace')[-2000:]}"
                    )
                try:
                    if client.ping():
                        return
                except redis.exceptions.RedisError:
                    time.sleep(0.05)
        finally:
            client.close()
        self.stop()
        raise RuntimeError(
            f"redis-server on port {self.port} did not answer PING in {START_TIMEOUT_SECONDS}s"
        )

    def stop(self) -> None:
        """Kill the server (like a crash) and reap it."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait(timeout=STOP_TIMEOUT_SECONDS)
        self._process = None


def _serve(binary: str, workdir: Path) -> Iterator[RedisServer]:
    """Start a server, hand it out, and kill it however the test ended."""
    server = RedisServer(binary, workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(name="redis_server", scope="session")
def redis_server_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One Redis server shared by the whole test session (tests flush it as they need)."""
    binary = require_redis_server()
    yield from _serve(binary, tmp_path_factory.mktemp("redis"))


@pytest.fixture(name="own_redis_server")
def own_redis_server_fixture(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis server for one test alone, which may stop and restart it."""
    binary = require_redis_server()
    yield from _serve(binary, tmp_path / "redis")
