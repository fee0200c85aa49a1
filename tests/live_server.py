"""Real servers on 127.0.0.1 for tests: `python server.py` or gunicorn, over a configuration written to disk."""

from __future__ import annotations

import http.client
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from flask import Flask
from redis_server import free_loopback_port

from bot.config import load_config
from server import create_app

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
START_TIMEOUT_SECONDS = 60.0


def write_config(target: Path, corpus_dir: Path, storage: str, **sections: Mapping[str, Any]) -> Path:
    """config.yaml of the repository with another corpus, storage and some settings changed; its path."""
    raw = yaml.safe_load((REPO_ROOT / "config.yaml").read_text(encoding="utf-8"))
    raw["corpus_dir"] = str(corpus_dir)
    raw["storage"] = storage
    for section, changes in sections.items():
        raw.setdefault(section, {}).update(changes)
    target.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return target


def production_app(config_path: str) -> Flask:
    """The production app factory fed a config file (gunicorn: "live_server:production_app('...')")."""
    return create_app(load_config(config_path))


class LiveServer:
    """One server process on a free loopback port; its output goes to a log file the test can read."""

    def __init__(self, command: list[str], workdir: Path, env: Mapping[str, str] | None = None) -> None:
        self.port = free_loopback_port()
        self.workdir = workdir
        self.log_path = workdir / f"server-{self.port}.log"
        self.command = [part.replace("{port}", str(self.port)) for part in command]
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    @classmethod
    def development(
        cls, config: Path, workdir: Path, max_files: int | None = None, env: Mapping[str, str] | None = None
    ) -> LiveServer:
        """`python server.py`, the README's main command, optionally under `ulimit -n max_files`."""
        command = [sys.executable, "server.py", "--config", str(config), "--port", "{port}"]
        server = cls(command, workdir, env)
        server.start(max_files)
        return server

    @classmethod
    def gunicorn(
        cls, config: Path, workdir: Path, workers: int, env: Mapping[str, str] | None = None
    ) -> LiveServer:
        """gunicorn with gunicorn.conf.py, as production runs it."""
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "gunicorn.conf.py",
            "--pythonpath",
            str(TESTS_DIR),
            f"live_server:production_app({str(config)!r})",
        ]
        server = cls(command, workdir, {"FAQBOT_WORKERS": str(workers), **(env or {})})
        server.env["FAQBOT_BIND"] = f"127.0.0.1:{server.port}"
        server.start()
        return server

    def start(self, max_files: int | None = None) -> None:
        """Launch and wait until /healthz answers (bounded)."""

        def limit_files() -> None:
            if max_files is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (max_files, max_files))

        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=REPO_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=limit_files,
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: {self.log()[-3000:]}")
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not answer in {START_TIMEOUT_SECONDS}s: {self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> tuple[int, bytes, dict[str, str]]:
        """One request on a new connection: (status, body, headers)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=dict(headers or {}))
            response = connection.getresponse()
            return response.status, response.read(), dict(response.getheaders())
        finally:
            connection.close()

    def ask(self, question: str, **fields: Any) -> tuple[int, dict[str, Any]]:
        """POST /api/ask with a JSON body; (status, parsed body)."""
        body = json.dumps({"question": question, **fields}).encode()
        status, data, _ = self.request("POST", "/api/ask", body, {"Content-Type": "application/json"})
        return status, json.loads(data)

    def open_files(self) -> int:
        """How many descriptors the server process holds."""
        assert self.process is not None
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def stop(self) -> None:
        """Terminate the server and reap it (bounded)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)
