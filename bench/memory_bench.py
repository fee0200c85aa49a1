"""Memory benchmark: the production server with the defaults, after 1,000 questions.

    python bench/memory_bench.py [--questions 1000] [--clients 8] [--workers 0]

Starts faqbot as production does (gunicorn -c gunicorn.conf.py with its default number of workers, unless
--workers is given) over a temporary copy of config.yaml (SQLite in a temporary folder, rate limiting off so
that one address may ask a thousand questions), sends the questions (the evaluation set, both languages, half
to /api/ask and half to /wechat as signed plain-mode messages, each from a new user), then prints each
process's proportional set size (PSS: shared pages divided among the processes that share them) and private
memory, read from /proc/<pid>/smaps_rollup, and the totals. PSS adds up to what the deployment costs the
machine; a worker's private memory is what one more worker would add. Not a test: figures only.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    ROOT,
    GunicornServer,
    ask_calls,
    drive,
    gunicorn_setting,
    load_questions,
    production_spec,
    sqlite_url,
    summarise,
    wechat_calls,
    write_config,
)


def main(argv: list[str] | None = None) -> int:
    """Start the server, ask the questions, print the memory table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=1000, help="questions to send before measuring")
    parser.add_argument("--clients", type=int, default=8, help="concurrent keep-alive clients")
    parser.add_argument("--workers", type=int, default=0, help="gunicorn workers (0: gunicorn.conf.py's)")
    args = parser.parse_args(argv)
    if args.questions < 2 or args.clients < 1 or args.workers < 0:
        parser.error("--questions must be >= 2, --clients >= 1, --workers >= 0")
    token = secrets.token_hex(16)
    questions = load_questions()
    with tempfile.TemporaryDirectory(prefix="faqbot-memory-") as tmp:
        workdir = Path(tmp)
        config = write_config(workdir, ROOT / "faq_corpus", sqlite_url(workdir / "faqbot.db"))
        env = {"FAQBOT_WECHAT_TOKEN": token}
        with GunicornServer("faqbot", production_spec(config), workdir, args.workers, env) as server:
            half = args.questions // 2
            sent = []
            for calls, count in (
                (ask_calls(questions), half),
                (wechat_calls(token, questions), args.questions - half),
            ):
                run = drive(server.port, calls, args.clients, seconds=600, max_calls=count)
                sent.append(summarise(run))
            ok = sum(s.ok for s in sent)
            print(
                f"questions sent: {sum(s.requests for s in sent)} (/api/ask {sent[0].requests}, "
                f"/wechat {sent[1].requests}), answered 2xx: {ok}"
            )
            rows = server.memory()
            print(
                f"gunicorn.conf.py: {len(rows) - 1} workers x {gunicorn_setting('threads')} threads "
                f"({gunicorn_setting('worker_class')}), preload_app={gunicorn_setting('preload_app')}; "
                f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
            )
    print()
    print(f"{'process':<8}{'pid':>9}{'PSS MiB':>10}{'private MiB':>13}")
    for role, pid, pss, private in rows:
        print(f"{role:<8}{pid:>9}{pss / 1024:>10.1f}{private / 1024:>13.1f}")
    total_pss = sum(pss for _, _, pss, _ in rows) / 1024
    total_private = sum(private for _, _, _, private in rows) / 1024
    print(f"{'total':<8}{'':>9}{total_pss:>10.1f}{total_private:>13.1f}")
    workers = [private / 1024 for role, _, _, private in rows if role == "worker"]
    print(
        f"\ntotal memory (PSS) of {len(workers)} workers and the master: {total_pss:.0f} MiB; "
        f"private memory per worker: median {statistics.median(workers):.1f} MiB, max {max(workers):.1f} MiB"
    )
    return 0 if ok == args.questions else 1


if __name__ == "__main__":
    sys.exit(main())
