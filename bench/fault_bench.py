"""Fault benchmark: the production gunicorn server through a killed worker, a Redis outage, a broken corpus.

    python bench/fault_bench.py [--clients 8] [--workers 2]

Each scenario starts its own server (gunicorn -c gunicorn.conf.py, as in load_bench.py) in a temporary
folder, drives POST /api/ask from keep-alive clients on 127.0.0.1, injects one fault and prints figures and
PASS or FAIL:

(a) kill -9 one worker during a load of questions that must be declined (each text unique); gunicorn
    respawns it. Every acknowledged request (200, matched false) must be in the SQLite question log as
    "declined", and the server must keep answering; requests lost with the killed worker are reported.
(b) a real redis-server on a free port is the storage; it is stopped for a few seconds mid-load and started
    again on the same port. No request may get a 5xx or go unanswered, and afterwards conversations are
    kept in Redis again (a follow-up and a menu number work, and Redis holds the session and question log).
    Skipped, with the reason, when redis-server is not installed.
(c) one file of a temporary copy of faq_corpus is overwritten with broken YAML mid-load. /healthz must show
    the reload error, the old answers must keep coming (学费多少 -> tuition-fee, 62000), no request may
    fail, and /healthz must be clean again once the file is restored.

Exits 1 when a scenario fails. Takes one to two minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    JSON_HEADERS,
    ROOT,
    Call,
    GunicornServer,
    Result,
    Run,
    ask,
    ask_calls,
    drive,
    free_port,
    healthz,
    load_questions,
    production_spec,
    sqlite_url,
    summarise,
    write_config,
)

from bot.config import load_config
from bot.storage import SQLiteStorage
from bot.storage.redis import RedisStorage

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
MAX_SCENARIO_LOAD_SECONDS = 60.0
RESPAWN_TIMEOUT_SECONDS = 30.0
REDIS_START_TIMEOUT_SECONDS = 10.0
REDIS_STOP_TIMEOUT_SECONDS = 10.0
HEALTH_TIMEOUT_SECONDS = 30.0
HEALTH_POLL_SECONDS = 0.2
CONSECUTIVE_HEALTH_SAMPLES = 10
BROKEN_YAML = (
    "- id: tuition-fee\n  question: [this list is never closed\n    en: How much is the tuition fee?\n"
)


class BackgroundLoad:
    """drive() in a thread until stopped (bounded by MAX_SCENARIO_LOAD_SECONDS)."""

    def __init__(self, port: int, calls: Callable[[int], Call], clients: int) -> None:
        self._stop = threading.Event()
        self._run = Run()
        self.started = time.monotonic()
        self._thread = threading.Thread(
            target=self._work, args=(port, calls, clients), name="background-load", daemon=True
        )
        self._thread.start()

    def _work(self, port: int, calls: Callable[[int], Call], clients: int) -> None:
        self._run = drive(port, calls, clients, MAX_SCENARIO_LOAD_SECONDS, stop=self._stop)

    def __enter__(self) -> BackgroundLoad:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.finish()

    def finish(self) -> Run:
        """Stop the clients, wait for them (bounded) and return what they saw; safe to call twice."""
        self._stop.set()
        self._thread.join(timeout=MAX_SCENARIO_LOAD_SECONDS + 30)
        return self._run


def failures(results: list[Result]) -> list[Result]:
    """The results that count as failed: non-2xx or no response."""
    return [result for result in results if not result.ok]


def describe_failures(results: list[Result]) -> str:
    """Counts of failures by status or error name, e.g. "ConnectionResetError x2, 500 x1"."""
    counts: dict[str, int] = {}
    for result in failures(results):
        key = result.error or str(result.status)
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{key} x{count}" for key, count in sorted(counts.items())) or "none"


def reply_of(result: Result) -> dict:
    """The JSON reply of a result, or {} when there is none."""
    try:
        reply = json.loads(result.body)
    except ValueError:
        return {}
    return reply if isinstance(reply, dict) else {}


def wait_for_health(port: int, condition: Callable[[dict], bool], timeout: float) -> float | None:
    """Seconds until CONSECUTIVE_HEALTH_SAMPLES fresh-connection /healthz replies all satisfy condition.

    Fresh connections let the samples reach every worker, since each worker keeps its own state.
    """
    started = time.monotonic()
    streak = 0
    while time.monotonic() - started < timeout:
        streak = streak + 1 if condition(healthz(port)) else 0
        if streak >= CONSECUTIVE_HEALTH_SAMPLES:
            return time.monotonic() - started
        time.sleep(HEALTH_POLL_SECONDS)
    return None


def verdict(ok: bool) -> str:
    """PASS or FAIL, as printed."""
    return PASS if ok else FAIL


def declined_question_calls() -> Callable[[int], Call]:
    """Unique out-of-scope questions, English and Chinese in turn, each in its own session."""

    def build(number: int) -> Call:
        text = f"what is the weather on day {number}" if number % 2 == 0 else f"第{number}天的天气怎么样"
        payload = json.dumps({"question": text, "session": f"weather-{number}"}, ensure_ascii=False)
        return Call("POST", "/api/ask", payload.encode(), JSON_HEADERS, text)

    return build


def cpu_ticks(pid: int) -> int:
    """User plus system CPU time a process has used, in clock ticks (0 once it is gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = text[text.rfind(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


def scenario_kill_worker(workdir: Path, clients: int, workers: int) -> str:
    """(a) kill -9 a worker mid-load; every acknowledged decline must be in the SQLite question log."""
    print("(a) kill -9 one gunicorn worker during a load of questions that must be declined")
    database = workdir / "faqbot.db"
    config = write_config(workdir, ROOT / "faq_corpus", sqlite_url(database))
    with GunicornServer("kill", production_spec(config), workdir, workers) as server:
        before = server.worker_pids()
        ticks_before = {pid: cpu_ticks(pid) for pid in before}
        with BackgroundLoad(server.port, declined_question_calls(), clients) as load:
            time.sleep(3.0)
            # The busiest worker is the one holding clients' connections, so its death is felt.
            victim = max(before, key=lambda pid: cpu_ticks(pid) - ticks_before[pid])
            os.kill(victim, signal.SIGKILL)
            killed_at = time.monotonic()
            respawned_in = None
            deadline = killed_at + RESPAWN_TIMEOUT_SECONDS
            while time.monotonic() < deadline:
                current = server.worker_pids()
                if len(current) == workers and victim not in current:
                    respawned_in = time.monotonic() - killed_at
                    break
                time.sleep(0.1)
            time.sleep(max(killed_at + 5.0 - time.monotonic(), 0))
            run = load.finish()
        after_pids = server.worker_pids()
        afterwards = [ask(server.port, f"what is the weather on day after {index}") for index in range(20)]
        alive = server.process is not None and server.process.poll() is None

    results = run.results
    acknowledged = [r for r in results if r.status == 200 and reply_of(r).get("matched") is False]
    answered = [r for r in results if r.status == 200 and reply_of(r).get("matched") is not False]
    declined_texts = {record.text for record in SQLiteStorage(database).questions(outcome="declined")}
    missing = [r.call.label for r in acknowledged if r.call.label not in declined_texts]
    failed = failures(results)
    failed_after_kill = [r for r in failed if r.started + r.seconds >= killed_at]
    after_kill_ok = [r for r in results if r.ok and r.started >= killed_at]
    afterwards_ok = sum(
        1 for reply in afterwards if reply["_status"] == 200 and reply.get("matched") is False
    )
    summary = summarise(run)
    print(
        f"    {summary.requests} requests in {summary.seconds:.1f} s ({summary.per_second:.0f}/s); "
        f"worker {victim} of {before} killed after 3.0 s"
    )
    print(
        f"    failed: {len(failed)} ({describe_failures(results)}), {len(failed_after_kill)} of them "
        f"in flight at or after the kill; answered after the kill: {len(after_kill_ok)}"
    )
    respawn = f"in {respawned_in:.1f} s (workers now {after_pids})" if respawned_in else "NOT within 30 s"
    print(f"    gunicorn respawned the worker {respawn}; master alive: {alive}")
    print(
        f"    acknowledged declines: {len(acknowledged)}; missing from the question log: {len(missing)}"
        f"{' e.g. ' + repr(missing[:3]) if missing else ''}; unexpected non-declines: {len(answered)}"
    )
    print(f"    after the respawn: {afterwards_ok}/20 fresh requests declined with 200")
    ok = (
        not missing
        and not answered
        and bool(acknowledged)
        and bool(after_kill_ok)
        and respawned_in is not None
        and alive
        and afterwards_ok == 20
    )
    return verdict(ok)


def find_redis_server() -> str | None:
    """The redis-server binary, or None so that the scenario can skip with the reason."""
    found = shutil.which("redis-server")
    if found:
        return found
    return "/usr/bin/redis-server" if os.access("/usr/bin/redis-server", os.X_OK) else None


class RedisProcess:
    """A redis-server without persistence on a fixed loopback port, stoppable and restartable."""

    def __init__(self, binary: str, port: int, workdir: Path) -> None:
        self.binary = binary
        self.port = port
        self.workdir = workdir
        self.log_path = workdir / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The storage URL of database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start and wait, bounded, until it answers PING."""
        arguments = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [self.binary, *arguments, "--dir", str(self.workdir)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5)
        deadline = time.monotonic() + REDIS_START_TIMEOUT_SECONDS
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    break
                try:
                    if client.ping():
                        return
                except redis.exceptions.RedisError:
                    time.sleep(0.05)
        finally:
            client.close()
        self.stop()
        tail = self.log_path.read_text(errors="replace")[-1500:]
        raise RuntimeError(f"redis-server did not answer PING on port {self.port}\n{tail}")

    def stop(self) -> None:
        """SIGTERM (SIGKILL after a bound) and reap."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=REDIS_STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=REDIS_STOP_TIMEOUT_SECONDS)


def menu_then_number(port: int, session: str) -> str | None:
    """The entry that "3" gets right after "菜单" in one session: the menu's third topic only with state."""
    ask(port, "菜单", session)
    return ask(port, "3", session).get("faq_id")


def scenario_redis_outage(workdir: Path, clients: int, workers: int, down_seconds: float) -> str:
    """(b) stop Redis mid-load: no 5xx, and conversation state in Redis again after it returns."""
    print("(b) Redis storage stopped mid-load and started again on the same port")
    binary = find_redis_server()
    if binary is None:
        print("    redis-server is not installed (apt-get install redis-server); scenario skipped")
        return SKIP
    redis_server = RedisProcess(binary, free_port(), workdir)
    redis_server.start()
    try:
        config = write_config(workdir, ROOT / "faq_corpus", redis_server.url)
        with GunicornServer("redis", production_spec(config), workdir, workers) as server:
            questions = load_questions(answerable_only=True)
            with BackgroundLoad(
                server.port, ask_calls(questions, session_prefix="redis-load"), clients
            ) as load:
                time.sleep(3.0)
                redis_server.stop()
                stopped_at = time.monotonic()
                time.sleep(min(1.0, down_seconds))
                down_health = healthz(server.port)
                during_menu = menu_then_number(server.port, f"outage-{uuid.uuid4().hex}")
                time.sleep(max(down_seconds - (time.monotonic() - stopped_at), 0))
                redis_server.start()
                restarted_at = time.monotonic()
                time.sleep(4.0)
                run = load.finish()
            back_in = wait_for_health(
                server.port, lambda h: h.get("storage_ok") is True, HEALTH_TIMEOUT_SECONDS
            )
            session = f"followup-{uuid.uuid4().hex}"
            first = ask(server.port, "重庆招多少人", session)
            follow_up = ask(server.port, "那四川呢？", session)
            after_menu = menu_then_number(server.port, f"after-{uuid.uuid4().hex}")
            storage = RedisStorage(redis_server.url)
            try:
                logged = {record.text for record in storage.questions()}
            finally:
                storage.close()
            client = redis.Redis.from_url(redis_server.url, socket_timeout=2)
            try:
                sessions_in_redis = sum(1 for _ in client.scan_iter(match="faqbot:session:*", count=1000))
            finally:
                client.close()
    finally:
        redis_server.stop()

    results = run.results
    during = [r for r in results if stopped_at <= r.started < restarted_at]
    after = [r for r in results if r.started >= restarted_at]
    server_errors = [r for r in results if r.status is not None and r.status >= 500]
    unanswered = [r for r in results if r.status is None]
    summary = summarise(run)
    print(
        f"    {summary.requests} requests ({summary.per_second:.0f}/s), p99 {summary.p99_ms:.0f} ms; "
        f"Redis down {restarted_at - stopped_at:.1f} s"
    )
    print(
        f"    while Redis was down: {len(during)} requests, "
        f"{sum(1 for r in during if reply_of(r).get('matched'))} answered from the corpus; "
        f"/healthz storage_ok={down_health.get('storage_ok')}; 菜单 then 3 gave {during_menu!r} (no state)"
    )
    print(
        f"    5xx: {len(server_errors)}; no response: {len(unanswered)}; other failures: "
        f"{len(failures(results)) - len(server_errors) - len(unanswered)} ({describe_failures(results)})"
    )
    back = f"within {back_in:.1f} s of the load's end" if back_in is not None else "NOT within 30 s"
    print(
        f"    after the restart: {len(after)} requests; /healthz storage_ok on "
        f"{CONSECUTIVE_HEALTH_SAMPLES} consecutive samples {back}"
    )
    follow_answer = str(follow_up.get("answer", ""))
    sichuan_ok = (
        follow_up.get("faq_id") == "province-quota" and "四川" in follow_answer and "30" in follow_answer
    )
    print(
        f"    重庆招多少人 -> {first.get('faq_id')}; 那四川呢？ -> {follow_up.get('faq_id')} "
        f"({'Sichuan, 30 places' if sichuan_ok else follow_answer[:60]!r}); 菜单 then 3 -> {after_menu!r}"
    )
    in_log = {"重庆招多少人", "那四川呢？", "菜单", "3"} <= logged
    print(
        f"    restarted Redis (empty at start) now holds {sessions_in_redis} sessions and "
        f"{len(logged)} distinct logged questions, the dialogue's included: {in_log}"
    )
    ok = (
        not server_errors
        and not unanswered
        and not failures(results)
        and back_in is not None
        and sichuan_ok
        and after_menu == "tuition-fee"
        and sessions_in_redis > 0
        and in_log
    )
    return verdict(ok)


def atomic_write(path: Path, data: bytes) -> None:
    """Replace a file in one step, as editors save, so the watcher never reads it half written."""
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def tuition_answers_ok(port: int, tries: int = 6) -> int:
    """How many fresh-connection asks of 学费多少 get tuition-fee with 62000."""
    good = 0
    for _ in range(tries):
        reply = ask(port, "学费多少")
        if reply.get("faq_id") == "tuition-fee" and "62000" in str(reply.get("answer", "")):
            good += 1
    return good


def scenario_broken_corpus(workdir: Path, clients: int, workers: int) -> str:
    """(c) break a corpus file of a copy mid-load: old answers continue, /healthz shows then clears it."""
    print("(c) a corpus file (of a temporary copy) overwritten with broken YAML mid-load, then restored")
    corpus = workdir / "faq_corpus"
    shutil.copytree(ROOT / "faq_corpus", corpus)
    target = corpus / "fees.yaml"
    if ROOT in target.resolve().parents:
        raise RuntimeError(f"refusing to edit {target}: it is inside the repository")
    original = target.read_bytes()
    config = write_config(workdir, corpus, sqlite_url(workdir / "faqbot.db"))
    interval = load_config(config, env={}).server.watch_interval
    with GunicornServer("corpus", production_spec(config), workdir, workers) as server:
        entries_before = healthz(server.port).get("entries")
        calls = ask_calls(load_questions(answerable_only=True), session_prefix=None)
        with BackgroundLoad(server.port, calls, clients) as load:
            time.sleep(2.0)
            atomic_write(target, BROKEN_YAML.encode())
            time.sleep(interval + 0.5)
            shown_in = wait_for_health(
                server.port,
                lambda h: h.get("status") == "degraded" and bool(h.get("last_reload_error")),
                HEALTH_TIMEOUT_SECONDS,
            )
            broken_health = healthz(server.port)
            old_answers = tuition_answers_ok(server.port)
            atomic_write(target, original)
            time.sleep(interval + 0.5)
            cleared_in = wait_for_health(
                server.port,
                lambda h: h.get("status") == "ok" and h.get("last_reload_error") is None,
                HEALTH_TIMEOUT_SECONDS,
            )
            run = load.finish()
        entries_after = healthz(server.port).get("entries")
        answers_after = tuition_answers_ok(server.port)

    results = run.results
    summary = summarise(run)
    matched = sum(1 for r in results if reply_of(r).get("matched"))
    print(
        f"    {summary.requests} requests ({summary.per_second:.0f}/s), {matched} answered, "
        f"failed: {len(failures(results))} ({describe_failures(results)}); watch interval {interval:g} s"
    )
    error_text = str(broken_health.get("last_reload_error") or "")[:110]
    shown = f"by {interval + 0.5 + shown_in:.1f} s after the write" if shown_in is not None else "NEVER"
    print(
        f"    /healthz degraded on {CONSECUTIVE_HEALTH_SAMPLES} consecutive samples {shown}: {error_text!r}"
    )
    print(f"    while broken: 学费多少 -> tuition-fee with 62000 on {old_answers}/6 asks")
    cleared = f"by {interval + 0.5 + cleared_in:.1f} s after" if cleared_in is not None else "NEVER"
    print(
        f"    restored: /healthz clean on {CONSECUTIVE_HEALTH_SAMPLES} consecutive samples {cleared}; "
        f"entries {entries_before} -> {entries_after}; "
        f"学费多少 ok on {answers_after}/6"
    )
    ok = (
        not failures(results)
        and shown_in is not None
        and old_answers == 6
        and cleared_in is not None
        and entries_before == entries_after
        and answers_after == 6
    )
    return verdict(ok)


def main(argv: list[str] | None = None) -> int:
    """Run the three scenarios, each in its own temporary folder, and print a verdict for each."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8, help="concurrent keep-alive clients")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (FAQBOT_WORKERS)")
    parser.add_argument("--redis-down", type=float, default=3.0, help="seconds Redis stays stopped")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.workers < 2 or not 0 < args.redis_down <= 20:
        parser.error("--clients >= 1, --workers >= 2 (one is killed), 0 < --redis-down <= 20")

    started = time.monotonic()
    print(f"{args.workers} gunicorn workers, {args.clients} clients, {os.cpu_count()} CPUs")
    scenarios: list[tuple[str, Callable[[Path], str]]] = [
        ("a", lambda path: scenario_kill_worker(path, args.clients, args.workers)),
        ("b", lambda path: scenario_redis_outage(path, args.clients, args.workers, args.redis_down)),
        ("c", lambda path: scenario_broken_corpus(path, args.clients, args.workers)),
    ]
    verdicts: dict[str, str] = {}
    for name, scenario in scenarios:
        with tempfile.TemporaryDirectory(prefix=f"faqbot-fault-{name}-") as tmp:
            try:
                verdicts[name] = scenario(Path(tmp))
            except (RuntimeError, OSError, redis.exceptions.RedisError) as exc:
                print(f"    could not run the scenario: {exc}")
                verdicts[name] = FAIL
        print(f"    {verdicts[name]}\n")
    print(
        "summary: "
        + ", ".join(f"({name}) {result}" for name, result in verdicts.items())
        + f"; {time.monotonic() - started:.0f} s"
    )
    return 1 if FAIL in verdicts.values() else 0


if __name__ == "__main__":
    sys.exit(main())
