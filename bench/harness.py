"""What the server benchmarks share: a production gunicorn server on a free port, its config, and clients.

load_bench.py, fault_bench.py and memory_bench.py start faqbot exactly as production does (gunicorn -c
gunicorn.conf.py) with a temporary config written by write_config, and drive it with the keep-alive clients
defined here.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import runpy
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType, TracebackType
from urllib.parse import urlencode

import yaml
from flask import Flask

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))


from bot.config import ENV_OVERRIDES, load_config  # noqa: E402
from bot.wechat import sign  # noqa: E402
from server import create_app  # noqa: E402

GUNICORN_CONF = ROOT / "gunicorn.conf.py"
EVAL_FILE = ROOT / "faq_corpus" / "eval.yaml"
BARE_SPEC = "bare_app:create_app()"
READY_TIMEOUT_SECONDS = 90.0
READY_POLL_SECONDS = 0.2
STOP_TIMEOUT_SECONDS = 20.0
REQUEST_TIMEOUT_SECONDS = 10.0
MAX_CALLS_PER_RUN = 2_000_000
JSON_HEADERS: Mapping[str, str] = MappingProxyType({"Content-Type": "application/json"})
XML_HEADERS: Mapping[str, str] = MappingProxyType({"Content-Type": "text/xml; charset=utf-8"})


def production_app(config_path: str) -> Flask:
    """The production app factory fed a given config file (gunicorn: "harness:production_app('…')")."""
    return create_app(load_config(config_path))


def production_spec(config_path: Path) -> str:
    """The gunicorn application argument that serves faqbot with the config at config_path."""
    return f"harness:production_app({str(config_path)!r})"


def free_port() -> int:
    """A loopback port that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


BENCH_ADMIN_TOKEN = "bench-admin-token"


def write_config(workdir: Path, corpus_dir: Path, storage: str) -> Path:
    """A copy of config.yaml for a benchmark server: given corpus and storage, watching on, no rate limit."""
    data = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8")) or {}
    data["corpus_dir"] = str(corpus_dir)
    data["storage"] = storage
    server = data.setdefault("server", {})
    server["watch_corpus"] = True
    server["rate_limit_per_minute"] = 0
    server["rate_limit_per_address"] = 0  # every benchmark client is 127.0.0.1
    server["admin_token"] = BENCH_ADMIN_TOKEN  # /healthz details
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    load_config(path, env={})  # refuse here, with the config's own message, what the server would refuse
    return path


def gunicorn_setting(name: str) -> object:
    """A value of gunicorn.conf.py as it evaluates in this environment (e.g. threads)."""
    saved = dict(os.environ)
    try:
        settings = runpy.run_path(str(GUNICORN_CONF))
    finally:  # the file sets up the metrics folder of a server; this process is none
        made = os.environ.get("PROMETHEUS_MULTIPROC_DIR") if settings_made_dir(saved) else None
        os.environ.clear()
        os.environ.update(saved)
        if made:
            shutil.rmtree(made, ignore_errors=True)
    return settings.get(name)


def settings_made_dir(before: Mapping[str, str]) -> bool:
    """True when evaluating gunicorn.conf.py made a metrics folder that was not asked for."""
    return not before.get("PROMETHEUS_MULTIPROC_DIR") and bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def sqlite_url(path: Path) -> str:
    """The storage URL of an SQLite file at an absolute path."""
    return f"sqlite://{path.resolve()}"


class GunicornServer:
    """One gunicorn master in its own process group, bound to a free loopback port; a context manager."""

    def __init__(
        self,
        name: str,
        app_spec: str,
        workdir: Path,
        workers: int,
        env: Mapping[str, str] | None = None,
        ready_path: str = "/healthz",
    ) -> None:
        self.name = name
        self.app_spec = app_spec
        self.workdir = workdir
        self.workers = workers
        self.extra_env = dict(env or {})
        self.ready_path = ready_path
        self.port = 0
        self.log_path = workdir / f"{name}-gunicorn.log"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> GunicornServer:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def _environment(self) -> dict[str, str]:
        """The parent's environment without faqbot overrides, plus bind, workers and the given variables."""
        env = {key: value for key, value in os.environ.items() if key not in ENV_OVERRIDES}
        env["FAQBOT_BIND"] = f"127.0.0.1:{self.port}"
        if self.workers:  # 0: gunicorn.conf.py's default
            env["FAQBOT_WORKERS"] = str(self.workers)
        env.update(self.extra_env)
        return env

    def start(self) -> None:
        """Start gunicorn with gunicorn.conf.py and wait, bounded, until ready_path answers 200."""
        self.port = free_port()
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(GUNICORN_CONF),
            "--pythonpath",
            str(BENCH),
            self.app_spec,
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self._environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_until_ready()
        except RuntimeError:
            self.stop()
            raise

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"{self.name}: gunicorn exited during start-up\n{self.log_tail()}")
            try:
                status, _ = fetch(self.port, "GET", self.ready_path)
            except (OSError, http.client.HTTPException):
                status = 0
            if status == 200:
                return
            time.sleep(READY_POLL_SECONDS)
        raise RuntimeError(f"{self.name}: no 200 from {self.ready_path} in {READY_TIMEOUT_SECONDS:.0f} s")

    def worker_pids(self) -> list[int]:
        """The master's live child processes (its workers), from /proc."""
        if self.process is None:
            return []
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
            except OSError:
                continue
            fields = text[text.rfind(")") + 2 :].split()
            if len(fields) > 1 and fields[0] != "Z" and int(fields[1]) == self.process.pid:
                children.append(int(stat.parent.name))
        return sorted(children)

    def memory(self) -> list[tuple[str, int, int, int]]:
        """(role, pid, PSS, private) in KiB of the master and each worker, from /proc/<pid>/smaps_rollup."""
        if self.process is None:
            return []
        rows = []
        for role, pid in [("master", self.process.pid)] + [("worker", pid) for pid in self.worker_pids()]:
            fields = {}
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
                name, value = line.split(":", 1)
                fields[name] = int(value.split()[0])
            rows.append((role, pid, fields["Pss"], fields["Private_Clean"] + fields["Private_Dirty"]))
        return rows

    def log_tail(self, characters: int = 3000) -> str:
        """The end of gunicorn's output, for explaining a failure."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-characters:]
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it if the master has not exited in time; reap the master."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT_SECONDS)


def fetch(
    port: int, method: str, path: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
) -> tuple[int, bytes]:
    """One request on a fresh connection (so that successive calls can reach different workers)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_SECONDS)
    try:
        connection.request(method, path, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def ask(port: int, question: str, session: str | None = None) -> dict:
    """POST /api/ask on a fresh connection and return the JSON reply (with the status under "_status")."""
    payload: dict[str, str] = {"question": question}
    if session:
        payload["session"] = session
    status, body = fetch(port, "POST", "/api/ask", json.dumps(payload).encode(), JSON_HEADERS)
    try:
        reply = json.loads(body)
    except ValueError:
        reply = {"raw": body.decode("utf-8", "replace")}
    return {**reply, "_status": status}


def healthz(port: int) -> dict:
    """GET /healthz on a fresh connection; an unreachable server gives {"_status": 0}."""
    try:
        status, body = fetch(
            port, "GET", "/healthz", headers={"Authorization": f"Bearer {BENCH_ADMIN_TOKEN}"}
        )
        return {**json.loads(body), "_status": status}
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return {"_status": 0, "_error": type(exc).__name__}


@dataclass(frozen=True)
class Call:
    """One HTTP request to make; label says what it carries (a question, a unique text)."""

    method: str
    path: str
    body: bytes
    headers: Mapping[str, str]
    label: str = ""


@dataclass(frozen=True)
class Result:
    """What happened to one Call: status None means no response (connection error or timeout)."""

    call: Call
    status: int | None
    body: bytes
    started: float
    seconds: float
    error: str = ""

    @property
    def ok(self) -> bool:
        """A 2xx response; anything else counts as an error."""
        return self.status is not None and 200 <= self.status < 300


class KeepAliveClient:
    """One persistent HTTP/1.1 connection, reopened after any failure, like a pooled client."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._connection: http.client.HTTPConnection | None = None

    def send(self, call: Call) -> tuple[int, bytes]:
        """Send on the open connection (opening one if needed) and return status and body."""
        if self._connection is None:
            self._connection = http.client.HTTPConnection(
                "127.0.0.1", self.port, timeout=REQUEST_TIMEOUT_SECONDS
            )
        try:
            self._connection.request(call.method, call.path, body=call.body, headers=dict(call.headers))
            response = self._connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        if response.will_close:
            self.close()
        return response.status, data

    def close(self) -> None:
        """Drop the connection so that the next send opens a new one."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None


@dataclass
class Run:
    """The results of one drive() and the wall time it took."""

    results: list[Result] = field(default_factory=list)
    seconds: float = 0.0


def drive(
    port: int,
    next_call: Callable[[int], Call],
    clients: int,
    seconds: float,
    stop: threading.Event | None = None,
    max_calls: int = MAX_CALLS_PER_RUN,
) -> Run:
    """Send calls from `clients` threads until `seconds` pass, `stop` is set or max_calls are made."""
    deadline = time.monotonic() + seconds
    stop = stop or threading.Event()
    numbers_lock = threading.Lock()
    issued = [0]
    per_client: list[list[Result]] = [[] for _ in range(clients)]

    def take_number() -> int | None:
        with numbers_lock:
            if issued[0] >= max_calls:
                return None
            issued[0] += 1
            return issued[0] - 1

    def client_loop(results: list[Result]) -> None:
        client = KeepAliveClient(port)
        try:
            while time.monotonic() < deadline and not stop.is_set():
                number = take_number()
                if number is None:
                    return
                call = next_call(number)
                started = time.monotonic()
                try:
                    status, body = client.send(call)
                    results.append(Result(call, status, body, started, time.monotonic() - started))
                except (OSError, http.client.HTTPException) as exc:
                    error = type(exc).__name__
                    results.append(Result(call, None, b"", started, time.monotonic() - started, error))
        finally:
            client.close()

    threads = [
        threading.Thread(target=client_loop, args=(results,), name=f"client-{index}", daemon=True)
        for index, results in enumerate(per_client)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(deadline - time.monotonic(), 0) + REQUEST_TIMEOUT_SECONDS + 5)
    run = Run(seconds=time.monotonic() - started)
    for results in per_client:
        run.results.extend(list(results))
    run.results.sort(key=lambda result: result.started)
    return run


@dataclass(frozen=True)
class Summary:
    """The figures printed for one endpoint."""

    requests: int
    ok: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def per_second(self) -> float:
        """Throughput in 2xx responses per second of wall time."""
        return self.ok / self.seconds if self.seconds > 0 else 0.0


def percentile(sorted_values: list[float], share: float) -> float:
    """Nearest-rank percentile of an ascending list (0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(share * len(sorted_values)))
    return sorted_values[rank - 1]


def summarise(run: Run) -> Summary:
    """Reduce a run to the figures printed, so every endpoint is measured the same way."""
    latencies = sorted(result.seconds * 1000 for result in run.results)
    ok = sum(1 for result in run.results if result.ok)
    return Summary(
        requests=len(run.results),
        ok=ok,
        errors=len(run.results) - ok,
        seconds=run.seconds,
        p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99),
    )


def load_questions(path: Path = EVAL_FILE, answerable_only: bool = False) -> list[str]:
    """The evaluation questions (optionally only those an entry answers), in file order."""
    items = yaml.safe_load(path.read_text(encoding="utf-8"))["items"]
    return [str(item["q"]) for item in items if item.get("id") or not answerable_only]


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def wechat_calls(token: str, questions: list[str]) -> Callable[[int], Call]:
    """Signed plain-mode text messages, each from a new user with a new MsgId, cycling the questions."""

    def build(number: int) -> Call:
        question = questions[number % len(questions)]
        timestamp = str(int(time.time()))
        nonce = secrets.token_hex(8)
        user = "o-bench-" + uuid.uuid4().hex[:20]
        msg_id = str(uuid.uuid4().int >> 65)
        query = urlencode(
            {
                "signature": sign(token, timestamp, nonce),
                "timestamp": timestamp,
                "nonce": nonce,
                "openid": user,
            }
        )
        body = (
            "<xml>"
            f"<ToUserName>{_cdata('gh_bench_account')}</ToUserName>"
            f"<FromUserName>{_cdata(user)}</FromUserName>"
            f"<CreateTime>{timestamp}</CreateTime>"
            f"<MsgType>{_cdata('text')}</MsgType>"
            f"<Content>{_cdata(question)}</Content>"
            f"<MsgId>{msg_id}</MsgId>"
            "</xml>"
        )
        return Call("POST", f"/wechat?{query}", body.encode("utf-8"), XML_HEADERS, question)

    return build


def ask_calls(
    questions: list[str], path: str = "/api/ask", session_prefix: str | None = "bench"
) -> Callable[[int], Call]:
    """JSON questions, each in a new session (or none when session_prefix is None), cycling the questions."""

    def build(number: int) -> Call:
        question = questions[number % len(questions)]
        payload = {"question": question}
        if session_prefix is not None:
            payload["session"] = f"{session_prefix}-{uuid.uuid4().hex}"
        return Call("POST", path, json.dumps(payload, ensure_ascii=False).encode(), JSON_HEADERS, question)

    return build


WRK = shutil.which("wrk")
WRK_THREADS = 2


@dataclass(frozen=True)
class WrkRun:
    """What one wrk run reported."""

    requests: int
    ok: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float


def _lua_string(text: str) -> str:
    level = "=" * next(n for n in range(1, 20) if f"]{'=' * n}]" not in text)
    return f"[{level}[{text}]{level}]"


# Signed (timestamp, nonce) pairs a wrk thread can use per second of its run: the server refuses a pair that
# another message already used (a replay), and wrk's Lua has no SHA-1, so every request's signature is made
# here beforehand. Far above what one wrk thread sends on this kind of machine.
WRK_SIGNED_PER_THREAD_SECOND = 8_000


def wrk_script(
    kind: str, path: str, questions: list[str], run: int, token: str = "", seconds: float = 1.0
) -> str:
    """A wrk Lua script: like wechat_calls / ask_calls, a new user (or session) and MsgId per request.

    WeChat messages also get a new nonce each, signed in advance (WRK_SIGNED_PER_THREAD_SECOND).
    """
    signing = ""
    if kind == "wechat":
        fragments = [_cdata(q) for q in questions]
        timestamp = str(int(time.time()))
        per_thread = math.ceil((max(1.0, seconds) + 1) * WRK_SIGNED_PER_THREAD_SECOND)  # wrk rounds seconds
        signatures = "".join(
            sign(token, timestamp, f"{run}-{tid}-{n}")
            for tid in range(1, WRK_THREADS + 1)
            for n in range(1, per_thread + 1)
        )
        signing = (
            f'local signatures = "{signatures}"\n'
            f"local per_thread = {per_thread}\n"
            "local function signed(n)\n"
            "  local i = ((tid - 1) * per_thread + ((n - 1) % per_thread)) * 40\n"
            f'  return {_lua_string(path + "?timestamp=" + timestamp + "&nonce=" + str(run) + "-")} .. tid .. "-" .. n'
            ' .. "&signature=" .. string.sub(signatures, i + 1, i + 40)\n'
            "end\n"
        )
        target = "signed(n)"
        content_type = XML_HEADERS["Content-Type"]
        body = (
            '"<xml><ToUserName><![CDATA[gh_bench_account]]></ToUserName><FromUserName><![CDATA[o-bench-'
            f'{run}-" .. tid .. "-" .. n .. "]]></FromUserName><CreateTime>{timestamp}</CreateTime>'
            '<MsgType><![CDATA[text]]></MsgType><Content>" .. q .. "</Content><MsgId>'
            f'{run}" .. tid .. string.format("%010d", n) .. "</MsgId></xml>"'
        )
    else:
        fragments = [json.dumps(q, ensure_ascii=False) for q in questions]
        target = _lua_string(path)
        content_type = JSON_HEADERS["Content-Type"]
        body = f'\'{{"question":\' .. q .. \',"session":"bench-{run}-\' .. tid .. "-" .. n .. \'"}}\''
    table = ",\n".join(_lua_string(f) for f in fragments)
    return f"""
local questions = {{
{table}
}}
local next_tid = 1
function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
end
{signing}local headers = {{["Content-Type"] = "{content_type}"}}
n = 0
request = function()
  n = n + 1
  local q = questions[(n % #questions) + 1]
  return wrk.format("POST", {target}, headers, {body})
end
"""


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _milliseconds(text: str) -> float:
    number = text.rstrip("usm")
    return float(number) * _UNITS_MS[text[len(number) :]]


def wrk_drive(port: int, script: Path, clients: int, seconds: float) -> WrkRun:
    """Run wrk against 127.0.0.1:port for a bounded time and read its summary."""
    duration = max(1, round(seconds))
    command = [
        str(WRK),
        f"-t{min(WRK_THREADS, clients)}",
        f"-c{clients}",
        f"-d{duration}s",
        f"--timeout={REQUEST_TIMEOUT_SECONDS:g}s",
        "--latency",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}",
    ]
    out = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60, check=True).stdout
    percentiles: dict[str, float] = {}
    requests, non_2xx, socket_errors, elapsed = 0, 0, 0, float(duration)
    for line in out.splitlines():
        words = line.split()
        if len(words) == 2 and words[0] in ("50%", "99%"):
            percentiles[words[0]] = _milliseconds(words[1])
        elif len(words) > 3 and words[1] == "requests" and words[2] == "in":
            requests, elapsed = int(words[0]), _milliseconds(words[3].rstrip(",")) / 1000
        elif line.strip().startswith("Non-2xx"):
            non_2xx = int(words[-1])
        elif line.strip().startswith("Socket errors"):
            socket_errors = sum(int(w.rstrip(",")) for w in words if w.rstrip(",").isdigit())
    return WrkRun(
        requests,
        requests - non_2xx,
        non_2xx + socket_errors,
        elapsed,
        percentiles.get("50%", 0.0),
        percentiles.get("99%", 0.0),
    )
