"""Soak benchmark: both servers through a long run of mixed questions and WeChat messages; resources stay flat.

    python bench/soak_bench.py [--requests 20000] [--window 1000] [--servers dev,gunicorn]

Starts `python server.py` (the development server, a thread per connection) and gunicorn with the defaults
of gunicorn.conf.py, each over a temporary configuration (the repository's faq_corpus, SQLite in a temporary
folder, rate limits off, a WeChat token), and sends each server --requests requests on new connections from
one client on 127.0.0.1: questions to /api/ask (a session per ten questions) and signed plain-mode WeChat
text messages (a new MsgId and nonce each), alternating, plus a GET / every tenth request. Prints, for the
first and the last --window requests: open descriptors and resident memory of the server's processes, p99
latency, and errors (non-2xx). Not a test: figures only. Bounded: stops after --requests per server.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import ROOT, free_port, production_spec, sqlite_url, write_config

from bot.wechat import sign

TOKEN = "soak-token"
QUESTIONS = [
    "学费多少",
    "How much is the tuition fee?",
    "有奖学金吗",
    "hello",
    "签证怎么办",
    "电话",
    "菜单",
    "1",
]


def start(kind: str, config: Path, workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {**os.environ, "FAQBOT_WECHAT_TOKEN": TOKEN, "FAQBOT_BIND": f"127.0.0.1:{port}"}
    if kind == "dev":
        command = [sys.executable, "server.py", "--config", str(config), "--port", str(port)]
    else:
        spec = production_spec(config)
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "gunicorn.conf.py",
            "--pythonpath",
            str(ROOT / "bench"),
            spec,
        ]
    log = (workdir / f"{kind}.log").open("ab")
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if request(port, "GET", "/healthz")[0] == 200:
                return process, port
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{kind} server did not start; see {workdir / (kind + '.log')}")


def request(
    port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None
) -> tuple[int, float]:
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        response.read()
        return response.status, time.perf_counter() - started
    finally:
        connection.close()


def tree(pid: int) -> list[int]:
    """The server process and its children (gunicorn's workers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *(p for child in children for p in tree(int(child)))]


def resources(pid: int) -> tuple[int, float]:
    """(open descriptors, resident MiB) summed over the server's processes."""
    files = memory = 0
    for process in tree(pid):
        try:
            files += len(os.listdir(f"/proc/{process}/fd"))
            memory += int(Path(f"/proc/{process}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except FileNotFoundError:
            continue
    return files, memory / 2**20


def one(port: int, number: int, rng: random.Random) -> tuple[int, float]:
    if number % 10 == 0:
        return request(port, "GET", "/")
    question = rng.choice(QUESTIONS)
    if number % 2:
        body = json.dumps({"question": question, "session": f"soak-{number // 10}"}).encode()
        return request(port, "POST", "/api/ask", body, {"Content-Type": "application/json"})
    timestamp, nonce = str(int(time.time())), str(10**9 + number)
    query = urlencode({"signature": sign(TOKEN, timestamp, nonce), "timestamp": timestamp, "nonce": nonce})
    xml = (
        f"<xml><ToUserName>gh_soak</ToUserName><FromUserName>oSoak{number % 50}</FromUserName>"
        f"<CreateTime>{timestamp}</CreateTime><MsgType>text</MsgType><Content><![CDATA[{question}]]></Content>"
        f"<MsgId>{number}</MsgId></xml>"
    )
    return request(port, "POST", f"/wechat?{query}", xml.encode(), {"Content-Type": "text/xml"})


def p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


def soak(kind: str, requests: int, window: int) -> None:
    with tempfile.TemporaryDirectory(prefix=f"faqbot-soak-{kind}-") as folder:
        workdir = Path(folder)
        config = write_config(workdir, ROOT / "faq_corpus", sqlite_url(workdir / "faqbot.db"))
        process, port = start(kind, config, workdir)
        rng = random.Random(7)
        rows = []
        try:
            latencies: list[float] = []
            errors = 0
            for number in range(requests):
                status, seconds = one(port, number, rng)
                latencies.append(seconds)
                errors += not 200 <= status < 300
                if number + 1 == window or number + 1 == requests:
                    files, memory = resources(process.pid)
                    rows.append((number + 1, files, memory, p99(latencies), errors))
                if number + 1 in (window, requests - window):  # the second row measures the last window
                    latencies, errors = [], 0
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    print(f"{kind}: {requests} requests")
    print(
        f"  {'after':>8} {'open fds':>9} {'RSS MiB':>8} {'p99 ms':>8} {'errors':>7}  (p99, errors: first, last window)"
    )
    for after, files, memory, latency, errors in rows:
        print(f"  {after:>8} {files:>9} {memory:>8.1f} {latency:>8.1f} {errors:>7}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--window", type=int, default=1000)
    parser.add_argument("--servers", default="dev,gunicorn")
    args = parser.parse_args()
    for kind in args.servers.split(","):
        soak(kind, args.requests, min(args.window, args.requests))


if __name__ == "__main__":
    main()
