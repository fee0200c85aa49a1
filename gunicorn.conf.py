"""Production settings for gunicorn: gunicorn -c gunicorn.conf.py "server:create_app()"."""

import gc
import multiprocessing
import os
import shutil
import tempfile

bind = os.environ.get("FAQBOT_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("FAQBOT_WORKERS", multiprocessing.cpu_count() * 2 + 1))
# Worker model, by measurement (bench/load_bench.py with wrk, bench/memory_bench.py; bench/README.md):
# - Processes, not threads, use the cores: answering is Python work, which the threads of one process take
#   turns at (the GIL). With the index built once in the master (preload_app below) a process costs about
#   20 MB of its own, so 2 x cores + 1 of them fit a small machine (about 300 MB in all on two cores).
# - gthread with two threads rather than sync: the same run gave /wechat / bare 0.37 and 0.45 with gthread,
#   0.44 and 0.24 with sync (a shared, busy machine); sync workers also close every connection and sit idle
#   through each storage wait, while a second thread overlaps those waits. Four threads measured slower
#   than two (bench/README.md). Measured again with one storage write per message: gthread 0.29 and 0.31,
#   sync 0.38 and 0.30, alternating on the same machine: no clear winner, so the keep-alive model stays.
worker_class = "gthread"
threads = int(os.environ.get("FAQBOT_THREADS", 2))
# WeChat waits 5 s for a passive reply; anything slower is already lost, so do not hold a worker longer.
timeout = 30
graceful_timeout = 10
keepalive = 5
# Bound what a client can send before Flask sees it.
limit_request_line = 4096
limit_request_fields = 50
limit_request_field_size = 8190
# The corpus, jieba's dictionary, the word lists and the index are built once, in the master, and the workers
# share them through fork (copy-on-write): an extra worker costs tens of MB instead of the whole build. Each
# worker opens its own storage connection and starts its own corpus watcher after the fork (server.py).
preload_app = True
accesslog = "-"
# JSON access records without query strings (WeChat's carry signatures, nonces and OpenIDs).
logger_class = "bot.logs.JsonAccessLogger"

# /metrics adds up every worker's counters through files in this folder (prometheus_client's multi-process
# mode); it must be set before the app is loaded, and is emptied at each start so old workers do not count.
_made_metrics_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _made_metrics_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="faqbot-metrics-")
else:
    shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)


def when_ready(server):
    """After the app is built in the master, before any worker is forked: freeze what exists.

    Objects in the permanent generation are never visited by the cyclic garbage collector, so a worker's
    collections do not write to (and so copy) the pages of the shared tables.
    """
    gc.collect()
    gc.freeze()


def post_worker_init(worker):
    """Open this worker's storage and start its corpus watcher, now that it is a process of its own."""
    start = getattr(worker.wsgi, "extensions", {}).get("faqbot.start_process")
    if start is not None:
        start()


def child_exit(server, worker):
    """Drop a dead worker's live gauges from the shared metrics folder."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the metrics folder made for this run."""
    if _made_metrics_dir:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
