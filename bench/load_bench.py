"""Load benchmark: the production gunicorn server under concurrent clients, against a bare Flask app.

    python bench/load_bench.py [--seconds 15] [--clients 16] [--workers 2] [--warmup 3] [--rounds 10] [--seed 7]

Starts faqbot exactly as production does (gunicorn -c gunicorn.conf.py, its worker class as that file sets
it) with a temporary configuration: the repository's faq_corpus, SQLite in a temporary folder,
corpus watching on, rate limiting off, and a WeChat token given through FAQBOT_WECHAT_TOKEN. A bare Flask app
(bench/bare_app.py) runs under the same gunicorn settings on another port. The endpoints are then driven in
turns (--rounds slices each, interleaved, so that a machine whose speed drifts during the run weighs on all of
them alike), for a bounded time, by keep-alive clients on 127.0.0.1:

    POST /wechat     signed plain-mode text messages (a new MsgId and FromUserName for every request)
    POST /api/ask    the same questions (a new session for every request)
    POST /bare       the bare app's constant reply

The questions are the evaluation set (faq_corpus/eval.yaml), both languages, shuffled. Prints requests/s
(2xx responses per second), p50 and p99 latency and errors (non-2xx or no response) per endpoint, and the
ratio of /wechat throughput to the bare endpoint's. Not a test: figures only.

The server and the Python clients are bench/harness.py's; with wrk installed (a compiled client, so that
the clients do not take the CPU the server needs) wrk drives the endpoints instead, and the first line says
which client was used. --client python forces the Python clients.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import statistics
import sys
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bare_app import BARE_PATH
from harness import (
    BARE_SPEC,
    EVAL_FILE,
    ROOT,
    WRK,
    Call,
    GunicornServer,
    Run,
    Summary,
    WrkRun,
    ask_calls,
    drive,
    gunicorn_setting,
    load_questions,
    production_spec,
    sqlite_url,
    summarise,
    wechat_calls,
    write_config,
    wrk_drive,
    wrk_script,
)


def main(argv: list[str] | None = None) -> int:
    """Run the three endpoints one after another and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="measured seconds per endpoint")
    parser.add_argument("--clients", type=int, default=16, help="concurrent keep-alive clients")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (FAQBOT_WORKERS)")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds before each endpoint")
    parser.add_argument("--rounds", type=int, default=10, help="turns the endpoints take, sharing --seconds")
    parser.add_argument("--seed", type=int, default=7, help="order of the questions")
    parser.add_argument(
        "--client", choices=("auto", "wrk", "python"), default="auto", help="wrk when installed (auto)"
    )
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.clients < 1 or args.workers < 1 or args.warmup < 0 or args.rounds < 1:
        parser.error("--seconds must be > 0, --clients, --workers and --rounds >= 1, --warmup >= 0")

    use_wrk = args.client == "wrk" or (args.client == "auto" and WRK is not None)
    if use_wrk and WRK is None:
        parser.error("--client wrk: wrk is not installed")
    questions = load_questions()
    random.Random(args.seed).shuffle(questions)
    token = secrets.token_hex(16)
    worker_class = gunicorn_setting("worker_class")
    model = (
        f"x {gunicorn_setting('threads')} threads ({worker_class})"
        if worker_class == "gthread"
        else f"({worker_class})"
    )
    overrides = os.environ.get("GUNICORN_CMD_ARGS", "")
    print(
        f"client: {'wrk (' + str(WRK) + ')' if use_wrk else 'Python keep-alive clients (threads)'}; "
        f"gunicorn.conf.py: {args.workers} workers {model}"
        f"{'; GUNICORN_CMD_ARGS=' + repr(overrides) + ' overrides it' if overrides else ''}; "
        f"{args.clients} clients; {args.seconds:g} s per endpoint in {args.rounds} turns, "
        f"after {args.warmup:g} s warm-up; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"questions: {len(questions)} from {EVAL_FILE.relative_to(ROOT)} (both languages)")

    phases: list[tuple[str, int, Callable[[int], Call]]] = []
    with tempfile.TemporaryDirectory(prefix="faqbot-load-") as tmp, ExitStack() as servers:
        workdir = Path(tmp)
        config = write_config(workdir, ROOT / "faq_corpus", sqlite_url(workdir / "faqbot.db"))
        faqbot = servers.enter_context(
            GunicornServer(
                "faqbot", production_spec(config), workdir, args.workers, {"FAQBOT_WECHAT_TOKEN": token}
            )
        )
        bare = servers.enter_context(
            GunicornServer("bare", BARE_SPEC, workdir, args.workers, ready_path=BARE_PATH)
        )
        phases = [
            ("POST /wechat", faqbot.port, wechat_calls(token, questions)),
            ("POST /api/ask", faqbot.port, ask_calls(questions)),
            (f"POST {BARE_PATH}", bare.port, ask_calls(questions, BARE_PATH)),
        ]
        if use_wrk:
            summaries = _wrk_phases(workdir, faqbot.port, bare.port, token, questions, args)
            phases = []
        for _, port, calls in phases:
            if args.warmup and not use_wrk:
                drive(port, calls, args.clients, args.warmup)
        # The endpoints take turns in short slices, so that a machine that speeds up or slows down during
        # the run (a shared virtual machine does) weighs on each endpoint alike.
        runs: dict[str, Run] = {name: Run() for name, _, _ in phases}
        rounds = 0 if use_wrk else args.rounds
        for _ in range(rounds):
            for name, port, calls in phases:
                run = drive(port, calls, args.clients, args.seconds / args.rounds)
                runs[name].results.extend(run.results)
                runs[name].seconds += run.seconds
        if not use_wrk:
            summaries = {name: summarise(run) for name, run in runs.items()}
        for server in (faqbot, bare):
            if server.process is None or server.process.poll() is not None:
                print(f"warning: {server.name} server exited during the run\n{server.log_tail()}")

    print()
    print(f"{'endpoint':<16}{'requests':>10}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
    for name, summary in summaries.items():
        print(
            f"{name:<16}{summary.requests:>10}{summary.per_second:>10.1f}"
            f"{summary.p50_ms:>10.1f}{summary.p99_ms:>10.1f}{summary.errors:>8}"
        )
    names = list(summaries)
    wechat, bare_summary = summaries[names[0]], summaries[names[2]]
    if bare_summary.per_second > 0:
        print(f"\n/wechat throughput / bare endpoint: {wechat.per_second / bare_summary.per_second:.3f}")
    return 0


def _wrk_phases(
    workdir: Path,
    faqbot_port: int,
    bare_port: int,
    token: str,
    questions: list[str],
    args: argparse.Namespace,
) -> dict[str, Summary]:
    """The three endpoints driven by wrk in interleaved turns; p50 and p99 are the medians of the turns'."""
    endpoints = [
        ("POST /wechat", faqbot_port, "wechat", "/wechat"),
        ("POST /api/ask", faqbot_port, "ask", "/api/ask"),
        (f"POST {BARE_PATH}", bare_port, "ask", BARE_PATH),
    ]
    runs: dict[str, list[WrkRun]] = {name: [] for name, *_ in endpoints}
    slice_seconds = max(1.0, args.seconds / args.rounds)
    number = 0
    for turn in range(-1 if args.warmup else 0, args.rounds):
        for name, port, kind, path in endpoints:
            number += 1
            script = workdir / f"wrk-{number}.lua"
            seconds = args.warmup if turn < 0 else slice_seconds
            script.write_text(wrk_script(kind, path, questions, number, token, seconds), encoding="utf-8")
            run = wrk_drive(port, script, args.clients, seconds)
            if turn >= 0:
                runs[name].append(run)
    return {
        name: Summary(
            requests=sum(r.requests for r in turns),
            ok=sum(r.ok for r in turns),
            errors=sum(r.errors for r in turns),
            seconds=sum(r.seconds for r in turns),
            p50_ms=statistics.median(r.p50_ms for r in turns),
            p99_ms=statistics.median(r.p99_ms for r in turns),
        )
        for name, turns in runs.items()
    }


if __name__ == "__main__":
    sys.exit(main())
